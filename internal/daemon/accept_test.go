package daemon_test

import (
	"bytes"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/daemon"
	"github.com/keyward/keyward/internal/engine"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/vault"
	"github.com/keyward/keyward/pkg/client"
)

// syncBuffer is a log destination the test reads while the server writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// failingListener fails its first accepts as the kernel does when the process is out of descriptors.
type failingListener struct {
	net.Listener
	fails atomic.Int32
}

func (l *failingListener) Accept() (net.Conn, error) {
	if l.fails.Add(-1) >= 0 {
		return nil, &net.OpError{Op: "accept", Net: "unix", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

// TestAcceptErrorsBackOff: accept errors (EMFILE, ENFILE) do not end Serve (they used to: the daemon exited); it
// backs off, accepts again and serves, and Shutdown still ends it.
func TestAcceptErrorsBackOff(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	e, err := engine.New(st, bytes.Repeat([]byte{9}, 32), engine.Config{KDF: vault.FastKDF, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	sock := filepath.Join(dir, "s.sock")
	inner, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ln := &failingListener{Listener: inner}
	ln.fails.Store(6) // 5+10+20+40+80+160 ms of back-off: 315 ms
	srv := daemon.NewServer(e.Open, log)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	// The failures come one after another, without any client: by 1 s they are over, and Serve must still run.
	select {
	case err := <-done:
		t.Fatalf("Serve returned on accept errors: %v", err)
	case <-time.After(time.Second):
	}
	if n := ln.fails.Load(); n >= 0 {
		t.Fatalf("Serve stopped accepting after an error (%d failures left)", n+1)
	}
	c, err := client.Dial(sock)
	if err != nil {
		t.Fatalf("Dial after accept errors: %v", err)
	}
	if _, err := c.GetSlotList(false); err != nil {
		t.Fatalf("C_GetSlotList after accept errors: %v", err)
	}
	if !strings.Contains(logs.String(), "accept failed; backing off") {
		t.Errorf("no log line for the accept errors:\n%s", logs.String())
	}
	c.Close()
	srv.Shutdown()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve after Shutdown: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after Shutdown")
	}
}
