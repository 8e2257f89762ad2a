package integration

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/wire"
	"github.com/keyward/keyward/pkg/client"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// The fault tests (issue 6): hostile frames cost only their own connection; clients killed mid-session leave
// nothing behind in the daemon; a store that cannot be written (read-only, full) fails writes with a device error
// and a clear log line while reads go on, and is never corrupted.

const (
	faultSOPIN   = "fault-so-1618"
	faultUserPIN = "fault-user-1414"
)

// --- raw connections -----------------------------------------------------------------------------------------------

// rawConn is a connection that speaks frames by hand.
type rawConn struct {
	t  testing.TB
	c  *net.UnixConn
	id uint32
}

func dialRaw(t testing.TB, e env) *rawConn {
	t.Helper()
	c, err := net.Dial("unix", e.Socket)
	if err != nil {
		t.Fatalf("dial %s: %v", e.Socket, err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, c: c.(*net.UnixConn)}
}

// frame returns a request frame for call with the body enc writes.
func (r *rawConn) frame(call wire.Call, enc func(*wire.Encoder)) []byte {
	r.id++
	var e wire.Encoder
	if enc != nil {
		enc(&e)
	}
	return wire.AppendRequest(nil, r.id, call, e.Bytes())
}

func (r *rawConn) send(b []byte) error {
	r.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := r.c.Write(b)
	return err
}

// recv reads one response frame (5 s bound).
func (r *rawConn) recv() (wire.Response, error) {
	r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, _, err := wire.ReadResponse(r.c, nil)
	return resp, err
}

// call sends a frame and reads its response.
func (r *rawConn) call(b []byte) (wire.Response, error) {
	if err := r.send(b); err != nil {
		return wire.Response{}, err
	}
	return r.recv()
}

// hello creates an application (empty cookie) or joins one; it returns the cookie.
func (r *rawConn) hello(cookie []byte) []byte {
	r.t.Helper()
	resp, err := r.call(r.frame(wire.CallHello, func(e *wire.Encoder) { e.U(wire.Version); e.B(cookie) }))
	if err != nil || resp.RV != ck.CKR_OK {
		r.t.Fatalf("Hello: rv %v err %v", resp.RV, err)
	}
	d := wire.NewDecoder(resp.Body)
	d.U()
	return append([]byte{}, d.B()...)
}

// closedByPeer reports whether the daemon closed the connection (EOF or reset within 5 s, nothing else read).
func (r *rawConn) closedByPeer() error {
	r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var buf [4096]byte
	var extra int
	for {
		n, err := r.c.Read(buf[:])
		extra += n
		if err == nil {
			continue
		}
		if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
			if extra > 0 {
				return fmt.Errorf("closed, but after sending %d unexpected bytes", extra)
			}
			return nil
		}
		return fmt.Errorf("still open after 5 s (%v)", err)
	}
}

// countLog counts the log lines containing s.
func countLog(path, s string) int { return strings.Count(readText(path), s) }

// vmRSSKiB is the VmRSS of pid in KiB.
func vmRSSKiB(t testing.TB, pid int) int {
	t.Helper()
	v := strings.TrimSuffix(procStatusField(t, pid, "VmRSS"), " kB")
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		t.Fatalf("VmRSS %q: %v", v, err)
	}
	return n
}

// TestFaultFrames: garbage, truncated, oversized (length 2^31 and beyond), short and replayed frames on raw
// connections. Each hostile connection, and only it, is dropped with a log line; the daemon keeps its pid and does
// not grow by the announced sizes; a pkg/client application connected before keeps its session and login and works
// after every case.
func TestFaultFrames(t *testing.T) {
	e := newEnv(t)
	dumpLogOnFailure(t, e)
	d := startDaemon(t, e)
	pid := d.cmd.Process.Pid
	good := dial(t, e)
	defer good.Close()
	slots, err := good.GetSlotList(false)
	if err != nil || len(slots) == 0 {
		t.Fatalf("C_GetSlotList: %v %v", slots, err)
	}
	initToken(t, good, slots[0], "FaultTok", faultSOPIN, faultUserPIN)
	gs := userSession(t, good, slots[0], faultUserPIN)
	rss0 := vmRSSKiB(t, pid)

	check := func(name string) {
		t.Helper()
		select {
		case <-d.done:
			t.Fatalf("%s: keywardd exited: %v", name, d.err)
		default:
		}
		if b, err := good.GenerateRandom(gs, 32); err != nil || len(b) != 32 {
			t.Fatalf("%s: the well-behaved application's C_GenerateRandom failed afterwards: %v", name, err)
		}
		si, err := good.GetSessionInfo(gs)
		if err != nil || si.State != ck.CKS_RW_USER_FUNCTIONS {
			t.Fatalf("%s: the well-behaved application's session is %+v, %v; want still logged in (R/W user)", name, si, err)
		}
	}
	hdr := func(n uint32, rest ...byte) []byte { return append(binary.BigEndian.AppendUint32(nil, n), rest...) }
	garbage := make([]byte, 4096)
	rand.Read(garbage)

	dropped := []struct {
		name string
		// hello: send a Hello first (the hostile bytes come after a valid start)
		hello bool
		bytes func(r *rawConn) []byte
		// half: shut the write side after sending (a truncated frame that will never complete)
		half bool
	}{
		{"garbage: HTTP request", false, func(*rawConn) []byte { return []byte("GET / HTTP/1.1\r\nHost: keyward\r\n\r\n") }, false},
		{"garbage: random body, valid length", false, func(*rawConn) []byte {
			return append(hdr(uint32(len(garbage))), garbage...)
		}, false},
		{"garbage: random body after Hello", true, func(*rawConn) []byte {
			b := hdr(8+64, 0, 0, 0, 9)
			b = binary.BigEndian.AppendUint32(b, uint32(wire.CallOpenSession))
			return append(b, garbage[:64]...)
		}, false},
		{"oversized: length 2^31", false, func(*rawConn) []byte { return append(hdr(1<<31), garbage[:64]...) }, false},
		{"oversized: length 2^31 after Hello", true, func(*rawConn) []byte { return append(hdr(1<<31), garbage[:64]...) }, false},
		{"oversized: length 2^32-1", false, func(*rawConn) []byte { return hdr(0xffffffff) }, false},
		{"oversized: MaxFrame+1", true, func(*rawConn) []byte { return hdr(wire.MaxFrame + 1) }, false},
		{"short: length below the header", false, func(*rawConn) []byte { return hdr(3, 1, 2, 3) }, false},
		{"truncated: half a length field", false, func(*rawConn) []byte { return []byte{0, 0} }, true},
		{"truncated: frame cut short", true, func(*rawConn) []byte { return append(hdr(100), garbage[:10]...) }, true},
		{"truncated: item cut inside a valid frame", true, func(r *rawConn) []byte {
			f := r.frame(wire.CallGetSessionInfo, func(e *wire.Encoder) { e.U(1) })
			f = f[:len(f)-3] // drop the last 3 bytes of the u64, then fix the length
			binary.BigEndian.PutUint32(f, uint32(len(f)-4))
			return f
		}, false},
		{"trailing bytes after the items", true, func(r *rawConn) []byte {
			f := r.frame(wire.CallGetSessionInfo, func(e *wire.Encoder) { e.U(1) })
			f = append(f, 'u', 0, 0, 0, 0, 0, 0, 0, 1)
			binary.BigEndian.PutUint32(f, uint32(len(f)-4))
			return f
		}, false},
		{"first frame not Hello", false, func(r *rawConn) []byte {
			return r.frame(wire.CallGetSlotList, func(e *wire.Encoder) { e.U(0) })
		}, false},
		{"replayed Hello on the same connection", true, func(r *rawConn) []byte {
			return r.frame(wire.CallHello, func(e *wire.Encoder) { e.U(wire.Version); e.B(nil) })
		}, false},
	}
	for _, tc := range dropped {
		before := countLog(e.Log, "dropping connection")
		r := dialRaw(t, e)
		if tc.hello {
			r.hello(nil)
		}
		if err := r.send(tc.bytes(r)); err != nil && !errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("%s: send: %v", tc.name, err)
		}
		if tc.half {
			r.c.CloseWrite()
		}
		if err := r.closedByPeer(); err != nil {
			t.Errorf("%s: the daemon did not drop the connection: %v", tc.name, err)
		}
		check(tc.name)
		deadline := time.Now().Add(2 * time.Second)
		for countLog(e.Log, "dropping connection") == before && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if countLog(e.Log, "dropping connection") == before {
			t.Errorf("%s: no \"dropping connection\" log line", tc.name)
		}
	}
	if rss := vmRSSKiB(t, pid); rss > rss0+64*1024 {
		t.Errorf("keywardd's VmRSS grew from %d KiB to %d KiB over the hostile frames: an announced length was allocated", rss0, rss)
	}

	// Kept, by the protocol: an unknown call id is answered CKR_FUNCTION_NOT_SUPPORTED on a live connection, and a
	// duplicated request (same id, same bytes) is simply served again.
	r := dialRaw(t, e)
	r.hello(nil)
	resp, err := r.call(r.frame(wire.Call(0xfffe), nil))
	if err != nil || resp.RV != ck.CKR_FUNCTION_NOT_SUPPORTED {
		t.Errorf("unknown call id: rv %v err %v, want CKR_FUNCTION_NOT_SUPPORTED on an open connection", resp.RV, err)
	}
	dup := r.frame(wire.CallGetSlotList, func(e *wire.Encoder) { e.U(0) })
	for i := 0; i < 3; i++ {
		resp, err := r.call(dup)
		if err != nil || resp.RV != ck.CKR_OK || resp.ID != r.id {
			t.Errorf("duplicated request %d: rv %v id %d err %v", i, resp.RV, resp.ID, err)
		}
	}

	// Replays across applications. Application A (a raw connection) opens a session and logs in; its frames,
	// captured, give another application nothing: a session-bound frame replayed by application B names a session B
	// does not have; A's cookie replayed in a Hello by another process is refused.
	a := dialRaw(t, e)
	cookieA := a.hello(nil)
	resp, err = a.call(a.frame(wire.CallOpenSession, func(e *wire.Encoder) {
		e.U(uint64(slots[0]))
		e.U(uint64(ck.CKF_SERIAL_SESSION | ck.CKF_RW_SESSION))
	}))
	if err != nil || resp.RV != ck.CKR_OK {
		t.Fatalf("A: OpenSession: %v %v", resp.RV, err)
	}
	hA := wire.NewDecoder(resp.Body).U()
	if resp, err := a.call(a.frame(wire.CallLogin, func(e *wire.Encoder) {
		e.U(hA)
		e.U(uint64(ck.CKU_USER))
		e.P([]byte(faultUserPIN))
	})); err != nil || resp.RV != ck.CKR_OK {
		t.Fatalf("A: Login: %v %v", resp.RV, err)
	}
	capturedInfo := a.frame(wire.CallGetSessionInfo, func(e *wire.Encoder) { e.U(hA) })
	capturedRandom := a.frame(wire.CallGenerateRandom, func(e *wire.Encoder) { e.U(hA); e.U(16) })
	if resp, err := a.call(capturedInfo); err != nil || resp.RV != ck.CKR_OK {
		t.Fatalf("A: GetSessionInfo: %v %v", resp.RV, err)
	}
	b := dialRaw(t, e)
	b.hello(nil)
	for _, f := range [][]byte{capturedInfo, capturedRandom} {
		resp, err := b.call(f)
		if err != nil || resp.RV != ck.CKR_SESSION_HANDLE_INVALID {
			t.Errorf("B replayed A's %v frame for A's session %d: rv %v err %v, want CKR_SESSION_HANDLE_INVALID", wire.Call(binary.BigEndian.Uint32(f[8:])), hA, resp.RV, err)
		}
	}
	// Another process replays A's join Hello (A's cookie): the daemon refuses it (uid and pid must match).
	joinFrame := wire.AppendRequest(nil, 1, wire.CallHello, func() []byte {
		var e wire.Encoder
		e.U(wire.Version)
		e.B(cookieA)
		return e.Bytes()
	}())
	cmd := exec.Command(os.Args[0], "-test.run=^TestFaultReplayHelper$", "-test.v")
	cmd.Env = append(os.Environ(), "KW_REPLAY_SOCKET="+e.Socket, "KW_REPLAY_FRAME="+hex.EncodeToString(joinFrame))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("replay helper: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "replay-result rv=0x5 closed=true") {
		t.Errorf("another process replaying A's join Hello: want CKR_GENERAL_ERROR (0x5) and a closed connection; helper said:\n%s", out)
	}
	if resp, err := a.call(capturedInfo); err != nil || resp.RV != ck.CKR_OK {
		t.Errorf("A after the replays: GetSessionInfo %v %v", resp.RV, err)
	}
	check("replays")
	if got := d.cmd.Process.Pid; got != pid {
		t.Fatalf("pid changed")
	}
}

// TestFaultReplayHelper is run by TestFaultFrames as a separate process (another pid): it sends one frame given in
// hex and reports the response's rv and whether the daemon then closed the connection. Without its environment it
// does nothing.
func TestFaultReplayHelper(t *testing.T) {
	sock := os.Getenv("KW_REPLAY_SOCKET")
	if sock == "" {
		return
	}
	frame, err := hex.DecodeString(os.Getenv("KW_REPLAY_FRAME"))
	if err != nil {
		t.Fatal(err)
	}
	r := dialRaw(t, env{Socket: sock})
	resp, err := r.call(frame)
	if err != nil {
		t.Fatalf("replay: %v", err)
	}
	fmt.Printf("replay-result rv=%#x closed=%v\n", uint64(resp.RV), r.closedByPeer() == nil)
}

// --- killed clients ------------------------------------------------------------------------------------------------

// daemonCounters reads what must not grow with killed clients: goroutines and the live heap after a GC (through
// the daemon's debug pprof endpoint), open file descriptors and VmRSS.
type daemonCounters struct {
	goroutines, fds, rssKiB int
	heapInuse               int64
}

// readCounters reads the counters; goroutines and heapInuse are -1 when the daemon serves no pprof endpoint
// (keywardd built without --pprof).
func readCounters(t testing.TB, pprofAddr string, pid int) daemonCounters {
	t.Helper()
	hc := http.Client{Timeout: 5 * time.Second}
	get := func(path string) (string, bool) {
		resp, err := hc.Get("http://" + pprofAddr + path)
		if err != nil {
			return "", false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b), resp.StatusCode == http.StatusOK
	}
	c := daemonCounters{goroutines: -1, heapInuse: -1}
	if g, ok := get("/debug/pprof/goroutine?debug=1"); ok {
		if _, err := fmt.Sscanf(g, "goroutine profile: total %d", &c.goroutines); err != nil {
			t.Fatalf("goroutine profile %q: %v", g[:min(len(g), 80)], err)
		}
	}
	if h, ok := get("/debug/pprof/heap?debug=1&gc=1"); ok {
		if i := strings.Index(h, "# HeapInuse = "); i >= 0 {
			fmt.Sscanf(h[i:], "# HeapInuse = %d", &c.heapInuse)
		}
	}
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	c.fds = len(ents)
	c.rssKiB = vmRSSKiB(t, pid)
	return c
}

// freeLoopback returns a loopback address with a port that was free a moment ago.
func freeLoopback(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestFaultClientKills: 200 client applications (1,000 with KEYWARD_LONG_TESTS=1), each a C program on
// libkeyward.so that logged in, opened 5 sessions, created 16 session objects of 4 KiB and is in the middle of a
// multi-part digest, are killed with SIGKILL. Afterwards the token counts no session, a fresh application sees no
// session object and can work, and the daemon's goroutines, file descriptors, live heap and RSS are back near
// their level after the first 20 kills (a leak of the killed applications' state would be tens of MiB).
func TestFaultClientKills(t *testing.T) {
	kills := 200
	if longTests() {
		kills = 1000
	}
	e := newEnv(t)
	dumpLogOnFailure(t, e)
	addr := freeLoopback(t)
	// With a pprof endpoint at addr the test would also count goroutines and the live heap after a GC; keywardd
	// serves one only with the --pprof flag, which startDaemon does not pass, so fds and VmRSS are measured.
	t.Setenv("KEYWARD_PPROF", addr)
	// VmRSS measures leaks only under Go's default collector: keywardd otherwise lets a small heap gather up to
	// 64 MiB of garbage between collections (cmd/keywardd, tuneGC), which is growth but not a leak.
	t.Setenv("GOGC", "100")
	d, slot := freshToken(t, e)
	pid := d.cmd.Process.Pid
	probeIn := probeInput([]byte("churn"), hardUserPIN, nil)
	rng := mrand.New(mrand.NewPCG(uint64(time.Now().UnixNano()), 6))

	obs := dial(t, e)
	defer obs.Close()
	waitNoSessions := func(when string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			ti, err := obs.GetTokenInfo(slot)
			if err != nil {
				t.Fatalf("%s: C_GetTokenInfo: %v", when, err)
			}
			if ti.SessionCount == 0 && ti.RwSessionCount == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the token still counts %d sessions (%d R/W) 10 s after every client was killed", when, ti.SessionCount, ti.RwSessionCount)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	var base daemonCounters
	start := time.Now()
	for i := 0; i < kills; i++ {
		p, err := startProbe(t, e, "churn", probeIn, 10*time.Second)
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond) // somewhere inside the digest loop
		p.kill()
		if i == 19 {
			waitNoSessions("after 20 kills")
			base = readCounters(t, addr, pid)
		}
	}
	waitNoSessions(fmt.Sprintf("after %d kills", kills))
	// Goroutines of dropped connections end asynchronously: allow them a moment.
	var end daemonCounters
	deadline := time.Now().Add(5 * time.Second)
	for {
		end = readCounters(t, addr, pid)
		if (end.goroutines <= base.goroutines+2 && end.fds <= base.fds+2) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("%d clients killed in %v; after 20 kills: %+v; after %d: %+v", kills, time.Since(start).Round(time.Millisecond), base, kills, end)
	if base.goroutines < 0 || base.heapInuse < 0 {
		t.Logf("keywardd serves no pprof endpoint: goroutines and the live heap are not measured, only fds and VmRSS")
	}
	if end.goroutines > base.goroutines+2 {
		t.Errorf("keywardd has %d goroutines after %d killed clients, %d after 20: goroutines leak", end.goroutines, kills, base.goroutines)
	}
	if end.fds > base.fds+2 {
		t.Errorf("keywardd has %d open fds after %d killed clients, %d after 20: connections leak", end.fds, kills, base.fds)
	}
	// Each killed client held 16 session objects of 4 KiB (64 KiB+): a leak of them is 11 MiB+ at 180 kills.
	if base.heapInuse >= 0 && end.heapInuse > base.heapInuse+4<<20 {
		t.Errorf("keywardd's live heap grew from %d to %d bytes between 20 and %d killed clients: the state of killed applications leaks", base.heapInuse, end.heapInuse, kills)
	}
	if end.rssKiB > base.rssKiB+8*1024 {
		t.Errorf("keywardd's VmRSS grew from %d KiB to %d KiB between 20 and %d killed clients", base.rssKiB, end.rssKiB, kills)
	}
	// A fresh application sees no session object, can log in (the killed ones' login did not stick to it in a
	// broken way) and work.
	fresh := dial(t, e)
	defer fresh.Close()
	s := userSession(t, fresh, slot, hardUserPIN)
	objs, err := findAll(fresh, s, []ck.Attribute{boolAttr(ck.CKA_TOKEN, false)})
	if err != nil || len(objs) != 0 {
		t.Errorf("a fresh application finds %d session objects (%v), want 0", len(objs), err)
	}
	if _, err := fresh.GenerateRandom(s, 16); err != nil {
		t.Errorf("C_GenerateRandom after the kills: %v", err)
	}
	select {
	case <-d.done:
		t.Fatalf("keywardd exited: %v", d.err)
	default:
	}
	if errs := logErrors(e.Log); len(errs) > 0 {
		t.Errorf("keywardd logged errors:\n%s", strings.Join(errs, "\n"))
	}
}

// --- unwritable stores -----------------------------------------------------------------------------------------

// writeProbe creates a token data object and returns C_CreateObject's code.
func writeProbe(c *client.Client, s ck.SessionHandle, label string) ck.RV {
	_, err := c.CreateObject(s, []ck.Attribute{
		ulongAttr(ck.CKA_CLASS, uint64(ck.CKO_DATA)), boolAttr(ck.CKA_TOKEN, true), boolAttr(ck.CKA_PRIVATE, true),
		bytesAttr(ck.CKA_LABEL, []byte(label)), bytesAttr(ck.CKA_VALUE, bytes.Repeat([]byte{0xa5}, 2048)),
	})
	return ck.ToRV(err)
}

// readProbe finds and reads the objects labelled prefix*, returning how many it read.
func readProbe(t testing.TB, c *client.Client, s ck.SessionHandle) int {
	t.Helper()
	objs, err := findAll(c, s, []ck.Attribute{ulongAttr(ck.CKA_CLASS, uint64(ck.CKO_DATA)), boolAttr(ck.CKA_TOKEN, true)})
	if err != nil {
		t.Fatalf("reading: %v", err)
	}
	for _, o := range objs {
		if _, err := getAttrs(c, s, o, ck.CKA_VALUE, ck.CKA_LABEL); err != nil {
			t.Fatalf("reading object %d: %v", o, err)
		}
	}
	return len(objs)
}

// TestFaultReadOnlyStore runs keywardd as uid 65534 on a store it owns (root would ignore file modes).
//
//   - made read-only while the daemon runs (files 0400, directory 0500): the daemon holds its database, WAL and
//     lock open, and POSIX checks modes at open time only, so writes keep succeeding; the test records that and
//     requires that reads work, the daemon lives and the store stays sound;
//   - read-only before the daemon starts: keywardd either serves reads and fails writes with CKR_DEVICE_ERROR or
//     CKR_DEVICE_MEMORY and a log line, or refuses to start with a non-zero status and an error line naming the
//     store; in both cases the store is untouched and serves normally once writable again.
func TestFaultReadOnlyStore(t *testing.T) {
	requireRoot(t)
	e := nobodyEnv(t)
	dumpLogOnFailure(t, e)
	d := startDaemonAsNobody(t, e)
	c := dial(t, e)
	slots, err := c.GetSlotList(false)
	if err != nil || len(slots) == 0 {
		t.Fatalf("C_GetSlotList: %v %v", slots, err)
	}
	initToken(t, c, slots[0], "ROTok", faultSOPIN, faultUserPIN)
	s := userSession(t, c, slots[0], faultUserPIN)
	for i := 0; i < 10; i++ {
		if rv := writeProbe(c, s, fmt.Sprintf("ro-%d", i)); rv != ck.CKR_OK {
			t.Fatalf("writing before: %v", rv)
		}
	}
	setModes := func(file, dir os.FileMode) {
		t.Helper()
		ents, err := os.ReadDir(e.Store)
		if err != nil {
			t.Fatal(err)
		}
		for _, de := range ents {
			if err := os.Chmod(filepath.Join(e.Store, de.Name()), file); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chmod(e.Store, dir); err != nil {
			t.Fatal(err)
		}
	}
	setModes(0o400, 0o500)
	rv := writeProbe(c, s, "ro-while-running")
	t.Logf("read-only while running: C_CreateObject returned %v (the daemon's open descriptors keep write access)", rv)
	if rv != ck.CKR_OK && rv != ck.CKR_DEVICE_ERROR && rv != ck.CKR_DEVICE_MEMORY {
		t.Errorf("write to a store made read-only while running: %v, want CKR_OK (open descriptors) or a device error", rv)
	}
	if n := readProbe(t, c, s); n < 10 {
		t.Errorf("reads after the store became read-only: %d objects, want at least 10", n)
	}
	c.Close()
	d.stop()
	if r := integrityCheck(t, e.Store); r != "ok" {
		t.Fatalf("integrity_check after the read-only phase: %s", r)
	}

	// Read-only before start (the files are still 0400, the directory 0500).
	logBefore := len(readText(e.Log))
	d2 := startDaemonProcessAsNobody(t, e)
	if err := d2.waitReady(5 * time.Second); err != nil {
		t.Fatalf("keywardd does not serve a store that is read-only at start: %v\n%s", err, readText(e.Log)[logBefore:])
	} else {
		c := dial(t, e)
		s := userSession(t, c, slots[0], faultUserPIN)
		if n := readProbe(t, c, s); n < 10 {
			t.Errorf("reads on a read-only store: %d objects, want at least 10", n)
		}
		if rv := writeProbe(c, s, "ro-at-start"); rv != ck.CKR_DEVICE_ERROR && rv != ck.CKR_DEVICE_MEMORY {
			t.Errorf("write to a read-only store: %v, want CKR_DEVICE_ERROR or CKR_DEVICE_MEMORY", rv)
		}
		c.Close()
		d2.stop()
	}
	setModes(0o600, 0o700)
	if r := integrityCheck(t, e.Store); r != "ok" {
		t.Fatalf("integrity_check after the read-only start: %s", r)
	}
	d3 := startDaemonAsNobody(t, e)
	c3 := dial(t, e)
	s3 := userSession(t, c3, slots[0], faultUserPIN)
	if n := readProbe(t, c3, s3); n < 10 {
		t.Errorf("after restoring write access: %d objects, want at least 10", n)
	}
	if rv := writeProbe(c3, s3, "rw-again"); rv != ck.CKR_OK {
		t.Errorf("write after restoring write access: %v", rv)
	}
	c3.Close()
	d3.stop()
}

// startDaemonProcessAsNobody starts keywardd as uid 65534 without waiting for it.
func startDaemonProcessAsNobody(t testing.TB, e env) *daemon {
	t.Helper()
	cmd := exec.Command(setprivPath(t), "--reuid="+strconv.Itoa(nobodyID), "--regid="+strconv.Itoa(nobodyID), "--clear-groups", "--",
		keywarddPath(t), "--user", "--store", e.Store, "--root-key", e.RootKey,
		"--socket", e.Socket, "--idle-exit", "0", "--log", e.Log)
	cmd.Env = append(os.Environ(), "KEYWARD_KDF=fast")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting keywardd under setpriv: %v", err)
	}
	d := &daemon{t: t, env: e, cmd: cmd, done: make(chan struct{})}
	go func() { d.err = cmd.Wait(); close(d.done) }()
	t.Cleanup(func() {
		select {
		case <-d.done:
		default:
			cmd.Process.Kill()
			<-d.done
		}
	})
	return d
}

// TestFaultFullDisk puts the store on a 2 MiB tmpfs (root mounts it), fills the file system, and requires that
// writes fail with CKR_DEVICE_MEMORY and a log line, that reads go on, that the daemon lives, and that the
// database passes integrity_check; after space is freed, writes work again.
func TestFaultFullDisk(t *testing.T) {
	requireRoot(t)
	mnt := shortTempDir(t)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Fatalf("mounting a 2 MiB tmpfs on %s (root): %v %s", mnt, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", mnt, err, out)
		}
	})
	e := newEnv(t)
	e.Store = filepath.Join(mnt, "store")
	dumpLogOnFailure(t, e)
	d := startDaemon(t, e)
	c := dial(t, e)
	slots, err := c.GetSlotList(false)
	if err != nil || len(slots) == 0 {
		t.Fatalf("C_GetSlotList: %v %v", slots, err)
	}
	initToken(t, c, slots[0], "FullTok", faultSOPIN, faultUserPIN)
	s := userSession(t, c, slots[0], faultUserPIN)
	for i := 0; i < 10; i++ {
		if rv := writeProbe(c, s, fmt.Sprintf("full-%d", i)); rv != ck.CKR_OK {
			t.Fatalf("writing before the disk is full: %v", rv)
		}
	}
	// Fill the file system.
	filler := filepath.Join(mnt, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			break
		}
	}
	f.Close()
	before := len(readText(e.Log))
	var rv ck.RV
	for i := 0; i < 50; i++ { // the WAL may still have room for a few pages
		if rv = writeProbe(c, s, fmt.Sprintf("full-extra-%d", i)); rv != ck.CKR_OK {
			break
		}
	}
	if rv != ck.CKR_DEVICE_MEMORY {
		t.Errorf("write on a full file system: %v, want CKR_DEVICE_MEMORY", rv)
	}
	tail := readText(e.Log)[before:]
	if !strings.Contains(tail, "full") && !strings.Contains(tail, "no space") {
		t.Errorf("no log line says the store is full; log since filling:\n%s", tail)
	} else {
		t.Logf("log on the full disk: %s", strings.TrimSpace(tail))
	}
	if n := readProbe(t, c, s); n < 10 {
		t.Errorf("reads on a full file system: %d objects, want at least 10", n)
	}
	if b, err := c.GenerateRandom(s, 16); err != nil || len(b) != 16 {
		t.Errorf("C_GenerateRandom on a full file system: %v", err)
	}
	os.Remove(filler)
	if rv := writeProbe(c, s, "after-full"); rv != ck.CKR_OK {
		t.Errorf("write after space was freed: %v", rv)
	}
	n := readProbe(t, c, s)
	c.Close()
	d.stop()
	if r := integrityCheck(t, e.Store); r != "ok" {
		t.Fatalf("integrity_check after the full disk: %s", r)
	}
	if rows := storeObjectRows(t, e.Store); rows < n {
		t.Errorf("the store has %d object rows, the daemon served %d objects", rows, n)
	}
}
