package main

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRenderProgress(t *testing.T) {
	cases := []struct {
		frame   int
		elapsed time.Duration
		want    string
	}{
		{0, 0, "\r\x1b[K| generating (0s)"},
		{1, 1500 * time.Millisecond, "\r\x1b[K/ generating (1s)"},
		{2, 59 * time.Second, "\r\x1b[K- generating (59s)"},
		{3, 61 * time.Second, "\r\x1b[K\\ generating (61s)"},
		{4, 0, "\r\x1b[K| generating (0s)"},
	}
	for _, tc := range cases {
		if got := renderProgress(tc.frame, "generating", tc.elapsed); got != tc.want {
			t.Errorf("renderProgress(%d, %v) = %q, want %q", tc.frame, tc.elapsed, got, tc.want)
		}
	}
}

// lockedBuffer is a bytes.Buffer safe for the progress goroutine and the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestProgressDrawsAndClears(t *testing.T) {
	var w lockedBuffer
	p := newProgress(&w, "working", 0, 2*time.Millisecond)
	deadline := time.Now().Add(5 * time.Second)
	for strings.Count(w.String(), progressClear) < 3 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	p.set("still working")
	time.Sleep(10 * time.Millisecond)
	p.stop()
	p.stop() // idempotent
	out := w.String()
	if !strings.HasPrefix(out, progressClear+"| working (0s)") {
		t.Fatalf("first frame: %q", out)
	}
	if !strings.Contains(out, "still working") {
		t.Errorf("set did not change the message: %q", out)
	}
	if !strings.HasSuffix(out, "s)"+progressClear) {
		t.Errorf("the line is not erased at the end: %q", out)
	}
	time.Sleep(10 * time.Millisecond)
	if w.String() != out {
		t.Errorf("output after stop: %q", strings.TrimPrefix(w.String(), out))
	}
}

func TestProgressQuickWorkShowsNothing(t *testing.T) {
	var w lockedBuffer
	p := newProgress(&w, "working", time.Hour, time.Millisecond)
	p.stop()
	if w.String() != "" {
		t.Fatalf("quick work wrote %q", w.String())
	}
	var nilProgress *progress // no terminal
	nilProgress.set("x")
	nilProgress.stop()
}

func TestIsTerminal(t *testing.T) {
	if isTerminal(&bytes.Buffer{}) {
		t.Error("a buffer is a terminal")
	}
	f, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if isTerminal(f) {
		t.Error("a regular file is a terminal")
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if isTerminal(w) {
		t.Error("a pipe is a terminal")
	}
	if pty, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0); err == nil {
		defer pty.Close()
		if !isTerminal(pty) {
			t.Error("a pseudo-terminal is not a terminal")
		}
	}
}

// TestProgressNotOnNonTerminal: slow key generation and provision add nothing to stderr when it is a file.
func TestProgressNotOnNonTerminal(t *testing.T) {
	env := newToken(t, "progress")
	r := kw(t, env, "key", "generate", "--type", "rsa:3072", "--label", "slow", "--id", "31", "--token", "progress")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("exit %d, stderr %q (want none)", r.code, r.stderr)
	}
	// The same with stderr an *os.File that is not a terminal.
	errFile, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	defer errFile.Close()
	var out bytes.Buffer
	c := newCLI(&out, errFile)
	c.stdin = bytes.NewReader(nil)
	full := map[string]string{"KEYWARD_SOCKET": harness.socket}
	for k, v := range env {
		full[k] = v
	}
	c.lookupEnv = func(k string) (string, bool) { v, ok := full[k]; return v, ok }
	c.getenv = func(k string) string { return full[k] }
	c.openTTY = func() (*os.File, error) { return nil, errors.New("no terminal in tests") }
	if code := c.run([]string{"key", "generate", "--type", "rsa:4096", "--label", "slower", "--id", "32", "--token", "progress"}); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if data, _ := os.ReadFile(errFile.Name()); len(data) != 0 {
		t.Fatalf("stderr file got %q", data)
	}
	if !strings.HasPrefix(out.String(), "pkcs11:") {
		t.Fatalf("stdout %q", out.String())
	}
}
