package integration

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/pkg/client"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// The SIGKILL test: writers create (and delete) token objects through pkg/client while keywardd is killed
// with SIGKILL at random moments and restarted on the same store. Every create or destroy that returned
// CKR_OK before a kill must be there (or gone) afterwards, byte for byte; an operation whose outcome the
// client never learnt may or may not have happened, but never half; the database stays sound.

const (
	crashSOPIN   = "crash-so-4711"
	crashUserPIN = "crash-user-0815"
	crashLabel   = "CrashTest"
	crashPrefix  = "crash-"
)

// crashLabelOf is the CKA_LABEL of object n.
func crashLabelOf(n int) string { return fmt.Sprintf("%s%07d", crashPrefix, n) }

// crashValueOf is the CKA_VALUE of object n: 1 to 700 bytes derived from n, so that a torn or misplaced
// value never matches.
func crashValueOf(n int) []byte {
	size := 1 + (n*7919)%700
	out := make([]byte, 0, size+32)
	var ctr [8]byte
	for i := uint64(0); len(out) < size; i++ {
		binary.BigEndian.PutUint64(ctr[:], i)
		h := sha256.Sum256(append([]byte("keyward-crash-"+strconv.Itoa(n)+"-"), ctr[:]...))
		out = append(out, h[:]...)
	}
	return out[:size]
}

// crashPrivate says whether object n is a private object.
func crashPrivate(n int) bool { return n%3 == 0 }

// objState is what the test knows about one object.
type objState int

const (
	stCreateUnknown objState = iota + 1 // C_CreateObject did not return CKR_OK: may exist (whole) or not
	stPresent                           // acknowledged (or seen after a restart): must exist
	stAbsent                            // never made it, or its deletion was acknowledged: must not exist
	stDeleteUnknown                     // C_DestroyObject did not return CKR_OK: may exist (whole) or not
)

func (s objState) String() string {
	switch s {
	case stCreateUnknown:
		return "create-unknown"
	case stPresent:
		return "present"
	case stAbsent:
		return "absent"
	case stDeleteUnknown:
		return "delete-unknown"
	}
	return "?"
}

// crashModel is the test's knowledge of every object it ever tried to create.
type crashModel struct {
	mu         sync.Mutex
	state      map[int]objState
	deletedAck map[int]bool // deletions acknowledged (a subset of the absent ones)
	next       int
	// statistics
	acked, unknown, delAcked, delUnknown int
}

func newCrashModel() *crashModel {
	return &crashModel{state: map[int]objState{}, deletedAck: map[int]bool{}}
}

func (m *crashModel) newID() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.next
	m.next++
	m.state[n] = stCreateUnknown
	return n
}

func (m *crashModel) set(n int, s objState) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.state[n] = s
	switch s {
	case stPresent:
		m.acked++
	case stCreateUnknown:
		m.unknown++
	case stDeleteUnknown:
		m.delUnknown++
	case stAbsent:
		m.deletedAck[n] = true
		m.delAcked++
	}
}

// presentIDs returns the ids known to exist.
func (m *crashModel) presentIDs() []int {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ids []int
	for n, s := range m.state {
		if s == stPresent {
			ids = append(ids, n)
		}
	}
	sort.Ints(ids)
	return ids
}

// callTimer checks that no client call takes longer than the bound.
type callTimer struct {
	mu    sync.Mutex
	worst time.Duration
	slow  []string
}

// bound is the longest a call may take: the client's per-call timeout, plus slack for scheduling.
const callBound = callTimeout + time.Second

func (ct *callTimer) time(name string, f func() error) error {
	start := time.Now()
	err := f()
	d := time.Since(start)
	ct.mu.Lock()
	if d > ct.worst {
		ct.worst = d
	}
	if d > callBound {
		ct.slow = append(ct.slow, fmt.Sprintf("%s took %v (%v)", name, d, err))
	}
	ct.mu.Unlock()
	return err
}

// crashRun is one run of the SIGKILL test.
type crashRun struct {
	t     *testing.T
	env   env
	model *crashModel
	timer *callTimer
	rng   *rand.Rand

	startTime time.Duration // total time daemons took to start serving

	mu       sync.Mutex
	failures []string // unexpected errors seen by writers
}

func (r *crashRun) fail(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.failures) < 50 {
		r.failures = append(r.failures, fmt.Sprintf(format, args...))
	}
}

// deviceGone reports whether err is what a call sees when the daemon dies under it.
func deviceGone(err error) bool {
	rv := ck.ToRV(err)
	return rv == ck.CKR_DEVICE_REMOVED
}

// writer creates and destroys objects on its own session until the daemon goes away.
func (r *crashRun) writer(c *client.Client, s ck.SessionHandle, seed uint64, stop <-chan struct{}) {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var mine []struct {
		n int
		h ck.ObjectHandle
	}
	for op := 0; ; op++ {
		select {
		case <-stop:
			return
		default:
		}
		// Deletions: one op in five, or one in two once the token is crowded (which keeps the store, and so
		// the daemon's start-up, small in the long mode).
		del := rng.IntN(5) == 0
		if r.crowded() {
			del = rng.IntN(3) != 0
		}
		if len(mine) > 0 && del {
			// Destroy one of the objects this writer made in this daemon life.
			i := rng.IntN(len(mine))
			victim := mine[i]
			mine = append(mine[:i], mine[i+1:]...)
			err := r.timer.time("C_DestroyObject", func() error { return c.DestroyObject(s, victim.h) })
			switch {
			case err == nil:
				r.model.set(victim.n, stAbsent)
			case deviceGone(err):
				r.model.set(victim.n, stDeleteUnknown)
				return
			default:
				r.model.set(victim.n, stDeleteUnknown)
				r.fail("C_DestroyObject(%s): unexpected %v", crashLabelOf(victim.n), err)
				return
			}
			continue
		}
		n := r.model.newID()
		tmpl := []ck.Attribute{
			ulongAttr(ck.CKA_CLASS, uint64(ck.CKO_DATA)),
			boolAttr(ck.CKA_TOKEN, true),
			boolAttr(ck.CKA_PRIVATE, crashPrivate(n)),
			bytesAttr(ck.CKA_LABEL, []byte(crashLabelOf(n))),
			bytesAttr(ck.CKA_APPLICATION, []byte("keyward crash test")),
			bytesAttr(ck.CKA_VALUE, crashValueOf(n)),
		}
		var h ck.ObjectHandle
		err := r.timer.time("C_CreateObject", func() error {
			var err error
			h, err = c.CreateObject(s, tmpl)
			return err
		})
		switch {
		case err == nil:
			r.model.set(n, stPresent)
			mine = append(mine, struct {
				n int
				h ck.ObjectHandle
			}{n, h})
		case deviceGone(err):
			r.model.set(n, stCreateUnknown)
			return
		default:
			r.model.set(n, stCreateUnknown)
			r.fail("C_CreateObject(%s): unexpected %v", crashLabelOf(n), err)
			return
		}
	}
}

// crowdedAt is the number of objects above which the test deletes as much as it creates.
const crowdedAt = 3000

func (r *crashRun) crowded() bool {
	r.model.mu.Lock()
	defer r.model.mu.Unlock()
	return r.model.acked-r.model.delAcked > crowdedAt
}

// deleteOld destroys one object made in an earlier daemon life, found by label.
func (r *crashRun) deleteOld(c *client.Client, s ck.SessionHandle) {
	ids := r.model.presentIDs()
	if len(ids) == 0 {
		return
	}
	n := ids[r.rng.IntN(len(ids))]
	var hs []ck.ObjectHandle
	err := r.timer.time("find", func() error {
		var err error
		hs, err = findAll(c, s, []ck.Attribute{bytesAttr(ck.CKA_LABEL, []byte(crashLabelOf(n)))})
		return err
	})
	if err != nil {
		r.t.Errorf("finding %s to delete it: %v", crashLabelOf(n), err)
		return
	}
	if len(hs) != 1 {
		r.t.Errorf("acknowledged object %s: found %d times, want 1", crashLabelOf(n), len(hs))
		return
	}
	err = r.timer.time("C_DestroyObject", func() error { return c.DestroyObject(s, hs[0]) })
	if err != nil {
		r.t.Errorf("C_DestroyObject(%s) of an object from an earlier daemon life: %v", crashLabelOf(n), err)
		r.model.set(n, stDeleteUnknown)
		return
	}
	r.model.set(n, stAbsent)
}

// cycle runs one daemon life: start (on the same store), log in, stream writes, SIGKILL at a random moment.
func (r *crashRun) cycle(writers int, maxDelay time.Duration) {
	t := r.t
	t0 := time.Now()
	d := startDaemon(t, r.env)
	r.startTime += time.Since(t0)
	c := dial(t, r.env)
	defer c.Close()
	var s ck.SessionHandle
	if err := r.timer.time("login", func() error {
		var err error
		s, err = c.OpenSession(0, ck.CKF_SERIAL_SESSION|ck.CKF_RW_SESSION)
		if err != nil {
			return err
		}
		return c.Login(s, ck.CKU_USER, []byte(crashUserPIN))
	}); err != nil {
		d.kill()
		t.Fatalf("re-login after a restart: %v", err)
	}
	if r.rng.IntN(4) == 0 || r.crowded() {
		r.deleteOld(c, s)
	}
	sessions := []ck.SessionHandle{s}
	for len(sessions) < writers {
		s2, err := c.OpenSession(0, ck.CKF_SERIAL_SESSION|ck.CKF_RW_SESSION)
		if err != nil {
			d.kill()
			t.Fatalf("C_OpenSession: %v", err)
		}
		sessions = append(sessions, s2)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, ws := range sessions {
		wg.Add(1)
		go func(seed uint64, ws ck.SessionHandle) {
			defer wg.Done()
			r.writer(c, ws, seed, stop)
		}(r.rng.Uint64()+uint64(i), ws)
	}
	// Kill a few ms to ~50 ms into the stream.
	time.Sleep(2*time.Millisecond + time.Duration(r.rng.Int64N(int64(maxDelay-2*time.Millisecond))))
	d.kill()
	close(stop)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * callBound):
		t.Fatalf("writers still running %v after the daemon was killed: a client call hangs", 2*callBound)
	}
}

// verify checks the store against the model: with a fresh client, after login, every object is as the
// model allows; objects whose fate was unknown are settled by what the restarted daemon shows. It also checks
// that private objects are hidden before login. The daemon must be stopped when verify is called; it is
// stopped again (cleanly) when verify returns.
func (r *crashRun) verify(when string) {
	t := r.t
	if res := integrityCheck(t, r.env.Store); res != "ok" {
		t.Errorf("%s: PRAGMA integrity_check on the killed store: %s", when, res)
	}
	rows := storeObjectRows(t, r.env.Store)
	d := startDaemon(t, r.env)
	c := dial(t, r.env)
	s, err := c.OpenSession(0, ck.CKF_SERIAL_SESSION|ck.CKF_RW_SESSION)
	if err != nil {
		t.Fatalf("%s: C_OpenSession: %v", when, err)
	}

	// Before login: only public objects.
	pub, err := findAll(c, s, []ck.Attribute{ulongAttr(ck.CKA_CLASS, uint64(ck.CKO_DATA))})
	if err != nil {
		t.Fatalf("%s: listing objects before login: %v", when, err)
	}
	for _, h := range pub {
		a, err := getAttrs(c, s, h, ck.CKA_LABEL, ck.CKA_PRIVATE)
		if err != nil {
			t.Errorf("%s: reading a public object before login: %v", when, err)
			continue
		}
		if bytes.Equal(a[ck.CKA_PRIVATE], []byte{1}) {
			t.Errorf("%s: private object %q visible before login", when, a[ck.CKA_LABEL])
		}
	}

	if err := c.Login(s, ck.CKU_USER, []byte(crashUserPIN)); err != nil {
		t.Fatalf("%s: C_Login(user): %v", when, err)
	}
	all, err := findAll(c, s, nil)
	if err != nil {
		t.Fatalf("%s: listing objects: %v", when, err)
	}
	if len(all) != rows {
		t.Errorf("%s: the store holds %d object rows, the daemon shows %d objects after login (rows it cannot decrypt are skipped)", when, rows, len(all))
	}
	seen := map[int]bool{}
	nPub := 0
	r.model.mu.Lock()
	for _, h := range all {
		a, err := getAttrs(c, s, h, ck.CKA_CLASS, ck.CKA_LABEL, ck.CKA_VALUE, ck.CKA_PRIVATE, ck.CKA_TOKEN)
		if err != nil {
			t.Errorf("%s: C_GetAttributeValue(handle %d): %v", when, h, err)
			continue
		}
		label := string(a[ck.CKA_LABEL])
		num, perr := strconv.Atoi(strings.TrimPrefix(label, crashPrefix))
		st, known := r.model.state[num]
		if !strings.HasPrefix(label, crashPrefix) || perr != nil || !known {
			t.Errorf("%s: object %q was never created by the test", when, label)
			continue
		}
		if seen[num] {
			t.Errorf("%s: object %s exists twice", when, label)
			continue
		}
		seen[num] = true
		if !bytes.Equal(a[ck.CKA_VALUE], crashValueOf(num)) {
			t.Errorf("%s: object %s (%v) has a %d-byte value that is not the one written (%d bytes): torn or misplaced", when, label, st, len(a[ck.CKA_VALUE]), len(crashValueOf(num)))
		}
		wantPriv := []byte{0}
		if crashPrivate(num) {
			wantPriv = []byte{1}
		}
		if !bytes.Equal(a[ck.CKA_PRIVATE], wantPriv) || !bytes.Equal(a[ck.CKA_TOKEN], []byte{1}) {
			t.Errorf("%s: object %s has CKA_PRIVATE %v CKA_TOKEN %v", when, label, a[ck.CKA_PRIVATE], a[ck.CKA_TOKEN])
		}
		if !crashPrivate(num) {
			nPub++
		}
		switch st {
		case stAbsent:
			if r.model.deletedAck[num] {
				t.Errorf("%s: object %s, whose deletion was acknowledged, exists", when, label)
			} else {
				t.Errorf("%s: object %s, absent after an earlier restart, has appeared", when, label)
			}
		case stCreateUnknown, stDeleteUnknown:
			r.model.state[num] = stPresent // it survived: from now on it must stay
		}
	}
	missing := 0
	for num, st := range r.model.state {
		if seen[num] {
			continue
		}
		switch st {
		case stPresent:
			missing++
			if missing <= 20 {
				t.Errorf("%s: acknowledged object %s is missing", when, crashLabelOf(num))
			}
		case stCreateUnknown, stDeleteUnknown:
			r.model.state[num] = stAbsent // it did not survive: it must never appear
		}
	}
	if missing > 20 {
		t.Errorf("%s: %d acknowledged objects missing in all", when, missing)
	}
	present := 0
	var sample []int
	for num, st := range r.model.state {
		if st == stPresent {
			present++
			if len(sample) < 64 {
				sample = append(sample, num)
			}
		}
	}
	r.model.mu.Unlock()
	if nPub != len(pub) {
		t.Errorf("%s: %d public objects before login, %d after", when, len(pub), nPub)
	}
	// Find by label, as an application would, for a sample of the objects that must exist.
	for _, num := range sample {
		hs, err := findAll(c, s, []ck.Attribute{
			ulongAttr(ck.CKA_CLASS, uint64(ck.CKO_DATA)),
			bytesAttr(ck.CKA_LABEL, []byte(crashLabelOf(num))),
		})
		if err != nil || len(hs) != 1 {
			t.Errorf("%s: find by label %s: %d objects, %v", when, crashLabelOf(num), len(hs), err)
			continue
		}
		a, err := getAttrs(c, s, hs[0], ck.CKA_VALUE)
		if err != nil || !bytes.Equal(a[ck.CKA_VALUE], crashValueOf(num)) {
			t.Errorf("%s: %s found by label has the wrong value (%v)", when, crashLabelOf(num), err)
		}
	}
	c.Close()
	d.stop()
	if errs := logErrors(r.env.Log); len(errs) > 0 {
		t.Errorf("%s: the daemon logged errors:\n%s", when, strings.Join(errs, "\n"))
	}
	if res := integrityCheck(t, r.env.Store); res != "ok" {
		t.Errorf("%s: PRAGMA integrity_check after a clean stop: %s", when, res)
	}
	t.Logf("%s: %d objects on the token (%d public), all as expected", when, present, nPub)
}

// TestCrashSIGKILL kills keywardd with SIGKILL at random moments while clients write, and checks that every
// acknowledged write survives and nothing is torn. 200 kills (at most ~90 s), 2000 with KEYWARD_LONG_TESTS=1
// (about 13 minutes: run it with go test -timeout 30m, as `make test` does).
func TestCrashSIGKILL(t *testing.T) {
	kills, budget := 200, 90*time.Second
	if longTests() {
		kills, budget = 2000, 30*time.Minute
	}
	e := newEnv(t)
	dumpLogOnFailure(t, e)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := &crashRun{t: t, env: e, model: newCrashModel(), timer: &callTimer{}, rng: rand.New(rand.NewPCG(seed, 1))}

	// A token with a user PIN.
	d := startDaemon(t, e)
	c := dial(t, e)
	initToken(t, c, 0, crashLabel, crashSOPIN, crashUserPIN)
	c.Close()
	d.stop()

	start := time.Now()
	done := 0
	for done < kills {
		// Kill within 2-50 ms of the stream's start; on a slow machine, shorten the window to keep to the
		// time budget.
		maxDelay := 50 * time.Millisecond
		if done > 0 {
			left := budget - time.Since(start)
			perCycle := time.Since(start) / time.Duration(done)
			if left < perCycle*time.Duration(kills-done) {
				maxDelay = 10 * time.Millisecond
			}
		}
		r.cycle(1+done%2, maxDelay) // one or two writers
		done++
		if len(r.failures) > 0 {
			break
		}
		if done%50 == 0 || done == kills {
			r.verify(fmt.Sprintf("after %d kills", done))
			if t.Failed() {
				break
			}
		}
		if dl, ok := t.Deadline(); ok && time.Until(dl) < 90*time.Second && done < kills {
			r.verify(fmt.Sprintf("after %d kills (stopping before the test deadline)", done))
			t.Errorf("stopped after %d of %d kills to finish before go test's -timeout; the long mode needs -timeout 30m", done, kills)
			break
		}
		if time.Since(start) > 2*budget {
			t.Errorf("%d kills took %v, over twice the %v budget: daemon start-up (%v on average) or the writes are too slow",
				done, time.Since(start), budget, r.startTime/time.Duration(done))
			break
		}
	}
	elapsed := time.Since(start)
	for _, f := range r.failures {
		t.Errorf("writer: %s", f)
	}
	for _, s := range r.timer.slow {
		t.Errorf("call over the %v bound: %s", callBound, s)
	}
	m := r.model
	t.Logf("%d kills in %v (daemon start %v on average): %d creates acknowledged, %d unknown; %d deletions acknowledged, %d unknown; slowest call %v",
		done, elapsed.Round(time.Millisecond), (r.startTime / time.Duration(max(done, 1))).Round(time.Microsecond),
		m.acked, m.unknown, m.delAcked, m.delUnknown, r.timer.worst)
	if elapsed > budget {
		t.Logf("note: over the %v budget (a loaded machine?)", budget)
	}
	if done < kills && !t.Failed() {
		t.Errorf("only %d of %d kills ran", done, kills)
	}
	if m.acked < kills {
		t.Errorf("only %d creates acknowledged in %d daemon lives: the stream did not run", m.acked, done)
	}
	if m.delAcked == 0 {
		t.Errorf("no deletion acknowledged: deletions were not exercised")
	}
}

// TestSecondDaemonRefused: the store has one owner. A second keywardd on the same store exits with status 3
// and leaves the first one serving (its socket untouched).
func TestSecondDaemonRefused(t *testing.T) {
	e := newEnv(t)
	dumpLogOnFailure(t, e)
	d := startDaemon(t, e)
	e2 := e
	e2.Socket = filepath.Join(shortTempDir(t), "kw2.sock")
	e2.Log = e.Log + ".second"
	d2 := startDaemonProcess(t, e2)
	if !d2.exited(5 * time.Second) {
		t.Fatalf("a second keywardd on an owned store is still running after 5 s")
	}
	if code := d2.exitCode(); code != 3 {
		t.Errorf("second keywardd: exit status %d, want 3 (store owned)\n%s", code, tailFile(e2.Log, 5))
	}
	c := dial(t, e)
	if _, err := c.GetSlotList(true); err != nil {
		t.Errorf("the first daemon stopped serving: %v", err)
	}
	c.Close()
	d.stop()
}
