package store

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func openWithT(t testing.TB, dir string, opts Options) *Store {
	t.Helper()
	s, err := OpenWith(dir, opts)
	if err != nil {
		t.Fatalf("OpenWith(%+v): %v", opts, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// fsyncLog records the syncer's fsyncs: which file, and how many commits
// the syncer had counted when it made it.
type fsyncLog struct {
	mu    sync.Mutex
	files []string
	at    []uint64
	fail  error // returned by every fsync once set
}

// hook replaces s's fsync with one that records into l (and then fsyncs).
func (l *fsyncLog) hook(s *Store) {
	y := s.syncer
	y.mu.Lock()
	defer y.mu.Unlock()
	y.fsync = func(f *os.File) error {
		l.mu.Lock()
		l.files = append(l.files, f.Name())
		l.at = append(l.at, y.commits.Load())
		fail := l.fail
		l.mu.Unlock()
		if fail != nil {
			return fail
		}
		return f.Sync()
	}
}

func (l *fsyncLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.files)
}

// synced returns the commits covered by the syncer's last successful sync.
func synced(s *Store) uint64 {
	s.syncer.mu.Lock()
	defer s.syncer.mu.Unlock()
	return s.syncer.synced
}

func TestDurabilityOptionValidated(t *testing.T) {
	for _, in := range []string{"", "full", "batched"} {
		d, err := ParseDurability(in)
		want := Durability(in)
		if in == "" {
			want = DurabilityFull
		}
		if err != nil || d != want {
			t.Errorf("ParseDurability(%q) = %q, %v; want %q", in, d, err, want)
		}
	}
	for _, in := range []string{"FULL", "normal", "off", " batched", "batch"} {
		if d, err := ParseDurability(in); err == nil {
			t.Errorf("ParseDurability(%q) = %q, want an error", in, d)
		} else if !strings.Contains(err.Error(), "full or batched") {
			t.Errorf("ParseDurability(%q): %v, want the valid values named", in, err)
		}
	}
	base := t.TempDir()
	for i, bad := range []Options{
		{Durability: "fast"},
		{Durability: DurabilityBatched, SyncInterval: -time.Millisecond},
		{Durability: DurabilityBatched, SyncInterval: MaxSyncInterval + 1},
	} {
		dir := filepath.Join(base, "store", string(rune('a'+i)))
		if s, err := OpenWith(dir, bad); err == nil {
			s.Close()
			t.Errorf("OpenWith(%+v) succeeded, want an error", bad)
		}
		// Refused before anything was made (and so nothing locked).
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("OpenWith(%+v) refused, but left %s behind (%v)", bad, dir, err)
		}
	}
}

func TestDurabilitySettings(t *testing.T) {
	for _, c := range []struct {
		opts     Options
		want     Durability
		sync     int64
		interval time.Duration
	}{
		{Options{}, DurabilityFull, 2, 0},
		{Options{Durability: DurabilityFull, SyncInterval: time.Second}, DurabilityFull, 2, 0},
		{Options{Durability: DurabilityBatched}, DurabilityBatched, 1, DefaultSyncInterval},
		{Options{Durability: DurabilityBatched, SyncInterval: 5 * time.Millisecond}, DurabilityBatched, 1, 5 * time.Millisecond},
	} {
		dir := t.TempDir()
		s := openWithT(t, dir, c.opts)
		if s.Durability() != c.want || s.SyncInterval() != c.interval {
			t.Errorf("%+v: Durability() %q, SyncInterval() %v; want %q, %v", c.opts, s.Durability(), s.SyncInterval(), c.want, c.interval)
		}
		if v := pragmaInt(t, s, "synchronous"); v != c.sync {
			t.Errorf("%+v: synchronous %d, want %d", c.opts, v, c.sync)
		}
		var mode string
		if err := s.db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
			t.Errorf("%+v: journal_mode %q, %v; want wal", c.opts, mode, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		// A store is not tied to a mode: the other one opens it.
		other := DurabilityFull
		if c.want == DurabilityFull {
			other = DurabilityBatched
		}
		s2 := openWithT(t, dir, Options{Durability: other})
		if s2.Durability() != other {
			t.Errorf("reopened in %q: Durability() %q", other, s2.Durability())
		}
	}
}

// batchedWrites makes a token and a mix of single-object writes and one
// Update; it returns the objects that must exist.
func batchedWrites(t *testing.T, s *Store) map[uint64]string {
	t.Helper()
	update(t, s, func(tx *Tx) error { return tx.PutToken(Token{ID: 9, Blob: []byte("token")}) })
	want := map[uint64]string{}
	for id := range uint64(300) {
		blob := strings.Repeat(string(rune('a'+id%26)), int(1+id%900))
		if err := s.PutObject(Object{Token: 9, ID: id, Private: id%2 == 0, Blob: []byte(blob)}); err != nil {
			t.Fatal(err)
		}
		want[id] = blob
	}
	for id := uint64(0); id < 300; id += 7 {
		if err := s.DeleteObject(9, id); err != nil {
			t.Fatal(err)
		}
		delete(want, id)
	}
	update(t, s, func(tx *Tx) error {
		want[1000] = "in an update"
		return tx.PutObject(Object{Token: 9, ID: 1000, Blob: []byte("in an update")})
	})
	for id := uint64(300); id < 400; id++ {
		if err := s.PutObject(Object{Token: 9, ID: id, Blob: []byte("late")}); err != nil {
			t.Fatal(err)
		}
		want[id] = "late"
	}
	return want
}

func checkObjects(t *testing.T, s *Store, want map[uint64]string) {
	t.Helper()
	objs, err := s.Objects(9)
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != len(want) {
		t.Errorf("%d objects, want %d", len(objs), len(want))
	}
	for _, o := range objs {
		if w, ok := want[o.ID]; !ok || string(o.Blob) != w {
			t.Errorf("object %d: %d-byte blob, present %v; want %d bytes", o.ID, len(o.Blob), ok, len(w))
		}
		if o.ID < 300 && o.Private != (o.ID%2 == 0) {
			t.Errorf("object %d: private %v", o.ID, o.Private)
		}
	}
}

// TestBatchedReopen: what the batched mode committed is there after Close and
// a reopen, in either mode.
func TestBatchedReopen(t *testing.T) {
	for _, reopen := range []Durability{DurabilityBatched, DurabilityFull} {
		t.Run(string(reopen), func(t *testing.T) {
			dir := t.TempDir()
			s, err := OpenWith(dir, Options{Durability: DurabilityBatched})
			if err != nil {
				t.Fatal(err)
			}
			want := batchedWrites(t, s)
			checkObjects(t, s, want)
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if fi, err := os.Stat(filepath.Join(dir, DBFile+"-wal")); err == nil && fi.Size() != 0 {
				t.Errorf("WAL is %d bytes after Close, want it checkpointed", fi.Size())
			}
			checkObjects(t, openWithT(t, dir, Options{Durability: reopen}), want)
		})
	}
}

// TestBatchedCloseSyncs: with a window too long to pass during the test, the
// single-object writes are not fsync'd until Close, which fsyncs the WAL
// before anything else.
func TestBatchedCloseSyncs(t *testing.T) {
	dir := t.TempDir()
	s := openWithT(t, dir, Options{Durability: DurabilityBatched, SyncInterval: MaxSyncInterval})
	var l fsyncLog
	l.hook(s)
	update(t, s, func(tx *Tx) error { return tx.PutToken(Token{ID: 9}) })
	after := l.count()
	for id := range uint64(50) {
		if err := s.PutObject(Object{Token: 9, ID: id, Blob: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteObject(9, 3); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if n := l.count(); n != after {
		t.Fatalf("%d fsyncs during a %v window, want none", n-after, MaxSyncInterval)
	}
	commits := s.syncer.commits.Load()
	if synced(s) >= commits {
		t.Fatalf("the single-object writes count as synced (%d of %d) before any fsync", synced(s), commits)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if l.count() != after+1 || l.files[after] != filepath.Join(dir, DBFile+"-wal") || l.at[after] != commits {
		t.Fatalf("Close made fsyncs %v at commit counts %v (had %d before); want one more, of the WAL, at %d", l.files, l.at, after, commits)
	}
	if synced(s) != commits {
		t.Errorf("after Close %d of %d commits synced", synced(s), commits)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	s2 := openWithT(t, dir, Options{Durability: DurabilityBatched})
	if objs, err := s2.Objects(9); err != nil || len(objs) != 49 {
		t.Errorf("after reopen: %d objects, %v; want 49", len(objs), err)
	}
}

// TestBatchedBackgroundSync: the syncer fsyncs the WAL within the window of
// the writes, once per window however many writes, and not at all while the
// store is idle.
func TestBatchedBackgroundSync(t *testing.T) {
	const window = 40 * time.Millisecond
	s := openWithT(t, t.TempDir(), Options{Durability: DurabilityBatched, SyncInterval: window})
	var l fsyncLog
	l.hook(s)
	update(t, s, func(tx *Tx) error { return tx.PutToken(Token{ID: 9}) })
	time.Sleep(2 * window) // the Update's commit kicked the syncer: let it go idle
	idle := l.count()
	time.Sleep(3 * window)
	if n := l.count(); n != idle {
		t.Errorf("%d fsyncs while idle, want none", n-idle)
	}

	// A burst of writes for five windows: about one fsync per window.
	start := time.Now()
	var id uint64
	for time.Since(start) < 5*window {
		if err := s.PutObject(Object{Token: 9, ID: id, Blob: []byte("x")}); err != nil {
			t.Fatal(err)
		}
		id++
	}
	commits := s.syncer.commits.Load()
	ackedAt := time.Now()
	for synced(s) < commits {
		if time.Since(ackedAt) > window+2*time.Second {
			t.Fatalf("%d of %d commits synced %v after the last write", synced(s), commits, time.Since(ackedAt))
		}
		time.Sleep(time.Millisecond)
	}
	took := time.Since(ackedAt)
	n := l.count() - idle
	t.Logf("%d writes in %v, %d fsyncs; the last write was synced %v after it returned", id, time.Since(start).Round(time.Millisecond), n, took.Round(time.Millisecond))
	if n < 1 || n > 8 {
		t.Errorf("%d fsyncs for %d writes over 5 windows of %v, want one per window (about 5 or 6)", n, id, window)
	}
	if uint64(n) >= id {
		t.Errorf("%d fsyncs for %d writes: not batched", n, id)
	}
	if took > window+500*time.Millisecond {
		t.Errorf("the last write was synced %v after it returned, want about the %v window", took, window)
	}
}

// TestBatchedUpdateDurable: Update fsyncs before it returns in the batched mode
// too, covering the single-object writes before it.
func TestBatchedUpdateDurable(t *testing.T) {
	s := openWithT(t, t.TempDir(), Options{Durability: DurabilityBatched, SyncInterval: MaxSyncInterval})
	var l fsyncLog
	l.hook(s)
	update(t, s, func(tx *Tx) error { return tx.PutToken(Token{ID: 9}) })
	if l.count() != 1 || synced(s) != s.syncer.commits.Load() {
		t.Fatalf("Update returned after %d fsyncs, %d of %d commits synced; want 1, all", l.count(), synced(s), s.syncer.commits.Load())
	}
	for id := range uint64(10) {
		if err := s.PutObject(Object{Token: 9, ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	update(t, s, func(tx *Tx) error { return tx.SetMeta("pin-failures", []byte{3}) })
	if l.count() != 2 || synced(s) != s.syncer.commits.Load() {
		t.Fatalf("Update returned after %d fsyncs, %d of %d commits synced; want 2, all", l.count(), synced(s), s.syncer.commits.Load())
	}
	// A rolled-back Update commits nothing and syncs nothing.
	if err := s.Update(func(tx *Tx) error { return errors.New("no") }); err == nil {
		t.Fatal("failing Update returned nil")
	}
	if l.count() != 2 {
		t.Errorf("a rolled-back Update fsynced")
	}
	// Sync does it on demand.
	if err := s.PutObject(Object{Token: 9, ID: 99}); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(); err != nil || l.count() != 3 || synced(s) != s.syncer.commits.Load() {
		t.Errorf("Sync: %v, %d fsyncs, %d of %d synced", err, l.count(), synced(s), s.syncer.commits.Load())
	}
	if err := s.Sync(); err != nil || l.count() != 3 {
		t.Errorf("Sync with nothing new: %v, %d fsyncs; want no fsync", err, l.count())
	}
}

// TestFullModeNoSyncer: the full mode leaves every fsync to SQLite: the
// syncer only runs once, in Open.
func TestFullModeNoSyncer(t *testing.T) {
	s := openWithT(t, t.TempDir(), Options{})
	var l fsyncLog
	l.hook(s)
	update(t, s, func(tx *Tx) error { return tx.PutToken(Token{ID: 9}) })
	for id := range uint64(20) {
		if err := s.PutObject(Object{Token: 9, ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n := l.count(); n != 0 {
		t.Errorf("the full mode's syncer made %d fsyncs after Open, want none", n)
	}
}

// TestOpenSyncsLeftoverWAL: Open fsyncs the WAL an earlier process left (a
// batched store killed within its window), in either mode.
func TestOpenSyncsLeftoverWAL(t *testing.T) {
	for _, d := range []Durability{DurabilityFull, DurabilityBatched} {
		s := openWithT(t, t.TempDir(), Options{Durability: d})
		if s.syncer.syncs != 1 {
			t.Errorf("%s: Open made %d fsyncs of the WAL, want 1", d, s.syncer.syncs)
		}
		if s.syncer.ino == 0 {
			t.Errorf("%s: Open did not sync the WAL's directory entry", d)
		}
	}
}

// TestBatchedSyncFailure: once a background fsync fails, the store refuses
// writes (acknowledged ones may be lost) and Close reports it.
func TestBatchedSyncFailure(t *testing.T) {
	s := openWithT(t, t.TempDir(), Options{Durability: DurabilityBatched, SyncInterval: time.Millisecond})
	update(t, s, func(tx *Tx) error { return tx.PutToken(Token{ID: 9}) })
	l := fsyncLog{fail: syscall.EIO}
	l.hook(s)
	if err := s.PutObject(Object{Token: 9, ID: 1}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.syncer.failed() == nil {
		if time.Now().After(deadline) {
			t.Fatal("the background sync did not run")
		}
		time.Sleep(time.Millisecond)
	}
	for name, err := range map[string]error{
		"PutObject":    s.PutObject(Object{Token: 9, ID: 2}),
		"DeleteObject": s.DeleteObject(9, 1),
		"Update":       s.Update(func(tx *Tx) error { return tx.SetMeta("k", nil) }),
		"Sync":         s.Sync(),
		"Close":        s.Close(),
	} {
		if !errors.Is(err, ErrSyncFailed) || !errors.Is(err, syscall.EIO) {
			t.Errorf("%s after a failed fsync: %v, want ErrSyncFailed wrapping EIO", name, err)
		}
	}
}
