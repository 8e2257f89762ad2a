package daemon

import (
	"bytes"
	"encoding/binary"
	"net"
	"runtime"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/keyward/keyward/internal/wire"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// setupRing answers RingSetup: a new ring, its memfd sent with the response (SCM_RIGHTS), and the connection
// served through it from then on (st.ring). When the daemon has MaxRings rings, or cannot make one, the answer
// is CKR_DEVICE_MEMORY and the connection goes on through the socket. It reports whether the connection goes
// on.
func (s *Server) setupRing(st *connState, req wire.Request) bool {
	uc, ok := st.c.(*net.UnixConn)
	refuse := func(rv ck.RV) bool { return writeResponse(st.c, st.w, req, rv, nil) == nil }
	if !ok {
		return refuse(ck.CKR_FUNCTION_NOT_SUPPORTED)
	}
	s.mu.Lock()
	full := s.rings >= MaxRings
	if !full {
		s.rings++
	}
	s.mu.Unlock()
	if full {
		return refuse(ck.CKR_DEVICE_MEMORY)
	}
	rg, fd, err := newRing()
	if err != nil {
		st.log.Warn("cannot make a ring; the connection stays on the socket", "err", err)
		s.mu.Lock()
		s.rings--
		s.mu.Unlock()
		return refuse(ck.CKR_DEVICE_MEMORY)
	}
	defer unix.Close(fd) // the client has its own descriptor once the message is sent
	st.ring = rg         // counted in s.rings: serveConn's end uncounts it
	var enc wire.Encoder
	enc.U(RingArea)
	frame := wire.AppendResponse(nil, req.ID, req.Call, ck.CKR_OK, enc.Bytes())
	uc.SetWriteDeadline(time.Now().Add(DefaultFrameTimeout))
	if _, _, err := uc.WriteMsgUnix(frame, unix.UnixRights(fd), nil); err != nil {
		rg.close()
		return false
	}
	return true
}

// serveRing serves a connection through its ring until the connection ends. The goroutine keeps its OS
// thread (it sleeps in a futex, which the Go scheduler does not know about); a second goroutine waits in the
// netpoller for the socket to become readable (a request too large for the ring, the peer's EOF) or for
// Shutdown's deadline, and kicks the thread. Requests read from the socket are served as before (serveFrame:
// deadlines, budgets), their responses go on the socket.
func (s *Server) serveRing(st *connState) {
	rg := st.ring
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	rearm := make(chan struct{}, 1)
	done := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		watchSocket(st.c, rg, rearm, done)
	}()
	defer func() {
		close(done)
		st.c.SetReadDeadline(time.Now()) // ends the watcher's wait
		<-watched
		rg.close()
	}()
	for {
		if rg.wait() {
			if !s.serveFrame(st) {
				return
			}
			rearm <- struct{}{}
			continue
		}
		frame, err := rg.request()
		if err != nil {
			st.log.Warn("dropping connection", "err", err)
			return
		}
		// A post is one request frame, after zero or more one-way frames (OperationEnd, which the client
		// writes in front of a session's next request: docs/protocol.md, "Kept output"); only the last is
		// answered. Each frame's length field must fit what is left; ReadRequest checks the rest (and moves the
		// frame's content to the start of its own bytes, capped so it never reaches the next frame).
		for len(frame) > 0 {
			if len(frame) < 4 || uint64(binary.BigEndian.Uint32(frame))+4 > uint64(len(frame)) {
				st.log.Warn("dropping connection: malformed frame in the ring")
				return
			}
			n := int(binary.BigEndian.Uint32(frame)) + 4
			one := frame[:n:n]
			frame = frame[n:]
			req, _, err := wire.ReadRequest(bytes.NewReader(one), one)
			if err != nil {
				st.log.Warn("dropping connection: malformed frame in the ring", "err", err)
				return
			}
			if wire.OneWay(req.Call) == (len(frame) == 0) {
				st.log.Warn("dropping connection: a ring post is one-way frames, then one request")
				return
			}
			more := s.serve(st, req, rg)
			// As on the socket (serveFrame), only the data calls' frames are known to be unaliased once
			// served; any other frame is left to the collector, as an operation may keep parts of it.
			if reusableFrame(req.Call) {
				clear(one)
			}
			if !more {
				return
			}
		}
	}
}

// watchSocket waits (in the netpoller, costing nothing) until c is readable or its read deadline passes,
// kicks the ring's thread, and after the thread has served the socket (rearm) waits again; until done. It
// never leaves before done, so that the thread always has someone to wake it: after a deadline (Shutdown)
// the wait fails at once, and the thread, reading the socket, fails too and ends the connection.
func watchSocket(c net.Conn, rg *ring, rearm, done <-chan struct{}) {
	var raw syscall.RawConn
	if uc, ok := c.(*net.UnixConn); ok {
		raw, _ = uc.SyscallConn()
	}
	var b [1]byte
	for {
		if raw != nil {
			raw.Read(func(fd uintptr) bool {
				_, _, err := unix.Recvfrom(int(fd), b[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
				return err != unix.EAGAIN && err != unix.EINTR
			})
		}
		rg.kick()
		select {
		case <-rearm:
		case <-done:
			return
		}
	}
}
