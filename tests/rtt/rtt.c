/*
 * rtt.c - the bare round trip through the real libkeyward.so: C_GetSessionInfo (one request, one response,
 * nothing computed) in a loop, timed; and, for the floor, a 64-byte ping-pong with a forked C echo process
 * over a socketpair. Prints one line per round: the median of ROUNDS batches of N calls, in µs per call.
 *
 *   rtt MODULE [N [ROUNDS [THREADS]]]   (KEYWARD_SOCKET names the daemon, as for any application)
 *   rtt -floor [N [ROUNDS]]            (the socketpair ping-pong alone)
 *   rtt MODULE -idle SECONDS           (initialise, open a session, make one call, then sleep: for idle-CPU
 *                                       measurements of this process and the daemon; prints this pid)
 *
 * Not a test: it asserts nothing about time (docs/performance.md, "The round trip").
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "keyward/pkcs11.h"

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static CK_FUNCTION_LIST_PTR f;
static CK_SLOT_ID slot;
static long n_calls = 20000;

static void die(const char *what, CK_RV rv)
{
    fprintf(stderr, "rtt: %s: rv 0x%lx\n", what, (unsigned long)rv);
    exit(1);
}

static CK_SESSION_HANDLE open_session(void)
{
    CK_SESSION_HANDLE s;
    CK_RV rv = f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s);
    if (rv != CKR_OK)
        die("C_OpenSession", rv);
    return s;
}

static void *worker(void *arg)
{
    CK_SESSION_HANDLE s = open_session();
    CK_SESSION_INFO info;
    for (long i = 0; i < n_calls; i++) {
        CK_RV rv = f->C_GetSessionInfo(s, &info);
        if (rv != CKR_OK)
            die("C_GetSessionInfo", rv);
    }
    f->C_CloseSession(s);
    return arg;
}

static int floor_run(int rounds)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
        return 1;
    pid_t pid = fork();
    if (pid == 0) {
        close(sv[0]);
        char b[64];
        ssize_t r;
        while ((r = read(sv[1], b, sizeof b)) > 0)
            if (write(sv[1], b, (size_t)r) != r)
                break;
        _exit(0);
    }
    close(sv[1]);
    char b[64] = {0};
    double *med = calloc((size_t)rounds, sizeof *med);
    for (int k = 0; k < rounds; k++) {
        double t0 = now_us();
        for (long i = 0; i < n_calls; i++) {
            if (write(sv[0], b, sizeof b) != sizeof b)
                return 1;
            for (size_t got = 0; got < sizeof b;) {
                ssize_t r = read(sv[0], b + got, sizeof b - got);
                if (r <= 0)
                    return 1;
                got += (size_t)r;
            }
        }
        med[k] = (now_us() - t0) / n_calls;
    }
    close(sv[0]);
    waitpid(pid, NULL, 0);
    qsort(med, (size_t)rounds, sizeof *med, cmp_d);
    printf("floor socketpair ping-pong: median %.2f us (min %.2f max %.2f, %d rounds of %ld)\n", med[rounds / 2],
           med[0], med[rounds - 1], rounds, n_calls);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: rtt MODULE [N [ROUNDS [THREADS]]] | rtt -floor [N [ROUNDS]] | rtt MODULE -idle S\n");
        return 2;
    }
    if (strcmp(argv[1], "-floor") == 0) {
        if (argc > 2)
            n_calls = atol(argv[2]);
        return floor_run(argc > 3 ? atoi(argv[3]) : 5);
    }
    void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "rtt: %s\n", dlerror());
        return 1;
    }
    CK_C_GetFunctionList gfl = (CK_C_GetFunctionList)dlsym(h, "C_GetFunctionList");
    if (!gfl || gfl(&f) != CKR_OK)
        return 1;
    CK_RV rv = f->C_Initialize(NULL);
    if (rv != CKR_OK)
        die("C_Initialize", rv);
    CK_SLOT_ID slots[64];
    CK_ULONG n = 64;
    rv = f->C_GetSlotList(CK_FALSE, slots, &n);
    if (rv != CKR_OK || n < 1)
        die("C_GetSlotList", rv);
    slot = slots[0];
    CK_TOKEN_INFO ti;
    if ((rv = f->C_GetTokenInfo(slot, &ti)) != CKR_OK)
        die("C_GetTokenInfo", rv);
    if (!(ti.flags & CKF_TOKEN_INITIALIZED)) {
        CK_UTF8CHAR label[32];
        memset(label, ' ', sizeof label);
        memcpy(label, "rtt", 3);
        if ((rv = f->C_InitToken(slot, (CK_UTF8CHAR_PTR) "rtt-so-pin-0000", 15, label)) != CKR_OK)
            die("C_InitToken", rv);
    }
    if (argc > 3 && strcmp(argv[2], "-idle") == 0) {
        CK_SESSION_HANDLE s = open_session();
        CK_SESSION_INFO info;
        if ((rv = f->C_GetSessionInfo(s, &info)) != CKR_OK)
            die("C_GetSessionInfo", rv);
        printf("%d\n", (int)getpid());
        fflush(stdout);
        sleep((unsigned)atoi(argv[3]));
        f->C_Finalize(NULL);
        return 0;
    }
    if (argc > 2)
        n_calls = atol(argv[2]);
    int rounds = argc > 3 ? atoi(argv[3]) : 5;
    int threads = argc > 4 ? atoi(argv[4]) : 1;
    if (rounds < 1 || threads < 1 || threads > 64 || n_calls < 1)
        return 2;
    worker(NULL); /* warm up: connections, daemon goroutines */
    double *med = calloc((size_t)rounds, sizeof *med);
    for (int k = 0; k < rounds; k++) {
        pthread_t t[64];
        double t0 = now_us();
        for (int i = 0; i < threads; i++)
            pthread_create(&t[i], NULL, worker, NULL);
        for (int i = 0; i < threads; i++)
            pthread_join(t[i], NULL);
        med[k] = (now_us() - t0) / ((double)n_calls * threads);
    }
    qsort(med, (size_t)rounds, sizeof *med, cmp_d);
    printf("C_GetSessionInfo, %d thread(s): median %.2f us/call (min %.2f max %.2f, %d rounds of %ld per thread)\n",
           threads, med[rounds / 2], med[0], med[rounds - 1], rounds, n_calls);
    f->C_Finalize(NULL);
    return 0;
}
