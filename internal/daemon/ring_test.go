package daemon_test

import (
	"bytes"
	"encoding/binary"
	"net"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/keyward/keyward/internal/daemon"
	"github.com/keyward/keyward/internal/wire"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// ringClient is a test client of the shared-memory transport (docs/protocol.md, "The ring"), written from the
// protocol's description: it posts requests in the ring and polls for the response (it never sleeps in the
// futex, so it only needs to wake the daemon).
type ringClient struct {
	t    testing.TB
	c    *net.UnixConn
	mem  []byte
	id   uint32
	seen uint32
}

func (r *ringClient) word(off int) *uint32 { return (*uint32)(unsafe.Pointer(&r.mem[off])) }

// dialRing connects, says Hello and asks for a ring; it returns the client and RingSetup's rv (the client
// has no ring unless it is CKR_OK).
func dialRing(t testing.TB, sock string) (*ringClient, ck.RV) {
	t.Helper()
	nc := rawConn(t, sock)
	hello(t, nc)
	c := nc.(*net.UnixConn)
	r := &ringClient{t: t, c: c, id: 10}
	if _, err := c.Write(wire.AppendRequest(nil, 2, wire.CallFeatures, nil)); err != nil {
		t.Fatal(err)
	}
	resp, _, err := wire.ReadResponse(c, nil)
	if err != nil || resp.RV != ck.CKR_OK {
		t.Fatalf("Features: %v %v", err, resp.RV)
	}
	if f := wire.NewDecoder(resp.Body).U(); f&wire.FeatureRing == 0 {
		t.Fatalf("Features = %#x: no FeatureRing", f)
	}
	if _, err := c.Write(wire.AppendRequest(nil, 3, wire.CallRingSetup, nil)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		t.Fatal(err)
	}
	resp, _, err = wire.ReadResponse(bytes.NewReader(buf[:n]), nil)
	if err != nil || resp.ID != 3 || resp.Call != wire.CallRingSetup {
		t.Fatalf("RingSetup response: %v %+v", err, resp)
	}
	if resp.RV != ck.CKR_OK {
		if oobn != 0 {
			t.Fatal("a refused RingSetup came with a descriptor")
		}
		return r, resp.RV
	}
	if area := wire.NewDecoder(resp.Body).U(); area != daemon.RingArea {
		t.Fatalf("RingSetup area %d, want %d", area, daemon.RingArea)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		t.Fatalf("RingSetup: %d control messages (%v)", len(msgs), err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		t.Fatalf("RingSetup: descriptors %v (%v)", fds, err)
	}
	defer unix.Close(fds[0])
	// The memfd is sealed: the client can neither shrink it (which would make the daemon fault) nor grow it.
	if err := unix.Ftruncate(fds[0], 4096); err == nil {
		t.Fatal("the client could shrink the ring's memfd")
	}
	r.mem, err = unix.Mmap(fds[0], 0, daemon.RingSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Munmap(r.mem) })
	r.seen = atomic.LoadUint32(r.word(128))
	return r, ck.CKR_OK
}

// post puts a raw frame in the request area and wakes the daemon.
func (r *ringClient) post(frame []byte) {
	copy(r.mem[4096:], frame)
	atomic.StoreUint32(r.word(256), uint32(len(frame)))
	atomic.AddUint32(r.word(0), 1)
	if atomic.LoadUint32(r.word(64)) != 0 {
		unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(r.word(0))), 1 /* FUTEX_WAKE */, 1, 0, 0, 0)
	}
}

// call sends a request through the ring and returns its response (from the ring, or from the socket when the
// daemon says it went there).
func (r *ringClient) call(call wire.Call, body []byte) wire.Response {
	r.t.Helper()
	return r.callAfter(nil, call, body)
}

// callAfter is call with the frames of before (one-way requests) in front of the request, in the same post.
func (r *ringClient) callAfter(before []byte, call wire.Call, body []byte) wire.Response {
	r.t.Helper()
	r.id++
	r.post(wire.AppendRequest(bytes.Clone(before), r.id, call, body))
	deadline := time.Now().Add(10 * time.Second)
	for atomic.LoadUint32(r.word(128)) == r.seen {
		if time.Now().After(deadline) {
			r.t.Fatalf("%v: no response in the ring", call)
		}
		time.Sleep(20 * time.Microsecond)
	}
	r.seen = atomic.LoadUint32(r.word(128))
	n := atomic.LoadUint32(r.word(320))
	var resp wire.Response
	var err error
	if n == daemon.RingOnSocket {
		resp, _, err = wire.ReadResponse(r.c, nil)
	} else {
		if n > daemon.RingArea {
			r.t.Fatalf("response length %d", n)
		}
		resp, _, err = wire.ReadResponse(bytes.NewReader(bytes.Clone(r.mem[4096+daemon.RingArea:][:n])), nil)
	}
	if err != nil || resp.ID != r.id || resp.Call != call {
		r.t.Fatalf("%v: response %+v, %v", call, resp, err)
	}
	return resp
}

// TestRingServesRequests: small requests and responses through the ring, a response too large for it through
// the socket, a request sent on the socket answered on the socket; the request area is cleared once read.
func TestRingServesRequests(t *testing.T) {
	sock, _ := serve(t)
	r, rv := dialRing(t, sock)
	if rv != ck.CKR_OK {
		t.Fatalf("RingSetup: %v", rv)
	}
	for i := 0; i < 200; i++ {
		var e wire.Encoder
		e.U(1)
		if resp := r.call(wire.CallGetSlotList, e.Bytes()); resp.RV != ck.CKR_OK {
			t.Fatalf("GetSlotList: %v", resp.RV)
		}
	}
	if !bytes.Equal(r.mem[4096:4096+64], make([]byte, 64)) {
		t.Error("the request area still holds the last request")
	}
	var e wire.Encoder
	e.U(0)
	e.B([]byte("so-pin-1234"))
	e.B([]byte("ring                            "))
	if resp := r.call(wire.CallInitToken, e.Bytes()); resp.RV != ck.CKR_OK {
		t.Fatalf("InitToken: %v", resp.RV)
	}
	e.Reset()
	e.U(0)
	e.U(uint64(ck.CKF_SERIAL_SESSION))
	resp := r.call(wire.CallOpenSession, e.Bytes())
	if resp.RV != ck.CKR_OK {
		t.Fatalf("OpenSession: %v", resp.RV)
	}
	s := wire.NewDecoder(resp.Body).U()
	for _, n := range []uint64{32, daemon.RingArea, 1 << 20} { // the last two do not fit in the ring
		e.Reset()
		e.U(s)
		e.U(n)
		resp := r.call(wire.CallGenerateRandom, e.Bytes())
		if got := wire.NewDecoder(resp.Body).B(); resp.RV != ck.CKR_OK || uint64(len(got)) != n {
			t.Fatalf("GenerateRandom(%d): %v, %d bytes", n, resp.RV, len(got))
		}
	}
	// A request on the socket (as the client sends one too large for the ring) is answered on the socket.
	e.Reset()
	e.U(s)
	e.U(16)
	if _, err := r.c.Write(wire.AppendRequest(nil, 99, wire.CallGenerateRandom, e.Bytes())); err != nil {
		t.Fatal(err)
	}
	resp, _, err := wire.ReadResponse(r.c, nil)
	if err != nil || resp.ID != 99 || resp.RV != ck.CKR_OK || len(wire.NewDecoder(resp.Body).B()) != 16 {
		t.Fatalf("socket request in ring mode: %+v %v", resp, err)
	}
	// ... and the ring goes on.
	e.Reset()
	e.U(s)
	if resp := r.call(wire.CallGetSessionInfo, e.Bytes()); resp.RV != ck.CKR_OK {
		t.Fatalf("GetSessionInfo after a socket request: %v", resp.RV)
	}
	// One-way frames in front of a request, in one post (docs/protocol.md, "Kept output"): served in order,
	// only the request answered. A digest's length query keeps its output; the OperationEnd in front of the
	// next request ends the operation, so that a new DigestInit succeeds.
	var dg wire.Encoder
	dg.U(s)
	dg.U(uint64(ck.OpDigest))
	dg.M(&ck.Mechanism{Type: ck.CKM_SHA256})
	dg.U(0)
	if resp := r.call(wire.CallOperationInit, dg.Bytes()); resp.RV != ck.CKR_OK {
		t.Fatalf("DigestInit: %v", resp.RV)
	}
	var q wire.Encoder
	q.U(s)
	q.U(uint64(ck.OpDigest))
	q.B([]byte("abc"))
	q.O(ck.Out{Peek: true})
	if resp := r.call(wire.CallOperationSingle, q.Bytes()); resp.RV != ck.CKR_OK {
		t.Fatalf("Digest length query: %v", resp.RV)
	}
	var end wire.Encoder
	end.U(s)
	end.U(uint64(ck.OpDigest))
	ends := wire.AppendRequest(nil, 500, wire.CallOperationEnd, end.Bytes())
	ends = wire.AppendRequest(ends, 501, wire.CallOperationEnd, end.Bytes()) // an end of an ended operation does nothing
	if resp := r.callAfter(ends, wire.CallOperationInit, dg.Bytes()); resp.RV != ck.CKR_OK {
		t.Fatalf("DigestInit after OperationEnd frames in the same post: %v (want CKR_OK: the ends come first)", resp.RV)
	}
	if resp := r.call(wire.CallOperationInit, dg.Bytes()); resp.RV != ck.CKR_OPERATION_ACTIVE {
		t.Fatalf("a second DigestInit: %v, want CKR_OPERATION_ACTIVE", resp.RV)
	}
}

// TestRingIdleDaemonSleeps: after the calls stop, the daemon's thread stops spinning and sleeps in the futex
// (it says so in the ring's header), and the daemon's CPU time over the idle second is reported.
func TestRingIdleDaemonSleeps(t *testing.T) {
	sock, _ := serve(t)
	r, rv := dialRing(t, sock)
	if rv != ck.CKR_OK {
		t.Fatalf("RingSetup: %v", rv)
	}
	for i := 0; i < 50; i++ {
		r.call(wire.CallGetInfo, nil)
	}
	deadline := time.Now().Add(10 * time.Second)
	for atomic.LoadUint32(r.word(64)) != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the daemon's ring thread does not go to sleep when the calls stop")
		}
		time.Sleep(time.Millisecond)
	}
	var u0, u1 unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &u0)
	time.Sleep(time.Second)
	unix.Getrusage(unix.RUSAGE_SELF, &u1)
	cpu := time.Duration(u1.Utime.Nano() + u1.Stime.Nano() - u0.Utime.Nano() - u0.Stime.Nano())
	t.Logf("process CPU time over 1 s idle with a ring connection: %v", cpu)
	if atomic.LoadUint32(r.word(64)) != 1 {
		t.Fatal("the daemon's ring thread woke up with no request")
	}
	if resp := r.call(wire.CallGetInfo, nil); resp.RV != ck.CKR_OK {
		t.Fatalf("GetInfo after sleeping: %v", resp.RV)
	}
}

// TestRingConnectionEnds: a ring connection ends when its client closes the socket (the daemon's thread sleeps
// in the futex; the socket watcher wakes it), and Shutdown ends the connections sleeping in their rings.
func TestRingConnectionEnds(t *testing.T) {
	sock, srv := serve(t)
	r, rv := dialRing(t, sock)
	if rv != ck.CKR_OK {
		t.Fatalf("RingSetup: %v", rv)
	}
	r.call(wire.CallGetInfo, nil)
	r.c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for srv.Applications() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the application outlived its ring connection")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The daemon freed the ring's pages (they were charged to it): the client's mapping, which outlives the
	// connection, reads zeros where the response sequence and the last response were.
	for atomic.LoadUint32(r.word(128)) != 0 || !bytes.Equal(r.mem[4096+daemon.RingArea:][:64], make([]byte, 64)) {
		if time.Now().After(deadline) {
			t.Fatal("the ring's pages outlive the connection in the daemon's memory")
		}
		time.Sleep(5 * time.Millisecond)
	}
	for i := 0; i < 3; i++ {
		r, _ := dialRing(t, sock)
		r.call(wire.CallGetInfo, nil)
	}
	done := make(chan struct{})
	go func() { srv.Shutdown(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Shutdown does not end the connections sleeping in their rings")
	}
}

// TestRingMalformedCloses: a request length out of bounds, a frame whose length field disagrees with it, and
// a frame that breaks its call's signature each close that connection only.
func TestRingMalformedCloses(t *testing.T) {
	sock, _ := serve(t)
	good, rv := dialRing(t, sock)
	if rv != ck.CKR_OK {
		t.Fatalf("RingSetup: %v", rv)
	}
	bad := map[string]func(r *ringClient){
		"length beyond the area": func(r *ringClient) {
			atomic.StoreUint32(r.word(256), daemon.RingArea+1)
			atomic.AddUint32(r.word(0), 1)
			unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(r.word(0))), 1, 1, 0, 0, 0)
		},
		"length field disagrees": func(r *ringClient) {
			f := wire.AppendRequest(nil, 1, wire.CallGetInfo, nil)
			binary.BigEndian.PutUint32(f, 100)
			r.post(f)
		},
		"body breaks the signature": func(r *ringClient) {
			r.post(wire.AppendRequest(nil, 1, wire.CallGetSlotList, []byte{'u', 1}))
		},
		"only a one-way frame": func(r *ringClient) {
			var e wire.Encoder
			e.U(1)
			e.U(uint64(ck.OpDigest))
			r.post(wire.AppendRequest(nil, 1, wire.CallOperationEnd, e.Bytes()))
		},
		"two answered frames": func(r *ringClient) {
			r.post(wire.AppendRequest(wire.AppendRequest(nil, 1, wire.CallGetInfo, nil), 2, wire.CallGetInfo, nil))
		},
		"second RingSetup": func(r *ringClient) {
			r.post(wire.AppendRequest(nil, 1, wire.CallRingSetup, nil))
		},
	}
	for name, send := range bad {
		r, rv := dialRing(t, sock)
		if rv != ck.CKR_OK {
			t.Fatalf("RingSetup: %v", rv)
		}
		send(r)
		expectClosed(t, r.c, name)
		if resp := good.call(wire.CallGetInfo, nil); resp.RV != ck.CKR_OK {
			t.Fatalf("after %s: the other ring connection: %v", name, resp.RV)
		}
	}
}

// TestRingCap: beyond MaxRings ring connections, RingSetup is refused with CKR_DEVICE_MEMORY and the
// connection goes on through the socket; a ring freed by a closed connection is given again.
func TestRingCap(t *testing.T) {
	sock, _ := serve(t)
	rings := make([]*ringClient, 0, daemon.MaxRings)
	for i := 0; i < daemon.MaxRings; i++ {
		r, rv := dialRing(t, sock)
		if rv != ck.CKR_OK {
			t.Fatalf("ring %d: RingSetup: %v", i, rv)
		}
		rings = append(rings, r)
	}
	r, rv := dialRing(t, sock)
	if rv != ck.CKR_DEVICE_MEMORY {
		t.Fatalf("RingSetup beyond MaxRings: %v, want CKR_DEVICE_MEMORY", rv)
	}
	if _, err := r.c.Write(wire.AppendRequest(nil, 5, wire.CallGetInfo, nil)); err != nil {
		t.Fatal(err)
	}
	if resp, _, err := wire.ReadResponse(r.c, nil); err != nil || resp.RV != ck.CKR_OK {
		t.Fatalf("the refused connection on the socket: %v %v", err, resp.RV)
	}
	rings[0].c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, rv := dialRing(t, sock)
		if rv == ck.CKR_OK {
			r.call(wire.CallGetInfo, nil)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a closed connection's ring is not given again")
		}
		r.c.Close()
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRingSocketFrameDeadline: in ring mode a frame begun on the socket must still arrive within FrameTimeout.
func TestRingSocketFrameDeadline(t *testing.T) {
	sock, _ := serveLimits(t, daemon.Limits{FrameTimeout: 300 * time.Millisecond})
	r, rv := dialRing(t, sock)
	if rv != ck.CKR_OK {
		t.Fatalf("RingSetup: %v", rv)
	}
	r.call(wire.CallGetInfo, nil)
	f := wire.AppendRequest(nil, 7, wire.CallGetInfo, nil)
	if _, err := r.c.Write(f[:6]); err != nil { // a frame begun, never finished
		t.Fatal(err)
	}
	r.c.SetDeadline(time.Now().Add(10 * time.Second))
	expectClosed(t, r.c, "a half-sent frame on the socket of a ring connection")
}
