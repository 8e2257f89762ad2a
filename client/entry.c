/*
 * entry.c - every C_* entry point of libkeyward.so, the function lists and the interfaces.
 *
 * Each function checks that the library is initialised, then its pointer arguments, then marshals one call of
 * internal/wire/calls.def (docs/protocol.md) and unmarshals the response. Errors that are the daemon's are
 * passed through; CKR_DEVICE_ERROR means a protocol error, CKR_DEVICE_REMOVED that the daemon died (conn.c).
 * The operations' data calls, whose requests depend on what the client remembers of the session (deferred Init,
 * fused calls, kept output, a search's first batch), are built in fuse.c after the checks here.
 */
#include <string.h>

#include "conn.h"
#include "fuse.h"
#include "params.h"
#include "sess.h"
#include "width.h"

#define CHECK_INIT()                                                                                           \
    do {                                                                                                       \
        CK_RV check_rv_ = kw_check();                                                                          \
        if (check_rv_ != CKR_OK)                                                                               \
            return check_rv_;                                                                                  \
    } while (0)

#define S KW_SESSION_CALL
#define L KW_SLOT_CALL

/* ---- helpers ---- */

/* Templates: CKA_WRAP_TEMPLATE and the like carry a CK_ATTRIBUTE array. CKA_ALLOWED_MECHANISMS has
 * CKF_ARRAY_ATTRIBUTE too, but its value is an array of CK_MECHANISM_TYPE: it travels as plain bytes. */
static int is_template_attr(CK_ATTRIBUTE_TYPE t)
{
    return (t & CKF_ARRAY_ATTRIBUTE) && t != CKA_ALLOWED_MECHANISMS;
}

static void pad_copy(CK_UTF8CHAR *dst, size_t dstlen, const uint8_t *src, size_t srclen)
{
    memset(dst, ' ', dstlen);
    if (src)
        memcpy(dst, src, srclen < dstlen ? srclen : dstlen);
}

static void pad_string(struct kw_dec *d, CK_UTF8CHAR *dst, size_t dstlen)
{
    uint32_t n;
    const uint8_t *p = kw_dec_b(d, &n);
    pad_copy(dst, dstlen, p, n);
}

static CK_VERSION dec_version(struct kw_dec *d)
{
    uint64_t v = kw_dec_u(d);
    CK_VERSION ver = {(CK_BYTE)(v >> 8), (CK_BYTE)v};
    return ver;
}

/* An encoder's refusal also spoils its buffer (oom is sticky, and kw_msg_run never sends a spoiled request):
 * a frame whose items were refused can never reach the daemon, even where a caller missed the result. */
static CK_RV enc_refuse(struct kw_buf *b, CK_RV rv)
{
    b->oom = 1;
    return rv;
}

CK_RV kw_arg_data_ok(struct kw_buf *b, const void *p, CK_ULONG n)
{
    if (!p && n > 0)
        return enc_refuse(b, CKR_ARGUMENTS_BAD);
    if (n > KW_MAX_FRAME)
        return enc_refuse(b, CKR_DATA_LEN_RANGE);
    return CKR_OK;
}

CK_RV kw_arg_data(struct kw_buf *b, const void *p, CK_ULONG n)
{
    CK_RV rv = kw_arg_data_ok(b, p, n);
    if (rv == CKR_OK)
        kw_enc_b(b, p, n);
    return rv;
}

/* A PIN's check before its `p` item (present when pin is not NULL: the protected authentication path). */
static CK_RV pin_ok(struct kw_buf *b, const CK_UTF8CHAR *pin, CK_ULONG n)
{
    if (!pin && n > 0)
        return enc_refuse(b, CKR_ARGUMENTS_BAD);
    if (n > KW_MAX_FRAME)
        return enc_refuse(b, CKR_PIN_LEN_RANGE);
    return CKR_OK;
}

CK_RV kw_arg_mech(struct kw_buf *b, const CK_MECHANISM *m)
{
    if (!m) {
        kw_enc_M(b, 0, 0, 0, NULL, 0);
        return CKR_OK;
    }
    if (!m->pParameter && m->ulParameterLen > 0)
        return enc_refuse(b, CKR_MECHANISM_PARAM_INVALID);
    if (m->ulParameterLen > KW_MAX_FRAME)
        return enc_refuse(b, CKR_MECHANISM_PARAM_INVALID);
    const struct kw_param_layout *l = kw_param_layout(m->mechanism);
    if (!l || !m->pParameter) {
        /* Raw bytes (a pointer-free structure or a byte string), or the NULL parameter; CK_ULONG fields in the
         * wire's width (width.h). */
        struct kw_buf tmp = {0};
        const void *wp;
        size_t wn;
        CK_RV rv = kw_param_raw(m->mechanism, m->pParameter, m->ulParameterLen, &tmp, &wp, &wn);
        if (rv == CKR_OK)
            kw_enc_M(b, 1, m->mechanism, m->pParameter != NULL, wp, wn);
        kw_buf_free(&tmp);
        return rv;
    }
    /* A structure with pointers (params.def): its fields, marshalled as items, are the parameter. */
    if (m->ulParameterLen != l->size)
        return enc_refuse(b, CKR_MECHANISM_PARAM_INVALID);
    struct kw_buf p = {0};
    CK_RV rv = kw_param_encode(l, m->pParameter, &p);
    if (rv == CKR_OK && p.oom)
        rv = CKR_HOST_MEMORY;
    if (rv == CKR_OK)
        kw_enc_M(b, 1, m->mechanism, 1, p.p, p.len);
    kw_buf_free(&p);
    return rv == CKR_OK ? rv : enc_refuse(b, rv);
}

/* A template sent to the token: kinds 1 and 2. */
static CK_RV enc_template_items(struct kw_buf *b, const CK_ATTRIBUTE *t, CK_ULONG n);

CK_RV kw_arg_template(struct kw_buf *b, const CK_ATTRIBUTE *t, CK_ULONG n)
{
    CK_RV rv = enc_template_items(b, t, n);
    return rv == CKR_OK ? rv : enc_refuse(b, rv);
}

static CK_RV enc_template_items(struct kw_buf *b, const CK_ATTRIBUTE *t, CK_ULONG n)
{
    if (!t && n > 0)
        return CKR_ARGUMENTS_BAD;
    if (n > KW_MAX_ATTRIBUTES)
        return CKR_ARGUMENTS_BAD;
    kw_enc_A_begin(b, (uint32_t)n);
    for (CK_ULONG i = 0; i < n; i++) {
        const CK_ATTRIBUTE *a = &t[i];
        if (!a->pValue && a->ulValueLen > 0)
            return CKR_ARGUMENTS_BAD;
        if (a->ulValueLen > KW_MAX_FRAME)
            return CKR_ATTRIBUTE_VALUE_INVALID;
        if (!is_template_attr(a->type)) {
            CK_RV rv = kw_enc_attr_value(b, a->type, a->pValue, a->ulValueLen);
            if (rv != CKR_OK)
                return rv;
            continue;
        }
        if (a->ulValueLen % sizeof(CK_ATTRIBUTE) != 0)
            return CKR_ATTRIBUTE_VALUE_INVALID;
        CK_ULONG m = a->ulValueLen / sizeof(CK_ATTRIBUTE);
        const CK_ATTRIBUTE *nested = a->pValue;
        kw_enc_attr_arr(b, a->type, (uint32_t)m);
        for (CK_ULONG j = 0; j < m; j++) {
            const CK_ATTRIBUTE *x = &nested[j];
            if (!x->pValue && x->ulValueLen > 0)
                return CKR_ARGUMENTS_BAD;
            if (is_template_attr(x->type) || x->ulValueLen > KW_MAX_FRAME)
                return CKR_ATTRIBUTE_VALUE_INVALID; /* templates nest once at most */
            CK_RV rv = kw_enc_attr_value(b, x->type, x->pValue, x->ulValueLen);
            if (rv != CKR_OK)
                return rv;
        }
    }
    return CKR_OK;
}

/* A `U` result under the length convention, applied here. */
static CK_RV list_out(struct kw_dec *d, CK_ULONG_PTR list, CK_ULONG_PTR pcount)
{
    uint32_t n = kw_dec_U_begin(d);
    if (d->err)
        return CKR_DEVICE_ERROR;
    if (!list) {
        *pcount = n;
        return CKR_OK;
    }
    if (*pcount < n) {
        *pcount = n;
        return CKR_BUFFER_TOO_SMALL;
    }
    for (uint32_t i = 0; i < n; i++) {
        uint64_t v = kw_dec_raw_u64(d);
        if (!kw_ulong_fits(v))
            return CKR_DEVICE_ERROR; /* a slot or mechanism this word size cannot express (width.h) */
        list[i] = (CK_ULONG)v;
    }
    *pcount = n;
    return CKR_OK;
}

/* Run a built request whose response is not read, and free it. */
static CK_RV run_free(struct kw_msg *m, int kind)
{
    CK_RV rv = kw_msg_run(m, kind);
    kw_msg_free(m);
    return rv;
}

/* A call whose response is one handle. */
static CK_RV run_handle(struct kw_msg *m, CK_ULONG_PTR out, int kind)
{
    CK_RV rv = kw_msg_run(m, kind);
    if (rv == CKR_OK) {
        *out = kw_dec_handle(&m->body);
        if (m->body.err)
            rv = CKR_DEVICE_ERROR; /* a handle this word size cannot express (width.h) */
    }
    kw_msg_free(m);
    return rv;
}

/* Check a session handle (GetSessionInfo). */
static CK_RV session_ok(CK_SESSION_HANDLE h)
{
    struct kw_msg m;
    kw_msg_init(&m, KW_CALL_GetSessionInfo);
    kw_req_GetSessionInfo(&m.req, h);
    return run_free(&m, S);
}

/* The calls encoded here by hand: their requests carry a mechanism (M) or a template (A), which calls_gen.h has
 * no encoder for (kw_arg_mech and kw_arg_template check and write them in place). The others use kw_req_Name. */
KW_REQ_IS(CreateObject, KW_KIND_u + KW_KIND_A);
KW_REQ_IS(CopyObject, 2 * KW_KIND_u + KW_KIND_A);
KW_REQ_IS(GetAttributeValue, 2 * KW_KIND_u + KW_KIND_A);
KW_REQ_IS(SetAttributeValue, 2 * KW_KIND_u + KW_KIND_A);
KW_REQ_IS(FindObjectsInit, KW_KIND_u + KW_KIND_A);
KW_REQ_IS(GenerateKey, KW_KIND_u + KW_KIND_M + KW_KIND_A);
KW_REQ_IS(GenerateKeyPair, KW_KIND_u + KW_KIND_M + 2 * KW_KIND_A);
KW_REQ_IS(WrapKey, 3 * KW_KIND_u + KW_KIND_M + KW_KIND_o);
KW_REQ_IS(UnwrapKey, 2 * KW_KIND_u + KW_KIND_M + KW_KIND_b + KW_KIND_A);
KW_REQ_IS(DeriveKey, 2 * KW_KIND_u + KW_KIND_M + KW_KIND_A);
KW_REQ_IS(EncapsulateKey, 2 * KW_KIND_u + KW_KIND_M + KW_KIND_A + KW_KIND_o);
KW_REQ_IS(DecapsulateKey, 2 * KW_KIND_u + KW_KIND_M + KW_KIND_A + KW_KIND_b);
KW_REQ_IS(VerifySignatureInit, 2 * KW_KIND_u + KW_KIND_M + KW_KIND_b);

/* ---- operations: initialisation and argument checks, then fuse.c ---- */

static CK_RV op_init(CK_SESSION_HANDLE h, CK_ULONG op, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key)
{
    CHECK_INIT();
    return kw_op_init(h, op, mech, key);
}

static CK_RV op_data(uint32_t call, CK_SESSION_HANDLE h, CK_ULONG op, const void *in, CK_ULONG inlen,
                     CK_BYTE_PTR out, CK_ULONG_PTR plen)
{
    CHECK_INIT();
    if (!plen || (!in && inlen > 0))
        return kw_op_fail(h, op, CKR_ARGUMENTS_BAD);
    return kw_op_data(call, h, op, in, inlen, out, plen);
}

static CK_RV op_update_noout(CK_SESSION_HANDLE h, CK_ULONG op, const void *in, CK_ULONG inlen)
{
    CHECK_INIT();
    if (!in && inlen > 0)
        return kw_op_fail(h, op, CKR_ARGUMENTS_BAD);
    return kw_op_update_noout(h, op, in, inlen);
}

static CK_RV op_final(CK_SESSION_HANDLE h, CK_ULONG op, CK_BYTE_PTR out, CK_ULONG_PTR plen)
{
    CHECK_INIT();
    if (!plen)
        return kw_op_fail(h, op, CKR_ARGUMENTS_BAD);
    return kw_op_final(h, op, out, plen);
}

/* ---- general ---- */

CK_RV C_Initialize(CK_VOID_PTR pInitArgs)
{
    const CK_C_INITIALIZE_ARGS *a = pInitArgs;
    if (a) {
        if (a->pReserved)
            return CKR_ARGUMENTS_BAD;
        int set = (a->CreateMutex != NULL) + (a->DestroyMutex != NULL) + (a->LockMutex != NULL) +
                  (a->UnlockMutex != NULL);
        if (set != 0 && set != 4)
            return CKR_ARGUMENTS_BAD;
        /* CKF_LIBRARY_CANT_CREATE_OS_THREADS: the client never creates threads. */
    }
    return kw_initialize(a);
}

CK_RV C_Finalize(CK_VOID_PTR pReserved)
{
    CHECK_INIT();
    if (pReserved)
        return CKR_ARGUMENTS_BAD;
    return kw_finalize();
}

static CK_RV get_info(CK_INFO_PTR p, CK_BYTE major, CK_BYTE minor)
{
    CHECK_INIT();
    if (!p)
        return CKR_ARGUMENTS_BAD;
    struct kw_msg m;
    kw_msg_init(&m, KW_CALL_GetInfo);
    kw_req_GetInfo(&m.req);
    CK_RV rv = kw_msg_run(&m, L);
    if (rv == CKR_OK) {
        p->cryptokiVersion.major = major;
        p->cryptokiVersion.minor = minor;
        pad_string(&m.body, p->manufacturerID, sizeof p->manufacturerID);
        p->flags = kw_dec_flags(&m.body);
        pad_string(&m.body, p->libraryDescription, sizeof p->libraryDescription);
        p->libraryVersion = dec_version(&m.body);
    }
    kw_msg_free(&m);
    return rv;
}

/* C_GetInfo reports the Cryptoki version of the interface the application got: 2.40 for the exported symbol
 * and CK_FUNCTION_LIST, 3.0 through CK_FUNCTION_LIST_3_0, 3.2 through CK_FUNCTION_LIST_3_2. */
CK_RV C_GetInfo(CK_INFO_PTR pInfo)
{
    return get_info(pInfo, 2, 40);
}

static CK_RV kw_GetInfo_3_0(CK_INFO_PTR pInfo)
{
    return get_info(pInfo, 3, 0);
}

static CK_RV kw_GetInfo_3_2(CK_INFO_PTR pInfo)
{
    return get_info(pInfo, 3, 2);
}

/* ---- slots and tokens ---- */

CK_RV C_GetSlotList(CK_BBOOL tokenPresent, CK_SLOT_ID_PTR pSlotList, CK_ULONG_PTR pulCount)
{
    CHECK_INIT();
    if (!pulCount)
        return CKR_ARGUMENTS_BAD;
    struct kw_msg m;
    kw_msg_init(&m, KW_CALL_GetSlotList);
    kw_req_GetSlotList(&m.req, tokenPresent ? 1 : 0);
    CK_RV rv = kw_msg_run(&m, L);
    if (rv == CKR_OK)
        rv = list_out(&m.body, pSlotList, pulCount);
    kw_msg_free(&m);
    return rv;
}

CK_RV C_GetSlotInfo(CK_SLOT_ID slotID, CK_SLOT_INFO_PTR pInfo)
{
    CHECK_INIT();
    if (!pInfo)
        return CKR_ARGUMENTS_BAD;
    struct kw_msg m;
    kw_msg_init(&m, KW_CALL_GetSlotInfo);
    kw_req_GetSlotInfo(&m.req, slotID);
    CK_RV rv = kw_msg_run(&m, L);
    if (rv == CKR_OK) {
        pad_string(&m.body, pInfo->slotDescription, sizeof pInfo->slotDescription);
        pad_string(&m.body, pInfo->manufacturerID, sizeof pInfo->manufacturerID);
        pInfo->flags = kw_dec_flags(&m.body);
        pInfo->hardwareVersion = dec_version(&m.body);
        pInfo->firmwareVersion = dec_version(&m.body);
    }
    kw_msg_free(&m);
    return rv;
}

CK_RV C_GetTokenInfo(CK_SLOT_ID slotID, CK_TOKEN_INFO_PTR pInfo)
{
    CHECK_INIT();
    if (!pInfo)
        return CKR_ARGUMENTS_BAD;
    struct kw_msg m;
    kw_msg_init(&m, KW_CALL_GetTokenInfo);
    kw_req_GetTokenInfo(&m.req, slotID);
    CK_RV rv = kw_msg_run(&m, L);
    if (rv == CKR_OK) {
        struct kw_dec *d = &m.body;
        pad_string(d, pInfo->label, sizeof pInfo->label);
        pad_string(d, pInfo->manufacturerID, sizeof pInfo->manufacturerID);
        pad_string(d, pInfo->model, sizeof pInfo->model);
        pad_string(d, pInfo->serialNumber, sizeof pInfo->serialNumber);
        pInfo->flags = kw_dec_flags(d);
        pInfo->ulMaxSessionCount = kw_dec_ul(d);
        pInfo->ulSessionCount = kw_dec_ul(d);
        pInfo->ulMaxRwSessionCount = kw_dec_ul(d);
        pInfo->ulRwSessionCount = kw_dec_ul(d);
        pInfo->ulMaxPinLen = kw_dec_ul(d);
        pInfo->ulMinPinLen = kw_dec_ul(d);
        pInfo->ulTotalPublicMemory = kw_dec_ul(d);
        pInfo->ulFreePublicMemory = kw_dec_ul(d);
        pInfo->ulTotalPrivateMemory = kw_dec_ul(d);
        pInfo->ulFreePrivateMemory = kw_dec_ul(d);
        pInfo->hardwareVersion = dec_version(d);
        pInfo->firmwareVersion = dec_version(d);
        pad_string(d, pInfo->utcTime, sizeof pInfo->utcTime);
    }
    kw_msg_free(&m);
    return rv;
}

CK_RV C_GetMechanismList(CK_SLOT_ID slotID, CK_MECHANISM_TYPE_PTR pMechanismList, CK_ULONG_PTR pulCount)
{
    CHECK_INIT();
    if (!pulCount)
        return CKR_ARGUMENTS_BAD;
    struct kw_msg m;
    kw_msg_init(&m, KW_CALL_GetMechanismList);
    kw_req_GetMechanismList(&m.req, slotID);
    CK_RV rv = kw_msg_run(&m, L);
    if (rv == CKR_OK)
        rv = list_out(&m.body, pMechanismList, pulCount);
    kw_msg_free(&m);
    return rv;
}

CK_RV C_GetMechanismInfo(CK_SLOT_ID slotID, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO_PTR pInfo)
{
    CHECK_INIT();
    if (!pInfo)
        return CKR_ARGUMENTS_BAD;
    struct kw_msg m;
    kw_msg_init(&m, KW_CALL_GetMechanismInfo);
    kw_req_GetMechanismInfo(&m.req, slotID, type);
    CK_RV rv = kw_msg_run(&m, L);
    if (rv == CKR_OK) {
        pInfo->ulMinKeySize = kw_dec_ul(&m.body);
        pInfo->ulMaxKeySize = kw_dec_ul(&m.body);
        pInfo->flags = kw_dec_flags(&m.body);
    }
    kw_msg_free(&m);
    return rv;
}

CK_RV C_WaitForSlotEvent(CK_FLAGS flags, CK_SLOT_ID_PTR pSlot, CK_VOID_PTR pReserved)
{
    CHECK_INIT();
    if (pReserved || !pSlot)
        return CKR_ARGUMENTS_BAD;
    if (!(flags & CKF_DONT_BLOCK))
        return CKR_FUNCTION_NOT_SUPPORTED;
    struct kw_msg m;
    kw_msg_init(&m, KW_CALL_WaitForSlotEvent);
    kw_req_WaitForSlotEvent(&m.req, flags);
    return run_handle(&m, pSlot, L);
}

CK_RV C_InitToken(CK_SLOT_ID slotID, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen, CK_UTF8CHAR_PTR pLabel)
{
    CHECK_INIT();
    if (!pLabel || (!pPin && ulPinLen > 0))
        return CKR_ARGUMENTS_BAD;
    if (ulPinLen > KW_MAX_FRAME)
        return CKR_PIN_LEN_RANGE;
    struct kw_msg m;
    kw_msg_init(&m, KW_CALL_InitToken);
    /* A NULL PIN (protected path) travels as an empty one. */
    kw_req_InitToken(&m.req, slotID, pPin, ulPinLen, pLabel, 32);
    CK_RV rv = kw_msg_run(&m, L);
    kw_msg_free(&m);
    return rv;
}

CK_RV C_InitPIN(CK_SESSION_HANDLE hSession, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen)
{
    CHECK_INIT();
    struct kw_msg m;
    kw_msg_init(&m, KW_CALL_InitPIN);
    CK_RV rv = pin_ok(&m.req, pPin, ulPinLen);
    if (rv == CKR_OK) {
        kw_req_InitPIN(&m.req, hSession, pPin, ulPinLen, pPin != NULL);
        rv = kw_msg_run(&m, S);
    }
    kw_msg_free(&m);
    return rv;
}

CK_RV C_SetPIN(CK_SESSION_HANDLE hSession, CK_UTF8CHAR_PTR pOldPin, CK_ULONG ulOldLen, CK_UTF8CHAR_PTR pNewPin,
               CK_ULONG ulNewLen)
{
    CHECK_INIT();
    struct kw_msg m;
    kw_msg_init(&m, KW_CALL_SetPIN);
    CK_RV rv = pin_ok(&m.req, pOldPin, ulOldLen);
    if (rv == CKR_OK)
        rv = pin_ok(&m.req, pNewPin, ulNewLen);
    if (rv == CKR_OK) {
        kw_req_SetPIN(&m.req, hSession, pOldPin, ulOldLen, pOldPin != NULL, pNewPin, ulNewLen, pNewPin != NULL);
        rv = kw_msg_run(&m, S);
    }
    kw_msg_free(&m);
    return rv;
}

/* ---- sessions ---- */

CK_RV C_OpenSession(CK_SLOT_ID slotID, CK_FLAGS flags, CK_VOID_PTR pApplication, CK_NOTIFY Notify,
                    CK_SESSION_HANDLE_PTR phSession)
{
    (void)pApplication; /* accepted, never called: Keyward sends no notifications */
    (void)Notify;
    CHECK_INIT();
    if (!phSession)
        return CKR_ARGUMENTS_BAD;
    struct kw_msg m;
    kw_msg_init(&m, KW_CALL_OpenSession);
    kw_req_OpenSession(&m.req, slotID, flags);
    CK_RV rv = run_handle(&m, phSession, L);
    if (rv == CKR_OK)
        kw_sess_open(*phSession, slotID);
    return rv;
}

CK_RV C_CloseSession(CK_SESSION_HANDLE hSession)
{
    CHECK_INIT();
    /* Closing a session destroys its session objects: as for C_DestroyObject, the other sessions' deferred
     * Inits go first (they were made while the keys existed), and no Init shape naming one of them may be
     * taken for a success again. */
    kw_flush_all();
    struct kw_msg m;
    kw_msg_init(&m, KW_CALL_CloseSession);
    kw_req_CloseSession(&m.req, hSession);
    CK_RV rv = run_free(&m, S);
    kw_sess_close(hSession);
    kw_sess_forget_inits();
    return rv;
}

CK_RV C_CloseAllSessions(CK_SLOT_ID slotID)
{
    CHECK_INIT();
    struct kw_msg m;
    kw_msg_init(&m, KW_CALL_CloseAllSessions);
    kw_req_CloseAllSessions(&m.req, slotID);
    CK_RV rv = run_free(&m, L);
    if (rv == CKR_OK)
        kw_sess_close_slot(slotID);
    return rv;
}

CK_RV C_GetSessionInfo(CK_SESSION_HANDLE hSession, CK_SESSION_INFO_PTR pInfo)
{
    CHECK_INIT();
    if (!pInfo)
        return CKR_ARGUMENTS_BAD;
    struct kw_msg m;
    kw_msg_init(&m, KW_CALL_GetSessionInfo);
    kw_req_GetSessionInfo(&m.req, hSession);
    CK_RV rv = kw_msg_run(&m, S);
    if (rv == CKR_OK) {
        pInfo->slotID = kw_dec_ul(&m.body);
        pInfo->state = kw_dec_ul(&m.body);
        pInfo->flags = kw_dec_flags(&m.body);
        pInfo->ulDeviceError = kw_dec_ul(&m.body);
    }
    kw_msg_free(&m);
    return rv;
}

CK_RV C_GetOperationState(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pOperationState,
                          CK_ULONG_PTR pulOperationStateLen)
{
    (void)hSession;
    (void)pOperationState;
    (void)pulOperationStateLen;
    CHECK_INIT();
    return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV C_SetOperationState(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pOperationState, CK_ULONG ulOperationStateLen,
                          CK_OBJECT_HANDLE hEncryptionKey, CK_OBJECT_HANDLE hAuthenticationKey)
{
    (void)hSession;
    (void)pOperationState;
    (void)ulOperationStateLen;
    (void)hEncryptionKey;
    (void)hAuthenticationKey;
    CHECK_INIT();
    return CKR_FUNCTION_NOT_SUPPORTED;
}

CK_RV C_Login(CK_SESSION_HANDLE hSession, CK_USER_TYPE userType, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen)
{
    CHECK_INIT();
    kw_flush_init(hSession, 0); /* CKU_CONTEXT_SPECIFIC authenticates the session's operation */
    struct kw_msg m;
    kw_msg_init(&m, KW_CALL_Login);
    CK_RV rv = pin_ok(&m.req, pPin, ulPinLen);
    if (rv == CKR_OK) {
        kw_req_Login(&m.req, hSession, userType, pPin, ulPinLen, pPin != NULL);
        rv = kw_msg_run(&m, S);
    }
    kw_msg_free(&m);
    return rv;
}

CK_RV C_LoginUser(CK_SESSION_HANDLE hSession, CK_USER_TYPE userType, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen,
                  CK_UTF8CHAR_PTR pUsername, CK_ULONG ulUsernameLen)
{
    CHECK_INIT();
    kw_flush_init(hSession, 0);
    struct kw_msg m;
    kw_msg_init(&m, KW_CALL_LoginUser);
    CK_RV rv = pin_ok(&m.req, pPin, ulPinLen);
    if (rv == CKR_OK)
        rv = kw_arg_data_ok(&m.req, pUsername, ulUsernameLen);
    if (rv == CKR_DATA_LEN_RANGE)
        rv = CKR_ARGUMENTS_BAD;
    if (rv == CKR_OK) {
        kw_req_LoginUser(&m.req, hSession, userType, pPin, ulPinLen, pPin != NULL, pUsername, ulUsernameLen);
        rv = kw_msg_run(&m, S);
    }
    kw_msg_free(&m);
    return rv;
}

CK_RV C_Logout(CK_SESSION_HANDLE hSession)
{
    CHECK_INIT();
    kw_flush_all(); /* the Inits happened before the logout */
    struct kw_msg m;
    kw_msg_init(&m, KW_CALL_Logout);
    kw_req_Logout(&m.req, hSession);
    CK_RV rv = run_free(&m, S);
    kw_sess_forget_inits(); /* what a private key allowed may no longer be allowed */
    return rv;
}

CK_RV C_SessionCancel(CK_SESSION_HANDLE hSession, CK_FLAGS flags)
{
    CHECK_INIT();
    kw_flush_init(hSession, 0);
    struct kw_msg m;
    kw_msg_init(&m, KW_CALL_SessionCancel);
    kw_req_SessionCancel(&m.req, hSession, flags);
    return run_free(&m, S);
}

CK_RV C_GetFunctionStatus(CK_SESSION_HANDLE hSession)
{
    CHECK_INIT();
    CK_RV rv = session_ok(hSession);
    return rv == CKR_OK ? CKR_FUNCTION_NOT_PARALLEL : rv;
}

CK_RV C_CancelFunction(CK_SESSION_HANDLE hSession)
{
    CHECK_INIT();
    CK_RV rv = session_ok(hSession);
    return rv == CKR_OK ? CKR_FUNCTION_NOT_PARALLEL : rv;
}

/* ---- objects ---- */

CK_RV C_CreateObject(CK_SESSION_HANDLE hSession, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount,
                     CK_OBJECT_HANDLE_PTR phObject)
{
    CHECK_INIT();
    if (!phObject)
        return CKR_ARGUMENTS_BAD;
    struct kw_msg m;
    kw_msg_init(&m, KW_CALL_CreateObject);
    kw_enc_u(&m.req, hSession);
    CK_RV rv = kw_arg_template(&m.req, pTemplate, ulCount);
    if (rv != CKR_OK) {
        kw_msg_free(&m);
        return rv;
    }
    return run_handle(&m, phObject, S);
}

CK_RV C_CopyObject(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject, CK_ATTRIBUTE_PTR pTemplate,
                   CK_ULONG ulCount, CK_OBJECT_HANDLE_PTR phNewObject)
{
    CHECK_INIT();
    if (!phNewObject)
        return CKR_ARGUMENTS_BAD;
    struct kw_msg m;
    kw_msg_init(&m, KW_CALL_CopyObject);
    kw_enc_u(&m.req, hSession);
    kw_enc_u(&m.req, hObject);
    CK_RV rv = kw_arg_template(&m.req, pTemplate, ulCount);
    if (rv != CKR_OK) {
        kw_msg_free(&m);
        return rv;
    }
    return run_handle(&m, phNewObject, S);
}

CK_RV C_DestroyObject(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject)
{
    CHECK_INIT();
    kw_flush_all(); /* an operation started on the key before its destruction keeps working */
    struct kw_msg m;
    kw_msg_init(&m, KW_CALL_DestroyObject);
    kw_req_DestroyObject(&m.req, hSession, hObject);
    CK_RV rv = run_free(&m, S);
    kw_sess_forget_inits();
    return rv;
}

CK_RV C_GetObjectSize(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject, CK_ULONG_PTR pulSize)
{
    CHECK_INIT();
    if (!pulSize)
        return CKR_ARGUMENTS_BAD;
    struct kw_msg m;
    kw_msg_init(&m, KW_CALL_GetObjectSize);
    kw_req_GetObjectSize(&m.req, hSession, hObject);
    return run_handle(&m, pulSize, S);
}

/* One query attribute: kind 0 (NULL pValue, the length as the number) or 3 (a buffer of ulValueLen). */
static void enc_query(struct kw_buf *b, const CK_ATTRIBUTE *a)
{
    if (a->pValue)
        kw_enc_attr_num(b, a->type, KW_ATTR_BUFFER, kw_attr_len_out(a->type, a->ulValueLen));
    else
        kw_enc_attr_num(b, a->type, KW_ATTR_LENGTH, kw_attr_len_out(a->type, a->ulValueLen));
}

/* Fill one caller attribute from a result attribute. nested is 1 when a was sent as an array query. Returns 0,
 * 1 when a value does not fit the caller's word size (width.h: CKR_BUFFER_TOO_SMALL), or -1. */
static int dec_result(struct kw_dec *d, CK_ATTRIBUTE *a, int nested_query)
{
    uint64_t type, num;
    const uint8_t *val;
    uint32_t vlen;
    int kind = kw_dec_attr(d, &type, &num, &val, &vlen);
    if (kind < 0 || type != a->type)
        return -1;
    switch (kind) {
    case KW_ATTR_LENGTH: {
        int fits;
        a->ulValueLen = kw_attr_len_in(a->type, num, &fits);
        return fits ? 0 : 1;
    }
    case KW_ATTR_VALUE:
        if (nested_query || !a->pValue)
            return -1;
        return kw_attr_value_in(a->type, val, vlen, a->pValue, a->ulValueLen, &a->ulValueLen);
    case KW_ATTR_ARRAY: {
        if (!nested_query || num != a->ulValueLen / sizeof(CK_ATTRIBUTE))
            return -1;
        CK_ATTRIBUTE *arr = a->pValue;
        int r = 0;
        for (uint64_t j = 0; j < num; j++) {
            int rj = dec_result(d, &arr[j], 0);
            if (rj < 0)
                return -1;
            r |= rj;
        }
        a->ulValueLen = num * sizeof(CK_ATTRIBUTE);
        return r;
    }
    default:
        return -1;
    }
}

/* Kept attribute values (sess.h): answer a C_GetAttributeValue from the values the length query before it
 * brought, as the daemon would (a buffer shorter than the value: CK_UNAVAILABLE_INFORMATION and
 * CKR_BUFFER_TOO_SMALL). Returns 0 when nothing kept answers this template. */
static int attrs_answer(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR t, CK_ULONG n, CK_RV *rv)
{
    struct kw_buf v = {0};
    if (!kw_sess_attrs_take(h, o, t, n, &v))
        return 0;
    struct kw_dec d;
    kw_dec_init(&d, v.p, v.len);
    *rv = CKR_OK;
    for (CK_ULONG i = 0; i < n; i++) {
        CK_ATTRIBUTE *a = &t[i];
        uint64_t type, num;
        const uint8_t *val;
        uint32_t vlen;
        int fits = 1;
        if (kw_dec_attr(&d, &type, &num, &val, &vlen) != KW_ATTR_VALUE) {
            *rv = CKR_DEVICE_ERROR; /* cannot be: kw_sess_attrs_take checked the records */
            break;
        }
        if (!a->pValue) {
            a->ulValueLen = kw_attr_len_in(a->type, vlen, &fits);
        } else if (kw_attr_len_out(a->type, a->ulValueLen) < vlen) {
            a->ulValueLen = CK_UNAVAILABLE_INFORMATION;
            fits = 0;
        } else {
            int r = kw_attr_value_in(a->type, val, vlen, a->pValue, a->ulValueLen, &a->ulValueLen);
            if (r < 0) {
                *rv = CKR_DEVICE_ERROR;
                break;
            }
            fits = r == 0;
        }
        if (!fits)
            *rv = CKR_BUFFER_TOO_SMALL;
    }
    kw_buf_free(&v);
    return 1;
}

/* Whether a C_GetAttributeValue asks the values with the lengths (kind 4): a length query (every pValue NULL)
 * of at most KW_PEEK_ATTRS plain attributes, to a daemon known to speak it. */
static int attrs_peek(const CK_ATTRIBUTE *t, CK_ULONG n)
{
    if (n == 0 || n > KW_PEEK_ATTRS)
        return 0;
    for (CK_ULONG i = 0; i < n; i++)
        if (t[i].pValue || is_template_attr(t[i].type))
            return 0;
    return (kw_features_cached() & KW_FEATURE_ATTR_PEEK) != 0;
}

/* The results of a kind-4 query: lengths (kind 0) or values (kind 1), whose lengths the caller gets; the values
 * go to *vals as records. Returns the rv, CKR_DEVICE_ERROR for a malformed answer; *all is set when every
 * attribute came back as a value. */
static CK_RV attrs_peeked(struct kw_dec *d, CK_ATTRIBUTE_PTR t, CK_ULONG n, CK_RV rv, struct kw_buf *vals, int *all)
{
    *all = 1;
    for (CK_ULONG i = 0; i < n; i++) {
        CK_ATTRIBUTE *a = &t[i];
        uint64_t type, num;
        const uint8_t *val;
        uint32_t vlen;
        int fits = 1;
        int kind = kw_dec_attr(d, &type, &num, &val, &vlen);
        if (kind == KW_ATTR_LENGTH && type == a->type) {
            a->ulValueLen = kw_attr_len_in(a->type, num, &fits);
            *all = 0;
        } else if (kind == KW_ATTR_VALUE && type == a->type && vlen <= KW_KEEP_MAX) {
            a->ulValueLen = kw_attr_len_in(a->type, vlen, &fits);
            kw_enc_attr_val(vals, type, val, vlen);
        } else {
            return CKR_DEVICE_ERROR;
        }
        if (!fits && rv == CKR_OK)
            rv = CKR_BUFFER_TOO_SMALL;
    }
    return rv;
}

CK_RV C_GetAttributeValue(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject, CK_ATTRIBUTE_PTR pTemplate,
                          CK_ULONG ulCount)
{
    CHECK_INIT();
    if ((!pTemplate && ulCount > 0) || ulCount > KW_MAX_ATTRIBUTES)
        return CKR_ARGUMENTS_BAD;
    CK_RV rv;
    if (attrs_answer(hSession, hObject, pTemplate, ulCount, &rv))
        return rv;
    int peek = attrs_peek(pTemplate, ulCount);
    struct kw_msg m;
    kw_msg_init(&m, KW_CALL_GetAttributeValue);
    kw_enc_u(&m.req, hSession);
    kw_enc_u(&m.req, hObject);
    kw_enc_A_begin(&m.req, (uint32_t)ulCount);
    for (CK_ULONG i = 0; i < ulCount; i++) {
        const CK_ATTRIBUTE *a = &pTemplate[i];
        if (peek) {
            kw_enc_attr_num(&m.req, a->type, KW_ATTR_PEEK, kw_attr_len_out(a->type, a->ulValueLen));
        } else if (is_template_attr(a->type) && a->pValue) {
            CK_ULONG k = a->ulValueLen / sizeof(CK_ATTRIBUTE);
            if (k > KW_MAX_ATTRIBUTES) {
                kw_msg_free(&m);
                return CKR_ARGUMENTS_BAD;
            }
            const CK_ATTRIBUTE *nested = a->pValue;
            kw_enc_attr_arr(&m.req, a->type, (uint32_t)k);
            for (CK_ULONG j = 0; j < k; j++)
                enc_query(&m.req, &nested[j]);
        } else {
            enc_query(&m.req, a);
        }
    }
    rv = kw_msg_run(&m, S);
    if (m.has_body && (rv == CKR_OK || rv == CKR_ATTRIBUTE_SENSITIVE || rv == CKR_ATTRIBUTE_TYPE_INVALID ||
                       rv == CKR_BUFFER_TOO_SMALL)) {
        uint32_t n = kw_dec_A_begin(&m.body);
        if (m.body.err || n != ulCount) {
            rv = CKR_DEVICE_ERROR;
        } else if (peek) {
            struct kw_buf vals = {0};
            int all;
            rv = attrs_peeked(&m.body, pTemplate, ulCount, rv, &vals, &all);
            if (rv == CKR_OK && all)
                kw_sess_attrs_keep(hSession, hObject, m.epoch, m.drops, &vals, (uint32_t)ulCount);
            kw_buf_free(&vals);
        } else {
            for (CK_ULONG i = 0; i < ulCount; i++) {
                CK_ATTRIBUTE *a = &pTemplate[i];
                int r = dec_result(&m.body, a, is_template_attr(a->type) && a->pValue);
                if (r < 0) {
                    rv = CKR_DEVICE_ERROR;
                    break;
                }
                if (r > 0 && rv == CKR_OK)
                    rv = CKR_BUFFER_TOO_SMALL;
            }
        }
    }
    kw_msg_free(&m);
    return rv;
}

CK_RV C_SetAttributeValue(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject, CK_ATTRIBUTE_PTR pTemplate,
                          CK_ULONG ulCount)
{
    CHECK_INIT();
    kw_flush_all(); /* an Init checked the key's usage attributes as they were */
    struct kw_msg m;
    kw_msg_init(&m, KW_CALL_SetAttributeValue);
    kw_enc_u(&m.req, hSession);
    kw_enc_u(&m.req, hObject);
    CK_RV rv = kw_arg_template(&m.req, pTemplate, ulCount);
    if (rv == CKR_OK)
        rv = kw_msg_run(&m, S);
    kw_msg_free(&m);
    kw_sess_forget_inits();
    return rv;
}

CK_RV C_FindObjectsInit(CK_SESSION_HANDLE hSession, CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount)
{
    CHECK_INIT();
    if (kw_sess_find_active(hSession))
        return CKR_OPERATION_ACTIVE;
    if (!(kw_features() & KW_FEATURE_FUSED)) { /* an older daemon: no first batch */
        struct kw_msg m;
        kw_msg_init(&m, KW_CALL_FindObjectsInit);
        kw_enc_u(&m.req, hSession);
        CK_RV rv = kw_arg_template(&m.req, pTemplate, ulCount);
        if (rv == CKR_OK)
            rv = kw_msg_run(&m, S);
        kw_msg_free(&m);
        return rv;
    }
    return kw_find_first(hSession, pTemplate, ulCount);
}

CK_RV C_FindObjects(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE_PTR phObject, CK_ULONG ulMaxObjectCount,
                    CK_ULONG_PTR pulObjectCount)
{
    CHECK_INIT();
    if (!pulObjectCount || (!phObject && ulMaxObjectCount > 0))
        return CKR_ARGUMENTS_BAD;
    int ask = 0;
    long got = kw_sess_find_next(hSession, phObject, ulMaxObjectCount, &ask);
    if (got >= 0 && !ask) {
        *pulObjectCount = (CK_ULONG)got;
        return CKR_OK;
    }
    struct kw_msg m;
    kw_msg_init(&m, KW_CALL_FindObjects);
    kw_req_FindObjects(&m.req, hSession, ulMaxObjectCount);
    CK_RV rv = kw_msg_run(&m, S);
    if (rv == CKR_OK) {
        uint32_t n = kw_dec_U_begin(&m.body);
        if (n > ulMaxObjectCount) {
            rv = CKR_DEVICE_ERROR;
        } else {
            for (uint32_t i = 0; i < n; i++) {
                uint64_t v = kw_dec_raw_u64(&m.body);
                if (!kw_ulong_fits(v))
                    rv = CKR_DEVICE_ERROR; /* a handle this word size cannot express (width.h) */
                phObject[i] = (CK_OBJECT_HANDLE)v;
            }
            *pulObjectCount = rv == CKR_OK ? n : 0;
        }
    }
    kw_msg_free(&m);
    return rv;
}

CK_RV C_FindObjectsFinal(CK_SESSION_HANDLE hSession)
{
    CHECK_INIT();
    if (kw_sess_find_end(hSession) == 0)
        return CKR_OK; /* the whole result came with C_FindObjectsInit */
    struct kw_msg m;
    kw_msg_init(&m, KW_CALL_FindObjectsFinal);
    kw_req_FindObjectsFinal(&m.req, hSession);
    return run_free(&m, S);
}

/* ---- encryption, decryption, digest, signatures ---- */

CK_RV C_EncryptInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey)
{
    return op_init(hSession, OP_ENCRYPT, pMechanism, hKey);
}

CK_RV C_Encrypt(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen, CK_BYTE_PTR pEncryptedData,
                CK_ULONG_PTR pulEncryptedDataLen)
{
    return op_data(KW_CALL_OperationSingle, hSession, OP_ENCRYPT, pData, ulDataLen, pEncryptedData,
                   pulEncryptedDataLen);
}

CK_RV C_EncryptUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen, CK_BYTE_PTR pEncryptedPart,
                      CK_ULONG_PTR pulEncryptedPartLen)
{
    return op_data(KW_CALL_OperationUpdate, hSession, OP_ENCRYPT, pPart, ulPartLen, pEncryptedPart,
                   pulEncryptedPartLen);
}

CK_RV C_EncryptFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pLastEncryptedPart, CK_ULONG_PTR pulLastEncryptedPartLen)
{
    return op_final(hSession, OP_ENCRYPT, pLastEncryptedPart, pulLastEncryptedPartLen);
}

CK_RV C_DecryptInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey)
{
    return op_init(hSession, OP_DECRYPT, pMechanism, hKey);
}

CK_RV C_Decrypt(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedData, CK_ULONG ulEncryptedDataLen,
                CK_BYTE_PTR pData, CK_ULONG_PTR pulDataLen)
{
    return op_data(KW_CALL_OperationSingle, hSession, OP_DECRYPT, pEncryptedData, ulEncryptedDataLen, pData,
                   pulDataLen);
}

CK_RV C_DecryptUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedPart, CK_ULONG ulEncryptedPartLen,
                      CK_BYTE_PTR pPart, CK_ULONG_PTR pulPartLen)
{
    return op_data(KW_CALL_OperationUpdate, hSession, OP_DECRYPT, pEncryptedPart, ulEncryptedPartLen, pPart,
                   pulPartLen);
}

CK_RV C_DecryptFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pLastPart, CK_ULONG_PTR pulLastPartLen)
{
    return op_final(hSession, OP_DECRYPT, pLastPart, pulLastPartLen);
}

CK_RV C_DigestInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism)
{
    return op_init(hSession, OP_DIGEST, pMechanism, 0);
}

CK_RV C_Digest(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen, CK_BYTE_PTR pDigest,
               CK_ULONG_PTR pulDigestLen)
{
    return op_data(KW_CALL_OperationSingle, hSession, OP_DIGEST, pData, ulDataLen, pDigest, pulDigestLen);
}

CK_RV C_DigestUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen)
{
    return op_update_noout(hSession, OP_DIGEST, pPart, ulPartLen);
}

CK_RV C_DigestKey(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hKey)
{
    CHECK_INIT();
    kw_flush_init(hSession, OP_DIGEST);
    struct kw_msg m;
    kw_msg_init(&m, KW_CALL_DigestKey);
    kw_req_DigestKey(&m.req, hSession, hKey);
    return run_free(&m, S);
}

CK_RV C_DigestFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pDigest, CK_ULONG_PTR pulDigestLen)
{
    return op_final(hSession, OP_DIGEST, pDigest, pulDigestLen);
}

CK_RV C_SignInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey)
{
    return op_init(hSession, OP_SIGN, pMechanism, hKey);
}

CK_RV C_Sign(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen, CK_BYTE_PTR pSignature,
             CK_ULONG_PTR pulSignatureLen)
{
    return op_data(KW_CALL_OperationSingle, hSession, OP_SIGN, pData, ulDataLen, pSignature, pulSignatureLen);
}

CK_RV C_SignUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen)
{
    return op_update_noout(hSession, OP_SIGN, pPart, ulPartLen);
}

CK_RV C_SignFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen)
{
    return op_final(hSession, OP_SIGN, pSignature, pulSignatureLen);
}

CK_RV C_SignRecoverInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey)
{
    return op_init(hSession, OP_SIGN_RECOVER, pMechanism, hKey);
}

CK_RV C_SignRecover(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen, CK_BYTE_PTR pSignature,
                    CK_ULONG_PTR pulSignatureLen)
{
    return op_data(KW_CALL_OperationSingle, hSession, OP_SIGN_RECOVER, pData, ulDataLen, pSignature,
                   pulSignatureLen);
}

CK_RV C_VerifyInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey)
{
    return op_init(hSession, OP_VERIFY, pMechanism, hKey);
}

CK_RV C_Verify(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen, CK_BYTE_PTR pSignature,
               CK_ULONG ulSignatureLen)
{
    CHECK_INIT();
    if ((!pData && ulDataLen > 0) || (!pSignature && ulSignatureLen > 0))
        return kw_op_fail(hSession, OP_VERIFY, CKR_ARGUMENTS_BAD);
    return kw_op_verify(hSession, pData, ulDataLen, pSignature, ulSignatureLen);
}

CK_RV C_VerifyUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen)
{
    return op_update_noout(hSession, OP_VERIFY, pPart, ulPartLen);
}

CK_RV C_VerifyFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature, CK_ULONG ulSignatureLen)
{
    CHECK_INIT();
    if (!pSignature && ulSignatureLen > 0)
        return kw_op_fail(hSession, OP_VERIFY, CKR_ARGUMENTS_BAD);
    kw_flush_init(hSession, OP_VERIFY);
    struct kw_msg m;
    kw_msg_init(&m, KW_CALL_VerifyFinal);
    CK_RV rv = kw_arg_data_ok(&m.req, pSignature, ulSignatureLen);
    if (rv == CKR_OK) {
        kw_req_VerifyFinal(&m.req, hSession, pSignature, ulSignatureLen);
        rv = kw_msg_run(&m, S);
    }
    kw_msg_free(&m);
    if (kw_verdict(rv))
        kw_sess_ended(hSession, OP_VERIFY);
    return rv;
}

CK_RV C_VerifyRecoverInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey)
{
    return op_init(hSession, OP_VERIFY_RECOVER, pMechanism, hKey);
}

CK_RV C_VerifyRecover(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature, CK_ULONG ulSignatureLen,
                      CK_BYTE_PTR pData, CK_ULONG_PTR pulDataLen)
{
    return op_data(KW_CALL_OperationSingle, hSession, OP_VERIFY_RECOVER, pSignature, ulSignatureLen, pData,
                   pulDataLen);
}

CK_RV C_DigestEncryptUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen,
                            CK_BYTE_PTR pEncryptedPart, CK_ULONG_PTR pulEncryptedPartLen)
{
    return op_data(KW_CALL_OperationUpdate, hSession, OP_DIGEST_ENCRYPT, pPart, ulPartLen, pEncryptedPart,
                   pulEncryptedPartLen);
}

CK_RV C_DecryptDigestUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedPart, CK_ULONG ulEncryptedPartLen,
                            CK_BYTE_PTR pPart, CK_ULONG_PTR pulPartLen)
{
    return op_data(KW_CALL_OperationUpdate, hSession, OP_DECRYPT_DIGEST, pEncryptedPart, ulEncryptedPartLen, pPart,
                   pulPartLen);
}

CK_RV C_SignEncryptUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen,
                          CK_BYTE_PTR pEncryptedPart, CK_ULONG_PTR pulEncryptedPartLen)
{
    return op_data(KW_CALL_OperationUpdate, hSession, OP_SIGN_ENCRYPT, pPart, ulPartLen, pEncryptedPart,
                   pulEncryptedPartLen);
}

CK_RV C_DecryptVerifyUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pEncryptedPart, CK_ULONG ulEncryptedPartLen,
                            CK_BYTE_PTR pPart, CK_ULONG_PTR pulPartLen)
{
    return op_data(KW_CALL_OperationUpdate, hSession, OP_DECRYPT_VERIFY, pEncryptedPart, ulEncryptedPartLen, pPart,
                   pulPartLen);
}

/* ---- keys and random ---- */

CK_RV C_GenerateKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_ATTRIBUTE_PTR pTemplate,
                    CK_ULONG ulCount, CK_OBJECT_HANDLE_PTR phKey)
{
    CHECK_INIT();
    if (!pMechanism || !phKey)
        return CKR_ARGUMENTS_BAD;
    struct kw_msg m;
    kw_msg_init(&m, KW_CALL_GenerateKey);
    kw_enc_u(&m.req, hSession);
    CK_RV rv = kw_arg_mech(&m.req, pMechanism);
    if (rv == CKR_OK)
        rv = kw_arg_template(&m.req, pTemplate, ulCount);
    if (rv != CKR_OK) {
        kw_msg_free(&m);
        return rv;
    }
    return run_handle(&m, phKey, S);
}

CK_RV C_GenerateKeyPair(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                        CK_ATTRIBUTE_PTR pPublicKeyTemplate, CK_ULONG ulPublicKeyAttributeCount,
                        CK_ATTRIBUTE_PTR pPrivateKeyTemplate, CK_ULONG ulPrivateKeyAttributeCount,
                        CK_OBJECT_HANDLE_PTR phPublicKey, CK_OBJECT_HANDLE_PTR phPrivateKey)
{
    CHECK_INIT();
    if (!pMechanism || !phPublicKey || !phPrivateKey)
        return CKR_ARGUMENTS_BAD;
    struct kw_msg m;
    kw_msg_init(&m, KW_CALL_GenerateKeyPair);
    kw_enc_u(&m.req, hSession);
    CK_RV rv = kw_arg_mech(&m.req, pMechanism);
    if (rv == CKR_OK)
        rv = kw_arg_template(&m.req, pPublicKeyTemplate, ulPublicKeyAttributeCount);
    if (rv == CKR_OK)
        rv = kw_arg_template(&m.req, pPrivateKeyTemplate, ulPrivateKeyAttributeCount);
    if (rv == CKR_OK)
        rv = kw_msg_run(&m, S);
    if (rv == CKR_OK) {
        *phPublicKey = kw_dec_handle(&m.body);
        *phPrivateKey = kw_dec_handle(&m.body);
        if (m.body.err)
            rv = CKR_DEVICE_ERROR; /* a handle this word size cannot express (width.h) */
    }
    kw_msg_free(&m);
    return rv;
}

CK_RV C_WrapKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hWrappingKey,
                CK_OBJECT_HANDLE hKey, CK_BYTE_PTR pWrappedKey, CK_ULONG_PTR pulWrappedKeyLen)
{
    CHECK_INIT();
    if (!pMechanism || !pulWrappedKeyLen)
        return CKR_ARGUMENTS_BAD;
    struct kw_msg m;
    kw_msg_init(&m, KW_CALL_WrapKey);
    kw_enc_u(&m.req, hSession);
    CK_RV rv = kw_arg_mech(&m.req, pMechanism);
    kw_enc_u(&m.req, hWrappingKey);
    kw_enc_u(&m.req, hKey);
    if (rv == CKR_OK)
        rv = kw_run_out(&m, pWrappedKey, pulWrappedKeyLen, S);
    kw_msg_free(&m);
    return rv;
}

CK_RV C_UnwrapKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hUnwrappingKey,
                  CK_BYTE_PTR pWrappedKey, CK_ULONG ulWrappedKeyLen, CK_ATTRIBUTE_PTR pTemplate,
                  CK_ULONG ulAttributeCount, CK_OBJECT_HANDLE_PTR phKey)
{
    CHECK_INIT();
    if (!pMechanism || !phKey)
        return CKR_ARGUMENTS_BAD;
    struct kw_msg m;
    kw_msg_init(&m, KW_CALL_UnwrapKey);
    kw_enc_u(&m.req, hSession);
    CK_RV rv = kw_arg_mech(&m.req, pMechanism);
    kw_enc_u(&m.req, hUnwrappingKey);
    if (rv == CKR_OK)
        rv = kw_arg_data(&m.req, pWrappedKey, ulWrappedKeyLen);
    if (rv == CKR_DATA_LEN_RANGE)
        rv = CKR_WRAPPED_KEY_LEN_RANGE;
    if (rv == CKR_OK)
        rv = kw_arg_template(&m.req, pTemplate, ulAttributeCount);
    if (rv != CKR_OK) {
        kw_msg_free(&m);
        return rv;
    }
    return run_handle(&m, phKey, S);
}

CK_RV C_DeriveKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hBaseKey,
                  CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulAttributeCount, CK_OBJECT_HANDLE_PTR phKey)
{
    CHECK_INIT();
    if (!pMechanism || !phKey)
        return CKR_ARGUMENTS_BAD;
    struct kw_msg m;
    kw_msg_init(&m, KW_CALL_DeriveKey);
    kw_enc_u(&m.req, hSession);
    CK_RV rv = kw_arg_mech(&m.req, pMechanism);
    kw_enc_u(&m.req, hBaseKey);
    if (rv == CKR_OK)
        rv = kw_arg_template(&m.req, pTemplate, ulAttributeCount);
    if (rv != CKR_OK) {
        kw_msg_free(&m);
        return rv;
    }
    return run_handle(&m, phKey, S);
}

CK_RV C_SeedRandom(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSeed, CK_ULONG ulSeedLen)
{
    CHECK_INIT();
    struct kw_msg m;
    kw_msg_init(&m, KW_CALL_SeedRandom);
    CK_RV rv = kw_arg_data_ok(&m.req, pSeed, ulSeedLen);
    if (rv == CKR_DATA_LEN_RANGE)
        rv = CKR_ARGUMENTS_BAD;
    if (rv == CKR_OK) {
        kw_req_SeedRandom(&m.req, hSession, pSeed, ulSeedLen);
        rv = kw_msg_run(&m, S);
    }
    kw_msg_free(&m);
    return rv;
}

CK_RV C_GenerateRandom(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pRandomData, CK_ULONG ulRandomLen)
{
    CHECK_INIT();
    if (!pRandomData && ulRandomLen > 0)
        return CKR_ARGUMENTS_BAD;
    struct kw_msg m;
    kw_msg_init(&m, KW_CALL_GenerateRandom);
    kw_req_GenerateRandom(&m.req, hSession, ulRandomLen);
    CK_RV rv = kw_msg_run(&m, S);
    if (rv == CKR_OK) {
        uint32_t n;
        const uint8_t *p = kw_dec_b(&m.body, &n);
        if (n != ulRandomLen)
            rv = CKR_DEVICE_ERROR;
        else if (n > 0)
            memcpy(pRandomData, p, n);
    }
    kw_msg_free(&m);
    return rv;
}

/* ---- PKCS #11 3.0 message-based functions ---- */

CK_RV C_MessageEncryptInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey)
{
    return op_init(hSession, OP_MESSAGE_ENCRYPT, pMechanism, hKey);
}

CK_RV C_MessageDecryptInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey)
{
    return op_init(hSession, OP_MESSAGE_DECRYPT, pMechanism, hKey);
}

CK_RV C_MessageSignInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey)
{
    return op_init(hSession, OP_MESSAGE_SIGN, pMechanism, hKey);
}

CK_RV C_MessageVerifyInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey)
{
    return op_init(hSession, OP_MESSAGE_VERIFY, pMechanism, hKey);
}

/* No message operation can be initialised yet (no mechanism supports one), so every per-message function
 * checks its arguments and the session and reports CKR_OPERATION_NOT_INITIALIZED. */
static CK_RV no_message_op(CK_SESSION_HANDLE h, int args_ok)
{
    CHECK_INIT();
    if (!args_ok)
        return CKR_ARGUMENTS_BAD;
    CK_RV rv = session_ok(h);
    return rv == CKR_OK ? CKR_OPERATION_NOT_INITIALIZED : rv;
}

#define BYTES_OK(p, n) ((p) != NULL || (n) == 0)

/* C_Message<Verb>Final of every message operation. */
#define MESSAGE_FINAL(Verb)                                                                                     \
    CK_RV C_Message##Verb##Final(CK_SESSION_HANDLE hSession)                                                    \
    {                                                                                                           \
        return no_message_op(hSession, 1);                                                                      \
    }

/* Message encryption and decryption take the same arguments: pIn is the plaintext or the ciphertext, pOut
 * the other. MESSAGE_CRYPT(Verb) defines C_<Verb>Message, C_<Verb>MessageBegin, C_<Verb>MessageNext and
 * C_Message<Verb>Final. */
#define MESSAGE_CRYPT(Verb)                                                                                     \
    CK_RV C_##Verb##Message(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter, CK_ULONG ulParameterLen,         \
                            CK_BYTE_PTR pAssociatedData, CK_ULONG ulAssociatedDataLen, CK_BYTE_PTR pIn,         \
                            CK_ULONG ulInLen, CK_BYTE_PTR pOut, CK_ULONG_PTR pulOutLen)                          \
    {                                                                                                           \
        (void)pOut;                                                                                             \
        return no_message_op(hSession, BYTES_OK(pParameter, ulParameterLen) &&                                  \
                                           BYTES_OK(pAssociatedData, ulAssociatedDataLen) &&                    \
                                           BYTES_OK(pIn, ulInLen) && pulOutLen);                                \
    }                                                                                                           \
                                                                                                                \
    CK_RV C_##Verb##MessageBegin(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter, CK_ULONG ulParameterLen,    \
                                 CK_BYTE_PTR pAssociatedData, CK_ULONG ulAssociatedDataLen)                     \
    {                                                                                                           \
        return no_message_op(hSession, BYTES_OK(pParameter, ulParameterLen) &&                                  \
                                           BYTES_OK(pAssociatedData, ulAssociatedDataLen));                     \
    }                                                                                                           \
                                                                                                                \
    CK_RV C_##Verb##MessageNext(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter, CK_ULONG ulParameterLen,     \
                                CK_BYTE_PTR pInPart, CK_ULONG ulInPartLen, CK_BYTE_PTR pOutPart,                \
                                CK_ULONG_PTR pulOutPartLen, CK_FLAGS flags)                                     \
    {                                                                                                           \
        (void)pOutPart;                                                                                         \
        (void)flags;                                                                                            \
        return no_message_op(hSession, BYTES_OK(pParameter, ulParameterLen) &&                                  \
                                           BYTES_OK(pInPart, ulInPartLen) && pulOutPartLen);                    \
    }                                                                                                           \
                                                                                                                \
    MESSAGE_FINAL(Verb)

MESSAGE_CRYPT(Encrypt)
MESSAGE_CRYPT(Decrypt)

/* Message signing and verification: C_<Verb>MessageBegin and C_Message<Verb>Final. */
#define MESSAGE_SIGN(Verb)                                                                                      \
    CK_RV C_##Verb##MessageBegin(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter, CK_ULONG ulParameterLen)    \
    {                                                                                                           \
        return no_message_op(hSession, BYTES_OK(pParameter, ulParameterLen));                                   \
    }                                                                                                           \
                                                                                                                \
    MESSAGE_FINAL(Verb)

MESSAGE_SIGN(Sign)
MESSAGE_SIGN(Verify)

CK_RV C_SignMessage(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter, CK_ULONG ulParameterLen, CK_BYTE_PTR pData,
                    CK_ULONG ulDataLen, CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen)
{
    (void)pSignature;
    return no_message_op(hSession,
                         BYTES_OK(pParameter, ulParameterLen) && BYTES_OK(pData, ulDataLen) && pulSignatureLen);
}

CK_RV C_SignMessageNext(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter, CK_ULONG ulParameterLen,
                        CK_BYTE_PTR pData, CK_ULONG ulDataLen, CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen)
{
    (void)pSignature;
    (void)pulSignatureLen; /* NULL when this is not the last part */
    return no_message_op(hSession, BYTES_OK(pParameter, ulParameterLen) && BYTES_OK(pData, ulDataLen));
}

/* C_VerifyMessage and C_VerifyMessageNext: the same arguments, the same checks. */
static CK_RV verify_message(CK_SESSION_HANDLE h, CK_VOID_PTR pParameter, CK_ULONG ulParameterLen, CK_BYTE_PTR pData,
                            CK_ULONG ulDataLen, CK_BYTE_PTR pSignature, CK_ULONG ulSignatureLen)
{
    return no_message_op(h, BYTES_OK(pParameter, ulParameterLen) && BYTES_OK(pData, ulDataLen) &&
                                BYTES_OK(pSignature, ulSignatureLen));
}

CK_RV C_VerifyMessage(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter, CK_ULONG ulParameterLen,
                      CK_BYTE_PTR pData, CK_ULONG ulDataLen, CK_BYTE_PTR pSignature, CK_ULONG ulSignatureLen)
{
    return verify_message(hSession, pParameter, ulParameterLen, pData, ulDataLen, pSignature, ulSignatureLen);
}

CK_RV C_VerifyMessageNext(CK_SESSION_HANDLE hSession, CK_VOID_PTR pParameter, CK_ULONG ulParameterLen,
                          CK_BYTE_PTR pData, CK_ULONG ulDataLen, CK_BYTE_PTR pSignature, CK_ULONG ulSignatureLen)
{
    return verify_message(hSession, pParameter, ulParameterLen, pData, ulDataLen, pSignature, ulSignatureLen);
}

/* ---- PKCS #11 3.2 ---- */

CK_RV C_EncapsulateKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hPublicKey,
                       CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulAttributeCount, CK_BYTE_PTR pCiphertext,
                       CK_ULONG_PTR pulCiphertextLen, CK_OBJECT_HANDLE_PTR phKey)
{
    CHECK_INIT();
    if (!pMechanism || !pulCiphertextLen || !phKey)
        return CKR_ARGUMENTS_BAD;
    struct kw_msg m;
    kw_msg_init(&m, KW_CALL_EncapsulateKey);
    kw_enc_u(&m.req, hSession);
    CK_RV rv = kw_arg_mech(&m.req, pMechanism);
    kw_enc_u(&m.req, hPublicKey);
    if (rv == CKR_OK)
        rv = kw_arg_template(&m.req, pTemplate, ulAttributeCount);
    /* The length convention on the ciphertext: a NULL pCiphertext (or a short buffer) asks for the length
     * and creates no key, and *phKey is left alone. */
    if (rv == CKR_OK)
        rv = kw_run_out(&m, pCiphertext, pulCiphertextLen, S);
    if (rv == CKR_OK || rv == CKR_BUFFER_TOO_SMALL) {
        CK_OBJECT_HANDLE h = kw_dec_handle(&m.body);
        if (m.body.err)
            rv = CKR_DEVICE_ERROR;
        else if (rv == CKR_OK && pCiphertext)
            *phKey = h;
        else if (h != 0)
            rv = CKR_DEVICE_ERROR; /* the daemon made a key without handing out its ciphertext */
    }
    kw_msg_free(&m);
    return rv;
}

/* 3.2 order: the template comes before the ciphertext. */
CK_RV C_DecapsulateKey(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hPrivateKey,
                       CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulAttributeCount, CK_BYTE_PTR pCiphertext,
                       CK_ULONG ulCiphertextLen, CK_OBJECT_HANDLE_PTR phKey)
{
    CHECK_INIT();
    if (!pMechanism || !phKey)
        return CKR_ARGUMENTS_BAD;
    struct kw_msg m;
    kw_msg_init(&m, KW_CALL_DecapsulateKey);
    m.too_big = CKR_WRAPPED_KEY_LEN_RANGE; /* as the daemon answers for a ciphertext of the wrong length */
    kw_enc_u(&m.req, hSession);
    CK_RV rv = kw_arg_mech(&m.req, pMechanism);
    kw_enc_u(&m.req, hPrivateKey);
    if (rv == CKR_OK)
        rv = kw_arg_template(&m.req, pTemplate, ulAttributeCount);
    if (rv == CKR_OK)
        rv = kw_arg_data(&m.req, pCiphertext, ulCiphertextLen);
    if (rv == CKR_DATA_LEN_RANGE)
        rv = CKR_WRAPPED_KEY_LEN_RANGE;
    if (rv != CKR_OK) {
        kw_msg_free(&m);
        return rv;
    }
    return run_handle(&m, phKey, S);
}

CK_RV C_VerifySignatureInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey,
                            CK_BYTE_PTR pSignature, CK_ULONG ulSignatureLen)
{
    CHECK_INIT();
    struct kw_msg m;
    kw_msg_init(&m, KW_CALL_VerifySignatureInit);
    m.too_big = CKR_SIGNATURE_LEN_RANGE;
    kw_enc_u(&m.req, hSession);
    CK_RV rv = kw_arg_mech(&m.req, pMechanism); /* a NULL mechanism cancels, as for the other *Init */
    kw_enc_u(&m.req, pMechanism ? hKey : 0);
    if (rv == CKR_OK)
        rv = kw_arg_data(&m.req, pSignature, ulSignatureLen);
    if (rv == CKR_DATA_LEN_RANGE)
        rv = CKR_SIGNATURE_LEN_RANGE;
    if (rv == CKR_OK)
        rv = kw_msg_run(&m, S);
    kw_msg_free(&m);
    return rv;
}

CK_RV C_VerifySignature(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen)
{
    CHECK_INIT();
    if (!pData && ulDataLen > 0)
        return kw_op_fail(hSession, OP_VERIFY_SIGNATURE, CKR_ARGUMENTS_BAD);
    struct kw_msg m;
    kw_msg_init(&m, KW_CALL_VerifySignature);
    m.too_big = CKR_DATA_LEN_RANGE;
    CK_RV rv = kw_arg_data_ok(&m.req, pData, ulDataLen);
    if (rv == CKR_OK) {
        kw_req_VerifySignature(&m.req, hSession, pData, ulDataLen);
        rv = kw_msg_run(&m, S);
    }
    kw_msg_free(&m);
    return rv;
}

CK_RV C_VerifySignatureUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen)
{
    return op_update_noout(hSession, OP_VERIFY_SIGNATURE, pPart, ulPartLen);
}

CK_RV C_VerifySignatureFinal(CK_SESSION_HANDLE hSession)
{
    CHECK_INIT();
    struct kw_msg m;
    kw_msg_init(&m, KW_CALL_OperationFinal);
    kw_req_OperationFinal(&m.req, hSession, OP_VERIFY_SIGNATURE, 0, 0); /* no output: the result is the rv */
    CK_RV rv = kw_msg_run(&m, S);
    kw_msg_free(&m);
    return rv;
}

CK_RV C_GetSessionValidationFlags(CK_SESSION_HANDLE hSession, CK_SESSION_VALIDATION_FLAGS_TYPE type,
                                  CK_FLAGS_PTR pFlags)
{
    CHECK_INIT();
    if (!pFlags)
        return CKR_ARGUMENTS_BAD;
    struct kw_msg m;
    kw_msg_init(&m, KW_CALL_GetSessionValidationFlags);
    kw_req_GetSessionValidationFlags(&m.req, hSession, type);
    return run_handle(&m, pFlags, S);
}

/* Asynchronous operation is optional in 3.2 and Keyward has none: no function returns CKR_PENDING, so these are
 * stubs of unsupported functions (CKR_FUNCTION_NOT_SUPPORTED, the base specification's answer for a function a
 * library does not support). The 3.2 text names CKR_SESSION_ASYNC_NOT_SUPPORTED for the other half: a
 * C_OpenSession with CKF_ASYNC_SESSION on a token without asynchronous operations (the daemon's to answer). */
#define KW_ASYNC_RV CKR_FUNCTION_NOT_SUPPORTED

CK_RV C_AsyncComplete(CK_SESSION_HANDLE hSession, CK_UTF8CHAR_PTR pFunctionName, CK_ASYNC_DATA_PTR pResult)
{
    (void)hSession;
    CHECK_INIT();
    if (!pFunctionName || !pResult)
        return CKR_ARGUMENTS_BAD;
    return KW_ASYNC_RV;
}

CK_RV C_AsyncGetID(CK_SESSION_HANDLE hSession, CK_UTF8CHAR_PTR pFunctionName, CK_ULONG_PTR pulID)
{
    (void)hSession;
    CHECK_INIT();
    if (!pFunctionName || !pulID)
        return CKR_ARGUMENTS_BAD;
    return KW_ASYNC_RV;
}

CK_RV C_AsyncJoin(CK_SESSION_HANDLE hSession, CK_UTF8CHAR_PTR pFunctionName, CK_ULONG ulID, CK_BYTE_PTR pData,
                  CK_ULONG ulData)
{
    (void)hSession;
    (void)ulID;
    CHECK_INIT();
    if (!pFunctionName || (!pData && ulData > 0))
        return CKR_ARGUMENTS_BAD;
    return KW_ASYNC_RV;
}

/* No authenticated-wrap mechanism exists yet: after the argument checks and the session, every mechanism is
 * invalid here. */
CK_RV C_WrapKeyAuthenticated(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hWrappingKey,
                             CK_OBJECT_HANDLE hKey, CK_BYTE_PTR pAssociatedData, CK_ULONG ulAssociatedDataLen,
                             CK_BYTE_PTR pWrappedKey, CK_ULONG_PTR pulWrappedKeyLen)
{
    (void)hWrappingKey;
    (void)hKey;
    (void)pWrappedKey;
    CHECK_INIT();
    if (!pMechanism || !pulWrappedKeyLen || !BYTES_OK(pAssociatedData, ulAssociatedDataLen))
        return CKR_ARGUMENTS_BAD;
    CK_RV rv = session_ok(hSession);
    return rv == CKR_OK ? CKR_MECHANISM_INVALID : rv;
}

CK_RV C_UnwrapKeyAuthenticated(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                               CK_OBJECT_HANDLE hUnwrappingKey, CK_BYTE_PTR pWrappedKey, CK_ULONG ulWrappedKeyLen,
                               CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulAttributeCount, CK_BYTE_PTR pAssociatedData,
                               CK_ULONG ulAssociatedDataLen, CK_OBJECT_HANDLE_PTR phKey)
{
    (void)hUnwrappingKey;
    CHECK_INIT();
    if (!pMechanism || !phKey || !BYTES_OK(pWrappedKey, ulWrappedKeyLen) || !BYTES_OK(pTemplate, ulAttributeCount) ||
        !BYTES_OK(pAssociatedData, ulAssociatedDataLen))
        return CKR_ARGUMENTS_BAD;
    CK_RV rv = session_ok(hSession);
    return rv == CKR_OK ? CKR_MECHANISM_INVALID : rv;
}

/* ---- function lists and interfaces ---- */

/* Every function of CK_FUNCTION_LIST except C_GetInfo (each list has its own). */
#define KW_FUNCTIONS_2_40(X)                                                                                   \
    X(Initialize) X(Finalize) X(GetFunctionList) X(GetSlotList) X(GetSlotInfo) X(GetTokenInfo)                 \
    X(GetMechanismList) X(GetMechanismInfo) X(InitToken) X(InitPIN) X(SetPIN) X(OpenSession) X(CloseSession)   \
    X(CloseAllSessions) X(GetSessionInfo) X(GetOperationState) X(SetOperationState) X(Login) X(Logout)         \
    X(CreateObject) X(CopyObject) X(DestroyObject) X(GetObjectSize) X(GetAttributeValue) X(SetAttributeValue)  \
    X(FindObjectsInit) X(FindObjects) X(FindObjectsFinal) X(EncryptInit) X(Encrypt) X(EncryptUpdate)           \
    X(EncryptFinal) X(DecryptInit) X(Decrypt) X(DecryptUpdate) X(DecryptFinal) X(DigestInit) X(Digest)         \
    X(DigestUpdate) X(DigestKey) X(DigestFinal) X(SignInit) X(Sign) X(SignUpdate) X(SignFinal)                 \
    X(SignRecoverInit) X(SignRecover) X(VerifyInit) X(Verify) X(VerifyUpdate) X(VerifyFinal)                   \
    X(VerifyRecoverInit) X(VerifyRecover) X(DigestEncryptUpdate) X(DecryptDigestUpdate) X(SignEncryptUpdate)   \
    X(DecryptVerifyUpdate) X(GenerateKey) X(GenerateKeyPair) X(WrapKey) X(UnwrapKey) X(DeriveKey)              \
    X(SeedRandom) X(GenerateRandom) X(GetFunctionStatus) X(CancelFunction) X(WaitForSlotEvent)

#define KW_FUNCTIONS_3_0(X)                                                                                    \
    X(GetInterfaceList) X(GetInterface) X(LoginUser) X(SessionCancel) X(MessageEncryptInit) X(EncryptMessage)  \
    X(EncryptMessageBegin) X(EncryptMessageNext) X(MessageEncryptFinal) X(MessageDecryptInit)                  \
    X(DecryptMessage) X(DecryptMessageBegin) X(DecryptMessageNext) X(MessageDecryptFinal) X(MessageSignInit)   \
    X(SignMessage) X(SignMessageBegin) X(SignMessageNext) X(MessageSignFinal) X(MessageVerifyInit)             \
    X(VerifyMessage) X(VerifyMessageBegin) X(VerifyMessageNext) X(MessageVerifyFinal)

#define KW_FUNCTIONS_3_2(X)                                                                                    \
    X(EncapsulateKey) X(DecapsulateKey) X(VerifySignatureInit) X(VerifySignature) X(VerifySignatureUpdate)     \
    X(VerifySignatureFinal) X(GetSessionValidationFlags) X(AsyncComplete) X(AsyncGetID) X(AsyncJoin)           \
    X(WrapKeyAuthenticated) X(UnwrapKeyAuthenticated)

#define KW_SET(name) .C_##name = C_##name,

static CK_FUNCTION_LIST kw_list_2_40 = {
    .version = {2, 40},
    .C_GetInfo = C_GetInfo,
    KW_FUNCTIONS_2_40(KW_SET)
};

static CK_FUNCTION_LIST_3_0 kw_list_3_0 = {
    .version = {3, 0},
    .C_GetInfo = kw_GetInfo_3_0,
    KW_FUNCTIONS_2_40(KW_SET)
    KW_FUNCTIONS_3_0(KW_SET)
};

static CK_FUNCTION_LIST_3_2 kw_list_3_2 = {
    .version = {3, 2},
    .C_GetInfo = kw_GetInfo_3_2,
    KW_FUNCTIONS_2_40(KW_SET)
    KW_FUNCTIONS_3_0(KW_SET)
    KW_FUNCTIONS_3_2(KW_SET)
};

/* Each list extends the previous one: the same members at the same offsets, new ones at the end
 * (68 functions in 2.40, 24 more in 3.0, 12 more in 3.2). */
#define KW_FN_OFF(T, f) offsetof(T, f)
_Static_assert(sizeof(CK_FUNCTION_LIST) == KW_FN_OFF(CK_FUNCTION_LIST, C_Initialize) + 68 * sizeof(void *),
               "CK_FUNCTION_LIST has 68 functions");
_Static_assert(sizeof(CK_FUNCTION_LIST_3_0) == sizeof(CK_FUNCTION_LIST) + 24 * sizeof(void *),
               "CK_FUNCTION_LIST_3_0 adds 24 functions");
_Static_assert(sizeof(CK_FUNCTION_LIST_3_2) == sizeof(CK_FUNCTION_LIST_3_0) + 12 * sizeof(void *),
               "CK_FUNCTION_LIST_3_2 adds 12 functions");
_Static_assert(KW_FN_OFF(CK_FUNCTION_LIST_3_0, C_WaitForSlotEvent) == KW_FN_OFF(CK_FUNCTION_LIST, C_WaitForSlotEvent),
               "3.0 starts with the 2.40 list");
_Static_assert(KW_FN_OFF(CK_FUNCTION_LIST_3_2, C_MessageVerifyFinal) ==
                   KW_FN_OFF(CK_FUNCTION_LIST_3_0, C_MessageVerifyFinal),
               "3.2 starts with the 3.0 list");
_Static_assert(KW_FN_OFF(CK_FUNCTION_LIST_3_2, C_EncapsulateKey) == sizeof(CK_FUNCTION_LIST_3_0) &&
                   KW_FN_OFF(CK_FUNCTION_LIST_3_2, C_UnwrapKeyAuthenticated) ==
                       sizeof(CK_FUNCTION_LIST_3_2) - sizeof(void *),
               "the 3.2 functions follow the 3.0 list, C_UnwrapKeyAuthenticated last");

static CK_CHAR kw_interface_name[] = "PKCS 11";

static CK_INTERFACE kw_interfaces[] = {
    {kw_interface_name, &kw_list_3_2, 0}, /* the default */
    {kw_interface_name, &kw_list_3_0, 0},
    {kw_interface_name, &kw_list_2_40, 0},
};

#define KW_NINTERFACES (sizeof kw_interfaces / sizeof kw_interfaces[0])

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR ppFunctionList)
{
    if (!ppFunctionList)
        return CKR_ARGUMENTS_BAD;
    *ppFunctionList = &kw_list_2_40;
    return CKR_OK;
}

CK_RV C_GetInterfaceList(CK_INTERFACE_PTR pInterfacesList, CK_ULONG_PTR pulCount)
{
    if (!pulCount)
        return CKR_ARGUMENTS_BAD;
    if (!pInterfacesList) {
        *pulCount = KW_NINTERFACES;
        return CKR_OK;
    }
    if (*pulCount < KW_NINTERFACES) {
        *pulCount = KW_NINTERFACES;
        return CKR_BUFFER_TOO_SMALL;
    }
    memcpy(pInterfacesList, kw_interfaces, sizeof kw_interfaces);
    *pulCount = KW_NINTERFACES;
    return CKR_OK;
}

CK_RV C_GetInterface(CK_UTF8CHAR_PTR pInterfaceName, CK_VERSION_PTR pVersion, CK_INTERFACE_PTR_PTR ppInterface,
                     CK_FLAGS flags)
{
    if (!ppInterface)
        return CKR_ARGUMENTS_BAD;
    if (pInterfaceName && strcmp((const char *)pInterfaceName, (const char *)kw_interface_name) != 0)
        return CKR_ARGUMENTS_BAD;
    for (size_t i = 0; i < KW_NINTERFACES; i++) {
        const CK_VERSION *v = kw_interfaces[i].pFunctionList; /* every list starts with its version */
        if (pVersion && (pVersion->major != v->major || pVersion->minor != v->minor))
            continue;
        if ((kw_interfaces[i].flags & flags) != flags)
            continue;
        *ppInterface = &kw_interfaces[i];
        return CKR_OK;
    }
    return CKR_ARGUMENTS_BAD;
}
