package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Durability says when a write that returned nil survives a power loss.
//
// Both modes survive a crash of the process (SIGKILL, a panic) without
// losing anything: a commit's WAL frames are written to the operating
// system before the write returns. Both are crash-consistent: after a power
// loss the store holds a prefix of its commits, never a torn one.
type Durability string

const (
	// DurabilityFull (the default) runs SQLite with synchronous=FULL: every
	// write is fsync'd before it returns.
	DurabilityFull Durability = "full"
	// DurabilityBatched runs SQLite with synchronous=NORMAL (commits are
	// not fsync'd) and a background syncer that fsyncs the write-ahead log
	// within Options.SyncInterval of a commit. It applies to the
	// single-object writes (Store.PutObject, Store.DeleteObject): a power
	// loss can undo those of the last interval. Update stays durable on
	// return (it fsyncs the log itself, and so everything committed before
	// it): token records such as PIN failure counters must never roll back.
	DurabilityBatched Durability = "batched"
)

// DefaultSyncInterval is the batched mode's default window: a single-object
// write is fsync'd at most this long (plus the time of an fsync) after it
// returned.
const DefaultSyncInterval = 20 * time.Millisecond

// MaxSyncInterval is the longest SyncInterval Open accepts.
const MaxSyncInterval = 10 * time.Second

// ParseDurability parses a durability name: "full" or "batched" ("" is
// full, the default).
func ParseDurability(s string) (Durability, error) {
	switch Durability(s) {
	case "", DurabilityFull:
		return DurabilityFull, nil
	case DurabilityBatched:
		return DurabilityBatched, nil
	}
	return "", fmt.Errorf("unknown durability %q: want full or batched", s)
}

// Options are the settings of OpenWith. The zero value is Open's defaults.
type Options struct {
	// Durability is DurabilityFull (also "") or DurabilityBatched.
	Durability Durability
	// SyncInterval is the batched mode's window (0: DefaultSyncInterval).
	// The full mode ignores it.
	SyncInterval time.Duration
}

// normalize checks o and fills in its defaults.
func (o Options) normalize() (Options, error) {
	d, err := ParseDurability(string(o.Durability))
	if err != nil {
		return o, fmt.Errorf("store: %w", err)
	}
	o.Durability = d
	switch {
	case o.SyncInterval < 0 || o.SyncInterval > MaxSyncInterval:
		return o, fmt.Errorf("store: sync interval %v out of range (0 to %v)", o.SyncInterval, MaxSyncInterval)
	case o.SyncInterval == 0:
		o.SyncInterval = DefaultSyncInterval
	}
	return o, nil
}

// ErrSyncFailed is returned (wrapped) by every write, and by Close, once an
// fsync of the write-ahead log has failed: writes acknowledged before it
// may not be on disk, and the store refuses to acknowledge more.
var ErrSyncFailed = errors.New("store: fsync of the write-ahead log failed")

// walSyncer makes commits durable by fsyncing the database's write-ahead
// log. With synchronous=NORMAL, SQLite writes every commit's frames to the
// WAL file without an fsync and syncs only around checkpoints (the WAL
// before copying it into the database, the database after, and the WAL
// header when the log restarts); an fsync of the WAL file therefore makes
// every commit that returned before the fsync started as durable as
// synchronous=FULL would have. After a power loss SQLite's recovery keeps
// the frames up to the first one whose checksum fails, a prefix of the
// commits.
//
// The fsync goes through a descriptor of our own: fsync works on the inode,
// whoever wrote the pages.
type walSyncer struct {
	walPath  string
	dir      string
	interval time.Duration

	// commits counts the writes that may have committed; a sync that
	// starts after the count reached n covers the first n.
	commits atomic.Uint64
	kick    chan struct{} // a commit happened (buffered, 1)
	stop    chan struct{} // closed by shutdown
	done    chan struct{} // closed when run returns

	// mu serialises syncs and guards the fields below.
	mu     sync.Mutex
	synced uint64 // commits covered by the last successful sync
	ino    uint64 // inode (and device) of the WAL whose directory entry is synced
	dev    uint64
	last   time.Time // when the last background sync started
	syncs  int       // fsyncs of the WAL done (for tests)
	// fsync is (*os.File).Sync; tests replace it.
	fsync func(*os.File) error

	err atomic.Pointer[error] // the first sync failure, sticky
}

func newWALSyncer(dbPath string, interval time.Duration) *walSyncer {
	return &walSyncer{
		walPath:  dbPath + "-wal",
		dir:      filepath.Dir(dbPath),
		interval: interval,
		kick:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
		fsync:    (*os.File).Sync,
	}
}

// failed returns the sticky sync error, or nil.
func (y *walSyncer) failed() error {
	if p := y.err.Load(); p != nil {
		return *p
	}
	return nil
}

// committed records a write that may have committed and returns its number.
// The background syncer, if running, is woken.
func (y *walSyncer) committed() uint64 {
	n := y.commits.Add(1)
	select {
	case y.kick <- struct{}{}:
	default:
	}
	return n
}

// syncThrough makes the first n commits durable, fsyncing the WAL unless a
// sync that covers them already happened (or happens meanwhile: concurrent
// callers share one fsync).
func (y *walSyncer) syncThrough(n uint64) error {
	y.mu.Lock()
	defer y.mu.Unlock()
	if err := y.failed(); err != nil {
		return err
	}
	if y.synced >= n {
		return nil
	}
	return y.syncLocked()
}

// sync makes every commit so far durable.
func (y *walSyncer) sync() error { return y.syncThrough(y.commits.Load()) }

// syncNow fsyncs the WAL whatever this syncer has seen: at Open, for what an
// earlier process committed without syncing.
func (y *walSyncer) syncNow() error {
	y.mu.Lock()
	defer y.mu.Unlock()
	return y.syncLocked()
}

// syncLocked fsyncs the WAL file, and its directory the first time a WAL
// inode is seen. y.mu is held.
func (y *walSyncer) syncLocked() error {
	n := y.commits.Load()
	err := y.fsyncWAL()
	if err != nil {
		err = fmt.Errorf("%w: %w", ErrSyncFailed, err)
		y.err.CompareAndSwap(nil, &err)
		return y.failed()
	}
	y.synced = n
	return nil
}

func (y *walSyncer) fsyncWAL() error {
	f, err := os.Open(y.walPath)
	if errors.Is(err, os.ErrNotExist) {
		// No log: every commit is in the database file, which SQLite
		// fsyncs when it checkpoints.
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	y.syncs++
	if err := y.fsync(f); err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("stat %s: no inode", y.walPath)
	}
	if st.Ino != y.ino || st.Dev != y.dev {
		// A WAL file this syncer has not seen: SQLite syncs the
		// directory of a new WAL on its first fsync of it, which
		// synchronous=NORMAL may not do for a long time.
		if err := syncDir(y.dir); err != nil {
			return err
		}
		y.ino, y.dev = st.Ino, st.Dev
	}
	return nil
}

// run is the background syncer: after a commit it fsyncs the WAL, at most
// once per interval, so that a commit is durable within the interval (plus
// the time of an fsync) of returning. An idle store costs nothing: the
// syncer sleeps until the next commit.
func (y *walSyncer) run() {
	defer close(y.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-y.kick:
		case <-y.stop:
			return
		}
		y.mu.Lock()
		wait := time.Until(y.last.Add(y.interval))
		y.mu.Unlock()
		if wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-y.stop:
				timer.Stop()
				return // shutdown syncs
			}
		}
		y.mu.Lock()
		y.last = time.Now()
		if y.synced != y.commits.Load() && y.failed() == nil {
			_ = y.syncLocked() // sticky: the next write reports it
		}
		y.mu.Unlock()
	}
}

// start runs the background syncer; the next interval counts from now.
func (y *walSyncer) start() {
	y.mu.Lock()
	y.last = time.Now()
	y.mu.Unlock()
	go y.run()
}

// shutdown stops the background syncer (if started) and syncs what it had
// not.
func (y *walSyncer) shutdown(started bool) error {
	if started {
		close(y.stop)
		<-y.done
	}
	return y.sync()
}
