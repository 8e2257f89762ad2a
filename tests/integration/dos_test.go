package integration

import (
	"encoding/binary"
	"net"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/wire"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// The denial-of-service tests (issue 16, items 2 and 6): no client, however many connections it opens or however
// slowly it sends, makes keywardd exit or hold unbounded memory, and a well-behaved application keeps working.

// startDaemonNofile starts keywardd on e under a file descriptor limit of nofile (soft and hard, prlimit), with
// extra arguments, and waits until it serves.
func startDaemonNofile(t *testing.T, e env, nofile int, extra ...string) *daemon {
	t.Helper()
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Fatalf("prlimit (util-linux) is needed: %v", err)
	}
	lim := strconv.Itoa(nofile)
	args := append([]string{"--nofile=" + lim + ":" + lim, "--", keywarddPath(t), "--user", "--store", e.Store,
		"--root-key", e.RootKey, "--socket", e.Socket, "--idle-exit", "0", "--log", e.Log}, extra...)
	d, stderr := launchDaemon(t, e, exec.Command(prlimit, args...), "keywardd under prlimit")
	if err := d.waitReady(5 * time.Second); err != nil {
		t.Fatalf("keywardd did not start serving: %v\nstderr: %s\nlog:\n%s", err, stderr.String(), tailFile(e.Log, 40))
	}
	return d
}

// alive fails the test if the daemon exited.
func (d *daemon) alive(t *testing.T, when string) {
	t.Helper()
	select {
	case <-d.done:
		t.Fatalf("%s: keywardd exited: %v\nlog:\n%s", when, d.err, tailFile(d.env.Log, 20))
	default:
	}
}

// TestDoSConnectionFlood: under a limit of 256 descriptors, 600 idle connections that never say Hello (the old
// daemon exited at the first failed accept: "accept4: too many open files"). The daemon stays up, closes the
// connections beyond its cap at once and the others within the Hello timeout (5 s), an application connected
// before the flood keeps its session and login throughout, and a new application works after the flood.
func TestDoSConnectionFlood(t *testing.T) {
	e := newEnv(t)
	dumpLogOnFailure(t, e)
	d := startDaemonNofile(t, e, 256)
	good := dial(t, e)
	defer good.Close()
	slots, err := good.GetSlotList(false)
	if err != nil || len(slots) == 0 {
		t.Fatalf("C_GetSlotList: %v %v", slots, err)
	}
	initToken(t, good, slots[0], "DoSTok", faultSOPIN, faultUserPIN)
	gs := userSession(t, good, slots[0], faultUserPIN)

	const flood = 600
	start := time.Now()
	var conns []net.Conn
	for i := 0; i < flood; i++ {
		c, err := net.DialTimeout("unix", e.Socket, 2*time.Second)
		if err != nil {
			continue // the listen backlog is full while the daemon closes the excess: fine
		}
		conns = append(conns, c)
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	if len(conns) < 256 {
		t.Fatalf("only %d of %d connections made: the test did not exceed the daemon's descriptor limit", len(conns), flood)
	}
	// The daemon must still be up and serve the application that was there before.
	time.Sleep(200 * time.Millisecond)
	d.alive(t, "during the flood")
	if b, err := good.GenerateRandom(gs, 32); err != nil || len(b) != 32 {
		t.Fatalf("during the flood: the connected application's C_GenerateRandom: %v", err)
	}
	// Every flood connection is closed by the daemon: at once beyond the cap, within the Hello timeout otherwise.
	var wg sync.WaitGroup
	var mu sync.Mutex
	open, early := 0, 0
	var last time.Duration
	for _, c := range conns {
		wg.Add(1)
		go func(c net.Conn) {
			defer wg.Done()
			c.SetReadDeadline(start.Add(10 * time.Second))
			var b [1]byte
			_, err := c.Read(b[:])
			mu.Lock()
			defer mu.Unlock()
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				open++
				return
			}
			if at := time.Since(start); at < time.Second {
				early++
			} else {
				last = max(last, at)
			}
		}(c)
	}
	wg.Wait()
	t.Logf("%d of %d connections made under a limit of 256 descriptors: %d closed within 1 s (beyond the cap), the others by %v (Hello timeout 5 s)",
		len(conns), flood, early, last.Round(10*time.Millisecond))
	if open > 0 {
		t.Errorf("%d of %d connections without Hello still open after 10 s (Hello timeout 5 s)", open, len(conns))
	}
	d.alive(t, "after the flood")
	if n := countLog(e.Log, "refusing a connection beyond the daemon's limit"); n == 0 {
		t.Errorf("no log line for the connections beyond the limit")
	}
	for _, c := range conns {
		c.Close()
	}
	conns = nil
	// The old application still works, and a new one connects, logs in and works.
	si, err := good.GetSessionInfo(gs)
	if err != nil || si.State != ck.CKS_RW_USER_FUNCTIONS {
		t.Fatalf("after the flood: the application's session is %+v, %v; want still logged in", si, err)
	}
	fresh := dial(t, e)
	defer fresh.Close()
	fs := userSession(t, fresh, slots[0], faultUserPIN)
	if b, err := fresh.GenerateRandom(fs, 32); err != nil || len(b) != 32 {
		t.Fatalf("after the flood: a new application's C_GenerateRandom: %v", err)
	}
}

// TestDoSPartialFrames: 24 connections each say Hello, then send all of an 8 MiB frame but its last byte and stall
// (the old daemon held all of them: about 200 MiB here, 800 MB in the review). With max_receive_bytes 32 MiB (16
// MiB for one uid) and frame_timeout 2 s the daemon's resident memory grows by well under the 192 MiB sent, every stalled
// connection is closed within the frame timeout (plus its wait for room), and a connected application's small
// calls go on meanwhile.
func TestDoSPartialFrames(t *testing.T) {
	e := newEnv(t)
	dumpLogOnFailure(t, e)
	conf := writeConf(t, "connections:\n  frame_timeout: 2s\n  max_receive_bytes: 33554432\n")
	// Go's default collector: keywardd otherwise lets a small heap gather up to 64 MiB of garbage between
	// collections (cmd/keywardd, tuneGC), which would blur what the budget holds.
	t.Setenv("GOGC", "100")
	d := startDaemonNofile(t, e, 1024, "--config", conf)
	pid := d.cmd.Process.Pid
	good := dial(t, e)
	defer good.Close()
	slots, err := good.GetSlotList(false)
	if err != nil || len(slots) == 0 {
		t.Fatalf("C_GetSlotList: %v %v", slots, err)
	}
	initToken(t, good, slots[0], "DoSTok", faultSOPIN, faultUserPIN)
	gs := userSession(t, good, slots[0], faultUserPIN)
	rss0 := vmRSSKiB(t, pid)

	const stalled = 24
	frame := make([]byte, 4+wire.MaxFrame-1) // all but the last byte of a MaxFrame frame
	binary.BigEndian.PutUint32(frame, wire.MaxFrame)
	binary.BigEndian.PutUint32(frame[4:], 1)
	binary.BigEndian.PutUint32(frame[8:], uint32(wire.CallOperationSingle))
	var raws []*rawConn
	for i := 0; i < stalled; i++ {
		r := dialRaw(t, e)
		r.hello(nil)
		raws = append(raws, r)
	}
	start := time.Now()
	var wg sync.WaitGroup
	for _, r := range raws {
		wg.Add(1)
		go func(r *rawConn) {
			defer wg.Done()
			r.c.SetWriteDeadline(time.Now().Add(20 * time.Second))
			r.c.Write(frame) // fails once the daemon closes the connection: expected
		}(r)
	}
	peak := 0
	for time.Since(start) < 2500*time.Millisecond {
		peak = max(peak, vmRSSKiB(t, pid))
		if b, err := good.GenerateRandom(gs, 32); err != nil || len(b) != 32 {
			t.Fatalf("while frames stall: the connected application's C_GenerateRandom: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Each stalled connection is closed: after a wait of at most frame_timeout (2 s) for room, then within
	// frame_timeout of holding it; all end well within 30 s.
	for i, r := range raws {
		if err := r.closedByPeerWithin(30*time.Second - time.Since(start)); err != nil {
			t.Fatalf("stalled connection %d: %v", i, err)
		}
	}
	wg.Wait()
	d.alive(t, "after the stalled frames")
	grew := peak - rss0
	t.Logf("RSS %d KiB before, peak %d KiB while %d frames of 8 MiB stalled (+%d KiB), %v to close them all", rss0, peak,
		stalled, grew, time.Since(start).Round(time.Millisecond))
	if grew > 128<<10 {
		t.Errorf("RSS grew by %d KiB with 24 stalled 8 MiB frames (192 MiB); the 32 MiB receive budget should bound it below 128 MiB", grew)
	}
	if b, err := good.GenerateRandom(gs, 32); err != nil || len(b) != 32 {
		t.Fatalf("after the stalled frames: C_GenerateRandom: %v", err)
	}
}

// closedByPeerWithin is closedByPeer with a bound of d.
func (r *rawConn) closedByPeerWithin(d time.Duration) error {
	if d < time.Second {
		d = time.Second
	}
	r.c.SetReadDeadline(time.Now().Add(d))
	var buf [4096]byte
	for {
		_, err := r.c.Read(buf[:])
		if err == nil {
			continue
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			return err
		}
		return nil
	}
}
