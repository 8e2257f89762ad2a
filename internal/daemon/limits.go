package daemon

import (
	"log/slog"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/keyward/keyward/internal/wire"
)

// Limits bound what connections may hold in the daemon, so that no client, however many connections it opens
// or however slowly it sends, can make the daemon run out of file descriptors or memory (docs/security.md,
// "Denial of service"). The zero value of a field means its default.
type Limits struct {
	// MaxConnections bounds the connections open at once (DefaultMaxConnections); it is further capped below
	// the process's file descriptor limit (RLIMIT_NOFILE minus fdReserve). A connection beyond it is closed
	// as soon as it is accepted.
	MaxConnections int
	// MaxConnectionsPerUID bounds one uid's connections (DefaultMaxConnectionsPerUID, at most
	// MaxConnections), so that one user cannot take every connection from the others.
	MaxConnectionsPerUID int
	// HelloTimeout bounds the time from accept to the end of the connection's Hello (DefaultHelloTimeout).
	HelloTimeout time.Duration
	// FrameTimeout bounds the time between the first and the last byte of one request frame
	// (DefaultFrameTimeout).
	FrameTimeout time.Duration
	// MaxReceiveBytes bounds the bytes of the request frames being received or served at once, over all
	// connections (DefaultMaxReceiveBytes, at least wire.MaxFrame plus its header). A frame that does not fit
	// waits (within FrameTimeout) for others to finish.
	MaxReceiveBytes int64
	// MaxReceiveBytesPerUID is MaxReceiveBytes for one uid's connections (default half of MaxReceiveBytes,
	// between one largest frame and MaxReceiveBytes), so that one user stalling large frames leaves room for
	// the others.
	MaxReceiveBytesPerUID int64
}

// uidState is what the server keeps of a uid while it has connections.
type uidState struct {
	id     uint32
	conns  int
	budget *byteBudget // its share of the receive budget
}

// The defaults of Limits.
const (
	DefaultMaxConnections       = 4096
	DefaultMaxConnectionsPerUID = 1024
	DefaultHelloTimeout         = 5 * time.Second
	DefaultFrameTimeout         = 30 * time.Second
	DefaultMaxReceiveBytes      = 256 << 20
)

// fdReserve is the file descriptors kept for the daemon's own use (the store, logs, the listener) below
// RLIMIT_NOFILE.
const fdReserve = 64

// FrameTimeout is the default bound on the time between the first and the last byte of one request frame.
const FrameTimeout = DefaultFrameTimeout

// maxFrameBytes is the largest frame with its length field.
const maxFrameBytes = 4 + wire.MaxFrame

// budgetFloor is the frame size up to which a frame is not counted in MaxReceiveBytes: such a frame fits in
// the connection's read buffer, which the connection cap already bounds.
const budgetFloor = 64 << 10

// softFileLimit returns the soft RLIMIT_NOFILE (0: unknown or unlimited).
func softFileLimit() uint64 {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil || rl.Cur == unix.RLIM_INFINITY {
		return 0
	}
	return rl.Cur
}

// effective returns l with its defaults filled in and the connection caps fitted under nofile (the soft
// RLIMIT_NOFILE; 0: unknown).
func (l Limits) effective(nofile uint64) Limits {
	if l.MaxConnections <= 0 {
		l.MaxConnections = DefaultMaxConnections
	}
	if nofile > 0 {
		room := int64(nofile) - fdReserve
		if room < 1 {
			room = 1
		}
		if int64(l.MaxConnections) > room {
			l.MaxConnections = int(room)
		}
	}
	if l.MaxConnectionsPerUID <= 0 {
		l.MaxConnectionsPerUID = DefaultMaxConnectionsPerUID
	}
	l.MaxConnectionsPerUID = min(l.MaxConnectionsPerUID, l.MaxConnections)
	if l.HelloTimeout <= 0 {
		l.HelloTimeout = DefaultHelloTimeout
	}
	if l.FrameTimeout <= 0 {
		l.FrameTimeout = DefaultFrameTimeout
	}
	if l.MaxReceiveBytes <= 0 {
		l.MaxReceiveBytes = DefaultMaxReceiveBytes
	}
	l.MaxReceiveBytes = max(l.MaxReceiveBytes, maxFrameBytes)
	if l.MaxReceiveBytesPerUID <= 0 {
		l.MaxReceiveBytesPerUID = l.MaxReceiveBytes / 2
	}
	l.MaxReceiveBytesPerUID = min(max(l.MaxReceiveBytesPerUID, maxFrameBytes), l.MaxReceiveBytes)
	return l
}

// RaiseFileLimit raises the soft RLIMIT_NOFILE to the hard one and returns the soft limit in force (0 if it
// cannot be read). Go's runtime already does this at start; doing it here makes the figure the connection
// cap is fitted under explicit.
func RaiseFileLimit() uint64 {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	if rl.Cur < rl.Max {
		raised := unix.Rlimit{Cur: rl.Max, Max: rl.Max}
		if unix.Setrlimit(unix.RLIMIT_NOFILE, &raised) == nil {
			rl.Cur = rl.Max
		}
	}
	if rl.Cur == unix.RLIM_INFINITY {
		return 0
	}
	return rl.Cur
}

// byteBudget is a counting semaphore of bytes: the request frames being received or served.
type byteBudget struct {
	mu      sync.Mutex
	free    int64
	waiters []*budgetWaiter // in arrival order
}

type budgetWaiter struct {
	n     int64
	ready chan struct{}
}

func newByteBudget(n int64) *byteBudget { return &byteBudget{free: n} }

// acquire takes n bytes, waiting until deadline or until stop is closed; it reports whether it got them.
func (b *byteBudget) acquire(n int64, deadline time.Time, stop <-chan struct{}) bool {
	b.mu.Lock()
	if len(b.waiters) == 0 && b.free >= n {
		b.free -= n
		b.mu.Unlock()
		return true
	}
	w := &budgetWaiter{n: n, ready: make(chan struct{})}
	b.waiters = append(b.waiters, w)
	b.mu.Unlock()
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case <-w.ready:
		return true
	case <-stop:
		return b.abandon(w)
	case <-timer.C:
		return b.abandon(w)
	}
}

// abandon withdraws a waiter that gave up; it returns false.
func (b *byteBudget) abandon(w *budgetWaiter) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case <-w.ready: // granted meanwhile: give it back
		b.free += w.n
	default:
		for i, x := range b.waiters {
			if x == w {
				b.waiters = append(b.waiters[:i], b.waiters[i+1:]...)
				break
			}
		}
	}
	b.wake() // the head may have changed
	return false
}

// release gives n bytes back.
func (b *byteBudget) release(n int64) {
	b.mu.Lock()
	b.free += n
	b.wake()
	b.mu.Unlock()
}

// wake grants waiting acquires in order while they fit (lock held).
func (b *byteBudget) wake() {
	for len(b.waiters) > 0 && b.free >= b.waiters[0].n {
		w := b.waiters[0]
		b.waiters = b.waiters[1:]
		b.free -= w.n
		close(w.ready)
	}
}

// refusals rate-limits the log lines of refused connections and accept failures: a flood of connections
// must not become a flood of log lines. One line per second at most, with the count since the last one.
type refusals struct {
	mu     sync.Mutex
	last   time.Time
	missed int
}

func (r *refusals) note(log *slog.Logger, msg string, args ...any) {
	r.mu.Lock()
	now := time.Now()
	if now.Sub(r.last) < time.Second {
		r.missed++
		r.mu.Unlock()
		return
	}
	missed := r.missed
	r.last, r.missed = now, 0
	r.mu.Unlock()
	log.Warn(msg, append(args, "unlogged_since_last", missed)...)
}
