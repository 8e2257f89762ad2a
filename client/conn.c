/*
 * conn.c - connections to keywardd (docs/protocol.md, "Connection and application").
 *
 * State: one application per C_Initialize. Its connections are kept in a list (busy and idle); a call takes an
 * idle one or opens a new one that joins the application with its cookie, does one synchronous exchange, and
 * puts it back. The lock is never held during a round trip.
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
#include "conn.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KW_MAX_IDLE 16
#define KW_AUTOSTART_WAIT_MS 5000
#define KW_DEFAULT_TIMEOUT_MS 120000
#define KW_SYSTEM_SOCKET "/run/keyward/keyward.sock"

enum { KW_UNINIT = 0, KW_LIVE = 1, KW_FORKED = 2 };
enum { KW_IO_OK = 0, KW_IO_FAIL = -1, KW_IO_PROTO = -2, KW_IO_REFUSED = -3, KW_IO_LOCAL = -4 };

struct kw_conn {
    int fd;
    int idle;
    uint32_t next_id;
    uint64_t gen;
    struct kw_conn *next;
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
    int timeout_ms;
} g = {.pm = PTHREAD_MUTEX_INITIALIZER};

/* The fork guard: serialises C_Initialize/C_Finalize; reinitialised in a forked child. */
static pthread_mutex_t g_init = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static int g_fork_locked;

/* ---- diagnostics ---- */

int kw_debug(void)
{
    const char *v = getenv("KEYWARD_DEBUG");
    return v && *v && strcmp(v, "0") != 0;
}

static void kw_log(const char *what, const char *detail)
{
    if (kw_debug())
        fprintf(stderr, "keyward: %s: %s\n", what, detail);
}

/* ---- locks ---- */

static void kw_lock(void)
{
    if (g.use_app_locks)
        g.cb.LockMutex(g.app_mutex);
    else
        pthread_mutex_lock(&g.pm);
}

static void kw_unlock(void)
{
    if (g.use_app_locks)
        g.cb.UnlockMutex(g.app_mutex);
    else
        pthread_mutex_unlock(&g.pm);
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

CK_RV kw_check(void)
{
    if (atomic_load(&g.state) != KW_LIVE || g.pid != getpid())
        return CKR_CRYPTOKI_NOT_INITIALIZED;
    return CKR_OK;
}

static int kw_live(void)
{
    return kw_check() == CKR_OK;
}

/* ---- I/O with deadlines ---- */

static int64_t kw_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int kw_wait(int fd, short ev, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - kw_now_ms();
        if (left <= 0)
            return -1;
        struct pollfd pfd = {.fd = fd, .events = ev};
        int r = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
        if (r > 0)
            return 0; /* readable, writable, or an error the next send/recv reports */
        if (r == 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        if (errno != EINTR)
            return -1;
    }
}

static int kw_send_all(int fd, const uint8_t *p, size_t n, int64_t deadline)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
        } else if (w < 0 && errno == EINTR) {
            continue;
        } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (kw_wait(fd, POLLOUT, deadline) < 0)
                return -1;
        } else {
            return -1;
        }
    }
    return 0;
}

static int kw_recv_all(int fd, uint8_t *p, size_t n, int64_t deadline)
{
    while (n > 0) {
        ssize_t r = recv(fd, p, n, MSG_DONTWAIT);
        if (r > 0) {
            p += r;
            n -= (size_t)r;
        } else if (r == 0) {
            errno = ECONNRESET; /* EOF: the daemon is gone */
            return -1;
        } else if (errno == EINTR) {
            continue;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            if (kw_wait(fd, POLLIN, deadline) < 0)
                return -1;
        } else {
            return -1;
        }
    }
    return 0;
}

/* Send a finished request frame and read the response frame (after its length field) into *resp. */
static int kw_roundtrip(struct kw_conn *c, const struct kw_buf *req, uint8_t **resp, size_t *resp_len)
{
    int64_t deadline = kw_now_ms() + g.timeout_ms;
    *resp = NULL;
    *resp_len = 0;
    if (kw_send_all(c->fd, req->p, req->len, deadline) < 0)
        return KW_IO_FAIL;
    uint8_t hdr[4];
    if (kw_recv_all(c->fd, hdr, 4, deadline) < 0)
        return KW_IO_FAIL;
    uint32_t n = kw_get_u32(hdr);
    if (n > KW_MAX_FRAME || n < KW_RESP_HEADER)
        return KW_IO_PROTO;
    uint8_t *p = malloc(n);
    if (!p)
        return KW_IO_PROTO;
    if (kw_recv_all(c->fd, p, n, deadline) < 0) {
        explicit_bzero(p, n);
        free(p);
        return KW_IO_FAIL;
    }
    *resp = p;
    *resp_len = n;
    return KW_IO_OK;
}

static void kw_free_resp(uint8_t *p, size_t n)
{
    if (p) {
        explicit_bzero(p, n);
        free(p);
    }
}

/* Hello: create (cookie NULL) or join an application. */
static int kw_hello(struct kw_conn *c, const uint8_t *cookie, uint8_t out[KW_COOKIE_SIZE], char *why, size_t whylen)
{
    struct kw_buf b = {0};
    kw_req_begin(&b);
    kw_enc_u(&b, KW_PROTOCOL_VERSION);
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
            r = KW_IO_REFUSED;
        } else if (kw_validate(body, blen, kw_call_lookup(KW_CALL_Hello)->resp) == 0) {
            struct kw_dec d;
            uint32_t clen;
            kw_dec_init(&d, body, blen);
            uint64_t ver = kw_dec_u(&d);
            const uint8_t *ck = kw_dec_b(&d, &clen);
            if (ver != KW_PROTOCOL_VERSION) {
                snprintf(why, whylen, "daemon speaks protocol version %lu", (unsigned long)ver);
            } else if (clen == KW_COOKIE_SIZE && ck) {
                memcpy(out, ck, KW_COOKIE_SIZE);
                r = KW_IO_OK;
            }
        }
    }
    kw_free_resp(resp, n);
    return r;
}

/* ---- socket path, connect, autostart ---- */

static int kw_env_flag(const char *name)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return -1;
    return strcmp(v, "0") != 0;
}

/* Choose the socket and the autostart policy (at C_Initialize). Returns -1 when the path does not fit. */
static int kw_configure(void)
{
    const char *env = getenv("KEYWARD_SOCKET");
    int as = kw_env_flag("KEYWARD_AUTOSTART");
    const char *t = getenv("KEYWARD_TIMEOUT_MS");
    g.timeout_ms = KW_DEFAULT_TIMEOUT_MS;
    if (t && *t) {
        char *end;
        long v = strtol(t, &end, 10);
        if (*end == 0 && v > 0 && v <= INT_MAX)
            g.timeout_ms = (int)v;
    }
    int n;
    struct stat st;
    g.pass_socket = 0;
    if (env && *env) {
        n = snprintf(g.path, sizeof g.path, "%s", env);
        g.autostart = as == 1;
        g.pass_socket = 1;
    } else if (stat(KW_SYSTEM_SOCKET, &st) == 0 && S_ISSOCK(st.st_mode)) {
        n = snprintf(g.path, sizeof g.path, "%s", KW_SYSTEM_SOCKET);
        g.autostart = 0;
    } else {
        const char *xdg = getenv("XDG_RUNTIME_DIR");
        if (xdg && *xdg)
            n = snprintf(g.path, sizeof g.path, "%s/keyward/keyward.sock", xdg);
        else
            n = snprintf(g.path, sizeof g.path, "/tmp/keyward-%lu/keyward.sock", (unsigned long)getuid());
        g.autostart = as != 0;
    }
    return n < 0 || (size_t)n >= sizeof g.path ? -1 : 0;
}

static int kw_connect_once(void)
{
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
    return fd;
}

static int kw_executable(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode) && access(p, X_OK) == 0;
}

/* Find keywardd: $KEYWARD_DAEMON, next to this library, the usual libexec places, then PATH. */
static int kw_find_daemon(char *out, size_t n)
{
    const char *env = getenv("KEYWARD_DAEMON");
    if (env && *env) {
        snprintf(out, n, "%s", env);
        if (kw_executable(out))
            return 0;
        errno = ENOENT;
        return -1;
    }
    Dl_info info;
    /* Any address inside the library locates it (an object: ISO C has no function-to-object pointer cast). */
    if (dladdr(&g_once, &info) && info.dli_fname && strchr(info.dli_fname, '/')) {
        char dir[PATH_MAX];
        char *real = realpath(info.dli_fname, NULL);
        for (int pass = 0; pass < 2; pass++) {
            const char *f = pass == 0 ? info.dli_fname : real;
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
    const char *path = getenv("PATH");
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
 * and exec (_Fork does not run atfork handlers). */
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
    pid_t pid = _Fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        setsid();
        pid_t p2 = _Fork();
        if (p2 != 0)
            _exit(p2 < 0 ? 1 : 0);
        int fd = open("/dev/null", O_RDWR);
        if (fd >= 0) {
            dup2(fd, 0);
            dup2(fd, 1);
            dup2(fd, 2);
        }
        if (close_range(3, ~0u, 0) < 0)
            for (int i = 3; i < 1024; i++)
                close(i);
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
    int fd = kw_connect_once();
    if (fd >= 0)
        return fd;
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
        fd = kw_connect_once();
        if (fd >= 0)
            return fd;
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
        /* The daemon is gone (ENOENT, ECONNREFUSED); anything else (EMFILE, EAGAIN...) is local. */
        *res = cerr == ENOENT || cerr == ECONNREFUSED ? KW_IO_FAIL : KW_IO_LOCAL;
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
    if (*res != KW_IO_OK) {
        close(fd);
        free(c);
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
            close(c->fd);
            free(c);
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
    if (c) {
        close(c->fd);
        free(c);
    }
}

/* Close a connection that broke the protocol (the application lives on). */
static void kw_drop(struct kw_conn *c)
{
    kw_lock();
    kw_unlink(c);
    kw_unlock();
    close(c->fd);
    free(c);
}

/* Take a connection: an idle one, or a new one joining (or, after a daemon death, recreating) the
 * application. */
static CK_RV kw_get(struct kw_conn **out, CK_RV noconn)
{
    char why[160];
    for (int attempt = 0; attempt < 4; attempt++) {
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
        }
        int dead = g.dead;
        uint64_t gen = g.gen;
        uint8_t cookie[KW_COOKIE_SIZE], fresh[KW_COOKIE_SIZE];
        memcpy(cookie, g.cookie, sizeof cookie);
        kw_unlock();

        int res;
        struct kw_conn *c = kw_open(dead ? NULL : cookie, fresh, &res, why, sizeof why);
        explicit_bzero(cookie, sizeof cookie);
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
        close(c->fd);
        free(c);
    }
    return noconn;
}

/* ---- messages ---- */

void kw_msg_init(struct kw_msg *m, uint32_t call)
{
    memset(m, 0, sizeof *m);
    m->call = call;
    m->too_big = CKR_ARGUMENTS_BAD;
    kw_req_begin(&m->req);
}

void kw_msg_free(struct kw_msg *m)
{
    kw_buf_free(&m->req);
    kw_free_resp(m->resp, m->resp_len);
    m->resp = NULL;
    m->resp_len = 0;
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
    struct kw_conn *c;
    CK_RV rv = kw_get(&c, noconn);
    if (rv != CKR_OK)
        return rv;
    uint32_t id = c->next_id++;
    kw_req_finish(&m->req, id, m->call);
    int r = kw_roundtrip(c, &m->req, &m->resp, &m->resp_len);
    if (r == KW_IO_FAIL) {
        kw_log("connection to keywardd failed", strerror(errno));
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
        kw_drop(c);
        return CKR_DEVICE_ERROR;
    }
    m->has_body = kw_rv_carries_body(rv64);
    if (m->has_body ? kw_validate(body, blen, ci->resp) < 0 : blen != 0) {
        kw_log("protocol error", "malformed response body");
        kw_drop(c);
        return CKR_DEVICE_ERROR;
    }
    kw_put(c);
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
        close(c->fd);
        free(c);
        c = next;
    }
    g.conns = NULL;
    g.nidle = 0;
}

CK_RV kw_initialize(const CK_C_INITIALIZE_ARGS *args)
{
    pthread_once(&g_once, kw_register_atfork);
    pthread_mutex_lock(&g_init);
    int st = atomic_load(&g.state);
    if (st == KW_LIVE && g.pid == getpid()) {
        pthread_mutex_unlock(&g_init);
        return CKR_CRYPTOKI_ALREADY_INITIALIZED;
    }
    if (st != KW_UNINIT) {
        /* A forked child: forget the parent's application. */
        kw_forget_all();
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
    kw_unlock();
    if (g.use_app_locks && !busy)
        g.cb.DestroyMutex(g.app_mutex);
    pthread_mutex_unlock(&g_init);
    return CKR_OK;
}
