package daemon_test

import (
	"bytes"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/daemon"
	"github.com/keyward/keyward/internal/engine"
	"github.com/keyward/keyward/internal/engine/enginetest"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/vault"
	"github.com/keyward/keyward/internal/wire"
	"github.com/keyward/keyward/pkg/client"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// serve starts an engine on a fresh store behind a socket and returns the socket path.
func serve(t *testing.T) (string, *daemon.Server) {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	e, err := engine.New(st, bytes.Repeat([]byte{9}, 32), engine.Config{KDF: vault.FastKDF, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "s.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := daemon.NewServer(e.Open, log)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Shutdown()
		<-done
		e.Close()
		st.Close()
	})
	return sock, srv
}

// TestProviderSuiteOverSocket runs the shared Provider suite through the daemon's socket with pkg/client.
func TestProviderSuiteOverSocket(t *testing.T) {
	enginetest.Run(t, func(t *testing.T) func() ck.Provider {
		sock, _ := serve(t)
		return func() ck.Provider {
			c, err := client.Dial(sock)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			return c
		}
	})
}

// TestApplicationEndsWithItsLastConnection checks that closing the client ends the application.
func TestApplicationEndsWithItsLastConnection(t *testing.T) {
	sock, srv := serve(t)
	c, err := client.Dial(sock)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetSlotList(true); err != nil {
		t.Fatal(err)
	}
	if n := srv.Applications(); n != 1 {
		t.Fatalf("%d applications, want 1", n)
	}
	c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for srv.Applications() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the application outlived its connection")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// rawConn speaks frames directly, for malformed-input tests.
func rawConn(t *testing.T, sock string) net.Conn {
	t.Helper()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(5 * time.Second))
	return c
}

func hello(t *testing.T, c net.Conn) {
	t.Helper()
	var e wire.Encoder
	e.U(wire.Version)
	e.B(nil)
	if _, err := c.Write(wire.AppendRequest(nil, 1, wire.CallHello, e.Bytes())); err != nil {
		t.Fatal(err)
	}
	resp, _, err := wire.ReadResponse(c, nil)
	if err != nil || resp.RV != ck.CKR_OK {
		t.Fatalf("hello: %v %v", err, resp.RV)
	}
}

// expectClosed checks that the daemon closed the connection.
func expectClosed(t *testing.T, c net.Conn, what string) {
	t.Helper()
	var b [1]byte
	if _, err := c.Read(b[:]); err != io.EOF {
		t.Fatalf("%s: connection still open (read gave %v)", what, err)
	}
}

// TestMalformedFramesCloseOnlyThatConnection sends broken frames; each closes its own connection while a
// well-behaved client on another connection keeps working.
func TestMalformedFramesCloseOnlyThatConnection(t *testing.T) {
	sock, _ := serve(t)
	good, err := client.Dial(sock)
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	oversized := binary.BigEndian.AppendUint32(nil, wire.MaxFrame+1)
	var badBody wire.Encoder
	badBody.B([]byte("not a u"))
	cases := []struct {
		name  string
		hello bool
		frame []byte
	}{
		{"oversized length", false, oversized},
		{"first frame not hello", false, wire.AppendRequest(nil, 1, wire.CallGetSlotList, []byte{'u', 0, 0, 0, 0, 0, 0, 0, 1})},
		{"truncated body", true, wire.AppendRequest(nil, 2, wire.CallGetSlotList, []byte{'u', 0, 0})},
		{"wrong item tag", true, wire.AppendRequest(nil, 2, wire.CallGetSlotList, badBody.Bytes())},
		{"trailing bytes", true, wire.AppendRequest(nil, 2, wire.CallGetSlotList, []byte{'u', 0, 0, 0, 0, 0, 0, 0, 1, 9})},
		{"header shorter than its fields", false, []byte{0, 0, 0, 2, 1, 2}},
		{"second hello", true, wire.AppendRequest(nil, 2, wire.CallHello, []byte{'u', 0, 0, 0, 0, 0, 0, 0, 1, 'b', 0, 0, 0, 0})},
		{"huge template count", true, wire.AppendRequest(nil, 2, wire.CallFindObjectsInit, append([]byte{'u', 0, 0, 0, 0, 0, 0, 0, 1, 'A'}, 0xff, 0xff, 0xff, 0xff))},
	}
	for _, tc := range cases {
		c := rawConn(t, sock)
		if tc.hello {
			hello(t, c)
		}
		c.Write(tc.frame)
		expectClosed(t, c, tc.name)
		if _, err := good.GetSlotList(true); err != nil {
			t.Fatalf("after %s, another client fails: %v", tc.name, err)
		}
	}
	// An unknown call is answered, and the connection stays usable.
	c := rawConn(t, sock)
	hello(t, c)
	c.Write(wire.AppendRequest(nil, 5, 9999, nil))
	resp, _, err := wire.ReadResponse(c, nil)
	if err != nil || resp.RV != ck.CKR_FUNCTION_NOT_SUPPORTED || resp.ID != 5 {
		t.Fatalf("unknown call: %v %+v", err, resp)
	}
}

// TestJoinRules checks that a second connection joins its application only with the right cookie from the
// same process.
func TestJoinRules(t *testing.T) {
	sock, srv := serve(t)
	c := rawConn(t, sock)
	var e wire.Encoder
	e.U(wire.Version)
	e.B(bytes.Repeat([]byte{1}, wire.CookieSize))
	c.Write(wire.AppendRequest(nil, 1, wire.CallHello, e.Bytes()))
	resp, _, err := wire.ReadResponse(c, nil)
	if err != nil || resp.RV != ck.CKR_GENERAL_ERROR {
		t.Fatalf("join with an unknown cookie: %v %v", err, resp.RV)
	}
	expectClosed(t, c, "join with an unknown cookie")
	e.Reset()
	e.U(wire.Version + 1)
	e.B(nil)
	c = rawConn(t, sock)
	c.Write(wire.AppendRequest(nil, 1, wire.CallHello, e.Bytes()))
	resp, _, err = wire.ReadResponse(c, nil)
	if err != nil || resp.RV != ck.CKR_GENERAL_ERROR {
		t.Fatalf("hello of a future version: %v %v", err, resp.RV)
	}
	if srv.Applications() != 0 {
		t.Fatal("a refused hello left an application")
	}
}
