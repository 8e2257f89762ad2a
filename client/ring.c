/*
 * ring.c - the client's side of the shared-memory transport (ring.h; docs/protocol.md, "The ring").
 *
 * The words are in the shared memory, and the daemon reads and writes them from another process: every access
 * is a C11 atomic on a uint32_t (lock-free on every target). Wake-ups cannot be lost: the waiter stores its
 * "sleeping" word, then reads the sequence word before FUTEX_WAIT (which rechecks it); the poster bumps the
 * sequence word, then reads the "sleeping" word and wakes (both sequentially consistent).
 */
#include "ring.h"

#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* The header's slots (64 bytes apart), as the daemon lays them out (internal/daemon/ring.go). */
#define OFF_REQ_SEQ 0
#define OFF_DAEMON_SLEEPING 64
#define OFF_RESP_SEQ 128
#define OFF_CLIENT_SLEEPING 192
#define OFF_REQ_LEN 256
#define OFF_RESP_LEN 320
#define OFF_POSTS 384 /* requests this client posted (a statistic the daemon ignores; tests/c/abi.c counts it) */


/* futex(2) operations on memory shared between processes (no FUTEX_PRIVATE_FLAG); defined here, as not every
 * C library's toolchain ships <linux/futex.h> (musl-gcc). */
#define KW_FUTEX_WAIT 0
#define KW_FUTEX_WAKE 1

#define KW_RING_CHECK_NS 50000000 /* asleep, check the daemon and the deadline this often */

static _Atomic uint32_t *word(struct kw_ring *r, size_t off)
{
    return (_Atomic uint32_t *)(void *)(r->mem + off);
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__) || (defined(__arm__) && __ARM_ARCH >= 7)
    __asm__ __volatile__("yield");
#endif
}

static long futex(_Atomic uint32_t *addr, int op, uint32_t val, const struct timespec *timeout)
{
#ifdef SYS_futex_time64
    /* A 32-bit target built with a 64-bit time_t (musl, _TIME_BITS=64): the timeout is a 64-bit timespec. */
    if (sizeof(time_t) > sizeof(long))
        return syscall(SYS_futex_time64, (void *)addr, op, val, timeout, NULL, 0);
#endif
    return syscall(SYS_futex, (void *)addr, op, val, timeout, NULL, 0);
}

int kw_ring_map(struct kw_ring *r, int fd, uint64_t area, int64_t spin_max_ns)
{
    memset(r, 0, sizeof *r);
    r->spin_max_ns = spin_max_ns;
    if (area < 4096 || area > (16u << 20))
        return -1;
    size_t size = KW_RING_HEADER + 2 * (size_t)area;
    /* The daemon sealed the memfd at its size; check it is the announced one (lseek: no fstat symbol). */
    off_t end = lseek(fd, 0, SEEK_END);
    if (end < 0 || (uint64_t)end != size)
        return -1;
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        return -1;
    r->mem = p;
    r->size = size;
    r->area = (size_t)area;
    r->resp_seen = atomic_load(word(r, OFF_RESP_SEQ));
    return 0;
}

void kw_ring_unmap(struct kw_ring *r)
{
    if (r->mem)
        munmap(r->mem, r->size);
    r->mem = NULL;
}

uint8_t *kw_ring_response(struct kw_ring *r)
{
    return r->mem + KW_RING_HEADER + r->area;
}

void kw_ring_post(struct kw_ring *r, const uint8_t *frame, size_t n)
{
    memcpy(r->mem + KW_RING_HEADER, frame, n);
    atomic_store(word(r, OFF_REQ_LEN), (uint32_t)n);
    atomic_fetch_add(word(r, OFF_POSTS), 1);
    atomic_fetch_add(word(r, OFF_REQ_SEQ), 1);
    if (atomic_load(word(r, OFF_DAEMON_SLEEPING)))
        futex(word(r, OFF_REQ_SEQ), KW_FUTEX_WAKE, 1, NULL);
}

/* The daemon is gone when its end of the socket is at EOF (or broken). */
static int daemon_gone(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 0) <= 0)
        return 0;
    if (p.revents & (POLLERR | POLLNVAL))
        return 1;
    char b;
    ssize_t n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

static int64_t took(struct kw_ring *r, uint32_t v, int64_t t0)
{
    r->resp_seen = v;
    r->rt_ns = (3 * r->rt_ns + (now_ns() - t0)) / 4;
    return atomic_load(word(r, OFF_RESP_LEN));
}

int64_t kw_ring_wait(struct kw_ring *r, int fd, int64_t deadline)
{
    _Atomic uint32_t *seq = word(r, OFF_RESP_SEQ);
    int64_t t0 = now_ns();
    uint32_t v;
    /* Spin while it pays: for calls that come back within the window, and not right after a spin that did
     * not see the response (the daemon did not run meanwhile: the machine is busy), for 1, 2, 4 ... 64 calls. */
    if (r->skip > 0) {
        r->skip--;
    } else if (r->spin_max_ns > 0 && r->rt_ns <= r->spin_max_ns) {
        int64_t window = 2 * r->rt_ns + 5000;
        if (window > r->spin_max_ns)
            window = r->spin_max_ns;
        for (unsigned i = 0;; i++) {
            if ((v = atomic_load(seq)) != r->resp_seen) {
                r->backoff = 0;
                return took(r, v, t0);
            }
            if ((i & 63) == 63 && now_ns() - t0 >= window)
                break;
            cpu_relax();
        }
        r->backoff = r->backoff ? (r->backoff < 64 ? 2 * r->backoff : 64) : 1;
        r->skip = r->backoff;
    }
    _Atomic uint32_t *sleeping = word(r, OFF_CLIENT_SLEEPING);
    atomic_store(sleeping, 1);
    for (;;) {
        if ((v = atomic_load(seq)) != r->resp_seen) {
            atomic_store(sleeping, 0);
            return took(r, v, t0);
        }
        int64_t left_ns = deadline * 1000 - now_ns();
        if (left_ns <= 0) {
            atomic_store(sleeping, 0);
            errno = ETIMEDOUT;
            return -1;
        }
        if (left_ns > KW_RING_CHECK_NS)
            left_ns = KW_RING_CHECK_NS;
        struct timespec ts = {.tv_sec = (time_t)(left_ns / 1000000000), .tv_nsec = (long)(left_ns % 1000000000)};
        if (futex(seq, KW_FUTEX_WAIT, v, &ts) < 0 && errno == ETIMEDOUT && daemon_gone(fd)) {
            atomic_store(sleeping, 0);
            errno = ECONNRESET;
            return -1;
        }
    }
}
