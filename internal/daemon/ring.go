package daemon

import (
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The ring: a connection's shared-memory transport (docs/protocol.md, "The ring"). The daemon creates a sealed
// memfd of RingSize bytes at RingSetup and hands it to the client with SCM_RIGHTS; from then on a request that
// fits in the request area goes through the memory and a futex instead of the socket, and each side spins a
// little (a bounded, adaptive window) before it sleeps in the futex. Everything in the memory is written by
// the client as well: the daemon copies a request out before it looks at it and trusts no word of it.

// The ring's layout: a header page of 64-byte slots, then the request area, then the response area.
const (
	ringHeader = 4096
	// RingArea is the size of each of the ring's two areas: a frame of at most this size (its length field
	// included) travels through the ring, a larger one through the socket.
	RingArea = 32 << 10
	// RingSize is the size of the memfd.
	RingSize = ringHeader + 2*RingArea

	offReqSeq         = 0   // u32: bumped by the client after it wrote a request (the daemon's futex word)
	offDaemonSleeping = 64  // u32: 1 while the daemon sleeps (or is about to) in the futex on offReqSeq
	offRespSeq        = 128 // u32: bumped by the daemon after it wrote a response (the client's futex word)
	offClientSleeping = 192 // u32: 1 while the client sleeps (or is about to) in the futex on offRespSeq
	offReqLen         = 256 // u32: the request frame's size, its length field included
	offRespLen        = 320 // u32: the response frame's size, or RingOnSocket
	// offset 384, u32: the requests the client posted (its statistic; the daemon ignores it)
	offReqArea  = ringHeader
	offRespArea = ringHeader + RingArea

	// RingOnSocket in the response length says that the response went through the socket (it did not fit).
	RingOnSocket = 0xFFFFFFFF
)

// Spinning: after a response the daemon watches the request word for at most ringSpinMax, less when the
// application's calls come further apart (ring.window); then it sleeps in the futex and costs nothing.
var ringSpinMax = spinFromEnv()

// spinFromEnv reads the spin bound from KEYWARD_RING_SPIN_US (µs, 0 to 1000; 0 never spins), for measurements;
// 50 µs otherwise.
func spinFromEnv() time.Duration {
	if v, err := strconv.Atoi(os.Getenv("KEYWARD_RING_SPIN_US")); err == nil && v >= 0 && v <= 1000 {
		return time.Duration(v) * time.Microsecond
	}
	return 50 * time.Microsecond
}

// MaxRings bounds the connections served through a ring at once (each holds an OS thread and RingSize bytes);
// RingSetup beyond it is refused and the connection goes on through the socket.
const MaxRings = 64

// futex operations on memory shared between processes (not FUTEX_PRIVATE_FLAG).
const (
	futexWait = 0
	futexWake = 1
)

// ring is the daemon's side of one connection's shared memory.
type ring struct {
	mem []byte
	// The header's words, in the shared memory.
	reqSeq, daemonSleeping, respSeq, clientSleeping, reqLen, respLen *uint32
	// seen is the request word as the daemon last took a request or a kick.
	seen uint32
	// attn says that the socket has something (a large request, EOF) or that the connection is ending: kick.
	attn atomic.Bool
	// gap is a moving average of the time from a response to the next request.
	gap time.Duration
	// skip is how many waits are left that do not spin, after a spin that saw no request; backoff the last
	// skip given (doubling while spins fail, up to 64).
	skip, backoff int
}

// newRing creates a ring's memfd, sealed at RingSize (the client can neither shrink it, which would make the
// daemon fault, nor grow it), and maps it. The caller sends fd to the client and closes it.
func newRing() (*ring, int, error) {
	fd, err := unix.MemfdCreate("keyward-ring", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, -1, fmt.Errorf("ring: memfd_create: %w", err)
	}
	fail := func(what string, err error) (*ring, int, error) {
		unix.Close(fd)
		return nil, -1, fmt.Errorf("ring: %s: %w", what, err)
	}
	if err := unix.Ftruncate(fd, RingSize); err != nil {
		return fail("ftruncate", err)
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_SEAL); err != nil {
		return fail("seal", err)
	}
	mem, err := unix.Mmap(fd, 0, RingSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fail("mmap", err)
	}
	word := func(off int) *uint32 { return (*uint32)(unsafe.Pointer(&mem[off])) }
	return &ring{mem: mem, reqSeq: word(offReqSeq), daemonSleeping: word(offDaemonSleeping),
		respSeq: word(offRespSeq), clientSleeping: word(offClientSleeping), reqLen: word(offReqLen),
		respLen: word(offRespLen)}, fd, nil
}

// close frees the ring's pages and unmaps it; nothing may touch it afterwards. The client may keep its mapping
// after the connection, and the pages the daemon touched first are charged to the daemon's memory (its
// cgroup): they go now (MADV_REMOVE punches them out of the memfd), so that a client opening and closing
// connections cannot make the daemon hold memory. The client's mapping reads zeros from then on.
func (r *ring) close() {
	unix.Madvise(r.mem, unix.MADV_REMOVE)
	unix.Munmap(r.mem)
	r.mem = nil
}

func futex(addr *uint32, op, val uintptr) {
	unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), op, val, 0, 0, 0)
}

// kick wakes the serving thread whatever it waits for: the socket needs it (see watchSocket) or the connection
// ends. The flag is the daemon's own; the bump of the request word makes a futex wait that raced with it
// return.
func (r *ring) kick() {
	r.attn.Store(true)
	atomic.AddUint32(r.reqSeq, 1)
	futex(r.reqSeq, futexWake, 1)
}

// window is how long to spin for the next request: twice the recent gap between calls (plus a little), none
// when calls come further apart than ringSpinMax.
func (r *ring) window() time.Duration {
	if r.gap > ringSpinMax || ringSpinMax == 0 {
		return 0
	}
	return min(ringSpinMax, 2*r.gap+5*time.Microsecond)
}

// wait waits for the next request: it reports true when the socket needs serving (kick), false when a request
// is in the ring.
func (r *ring) wait() (socket bool) {
	t0 := time.Now()
	took := func() bool {
		v := atomic.LoadUint32(r.reqSeq)
		if r.attn.Load() {
			r.attn.Store(false)
			r.seen = atomic.LoadUint32(r.reqSeq) // a kick bumps the word too
			socket = true
			return true
		}
		if v != r.seen {
			r.seen = v
			r.gap = (3*r.gap + time.Since(t0)) / 4
			return true
		}
		return false
	}
	// Spin while it pays: not right after a spin that saw no request (the application did not call again
	// that soon, or did not get to run), for 1, 2, 4 ... 64 waits.
	if r.skip > 0 {
		r.skip--
	} else if w := r.window(); w > 0 {
		for i := 0; ; i++ {
			if took() {
				r.backoff = 0
				return socket
			}
			if i&63 == 63 && time.Since(t0) >= w {
				break
			}
		}
		r.backoff = min(max(2*r.backoff, 1), 64)
		r.skip = r.backoff
	}
	atomic.StoreUint32(r.daemonSleeping, 1)
	defer atomic.StoreUint32(r.daemonSleeping, 0)
	for {
		v := atomic.LoadUint32(r.reqSeq)
		if took() {
			return socket
		}
		futex(r.reqSeq, futexWait, uintptr(v))
	}
}

// request copies the request frame out of the ring and clears the area (it may hold a PIN or plaintext).
func (r *ring) request() ([]byte, error) {
	n := atomic.LoadUint32(r.reqLen)
	if n < 4 || n > RingArea {
		return nil, fmt.Errorf("ring: request of %d bytes", n)
	}
	f := make([]byte, n)
	copy(f, r.mem[offReqArea:offReqArea+int(n)])
	clear(r.mem[offReqArea : offReqArea+int(n)])
	return f, nil
}

// respond puts a response frame (hdr then body) in the ring and wakes the client; it reports false, doing
// nothing, when the frame does not fit.
func (r *ring) respond(hdr, body []byte) bool {
	n := len(hdr) + len(body)
	if n > RingArea {
		return false
	}
	copy(r.mem[offRespArea:], hdr)
	copy(r.mem[offRespArea+len(hdr):], body)
	r.post(uint32(n))
	return true
}

// post publishes the response length (or RingOnSocket) and wakes the client if it sleeps.
func (r *ring) post(n uint32) {
	atomic.StoreUint32(r.respLen, n)
	atomic.AddUint32(r.respSeq, 1)
	if atomic.LoadUint32(r.clientSleeping) != 0 {
		futex(r.respSeq, futexWake, 1)
	}
}
