package integration

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The batched durability mode (keywardd --durability batched, or durability: batched in the configuration file)
// defers the fsync of object creations and destructions to a background syncer. A crash of the daemon must still
// lose nothing: every acknowledged commit is in the operating system's page cache. These tests SIGKILL a batched
// daemon right after acknowledged writes, which is well within its 20 ms window, and check on restart.

// writeConf writes a keywardd configuration file into a fresh directory and returns its path.
func writeConf(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keywardd.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// durabilityLines returns the "store durability" lines of a daemon log.
func durabilityLines(path string) []string {
	b, _ := os.ReadFile(path)
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, `msg="store durability"`) {
			out = append(out, l)
		}
	}
	return out
}

// TestCrashSIGKILLBatched is TestCrashSIGKILL's check with the daemon in the batched mode, chosen by the
// configuration file ($KEYWARD_CONF, which every daemon the helpers start inherits): writers stream creates and
// destroys, the daemon is SIGKILLed 2-50 ms into the stream, and after a restart every acknowledged create is
// there byte for byte and every acknowledged destroy is gone. It ends with graceful stops, which must lose
// nothing either.
func TestCrashSIGKILLBatched(t *testing.T) {
	kills := 40
	if longTests() {
		kills = 400
	}
	t.Setenv("KEYWARD_CONF", writeConf(t, "durability: batched\n"))
	e := newEnv(t)
	dumpLogOnFailure(t, e)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := &crashRun{t: t, env: e, model: newCrashModel(), timer: &callTimer{}, rng: rand.New(rand.NewPCG(seed, 2))}

	d := startDaemon(t, e)
	c := dial(t, e)
	initToken(t, c, 0, crashLabel, crashSOPIN, crashUserPIN)
	c.Close()
	d.stop()
	lines := durabilityLines(e.Log)
	if len(lines) != 1 || !strings.Contains(lines[0], "level=INFO") || !strings.Contains(lines[0], "mode=batched") ||
		!strings.Contains(lines[0], "sync_window=20ms") {
		t.Fatalf("want one INFO line saying the batched mode runs, with its window; the log has %q", lines)
	}

	start := time.Now()
	for done := 1; done <= kills; done++ {
		r.cycle(1+done%2, 50*time.Millisecond)
		if len(r.failures) > 0 {
			break
		}
		if done%10 == 0 {
			// verify restarts the daemon, checks every object against the model, then stops it with SIGTERM.
			r.verify(fmt.Sprintf("after %d kills", done))
			if t.Failed() {
				break
			}
		}
	}
	for _, f := range r.failures {
		t.Errorf("writer: %s", f)
	}
	for _, s := range r.timer.slow {
		t.Errorf("call over the %v bound: %s", callBound, s)
	}
	// The graceful stop at the end of the last verify closed the store: the WAL is checkpointed.
	if fi, err := os.Stat(filepath.Join(e.Store, "keyward.db-wal")); err == nil && fi.Size() != 0 {
		t.Errorf("the WAL holds %d bytes after a graceful stop, want it checkpointed", fi.Size())
	}
	// One more life that ends with SIGTERM right after acknowledged writes, checked by a last restart.
	r.gracefulStop()
	r.verify("after a graceful stop")

	m := r.model
	t.Logf("%d kills in %v: %d creates acknowledged, %d unknown; %d deletions acknowledged, %d unknown; slowest call %v",
		kills, time.Since(start).Round(time.Millisecond), m.acked, m.unknown, m.delAcked, m.delUnknown, r.timer.worst)
	if m.acked < kills {
		t.Errorf("only %d creates acknowledged in %d daemon lives: the stream did not run", m.acked, kills)
	}
	if m.delAcked == 0 {
		t.Errorf("no deletion acknowledged: deletions were not exercised")
	}
	for _, l := range durabilityLines(e.Log) {
		if !strings.Contains(l, "mode=batched") {
			t.Errorf("a daemon did not run batched: %s", l)
		}
	}
}

// gracefulStop runs one daemon life that creates objects and stops with SIGTERM right after the last
// acknowledgement, sooner than the batched window.
func (r *crashRun) gracefulStop() {
	t := r.t
	d := startDaemon(t, r.env)
	c := dial(t, r.env)
	s := userSession(t, c, 0, crashUserPIN)
	stop := make(chan struct{})
	go func() { time.Sleep(30 * time.Millisecond); close(stop) }()
	r.writer(c, s, r.rng.Uint64(), stop)
	d.stop()
	c.Close()
}

// TestDurabilitySettingErrors: a bad --durability, or a bad durability in the configuration file, is one line in
// words and a non-zero exit; the flag wins over the file; the default is full.
func TestDurabilitySettingErrors(t *testing.T) {
	e := newEnv(t)
	dumpLogOnFailure(t, e)

	// The default, and the flag over the configuration file.
	d := startDaemon(t, e)
	d.stop()
	t.Setenv("KEYWARD_CONF", writeConf(t, "durability: batched\n"))
	d = startDaemonProcess(t, e, "--durability", "full")
	if err := d.waitReady(5 * time.Second); err != nil {
		t.Fatalf("keywardd --durability full: %v\n%s", err, tailFile(e.Log, 20))
	}
	d.stop()
	lines := durabilityLines(e.Log)
	if len(lines) != 2 || !strings.Contains(lines[0], "mode=full") || !strings.Contains(lines[1], "mode=full") {
		t.Errorf("want two lives in the full mode (default, then the flag over the file); log: %q", lines)
	}

	// A bad flag: one line on stderr.
	d = startDaemonProcess(t, e, "--durability", "sometimes")
	if !d.exited(5 * time.Second) {
		t.Fatal("keywardd --durability sometimes is still running")
	}
	stderr := strings.TrimSpace(d.cmd.Stderr.(*bytes.Buffer).String())
	if d.exitCode() == 0 || stderr == "" || strings.Contains(stderr, "\n") || !strings.Contains(stderr, "full or batched") {
		t.Errorf("--durability sometimes: exit status %d, stderr %q; want non-zero and one line naming the values", d.exitCode(), stderr)
	}

	// A bad configuration value: one ERROR line in the log.
	t.Setenv("KEYWARD_CONF", writeConf(t, "durability: fastest\n"))
	before := len(logErrors(e.Log))
	d = startDaemonProcess(t, e)
	if !d.exited(5 * time.Second) {
		t.Fatal("keywardd with durability: fastest is still running")
	}
	errs := logErrors(e.Log)[before:]
	if d.exitCode() == 0 || len(errs) != 1 || !strings.Contains(errs[0], "durability") || !strings.Contains(errs[0], "full or batched") {
		t.Errorf("durability: fastest: exit status %d, log errors %q; want non-zero and one line naming the key and values", d.exitCode(), errs)
	}
}
