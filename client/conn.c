/*
 * conn.c - connections to keywardd (docs/protocol.md, "Connection and application").
 *
 * State: one application per C_Initialize. Its connections are kept in a list (busy and idle); a call takes an
 * idle one or opens a new one that joins the application with its cookie, does one synchronous exchange, and
 * puts it back when the message is freed (the response lives in the connection's buffer until then). The lock is
 * never held during a round trip.
 *
 * Daemon death: an I/O failure (EOF, EPIPE, reset, timeout) on any connection marks the application dead: the
 * idle connections are closed, busy ones are closed when they come back (their generation is stale), and the
 * call that saw the failure returns CKR_DEVICE_REMOVED. The next call opens a new application (a new Hello
 * with an empty cookie); old session handles then get CKR_SESSION_HANDLE_INVALID from the daemon.
 *
 * Fork guard: the atfork child handler marks the state "forked"; every call in the child returns
 * CKR_CRYPTOKI_NOT_INITIALIZED until the child's C_Initialize, which closes the inherited descriptors without
 * sending anything on them.
 */
#include "compat.h"
#include "conn.h"
#include "ring.h"
#include "sess.h"
#include "trust.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KW_MAX_IDLE 16
#define KW_SNDBUF (4 << 20)   /* SO_SNDBUF asked for (docs/performance.md) */
#define KW_MAX_CONNS 64       /* connections per application (KEYWARD_MAX_CONNECTIONS, 1..1024): callers beyond wait */
#define KW_WAIT_MIN_US 20     /* a caller waiting (for a connection, kw_wait) polls from this ... */
#define KW_WAIT_MAX_US 1000   /* ... doubling up to this */
#define KW_AUTOSTART_WAIT_MS 5000
#define KW_DEFAULT_TIMEOUT_MS 120000
#define KW_SYSTEM_SOCKET "/run/keyward/keyward.sock"

enum { KW_UNINIT = 0, KW_LIVE = 1, KW_FORKED = 2 };
enum { KW_IO_OK = 0, KW_IO_FAIL = -1, KW_IO_PROTO = -2, KW_IO_REFUSED = -3, KW_IO_LOCAL = -4, KW_IO_BUSY = -5 };

struct kw_conn {
    int fd;
    int idle;
    uint32_t next_id;
    uint64_t gen;
    struct kw_conn *next;
    uint8_t *buf;   /* the response buffer: [0, used) holds the frame being received or the last response */
    size_t cap, used;
    int64_t snd_us, rcv_us; /* SO_SNDTIMEO and SO_RCVTIMEO in force (0: not set yet) */
    struct kw_ring ring;    /* the shared-memory transport, when the daemon gave one (RingSetup) */
};

/* The connection state. */
static struct {
    _Atomic int state;
    pid_t pid;
    int use_app_locks;
    CK_C_INITIALIZE_ARGS cb;
    void *app_mutex;
    pthread_mutex_t pm;
    struct kw_conn *conns;
    int nidle;
    uint64_t gen;
    int dead;
    uint8_t cookie[KW_COOKIE_SIZE];
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    int autostart;
    int pass_socket;
    int private_dir; /* the path is the user-mode default: its directory must be ours and private (trust.c) */
    int timeout_ms;
    int max_conns; /* the pool's size: KEYWARD_MAX_CONNECTIONS, lowered when the daemon refuses one more */
    int opening;   /* connections being opened (counted against max_conns) */
    uint64_t features, features_gen; /* the daemon's Features bits, and the generation they were asked in */
    int trace_fd;                    /* KEYWARD_TRACE: a line per round trip (kw_trace), or -1 */
    int ring;      /* use the daemon's shared-memory transport when it offers one (KEYWARD_RING, default 1) */
    int64_t ring_spin_ns; /* a ring wait spins at most this long (KEYWARD_RING_SPIN_US, 0..1000) */
} g = {.pm = PTHREAD_MUTEX_INITIALIZER, .trace_fd = -1};

/* The fork guard: serialises C_Initialize/C_Finalize; reinitialised in a forked child. */
static pthread_mutex_t g_init = PTHREAD_MUTEX_INITIALIZER;
static int g_once;
static int g_fork_locked;

/* ---- diagnostics ---- */

int kw_debug(void)
{
    const char *v = kw_getenv("KEYWARD_DEBUG");
    return v && *v && strcmp(v, "0") != 0;
}

static void kw_log(const char *what, const char *detail)
{
    if (kw_debug())
        fprintf(stderr, "keyward: %s: %s\n", what, detail);
}

/* ---- locks ---- */

void kw_lock(void)
{
    if (g.use_app_locks)
        g.cb.LockMutex(g.app_mutex);
    else
        pthread_mutex_lock(&g.pm);
}

void kw_unlock(void)
{
    if (g.use_app_locks)
        g.cb.UnlockMutex(g.app_mutex);
    else
        pthread_mutex_unlock(&g.pm);
}

uint64_t kw_gen(void)
{
    return g.gen;
}

static void kw_atfork_prepare(void)
{
    g_fork_locked = atomic_load(&g.state) == KW_LIVE;
    if (g_fork_locked)
        kw_lock();
}

static void kw_atfork_parent(void)
{
    if (g_fork_locked)
        kw_unlock();
    g_fork_locked = 0;
}

static void kw_atfork_child(void)
{
    pthread_mutex_init(&g.pm, NULL);
    pthread_mutex_init(&g_init, NULL);
    /* The application's mutex (if any) belongs to the parent: it is abandoned, never used again. */
    g.use_app_locks = 0;
    g_fork_locked = 0;
    if (atomic_load(&g.state) == KW_LIVE)
        atomic_store(&g.state, KW_FORKED);
}

static void kw_register_atfork(void)
{
    pthread_atfork(kw_atfork_prepare, kw_atfork_parent, kw_atfork_child);
}

/* The fork guard without a getpid() per check: a page that the kernel zeroes in a forked child
 * (MADV_WIPEONFORK, Linux 4.14), so a child is seen even when it was made without the atfork handlers (a raw
 * fork or clone, _Fork). Its first byte is 1 in the process that called C_Initialize. Without it (an older
 * kernel), the pid is compared. Set up once, under g_init, before the state becomes live. */
#ifndef MADV_WIPEONFORK
#define MADV_WIPEONFORK 18
#endif
static volatile uint8_t *g_forkpage;

static void kw_forkpage_setup(void)
{
    if (g_forkpage)
        return;
    long ps = sysconf(_SC_PAGESIZE);
    size_t n = ps > 0 ? (size_t)ps : 4096;
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return;
    if (madvise(p, n, MADV_WIPEONFORK) < 0) {
        munmap(p, n);
        return;
    }
    g_forkpage = p;
}

CK_RV kw_check(void)
{
    if (atomic_load(&g.state) != KW_LIVE)
        return CKR_CRYPTOKI_NOT_INITIALIZED;
    if (g_forkpage ? g_forkpage[0] != 1 : g.pid != getpid())
        return CKR_CRYPTOKI_NOT_INITIALIZED;
    return CKR_OK;
}

static int kw_live(void)
{
    return kw_check() == CKR_OK;
}

/* ---- I/O with deadlines ----
 *
 * The socket is blocking; SO_SNDTIMEO and SO_RCVTIMEO bound each send and recv. A round trip has a deadline
 * (now + KEYWARD_TIMEOUT_MS): both timeouts are the full timeout at its start, and before every send or recv the
 * timeout in force is lowered to what is left when it exceeds that by more than KW_TIMEO_SLACK_US (a retry after
 * EINTR, a partial send, a frame arriving in pieces), so a dead or stuck daemon fails the call by the deadline.
 * The common round trip is one send and one recv, with no setsockopt (a connection whose timeouts were lowered
 * has them raised again by its next round trip).
 *
 * The response is received into the connection's buffer (grown when a frame does not fit, trimmed back when it
 * grew large); it stays there until kw_msg_free, which zeroes it and returns the connection to the pool. Only
 * [0, used) of the buffer ever holds data. */

#define KW_BUF_INIT 4096u           /* a connection's first buffer: most frames fit */
#define KW_BUF_KEEP (64u << 10)     /* a larger buffer is freed after the exchange */
#define KW_TIMEO_SLACK_US 1000      /* how far a socket timeout may overrun the deadline (the old ms granularity) */

static int64_t kw_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t kw_now_ms(void)
{
    return kw_now_us() / 1000;
}

static int kw_set_timeo(int fd, int opt, int64_t us)
{
    struct timeval tv = {.tv_sec = (time_t)(us / 1000000), .tv_usec = (suseconds_t)(us % 1000000)};
    return setsockopt(fd, SOL_SOCKET, opt, &tv, sizeof tv);
}

/* Before a send (SO_SNDTIMEO) or recv (SO_RCVTIMEO): fail with ETIMEDOUT past the deadline, else make the
 * timeout in force (*cur) end no later than the deadline (within the slack). Never sets 0 (no timeout). */
static int kw_fit_timeo(int fd, int opt, int64_t *cur, int64_t deadline)
{
    int64_t left = deadline - kw_now_us();
    if (left <= 0) {
        errno = ETIMEDOUT;
        return -1;
    }
    if (*cur <= 0 || *cur > left + KW_TIMEO_SLACK_US) {
        if (kw_set_timeo(fd, opt, left) < 0)
            return -1;
        *cur = left;
    }
    return 0;
}

static int kw_send_all(struct kw_conn *c, const uint8_t *p, size_t n, int64_t deadline)
{
    while (n > 0) {
        if (kw_fit_timeo(c->fd, SO_SNDTIMEO, &c->snd_us, deadline) < 0)
            return -1;
        ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
        } else if (w < 0 && errno == EINTR) {
            continue;
        } else {
            if (w == 0)
                errno = EPIPE;
            else if (errno == EAGAIN || errno == EWOULDBLOCK)
                errno = ETIMEDOUT; /* SO_SNDTIMEO expired */
            return -1;
        }
    }
    return 0;
}

/* One recv of up to n bytes into the connection's buffer (at least one byte, or -1). */
static int kw_recv_some(struct kw_conn *c, size_t n, int64_t deadline)
{
    for (;;) {
        if (kw_fit_timeo(c->fd, SO_RCVTIMEO, &c->rcv_us, deadline) < 0)
            return -1;
        ssize_t r = recv(c->fd, c->buf + c->used, n, 0);
        if (r > 0) {
            c->used += (size_t)r;
            return 0;
        }
        if (r == 0) {
            errno = ECONNRESET; /* EOF: the daemon is gone */
            return -1;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            errno = ETIMEDOUT; /* SO_RCVTIMEO expired */
        return -1;
    }
}

/* Make the buffer hold at least need bytes, keeping its data. */
static int kw_conn_reserve(struct kw_conn *c, size_t need)
{
    if (c->cap >= need)
        return 0;
    size_t cap = c->cap ? c->cap * 2 : KW_BUF_INIT;
    if (cap > KW_BUF_KEEP)
        cap = KW_BUF_KEEP;
    if (cap < need)
        cap = need;
    uint8_t *p = malloc(cap);
    if (!p)
        return -1;
    if (c->buf) {
        memcpy(p, c->buf, c->used);
        explicit_bzero(c->buf, c->used);
        free(c->buf);
    }
    c->buf = p;
    c->cap = cap;
    return 0;
}

/* Zero the response held in the buffer; free the buffer when it grew large. */
static void kw_conn_clear(struct kw_conn *c)
{
    if (c->buf) {
        explicit_bzero(c->buf, c->used);
        if (c->cap > KW_BUF_KEEP) {
            free(c->buf);
            c->buf = NULL;
            c->cap = 0;
        }
    }
    c->used = 0;
}

static void kw_conn_free(struct kw_conn *c)
{
    kw_ring_unmap(&c->ring); /* only this process's mapping: a forked child never writes to it */
    close(c->fd);
    kw_conn_clear(c);
    free(c->buf);
    free(c);
}

static int kw_recv_frame(struct kw_conn *c, int64_t deadline, uint8_t **resp, size_t *resp_len);
static int kw_ring_roundtrip(struct kw_conn *c, const struct kw_buf *req, int64_t deadline, uint8_t **resp,
                             size_t *resp_len);

/* Send a finished request frame (one send) and read the response frame into the connection's buffer (usually
 * one recv); *resp is the frame after its length field, valid until the buffer is cleared. */
static int kw_roundtrip(struct kw_conn *c, const struct kw_buf *req, uint8_t **resp, size_t *resp_len)
{
    *resp = NULL;
    *resp_len = 0;
    kw_conn_clear(c);
    if (kw_conn_reserve(c, KW_BUF_INIT) < 0)
        return KW_IO_PROTO; /* out of memory, nothing sent */
    int64_t full = (int64_t)g.timeout_ms * 1000;
    int64_t deadline = kw_now_us() + full;
    if (c->ring.mem && req->len <= c->ring.area)
        return kw_ring_roundtrip(c, req, deadline, resp, resp_len);
    if (c->snd_us != full) {
        if (kw_set_timeo(c->fd, SO_SNDTIMEO, full) < 0)
            return KW_IO_FAIL;
        c->snd_us = full;
    }
    if (c->rcv_us != full) {
        if (kw_set_timeo(c->fd, SO_RCVTIMEO, full) < 0)
            return KW_IO_FAIL;
        c->rcv_us = full;
    }
    if (kw_send_all(c, req->p, req->len, deadline) < 0)
        return KW_IO_FAIL;
    return kw_recv_frame(c, deadline, resp, resp_len);
}

/* Read one response frame from the socket into the connection's buffer (usually one recv). */
static int kw_recv_frame(struct kw_conn *c, int64_t deadline, uint8_t **resp, size_t *resp_len)
{
    if (c->rcv_us != (int64_t)g.timeout_ms * 1000) {
        /* (a ring round trip whose response came through the socket: the socket's timeouts may be stale) */
        if (kw_set_timeo(c->fd, SO_RCVTIMEO, (int64_t)g.timeout_ms * 1000) < 0)
            return KW_IO_FAIL;
        c->rcv_us = (int64_t)g.timeout_ms * 1000;
    }
    while (c->used < 4)
        if (kw_recv_some(c, c->cap - c->used, deadline) < 0)
            return KW_IO_FAIL;
    uint32_t n = kw_get_u32(c->buf);
    if (n > KW_MAX_FRAME || n < KW_RESP_HEADER)
        return KW_IO_PROTO;
    size_t total = 4 + (size_t)n;
    if (c->used > total)
        return KW_IO_PROTO; /* bytes after the frame: an answer to nothing that was asked */
    if (kw_conn_reserve(c, total) < 0)
        return KW_IO_PROTO;
    while (c->used < total)
        if (kw_recv_some(c, total - c->used, deadline) < 0)
            return KW_IO_FAIL;
    *resp = c->buf + 4;
    *resp_len = n;
    return KW_IO_OK;
}

/* A round trip through the ring (the request fits in its area): the response comes back in the ring, or, when
 * it is too large, through the socket. The ring's response area is copied into the connection's buffer and
 * zeroed, so that the response lives where a socket response would (and a forked child never touches the
 * ring). */
static int kw_ring_roundtrip(struct kw_conn *c, const struct kw_buf *req, int64_t deadline, uint8_t **resp,
                             size_t *resp_len)
{
    kw_ring_post(&c->ring, req->p, req->len);
    int64_t n = kw_ring_wait(&c->ring, c->fd, deadline);
    if (n < 0)
        return KW_IO_FAIL;
    if (n == KW_RING_ON_SOCKET)
        return kw_recv_frame(c, deadline, resp, resp_len);
    if (n < 4 + KW_RESP_HEADER || (uint64_t)n > c->ring.area || kw_conn_reserve(c, (size_t)n) < 0)
        return KW_IO_PROTO;
    uint8_t *area = kw_ring_response(&c->ring);
    memcpy(c->buf, area, (size_t)n);
    explicit_bzero(area, (size_t)n);
    c->used = (size_t)n;
    if (4 + (size_t)kw_get_u32(c->buf) != c->used)
        return KW_IO_PROTO;
    *resp = c->buf + 4;
    *resp_len = c->used - 4;
    return KW_IO_OK;
}

/* RingSetup on a connection that said Hello: the daemon answers with the area size and the ring's memfd
 * (SCM_RIGHTS). Any failure leaves the connection on the socket, except an I/O failure (KW_IO_FAIL). */
static int kw_ring_setup(struct kw_conn *c)
{
    struct kw_buf b = {0};
    kw_req_begin(&b);
    uint32_t id = c->next_id++;
    kw_req_finish(&b, id, KW_CALL_RingSetup);
    int64_t deadline = kw_now_us() + (int64_t)g.timeout_ms * 1000;
    int r = b.oom ? KW_IO_PROTO : kw_send_all(c, b.p, b.len, deadline) < 0 ? KW_IO_FAIL : KW_IO_OK;
    kw_buf_free(&b);
    if (r != KW_IO_OK)
        return r;
    kw_conn_clear(c);
    if (kw_conn_reserve(c, KW_BUF_INIT) < 0)
        return KW_IO_FAIL; /* sent, and the answer cannot be read: this connection is of no use */
    /* The first recvmsg takes the descriptor (it travels with the frame's first byte). */
    int fd = -1;
    union {
        struct cmsghdr h;
        char b[CMSG_SPACE(sizeof(int))];
    } ctl;
    struct iovec iov = {.iov_base = c->buf, .iov_len = c->cap};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b, .msg_controllen = sizeof ctl.b};
    if (kw_fit_timeo(c->fd, SO_RCVTIMEO, &c->rcv_us, deadline) < 0)
        return KW_IO_FAIL;
    ssize_t got;
    do
        got = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC);
    while (got < 0 && errno == EINTR);
    if (got <= 0)
        return KW_IO_FAIL;
    c->used = (size_t)got;
    for (struct cmsghdr *h = CMSG_FIRSTHDR(&mh); h; h = CMSG_NXTHDR(&mh, h)) {
        if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS && h->cmsg_len >= CMSG_LEN(sizeof(int))) {
            size_t nfd = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t i = 0; i < nfd; i++) {
                int x;
                memcpy(&x, CMSG_DATA(h) + i * sizeof(int), sizeof x);
                if (fd < 0)
                    fd = x;
                else
                    close(x);
            }
        }
    }
    uint8_t *resp;
    size_t n;
    r = kw_recv_frame(c, deadline, &resp, &n);
    uint32_t rid, rcall;
    uint64_t rv;
    const uint8_t *body;
    size_t blen;
    if (r == KW_IO_OK && (kw_resp_parse(resp, n, &rid, &rcall, &rv, &body, &blen) < 0 || rid != id ||
                          rcall != KW_CALL_RingSetup))
        r = KW_IO_FAIL; /* a frame that answers something else: the connection is out of step */
    if (r == KW_IO_OK && rv == CKR_OK && fd >= 0 &&
        kw_validate(body, blen, kw_call_lookup(KW_CALL_RingSetup)->resp) == 0) {
        struct kw_dec d;
        kw_dec_init(&d, body, blen);
        uint64_t area = kw_dec_u(&d);
        if (kw_ring_map(&c->ring, fd, area, g.ring_spin_ns) < 0)
            kw_log("shared-memory transport", "the daemon's ring is not usable; staying on the socket");
    }
    if (fd >= 0)
        close(fd);
    kw_conn_clear(c);
    return r == KW_IO_FAIL ? KW_IO_FAIL : KW_IO_OK;
}

/* The daemon's Features bits, asked on a fresh connection (not yet in the pool) unless this application
 * generation knows them; 0 when it cannot say. */
static uint64_t kw_conn_features(struct kw_conn *c)
{
    kw_lock();
    int known = g.features_gen == g.gen && atomic_load(&g.state) == KW_LIVE;
    uint64_t f = g.features;
    kw_unlock();
    if (known)
        return f;
    struct kw_buf b = {0};
    kw_req_begin(&b);
    uint32_t id = c->next_id++;
    kw_req_finish(&b, id, KW_CALL_Features);
    uint8_t *resp;
    size_t n;
    uint32_t rid, rcall;
    uint64_t rv;
    const uint8_t *body;
    size_t blen;
    f = 0;
    if (!b.oom && kw_roundtrip(c, &b, &resp, &n) == KW_IO_OK &&
        kw_resp_parse(resp, n, &rid, &rcall, &rv, &body, &blen) == 0 && rid == id && rcall == KW_CALL_Features &&
        rv == CKR_OK && kw_validate(body, blen, kw_call_lookup(KW_CALL_Features)->resp) == 0) {
        struct kw_dec d;
        kw_dec_init(&d, body, blen);
        f = kw_dec_u(&d);
    }
    kw_buf_free(&b);
    kw_conn_clear(c);
    return f;
}

/* Hello: create (cookie NULL) or join an application. */
static int kw_hello(struct kw_conn *c, const uint8_t *cookie, uint8_t out[KW_COOKIE_SIZE], char *why, size_t whylen)
{
    struct kw_buf b = {0};
    kw_req_begin(&b);
    kw_enc_u(&b, KW_VERSION);
    kw_enc_b(&b, cookie, cookie ? KW_COOKIE_SIZE : 0);
    uint32_t id = c->next_id++;
    kw_req_finish(&b, id, KW_CALL_Hello);
    if (b.oom) {
        kw_buf_free(&b);
        snprintf(why, whylen, "out of memory");
        return KW_IO_PROTO;
    }
    uint8_t *resp;
    size_t n;
    int r = kw_roundtrip(c, &b, &resp, &n);
    kw_buf_free(&b);
    if (r != KW_IO_OK) {
        snprintf(why, whylen, "%s", r == KW_IO_FAIL ? strerror(errno) : "malformed response to Hello");
        kw_conn_clear(c);
        return r;
    }
    uint32_t rid, rcall;
    uint64_t rv;
    const uint8_t *body;
    size_t blen;
    r = KW_IO_PROTO;
    snprintf(why, whylen, "malformed response to Hello");
    if (kw_resp_parse(resp, n, &rid, &rcall, &rv, &body, &blen) == 0 && rid == id && rcall == KW_CALL_Hello) {
        if (rv != CKR_OK) {
            snprintf(why, whylen, "Hello refused (CK_RV 0x%lx)", (unsigned long)rv);
            /* CKR_DEVICE_MEMORY: the application has as many connections as the daemon allows it. */
            r = rv == CKR_DEVICE_MEMORY && cookie ? KW_IO_BUSY : KW_IO_REFUSED;
        } else if (kw_validate(body, blen, kw_call_lookup(KW_CALL_Hello)->resp) == 0) {
            struct kw_dec d;
            uint32_t clen;
            kw_dec_init(&d, body, blen);
            uint64_t ver = kw_dec_u(&d);
            const uint8_t *ck = kw_dec_b(&d, &clen);
            if (ver != KW_VERSION) {
                snprintf(why, whylen, "daemon speaks protocol version %lu", (unsigned long)ver);
            } else if (clen == KW_COOKIE_SIZE && ck) {
                memcpy(out, ck, KW_COOKIE_SIZE);
                r = KW_IO_OK;
            }
        }
    }
    kw_conn_clear(c);
    return r;
}

/* ---- socket path, connect, autostart ---- */

static int kw_env_flag(const char *name)
{
    const char *v = kw_getenv(name);
    if (!v || !*v)
        return -1;
    return strcmp(v, "0") != 0;
}

/* KEYWARD_TRACE=FILE: append one line per round trip to FILE, the names of the calls its write carried
 * ("OperationEnd+OperationInitData"): how tests and users count what an application pattern costs. Call names
 * only, never data. Not for a privileged process (kw_getenv). */
static void kw_trace_open(void)
{
    if (g.trace_fd >= 0)
        close(g.trace_fd);
    g.trace_fd = -1;
    const char *p = kw_getenv("KEYWARD_TRACE");
    if (p && *p && !kw_privileged())
        g.trace_fd = open(p, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
}

static void kw_trace(unsigned ends, uint32_t call)
{
    if (g.trace_fd < 0)
        return;
    char line[256];
    size_t n = 0;
    for (unsigned e = ends; e; e &= e - 1)
        n += (size_t)snprintf(line + n, sizeof line - n, "OperationEnd+");
    const struct kw_call_info *ci = kw_call_lookup(call);
    int w = snprintf(line + n, sizeof line - n, "%s\n", ci ? ci->name : "?");
    if (w > 0 && n + (size_t)w < sizeof line)
        (void)!write(g.trace_fd, line, n + (size_t)w); /* one write: lines of threads do not mix */
}

/* Choose the socket and the autostart policy (at C_Initialize). Returns -1 when the path does not fit. */
static int kw_configure(void)
{
    const char *env = kw_getenv("KEYWARD_SOCKET");
    int as = kw_env_flag("KEYWARD_AUTOSTART");
    const char *t = kw_getenv("KEYWARD_TIMEOUT_MS");
    g.timeout_ms = KW_DEFAULT_TIMEOUT_MS;
    if (t && *t) {
        char *end;
        long v = strtol(t, &end, 10);
        if (*end == 0 && v > 0 && v <= INT_MAX)
            g.timeout_ms = (int)v;
    }
    g.ring = kw_env_flag("KEYWARD_RING") != 0;
    const char *spin = kw_getenv("KEYWARD_RING_SPIN_US");
    g.ring_spin_ns = KW_RING_SPIN_MAX_NS;
    if (spin && *spin) {
        char *end;
        long v = strtol(spin, &end, 10);
        if (*end == 0 && v >= 0 && v <= 1000)
            g.ring_spin_ns = (int64_t)v * 1000;
    }
    const char *mc = kw_getenv("KEYWARD_MAX_CONNECTIONS");
    g.max_conns = KW_MAX_CONNS;
    if (mc && *mc) {
        char *end;
        long v = strtol(mc, &end, 10);
        if (*end == 0 && v > 0 && v <= 1024)
            g.max_conns = (int)v;
    }
    int n;
    mode_t mode;
    g.pass_socket = 0;
    g.private_dir = 0;
    if (env && *env) {
        n = snprintf(g.path, sizeof g.path, "%s", env);
        g.autostart = as == 1;
        g.pass_socket = 1;
    } else if (kw_stat_mode(KW_SYSTEM_SOCKET, &mode) == 0 && S_ISSOCK(mode)) {
        n = snprintf(g.path, sizeof g.path, "%s", KW_SYSTEM_SOCKET);
        g.autostart = 0;
    } else {
        const char *xdg = kw_getenv("XDG_RUNTIME_DIR");
        if (xdg && *xdg)
            n = snprintf(g.path, sizeof g.path, "%s/keyward/keyward.sock", xdg);
        else
            n = snprintf(g.path, sizeof g.path, "/tmp/keyward-%lu/keyward.sock", kw_self_uid());
        g.autostart = as != 0;
        g.private_dir = 1;
    }
    if (kw_privileged())
        g.autostart = 0; /* never run a program on behalf of a setuid, setgid or capable process */
    kw_trace_open();
    return n < 0 || (size_t)n >= sizeof g.path ? -1 : 0;
}

/* One connect to the socket. Returns an fd; -1 with errno when connect fails; -2 (why says why) when the socket's
 * directory or the daemon that answered is not to be trusted (trust.c). */
static int kw_connect_once(char *why, size_t whylen)
{
    if (g.private_dir) {
        char dir[sizeof g.path];
        memcpy(dir, g.path, sizeof dir);
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = 0;
        if (kw_check_private_dir(dir, why, whylen) < 0)
            return -2;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, g.path, strlen(g.path));
    int r;
    do
        r = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    while (r < 0 && errno == EINTR);
    if (r < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    if (kw_check_peer(fd, g.path, why, whylen) < 0) {
        close(fd);
        return -2;
    }
    /* Room for a large request in the socket: a 1 MiB C_Encrypt then goes in one send instead of a ping-pong
     * of 200 KiB pieces (each piece a context switch). Memory is charged only while data is in flight; the
     * kernel caps the value at net.core.wmem_max. */
    int sndbuf = KW_SNDBUF;
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    return fd;
}

static int kw_executable(const char *p)
{
    mode_t mode;
    return kw_stat_mode(p, &mode) == 0 && S_ISREG(mode) && access(p, X_OK) == 0;
}

/* Find keywardd: $KEYWARD_DAEMON, next to this library, the usual libexec places, then PATH. */
static int kw_find_daemon(char *out, size_t n)
{
    const char *env = kw_getenv("KEYWARD_DAEMON");
    if (env && *env) {
        snprintf(out, n, "%s", env);
        if (kw_executable(out))
            return 0;
        errno = ENOENT;
        return -1;
    }
    /* Any address inside the library locates it (an object: ISO C has no function-to-object pointer cast). */
    const char *self = kw_object_path(&g_once);
    if (self && strchr(self, '/')) {
        char dir[PATH_MAX];
        char *real = realpath(self, NULL);
        for (int pass = 0; pass < 2; pass++) {
            const char *f = pass == 0 ? self : real;
            if (!f)
                continue;
            snprintf(dir, sizeof dir, "%s", f);
            char *slash = strrchr(dir, '/');
            if (!slash)
                continue;
            *slash = 0;
            if ((size_t)snprintf(out, n, "%s/keywardd", dir) < n && kw_executable(out)) {
                free(real);
                return 0;
            }
        }
        free(real);
    }
    static const char *const fixed[] = {"/usr/libexec/keyward/keywardd", "/usr/lib/keyward/keywardd",
                                        "/usr/local/libexec/keyward/keywardd"};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        if (kw_executable(fixed[i])) {
            snprintf(out, n, "%s", fixed[i]);
            return 0;
        }
    }
    const char *path = kw_getenv("PATH");
    while (path && *path) {
        const char *colon = strchr(path, ':');
        size_t len = colon ? (size_t)(colon - path) : strlen(path);
        if (len > 0 && (size_t)snprintf(out, n, "%.*s/keywardd", (int)len, path) < n && kw_executable(out))
            return 0;
        path = colon ? colon + 1 : NULL;
    }
    errno = ENOENT;
    return -1;
}

/* Start keywardd --user, double-forked so that it is not our child. Only async-signal-safe calls between fork
 * and exec (kw_fork, like _Fork, does not run atfork handlers). */
static int kw_spawn_daemon(void)
{
    char exe[PATH_MAX];
    if (kw_find_daemon(exe, sizeof exe) < 0)
        return -1;
    char *argv[5] = {exe, (char *)"--user", NULL, NULL, NULL};
    if (g.pass_socket) {
        argv[2] = (char *)"--socket";
        argv[3] = g.path;
    }
    pid_t pid = kw_fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        setsid();
        pid_t p2 = kw_fork();
        if (p2 != 0)
            _exit(p2 < 0 ? 1 : 0);
        int fd = open("/dev/null", O_RDWR);
        if (fd >= 0) {
            dup2(fd, 0);
            dup2(fd, 1);
            dup2(fd, 2);
        }
        kw_close_from(3);
        sigset_t empty;
        sigemptyset(&empty);
        sigprocmask(SIG_SETMASK, &empty, NULL);
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = SIG_DFL;
        for (int s = 1; s < NSIG; s++)
            if (s != SIGKILL && s != SIGSTOP)
                sigaction(s, &sa, NULL);
        execv(exe, argv);
        _exit(127);
    }
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    return 0;
}

/* Connect to the daemon, starting it when allowed. Returns an fd, or -1 with *cerr the connect errno (why
 * says why). */
static int kw_connect(int *cerr, char *why, size_t whylen)
{
    int fd = kw_connect_once(why, whylen);
    if (fd >= 0)
        return fd;
    if (fd == -2) {
        *cerr = EPERM; /* refused as untrusted: as if no daemon answered, and never start one there */
        return -1;
    }
    int e = errno;
    *cerr = e;
    if (!g.autostart || (e != ENOENT && e != ECONNREFUSED)) {
        snprintf(why, whylen, "%s", strerror(e));
        return -1;
    }
    if (kw_spawn_daemon() < 0) {
        snprintf(why, whylen, "%s (and cannot start keywardd: %s)", strerror(e),
                 errno == ENOENT ? "not found" : strerror(errno));
        return -1;
    }
    int64_t deadline = kw_now_ms() + KW_AUTOSTART_WAIT_MS;
    long delay_ms = 5;
    for (;;) {
        fd = kw_connect_once(why, whylen);
        if (fd >= 0)
            return fd;
        if (fd == -2) {
            *cerr = EPERM;
            return -1;
        }
        e = errno;
        if ((e != ENOENT && e != ECONNREFUSED) || kw_now_ms() + delay_ms > deadline)
            break;
        struct timespec ts = {.tv_sec = delay_ms / 1000, .tv_nsec = (delay_ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
            ;
        if (delay_ms < 200)
            delay_ms *= 2;
    }
    *cerr = e;
    snprintf(why, whylen, "%s (after starting keywardd)", strerror(e));
    return -1;
}

/* Open a connection and send Hello. Returns the connection, or NULL with *res set to the Hello result. */
static struct kw_conn *kw_open(const uint8_t *cookie, uint8_t out[KW_COOKIE_SIZE], int *res, char *why,
                               size_t whylen)
{
    int cerr = 0;
    *res = KW_IO_FAIL;
    int fd = kw_connect(&cerr, why, whylen);
    if (fd < 0) {
        /* The daemon is gone (ENOENT, ECONNREFUSED) or not to be trusted (EPERM); anything else (EMFILE,
         * EAGAIN...) is local. */
        *res = cerr == ENOENT || cerr == ECONNREFUSED || cerr == EPERM ? KW_IO_FAIL : KW_IO_LOCAL;
        return NULL;
    }
    struct kw_conn *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    c->fd = fd;
    c->next_id = 1;
    *res = kw_hello(c, cookie, out, why, whylen);
    if (*res == KW_IO_OK && g.ring && kw_conn_features(c) & KW_FEATURE_RING && kw_ring_setup(c) != KW_IO_OK) {
        snprintf(why, whylen, "RingSetup failed: %s", strerror(errno));
        *res = KW_IO_FAIL;
    }
    if (*res != KW_IO_OK) {
        kw_conn_free(c);
        return NULL;
    }
    return c;
}

/* ---- the pool (callers hold the lock where noted) ---- */

/* Unlink c from the list (lock held). */
static void kw_unlink(struct kw_conn *c)
{
    for (struct kw_conn **pp = &g.conns; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            return;
        }
    }
}

/* Close every idle connection (lock held). */
static void kw_close_idle(void)
{
    struct kw_conn **pp = &g.conns;
    while (*pp) {
        struct kw_conn *c = *pp;
        if (c->idle) {
            *pp = c->next;
            kw_conn_free(c);
        } else {
            pp = &c->next;
        }
    }
    g.nidle = 0;
}

/* Mark the application of generation gen dead. */
static void kw_mark_dead(uint64_t gen)
{
    kw_lock();
    if (g.gen == gen && !g.dead) {
        g.dead = 1;
        g.gen++;
        kw_close_idle();
    }
    kw_unlock();
}

/* Return a connection after a good exchange. */
static void kw_put(struct kw_conn *c)
{
    kw_lock();
    if (kw_live() && !g.dead && c->gen == g.gen && g.nidle < KW_MAX_IDLE) {
        c->idle = 1;
        g.nidle++;
        c = NULL;
    } else {
        kw_unlink(c);
    }
    kw_unlock();
    if (c)
        kw_conn_free(c);
}

/* Close a connection that broke the protocol (the application lives on). */
static void kw_drop(struct kw_conn *c)
{
    kw_lock();
    kw_unlink(c);
    kw_unlock();
    kw_conn_free(c);
}

/* How many connections the application has (lock held). */
static int kw_count(void)
{
    int n = 0;
    for (struct kw_conn *c = g.conns; c; c = c->next)
        n++;
    return n;
}

void kw_wait(int64_t *us)
{
    if (*us < KW_WAIT_MIN_US)
        *us = KW_WAIT_MIN_US;
    struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)(*us * 1000)};
    nanosleep(&ts, NULL);
    if (*us < KW_WAIT_MAX_US)
        *us *= 2;
}

/* Take a connection: an idle one, or a new one joining (or, after a daemon death, recreating) the
 * application. When the application has g.max_conns connections, all busy, the caller waits for one (within
 * the call timeout): a process with more threads in calls than that queues instead of failing. */
static CK_RV kw_get(struct kw_conn **out, CK_RV noconn)
{
    char why[160];
    int64_t wait_us = 0, deadline = 0;
    for (int attempt = 0; attempt < 4;) {
        kw_lock();
        if (!kw_live()) {
            kw_unlock();
            return CKR_CRYPTOKI_NOT_INITIALIZED;
        }
        if (!g.dead) {
            for (struct kw_conn *c = g.conns; c; c = c->next) {
                if (c->idle) {
                    c->idle = 0;
                    g.nidle--;
                    kw_unlock();
                    *out = c;
                    return CKR_OK;
                }
            }
            if (kw_count() + g.opening >= g.max_conns) {
                kw_unlock();
                if (!deadline)
                    deadline = kw_now_us() + (int64_t)g.timeout_ms * 1000;
                else if (kw_now_us() > deadline)
                    return noconn;
                kw_wait(&wait_us);
                continue;
            }
        }
        int dead = g.dead;
        uint64_t gen = g.gen;
        uint8_t cookie[KW_COOKIE_SIZE], fresh[KW_COOKIE_SIZE];
        memcpy(cookie, g.cookie, sizeof cookie);
        g.opening++;
        kw_unlock();

        int res;
        struct kw_conn *c = kw_open(dead ? NULL : cookie, fresh, &res, why, sizeof why);
        explicit_bzero(cookie, sizeof cookie);
        if (!c) {
            kw_lock();
            g.opening--;
            kw_unlock();
        }
        if (!c && res == KW_IO_BUSY) {
            /* The daemon allows the application no more connections: make the pool that size, and wait. */
            kw_lock();
            int n = kw_count();
            if (n > 0 && n < g.max_conns)
                g.max_conns = n;
            kw_unlock();
            kw_log("joining the application", why);
            if (n == 0)
                return noconn;
            continue;
        }
        attempt++;
        if (!c) {
            kw_log(dead ? "reconnecting to keywardd" : "joining the application", why);
            if (!dead && res != KW_IO_LOCAL) {
                /* The daemon is gone, or no longer knows the application (it was restarted): the
                 * application is dead, and this call is the one that saw it. */
                kw_mark_dead(gen);
                return CKR_DEVICE_REMOVED;
            }
            return noconn;
        }
        kw_lock();
        g.opening--;
        int ok = 0;
        if (kw_live()) {
            if (dead && g.dead && g.gen == gen) {
                memcpy(g.cookie, fresh, sizeof fresh);
                g.dead = 0;
                g.gen++;
                ok = 1;
            } else if (!dead && !g.dead && g.gen == gen) {
                ok = 1;
            }
        }
        if (ok) {
            c->gen = g.gen;
            c->next = g.conns;
            g.conns = c;
        }
        kw_unlock();
        explicit_bzero(fresh, sizeof fresh);
        if (ok) {
            *out = c;
            return CKR_OK;
        }
        /* Someone else changed the application meanwhile: this connection belongs to no one. */
        kw_conn_free(c);
    }
    return noconn;
}

/* ---- messages ---- */

uint64_t kw_features(void)
{
    kw_lock();
    uint64_t gen = g.gen, f = g.features;
    int known = g.features_gen == gen;
    kw_unlock();
    if (known)
        return f;
    struct kw_msg m;
    kw_msg_init(&m, KW_CALL_Features);
    CK_RV rv = kw_msg_run(&m, KW_SESSION_CALL);
    f = rv == CKR_OK ? kw_dec_u(&m.body) : 0;
    kw_msg_free(&m);
    if (rv == CKR_OK || rv == CKR_FUNCTION_NOT_SUPPORTED) { /* an older daemon does not know the call */
        kw_lock();
        if (g.gen == gen) {
            g.features = f;
            g.features_gen = gen;
        }
        kw_unlock();
    }
    return f;
}

uint64_t kw_features_cached(void)
{
    kw_lock();
    uint64_t f = g.features_gen == g.gen ? g.features : 0;
    kw_unlock();
    return f;
}

void kw_msg_init(struct kw_msg *m, uint32_t call)
{
    memset(m, 0, sizeof *m);
    m->call = call;
    m->too_big = CKR_ARGUMENTS_BAD;
    kw_req_begin(&m->req);
}

/* Zero the response and give its connection back to the pool. */
static void kw_msg_release(struct kw_msg *m)
{
    if (m->conn) {
        kw_conn_clear(m->conn);
        kw_put(m->conn);
        m->conn = NULL;
    }
    m->resp = NULL;
    m->resp_len = 0;
    m->has_body = 0;
    kw_dec_init(&m->body, NULL, 0);
}

void kw_msg_free(struct kw_msg *m)
{
    kw_buf_free(&m->req);
    kw_msg_release(m);
}

/* Whether m is a request on a session, and which: the calls whose first item is a session handle. */
static int kw_req_session(const struct kw_msg *m, CK_SESSION_HANDLE *h)
{
    switch (m->call) {
    case KW_CALL_Hello:
    case KW_CALL_GetInfo:
    case KW_CALL_GetSlotList:
    case KW_CALL_GetSlotInfo:
    case KW_CALL_GetTokenInfo:
    case KW_CALL_GetMechanismList:
    case KW_CALL_GetMechanismInfo:
    case KW_CALL_WaitForSlotEvent:
    case KW_CALL_InitToken:
    case KW_CALL_OpenSession:
    case KW_CALL_CloseAllSessions:
    case KW_CALL_DeleteToken:
    case KW_CALL_Features:
    case KW_CALL_InitTokenPolicy:
        return 0;
    }
    if (m->req.len < KW_REQ_HEADER + 9 || m->req.p[KW_REQ_HEADER] != 'u')
        return 0;
    *h = (CK_SESSION_HANDLE)kw_get_u64(m->req.p + KW_REQ_HEADER + 1);
    return 1;
}

/* Append the OperationEnd frames of ops (bits) on session h to b. -1 when memory ran out. */
static int kw_ends_frames(struct kw_conn *c, struct kw_buf *b, CK_SESSION_HANDLE h, unsigned ops)
{
    for (unsigned op = 1; op < 32; op++) {
        if (!(ops & (1u << op)))
            continue;
        struct kw_buf e = {0};
        kw_req_begin(&e);
        kw_enc_u(&e, h);
        kw_enc_u(&e, op);
        kw_req_finish(&e, c->next_id++, KW_CALL_OperationEnd);
        if (!e.oom)
            kw_put_raw(b, e.p, e.len);
        int oom = e.oom;
        kw_buf_free(&e);
        if (oom)
            return -1;
    }
    return b->oom ? -1 : 0;
}

CK_RV kw_msg_run(struct kw_msg *m, int kind)
{
    CK_RV noconn = kind == KW_SESSION_CALL ? CKR_DEVICE_REMOVED : CKR_DEVICE_ERROR;
    const struct kw_call_info *ci = kw_call_lookup(m->call);
    if (!ci)
        return CKR_GENERAL_ERROR;
    if (m->req.oom)
        return CKR_HOST_MEMORY;
    if (m->req.len - 4 > KW_MAX_FRAME)
        return m->too_big;
    kw_msg_release(m); /* a message run twice: drop the earlier response */
    struct kw_conn *c = NULL;
    CK_RV rv = kw_get(&c, noconn);
    if (rv != CKR_OK)
        return rv;
    /* A request on a session: the session's pending OperationEnds go in front of it, in the same write; they
     * have no response (sess.h, "kept output"). */
    CK_SESSION_HANDLE sh = 0;
    int on_session = kw_req_session(m, &sh);
    unsigned ends = kw_sess_outgoing(m->call, on_session, sh, &m->epoch, &m->drops);
    struct kw_buf both = {0};
    if (ends && kw_ends_frames(c, &both, sh, ends) < 0) {
        kw_buf_free(&both);
        kw_sess_sent(sh, ends, 0);
        kw_put(c);
        return CKR_HOST_MEMORY;
    }
    uint32_t id = c->next_id++;
    kw_req_finish(&m->req, id, m->call);
    if (ends)
        kw_put_raw(&both, m->req.p, m->req.len);
    if (both.oom) {
        kw_buf_free(&both);
        kw_sess_sent(sh, ends, 0);
        kw_put(c);
        return CKR_HOST_MEMORY;
    }
    int r = kw_roundtrip(c, ends ? &both : &m->req, &m->resp, &m->resp_len);
    kw_buf_free(&both);
    kw_sess_sent(sh, ends, r == KW_IO_OK);
    if (r == KW_IO_OK)
        kw_trace(ends, m->call);
    if (r == KW_IO_FAIL) {
        kw_log("connection to keywardd failed", strerror(errno));
        m->resp = NULL;
        m->resp_len = 0;
        uint64_t gen = c->gen;
        kw_drop(c);
        kw_mark_dead(gen);
        return CKR_DEVICE_REMOVED;
    }
    uint32_t rid, rcall;
    uint64_t rv64;
    const uint8_t *body;
    size_t blen;
    if (r != KW_IO_OK || kw_resp_parse(m->resp, m->resp_len, &rid, &rcall, &rv64, &body, &blen) < 0 ||
        rid != id || rcall != m->call) {
        kw_log("protocol error", "bad response frame");
        m->resp = NULL;
        m->resp_len = 0;
        kw_drop(c);
        return CKR_DEVICE_ERROR;
    }
    int has_body = kw_rv_carries_body(rv64);
    if (has_body ? kw_validate(body, blen, ci->resp) < 0 : blen != 0) {
        kw_log("protocol error", "malformed response body");
        m->resp = NULL;
        m->resp_len = 0;
        kw_drop(c);
        return CKR_DEVICE_ERROR;
    }
    /* The body lives in c's buffer: c stays busy until kw_msg_free returns it to the pool. */
    m->conn = c;
    m->has_body = has_body;
    kw_dec_init(&m->body, body, blen);
    return (CK_RV)rv64;
}

/* ---- C_Initialize / C_Finalize ---- */

/* Close every inherited connection in a forked child: close only, never send. */
static void kw_forget_all(void)
{
    struct kw_conn *c = g.conns;
    while (c) {
        struct kw_conn *next = c->next;
        kw_conn_free(c);
        c = next;
    }
    g.conns = NULL;
    g.nidle = 0;
}

CK_RV kw_initialize(const CK_C_INITIALIZE_ARGS *args)
{
    kw_once(&g_once, kw_register_atfork);
    pthread_mutex_lock(&g_init);
    int st = atomic_load(&g.state);
    if (st == KW_LIVE && g.pid == getpid()) {
        pthread_mutex_unlock(&g_init);
        return CKR_CRYPTOKI_ALREADY_INITIALIZED;
    }
    if (st != KW_UNINIT) {
        /* A forked child: forget the parent's application. */
        kw_forget_all();
        g.opening = 0; /* the parent's threads that were opening connections do not exist here */
        atomic_store(&g.state, KW_UNINIT);
    }
    g.use_app_locks = 0;
    g.app_mutex = NULL;
    if (args && args->CreateMutex && !(args->flags & CKF_OS_LOCKING_OK)) {
        g.cb = *args;
        CK_RV rv = args->CreateMutex(&g.app_mutex);
        if (rv != CKR_OK) {
            pthread_mutex_unlock(&g_init);
            return rv;
        }
        g.use_app_locks = 1;
    }
    char why[200];
    struct kw_conn *c = NULL;
    int res = KW_IO_FAIL;
    if (kw_configure() < 0)
        snprintf(why, sizeof why, "socket path too long");
    else
        c = kw_open(NULL, g.cookie, &res, why, sizeof why);
    if (!c) {
        if (kw_debug())
            fprintf(stderr, "keyward: cannot reach keywardd at %s: %s\n", g.path, why);
        if (g.use_app_locks)
            g.cb.DestroyMutex(g.app_mutex);
        g.use_app_locks = 0;
        pthread_mutex_unlock(&g_init);
        return CKR_DEVICE_ERROR;
    }
    g.gen++;
    g.dead = 0;
    c->gen = g.gen;
    c->idle = 1;
    c->next = NULL;
    g.conns = c;
    g.nidle = 1;
    g.pid = getpid();
    kw_forkpage_setup();
    if (g_forkpage)
        g_forkpage[0] = 1;
    atomic_store(&g.state, KW_LIVE);
    pthread_mutex_unlock(&g_init);
    return CKR_OK;
}

CK_RV kw_finalize(void)
{
    pthread_mutex_lock(&g_init);
    if (!kw_live()) {
        pthread_mutex_unlock(&g_init);
        return CKR_CRYPTOKI_NOT_INITIALIZED;
    }
    kw_lock();
    atomic_store(&g.state, KW_UNINIT);
    kw_close_idle(); /* busy connections (a misbehaving application) are closed when they come back */
    int busy = g.conns != NULL;
    explicit_bzero(g.cookie, sizeof g.cookie);
    g.gen++;
    kw_sess_clear_locked(); /* the sessions ended with the application */
    if (g.trace_fd >= 0)
        close(g.trace_fd);
    g.trace_fd = -1;
    kw_unlock();
    if (g.use_app_locks && !busy)
        g.cb.DestroyMutex(g.app_mutex);
    pthread_mutex_unlock(&g_init);
    return CKR_OK;
}
