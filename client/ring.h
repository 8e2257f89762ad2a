/*
 * ring.h - the client's side of a connection's shared-memory transport (docs/protocol.md, "The ring"): a
 * memfd the daemon hands over at RingSetup, with a request area, a response area and two futex words. The
 * caller (conn.c) owns the connection and its socket; this file only moves frames through the memory.
 */
#ifndef KEYWARD_RING_H
#define KEYWARD_RING_H

#include <stddef.h>
#include <stdint.h>

#define KW_RING_HEADER 4096u
#define KW_RING_ON_SOCKET 0xFFFFFFFFu /* response length: the response went through the socket */
#define KW_RING_SPIN_MAX_NS 50000     /* the longest spin for a response (KEYWARD_RING_SPIN_US; 0: never spin) */

struct kw_ring {
    uint8_t *mem;       /* NULL: no ring */
    size_t size, area;  /* the mapping's size; each area's size */
    uint32_t resp_seen; /* the response word as the last response left it */
    int64_t rt_ns;      /* moving average of a round trip through the ring (the spin window follows it) */
    unsigned skip;      /* round trips left that do not spin (after a spin that failed) */
    unsigned backoff;   /* the last skip given (doubles while spins fail, up to 64) */
    int64_t spin_max_ns; /* the longest spin; none when the recent round trips took longer */
};

/* Map the memfd fd (the RingSetup response's descriptor) whose areas have `area` bytes each; a wait spins at
 * most spin_max_ns. 0, or -1 (the memfd does not have the announced size, mmap failed). The caller closes fd
 * either way. */
int kw_ring_map(struct kw_ring *r, int fd, uint64_t area, int64_t spin_max_ns);
/* Unmap (a forked child too: only its own mapping goes). */
void kw_ring_unmap(struct kw_ring *r);
/* Put a request frame of n bytes (n <= area) in the ring and wake the daemon if it sleeps. */
void kw_ring_post(struct kw_ring *r, const uint8_t *frame, size_t n);
/* Wait for the response: spin a little (the window follows the recent round trips), then sleep in the
 * futex; every 50 ms asleep, check that the daemon is alive (the socket fd is not at EOF) and that deadline
 * (CLOCK_MONOTONIC µs) has not passed. Returns the response length (KW_RING_ON_SOCKET, or the frame's size in
 * the response area), or -1 with errno (ECONNRESET: the daemon is gone; ETIMEDOUT). */
int64_t kw_ring_wait(struct kw_ring *r, int fd, int64_t deadline);
/* The response area. */
uint8_t *kw_ring_response(struct kw_ring *r);

#endif
