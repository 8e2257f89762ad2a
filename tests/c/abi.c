/*
 * abi.c - the C ABI test of libkeyward.so: bad inputs of every function, the initialisation rules, the length
 * conventions, session and login state, fork, threads, and the death of the daemon.
 *
 * Loads the library with dlopen (KEYWARD_TEST_LIB, default build/asan/libkeyward.so; this test is itself built
 * with -fsanitize=address,undefined so the ASan build loads without LD_PRELOAD). Needs a running keywardd on a
 * fresh store: tests/c/run-abi.sh starts one and sets KEYWARD_SOCKET and KEYWARD_TEST_DAEMON_PID.
 *
 * Daemon death: the test SIGKILLs KEYWARD_TEST_DAEMON_PID, checks the calls, then writes "RESTART" on stdout
 * and waits for a line "RESTARTED ..." on stdin (run-abi.sh starts a new daemon on the same store). Without
 * KEYWARD_TEST_DAEMON_PID that part is skipped. Failures go to stderr; stdout carries only the handshake and
 * the summary.
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "keyward/pkcs11.h"

/* Round trips are counted by interposing send(2): this executable exports its send (linked with
 * -Wl,--export-dynamic-symbol=send), so the dlopened library binds to it; every request is one send. */
static atomic_long sends;

ssize_t send(int fd, const void *p, size_t n, int flags)
{
    atomic_fetch_add(&sends, 1);
    return sendto(fd, p, n, flags, NULL, 0);
}

#include "codec.h" /* the fake daemon of test_protocol builds its frames with the client codec */

static atomic_int failures, checks;
static CK_FUNCTION_LIST_3_2 *f; /* the default interface */
static CK_FUNCTION_LIST_3_0 *f30;
static CK_FUNCTION_LIST *f2;

static void check_rv(int line, const char *what, CK_RV got, CK_RV want)
{
    atomic_fetch_add(&checks, 1);
    if (got != want) {
        atomic_fetch_add(&failures, 1);
        fprintf(stderr, "FAIL abi.c:%d: %s = 0x%lx, want 0x%lx\n", line, what, got, want);
    }
}

static void check_true(int line, const char *what, int ok)
{
    atomic_fetch_add(&checks, 1);
    if (!ok) {
        atomic_fetch_add(&failures, 1);
        fprintf(stderr, "FAIL abi.c:%d: %s\n", line, what);
    }
}

#define RV(expr, want) check_rv(__LINE__, #expr, (expr), (want))
#define TRUE(cond) check_true(__LINE__, #cond, (cond))
/* Either of two results. */
#define RV2(expr, a, b)                                                                                        \
    do {                                                                                                       \
        CK_RV r2_ = (expr);                                                                                    \
        check_rv(__LINE__, #expr, r2_, r2_ == (b) ? (b) : (a));                                                \
    } while (0)

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static CK_BYTE buf[256];
static CK_ULONG len;
static CK_MECHANISM bogus = {CKM_VENDOR_DEFINED | 0x4b57, NULL, 0};

/* ---- every function of the 3.2 list with dummy arguments: all must answer want ---- */

static void call_everything(CK_RV want, CK_SESSION_HANDLE s)
{
    CK_INFO info;
    CK_SLOT_ID slots[4];
    CK_ULONG n = 4;
    CK_SLOT_INFO si;
    CK_TOKEN_INFO ti;
    CK_MECHANISM_TYPE mechs[4];
    CK_MECHANISM_INFO mi;
    CK_UTF8CHAR label[32];
    memset(label, ' ', sizeof label);
    CK_SESSION_HANDLE h;
    CK_SESSION_INFO ssi;
    CK_OBJECT_HANDLE o, o2;
    CK_BYTE data[16] = {0};
    CK_ULONG l = sizeof buf;
    CK_ATTRIBUTE a = {CKA_LABEL, NULL, 0};
    CK_SLOT_ID slot;
    CK_MECHANISM m = bogus;

    RV(f->C_Finalize(NULL), want);
    RV(f->C_GetInfo(&info), want);
    RV(f30->C_GetInfo(&info), want);
    RV(f2->C_GetInfo(&info), want);
    RV(f->C_GetSlotList(CK_FALSE, slots, &n), want);
    RV(f->C_GetSlotInfo(0, &si), want);
    RV(f->C_GetTokenInfo(0, &ti), want);
    RV(f->C_GetMechanismList(0, mechs, &n), want);
    RV(f->C_GetMechanismInfo(0, 1, &mi), want);
    RV(f->C_InitToken(0, (CK_UTF8CHAR_PTR) "x", 1, label), want);
    RV(f->C_InitPIN(s, (CK_UTF8CHAR_PTR) "x", 1), want);
    RV(f->C_SetPIN(s, (CK_UTF8CHAR_PTR) "x", 1, (CK_UTF8CHAR_PTR) "y", 1), want);
    RV(f->C_OpenSession(0, CKF_SERIAL_SESSION, NULL, NULL, &h), want);
    RV(f->C_CloseSession(s), want);
    RV(f->C_CloseAllSessions(0), want);
    RV(f->C_GetSessionInfo(s, &ssi), want);
    RV(f->C_GetOperationState(s, buf, &l), want);
    RV(f->C_SetOperationState(s, buf, 4, 0, 0), want);
    RV(f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR) "x", 1), want);
    RV(f->C_Logout(s), want);
    RV(f->C_CreateObject(s, &a, 1, &o), want);
    RV(f->C_CopyObject(s, 1, &a, 1, &o), want);
    RV(f->C_DestroyObject(s, 1), want);
    RV(f->C_GetObjectSize(s, 1, &l), want);
    RV(f->C_GetAttributeValue(s, 1, &a, 1), want);
    RV(f->C_SetAttributeValue(s, 1, &a, 1), want);
    RV(f->C_FindObjectsInit(s, &a, 1), want);
    RV(f->C_FindObjects(s, &o, 1, &l), want);
    RV(f->C_FindObjectsFinal(s), want);
    RV(f->C_EncryptInit(s, &m, 1), want);
    RV(f->C_Encrypt(s, data, 16, buf, &l), want);
    RV(f->C_EncryptUpdate(s, data, 16, buf, &l), want);
    RV(f->C_EncryptFinal(s, buf, &l), want);
    RV(f->C_DecryptInit(s, &m, 1), want);
    RV(f->C_Decrypt(s, data, 16, buf, &l), want);
    RV(f->C_DecryptUpdate(s, data, 16, buf, &l), want);
    RV(f->C_DecryptFinal(s, buf, &l), want);
    RV(f->C_DigestInit(s, &m), want);
    RV(f->C_Digest(s, data, 16, buf, &l), want);
    RV(f->C_DigestUpdate(s, data, 16), want);
    RV(f->C_DigestKey(s, 1), want);
    RV(f->C_DigestFinal(s, buf, &l), want);
    RV(f->C_SignInit(s, &m, 1), want);
    RV(f->C_Sign(s, data, 16, buf, &l), want);
    RV(f->C_SignUpdate(s, data, 16), want);
    RV(f->C_SignFinal(s, buf, &l), want);
    RV(f->C_SignRecoverInit(s, &m, 1), want);
    RV(f->C_SignRecover(s, data, 16, buf, &l), want);
    RV(f->C_VerifyInit(s, &m, 1), want);
    RV(f->C_Verify(s, data, 16, data, 16), want);
    RV(f->C_VerifyUpdate(s, data, 16), want);
    RV(f->C_VerifyFinal(s, data, 16), want);
    RV(f->C_VerifyRecoverInit(s, &m, 1), want);
    RV(f->C_VerifyRecover(s, data, 16, buf, &l), want);
    RV(f->C_DigestEncryptUpdate(s, data, 16, buf, &l), want);
    RV(f->C_DecryptDigestUpdate(s, data, 16, buf, &l), want);
    RV(f->C_SignEncryptUpdate(s, data, 16, buf, &l), want);
    RV(f->C_DecryptVerifyUpdate(s, data, 16, buf, &l), want);
    RV(f->C_GenerateKey(s, &m, &a, 1, &o), want);
    RV(f->C_GenerateKeyPair(s, &m, &a, 1, &a, 1, &o, &o2), want);
    RV(f->C_WrapKey(s, &m, 1, 2, buf, &l), want);
    RV(f->C_UnwrapKey(s, &m, 1, data, 16, &a, 1, &o), want);
    RV(f->C_DeriveKey(s, &m, 1, &a, 1, &o), want);
    RV(f->C_SeedRandom(s, data, 16), want);
    RV(f->C_GenerateRandom(s, buf, 16), want);
    RV(f->C_GetFunctionStatus(s), want);
    RV(f->C_CancelFunction(s), want);
    RV(f->C_WaitForSlotEvent(CKF_DONT_BLOCK, &slot, NULL), want);
    RV(f->C_LoginUser(s, CKU_USER, (CK_UTF8CHAR_PTR) "x", 1, (CK_UTF8CHAR_PTR) "u", 1), want);
    RV(f->C_SessionCancel(s, 0), want);
    RV(f->C_MessageEncryptInit(s, &m, 1), want);
    RV(f->C_EncryptMessage(s, data, 16, data, 16, data, 16, buf, &l), want);
    RV(f->C_EncryptMessageBegin(s, data, 16, data, 16), want);
    RV(f->C_EncryptMessageNext(s, data, 16, data, 16, buf, &l, 0), want);
    RV(f->C_MessageEncryptFinal(s), want);
    RV(f->C_MessageDecryptInit(s, &m, 1), want);
    RV(f->C_DecryptMessage(s, data, 16, data, 16, data, 16, buf, &l), want);
    RV(f->C_DecryptMessageBegin(s, data, 16, data, 16), want);
    RV(f->C_DecryptMessageNext(s, data, 16, data, 16, buf, &l, 0), want);
    RV(f->C_MessageDecryptFinal(s), want);
    RV(f->C_MessageSignInit(s, &m, 1), want);
    RV(f->C_SignMessage(s, data, 16, data, 16, buf, &l), want);
    RV(f->C_SignMessageBegin(s, data, 16), want);
    RV(f->C_SignMessageNext(s, data, 16, data, 16, buf, &l), want);
    RV(f->C_MessageSignFinal(s), want);
    RV(f->C_MessageVerifyInit(s, &m, 1), want);
    RV(f->C_VerifyMessage(s, data, 16, data, 16, data, 16), want);
    RV(f->C_VerifyMessageBegin(s, data, 16), want);
    RV(f->C_VerifyMessageNext(s, data, 16, data, 16, data, 16), want);
    RV(f->C_MessageVerifyFinal(s), want);
    CK_FLAGS fl;
    CK_ASYNC_DATA ad;
    RV(f->C_EncapsulateKey(s, &m, 1, &a, 1, buf, &l, &o), want);
    RV(f->C_DecapsulateKey(s, &m, 1, &a, 1, data, 16, &o), want);
    RV(f->C_VerifySignatureInit(s, &m, 1, data, 16), want);
    RV(f->C_VerifySignature(s, data, 16), want);
    RV(f->C_VerifySignatureUpdate(s, data, 16), want);
    RV(f->C_VerifySignatureFinal(s), want);
    RV(f->C_GetSessionValidationFlags(s, CKS_LAST_VALIDATION_OK, &fl), want);
    RV(f->C_AsyncComplete(s, (CK_UTF8CHAR_PTR) "C_SignFinal", &ad), want);
    RV(f->C_AsyncGetID(s, (CK_UTF8CHAR_PTR) "C_SignFinal", &l), want);
    RV(f->C_AsyncJoin(s, (CK_UTF8CHAR_PTR) "C_SignFinal", 1, buf, 16), want);
    RV(f->C_WrapKeyAuthenticated(s, &m, 1, 2, data, 16, buf, &l), want);
    RV(f->C_UnwrapKeyAuthenticated(s, &m, 1, data, 16, &a, 1, data, 16, &o), want);
}

/* ---- interfaces ---- */

static void test_interfaces(void *lib)
{
    CK_C_GetFunctionList gfl = (CK_C_GetFunctionList)dlsym(lib, "C_GetFunctionList");
    CK_C_GetInterfaceList gil = (CK_C_GetInterfaceList)dlsym(lib, "C_GetInterfaceList");
    CK_C_GetInterface gi = (CK_C_GetInterface)dlsym(lib, "C_GetInterface");
    TRUE(gfl && gil && gi);
    TRUE(dlsym(lib, "kw_msg_run") == NULL); /* only C_* is exported */
    TRUE(dlsym(lib, "kw_check") == NULL);

    RV(gfl(NULL), CKR_ARGUMENTS_BAD);
    RV(gfl(&f2), CKR_OK);
    TRUE(f2->version.major == 2 && f2->version.minor == 40);

    CK_ULONG n = 0;
    RV(gil(NULL, NULL), CKR_ARGUMENTS_BAD);
    RV(gil(NULL, &n), CKR_OK);
    TRUE(n == 3);
    CK_INTERFACE list[4];
    n = 2;
    RV(gil(list, &n), CKR_BUFFER_TOO_SMALL);
    TRUE(n == 3);
    n = 4;
    RV(gil(list, &n), CKR_OK);
    TRUE(n == 3);
    int seen32 = 0, seen30 = 0, seen240 = 0;
    for (CK_ULONG i = 0; i < n; i++) {
        TRUE(strcmp((char *)list[i].pInterfaceName, "PKCS 11") == 0);
        TRUE(list[i].flags == 0);
        CK_VERSION *v = list[i].pFunctionList;
        seen32 += v->major == 3 && v->minor == 2;
        seen30 += v->major == 3 && v->minor == 0;
        seen240 += v->major == 2 && v->minor == 40;
    }
    TRUE(seen32 == 1 && seen30 == 1 && seen240 == 1);

    /* The default (no name, no version) is 3.2; 3.0 and 2.40 stay available by version. */
    CK_INTERFACE_PTR ip = NULL;
    RV(gi(NULL, NULL, NULL, 0), CKR_ARGUMENTS_BAD);
    RV(gi(NULL, NULL, &ip, 0), CKR_OK);
    f = ip->pFunctionList;
    TRUE(f->version.major == 3 && f->version.minor == 2);
    CK_VERSION v240 = {2, 40}, v30 = {3, 0}, v32 = {3, 2}, v31 = {3, 1}, v99 = {9, 9};
    RV(gi((CK_UTF8CHAR_PTR) "PKCS 11", &v240, &ip, 0), CKR_OK);
    TRUE(ip->pFunctionList == (void *)f2);
    RV(gi((CK_UTF8CHAR_PTR) "PKCS 11", &v30, &ip, 0), CKR_OK);
    f30 = ip->pFunctionList;
    TRUE(f30->version.major == 3 && f30->version.minor == 0 && (void *)f30 != (void *)f);
    RV(gi((CK_UTF8CHAR_PTR) "PKCS 11", &v32, &ip, 0), CKR_OK);
    TRUE(ip->pFunctionList == (void *)f);
    RV(gi((CK_UTF8CHAR_PTR) "PKCS 11", NULL, &ip, 0), CKR_OK);
    TRUE(ip->pFunctionList == (void *)f);
    RV(gi((CK_UTF8CHAR_PTR) "Other", NULL, &ip, 0), CKR_ARGUMENTS_BAD);
    RV(gi(NULL, &v99, &ip, 0), CKR_ARGUMENTS_BAD);
    RV(gi(NULL, &v31, &ip, 0), CKR_ARGUMENTS_BAD);
    RV(gi(NULL, NULL, &ip, CKF_INTERFACE_FORK_SAFE), CKR_ARGUMENTS_BAD);

    /* No NULL function pointer in any list. */
    void **fp = (void **)((char *)f + offsetof(CK_FUNCTION_LIST_3_2, C_Initialize));
    size_t nf = (sizeof(CK_FUNCTION_LIST_3_2) - offsetof(CK_FUNCTION_LIST_3_2, C_Initialize)) / sizeof(void *);
    TRUE(nf == 68 + 24 + 12);
    for (size_t i = 0; i < nf; i++)
        if (!fp[i])
            check_true(__LINE__, "3.2 function pointer is NULL", 0);
    fp = (void **)((char *)f30 + offsetof(CK_FUNCTION_LIST_3_0, C_Initialize));
    nf = (sizeof(CK_FUNCTION_LIST_3_0) - offsetof(CK_FUNCTION_LIST_3_0, C_Initialize)) / sizeof(void *);
    for (size_t i = 0; i < nf; i++)
        if (!fp[i])
            check_true(__LINE__, "3.0 function pointer is NULL", 0);
    fp = (void **)((char *)f2 + offsetof(CK_FUNCTION_LIST, C_Initialize));
    nf = (sizeof(CK_FUNCTION_LIST) - offsetof(CK_FUNCTION_LIST, C_Initialize)) / sizeof(void *);
    for (size_t i = 0; i < nf; i++)
        if (!fp[i])
            check_true(__LINE__, "2.40 function pointer is NULL", 0);
    TRUE(f->C_GetFunctionList == gfl && f->C_GetInterface == gi);
    /* The lists share every function but C_GetInfo; each 3.2 member is the exported symbol of its name. */
    TRUE(f30->C_Initialize == f->C_Initialize && f2->C_Initialize == f->C_Initialize);
    TRUE(f30->C_MessageVerifyFinal == f->C_MessageVerifyFinal && f->C_GetInfo != f30->C_GetInfo);
#define SAME_SYMBOL(name) TRUE((void *)f->C_##name == dlsym(lib, "C_" #name))
    SAME_SYMBOL(EncapsulateKey);
    SAME_SYMBOL(DecapsulateKey);
    SAME_SYMBOL(VerifySignatureInit);
    SAME_SYMBOL(VerifySignature);
    SAME_SYMBOL(VerifySignatureUpdate);
    SAME_SYMBOL(VerifySignatureFinal);
    SAME_SYMBOL(GetSessionValidationFlags);
    SAME_SYMBOL(AsyncComplete);
    SAME_SYMBOL(AsyncGetID);
    SAME_SYMBOL(AsyncJoin);
    SAME_SYMBOL(WrapKeyAuthenticated);
    SAME_SYMBOL(UnwrapKeyAuthenticated);
#undef SAME_SYMBOL
}

/* ---- C_Initialize and C_Finalize ---- */

static atomic_int mx_create, mx_destroy, mx_lock, mx_unlock;

static CK_RV mx_new(CK_VOID_PTR_PTR pp)
{
    pthread_mutex_t *m = malloc(sizeof *m);
    if (!m)
        return CKR_HOST_MEMORY;
    pthread_mutex_init(m, NULL);
    *pp = m;
    atomic_fetch_add(&mx_create, 1);
    return CKR_OK;
}

static CK_RV mx_free(CK_VOID_PTR p)
{
    pthread_mutex_destroy(p);
    free(p);
    atomic_fetch_add(&mx_destroy, 1);
    return CKR_OK;
}

static CK_RV mx_lock_fn(CK_VOID_PTR p)
{
    atomic_fetch_add(&mx_lock, 1);
    return pthread_mutex_lock(p) ? CKR_MUTEX_BAD : CKR_OK;
}

static CK_RV mx_unlock_fn(CK_VOID_PTR p)
{
    atomic_fetch_add(&mx_unlock, 1);
    return pthread_mutex_unlock(p) ? CKR_MUTEX_NOT_LOCKED : CKR_OK;
}

static void test_initialize(void)
{
    CK_C_INITIALIZE_ARGS a;
    CK_ULONG n;

    memset(&a, 0, sizeof a);
    a.pReserved = &a;
    RV(f->C_Initialize(&a), CKR_ARGUMENTS_BAD);
    memset(&a, 0, sizeof a);
    a.CreateMutex = mx_new;
    RV(f->C_Initialize(&a), CKR_ARGUMENTS_BAD);
    a.DestroyMutex = mx_free;
    a.LockMutex = mx_lock_fn;
    RV(f->C_Initialize(&a), CKR_ARGUMENTS_BAD);
    RV(f->C_GetSlotList(CK_FALSE, NULL, &n), CKR_CRYPTOKI_NOT_INITIALIZED);

    /* The application's callbacks are used without CKF_OS_LOCKING_OK. */
    a.UnlockMutex = mx_unlock_fn;
    RV(f->C_Initialize(&a), CKR_OK);
    RV(f->C_Initialize(&a), CKR_CRYPTOKI_ALREADY_INITIALIZED);
    RV(f->C_Initialize(NULL), CKR_CRYPTOKI_ALREADY_INITIALIZED);
    RV(f->C_GetSlotList(CK_FALSE, NULL, &n), CKR_OK);
    TRUE(mx_create == 1 && mx_lock > 0 && mx_lock == mx_unlock);
    RV(f->C_Finalize(&a), CKR_ARGUMENTS_BAD);
    RV(f->C_Finalize(NULL), CKR_OK);
    TRUE(mx_destroy == 1);
    RV(f->C_Finalize(NULL), CKR_CRYPTOKI_NOT_INITIALIZED);

    /* With CKF_OS_LOCKING_OK the library uses its own locks. */
    int locks = mx_lock;
    a.flags = CKF_OS_LOCKING_OK;
    RV(f->C_Initialize(&a), CKR_OK);
    RV(f->C_GetSlotList(CK_FALSE, NULL, &n), CKR_OK);
    TRUE(mx_create == 1 && mx_lock == locks);
    RV(f->C_Finalize(NULL), CKR_OK);

    memset(&a, 0, sizeof a);
    a.flags = CKF_LIBRARY_CANT_CREATE_OS_THREADS;
    RV(f->C_Initialize(&a), CKR_OK);
    RV(f->C_Finalize(NULL), CKR_OK);

    /* No daemon at the socket: CKR_DEVICE_ERROR at once, and nothing initialised. */
    char *saved = strdup(getenv("KEYWARD_SOCKET"));
    setenv("KEYWARD_SOCKET", "/nonexistent/keyward-abi.sock", 1);
    double t0 = now();
    RV(f->C_Initialize(NULL), CKR_DEVICE_ERROR);
    TRUE(now() - t0 < 2);
    RV(f->C_GetSlotList(CK_FALSE, NULL, &n), CKR_CRYPTOKI_NOT_INITIALIZED);
    setenv("KEYWARD_SOCKET", saved, 1);
    free(saved);

    RV(f->C_Initialize(NULL), CKR_OK);
}

/* ---- slots, tokens, PINs ---- */

static CK_SLOT_ID slot;
static const char so_pin[] = "so-pin-1234";
static const char user_pin[] = "user-pin-1234";
#define PIN(p) (CK_UTF8CHAR_PTR)(p), (CK_ULONG)strlen(p)
#define BAD_SLOT ((CK_SLOT_ID)0x7fff1234)
#define BAD_SESSION ((CK_SESSION_HANDLE)0x7fff5678)
#define BAD_OBJECT ((CK_OBJECT_HANDLE)0x7fff9abc)

static void test_slots(void)
{
    CK_ULONG n = 0, m;
    CK_SLOT_ID slots[16];
    RV(f->C_GetSlotList(CK_FALSE, slots, NULL), CKR_ARGUMENTS_BAD);
    RV(f->C_GetSlotList(CK_FALSE, NULL, NULL), CKR_ARGUMENTS_BAD);
    RV(f->C_GetSlotList(CK_FALSE, NULL, &n), CKR_OK);
    TRUE(n >= 1 && n <= 16);
    m = 0;
    RV(f->C_GetSlotList(CK_FALSE, slots, &m), CKR_BUFFER_TOO_SMALL);
    TRUE(m == n);
    m = 16;
    RV(f->C_GetSlotList(CK_FALSE, slots, &m), CKR_OK);
    TRUE(m == n);
    slot = slots[0];

    CK_INFO info;
    RV(f->C_GetInfo(NULL), CKR_ARGUMENTS_BAD);
    RV(f->C_GetInfo(&info), CKR_OK);
    TRUE(info.cryptokiVersion.major == 3 && info.cryptokiVersion.minor == 2);
    TRUE(memchr(info.manufacturerID, 0, sizeof info.manufacturerID) == NULL);
    TRUE(memchr(info.libraryDescription, 0, sizeof info.libraryDescription) == NULL);
    RV(f30->C_GetInfo(NULL), CKR_ARGUMENTS_BAD);
    RV(f30->C_GetInfo(&info), CKR_OK);
    TRUE(info.cryptokiVersion.major == 3 && info.cryptokiVersion.minor == 0);
    RV(f2->C_GetInfo(&info), CKR_OK);
    TRUE(info.cryptokiVersion.major == 2 && info.cryptokiVersion.minor == 40);

    CK_SLOT_INFO si;
    RV(f->C_GetSlotInfo(slot, NULL), CKR_ARGUMENTS_BAD);
    RV(f->C_GetSlotInfo(BAD_SLOT, &si), CKR_SLOT_ID_INVALID);
    RV(f->C_GetSlotInfo(slot, &si), CKR_OK);
    TRUE(memchr(si.slotDescription, 0, sizeof si.slotDescription) == NULL);
    CK_TOKEN_INFO ti;
    RV(f->C_GetTokenInfo(slot, NULL), CKR_ARGUMENTS_BAD);
    RV(f->C_GetTokenInfo(BAD_SLOT, &ti), CKR_SLOT_ID_INVALID);

    CK_MECHANISM_TYPE mechs[64];
    RV(f->C_GetMechanismList(slot, mechs, NULL), CKR_ARGUMENTS_BAD);
    RV(f->C_GetMechanismList(BAD_SLOT, NULL, &n), CKR_SLOT_ID_INVALID);
    RV(f->C_GetMechanismList(slot, NULL, &n), CKR_OK);
    if (n > 0) {
        m = 0;
        RV(f->C_GetMechanismList(slot, mechs, &m), CKR_BUFFER_TOO_SMALL);
        TRUE(m == n);
    }
    CK_MECHANISM_INFO mi;
    RV(f->C_GetMechanismInfo(slot, bogus.mechanism, NULL), CKR_ARGUMENTS_BAD);
    RV(f->C_GetMechanismInfo(BAD_SLOT, bogus.mechanism, &mi), CKR_SLOT_ID_INVALID);
    RV(f->C_GetMechanismInfo(slot, bogus.mechanism, &mi), CKR_MECHANISM_INVALID);

    CK_SLOT_ID ev;
    RV(f->C_WaitForSlotEvent(0, &ev, NULL), CKR_FUNCTION_NOT_SUPPORTED);
    RV(f->C_WaitForSlotEvent(CKF_DONT_BLOCK, NULL, NULL), CKR_ARGUMENTS_BAD);
    RV(f->C_WaitForSlotEvent(CKF_DONT_BLOCK, &ev, &ev), CKR_ARGUMENTS_BAD);
    RV2(f->C_WaitForSlotEvent(CKF_DONT_BLOCK, &ev, NULL), CKR_NO_EVENT, CKR_OK);

    /* Initialise the token. */
    CK_UTF8CHAR label[32];
    memset(label, ' ', sizeof label);
    memcpy(label, "abi test", 8);
    RV(f->C_InitToken(slot, PIN(so_pin), NULL), CKR_ARGUMENTS_BAD);
    RV(f->C_InitToken(slot, NULL, 4, label), CKR_ARGUMENTS_BAD);
    RV(f->C_InitToken(BAD_SLOT, PIN(so_pin), label), CKR_SLOT_ID_INVALID);
    RV(f->C_InitToken(slot, PIN(so_pin), label), CKR_OK);
    RV(f->C_GetTokenInfo(slot, &ti), CKR_OK);
    TRUE(memcmp(ti.label, label, 32) == 0);
    TRUE(ti.flags & CKF_TOKEN_INITIALIZED);

    CK_SESSION_HANDLE s;
    RV(f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, NULL), CKR_ARGUMENTS_BAD);
    RV(f->C_OpenSession(BAD_SLOT, CKF_SERIAL_SESSION, NULL, NULL, &s), CKR_SLOT_ID_INVALID);
    RV(f->C_OpenSession(slot, 0, NULL, NULL, &s), CKR_SESSION_PARALLEL_NOT_SUPPORTED);
    RV(f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s), CKR_OK);
    RV(f->C_Login(s, CKU_SO, NULL, 3), CKR_ARGUMENTS_BAD);
    RV(f->C_Login(BAD_SESSION, CKU_SO, PIN(so_pin)), CKR_SESSION_HANDLE_INVALID);
    RV(f->C_Login(s, CKU_SO, PIN("wrong-pin")), CKR_PIN_INCORRECT);
    RV(f->C_Login(s, CKU_SO, PIN(so_pin)), CKR_OK);
    RV(f->C_InitPIN(s, NULL, 3), CKR_ARGUMENTS_BAD);
    RV(f->C_InitPIN(s, PIN(user_pin)), CKR_OK);
    RV(f->C_Logout(s), CKR_OK);
    RV(f->C_Logout(s), CKR_USER_NOT_LOGGED_IN);
    RV(f->C_SetPIN(s, NULL, 3, PIN(user_pin)), CKR_ARGUMENTS_BAD);
    RV(f->C_SetPIN(s, PIN(user_pin), NULL, 3), CKR_ARGUMENTS_BAD);
    RV(f->C_LoginUser(s, CKU_USER, PIN(user_pin), NULL, 3), CKR_ARGUMENTS_BAD);
    RV(f->C_CloseSession(s), CKR_OK);
    RV(f->C_CloseSession(s), CKR_SESSION_HANDLE_INVALID);
    RV(f->C_CloseAllSessions(BAD_SLOT), CKR_SLOT_ID_INVALID);
}

/* ---- sessions and objects ---- */

static CK_OBJECT_CLASS cls_data = CKO_DATA;
static CK_BBOOL yes = CK_TRUE, no = CK_FALSE;

static CK_RV make_data(CK_SESSION_HANDLE s, const char *label, CK_BBOOL *token, CK_BBOOL *priv,
                       CK_OBJECT_HANDLE *h)
{
    CK_ATTRIBUTE t[] = {
        {CKA_CLASS, &cls_data, sizeof cls_data},
        {CKA_TOKEN, token, sizeof *token},
        {CKA_PRIVATE, priv, sizeof *priv},
        {CKA_LABEL, (void *)label, strlen(label)},
        {CKA_VALUE, "hello", 5},
    };
    return f->C_CreateObject(s, t, 5, h);
}

static void test_objects(void)
{
    CK_SESSION_HANDLE ro, rw;
    CK_SESSION_INFO si;
    CK_OBJECT_HANDLE h, h2;
    RV(f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &ro), CKR_OK);
    RV(f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &rw), CKR_OK);
    RV(f->C_GetSessionInfo(ro, NULL), CKR_ARGUMENTS_BAD);
    RV(f->C_GetSessionInfo(BAD_SESSION, &si), CKR_SESSION_HANDLE_INVALID);
    RV(f->C_GetSessionInfo(ro, &si), CKR_OK);
    TRUE(si.slotID == slot && si.state == CKS_RO_PUBLIC_SESSION && !(si.flags & CKF_RW_SESSION));

    /* Session state. */
    RV(make_data(ro, "t", &yes, &no, &h), CKR_SESSION_READ_ONLY);
    RV(make_data(rw, "t", &yes, &yes, &h), CKR_USER_NOT_LOGGED_IN);

    /* Bad templates. */
    CK_ULONG four[2] = {0, 0}; /* a CK_ULONG attribute of the other word size's length */
    CK_ATTRIBUTE bad_class[] = {{CKA_CLASS, four, sizeof(CK_ULONG) == 8 ? 4 : 8}, {CKA_TOKEN, &no, 1}};
    RV(f->C_CreateObject(rw, bad_class, 2, &h), CKR_ATTRIBUTE_VALUE_INVALID);
    CK_ATTRIBUTE null_value[] = {{CKA_CLASS, NULL, sizeof(CK_ULONG)}};
    RV(f->C_CreateObject(rw, null_value, 1, &h), CKR_ARGUMENTS_BAD);
    RV(f->C_CreateObject(rw, NULL, 2, &h), CKR_ARGUMENTS_BAD);
    RV(f->C_CreateObject(rw, bad_class, 2, NULL), CKR_ARGUMENTS_BAD);
    CK_ATTRIBUTE wrap_tmpl[] = {{CKA_WRAP_TEMPLATE, bad_class, sizeof(CK_ATTRIBUTE) + 1}};
    RV(f->C_CreateObject(rw, wrap_tmpl, 1, &h), CKR_ATTRIBUTE_VALUE_INVALID);
    RV(f->C_CreateObject(BAD_SESSION, &bad_class[1], 1, &h), CKR_SESSION_HANDLE_INVALID);

    /* A session object. */
    RV(make_data(rw, "abi", &no, &no, &h), CKR_OK);
    CK_ULONG size;
    RV(f->C_GetObjectSize(rw, h, NULL), CKR_ARGUMENTS_BAD);
    RV(f->C_GetObjectSize(rw, BAD_OBJECT, &size), CKR_OBJECT_HANDLE_INVALID);

    /* C_GetAttributeValue and its length convention. */
    char lab[16];
    CK_ATTRIBUTE q = {CKA_LABEL, NULL, 0};
    RV(f->C_GetAttributeValue(rw, h, NULL, 1), CKR_ARGUMENTS_BAD);
    RV(f->C_GetAttributeValue(rw, BAD_OBJECT, &q, 1), CKR_OBJECT_HANDLE_INVALID);
    RV(f->C_GetAttributeValue(BAD_SESSION, h, &q, 1), CKR_SESSION_HANDLE_INVALID);
    RV(f->C_GetAttributeValue(rw, h, &q, 1), CKR_OK);
    TRUE(q.ulValueLen == 3);
    q.pValue = lab;
    q.ulValueLen = 2;
    RV(f->C_GetAttributeValue(rw, h, &q, 1), CKR_BUFFER_TOO_SMALL);
    TRUE(q.ulValueLen == CK_UNAVAILABLE_INFORMATION);
    q.ulValueLen = sizeof lab;
    RV(f->C_GetAttributeValue(rw, h, &q, 1), CKR_OK);
    TRUE(q.ulValueLen == 3 && memcmp(lab, "abi", 3) == 0);
    CK_OBJECT_CLASS cls = 99;
    CK_ATTRIBUTE q2[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_VENDOR_DEFINED | 0x777, buf, 8}};
    RV(f->C_GetAttributeValue(rw, h, q2, 2), CKR_ATTRIBUTE_TYPE_INVALID);
    TRUE(cls == CKO_DATA && q2[0].ulValueLen == sizeof cls);
    TRUE(q2[1].ulValueLen == CK_UNAVAILABLE_INFORMATION);

    CK_ATTRIBUTE set = {CKA_LABEL, "abi2", 4};
    RV(f->C_SetAttributeValue(rw, h, NULL, 1), CKR_ARGUMENTS_BAD);
    RV(f->C_SetAttributeValue(rw, BAD_OBJECT, &set, 1), CKR_OBJECT_HANDLE_INVALID);
    RV(f->C_SetAttributeValue(ro, h, &set, 1), CKR_OK); /* a session object: a read-only session may modify it */
    RV(f->C_CopyObject(rw, h, NULL, 0, NULL), CKR_ARGUMENTS_BAD);
    RV(f->C_CopyObject(rw, BAD_OBJECT, NULL, 0, &h2), CKR_OBJECT_HANDLE_INVALID);

    /* Find. */
    CK_OBJECT_HANDLE found[8];
    CK_ULONG nf = 99;
    CK_ATTRIBUTE ft = {CKA_LABEL, "abi2", 4};
    RV(f->C_FindObjects(rw, found, 8, &nf), CKR_OPERATION_NOT_INITIALIZED);
    RV(f->C_FindObjectsFinal(rw), CKR_OPERATION_NOT_INITIALIZED);
    RV(f->C_FindObjectsInit(rw, NULL, 1), CKR_ARGUMENTS_BAD);
    RV(f->C_FindObjectsInit(rw, &ft, 1), CKR_OK);
    RV(f->C_FindObjectsInit(rw, &ft, 1), CKR_OPERATION_ACTIVE);
    RV(f->C_FindObjects(rw, NULL, 8, &nf), CKR_ARGUMENTS_BAD);
    RV(f->C_FindObjects(rw, found, 8, NULL), CKR_ARGUMENTS_BAD);
    RV(f->C_FindObjects(rw, found, 8, &nf), CKR_OK);
    TRUE(nf == 1 && found[0] == h);
    RV(f->C_FindObjects(rw, found, 8, &nf), CKR_OK);
    TRUE(nf == 0);
    RV(f->C_FindObjectsFinal(rw), CKR_OK);

    RV(f->C_DestroyObject(rw, BAD_OBJECT), CKR_OBJECT_HANDLE_INVALID);
    RV(f->C_DestroyObject(rw, h), CKR_OK);
    RV(f->C_GetAttributeValue(rw, h, &q, 1), CKR_OBJECT_HANDLE_INVALID);

    /* Random. */
    RV(f->C_GenerateRandom(rw, NULL, 4), CKR_ARGUMENTS_BAD);
    RV(f->C_GenerateRandom(rw, buf, 0), CKR_OK);
    RV(f->C_GenerateRandom(rw, buf, 64), CKR_OK);
    RV(f->C_GenerateRandom(BAD_SESSION, buf, 16), CKR_SESSION_HANDLE_INVALID);
    RV(f->C_SeedRandom(rw, NULL, 3), CKR_ARGUMENTS_BAD);
    RV(f->C_SeedRandom(rw, buf, 3), CKR_RANDOM_SEED_NOT_SUPPORTED);

    /* Login state. */
    RV(f->C_Login(rw, CKU_USER, PIN("wrong-pin")), CKR_PIN_INCORRECT);
    RV(f->C_Login(rw, CKU_USER, PIN(user_pin)), CKR_OK);
    RV(f->C_Login(ro, CKU_USER, PIN(user_pin)), CKR_USER_ALREADY_LOGGED_IN);
    RV(f->C_GetSessionInfo(ro, &si), CKR_OK);
    TRUE(si.state == CKS_RO_USER_FUNCTIONS);
    RV(make_data(rw, "private", &no, &yes, &h), CKR_OK);
    RV(f->C_DestroyObject(rw, h), CKR_OK);
    RV(f->C_Logout(rw), CKR_OK);

    RV(f->C_CloseSession(ro), CKR_OK);
    RV(f->C_CloseSession(rw), CKR_OK);
}

/* ---- operations ---- */

static void test_operations(void)
{
    CK_SESSION_HANDLE s;
    CK_OBJECT_HANDLE k = 0, k2;
    CK_BYTE d[8] = {1, 2, 3};
    CK_ATTRIBUTE a = {CKA_LABEL, "x", 1};
    RV(f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s), CKR_OK);

    /* No mechanism is valid (none is registered, and this one is a made-up vendor one). */
    RV(f->C_EncryptInit(s, &bogus, k), CKR_MECHANISM_INVALID);
    RV(f->C_DecryptInit(s, &bogus, k), CKR_MECHANISM_INVALID);
    RV(f->C_DigestInit(s, &bogus), CKR_MECHANISM_INVALID);
    RV(f->C_SignInit(s, &bogus, k), CKR_MECHANISM_INVALID);
    RV(f->C_SignRecoverInit(s, &bogus, k), CKR_MECHANISM_INVALID);
    RV(f->C_VerifyInit(s, &bogus, k), CKR_MECHANISM_INVALID);
    RV(f->C_VerifyRecoverInit(s, &bogus, k), CKR_MECHANISM_INVALID);
    RV(f->C_MessageEncryptInit(s, &bogus, k), CKR_MECHANISM_INVALID);
    RV(f->C_MessageDecryptInit(s, &bogus, k), CKR_MECHANISM_INVALID);
    RV(f->C_MessageSignInit(s, &bogus, k), CKR_MECHANISM_INVALID);
    RV(f->C_MessageVerifyInit(s, &bogus, k), CKR_MECHANISM_INVALID);
    RV(f->C_EncryptInit(BAD_SESSION, &bogus, k), CKR_SESSION_HANDLE_INVALID);
    RV(f->C_EncryptInit(s, NULL, 0), CKR_OK); /* cancelling nothing */
    CK_MECHANISM bad_param = {bogus.mechanism, NULL, 8};
    RV(f->C_EncryptInit(s, &bad_param, k), CKR_MECHANISM_PARAM_INVALID);

    RV(f->C_GenerateKey(s, NULL, &a, 1, &k2), CKR_ARGUMENTS_BAD);
    RV(f->C_GenerateKey(s, &bogus, &a, 1, NULL), CKR_ARGUMENTS_BAD);
    RV(f->C_GenerateKey(s, &bogus, &a, 1, &k2), CKR_MECHANISM_INVALID);
    RV(f->C_GenerateKeyPair(s, &bogus, &a, 1, &a, 1, &k2, NULL), CKR_ARGUMENTS_BAD);
    RV(f->C_GenerateKeyPair(s, &bogus, &a, 1, &a, 1, NULL, &k2), CKR_ARGUMENTS_BAD);
    RV(f->C_GenerateKeyPair(s, &bogus, &a, 1, &a, 1, &k, &k2), CKR_MECHANISM_INVALID);
    RV(f->C_WrapKey(s, &bogus, 1, 2, buf, NULL), CKR_ARGUMENTS_BAD);
    len = sizeof buf;
    RV(f->C_WrapKey(s, &bogus, 1, 2, buf, &len), CKR_MECHANISM_INVALID);
    RV(f->C_UnwrapKey(s, &bogus, 1, d, 8, &a, 1, NULL), CKR_ARGUMENTS_BAD);
    RV(f->C_UnwrapKey(s, &bogus, 1, NULL, 8, &a, 1, &k2), CKR_ARGUMENTS_BAD);
    RV(f->C_DeriveKey(s, &bogus, 1, &a, 1, NULL), CKR_ARGUMENTS_BAD);
    RV(f->C_DeriveKey(s, &bogus, 1, NULL, 1, &k2), CKR_ARGUMENTS_BAD);

    /* Nothing active: the data functions say so; NULL length pointers are caught first. */
    RV(f->C_Encrypt(s, d, 8, buf, NULL), CKR_ARGUMENTS_BAD);
    RV(f->C_Encrypt(s, NULL, 8, buf, &len), CKR_ARGUMENTS_BAD);
    RV(f->C_Decrypt(s, d, 8, buf, NULL), CKR_ARGUMENTS_BAD);
    RV(f->C_Digest(s, d, 8, buf, NULL), CKR_ARGUMENTS_BAD);
    RV(f->C_Sign(s, d, 8, buf, NULL), CKR_ARGUMENTS_BAD);
    RV(f->C_SignRecover(s, d, 8, buf, NULL), CKR_ARGUMENTS_BAD);
    RV(f->C_VerifyRecover(s, d, 8, buf, NULL), CKR_ARGUMENTS_BAD);
    RV(f->C_EncryptUpdate(s, d, 8, buf, NULL), CKR_ARGUMENTS_BAD);
    RV(f->C_DecryptUpdate(s, d, 8, buf, NULL), CKR_ARGUMENTS_BAD);
    RV(f->C_EncryptFinal(s, buf, NULL), CKR_ARGUMENTS_BAD);
    RV(f->C_DecryptFinal(s, buf, NULL), CKR_ARGUMENTS_BAD);
    RV(f->C_DigestFinal(s, buf, NULL), CKR_ARGUMENTS_BAD);
    RV(f->C_SignFinal(s, buf, NULL), CKR_ARGUMENTS_BAD);
    RV(f->C_DigestEncryptUpdate(s, d, 8, buf, NULL), CKR_ARGUMENTS_BAD);
    RV(f->C_DecryptDigestUpdate(s, d, 8, buf, NULL), CKR_ARGUMENTS_BAD);
    RV(f->C_SignEncryptUpdate(s, d, 8, buf, NULL), CKR_ARGUMENTS_BAD);
    RV(f->C_DecryptVerifyUpdate(s, d, 8, buf, NULL), CKR_ARGUMENTS_BAD);
    RV(f->C_DigestUpdate(s, NULL, 8), CKR_ARGUMENTS_BAD);
    RV(f->C_Verify(s, d, 8, NULL, 8), CKR_ARGUMENTS_BAD);
    RV(f->C_VerifyFinal(s, NULL, 8), CKR_ARGUMENTS_BAD);

    len = sizeof buf;
    RV(f->C_Encrypt(s, d, 8, buf, &len), CKR_OPERATION_NOT_INITIALIZED);
    RV(f->C_Encrypt(s, d, 8, NULL, &len), CKR_OPERATION_NOT_INITIALIZED);
    RV(f->C_Decrypt(s, d, 8, buf, &len), CKR_OPERATION_NOT_INITIALIZED);
    RV(f->C_Digest(s, d, 8, buf, &len), CKR_OPERATION_NOT_INITIALIZED);
    RV(f->C_Sign(s, d, 8, buf, &len), CKR_OPERATION_NOT_INITIALIZED);
    RV(f->C_SignRecover(s, d, 8, buf, &len), CKR_OPERATION_NOT_INITIALIZED);
    RV(f->C_VerifyRecover(s, d, 8, buf, &len), CKR_OPERATION_NOT_INITIALIZED);
    RV(f->C_EncryptUpdate(s, d, 8, buf, &len), CKR_OPERATION_NOT_INITIALIZED);
    RV(f->C_DecryptUpdate(s, d, 8, buf, &len), CKR_OPERATION_NOT_INITIALIZED);
    RV(f->C_EncryptFinal(s, buf, &len), CKR_OPERATION_NOT_INITIALIZED);
    RV(f->C_DecryptFinal(s, buf, &len), CKR_OPERATION_NOT_INITIALIZED);
    RV(f->C_DigestFinal(s, buf, &len), CKR_OPERATION_NOT_INITIALIZED);
    RV(f->C_SignFinal(s, buf, &len), CKR_OPERATION_NOT_INITIALIZED);
    RV(f->C_DigestUpdate(s, d, 8), CKR_OPERATION_NOT_INITIALIZED);
    RV(f->C_SignUpdate(s, d, 8), CKR_OPERATION_NOT_INITIALIZED);
    RV(f->C_VerifyUpdate(s, d, 8), CKR_OPERATION_NOT_INITIALIZED);
    RV(f->C_Verify(s, d, 8, d, 8), CKR_OPERATION_NOT_INITIALIZED);
    RV(f->C_VerifyFinal(s, d, 8), CKR_OPERATION_NOT_INITIALIZED);
    RV(f->C_DigestEncryptUpdate(s, d, 8, buf, &len), CKR_OPERATION_NOT_INITIALIZED);
    RV(f->C_DecryptDigestUpdate(s, d, 8, buf, &len), CKR_OPERATION_NOT_INITIALIZED);
    RV(f->C_SignEncryptUpdate(s, d, 8, buf, &len), CKR_OPERATION_NOT_INITIALIZED);
    RV(f->C_DecryptVerifyUpdate(s, d, 8, buf, &len), CKR_OPERATION_NOT_INITIALIZED);
    RV(f->C_Sign(BAD_SESSION, d, 8, buf, &len), CKR_SESSION_HANDLE_INVALID);

    /* Message functions: nothing can be active yet. */
    RV(f->C_EncryptMessage(s, NULL, 0, NULL, 0, d, 8, buf, NULL), CKR_ARGUMENTS_BAD);
    RV(f->C_EncryptMessage(s, NULL, 0, NULL, 0, d, 8, buf, &len), CKR_OPERATION_NOT_INITIALIZED);
    RV(f->C_EncryptMessage(BAD_SESSION, NULL, 0, NULL, 0, d, 8, buf, &len), CKR_SESSION_HANDLE_INVALID);
    RV(f->C_EncryptMessageBegin(s, NULL, 0, NULL, 0), CKR_OPERATION_NOT_INITIALIZED);
    RV(f->C_EncryptMessageNext(s, NULL, 0, d, 8, buf, &len, 0), CKR_OPERATION_NOT_INITIALIZED);
    RV(f->C_MessageEncryptFinal(s), CKR_OPERATION_NOT_INITIALIZED);
    RV(f->C_DecryptMessage(s, NULL, 0, NULL, 0, d, 8, buf, NULL), CKR_ARGUMENTS_BAD);
    RV(f->C_DecryptMessage(s, NULL, 0, NULL, 0, d, 8, buf, &len), CKR_OPERATION_NOT_INITIALIZED);
    RV(f->C_DecryptMessageBegin(s, NULL, 0, NULL, 0), CKR_OPERATION_NOT_INITIALIZED);
    RV(f->C_DecryptMessageNext(s, NULL, 0, d, 8, buf, &len, 0), CKR_OPERATION_NOT_INITIALIZED);
    RV(f->C_MessageDecryptFinal(BAD_SESSION), CKR_SESSION_HANDLE_INVALID);
    RV(f->C_SignMessage(s, NULL, 0, d, 8, buf, NULL), CKR_ARGUMENTS_BAD);
    RV(f->C_SignMessage(s, NULL, 0, d, 8, buf, &len), CKR_OPERATION_NOT_INITIALIZED);
    RV(f->C_SignMessageBegin(s, NULL, 0), CKR_OPERATION_NOT_INITIALIZED);
    RV(f->C_SignMessageNext(s, NULL, 0, d, 8, NULL, NULL), CKR_OPERATION_NOT_INITIALIZED);
    RV(f->C_MessageSignFinal(s), CKR_OPERATION_NOT_INITIALIZED);
    RV(f->C_VerifyMessage(s, NULL, 0, d, 8, NULL, 8), CKR_ARGUMENTS_BAD);
    RV(f->C_VerifyMessage(s, NULL, 0, d, 8, d, 8), CKR_OPERATION_NOT_INITIALIZED);
    RV(f->C_VerifyMessageBegin(s, NULL, 0), CKR_OPERATION_NOT_INITIALIZED);
    RV(f->C_VerifyMessageNext(s, NULL, 0, d, 8, d, 8), CKR_OPERATION_NOT_INITIALIZED);
    RV(f->C_MessageVerifyFinal(s), CKR_OPERATION_NOT_INITIALIZED);

    /* Functions Keyward does not support. */
    len = sizeof buf;
    RV(f->C_GetOperationState(s, buf, &len), CKR_FUNCTION_NOT_SUPPORTED);
    RV(f->C_SetOperationState(s, buf, 8, 0, 0), CKR_FUNCTION_NOT_SUPPORTED);
    RV(f->C_GetFunctionStatus(s), CKR_FUNCTION_NOT_PARALLEL);
    RV(f->C_CancelFunction(s), CKR_FUNCTION_NOT_PARALLEL);
    RV(f->C_GetFunctionStatus(BAD_SESSION), CKR_SESSION_HANDLE_INVALID);
    RV(f->C_CancelFunction(BAD_SESSION), CKR_SESSION_HANDLE_INVALID);
    RV(f->C_SessionCancel(s, CKF_ENCRYPT), CKR_OK);
    RV(f->C_SessionCancel(BAD_SESSION, CKF_ENCRYPT), CKR_SESSION_HANDLE_INVALID);
    RV(f->C_DigestKey(s, BAD_OBJECT), CKR_OPERATION_NOT_INITIALIZED);

    RV(f->C_CloseSession(s), CKR_OK);
}

/* ---- fewer round trips: deferred Init, first search batch (docs/protocol.md, "Fused calls") ---- */

/* Requests also travel through the shared-memory ring (docs/protocol.md, "The ring"): the client counts those
 * it posts in each ring's header (offset 384), and the rings are this process's keyward-ring mappings. */
static long sends_now(void)
{
    long n = atomic_load(&sends);
    FILE *maps = fopen("/proc/self/maps", "r");
    char line[512];
    while (maps && fgets(line, sizeof line, maps)) {
        unsigned long start;
        if (strstr(line, "/memfd:keyward-ring") && sscanf(line, "%lx-", &start) == 1)
            n += atomic_load((_Atomic uint32_t *)(start + 384));
    }
    if (maps)
        fclose(maps);
    return n;
}

/* The library uses the daemon's rings unless KEYWARD_RING=0 (run-abi.sh runs the suite both ways). */
static void test_ring_in_use(void)
{
    const char *env = getenv("KEYWARD_RING");
    int off = env && strcmp(env, "0") == 0, rings = 0;
    FILE *maps = fopen("/proc/self/maps", "r");
    char line[512];
    while (maps && fgets(line, sizeof line, maps))
        rings += strstr(line, "/memfd:keyward-ring") != NULL;
    if (maps)
        fclose(maps);
    TRUE(off ? rings == 0 : rings >= 1);
}

static void test_fused(void)
{
    /* HMAC-SHA-256, RFC 4231 test case 2. */
    static const char key[] = "Jefe", data[] = "what do ya want for nothing?";
    static const CK_BYTE mac[32] = {0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e, 0x6a, 0x04, 0x24,
                                    0x26, 0x08, 0x95, 0x75, 0xc7, 0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27,
                                    0x39, 0x83, 0x9d, 0xec, 0x58, 0xb9, 0x64, 0xec, 0x38, 0x43};
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
    CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_KEY_TYPE, &kt, sizeof kt}, {CKA_TOKEN, &no, 1},
                        {CKA_PRIVATE, &no, 1},         {CKA_SIGN, &yes, 1},           {CKA_VERIFY, &yes, 1},
                        {CKA_VALUE, (void *)key, 4}};
    CK_MECHANISM hm = {CKM_SHA256_HMAC, NULL, 0};
    CK_SESSION_HANDLE s, s2;
    CK_OBJECT_HANDLE k, k2;
    CK_BYTE out[64], bad[32];
    CK_ULONG l;
    long n0;
    RV(f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s), CKR_OK);
    RV(f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s2), CKR_OK);
    RV(f->C_CreateObject(s, t, 7, &k), CKR_OK);
    RV(f->C_CreateObject(s, t, 7, &k2), CKR_OK);

    /* The first Init goes alone; once it has succeeded, the same Init travels with the data call. */
    for (int i = 0; i < 3; i++) {
        n0 = sends_now();
        RV(f->C_SignInit(s, &hm, k), CKR_OK);
        l = sizeof out;
        RV(f->C_Sign(s, (CK_BYTE_PTR)data, 28, out, &l), CKR_OK);
        TRUE(l == 32 && memcmp(out, mac, 32) == 0);
        TRUE(sends_now() - n0 == (i == 0 ? 2 : 1));
    }
    for (int i = 0; i < 3; i++) {
        n0 = sends_now();
        RV(f->C_VerifyInit(s, &hm, k), CKR_OK);
        RV(f->C_Verify(s, (CK_BYTE_PTR)data, 28, (CK_BYTE_PTR)mac, 32), CKR_OK);
        TRUE(sends_now() - n0 == (i == 0 ? 2 : 1));
    }
    memcpy(bad, mac, 32);
    bad[31] ^= 1;
    RV(f->C_VerifyInit(s, &hm, k), CKR_OK);
    RV(f->C_Verify(s, (CK_BYTE_PTR)data, 28, bad, 32), CKR_SIGNATURE_INVALID);
    RV(f->C_Verify(s, (CK_BYTE_PTR)data, 28, (CK_BYTE_PTR)mac, 32), CKR_OPERATION_NOT_INITIALIZED);
    n0 = sends_now();
    RV(f->C_VerifyInit(s, &hm, k), CKR_OK);
    RV(f->C_Verify(s, (CK_BYTE_PTR)data, 28, (CK_BYTE_PTR)mac, 32), CKR_OK);
    TRUE(sends_now() - n0 == 1);
    /* Another key, another mechanism parameter or another session: the Init goes alone again. */
    n0 = sends_now();
    RV(f->C_SignInit(s, &hm, k2), CKR_OK);
    TRUE(sends_now() - n0 == 1);
    l = sizeof out;
    RV(f->C_Sign(s, (CK_BYTE_PTR)data, 28, out, &l), CKR_OK);
    TRUE(l == 32 && memcmp(out, mac, 32) == 0);
    n0 = sends_now();
    RV(f->C_SignInit(s2, &hm, k), CKR_OK);
    TRUE(sends_now() - n0 == 1);
    RV(f->C_SignInit(s2, NULL, 0), CKR_OK);

    /* A deferred Init keeps every rule: a second Init finds the operation active ... */
    RV(f->C_SignInit(s, &hm, k2), CKR_OK);
    RV(f->C_SignInit(s, &hm, k2), CKR_OPERATION_ACTIVE);
    l = sizeof out;
    RV(f->C_Sign(s, (CK_BYTE_PTR)data, 28, out, &l), CKR_OK);
    TRUE(l == 32 && memcmp(out, mac, 32) == 0);
    /* ... the length convention holds, and the operation ends with its result ... */
    RV(f->C_SignInit(s, &hm, k2), CKR_OK);
    l = 0;
    RV(f->C_Sign(s, (CK_BYTE_PTR)data, 28, NULL, &l), CKR_OK);
    TRUE(l == 32);
    l = 31;
    RV(f->C_Sign(s, (CK_BYTE_PTR)data, 28, out, &l), CKR_BUFFER_TOO_SMALL);
    l = sizeof out;
    RV(f->C_Sign(s, (CK_BYTE_PTR)data, 28, out, &l), CKR_OK);
    TRUE(l == 32 && memcmp(out, mac, 32) == 0);
    RV(f->C_Sign(s, (CK_BYTE_PTR)data, 28, out, &l), CKR_OPERATION_NOT_INITIALIZED);
    /* ... multi-part works, its first part fused ... */
    n0 = sends_now();
    RV(f->C_SignInit(s, &hm, k2), CKR_OK);
    RV(f->C_SignUpdate(s, (CK_BYTE_PTR)data, 10), CKR_OK);
    RV(f->C_SignUpdate(s, (CK_BYTE_PTR)data + 10, 18), CKR_OK);
    l = sizeof out;
    RV(f->C_SignFinal(s, out, &l), CKR_OK);
    TRUE(l == 32 && memcmp(out, mac, 32) == 0);
    TRUE(sends_now() - n0 == 3);
    /* ... a Final right after the Init sends the Init first ... */
    RV(f->C_SignInit(s, &hm, k2), CKR_OK);
    l = sizeof out;
    RV(f->C_SignFinal(s, out, &l), CKR_OK);
    TRUE(l == 32);
    /* ... a NULL mechanism cancels it ... */
    RV(f->C_SignInit(s, &hm, k2), CKR_OK);
    RV(f->C_SignInit(s, NULL, 0), CKR_OK);
    l = sizeof out;
    RV(f->C_Sign(s, (CK_BYTE_PTR)data, 28, out, &l), CKR_OPERATION_NOT_INITIALIZED);
    /* ... as does C_SessionCancel ... */
    RV(f->C_SignInit(s, &hm, k2), CKR_OK);
    RV(f->C_SessionCancel(s, CKF_SIGN), CKR_OK);
    l = sizeof out;
    RV(f->C_Sign(s, (CK_BYTE_PTR)data, 28, out, &l), CKR_OPERATION_NOT_INITIALIZED);
    /* ... and an operation started before its key is destroyed completes, as it would have anyway. */
    RV(f->C_SignInit(s, &hm, k2), CKR_OK);
    RV(f->C_DestroyObject(s, k2), CKR_OK);
    l = sizeof out;
    RV(f->C_Sign(s, (CK_BYTE_PTR)data, 28, out, &l), CKR_OK);
    TRUE(l == 32 && memcmp(out, mac, 32) == 0);
    RV(f->C_SignInit(s, &hm, k2), CKR_KEY_HANDLE_INVALID);
    /* Digest: SHA-256("abc"), FIPS 180-2. */
    static const CK_BYTE abc_sha256[4] = {0xba, 0x78, 0x16, 0xbf};
    CK_MECHANISM sha = {CKM_SHA256, NULL, 0};
    for (int i = 0; i < 2; i++) {
        n0 = sends_now();
        RV(f->C_DigestInit(s, &sha), CKR_OK);
        l = sizeof out;
        RV(f->C_Digest(s, (CK_BYTE_PTR) "abc", 3, out, &l), CKR_OK);
        TRUE(l == 32 && memcmp(out, abc_sha256, 4) == 0);
        TRUE(sends_now() - n0 == (i == 0 ? 2 : 1));
    }
    /* AES-256-GCM with a fresh IV per message (the usual way): the IV's content does not decide whether the
     * Init succeeds, so the Init still travels with C_Encrypt, and each message is sealed with its own IV.
     * Known answer: McGrew and Viega's GCM test case 14 (zero key, zero IV, 16 zero bytes). */
    static const CK_BYTE zero32[32] = {0};
    static const CK_BYTE tc14[32] = {0xce, 0xa7, 0x40, 0x3d, 0x4d, 0x60, 0x6b, 0x6e, 0x07, 0x4e, 0xc5,
                                     0xd3, 0xba, 0xf3, 0x9d, 0x18, 0xd0, 0xd1, 0xc8, 0xa7, 0x99, 0x99,
                                     0x6b, 0xf0, 0x26, 0x5b, 0x98, 0xb5, 0xd4, 0x8a, 0xb9, 0x19};
    CK_OBJECT_CLASS sk = CKO_SECRET_KEY;
    CK_KEY_TYPE aes = CKK_AES;
    CK_ATTRIBUTE at[] = {{CKA_CLASS, &sk, sizeof sk}, {CKA_KEY_TYPE, &aes, sizeof aes}, {CKA_TOKEN, &no, 1},
                         {CKA_PRIVATE, &no, 1},       {CKA_ENCRYPT, &yes, 1},        {CKA_DECRYPT, &yes, 1},
                         {CKA_VALUE, (void *)zero32, 32}};
    CK_OBJECT_HANDLE ak;
    RV(f->C_CreateObject(s, at, 7, &ak), CKR_OK);
    CK_BYTE iv[12] = {0}, c[3][32];
    CK_GCM_PARAMS gp = {iv, 12, 96, NULL, 0, 128};
    CK_MECHANISM gcm = {CKM_AES_GCM, &gp, sizeof gp};
    for (int i = 0; i < 3; i++) {
        iv[0] = (CK_BYTE)(i == 1); /* IVs 0, 1, 0 */
        n0 = sends_now();
        RV(f->C_EncryptInit(s, &gcm, ak), CKR_OK);
        l = 32;
        RV(f->C_Encrypt(s, (CK_BYTE_PTR)zero32, 16, c[i], &l), CKR_OK);
        TRUE(l == 32);
        TRUE(sends_now() - n0 == (i == 0 ? 2 : 1));
    }
    TRUE(memcmp(c[0], tc14, 32) == 0 && memcmp(c[2], tc14, 32) == 0 && memcmp(c[1], tc14, 32) != 0);
    iv[0] = 1;
    RV(f->C_DecryptInit(s, &gcm, ak), CKR_OK);
    l = sizeof out;
    RV(f->C_Decrypt(s, c[1], 32, out, &l), CKR_OK);
    TRUE(l == 16 && memcmp(out, zero32, 16) == 0);
    /* An IV of another length is another shape: its Init goes alone and says what is wrong with it. */
    gp.ulIvLen = 0;
    n0 = sends_now();
    RV(f->C_EncryptInit(s, &gcm, ak), CKR_MECHANISM_PARAM_INVALID);
    TRUE(sends_now() - n0 == 1);

    /* A closed session forgets its deferred Init. */
    RV(f->C_DigestInit(s2, &sha), CKR_OK);
    RV(f->C_DigestInit(s2, NULL), CKR_OK);
    RV(f->C_DigestInit(s2, &sha), CKR_OK);
    RV(f->C_CloseSession(s2), CKR_OK);
    l = sizeof out;
    RV(f->C_Digest(s2, (CK_BYTE_PTR) "abc", 3, out, &l), CKR_SESSION_HANDLE_INVALID);

    /* Search: C_FindObjectsInit brings the first batch; the rest comes from the daemon. */
    char label[] = "fused-find";
    CK_ATTRIBUTE by_label = {CKA_LABEL, label, sizeof label - 1};
    CK_OBJECT_HANDLE hs[400], one;
    for (int i = 0; i < 300; i++)
        RV(make_data(s, label, &no, &no, &hs[i]), CKR_OK);
    n0 = sends_now();
    RV(f->C_FindObjectsInit(s, &by_label, 1), CKR_OK);
    RV(f->C_FindObjectsInit(s, &by_label, 1), CKR_OPERATION_ACTIVE);
    CK_ULONG got = 0, total = 0;
    do {
        RV(f->C_FindObjects(s, hs + total, 400 - total, &got), CKR_OK);
        total += got;
    } while (got > 0 && total < 400);
    TRUE(total == 300);
    RV(f->C_FindObjectsFinal(s), CKR_OK);
    TRUE(sends_now() - n0 <= 4); /* first batch, the rest, the end, the final */
    RV(f->C_FindObjects(s, hs, 1, &got), CKR_OPERATION_NOT_INITIALIZED);
    RV(f->C_FindObjectsFinal(s), CKR_OPERATION_NOT_INITIALIZED);
    label[0] = 'F';
    RV(make_data(s, label, &no, &no, &one), CKR_OK);
    n0 = sends_now();
    RV(f->C_FindObjectsInit(s, &by_label, 1), CKR_OK);
    RV(f->C_FindObjects(s, hs, 10, &got), CKR_OK);
    TRUE(got == 1 && hs[0] == one);
    RV(f->C_FindObjects(s, hs, 10, &got), CKR_OK);
    TRUE(got == 0);
    RV(f->C_FindObjectsInit(s, &by_label, 1), CKR_OPERATION_ACTIVE);
    RV(f->C_FindObjectsFinal(s), CKR_OK);
    TRUE(sends_now() - n0 == 1); /* the search (the second Init is refused here) */
    RV(f->C_FindObjectsInit(s, &by_label, 1), CKR_OK);
    RV(f->C_FindObjects(s, NULL, 1, &got), CKR_ARGUMENTS_BAD);
    RV(f->C_CloseSession(s), CKR_OK);
    RV(f->C_FindObjects(s, hs, 10, &got), CKR_SESSION_HANDLE_INVALID);
    RV(f->C_FindObjectsFinal(s), CKR_SESSION_HANDLE_INVALID);
}

/* ---- kept output: "length, then the call" in one round trip (docs/protocol.md, "Kept output") ----
 *
 * The length query brings the output with the length; the client answers the next call of the same operation
 * with the same input from it (the length convention holds: a NULL or short buffer keeps it), and the daemon's
 * operation ends with an OperationEnd that travels in front of the session's next request (in the same send).
 * Any other call that touches the operation goes to the daemon, which holds the true state, so it answers as
 * it always did. Round trips are sends (every request is one send). */
static void test_kept(void)
{
    static const char key[] = "Jefe", data[] = "what do ya want for nothing?";
    static const CK_BYTE mac[32] = {0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e, 0x6a, 0x04, 0x24,
                                    0x26, 0x08, 0x95, 0x75, 0xc7, 0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27,
                                    0x39, 0x83, 0x9d, 0xec, 0x58, 0xb9, 0x64, 0xec, 0x38, 0x43};
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
    CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_KEY_TYPE, &kt, sizeof kt}, {CKA_TOKEN, &no, 1},
                        {CKA_PRIVATE, &no, 1},         {CKA_SIGN, &yes, 1},           {CKA_VERIFY, &yes, 1},
                        {CKA_VALUE, (void *)key, 4}};
    CK_MECHANISM hm = {CKM_SHA256_HMAC, NULL, 0}, sha = {CKM_SHA256, NULL, 0};
    CK_SESSION_HANDLE s, s2;
    CK_OBJECT_HANDLE k;
    CK_BYTE out[64], copy[sizeof data];
    CK_ULONG l;
    long n0;
    memcpy(copy, data, sizeof data);
    RV(f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s), CKR_OK);
    RV(f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s2), CKR_OK);
    RV(f->C_CreateObject(s, t, 7, &k), CKR_OK);

    /* The pattern of miekg/pkcs11 (crypto11), PyKCS11, Rust cryptoki, GnuTLS: one round trip per signature
     * once the Init is known (the first Init goes alone), two before kept output. */
    for (int i = 0; i < 4; i++) {
        n0 = sends_now();
        RV(f->C_SignInit(s, &hm, k), CKR_OK);
        l = 0;
        RV(f->C_Sign(s, (CK_BYTE_PTR)data, 28, NULL, &l), CKR_OK);
        TRUE(l == 32);
        memset(out, 0, sizeof out);
        RV(f->C_Sign(s, i == 3 ? copy : (CK_BYTE_PTR)data, 28, out, &l), CKR_OK); /* equal bytes elsewhere too */
        TRUE(l == 32 && memcmp(out, mac, 32) == 0);
        if (i >= 1)
            TRUE(sends_now() - n0 == 1);
    }
    /* The operation ended: the daemon learns it before the session's next request. */
    n0 = sends_now();
    l = sizeof out;
    RV(f->C_Sign(s, (CK_BYTE_PTR)data, 28, out, &l), CKR_OPERATION_NOT_INITIALIZED);
    TRUE(sends_now() - n0 == 1);
    /* Digest the same way (no key). */
    static const CK_BYTE abc_sha256[4] = {0xba, 0x78, 0x16, 0xbf};
    for (int i = 0; i < 3; i++) {
        n0 = sends_now();
        RV(f->C_DigestInit(s, &sha), CKR_OK);
        l = 0;
        RV(f->C_Digest(s, (CK_BYTE_PTR) "abc", 3, NULL, &l), CKR_OK);
        TRUE(l == 32);
        RV(f->C_Digest(s, (CK_BYTE_PTR) "abc", 3, out, &l), CKR_OK);
        TRUE(l == 32 && memcmp(out, abc_sha256, 4) == 0);
        if (i >= 1)
            TRUE(sends_now() - n0 == 1);
    }

    /* A short buffer keeps the output, so does another length query; the big enough buffer gets it. */
    RV(f->C_SignInit(s, &hm, k), CKR_OK);
    n0 = sends_now();
    l = 0;
    RV(f->C_Sign(s, (CK_BYTE_PTR)data, 28, NULL, &l), CKR_OK);
    TRUE(l == 32);
    l = 31;
    RV(f->C_Sign(s, (CK_BYTE_PTR)data, 28, out, &l), CKR_BUFFER_TOO_SMALL);
    TRUE(l == 32);
    l = 7;
    RV(f->C_Sign(s, (CK_BYTE_PTR)data, 28, NULL, &l), CKR_OK);
    TRUE(l == 32);
    l = 32;
    RV(f->C_Sign(s, (CK_BYTE_PTR)data, 28, out, &l), CKR_OK);
    TRUE(l == 32 && memcmp(out, mac, 32) == 0);
    TRUE(sends_now() - n0 == 1);
    /* A short buffer first (the output comes with CKR_BUFFER_TOO_SMALL), then the call. */
    RV(f->C_SignInit(s, &hm, k), CKR_OK);
    n0 = sends_now();
    l = 16;
    RV(f->C_Sign(s, (CK_BYTE_PTR)data, 28, out, &l), CKR_BUFFER_TOO_SMALL);
    TRUE(l == 32);
    l = sizeof out;
    RV(f->C_Sign(s, (CK_BYTE_PTR)data, 28, out, &l), CKR_OK);
    TRUE(l == 32 && memcmp(out, mac, 32) == 0);
    TRUE(sends_now() - n0 == 1);

    /* Another input goes to the daemon, which answers as before (with the output the length query made). */
    RV(f->C_SignInit(s, &hm, k), CKR_OK);
    l = 0;
    RV(f->C_Sign(s, (CK_BYTE_PTR)data, 28, NULL, &l), CKR_OK);
    n0 = sends_now();
    l = sizeof out;
    RV(f->C_Sign(s, (CK_BYTE_PTR)data, 27, out, &l), CKR_OK);
    TRUE(l == 32 && memcmp(out, mac, 32) == 0);
    TRUE(sends_now() - n0 == 1);
    RV(f->C_SignInit(s, &hm, k), CKR_OK);
    l = 0;
    RV(f->C_Sign(s, (CK_BYTE_PTR)data, 28, NULL, &l), CKR_OK);
    copy[5] ^= 1;
    n0 = sends_now();
    l = sizeof out;
    RV(f->C_Sign(s, copy, 28, out, &l), CKR_OK);
    TRUE(l == 32 && memcmp(out, mac, 32) == 0);
    TRUE(sends_now() - n0 == 1);
    copy[5] ^= 1;

    /* A second Init while the length query's operation is active: CKR_OPERATION_ACTIVE, and the operation
     * goes on (its output comes from the daemon now). */
    RV(f->C_SignInit(s, &hm, k), CKR_OK);
    l = 0;
    RV(f->C_Sign(s, (CK_BYTE_PTR)data, 28, NULL, &l), CKR_OK);
    RV(f->C_SignInit(s, &hm, k), CKR_OPERATION_ACTIVE);
    n0 = sends_now();
    l = sizeof out;
    RV(f->C_Sign(s, (CK_BYTE_PTR)data, 28, out, &l), CKR_OK);
    TRUE(l == 32 && memcmp(out, mac, 32) == 0);
    TRUE(sends_now() - n0 == 1);
    /* Cancel (a NULL mechanism) and C_SessionCancel end it. */
    RV(f->C_SignInit(s, &hm, k), CKR_OK);
    l = 0;
    RV(f->C_Sign(s, (CK_BYTE_PTR)data, 28, NULL, &l), CKR_OK);
    RV(f->C_SignInit(s, NULL, 0), CKR_OK);
    l = sizeof out;
    RV(f->C_Sign(s, (CK_BYTE_PTR)data, 28, out, &l), CKR_OPERATION_NOT_INITIALIZED);
    RV(f->C_SignInit(s, &hm, k), CKR_OK);
    l = 0;
    RV(f->C_Sign(s, (CK_BYTE_PTR)data, 28, NULL, &l), CKR_OK);
    RV(f->C_SessionCancel(s, CKF_SIGN), CKR_OK);
    l = sizeof out;
    RV(f->C_Sign(s, (CK_BYTE_PTR)data, 28, out, &l), CKR_OPERATION_NOT_INITIALIZED);
    /* An Update or Final after the single-part length query: CKR_OPERATION_ACTIVE, which ends the operation. */
    RV(f->C_SignInit(s, &hm, k), CKR_OK);
    l = 0;
    RV(f->C_Sign(s, (CK_BYTE_PTR)data, 28, NULL, &l), CKR_OK);
    RV(f->C_SignUpdate(s, (CK_BYTE_PTR)data, 28), CKR_OPERATION_ACTIVE);
    l = sizeof out;
    RV(f->C_Sign(s, (CK_BYTE_PTR)data, 28, out, &l), CKR_OPERATION_NOT_INITIALIZED);
    RV(f->C_SignInit(s, &hm, k), CKR_OK);
    l = 0;
    RV(f->C_Sign(s, (CK_BYTE_PTR)data, 28, NULL, &l), CKR_OK);
    l = sizeof out;
    RV(f->C_SignFinal(s, out, &l), CKR_OPERATION_ACTIVE);
    RV(f->C_Sign(s, (CK_BYTE_PTR)data, 28, out, &l), CKR_OPERATION_NOT_INITIALIZED);
    /* Bad arguments end it (the client's own CKR_ARGUMENTS_BAD). */
    RV(f->C_SignInit(s, &hm, k), CKR_OK);
    l = 0;
    RV(f->C_Sign(s, (CK_BYTE_PTR)data, 28, NULL, &l), CKR_OK);
    RV(f->C_Sign(s, NULL, 28, out, &l), CKR_ARGUMENTS_BAD);
    l = sizeof out;
    RV(f->C_Sign(s, (CK_BYTE_PTR)data, 28, out, &l), CKR_OPERATION_NOT_INITIALIZED);
    /* Another call on the session in between: the call goes to the daemon, same result. */
    RV(f->C_SignInit(s, &hm, k), CKR_OK);
    l = 0;
    RV(f->C_Sign(s, (CK_BYTE_PTR)data, 28, NULL, &l), CKR_OK);
    RV(f->C_GenerateRandom(s, buf, 8), CKR_OK);
    n0 = sends_now();
    l = sizeof out;
    RV(f->C_Sign(s, (CK_BYTE_PTR)data, 28, out, &l), CKR_OK);
    TRUE(l == 32 && memcmp(out, mac, 32) == 0);
    TRUE(sends_now() - n0 == 1);
    /* Another session's calls do not touch it. */
    RV(f->C_SignInit(s, &hm, k), CKR_OK);
    l = 0;
    RV(f->C_Sign(s, (CK_BYTE_PTR)data, 28, NULL, &l), CKR_OK);
    RV(f->C_GenerateRandom(s2, buf, 8), CKR_OK);
    n0 = sends_now();
    l = sizeof out;
    RV(f->C_Sign(s, (CK_BYTE_PTR)data, 28, out, &l), CKR_OK);
    TRUE(l == 32 && memcmp(out, mac, 32) == 0);
    TRUE(sends_now() - n0 == 0);
    /* Logout (through another session) and C_DestroyObject drop every kept output: the call goes to the
     * daemon, which says what the operation became. */
    RV2(f->C_Login(s2, CKU_USER, PIN(user_pin)), CKR_OK, CKR_USER_ALREADY_LOGGED_IN);
    RV(f->C_SignInit(s, &hm, k), CKR_OK);
    l = 0;
    RV(f->C_Sign(s, (CK_BYTE_PTR)data, 28, NULL, &l), CKR_OK);
    RV(f->C_Logout(s2), CKR_OK);
    n0 = sends_now();
    l = sizeof out;
    CK_RV after_logout = f->C_Sign(s, (CK_BYTE_PTR)data, 28, out, &l);
    TRUE(sends_now() - n0 == 1);
    TRUE(after_logout == CKR_OK || after_logout == CKR_OPERATION_NOT_INITIALIZED);
    RV(f->C_SignInit(s, NULL, 0), CKR_OK);
    CK_OBJECT_HANDLE d1;
    RV(make_data(s, "kept-destroy", &no, &no, &d1), CKR_OK);
    RV(f->C_SignInit(s, &hm, k), CKR_OK);
    l = 0;
    RV(f->C_Sign(s, (CK_BYTE_PTR)data, 28, NULL, &l), CKR_OK);
    RV(f->C_DestroyObject(s2, d1), CKR_OK);
    n0 = sends_now();
    l = sizeof out;
    RV(f->C_Sign(s, (CK_BYTE_PTR)data, 28, out, &l), CKR_OK);
    TRUE(l == 32 && memcmp(out, mac, 32) == 0);
    TRUE(sends_now() - n0 == 1);

    /* An output over 64 KiB is not carried (its length is), an input over 64 KiB is not kept: two round trips,
     * with the right results. */
    static CK_BYTE big[(64 << 10) + 16], big_out[(64 << 10) + 16];
    CK_OBJECT_CLASS sk = CKO_SECRET_KEY;
    CK_KEY_TYPE aes = CKK_AES;
    CK_BYTE zero16[16] = {0};
    CK_ATTRIBUTE at[] = {{CKA_CLASS, &sk, sizeof sk}, {CKA_KEY_TYPE, &aes, sizeof aes}, {CKA_TOKEN, &no, 1},
                         {CKA_PRIVATE, &no, 1},       {CKA_ENCRYPT, &yes, 1},        {CKA_DECRYPT, &yes, 1},
                         {CKA_VALUE, zero16, 16}};
    CK_OBJECT_HANDLE ak;
    CK_MECHANISM ecb = {CKM_AES_ECB, NULL, 0};
    RV(f->C_CreateObject(s, at, 7, &ak), CKR_OK);
    for (int i = 0; i < 2; i++) {
        RV(f->C_EncryptInit(s, &ecb, ak), CKR_OK);
        n0 = sends_now();
        l = 0;
        RV(f->C_Encrypt(s, big, sizeof big, NULL, &l), CKR_OK);
        TRUE(l == sizeof big);
        RV(f->C_Encrypt(s, big, sizeof big, big_out, &l), CKR_OK);
        TRUE(l == sizeof big && memcmp(big_out, big_out + 16, 16) == 0); /* ECB of zero blocks */
        if (i == 1)
            TRUE(sends_now() - n0 == 2);
    }
    /* ... while 64 KiB itself is kept: decrypt it back in one round trip. */
    RV(f->C_DecryptInit(s, &ecb, ak), CKR_OK);
    RV(f->C_DecryptInit(s, NULL, 0), CKR_OK);
    RV(f->C_DecryptInit(s, &ecb, ak), CKR_OK);
    n0 = sends_now();
    l = 0;
    RV(f->C_Decrypt(s, big_out, 64 << 10, NULL, &l), CKR_OK);
    TRUE(l == (64 << 10));
    memset(big, 1, sizeof big);
    RV(f->C_Decrypt(s, big_out, 64 << 10, big, &l), CKR_OK);
    TRUE(l == (64 << 10) && big[0] == 0 && big[(64 << 10) - 1] == 0 && big[64 << 10] == 1);
    TRUE(sends_now() - n0 == 1);

    /* Closing the session drops its kept output: the handle is invalid, as before. */
    RV(f->C_SignInit(s2, &hm, k), CKR_OK);
    l = 0;
    RV(f->C_Sign(s2, (CK_BYTE_PTR)data, 28, NULL, &l), CKR_OK);
    RV(f->C_CloseSession(s2), CKR_OK);
    l = sizeof out;
    RV(f->C_Sign(s2, (CK_BYTE_PTR)data, 28, out, &l), CKR_SESSION_HANDLE_INVALID);
    /* C_CloseAllSessions too. */
    CK_SESSION_HANDLE s3;
    RV(f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s3), CKR_OK);
    RV(f->C_DigestInit(s3, &sha), CKR_OK);
    l = 0;
    RV(f->C_Digest(s3, (CK_BYTE_PTR) "abc", 3, NULL, &l), CKR_OK);

    /* A forked child: nothing inherited answers (CKR_CRYPTOKI_NOT_INITIALIZED, then an invalid handle after
     * its own C_Initialize); the parent's kept output still serves the parent. */
    RV(f->C_SignInit(s, &hm, k), CKR_OK);
    l = 0;
    RV(f->C_Sign(s, (CK_BYTE_PTR)data, 28, NULL, &l), CKR_OK);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        CK_BYTE o2[64];
        CK_ULONG l2 = sizeof o2;
        int bad = f->C_Sign(s, (CK_BYTE_PTR)data, 28, o2, &l2) != CKR_CRYPTOKI_NOT_INITIALIZED;
        bad |= f->C_Initialize(NULL) != CKR_OK;
        l2 = sizeof o2;
        bad |= f->C_Sign(s, (CK_BYTE_PTR)data, 28, o2, &l2) != CKR_SESSION_HANDLE_INVALID;
        bad |= f->C_Finalize(NULL) != CKR_OK;
        _exit(bad);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    TRUE(pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    n0 = sends_now();
    l = sizeof out;
    RV(f->C_Sign(s, (CK_BYTE_PTR)data, 28, out, &l), CKR_OK);
    TRUE(l == 32 && memcmp(out, mac, 32) == 0);
    TRUE(sends_now() - n0 == 0);
    RV(f->C_CloseAllSessions(slot), CKR_OK);
    l = sizeof out;
    RV(f->C_Digest(s3, (CK_BYTE_PTR) "abc", 3, out, &l), CKR_SESSION_HANDLE_INVALID);
    RV(f->C_Sign(s, (CK_BYTE_PTR)data, 28, out, &l), CKR_SESSION_HANDLE_INVALID);
}

/* Kept attribute values: a C_GetAttributeValue length query brings the values, and the very next query of
 * the same session, object and types gets them with no round trip, under the length convention; anything that
 * could change them in between sends the query to the daemon (docs/protocol.md, "Kept output"). */
static void test_kept_attrs(void)
{
    CK_OBJECT_CLASS dc = CKO_DATA, sk = CKO_SECRET_KEY;
    CK_KEY_TYPE gk = CKK_GENERIC_SECRET;
    char label[] = "kept-attrs", value[] = "value!";
    CK_ATTRIBUTE dt[] = {{CKA_CLASS, &dc, sizeof dc}, {CKA_TOKEN, &no, 1},          {CKA_PRIVATE, &no, 1},
                         {CKA_LABEL, label, 10},       {CKA_VALUE, value, 6}};
    CK_ATTRIBUTE kt[] = {{CKA_CLASS, &sk, sizeof sk}, {CKA_KEY_TYPE, &gk, sizeof gk}, {CKA_TOKEN, &no, 1},
                         {CKA_PRIVATE, &no, 1},       {CKA_SENSITIVE, &yes, 1},      {CKA_SIGN, &yes, 1},
                         {CKA_VALUE, "Jefe", 4}};
    CK_SESSION_HANDLE s, s2;
    CK_OBJECT_HANDLE o, k;
    RV(f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s), CKR_OK);
    RV(f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s2), CKR_OK);
    RV(f->C_CreateObject(s, dt, 5, &o), CKR_OK);
    RV(f->C_CreateObject(s, kt, 7, &k), CKR_OK);
    CK_OBJECT_CLASS cls;
    char lab[32], val[32];
    long n0;
#define QUERY(q)                                                                                               \
    CK_ATTRIBUTE q[] = {{CKA_CLASS, NULL, 0}, {CKA_LABEL, NULL, 0}, {CKA_VALUE, NULL, 0}}
#define FILL(q)                                                                                                \
    do {                                                                                                       \
        q[0].pValue = &cls, q[0].ulValueLen = sizeof cls;                                                      \
        q[1].pValue = lab, q[1].ulValueLen = sizeof lab;                                                       \
        q[2].pValue = val, q[2].ulValueLen = sizeof val;                                                       \
    } while (0)

    /* Lengths, then values: one round trip (two before). */
    for (int i = 0; i < 2; i++) {
        QUERY(q);
        n0 = sends_now();
        RV(f->C_GetAttributeValue(s, o, q, 3), CKR_OK);
        TRUE(q[0].ulValueLen == sizeof cls && q[1].ulValueLen == 10 && q[2].ulValueLen == 6);
        FILL(q);
        memset(lab, 0, sizeof lab);
        RV(f->C_GetAttributeValue(s, o, q, 3), CKR_OK);
        TRUE(cls == CKO_DATA && q[1].ulValueLen == 10 && memcmp(lab, label, 10) == 0 && q[2].ulValueLen == 6 &&
             memcmp(val, value, 6) == 0);
        TRUE(sends_now() - n0 == 1);
    }
    /* A short buffer: CK_UNAVAILABLE_INFORMATION there, the others filled, CKR_BUFFER_TOO_SMALL; once only. */
    {
        QUERY(q);
        RV(f->C_GetAttributeValue(s, o, q, 3), CKR_OK);
        FILL(q);
        q[1].ulValueLen = 9;
        n0 = sends_now();
        RV(f->C_GetAttributeValue(s, o, q, 3), CKR_BUFFER_TOO_SMALL);
        TRUE(q[1].ulValueLen == CK_UNAVAILABLE_INFORMATION && q[2].ulValueLen == 6 && cls == CKO_DATA);
        TRUE(sends_now() - n0 == 0);
        FILL(q);
        RV(f->C_GetAttributeValue(s, o, q, 3), CKR_OK);
        TRUE(sends_now() - n0 == 1);
    }
    /* Other types, another object: the daemon answers. */
    {
        QUERY(q);
        RV(f->C_GetAttributeValue(s, o, q, 3), CKR_OK);
        FILL(q);
        n0 = sends_now();
        RV(f->C_GetAttributeValue(s, o, q, 2), CKR_OK);
        TRUE(sends_now() - n0 == 1);
        CK_ATTRIBUTE c1 = {CKA_CLASS, NULL, 0};
        RV(f->C_GetAttributeValue(s, o, &c1, 1), CKR_OK);
        c1.pValue = &cls, c1.ulValueLen = sizeof cls;
        n0 = sends_now();
        RV(f->C_GetAttributeValue(s, k, &c1, 1), CKR_OK);
        TRUE(cls == CKO_SECRET_KEY && sends_now() - n0 == 1);
    }
    /* Another session's call in between: still kept. The same session's: the daemon answers. */
    {
        QUERY(q);
        RV(f->C_GetAttributeValue(s, o, q, 3), CKR_OK);
        RV(f->C_GenerateRandom(s2, buf, 8), CKR_OK);
        FILL(q);
        n0 = sends_now();
        RV(f->C_GetAttributeValue(s, o, q, 3), CKR_OK);
        TRUE(memcmp(lab, label, 10) == 0 && sends_now() - n0 == 0);
        QUERY(q2);
        RV(f->C_GetAttributeValue(s, o, q2, 3), CKR_OK);
        RV(f->C_GenerateRandom(s, buf, 8), CKR_OK);
        FILL(q2);
        n0 = sends_now();
        RV(f->C_GetAttributeValue(s, o, q2, 3), CKR_OK);
        TRUE(sends_now() - n0 == 1);
    }
    /* C_SetAttributeValue through another session: the next query sees the new value, from the daemon. */
    {
        QUERY(q);
        RV(f->C_GetAttributeValue(s, o, q, 3), CKR_OK);
        CK_ATTRIBUTE nl = {CKA_LABEL, "relabelled-attrs", 16};
        RV(f->C_SetAttributeValue(s2, o, &nl, 1), CKR_OK);
        FILL(q);
        RV(f->C_GetAttributeValue(s, o, q, 3), CKR_OK);
        TRUE(q[1].ulValueLen == 16 && memcmp(lab, "relabelled-attrs", 16) == 0);
        /* ... and C_DestroyObject: the handle is invalid. */
        QUERY(q2);
        RV(f->C_GetAttributeValue(s, o, q2, 3), CKR_OK);
        RV(f->C_DestroyObject(s2, o), CKR_OK);
        FILL(q2);
        RV(f->C_GetAttributeValue(s, o, q2, 3), CKR_OBJECT_HANDLE_INVALID);
    }
    /* A sensitive value: CKR_ATTRIBUTE_SENSITIVE, nothing kept, the next query from the daemon. */
    {
        CK_ATTRIBUTE q[] = {{CKA_CLASS, NULL, 0}, {CKA_VALUE, NULL, 0}};
        RV(f->C_GetAttributeValue(s, k, q, 2), CKR_ATTRIBUTE_SENSITIVE);
        TRUE(q[0].ulValueLen == sizeof cls && q[1].ulValueLen == CK_UNAVAILABLE_INFORMATION);
        q[0].pValue = &cls, q[0].ulValueLen = sizeof cls;
        q[1].pValue = val, q[1].ulValueLen = sizeof val;
        n0 = sends_now();
        RV(f->C_GetAttributeValue(s, k, q, 2), CKR_ATTRIBUTE_SENSITIVE);
        TRUE(cls == CKO_SECRET_KEY && q[1].ulValueLen == CK_UNAVAILABLE_INFORMATION && sends_now() - n0 == 1);
    }
    /* Closing the session drops them: the handle is invalid. */
    {
        CK_ATTRIBUTE c1 = {CKA_CLASS, NULL, 0};
        RV(f->C_GetAttributeValue(s2, k, &c1, 1), CKR_OK);
        RV(f->C_CloseSession(s2), CKR_OK);
        c1.pValue = &cls, c1.ulValueLen = sizeof cls;
        RV(f->C_GetAttributeValue(s2, k, &c1, 1), CKR_SESSION_HANDLE_INVALID);
    }
#undef QUERY
#undef FILL
    RV(f->C_CloseSession(s), CKR_OK);
}

/* Kept output with threads: each thread signs on its own session in the length-query pattern; a session's
 * OperationEnd travels with that session's next request, so every signature is one round trip, and the
 * results are right. */
struct kept_arg {
    CK_OBJECT_HANDLE key;
    long rounds;
};

static void *kept_signer(void *p)
{
    struct kept_arg *a = p;
    static const CK_BYTE mac4[4] = {0x5b, 0xdc, 0xc1, 0x46};
    CK_MECHANISM hm = {CKM_SHA256_HMAC, NULL, 0};
    CK_SESSION_HANDLE s;
    CK_BYTE out[32];
    CK_ULONG l;
    RV(f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s), CKR_OK);
    for (long i = 0; i < a->rounds; i++) {
        CK_RV r1 = f->C_SignInit(s, &hm, a->key);
        l = 0;
        CK_RV r2 = f->C_Sign(s, (CK_BYTE_PTR) "what do ya want for nothing?", 28, NULL, &l);
        CK_RV r3 = f->C_Sign(s, (CK_BYTE_PTR) "what do ya want for nothing?", 28, out, &l);
        if (r1 != CKR_OK || r2 != CKR_OK || r3 != CKR_OK || l != 32 || memcmp(out, mac4, 4) != 0) {
            RV(r1 | r2 | r3, CKR_OK);
            TRUE(l == 32 && memcmp(out, mac4, 4) == 0);
            break;
        }
    }
    RV(f->C_CloseSession(s), CKR_OK);
    return NULL;
}

static void test_kept_threads(void)
{
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
    CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_KEY_TYPE, &kt, sizeof kt}, {CKA_TOKEN, &no, 1},
                        {CKA_PRIVATE, &no, 1},         {CKA_SIGN, &yes, 1},           {CKA_VALUE, "Jefe", 4}};
    CK_SESSION_HANDLE s;
    struct kept_arg a = {0, 300};
    RV(f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s), CKR_OK);
    RV(f->C_CreateObject(s, t, 6, &a.key), CKR_OK);
    pthread_t th[4];
    long n0 = sends_now();
    for (int i = 0; i < 4; i++)
        TRUE(pthread_create(&th[i], NULL, kept_signer, &a) == 0);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    /* Per thread: open, the first Init alone, the close, and the Hellos of the connections opened meanwhile;
     * then one round trip per signature (two before kept output: 2400). */
    long used = sends_now() - n0;
    TRUE(used <= 4 * a.rounds + 40);
    if (used > 4 * a.rounds + 40)
        fprintf(stderr, "kept threads: %ld sends for %ld signatures\n", used, 4 * a.rounds);
    RV(f->C_CloseSession(s), CKR_OK);
}

/* PKCS#11: every error of C_Encrypt, C_EncryptUpdate, C_EncryptFinal and the decrypt, digest, sign and verify
 * calls but CKR_BUFFER_TOO_SMALL ends the operation, the client's own CKR_ARGUMENTS_BAD too (a deferred Init
 * with it); a single-part call after multi-part ones, or the other way round, is CKR_OPERATION_ACTIVE (and an
 * error). Closing the session that made a session key forgets other sessions' Inits that name it. */
/* The Init shape leaves out the contents of params.def's data-only fields: an EdDSA Init with another context of
 * the same length is deferred (one round trip for Init and sign), and the signature is made under the new
 * context, not the one of the Init that succeeded before. */
static void test_fused_context(void)
{
    CK_SESSION_HANDLE s;
    CK_OBJECT_HANDLE pub, priv;
    RV(f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s), CKR_OK);
    RV2(f->C_Login(s, CKU_USER, PIN(user_pin)), CKR_OK, CKR_USER_ALREADY_LOGGED_IN);
    static CK_BYTE ed25519_oid[] = {0x06, 0x03, 0x2b, 0x65, 0x70};
    CK_MECHANISM gen = {CKM_EC_EDWARDS_KEY_PAIR_GEN, NULL, 0};
    CK_ATTRIBUTE pt[] = {{CKA_TOKEN, &no, 1}, {CKA_EC_PARAMS, ed25519_oid, sizeof ed25519_oid}, {CKA_VERIFY, &yes, 1}};
    CK_ATTRIBUTE vt[] = {{CKA_TOKEN, &no, 1}, {CKA_SIGN, &yes, 1}};
    RV(f->C_GenerateKeyPair(s, &gen, pt, 3, vt, 2, &pub, &priv), CKR_OK);
    CK_BYTE one[7] = "ctx-one", two[7] = "ctx-two", msg[5] = {'h', 'e', 'l', 'l', 'o'}, sig[2][64];
    CK_EDDSA_PARAMS ep = {.phFlag = CK_FALSE, .pContextData = one, .ulContextDataLen = sizeof one};
    CK_MECHANISM m = {CKM_EDDSA, &ep, sizeof ep};
    for (int i = 0; i < 2; i++) {
        ep.pContextData = i ? two : one;
        long n0 = sends_now();
        RV(f->C_SignInit(s, &m, priv), CKR_OK);
        CK_ULONG l = sizeof sig[i];
        RV(f->C_Sign(s, msg, sizeof msg, sig[i], &l), CKR_OK);
        TRUE(l == 64);
        TRUE(sends_now() - n0 == (i == 0 ? 2 : 1));
    }
    TRUE(memcmp(sig[0], sig[1], 64) != 0);
    ep.pContextData = two;
    RV(f->C_VerifyInit(s, &m, pub), CKR_OK);
    RV(f->C_Verify(s, msg, sizeof msg, sig[1], 64), CKR_OK);
    ep.pContextData = one;
    RV(f->C_VerifyInit(s, &m, pub), CKR_OK);
    RV(f->C_Verify(s, msg, sizeof msg, sig[1], 64), CKR_SIGNATURE_INVALID);
    /* A context of another length is another shape: the Init goes alone. */
    ep.ulContextDataLen = 3;
    long n0 = sends_now();
    RV(f->C_SignInit(s, &m, priv), CKR_OK);
    TRUE(sends_now() - n0 == 1);
    RV(f->C_SignInit(s, NULL, 0), CKR_OK);
    RV(f->C_CloseSession(s), CKR_OK);
}

static void test_errors_end(void)
{
    static const CK_BYTE zero32[32] = {0};
    CK_OBJECT_CLASS sk = CKO_SECRET_KEY;
    CK_KEY_TYPE aes = CKK_AES;
    CK_ATTRIBUTE at[] = {{CKA_CLASS, &sk, sizeof sk}, {CKA_KEY_TYPE, &aes, sizeof aes}, {CKA_TOKEN, &no, 1},
                         {CKA_PRIVATE, &no, 1},       {CKA_ENCRYPT, &yes, 1},        {CKA_DECRYPT, &yes, 1},
                         {CKA_VALUE, (void *)zero32, 32}};
    CK_MECHANISM ecb = {CKM_AES_ECB, NULL, 0}, sha = {CKM_SHA256, NULL, 0};
    CK_SESSION_HANDLE s, s2;
    CK_OBJECT_HANDLE k;
    CK_BYTE out[64];
    CK_ULONG l;
    long n0;
    RV(f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s), CKR_OK);
    RV(f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s2), CKR_OK);
    RV(f->C_CreateObject(s, at, 7, &k), CKR_OK);
    for (int round = 0; round < 2; round++) { /* the first Init goes alone, the second is deferred */
        RV(f->C_EncryptInit(s, &ecb, k), CKR_OK);
        RV(f->C_Encrypt(s, (CK_BYTE_PTR)zero32, 16, NULL, NULL), CKR_ARGUMENTS_BAD);
        l = sizeof out;
        RV(f->C_Encrypt(s, (CK_BYTE_PTR)zero32, 16, out, &l), CKR_OPERATION_NOT_INITIALIZED);
    }
    n0 = sends_now();
    RV(f->C_EncryptInit(s, &ecb, k), CKR_OK);
    l = sizeof out;
    RV(f->C_Encrypt(s, NULL, 16, out, &l), CKR_ARGUMENTS_BAD);
    TRUE(sends_now() - n0 == 0); /* the deferred Init is dropped: no round trip */
    RV(f->C_EncryptInit(s, &ecb, k), CKR_OK);
    l = sizeof out;
    RV(f->C_EncryptUpdate(s, NULL, 16, out, &l), CKR_ARGUMENTS_BAD);
    RV(f->C_EncryptFinal(s, out, &l), CKR_OPERATION_NOT_INITIALIZED);
    RV(f->C_EncryptInit(s, &ecb, k), CKR_OK);
    RV(f->C_EncryptFinal(s, out, NULL), CKR_ARGUMENTS_BAD);
    RV(f->C_EncryptInit(s, &ecb, k), CKR_OK);
    RV(f->C_Encrypt(s, (CK_BYTE_PTR)zero32, 16, out, &l), CKR_OK);
    RV(f->C_DecryptInit(s, &ecb, k), CKR_OK);
    RV(f->C_Decrypt(s, out, 16, NULL, NULL), CKR_ARGUMENTS_BAD);
    RV(f->C_DecryptInit(s, &ecb, k), CKR_OK);
    RV(f->C_DecryptInit(s, NULL, 0), CKR_OK);
    for (int round = 0; round < 2; round++) {
        RV(f->C_DigestInit(s, &sha), CKR_OK);
        RV(f->C_DigestFinal(s, out, NULL), CKR_ARGUMENTS_BAD);
        l = sizeof out;
        RV(f->C_DigestFinal(s, out, &l), CKR_OPERATION_NOT_INITIALIZED);
        RV(f->C_DigestInit(s, &sha), CKR_OK);
        RV(f->C_DigestUpdate(s, NULL, 3), CKR_ARGUMENTS_BAD);
        RV(f->C_DigestFinal(s, out, &l), CKR_OPERATION_NOT_INITIALIZED);
    }
    /* Single-part and multi-part do not mix, and the mismatch ends the operation. */
    RV(f->C_EncryptInit(s, &ecb, k), CKR_OK);
    l = sizeof out;
    RV(f->C_EncryptUpdate(s, (CK_BYTE_PTR)zero32, 16, out, &l), CKR_OK);
    l = sizeof out;
    RV(f->C_Encrypt(s, (CK_BYTE_PTR)zero32, 16, out, &l), CKR_OPERATION_ACTIVE);
    RV(f->C_EncryptFinal(s, out, &l), CKR_OPERATION_NOT_INITIALIZED);
    RV(f->C_EncryptInit(s, &ecb, k), CKR_OK);
    l = 0;
    RV(f->C_Encrypt(s, (CK_BYTE_PTR)zero32, 16, NULL, &l), CKR_OK);
    TRUE(l == 16);
    l = sizeof out;
    RV(f->C_EncryptUpdate(s, (CK_BYTE_PTR)zero32, 16, out, &l), CKR_OPERATION_ACTIVE);
    RV(f->C_DigestInit(s, &sha), CKR_OK);
    RV(f->C_DigestUpdate(s, (CK_BYTE_PTR) "a", 1), CKR_OK);
    l = 0;
    RV(f->C_DigestFinal(s, NULL, &l), CKR_OK);
    l = sizeof out;
    RV(f->C_Digest(s, (CK_BYTE_PTR) "bc", 2, out, &l), CKR_OPERATION_ACTIVE);
    RV(f->C_DigestFinal(s, out, &l), CKR_OPERATION_NOT_INITIALIZED);
    /* An Update's output awaits its length query's repeat: a Final instead would work on moved state. */
    RV(f->C_EncryptInit(s, &ecb, k), CKR_OK);
    l = 0;
    RV(f->C_EncryptUpdate(s, (CK_BYTE_PTR)zero32, 32, NULL, &l), CKR_OK);
    TRUE(l == 32);
    l = sizeof out;
    RV(f->C_EncryptFinal(s, out, &l), CKR_OPERATION_ACTIVE);
    RV(f->C_EncryptInit(s, &ecb, k), CKR_OK);
    RV(f->C_EncryptInit(s, NULL, 0), CKR_OK);

    /* s2 learns the Init shape of s's session key k; closing s destroys k. */
    for (int i = 0; i < 2; i++) {
        RV(f->C_EncryptInit(s2, &ecb, k), CKR_OK);
        l = sizeof out;
        RV(f->C_Encrypt(s2, (CK_BYTE_PTR)zero32, 16, out, &l), CKR_OK);
    }
    RV(f->C_CloseSession(s), CKR_OK);
    RV(f->C_EncryptInit(s2, &ecb, k), CKR_KEY_HANDLE_INVALID);
    /* ... and a deferred Init of s2 made while k lived goes before the close. */
    RV(f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s), CKR_OK);
    RV(f->C_CreateObject(s, at, 7, &k), CKR_OK);
    for (int i = 0; i < 2; i++) {
        RV(f->C_EncryptInit(s2, &ecb, k), CKR_OK);
        l = sizeof out;
        RV(f->C_EncryptUpdate(s2, (CK_BYTE_PTR)zero32, 16, out, &l), CKR_OK);
        RV(f->C_EncryptFinal(s2, out, &l), CKR_OK);
    }
    RV(f->C_EncryptInit(s2, &ecb, k), CKR_OK); /* deferred */
    RV(f->C_CloseSession(s), CKR_OK);
    l = sizeof out;
    RV(f->C_EncryptUpdate(s2, (CK_BYTE_PTR)zero32, 16, out, &l), CKR_OK);
    RV(f->C_EncryptFinal(s2, out, &l), CKR_OK);
    RV(f->C_CloseSession(s2), CKR_OK);
}

/* A deferred Init meets another thread's C_DestroyObject, which sends every session's deferred Init first:
 * the signing thread's own call must not overtake its Init (it would find no operation, and the Init would
 * then leave one active). */
struct race_arg {
    CK_OBJECT_HANDLE key;
    int rounds;
};

static void *race_signer(void *p)
{
    struct race_arg *a = p;
    CK_SESSION_HANDLE s;
    CK_MECHANISM hm = {CKM_SHA256_HMAC, NULL, 0};
    CK_BYTE out[32];
    RV(f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s), CKR_OK);
    for (int i = 0; i < a->rounds; i++) {
        CK_ULONG l = sizeof out;
        CK_RV r1 = f->C_SignInit(s, &hm, a->key), r2 = f->C_Sign(s, (CK_BYTE_PTR) "x", 1, out, &l);
        if (r1 != CKR_OK || r2 != CKR_OK) {
            RV(r1, CKR_OK);
            RV(r2, CKR_OK);
            break;
        }
    }
    RV(f->C_CloseSession(s), CKR_OK);
    return NULL;
}

static void *race_destroyer(void *p)
{
    struct race_arg *a = p;
    CK_SESSION_HANDLE s;
    CK_OBJECT_HANDLE h;
    RV(f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s), CKR_OK);
    for (int i = 0; i < a->rounds; i++) {
        RV(make_data(s, "race", &no, &no, &h), CKR_OK);
        RV(f->C_DestroyObject(s, h), CKR_OK);
    }
    RV(f->C_CloseSession(s), CKR_OK);
    return NULL;
}

/* Inputs beyond a frame (issue 16, item 7): a single-part call whose input does not fit in a frame (9 MiB; and 8
 * MiB, whose frame is over the limit by its header) answers CKR_DATA_LEN_RANGE without sending anything, and the
 * error ends the operation, as the specification has errors end single-part and multi-part operations: on a
 * fresh session (the Init went alone) and with the Init deferred (it would have gone with the data). The
 * application keeps its connection, sessions and login throughout. */
static void test_large_input(void)
{
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE aes = CKK_AES, gen = CKK_GENERIC_SECRET;
    CK_BYTE kv[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    CK_ATTRIBUTE ta[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_KEY_TYPE, &aes, sizeof aes}, {CKA_TOKEN, &no, 1},
                         {CKA_PRIVATE, &yes, 1},        {CKA_ENCRYPT, &yes, 1},         {CKA_VALUE, kv, 16}};
    CK_ATTRIBUTE th[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_KEY_TYPE, &gen, sizeof gen}, {CKA_TOKEN, &no, 1},
                         {CKA_PRIVATE, &yes, 1},        {CKA_VERIFY, &yes, 1},          {CKA_VALUE, kv, 16}};
    CK_MECHANISM ecb = {CKM_AES_ECB, NULL, 0}, hm = {CKM_SHA256_HMAC, NULL, 0};
    size_t big = 9u << 20;
    CK_BYTE *in = calloc(1, big), *out = malloc(big + 64), mac[32];
    if (!in || !out) {
        TRUE(!"out of memory");
        free(in);
        free(out);
        return;
    }
    CK_SESSION_HANDLE s, other;
    CK_OBJECT_HANDLE k, hk;
    CK_SESSION_INFO si;
    CK_ULONG l;
    RV(f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &other), CKR_OK);
    RV(f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s), CKR_OK);
    RV2(f->C_Login(s, CKU_USER, PIN(user_pin)), CKR_OK, CKR_USER_ALREADY_LOGGED_IN);
    RV(f->C_CreateObject(s, ta, 6, &k), CKR_OK);
    RV(f->C_CreateObject(s, th, 6, &hk), CKR_OK);
    /* Three rounds: the first Init goes alone (a fresh session), the next ones are deferred; 9 MiB, then 8 MiB. */
    for (int i = 0; i < 3; i++) {
        CK_ULONG n = i == 2 ? 8u << 20 : (CK_ULONG)big;
        RV(f->C_EncryptInit(s, &ecb, k), CKR_OK);
        l = (CK_ULONG)big + 64;
        RV(f->C_Encrypt(s, in, n, out, &l), CKR_DATA_LEN_RANGE);
        /* The operation ended: a data call finds none, and a new Init succeeds. */
        l = sizeof mac;
        RV(f->C_Encrypt(s, in, 16, out, &l), CKR_OPERATION_NOT_INITIALIZED);
        RV(f->C_EncryptInit(s, &ecb, k), CKR_OK);
        l = 16;
        RV(f->C_Encrypt(s, in, 16, out, &l), CKR_OK);
        TRUE(l == 16);
        /* Multi-part: an oversized part ends the operation too. */
        RV(f->C_EncryptInit(s, &ecb, k), CKR_OK);
        l = (CK_ULONG)big + 64;
        RV(f->C_EncryptUpdate(s, in, n, out, &l), CKR_DATA_LEN_RANGE);
        l = sizeof mac;
        RV(f->C_EncryptFinal(s, out, &l), CKR_OPERATION_NOT_INITIALIZED);
        /* C_Verify, fused (VerifyInitVerify) after the first round: data, then a signature, too large. */
        RV(f->C_VerifyInit(s, &hm, hk), CKR_OK);
        RV(f->C_Verify(s, in, n, mac, 32), CKR_DATA_LEN_RANGE);
        RV(f->C_VerifyFinal(s, mac, 32), CKR_OPERATION_NOT_INITIALIZED);
        RV(f->C_VerifyInit(s, &hm, hk), CKR_OK);
        RV(f->C_Verify(s, in, 16, in, n), CKR_SIGNATURE_LEN_RANGE);
        RV(f->C_VerifyFinal(s, mac, 32), CKR_OPERATION_NOT_INITIALIZED);
        /* The sessions and the login survived. */
        RV(f->C_GetSessionInfo(s, &si), CKR_OK);
        TRUE(si.state == CKS_RW_USER_FUNCTIONS);
        RV(f->C_GetSessionInfo(other, &si), CKR_OK);
        TRUE(si.state == CKS_RW_USER_FUNCTIONS);
    }
    RV(f->C_DestroyObject(s, k), CKR_OK);
    RV(f->C_DestroyObject(s, hk), CKR_OK);
    RV(f->C_CloseSession(s), CKR_OK);
    RV(f->C_CloseSession(other), CKR_OK);
    free(in);
    free(out);
}

static void test_fused_race(void)
{
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
    CK_SESSION_HANDLE s;
    CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_KEY_TYPE, &kt, sizeof kt}, {CKA_TOKEN, &no, 1},
                        {CKA_PRIVATE, &no, 1},         {CKA_SIGN, &yes, 1},           {CKA_VALUE, "Jefe", 4}};
    struct race_arg a = {0, 4000};
    RV(f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s), CKR_OK);
    RV(f->C_CreateObject(s, t, 6, &a.key), CKR_OK);
    pthread_t t1, t2, t3;
    TRUE(pthread_create(&t1, NULL, race_signer, &a) == 0);
    TRUE(pthread_create(&t2, NULL, race_signer, &a) == 0);
    TRUE(pthread_create(&t3, NULL, race_destroyer, &a) == 0);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    pthread_join(t3, NULL);
    RV(f->C_CloseSession(s), CKR_OK);
}

/* An older daemon (keywardd --legacy-protocol, run by run-abi.sh as "abi legacy"): the library asks what it
 * speaks, gets CKR_FUNCTION_NOT_SUPPORTED, and goes back to a round trip per function with the same results. */
static void test_legacy(void)
{
    static const char key[] = "Jefe", data[] = "what do ya want for nothing?";
    static const CK_BYTE mac[4] = {0x5b, 0xdc, 0xc1, 0x46}; /* RFC 4231 test case 2 */
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
    CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_KEY_TYPE, &kt, sizeof kt}, {CKA_TOKEN, &no, 1},
                        {CKA_PRIVATE, &no, 1},         {CKA_SIGN, &yes, 1},           {CKA_VERIFY, &yes, 1},
                        {CKA_VALUE, (void *)key, 4}};
    CK_MECHANISM hm = {CKM_SHA256_HMAC, NULL, 0};
    CK_SLOT_ID slots[4];
    CK_ULONG n = 4, l;
    CK_UTF8CHAR label[32];
    memset(label, ' ', sizeof label);
    memcpy(label, "legacy", 6);
    RV(f->C_GetSlotList(CK_FALSE, slots, &n), CKR_OK);
    TRUE(n >= 1);
    RV(f->C_InitToken(slots[0], PIN(so_pin), label), CKR_OK);
    CK_SESSION_HANDLE s;
    CK_OBJECT_HANDLE k, hs[400];
    CK_BYTE out[64];
    RV(f->C_OpenSession(slots[0], CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s), CKR_OK);
    RV(f->C_CreateObject(s, t, 7, &k), CKR_OK);
    for (int i = 0; i < 4; i++) {
        long n0 = sends_now();
        RV(f->C_SignInit(s, &hm, k), CKR_OK);
        l = sizeof out;
        RV(f->C_Sign(s, (CK_BYTE_PTR)data, 28, out, &l), CKR_OK);
        TRUE(l == 32 && memcmp(out, mac, 4) == 0);
        if (i >= 2)
            TRUE(sends_now() - n0 == 2); /* Init, then Sign: no fused call */
        RV(f->C_VerifyInit(s, &hm, k), CKR_OK);
        RV(f->C_Verify(s, (CK_BYTE_PTR)data, 28, out, 32), CKR_OK);
    }
    /* The length-query pattern: no kept output from an older daemon, the same results. */
    for (int i = 0; i < 3; i++) {
        long n0 = sends_now();
        RV(f->C_SignInit(s, &hm, k), CKR_OK);
        l = 0;
        RV(f->C_Sign(s, (CK_BYTE_PTR)data, 28, NULL, &l), CKR_OK);
        TRUE(l == 32);
        l = 31;
        RV(f->C_Sign(s, (CK_BYTE_PTR)data, 28, out, &l), CKR_BUFFER_TOO_SMALL);
        l = sizeof out;
        RV(f->C_Sign(s, (CK_BYTE_PTR)data, 28, out, &l), CKR_OK);
        TRUE(l == 32 && memcmp(out, mac, 4) == 0);
        TRUE(sends_now() - n0 == 4);
    }
    RV(f->C_SignInit(s, &hm, k), CKR_OK);
    RV(f->C_SignInit(s, &hm, k), CKR_OPERATION_ACTIVE);
    RV(f->C_SignInit(s, NULL, 0), CKR_OK);
    char lab[] = "legacy-find";
    CK_ATTRIBUTE by_label = {CKA_LABEL, lab, sizeof lab - 1};
    for (int i = 0; i < 150; i++)
        RV(make_data(s, lab, &no, &no, &hs[i]), CKR_OK);
    RV(f->C_FindObjectsInit(s, &by_label, 1), CKR_OK);
    RV(f->C_FindObjectsInit(s, &by_label, 1), CKR_OPERATION_ACTIVE);
    CK_ULONG got = 0, total = 0;
    do {
        RV(f->C_FindObjects(s, hs + total, 400 - total, &got), CKR_OK);
        total += got;
    } while (got > 0 && total < 400);
    TRUE(total == 150);
    RV(f->C_FindObjectsFinal(s), CKR_OK);
    RV(f->C_FindObjects(s, hs, 1, &got), CKR_OPERATION_NOT_INITIALIZED);
    RV(f->C_CloseSession(s), CKR_OK);
}

/* ---- PKCS #11 3.2 functions ---- */

static void test_v32(void)
{
    CK_SESSION_HANDLE s;
    CK_OBJECT_HANDLE h = 0;
    CK_BYTE d[8] = {1, 2, 3};
    CK_ATTRIBUTE a = {CKA_LABEL, "x", 1};
    CK_ULONG l;
    CK_FLAGS fl = 99;
    CK_ASYNC_DATA ad;
    CK_UTF8CHAR_PTR name = (CK_UTF8CHAR_PTR) "C_SignFinal";
    RV(f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s), CKR_OK);

    /* C_EncapsulateKey: mechanism, length pointer and key pointer are required. */
    l = sizeof buf;
    RV(f->C_EncapsulateKey(s, NULL, 1, &a, 1, buf, &l, &h), CKR_ARGUMENTS_BAD);
    RV(f->C_EncapsulateKey(s, &bogus, 1, &a, 1, buf, NULL, &h), CKR_ARGUMENTS_BAD);
    RV(f->C_EncapsulateKey(s, &bogus, 1, &a, 1, buf, &l, NULL), CKR_ARGUMENTS_BAD);
    RV(f->C_EncapsulateKey(s, &bogus, 1, NULL, 1, buf, &l, &h), CKR_ARGUMENTS_BAD);
    RV(f->C_EncapsulateKey(s, &bogus, 1, &a, 1, buf, &l, &h), CKR_MECHANISM_INVALID);
    RV(f->C_EncapsulateKey(s, &bogus, 1, &a, 1, NULL, &l, &h), CKR_MECHANISM_INVALID);
    RV(f->C_EncapsulateKey(BAD_SESSION, &bogus, 1, &a, 1, buf, &l, &h), CKR_SESSION_HANDLE_INVALID);
    TRUE(h == 0);

    /* C_DecapsulateKey, in the 3.2 order: template, then ciphertext. */
    RV(f->C_DecapsulateKey(s, NULL, 1, &a, 1, d, 8, &h), CKR_ARGUMENTS_BAD);
    RV(f->C_DecapsulateKey(s, &bogus, 1, &a, 1, d, 8, NULL), CKR_ARGUMENTS_BAD);
    RV(f->C_DecapsulateKey(s, &bogus, 1, &a, 1, NULL, 8, &h), CKR_ARGUMENTS_BAD);
    RV(f->C_DecapsulateKey(s, &bogus, 1, NULL, 1, d, 8, &h), CKR_ARGUMENTS_BAD);
    RV(f->C_DecapsulateKey(s, &bogus, 1, &a, 1, d, 8, &h), CKR_MECHANISM_INVALID);
    RV(f->C_DecapsulateKey(BAD_SESSION, &bogus, 1, &a, 1, d, 8, &h), CKR_SESSION_HANDLE_INVALID);
    TRUE(h == 0);

    /* Verify-signature: nothing active. */
    RV(f->C_VerifySignatureInit(s, &bogus, 1, NULL, 8), CKR_ARGUMENTS_BAD);
    RV(f->C_VerifySignatureInit(s, &bogus, 1, d, 8), CKR_MECHANISM_INVALID);
    RV(f->C_VerifySignatureInit(BAD_SESSION, &bogus, 1, d, 8), CKR_SESSION_HANDLE_INVALID);
    RV(f->C_VerifySignature(s, NULL, 8), CKR_ARGUMENTS_BAD);
    RV(f->C_VerifySignature(s, d, 8), CKR_OPERATION_NOT_INITIALIZED);
    RV(f->C_VerifySignature(BAD_SESSION, d, 8), CKR_SESSION_HANDLE_INVALID);
    RV(f->C_VerifySignatureUpdate(s, NULL, 8), CKR_ARGUMENTS_BAD);
    RV(f->C_VerifySignatureUpdate(s, d, 8), CKR_OPERATION_NOT_INITIALIZED);
    RV(f->C_VerifySignatureFinal(s), CKR_OPERATION_NOT_INITIALIZED);
    RV(f->C_VerifySignatureFinal(BAD_SESSION), CKR_SESSION_HANDLE_INVALID);

    RV(f->C_GetSessionValidationFlags(s, CKS_LAST_VALIDATION_OK, NULL), CKR_ARGUMENTS_BAD);
    RV(f->C_GetSessionValidationFlags(BAD_SESSION, CKS_LAST_VALIDATION_OK, &fl), CKR_SESSION_HANDLE_INVALID);
    RV(f->C_GetSessionValidationFlags(s, CKS_LAST_VALIDATION_OK, &fl), CKR_OK);
    TRUE(fl == 0);

    /* Asynchronous operation is not supported: argument checks, then CKR_FUNCTION_NOT_SUPPORTED. */
    RV(f->C_AsyncComplete(s, NULL, &ad), CKR_ARGUMENTS_BAD);
    RV(f->C_AsyncComplete(s, name, NULL), CKR_ARGUMENTS_BAD);
    RV(f->C_AsyncComplete(s, name, &ad), CKR_FUNCTION_NOT_SUPPORTED);
    RV(f->C_AsyncGetID(s, NULL, &l), CKR_ARGUMENTS_BAD);
    RV(f->C_AsyncGetID(s, name, NULL), CKR_ARGUMENTS_BAD);
    RV(f->C_AsyncGetID(s, name, &l), CKR_FUNCTION_NOT_SUPPORTED);
    RV(f->C_AsyncJoin(s, NULL, 1, buf, 8), CKR_ARGUMENTS_BAD);
    RV(f->C_AsyncJoin(s, name, 1, NULL, 8), CKR_ARGUMENTS_BAD);
    RV(f->C_AsyncJoin(s, name, 1, NULL, 0), CKR_FUNCTION_NOT_SUPPORTED);
    RV(f->C_AsyncJoin(s, name, 1, buf, 8), CKR_FUNCTION_NOT_SUPPORTED);

    /* Authenticated wrapping: no mechanism yet, after the argument checks and the session. */
    l = sizeof buf;
    RV(f->C_WrapKeyAuthenticated(s, NULL, 1, 2, d, 8, buf, &l), CKR_ARGUMENTS_BAD);
    RV(f->C_WrapKeyAuthenticated(s, &bogus, 1, 2, d, 8, buf, NULL), CKR_ARGUMENTS_BAD);
    RV(f->C_WrapKeyAuthenticated(s, &bogus, 1, 2, NULL, 8, buf, &l), CKR_ARGUMENTS_BAD);
    RV(f->C_WrapKeyAuthenticated(BAD_SESSION, &bogus, 1, 2, d, 8, buf, &l), CKR_SESSION_HANDLE_INVALID);
    RV(f->C_WrapKeyAuthenticated(s, &bogus, 1, 2, d, 8, buf, &l), CKR_MECHANISM_INVALID);
    RV(f->C_WrapKeyAuthenticated(s, &bogus, 1, 2, NULL, 0, NULL, &l), CKR_MECHANISM_INVALID);
    RV(f->C_UnwrapKeyAuthenticated(s, NULL, 1, d, 8, &a, 1, d, 8, &h), CKR_ARGUMENTS_BAD);
    RV(f->C_UnwrapKeyAuthenticated(s, &bogus, 1, d, 8, &a, 1, d, 8, NULL), CKR_ARGUMENTS_BAD);
    RV(f->C_UnwrapKeyAuthenticated(s, &bogus, 1, NULL, 8, &a, 1, d, 8, &h), CKR_ARGUMENTS_BAD);
    RV(f->C_UnwrapKeyAuthenticated(s, &bogus, 1, d, 8, NULL, 1, d, 8, &h), CKR_ARGUMENTS_BAD);
    RV(f->C_UnwrapKeyAuthenticated(s, &bogus, 1, d, 8, &a, 1, NULL, 8, &h), CKR_ARGUMENTS_BAD);
    RV(f->C_UnwrapKeyAuthenticated(BAD_SESSION, &bogus, 1, d, 8, &a, 1, d, 8, &h), CKR_SESSION_HANDLE_INVALID);
    RV(f->C_UnwrapKeyAuthenticated(s, &bogus, 1, d, 8, &a, 1, d, 8, &h), CKR_MECHANISM_INVALID);
    TRUE(h == 0);

    RV(f->C_CloseSession(s), CKR_OK);
}

/* ---- structured mechanism parameters (params.def) ---- */

static void test_params(void)
{
    CK_SESSION_HANDLE s;
    CK_OBJECT_HANDLE h = 0, h2 = 0;
    CK_BYTE d[8] = {1, 2, 3}, iv[12] = {0}, aad[3] = {'a', 'a', 'd'}, pub[65] = {4};
    CK_ATTRIBUTE a = {CKA_LABEL, "x", 1};
    CK_ULONG l;
    CK_GCM_PARAMS gcm = {iv, sizeof iv, 96, aad, sizeof aad, 128};
    CK_RSA_PKCS_OAEP_PARAMS oaep = {CKM_SHA256, CKG_MGF1_SHA256, CKZ_DATA_SPECIFIED, NULL, 0};
    CK_ECDH1_DERIVE_PARAMS ecdh = {CKD_NULL, 0, NULL, sizeof pub, pub};
    struct {
        CK_MECHANISM_TYPE type;
        void *p;
        CK_ULONG size;
    } cases[] = {{CKM_AES_GCM, &gcm, sizeof gcm}, {CKM_RSA_PKCS_OAEP, &oaep, sizeof oaep},
                 {CKM_ECDH1_DERIVE, &ecdh, sizeof ecdh}};

    /* A wrong ulParameterLen is refused by the client: BAD_SESSION would answer CKR_SESSION_HANDLE_INVALID had
     * the call reached the daemon. Every call with a mechanism item checks it. */
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CK_ULONG lens[] = {cases[i].size - 1, cases[i].size + 8, 8, 0};
        for (size_t j = 0; j < sizeof lens / sizeof lens[0]; j++) {
            CK_MECHANISM m = {cases[i].type, cases[i].p, lens[j]};
            CK_SESSION_HANDLE b = BAD_SESSION;
            l = sizeof buf;
            RV(f->C_EncryptInit(b, &m, 1), CKR_MECHANISM_PARAM_INVALID);
            RV(f->C_DecryptInit(b, &m, 1), CKR_MECHANISM_PARAM_INVALID);
            RV(f->C_DigestInit(b, &m), CKR_MECHANISM_PARAM_INVALID);
            RV(f->C_SignInit(b, &m, 1), CKR_MECHANISM_PARAM_INVALID);
            RV(f->C_VerifyInit(b, &m, 1), CKR_MECHANISM_PARAM_INVALID);
            RV(f->C_SignRecoverInit(b, &m, 1), CKR_MECHANISM_PARAM_INVALID);
            RV(f->C_VerifyRecoverInit(b, &m, 1), CKR_MECHANISM_PARAM_INVALID);
            RV(f->C_MessageEncryptInit(b, &m, 1), CKR_MECHANISM_PARAM_INVALID);
            RV(f->C_MessageDecryptInit(b, &m, 1), CKR_MECHANISM_PARAM_INVALID);
            RV(f->C_MessageSignInit(b, &m, 1), CKR_MECHANISM_PARAM_INVALID);
            RV(f->C_MessageVerifyInit(b, &m, 1), CKR_MECHANISM_PARAM_INVALID);
            RV(f->C_GenerateKey(b, &m, &a, 1, &h), CKR_MECHANISM_PARAM_INVALID);
            RV(f->C_GenerateKeyPair(b, &m, &a, 1, &a, 1, &h, &h2), CKR_MECHANISM_PARAM_INVALID);
            RV(f->C_WrapKey(b, &m, 1, 2, buf, &l), CKR_MECHANISM_PARAM_INVALID);
            RV(f->C_UnwrapKey(b, &m, 1, d, 8, &a, 1, &h), CKR_MECHANISM_PARAM_INVALID);
            RV(f->C_DeriveKey(b, &m, 1, &a, 1, &h), CKR_MECHANISM_PARAM_INVALID);
            RV(f->C_EncapsulateKey(b, &m, 1, &a, 1, buf, &l, &h), CKR_MECHANISM_PARAM_INVALID);
            RV(f->C_DecapsulateKey(b, &m, 1, &a, 1, d, 8, &h), CKR_MECHANISM_PARAM_INVALID);
            RV(f->C_VerifySignatureInit(b, &m, 1, d, 8), CKR_MECHANISM_PARAM_INVALID);
        }
        /* The right size reaches the daemon; so does the NULL parameter (and a NULL pointer with a length
         * does not). */
        CK_MECHANISM ok = {cases[i].type, cases[i].p, cases[i].size};
        CK_MECHANISM null_param = {cases[i].type, NULL, 0};
        CK_MECHANISM null_len = {cases[i].type, NULL, cases[i].size};
        RV(f->C_EncryptInit(BAD_SESSION, &ok, 1), CKR_SESSION_HANDLE_INVALID);
        RV(f->C_DeriveKey(BAD_SESSION, &ok, 1, &a, 1, &h), CKR_SESSION_HANDLE_INVALID);
        RV(f->C_EncryptInit(BAD_SESSION, &null_param, 1), CKR_SESSION_HANDLE_INVALID);
        RV(f->C_EncryptInit(BAD_SESSION, &null_len, 1), CKR_MECHANISM_PARAM_INVALID);
    }
    TRUE(h == 0 && h2 == 0);

    /* A NULL pointer with a length inside the structure. */
    CK_GCM_PARAMS gcm_bad = gcm;
    gcm_bad.pIv = NULL;
    CK_MECHANISM m = {CKM_AES_GCM, &gcm_bad, sizeof gcm_bad};
    RV(f->C_EncryptInit(BAD_SESSION, &m, 1), CKR_MECHANISM_PARAM_INVALID);
    gcm_bad = gcm;
    gcm_bad.pAAD = NULL;
    RV(f->C_DecryptInit(BAD_SESSION, &m, 1), CKR_MECHANISM_PARAM_INVALID);
    gcm_bad.ulAADLen = 0; /* NULL with no length is fine */
    RV(f->C_DecryptInit(BAD_SESSION, &m, 1), CKR_SESSION_HANDLE_INVALID);
    CK_ECDH1_DERIVE_PARAMS ecdh_bad = ecdh;
    ecdh_bad.pPublicData = NULL;
    CK_MECHANISM me = {CKM_ECDH1_DERIVE, &ecdh_bad, sizeof ecdh_bad};
    RV(f->C_DeriveKey(BAD_SESSION, &me, 1, &a, 1, &h), CKR_MECHANISM_PARAM_INVALID);
    CK_PRF_DATA_PARAM prf[2] = {{CK_SP800_108_BYTE_ARRAY, NULL, 4}, {CK_SP800_108_BYTE_ARRAY, d, 8}};
    CK_SP800_108_KDF_PARAMS kdf = {CKM_SHA256_HMAC, 2, prf, 0, NULL};
    CK_MECHANISM mk = {CKM_SP800_108_COUNTER_KDF, &kdf, sizeof kdf};
    RV(f->C_DeriveKey(BAD_SESSION, &mk, 1, &a, 1, &h), CKR_MECHANISM_PARAM_INVALID);
    prf[0].pValue = d;
    RV(f->C_DeriveKey(BAD_SESSION, &mk, 1, &a, 1, &h), CKR_SESSION_HANDLE_INVALID);
    kdf.pDataParams = NULL;
    RV(f->C_DeriveKey(BAD_SESSION, &mk, 1, &a, 1, &h), CKR_MECHANISM_PARAM_INVALID);

    /* The daemon decodes a well-formed parameter: whatever it says, it is not about the parameter's form. */
    RV(f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s), CKR_OK);
    CK_MECHANISM g = {CKM_AES_GCM, &gcm, sizeof gcm};
    CK_RV rv = f->C_EncryptInit(s, &g, BAD_OBJECT);
    TRUE(rv != CKR_MECHANISM_PARAM_INVALID && rv != CKR_DEVICE_ERROR && rv != CKR_OK);
    RV(f->C_CloseSession(s), CKR_OK);
}

/* ---- digests, end to end (CKM_SHA256) ---- */

static void test_digest(void)
{
    /* FIPS 180-2, appendix B.1 and B.2. */
    static const CK_BYTE abc[3] = {'a', 'b', 'c'};
    static const CK_BYTE abc_sha256[32] = {
        0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
        0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
    static const char msg2[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    static const CK_BYTE msg2_sha256[32] = {
        0x24, 0x8d, 0x6a, 0x61, 0xd2, 0x06, 0x38, 0xb8, 0xe5, 0xc0, 0x26, 0x93, 0x0c, 0x3e, 0x60, 0x39,
        0xa3, 0x3c, 0xe4, 0x59, 0x64, 0xff, 0x21, 0x67, 0xf6, 0xec, 0xed, 0xd4, 0x19, 0xdb, 0x06, 0xc1};
    CK_MECHANISM sha = {CKM_SHA256, NULL, 0};
    CK_SESSION_HANDLE s;
    CK_BYTE out[64], out2[64];
    CK_ULONG l;
    RV(f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s), CKR_OK);

    /* Single part, with the length convention; a length query and a short buffer keep the operation. */
    RV(f->C_DigestInit(s, &sha), CKR_OK);
    RV(f->C_DigestInit(s, &sha), CKR_OPERATION_ACTIVE);
    l = 12345;
    RV(f->C_Digest(s, (CK_BYTE_PTR)abc, 3, NULL, &l), CKR_OK);
    TRUE(l == 32);
    l = 31;
    memset(out, 0xee, sizeof out);
    RV(f->C_Digest(s, (CK_BYTE_PTR)abc, 3, out, &l), CKR_BUFFER_TOO_SMALL);
    TRUE(l == 32 && out[0] == 0xee);
    l = sizeof out;
    RV(f->C_Digest(s, (CK_BYTE_PTR)abc, 3, out, &l), CKR_OK);
    TRUE(l == 32 && memcmp(out, abc_sha256, 32) == 0);
    l = sizeof out;
    RV(f->C_Digest(s, (CK_BYTE_PTR)abc, 3, out, &l), CKR_OPERATION_NOT_INITIALIZED); /* it ended */

    /* Multi-part equals single part. */
    RV(f->C_DigestInit(s, &sha), CKR_OK);
    RV(f->C_DigestUpdate(s, (CK_BYTE_PTR)abc, 1), CKR_OK);
    RV(f->C_DigestUpdate(s, NULL, 0), CKR_OK);
    RV(f->C_DigestUpdate(s, (CK_BYTE_PTR)abc + 1, 2), CKR_OK);
    RV(f->C_DigestInit(s, &sha), CKR_OPERATION_ACTIVE);
    l = 0;
    RV(f->C_DigestFinal(s, NULL, &l), CKR_OK);
    TRUE(l == 32);
    l = 16;
    RV(f->C_DigestFinal(s, out2, &l), CKR_BUFFER_TOO_SMALL);
    TRUE(l == 32);
    l = sizeof out2;
    RV(f->C_DigestFinal(s, out2, &l), CKR_OK);
    TRUE(l == 32 && memcmp(out2, abc_sha256, 32) == 0);
    RV(f->C_DigestFinal(s, out2, &l), CKR_OPERATION_NOT_INITIALIZED);

    CK_ULONG n2 = sizeof msg2 - 1;
    RV(f->C_DigestInit(s, &sha), CKR_OK);
    l = sizeof out;
    RV(f->C_Digest(s, (CK_BYTE_PTR)msg2, n2, out, &l), CKR_OK);
    TRUE(l == 32 && memcmp(out, msg2_sha256, 32) == 0);
    RV(f->C_DigestInit(s, &sha), CKR_OK);
    for (CK_ULONG i = 0; i < n2; i += 7)
        RV(f->C_DigestUpdate(s, (CK_BYTE_PTR)msg2 + i, n2 - i < 7 ? n2 - i : 7), CKR_OK);
    l = sizeof out2;
    RV(f->C_DigestFinal(s, out2, &l), CKR_OK);
    TRUE(l == 32 && memcmp(out2, msg2_sha256, 32) == 0);

    /* A NULL mechanism cancels the operation; a new one can start. */
    RV(f->C_DigestInit(s, &sha), CKR_OK);
    RV(f->C_DigestUpdate(s, (CK_BYTE_PTR)abc, 3), CKR_OK);
    RV(f->C_DigestInit(s, NULL), CKR_OK);
    RV(f->C_DigestUpdate(s, (CK_BYTE_PTR)abc, 3), CKR_OPERATION_NOT_INITIALIZED);
    l = sizeof out;
    RV(f->C_DigestFinal(s, out, &l), CKR_OPERATION_NOT_INITIALIZED);
    RV(f->C_DigestInit(s, &sha), CKR_OK);
    l = sizeof out;
    RV(f->C_Digest(s, (CK_BYTE_PTR)abc, 3, out, &l), CKR_OK);
    TRUE(l == 32 && memcmp(out, abc_sha256, 32) == 0);

    RV(f->C_DigestInit(BAD_SESSION, &sha), CKR_SESSION_HANDLE_INVALID);
    RV(f->C_CloseSession(s), CKR_OK);
}

/* ---- ML-KEM and ML-DSA end to end, when the daemon has them: C_EncapsulateKey / C_DecapsulateKey, and
 * C_VerifySignature* with a CK_SIGN_ADDITIONAL_CONTEXT (a params.def structure) ---- */

static int have_mech(CK_MECHANISM_TYPE t)
{
    CK_MECHANISM_INFO mi;
    return f->C_GetMechanismInfo(slot, t, &mi) == CKR_OK;
}

static void test_pqc(void)
{
    CK_SESSION_HANDLE s;
    CK_OBJECT_HANDLE pub, priv;
    CK_ULONG l;
    RV(f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s), CKR_OK);
    RV(f->C_Login(s, CKU_USER, PIN(user_pin)), CKR_OK);

    if (!have_mech(CKM_ML_KEM) || !have_mech(CKM_ML_KEM_KEY_PAIR_GEN)) {
        fprintf(stderr, "abi: no CKM_ML_KEM in the daemon: skipping the encapsulation test\n");
    } else {
        CK_MECHANISM gen = {CKM_ML_KEM_KEY_PAIR_GEN, NULL, 0}, kem = {CKM_ML_KEM, NULL, 0};
        CK_ULONG set = CKP_ML_KEM_768;
        CK_ATTRIBUTE pt[] = {{CKA_TOKEN, &no, 1}, {CKA_PARAMETER_SET, &set, sizeof set}, {CKA_ENCAPSULATE, &yes, 1}};
        CK_ATTRIBUTE vt[] = {{CKA_TOKEN, &no, 1}, {CKA_DECAPSULATE, &yes, 1}};
        RV(f->C_GenerateKeyPair(s, &gen, pt, 3, vt, 2, &pub, &priv), CKR_OK);
        CK_OBJECT_CLASS sec = CKO_SECRET_KEY;
        CK_KEY_TYPE gk = CKK_GENERIC_SECRET;
        CK_ATTRIBUTE kt[] = {{CKA_CLASS, &sec, sizeof sec}, {CKA_KEY_TYPE, &gk, sizeof gk}, {CKA_TOKEN, &no, 1},
                             {CKA_SENSITIVE, &no, 1}, {CKA_EXTRACTABLE, &yes, 1}};
        CK_OBJECT_HANDLE k1 = 0x5151, k2 = 0;
        CK_BYTE ct[2048];
        /* The length convention: a NULL buffer and a short one give the length and make no key. */
        l = 0;
        RV(f->C_EncapsulateKey(s, &kem, pub, kt, 5, NULL, &l, &k1), CKR_OK);
        TRUE(l == 1088 && k1 == 0x5151);
        l = 100;
        RV(f->C_EncapsulateKey(s, &kem, pub, kt, 5, ct, &l, &k1), CKR_BUFFER_TOO_SMALL);
        TRUE(l == 1088 && k1 == 0x5151);
        l = sizeof ct;
        RV(f->C_EncapsulateKey(s, &kem, pub, kt, 5, ct, &l, &k1), CKR_OK);
        TRUE(l == 1088 && k1 != 0x5151 && k1 != 0);
        RV(f->C_DecapsulateKey(s, &kem, priv, kt, 5, ct, l, &k2), CKR_OK);
        CK_BYTE v1[64], v2[64];
        CK_ATTRIBUTE q1 = {CKA_VALUE, v1, sizeof v1}, q2 = {CKA_VALUE, v2, sizeof v2};
        RV(f->C_GetAttributeValue(s, k1, &q1, 1), CKR_OK);
        RV(f->C_GetAttributeValue(s, k2, &q2, 1), CKR_OK);
        TRUE(q1.ulValueLen == 32 && q2.ulValueLen == 32 && memcmp(v1, v2, 32) == 0);
        RV(f->C_DestroyObject(s, k1), CKR_OK);
        RV(f->C_DestroyObject(s, k2), CKR_OK);
        k2 = 0x5252;
        RV2(f->C_DecapsulateKey(s, &kem, priv, kt, 5, ct, l - 1, &k2), CKR_WRAPPED_KEY_LEN_RANGE,
            CKR_ENCRYPTED_DATA_LEN_RANGE);
        TRUE(k2 == 0x5252);
        RV(f->C_DestroyObject(s, pub), CKR_OK);
        RV(f->C_DestroyObject(s, priv), CKR_OK);
    }

    if (!have_mech(CKM_ML_DSA) || !have_mech(CKM_ML_DSA_KEY_PAIR_GEN)) {
        fprintf(stderr, "abi: no CKM_ML_DSA in the daemon: skipping the verify-signature test\n");
    } else {
        CK_MECHANISM gen = {CKM_ML_DSA_KEY_PAIR_GEN, NULL, 0};
        CK_ULONG set = CKP_ML_DSA_65;
        CK_ATTRIBUTE pt[] = {{CKA_TOKEN, &no, 1}, {CKA_PARAMETER_SET, &set, sizeof set}, {CKA_VERIFY, &yes, 1}};
        CK_ATTRIBUTE vt[] = {{CKA_TOKEN, &no, 1}, {CKA_SIGN, &yes, 1}};
        RV(f->C_GenerateKeyPair(s, &gen, pt, 3, vt, 2, &pub, &priv), CKR_OK);
        CK_BYTE ctx[3] = {'c', 't', 'x'}, other[3] = {'c', 't', 'y'}, msg[5] = {'h', 'e', 'l', 'l', 'o'};
        CK_SIGN_ADDITIONAL_CONTEXT sc = {CKH_DETERMINISTIC_REQUIRED, ctx, sizeof ctx};
        CK_MECHANISM m = {CKM_ML_DSA, &sc, sizeof sc};
        CK_BYTE sig[4096];
        CK_ULONG sl = sizeof sig;
        RV(f->C_SignInit(s, &m, priv), CKR_OK);
        RV(f->C_Sign(s, msg, sizeof msg, sig, &sl), CKR_OK);
        TRUE(sl == 3309);
        /* Signature first: single part, multi-part, and a wrong context. */
        RV(f->C_VerifySignatureInit(s, &m, pub, sig, sl), CKR_OK);
        RV(f->C_VerifySignatureInit(s, &m, pub, sig, sl), CKR_OPERATION_ACTIVE);
        RV(f->C_VerifySignature(s, msg, sizeof msg), CKR_OK);
        RV(f->C_VerifySignature(s, msg, sizeof msg), CKR_OPERATION_NOT_INITIALIZED);
        RV(f->C_VerifySignatureInit(s, &m, pub, sig, sl), CKR_OK);
        RV(f->C_VerifySignatureUpdate(s, msg, 2), CKR_OK);
        RV(f->C_VerifySignatureUpdate(s, msg + 2, 3), CKR_OK);
        RV(f->C_VerifySignatureFinal(s), CKR_OK);
        RV(f->C_VerifySignatureFinal(s), CKR_OPERATION_NOT_INITIALIZED);
        RV(f->C_VerifySignatureInit(s, &m, pub, sig, sl), CKR_OK);
        RV(f->C_VerifySignature(s, msg, sizeof msg - 1), CKR_SIGNATURE_INVALID);
        sc.pContext = other;
        RV(f->C_VerifySignatureInit(s, &m, pub, sig, sl), CKR_OK);
        RV(f->C_VerifySignatureUpdate(s, msg, sizeof msg), CKR_OK);
        RV(f->C_VerifySignatureFinal(s), CKR_SIGNATURE_INVALID);
        /* A NULL mechanism cancels a verify-signature operation. */
        /* (3.2: "C_VerifySignatureInit can be called with pMechanism set to NULL_PTR to terminate an active
         * verification operation". The client passes the NULL mechanism on; the engine still refuses it with
         * CKR_ARGUMENTS_BAD: accepted here until it follows the specification.) */
        RV(f->C_VerifySignatureInit(s, &m, pub, sig, sl), CKR_OK);
        CK_RV cancel = f->C_VerifySignatureInit(s, NULL, 0, NULL, 0);
        RV2(cancel, CKR_OK, CKR_ARGUMENTS_BAD);
        if (cancel == CKR_OK)
            RV(f->C_VerifySignatureFinal(s), CKR_OPERATION_NOT_INITIALIZED);
        else
            RV(f->C_VerifySignature(s, msg, sizeof msg), CKR_SIGNATURE_INVALID); /* ends it (other context) */
        m.ulParameterLen = sizeof sc - 1;
        RV(f->C_VerifySignatureInit(s, &m, pub, sig, sl), CKR_MECHANISM_PARAM_INVALID);
        RV(f->C_DestroyObject(s, pub), CKR_OK);
        RV(f->C_DestroyObject(s, priv), CKR_OK);
    }
    RV(f->C_Logout(s), CKR_OK);
    RV(f->C_CloseSession(s), CKR_OK);
}

/* ---- fork ---- */

static int child_work(CK_SESSION_HANDLE parent_session)
{
    CK_ULONG n;
    CK_SESSION_HANDLE s;
    CK_OBJECT_HANDLE h;
    /* Inherited state is not usable until the child's own C_Initialize. */
    RV(f->C_GetSlotList(CK_FALSE, NULL, &n), CKR_CRYPTOKI_NOT_INITIALIZED);
    RV(f->C_GenerateRandom(parent_session, buf, 8), CKR_CRYPTOKI_NOT_INITIALIZED);
    RV(f->C_Finalize(NULL), CKR_CRYPTOKI_NOT_INITIALIZED);
    RV(f->C_Initialize(NULL), CKR_OK);
    RV(f->C_Initialize(NULL), CKR_CRYPTOKI_ALREADY_INITIALIZED);
    RV(f->C_GenerateRandom(parent_session, buf, 8), CKR_SESSION_HANDLE_INVALID); /* another application's */
    RV(f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s), CKR_OK);
    for (int i = 0; i < 20; i++) {
        RV(f->C_GenerateRandom(s, buf, 32), CKR_OK);
        RV(make_data(s, "child", &no, &no, &h), CKR_OK);
        RV(f->C_DestroyObject(s, h), CKR_OK);
    }
    RV(f->C_Finalize(NULL), CKR_OK);
    return atomic_load(&failures) ? 1 : 0;
}

static void test_fork(void)
{
    CK_SESSION_HANDLE s;
    RV(f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s), CKR_OK);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0)
        _exit(child_work(s));
    TRUE(pid > 0);
    /* The parent keeps working while the child does. */
    int status = 0, rounds = 0;
    for (;;) {
        RV(f->C_GenerateRandom(s, buf, 16), CKR_OK);
        rounds++;
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid || w < 0 || rounds > 100000)
            break;
    }
    TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    /* A child that never calls C_Initialize. */
    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        CK_SESSION_INFO si;
        int bad = f->C_GetSessionInfo(s, &si) != CKR_CRYPTOKI_NOT_INITIALIZED ||
                  f->C_GenerateRandom(s, buf, 8) != CKR_CRYPTOKI_NOT_INITIALIZED ||
                  f->C_Finalize(NULL) != CKR_CRYPTOKI_NOT_INITIALIZED;
        _exit(bad);
    }
    waitpid(pid, &status, 0);
    TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    RV(f->C_GenerateRandom(s, buf, 16), CKR_OK);
    RV(f->C_CloseSession(s), CKR_OK);
}

/* ---- threads ---- */

#define NTHREADS 8
#define NROUNDS 20

static void *thread_main(void *arg)
{
    int id = (int)(intptr_t)arg;
    char label[32];
    for (int r = 0; r < NROUNDS; r++) {
        CK_SESSION_HANDLE s;
        CK_OBJECT_HANDLE h, found[4];
        CK_ULONG n = 0;
        CK_BYTE rnd[32];
        snprintf(label, sizeof label, "thread-%d-%d", id, r);
        RV(f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s), CKR_OK);
        RV(make_data(s, label, &no, &no, &h), CKR_OK);
        CK_ATTRIBUTE ft = {CKA_LABEL, label, strlen(label)};
        RV(f->C_FindObjectsInit(s, &ft, 1), CKR_OK);
        RV(f->C_FindObjects(s, found, 4, &n), CKR_OK);
        TRUE(n == 1 && found[0] == h);
        RV(f->C_FindObjectsFinal(s), CKR_OK);
        RV(f->C_GenerateRandom(s, rnd, sizeof rnd), CKR_OK);
        RV(f->C_DestroyObject(s, h), CKR_OK);
        RV(f->C_CloseSession(s), CKR_OK);
    }
    return NULL;
}

static void test_threads(void)
{
    pthread_t t[NTHREADS];
    double t0 = now();
    for (int i = 0; i < NTHREADS; i++)
        TRUE(pthread_create(&t[i], NULL, thread_main, (void *)(intptr_t)i) == 0);
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(t[i], NULL);
    TRUE(now() - t0 < 15);
}

/* ---- C_Finalize ends the application: its sessions close in the daemon ---- */

/* Sockets open in this process (the library's connections). */
static int count_sockets(void)
{
    int n = 0;
    char path[64], link[64];
    for (int fd = 0; fd < 1024; fd++) {
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        ssize_t k = readlink(path, link, sizeof link - 1);
        if (k > 0) {
            link[k] = 0;
            n += strncmp(link, "socket:", 7) == 0;
        }
    }
    return n;
}

/* The pool is capped (KEYWARD_MAX_CONNECTIONS): more threads than connections queue, and all succeed. */
static void test_pool_cap(void)
{
    RV(f->C_Finalize(NULL), CKR_OK);
    setenv("KEYWARD_MAX_CONNECTIONS", "2", 1);
    int before = count_sockets(); /* other sockets of this process, and the first connection */
    RV(f->C_Initialize(NULL), CKR_OK);
    pthread_t t[NTHREADS];
    for (int i = 0; i < NTHREADS; i++)
        TRUE(pthread_create(&t[i], NULL, thread_main, (void *)(intptr_t)(100 + i)) == 0);
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(t[i], NULL);
    int after = count_sockets();
    if (after - before > 2)
        fprintf(stderr, "pool: %d sockets before, %d after\n", before, after);
    TRUE(after - before <= 2);
    RV(f->C_Finalize(NULL), CKR_OK);
    unsetenv("KEYWARD_MAX_CONNECTIONS");
    RV(f->C_Initialize(NULL), CKR_OK);
}

static void test_finalize_ends_application(void)
{
    CK_SESSION_HANDLE a, b;
    CK_TOKEN_INFO ti;
    RV(f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &a), CKR_OK);
    RV(f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &b), CKR_OK);
    RV(f->C_GetTokenInfo(slot, &ti), CKR_OK);
    TRUE(ti.ulSessionCount == 2 && ti.ulRwSessionCount == 1);
    RV(f->C_Finalize(NULL), CKR_OK);
    RV(f->C_Initialize(NULL), CKR_OK);
    for (int i = 0; i < 100; i++) {
        RV(f->C_GetTokenInfo(slot, &ti), CKR_OK);
        if (ti.ulSessionCount == 0)
            break;
        usleep(20 * 1000);
    }
    TRUE(ti.ulSessionCount == 0);
    RV(f->C_GetSessionInfo(a, &(CK_SESSION_INFO){0}), CKR_SESSION_HANDLE_INVALID);
}

/* KEYWARD_DEFER_INIT=0 (read at C_Initialize): every Init is sent at once. */
static void test_no_defer(void)
{
    CK_MECHANISM sha = {CKM_SHA256, NULL, 0};
    CK_SESSION_HANDLE s;
    CK_BYTE out[32];
    CK_ULONG l;
    RV(f->C_Finalize(NULL), CKR_OK);
    setenv("KEYWARD_DEFER_INIT", "0", 1);
    RV(f->C_Initialize(NULL), CKR_OK);
    RV(f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s), CKR_OK);
    for (int i = 0; i < 3; i++) {
        long n0 = sends_now();
        RV(f->C_DigestInit(s, &sha), CKR_OK);
        TRUE(sends_now() - n0 == 1);
        l = sizeof out;
        RV(f->C_Digest(s, (CK_BYTE_PTR) "abc", 3, out, &l), CKR_OK);
        TRUE(sends_now() - n0 == 2 && l == 32 && out[0] == 0xba);
    }
    RV(f->C_CloseSession(s), CKR_OK);
    RV(f->C_Finalize(NULL), CKR_OK);
    unsetenv("KEYWARD_DEFER_INIT");
    RV(f->C_Initialize(NULL), CKR_OK);
}

/* ---- daemon death ---- */

static void test_daemon_death(void)
{
    const char *p = getenv("KEYWARD_TEST_DAEMON_PID");
    if (!p || !*p) {
        fprintf(stderr, "abi: KEYWARD_TEST_DAEMON_PID unset: skipping the daemon-death test\n");
        return;
    }
    pid_t pid = (pid_t)atol(p);
    CK_SESSION_HANDLE s, s2;
    CK_SESSION_INFO si;
    CK_ULONG n;
    RV(f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s), CKR_OK);
    RV(f->C_GenerateRandom(s, buf, 16), CKR_OK);
    TRUE(kill(pid, SIGKILL) == 0);
    usleep(200 * 1000);

    double t0 = now();
    RV(f->C_GenerateRandom(s, buf, 16), CKR_DEVICE_REMOVED);
    RV2(f->C_GetSessionInfo(s, &si), CKR_DEVICE_REMOVED, CKR_SESSION_HANDLE_INVALID);
    RV(f->C_GetSlotList(CK_FALSE, NULL, &n), CKR_DEVICE_ERROR);
    RV(f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s2), CKR_DEVICE_ERROR);
    TRUE(now() - t0 < 2);

    printf("RESTART\n");
    fflush(stdout);
    char line[128];
    if (!fgets(line, sizeof line, stdin) || strncmp(line, "RESTARTED", 9) != 0) {
        check_true(__LINE__, "the harness restarted the daemon", 0);
        return;
    }
    /* A new application on the new daemon: the old session is gone, new ones work. */
    RV(f->C_GetSessionInfo(s, &si), CKR_SESSION_HANDLE_INVALID);
    RV(f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s2), CKR_OK);
    RV(f->C_GenerateRandom(s2, buf, 16), CKR_OK);
    CK_TOKEN_INFO ti;
    RV(f->C_GetTokenInfo(slot, &ti), CKR_OK);
    TRUE(ti.flags & CKF_TOKEN_INITIALIZED); /* the token persisted */
    RV(f->C_CloseSession(s2), CKR_OK);
}


/* ---- protocol errors: a fake daemon (client/codec.c builds its frames) that breaks the protocol on demand ---- */

enum {
    FAKE_OK, FAKE_BAD_ID, FAKE_BAD_CALL, FAKE_BAD_TAG, FAKE_TRAILING, FAKE_NO_BODY, FAKE_ERROR_BODY, FAKE_HUGE,
    FAKE_CLOSE, FAKE_OVERFLOW, FAKE_LEN_MISMATCH, FAKE_ATTR_COUNT, FAKE_ATTR_TYPE, FAKE_ATTR_TOO_LONG,
    FAKE_TOO_MANY, FAKE_SHORT_RANDOM, FAKE_LONG_STRINGS, FAKE_SILENT, FAKE_WIDE
};
static atomic_int fake_mode;
static int fake_lfd = -1;
/* The body of the last OperationInit request the fake daemon saw (the client's call is synchronous: it is
 * complete when the C function returns). */
static uint8_t fake_init[4096];
static size_t fake_init_len;

static int io_full(int fd, void *p, size_t n, int wr)
{
    uint8_t *b = p;
    while (n > 0) {
        ssize_t r = wr ? write(fd, b, n) : read(fd, b, n);
        if (r <= 0) {
            if (r < 0 && errno == EINTR)
                continue;
            return -1;
        }
        b += r;
        n -= (size_t)r;
    }
    return 0;
}

static void fake_serve(int c)
{
    static const uint8_t cookie[KW_COOKIE_SIZE] = {1, 2, 3};
    for (;;) {
        uint8_t hdr[4];
        if (io_full(c, hdr, 4, 0) < 0)
            return;
        uint32_t n = kw_get_u32(hdr);
        if (n < 8 || n > KW_MAX_FRAME)
            return;
        uint8_t *req = malloc(n);
        if (!req || io_full(c, req, n, 0) < 0) {
            free(req);
            return;
        }
        uint32_t id = kw_get_u32(req), call = kw_get_u32(req + 4);
        uint64_t cap = 0;
        if (call == KW_CALL_OperationSingle && n >= 8 + 9 + 9 + 5 + 10) {
            /* u session, u kind, b data, o present capacity: the capacity is the last 8 bytes. */
            cap = kw_get_u64(req + n - 8);
        }
        if (call == KW_CALL_OperationInit) {
            fake_init_len = n - 8 < sizeof fake_init ? n - 8 : 0;
            memcpy(fake_init, req + 8, fake_init_len);
        }
        free(req);
        int mode = atomic_load(&fake_mode);
        struct kw_buf out = {0};
        kw_resp_begin(&out);
        uint64_t rv = CKR_OK;
        uint32_t rid = id, rcall = call;
        switch (call) {
        case KW_CALL_Hello:
            kw_enc_u(&out, 1);
            kw_enc_b(&out, cookie, sizeof cookie);
            break;
        case KW_CALL_GetInfo: {
            char longs[100];
            memset(longs, 'x', sizeof longs);
            kw_enc_b(&out, longs, mode == FAKE_LONG_STRINGS ? sizeof longs : 3);
            kw_enc_u(&out, 0);
            kw_enc_b(&out, longs, mode == FAKE_LONG_STRINGS ? sizeof longs : 3);
            kw_enc_u(&out, 0x0102);
            break;
        }
        case KW_CALL_GetSlotList:
            switch (mode) {
            case FAKE_BAD_ID:
                rid++;
                break;
            case FAKE_BAD_CALL:
                rcall = KW_CALL_GetInfo;
                break;
            case FAKE_BAD_TAG:
                kw_enc_u(&out, 1);
                break;
            case FAKE_TRAILING:
                kw_enc_U_begin(&out, 1);
                kw_put_u64(&out, 1);
                kw_put_u8(&out, 0);
                break;
            case FAKE_NO_BODY:
                break;
            case FAKE_ERROR_BODY:
                rv = CKR_SLOT_ID_INVALID;
                kw_enc_U_begin(&out, 0);
                break;
            case FAKE_CLOSE:
                kw_buf_free(&out);
                return;
            case FAKE_SILENT:
                kw_buf_free(&out);
                for (;;) /* never answer; the client gives up on its timeout and closes */
                    if (io_full(c, hdr, 1, 0) < 0)
                        return;
            default:
                kw_enc_U_begin(&out, 1);
                kw_put_u64(&out, 1);
            }
            break;
        case KW_CALL_OperationSingle:
            kw_enc_u(&out, mode == FAKE_LEN_MISMATCH ? 8 : cap + 1);
            kw_enc_b(&out, "0123456789abcdef", mode == FAKE_LEN_MISMATCH ? 4 : (size_t)cap + 1);
            break;
        case KW_CALL_GetAttributeValue:
            kw_enc_A_begin(&out, mode == FAKE_ATTR_COUNT ? 2 : 1);
            if (mode == FAKE_WIDE) {
                uint64_t wide = ((uint64_t)1 << 40) + 5; /* a CK_ULONG value beyond 32 bits, host order */
                kw_enc_attr_val(&out, CKA_VALUE_LEN, &wide, sizeof wide);
            } else if (mode == FAKE_ATTR_TOO_LONG) {
                kw_enc_attr_val(&out, CKA_LABEL, "0123456789", 10);
            } else {
                kw_enc_attr_num(&out, mode == FAKE_ATTR_TYPE ? CKA_VALUE : CKA_LABEL, KW_ATTR_LENGTH, 3);
                if (mode == FAKE_ATTR_COUNT)
                    kw_enc_attr_num(&out, CKA_LABEL, KW_ATTR_LENGTH, 3);
            }
            break;
        case KW_CALL_FindObjects:
            kw_enc_U_begin(&out, 3);
            for (int i = 0; i < 3; i++)
                kw_put_u64(&out, (uint64_t)i + 1 + (mode == FAKE_WIDE && i == 1 ? (uint64_t)1 << 40 : 0));
            break;
        case KW_CALL_GenerateRandom:
            kw_enc_b(&out, "abcd", 4);
            break;
        case KW_CALL_OperationInit:
            break; /* CKR_OK, no body */
        default:
            rv = CKR_FUNCTION_NOT_SUPPORTED;
        }
        kw_resp_finish(&out, rid, rcall, rv);
        if (mode == FAKE_HUGE && call != KW_CALL_Hello) {
            out.p[0] = 0x7f; /* a length beyond MaxFrame */
        }
        int r = io_full(c, out.p, out.len, 1);
        kw_buf_free(&out);
        if (r < 0)
            return;
    }
}

static void *fake_daemon(void *arg)
{
    (void)arg;
    for (;;) {
        int c = accept(fake_lfd, NULL, NULL);
        if (c < 0) {
            if (errno == EINTR)
                continue;
            return NULL;
        }
        fake_serve(c);
        close(c);
    }
}

static void test_protocol(void)
{
    char dir[] = "/tmp/keyward-abi-fake.XXXXXX";
    if (!mkdtemp(dir)) {
        check_true(__LINE__, "mkdtemp", 0);
        return;
    }
    char path[128];
    snprintf(path, sizeof path, "%s/fake.sock", dir);
    fake_lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, path, strlen(path));
    TRUE(bind(fake_lfd, (struct sockaddr *)&sa, sizeof sa) == 0 && listen(fake_lfd, 16) == 0);
    pthread_t th;
    TRUE(pthread_create(&th, NULL, fake_daemon, NULL) == 0);

    char *saved = strdup(getenv("KEYWARD_SOCKET"));
    setenv("KEYWARD_SOCKET", path, 1);
    setenv("KEYWARD_TIMEOUT_MS", "300", 1);
    atomic_store(&fake_mode, FAKE_OK);
    RV(f->C_Initialize(NULL), CKR_OK);
    CK_SLOT_ID slots[4];
    CK_ULONG n = 4;
    RV(f->C_GetSlotList(CK_FALSE, slots, &n), CKR_OK);
    TRUE(n == 1 && slots[0] == 1);

    static const int broken[] = {FAKE_BAD_ID, FAKE_BAD_CALL, FAKE_BAD_TAG, FAKE_TRAILING,
                                 FAKE_NO_BODY, FAKE_ERROR_BODY, FAKE_HUGE};
    for (size_t i = 0; i < sizeof broken / sizeof broken[0]; i++) {
        atomic_store(&fake_mode, broken[i]);
        n = 4;
        check_rv(__LINE__, "C_GetSlotList against a broken response", f->C_GetSlotList(CK_FALSE, slots, &n),
                 CKR_DEVICE_ERROR);
        atomic_store(&fake_mode, FAKE_OK); /* the application lives on, on a new connection */
        n = 4;
        RV(f->C_GetSlotList(CK_FALSE, slots, &n), CKR_OK);
    }

    CK_BYTE out[16];
    CK_ULONG outlen = 4;
    atomic_store(&fake_mode, FAKE_OVERFLOW);
    RV(f->C_Encrypt(1, out, 4, out, &outlen), CKR_DEVICE_ERROR); /* more than the capacity */
    TRUE(outlen == 4);
    atomic_store(&fake_mode, FAKE_LEN_MISMATCH);
    outlen = sizeof out;
    RV(f->C_Encrypt(1, out, 4, out, &outlen), CKR_DEVICE_ERROR);

    char lab[4];
    CK_ATTRIBUTE q = {CKA_LABEL, lab, sizeof lab};
    atomic_store(&fake_mode, FAKE_ATTR_COUNT);
    RV(f->C_GetAttributeValue(1, 1, &q, 1), CKR_DEVICE_ERROR);
    atomic_store(&fake_mode, FAKE_ATTR_TYPE);
    RV(f->C_GetAttributeValue(1, 1, &q, 1), CKR_DEVICE_ERROR);
    atomic_store(&fake_mode, FAKE_ATTR_TOO_LONG);
    RV(f->C_GetAttributeValue(1, 1, &q, 1), CKR_DEVICE_ERROR);
    atomic_store(&fake_mode, FAKE_OK);
    q.pValue = NULL;
    RV(f->C_GetAttributeValue(1, 1, &q, 1), CKR_OK);
    TRUE(q.ulValueLen == 3);

    /* Values beyond 32 bits (client/width.h): a 32-bit client refuses them, never truncates. */
    atomic_store(&fake_mode, FAKE_WIDE);
    CK_ULONG vlen = 0;
    CK_ATTRIBUTE wq = {CKA_VALUE_LEN, &vlen, sizeof vlen};
    CK_OBJECT_HANDLE wobjs[3];
#if ULONG_MAX == 0xffffffffUL
    RV(f->C_GetAttributeValue(1, 1, &wq, 1), CKR_BUFFER_TOO_SMALL);
    TRUE(wq.ulValueLen == CK_UNAVAILABLE_INFORMATION && vlen == 0);
    RV(f->C_FindObjects(1, wobjs, 3, &n), CKR_DEVICE_ERROR);
#else
    RV(f->C_GetAttributeValue(1, 1, &wq, 1), CKR_OK);
    TRUE(wq.ulValueLen == sizeof vlen && vlen == ((CK_ULONG)1 << 40) + 5);
    RV(f->C_FindObjects(1, wobjs, 3, &n), CKR_OK);
    TRUE(n == 3 && wobjs[1] == ((CK_ULONG)1 << 40) + 2);
#endif
    atomic_store(&fake_mode, FAKE_OK);

    CK_OBJECT_HANDLE objs[2];
    RV(f->C_FindObjects(1, objs, 2, &n), CKR_DEVICE_ERROR); /* more than ulMaxObjectCount */

    /* What the client puts on the wire for a mechanism: a params.def structure marshalled field by field (the
     * CKM_AES_GCM vector of internal/wire/testdata/params.txt), raw bytes for the others, the NULL forms. */
    static const uint8_t gcm_wire[] = {0x62, 0, 0, 0, 12, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
                                       0x75, 0, 0, 0, 0, 0, 0, 0, 96, 0x62, 0, 0, 0, 3, 'a', 'a', 'd',
                                       0x75, 0, 0, 0, 0, 0, 0, 0, 128};
    CK_BYTE giv[12] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, gaad[3] = {'a', 'a', 'd'}, cbc_iv[16] = {9, 8, 7};
    CK_GCM_PARAMS gp = {giv, sizeof giv, 96, gaad, sizeof gaad, 128};
    struct {
        CK_MECHANISM m;
        int present, param_present;
        const void *param;
        size_t plen;
    } wire_cases[] = {
        {{CKM_AES_GCM, &gp, sizeof gp}, 1, 1, gcm_wire, sizeof gcm_wire},
        {{CKM_AES_GCM, NULL, 0}, 1, 0, NULL, 0},
        {{CKM_AES_CBC, cbc_iv, sizeof cbc_iv}, 1, 1, cbc_iv, sizeof cbc_iv},
        {{0}, 0, 0, NULL, 0},
    };
    for (size_t i = 0; i < sizeof wire_cases / sizeof wire_cases[0]; i++) {
        struct kw_buf want = {0};
        kw_enc_u(&want, 1);
        kw_enc_u(&want, 1); /* OpEncrypt */
        kw_enc_M(&want, wire_cases[i].present, wire_cases[i].m.mechanism, wire_cases[i].param_present,
                 wire_cases[i].param, wire_cases[i].plen);
        kw_enc_u(&want, wire_cases[i].present ? 7 : 0);
        fake_init_len = 0;
        RV(f->C_EncryptInit(1, wire_cases[i].present ? &wire_cases[i].m : NULL, 7), CKR_OK);
        check_true(__LINE__, "the mechanism item on the wire", fake_init_len == want.len &&
                                                                     memcmp(fake_init, want.p, want.len) == 0);
        kw_buf_free(&want);
    }
    RV(f->C_GenerateRandom(1, out, 8), CKR_DEVICE_ERROR);   /* fewer bytes than asked */

    CK_INFO info;
    atomic_store(&fake_mode, FAKE_LONG_STRINGS);
    RV(f->C_GetInfo(&info), CKR_OK); /* truncated into the fixed fields */
    TRUE(info.manufacturerID[31] == 'x' && info.libraryVersion.major == 1 && info.libraryVersion.minor == 2);

    /* A daemon that closes the connection is a dead daemon; one that never answers times out. */
    atomic_store(&fake_mode, FAKE_CLOSE);
    RV(f->C_GetSlotList(CK_FALSE, NULL, &n), CKR_DEVICE_REMOVED);
    atomic_store(&fake_mode, FAKE_SILENT);
    double t0 = now();
    RV(f->C_GetSlotList(CK_FALSE, NULL, &n), CKR_DEVICE_REMOVED);
    TRUE(now() - t0 < 3);
    atomic_store(&fake_mode, FAKE_OK);
    RV(f->C_GetSlotList(CK_FALSE, NULL, &n), CKR_OK); /* a new application */
    RV(f->C_Finalize(NULL), CKR_OK);

    /* A socket that accepts connections but never answers Hello: C_Initialize times out. */
    atomic_store(&fake_mode, FAKE_SILENT);
    int silent = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    char spath[128];
    snprintf(spath, sizeof spath, "%s/silent.sock", dir);
    struct sockaddr_un ss = {.sun_family = AF_UNIX};
    memcpy(ss.sun_path, spath, strlen(spath));
    TRUE(bind(silent, (struct sockaddr *)&ss, sizeof ss) == 0 && listen(silent, 4) == 0);
    setenv("KEYWARD_SOCKET", spath, 1);
    t0 = now();
    RV(f->C_Initialize(NULL), CKR_DEVICE_ERROR);
    TRUE(now() - t0 < 3);
    close(silent);
    unlink(spath);

    setenv("KEYWARD_SOCKET", saved, 1);
    unsetenv("KEYWARD_TIMEOUT_MS");
    free(saved);
    shutdown(fake_lfd, SHUT_RDWR);
    close(fake_lfd);
    pthread_join(th, NULL);
    unlink(path);
    rmdir(dir);
}

/* ---- autostart (abi autostart): run by run-abi.sh with KEYWARD_SOCKET unset, XDG_RUNTIME_DIR private and
 * KEYWARD_DAEMON set; four processes race to start the daemon ---- */

static int autostart_child(void)
{
    CK_ULONG n;
    RV(f->C_Initialize(NULL), CKR_OK);
    RV(f->C_GetSlotList(CK_FALSE, NULL, &n), CKR_OK);
    RV(f->C_Finalize(NULL), CKR_OK);
    return atomic_load(&failures) ? 1 : 0;
}

static void test_autostart(void)
{
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    if (!xdg || getenv("KEYWARD_SOCKET")) {
        check_true(__LINE__, "autostart needs XDG_RUNTIME_DIR and no KEYWARD_SOCKET", 0);
        return;
    }
    pid_t kids[4];
    fflush(NULL);
    for (int i = 0; i < 4; i++) {
        kids[i] = fork();
        if (kids[i] == 0)
            _exit(autostart_child());
    }
    for (int i = 0; i < 4; i++) {
        int status = 0;
        waitpid(kids[i], &status, 0);
        TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    /* The daemon runs on its own (not our child, its own session); stop it. */
    char path[512];
    snprintf(path, sizeof path, "%s/keyward/keyward.sock", xdg);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    TRUE(strlen(path) < sizeof sa.sun_path);
    memcpy(sa.sun_path, path, strnlen(path, sizeof sa.sun_path - 1));
    struct ucred cred = {0};
    socklen_t cl = sizeof cred;
    TRUE(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
    TRUE(getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) == 0 && cred.pid > 0);
    close(fd);
    if (cred.pid > 0) {
        TRUE(getsid(cred.pid) > 0 && getsid(cred.pid) != getsid(0)); /* setsid in the middle child */
        TRUE(waitpid(cred.pid, NULL, WNOHANG) < 0 && errno == ECHILD);
        /* A loaded machine (or qemu, in the cross tests) may take its time to shut the store down: wait up
         * to 15 s, then kill it, so that what follows never finds it still serving. */
        kill(cred.pid, SIGTERM);
        for (int i = 0; i < 750 && kill(cred.pid, 0) == 0; i++)
            usleep(20 * 1000);
        if (kill(cred.pid, 0) == 0) {
            check_true(__LINE__, "the autostarted daemon ends within 15 s of SIGTERM", 0);
            kill(cred.pid, SIGKILL);
            for (int i = 0; i < 250 && kill(cred.pid, 0) == 0; i++)
                usleep(20 * 1000);
        }
    }
    /* Autostart off: no daemon, no start, CKR_DEVICE_ERROR. */
    setenv("KEYWARD_AUTOSTART", "0", 1);
    double t0 = now();
    RV(f->C_Initialize(NULL), CKR_DEVICE_ERROR);
    TRUE(now() - t0 < 2);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *path = getenv("KEYWARD_TEST_LIB");
    if (!path || !*path)
        path = "build/asan/libkeyward.so";
    if (argc > 1 && strcmp(argv[1], "autostart") == 0) {
        void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (!lib) {
            fprintf(stderr, "abi: %s\n", dlerror());
            return 2;
        }
        CK_C_GetFunctionList gfl = (CK_C_GetFunctionList)dlsym(lib, "C_GetFunctionList");
        CK_C_GetInterface gi = (CK_C_GetInterface)dlsym(lib, "C_GetInterface");
        CK_INTERFACE_PTR ip;
        if (!gfl || !gi || gfl(&f2) != CKR_OK || gi(NULL, NULL, &ip, 0) != CKR_OK)
            return 2;
        f = ip->pFunctionList;
        test_autostart();
        dlclose(lib);
        printf("abi autostart: %d checks, %d failed\n", atomic_load(&checks), atomic_load(&failures));
        return atomic_load(&failures) ? 1 : 0;
    }
    if (argc > 1 && strcmp(argv[1], "legacy") == 0) {
        void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        CK_C_GetFunctionList gfl = lib ? (CK_C_GetFunctionList)dlsym(lib, "C_GetFunctionList") : NULL;
        CK_C_GetInterface gi = lib ? (CK_C_GetInterface)dlsym(lib, "C_GetInterface") : NULL;
        CK_INTERFACE_PTR ip;
        if (!gfl || !gi || gfl(&f2) != CKR_OK || gi(NULL, NULL, &ip, 0) != CKR_OK)
            return 2;
        f = ip->pFunctionList;
        RV(f->C_Initialize(NULL), CKR_OK);
        test_legacy();
        RV(f->C_Finalize(NULL), CKR_OK);
        dlclose(lib);
        printf("abi legacy: %d checks, %d failed\n", atomic_load(&checks), atomic_load(&failures));
        return atomic_load(&failures) ? 1 : 0;
    }
    if (!getenv("KEYWARD_SOCKET")) {
        fprintf(stderr, "abi: KEYWARD_SOCKET is not set (run through tests/c/run-abi.sh)\n");
        return 2;
    }
    void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        fprintf(stderr, "abi: %s\n", dlerror());
        return 2;
    }
    double t0 = now();
    test_interfaces(lib);
    if (!f || !f30 || !f2)
        return 1;
    call_everything(CKR_CRYPTOKI_NOT_INITIALIZED, 1);
    test_initialize();
    test_slots();
    test_objects();
    test_operations();
    test_ring_in_use();
    test_fused();
    test_fused_context();
    test_kept();
    test_kept_attrs();
    test_kept_threads();
    test_errors_end();
    test_large_input();
    test_fused_race();
    test_v32();
    test_params();
    test_digest();
    test_pqc();
    test_fork();
    test_threads();
    test_pool_cap();
    test_finalize_ends_application();
    test_no_defer();
    test_daemon_death();
    RV(f->C_Finalize(NULL), CKR_OK);
    call_everything(CKR_CRYPTOKI_NOT_INITIALIZED, 1);
    test_protocol();
    dlclose(lib);
    printf("abi: %d checks, %d failed (%.1f s)\n", atomic_load(&checks), atomic_load(&failures), now() - t0);
    return atomic_load(&failures) ? 1 : 0;
}
