// Package daemon is keywardd's socket server: it accepts connections on a Unix socket, learns each peer's
// identity from SO_PEERCRED, groups connections into applications (docs/protocol.md, "Connection and
// application"), and serves the wire protocol against the engine.
package daemon

import (
	"bufio"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/keyward/keyward/internal/engine"
	"github.com/keyward/keyward/internal/wire"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// Opener opens an application for a peer; the engine's Open.
type Opener func(engine.Peer) ck.Provider

// Server serves the wire protocol on a listener.
type Server struct {
	open Opener
	log  *slog.Logger
	// IdleExit, if non-zero, stops Serve after that long without any connection.
	IdleExit time.Duration
	// Legacy makes the server answer as a daemon of version 1's first release: the calls after DeleteToken
	// (the fused calls and Features) are unknown to it. For tests of a newer client with an older daemon.
	Legacy bool
	// Limits bound connections and the frames they send; set before Serve.
	Limits Limits

	lim     Limits      // Limits in force (effective), set by Serve
	budget  *byteBudget // bytes of large request frames being received or served
	refused refusals

	mu      sync.Mutex
	apps    map[string]*application // by cookie
	conns   map[net.Conn]struct{}
	rings   int                  // connections served through a ring
	perUID  map[uint32]*uidState // by peer uid, while it has connections
	busy    sync.WaitGroup       // connections being served
	idle    *time.Timer
	closing bool
	stop    chan struct{} // closed by Shutdown
	ln      net.Listener
}

// application is one application's provider and the connections that share it.
type application struct {
	provider ck.Provider
	peer     engine.Peer
	cookie   []byte
	refs     int
}

// NewServer returns a server that opens applications with open.
func NewServer(open Opener, log *slog.Logger) *Server {
	return &Server{open: open, log: log, apps: map[string]*application{}, conns: map[net.Conn]struct{}{},
		perUID: map[uint32]*uidState{}, stop: make(chan struct{})}
}

// MaxConnectionsPerApplication bounds how many connections one application may hold. libkeyward.so opens one
// per thread that is inside a call at the same moment, so the bound is far above any real application's
// concurrency; it only stops a runaway client from exhausting the daemon's file descriptors.
const MaxConnectionsPerApplication = 1024

// ErrIdle is returned by Serve when it stopped because of IdleExit.
var ErrIdle = errors.New("daemon: idle")

// Serve accepts connections until Shutdown or, with IdleExit, until the server has been idle that long.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closing { // Shutdown came first (a SIGTERM during start-up)
		s.mu.Unlock()
		ln.Close()
		return nil
	}
	s.ln = ln
	s.lim = s.Limits.effective(softFileLimit())
	s.budget = newByteBudget(s.lim.MaxReceiveBytes)
	s.log.Info("connection limits", "max_connections", s.lim.MaxConnections,
		"max_connections_per_uid", s.lim.MaxConnectionsPerUID, "hello_timeout", s.lim.HelloTimeout.String(),
		"frame_timeout", s.lim.FrameTimeout.String(), "max_receive_bytes", s.lim.MaxReceiveBytes,
		"max_receive_bytes_per_uid", s.lim.MaxReceiveBytesPerUID)
	idled := make(chan struct{})
	if s.IdleExit > 0 {
		s.idle = time.AfterFunc(s.IdleExit, func() {
			s.mu.Lock()
			quiet := len(s.conns) == 0
			s.mu.Unlock()
			if quiet {
				close(idled)
				ln.Close()
			}
		})
	}
	s.mu.Unlock()
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			select {
			case <-idled:
				return ErrIdle
			default:
			}
			s.mu.Lock()
			closing := s.closing
			s.mu.Unlock()
			if closing {
				return nil
			}
			if isTimeout(err) {
				continue
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("daemon: accept: %w", err)
			}
			// Out of descriptors (EMFILE, ENFILE), memory or buffers, an aborted connection: none of it is the
			// listener's end. Wait a little, longer while it lasts, and accept again: connections that end
			// free what was short.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.refused.note(s.log, "accept failed; backing off", "err", err.Error(), "backoff", backoff.String())
			select {
			case <-time.After(backoff):
			case <-s.stop:
			}
			continue
		}
		backoff = 0
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			c.Close()
			return nil
		}
		if len(s.conns) >= s.lim.MaxConnections {
			s.mu.Unlock()
			c.Close()
			s.refused.note(s.log, "refusing a connection beyond the daemon's limit", "max_connections", s.lim.MaxConnections)
			continue
		}
		s.conns[c] = struct{}{}
		if s.idle != nil {
			s.idle.Stop()
		}
		s.busy.Add(1)
		s.mu.Unlock()
		go s.serveConn(c)
	}
}

// Shutdown stops accepting, lets requests in progress finish, closes every connection and waits for them.
func (s *Server) Shutdown() {
	s.mu.Lock()
	if !s.closing {
		close(s.stop)
	}
	s.closing = true
	if s.ln != nil {
		s.ln.Close()
	}
	for c := range s.conns {
		// Unblock readers waiting for a next request; a request being handled finishes and its response
		// write fails harmlessly.
		c.SetReadDeadline(time.Now())
	}
	s.mu.Unlock()
	s.busy.Wait()
}

func peerOf(c net.Conn) (engine.Peer, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return engine.Peer{}, fmt.Errorf("not a unix connection")
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return engine.Peer{}, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return engine.Peer{}, err
	}
	if cerr != nil {
		return engine.Peer{}, cerr
	}
	// The executable is for the audit log: best effort (the process may already be gone, or be another
	// user's and unreadable).
	exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", cred.Pid))
	return engine.Peer{UID: cred.Uid, GID: cred.Gid, PID: cred.Pid, Exe: exe, Groups: groupsOf(cred.Pid)}, nil
}

// groupsOf reads a process's supplementary groups from /proc/PID/status, for token policies that name
// groups. A process that is gone or unreadable has none.
func groupsOf(pid int32) []uint32 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil
	}
	for _, line := range strings.Split(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, "Groups:")
		if !ok {
			continue
		}
		var gs []uint32
		for _, f := range strings.Fields(rest) {
			if g, err := strconv.ParseUint(f, 10, 32); err == nil {
				gs = append(gs, uint32(g))
			}
		}
		return gs
	}
	return nil
}

// connState is one connection being served.
type connState struct {
	c       net.Conn
	r       *bufio.Reader
	w       *bufio.Writer
	log     *slog.Logger
	peer    engine.Peer
	app     *application
	uid     *uidState // the peer's uid's state, once counted
	helloBy time.Time
	ring    *ring // set by RingSetup: the connection is served through it from then on (serveRing)
}

func (s *Server) serveConn(c net.Conn) {
	defer s.busy.Done()
	// The connection must have said Hello by helloBy: a connection that only sits there holds a descriptor.
	st := &connState{c: c, helloBy: time.Now().Add(s.lim.HelloTimeout)}
	c.SetReadDeadline(st.helloBy)
	defer func() {
		c.Close()
		var ended ck.Provider
		s.mu.Lock()
		delete(s.conns, c)
		if st.uid != nil {
			if st.uid.conns--; st.uid.conns == 0 {
				delete(s.perUID, st.uid.id)
			}
		}
		if st.app != nil {
			st.app.refs--
			if st.app.refs == 0 {
				delete(s.apps, string(st.app.cookie))
				ended = st.app.provider
			}
		}
		if st.ring != nil {
			s.rings--
		}
		if len(s.conns) == 0 && s.idle != nil && !s.closing {
			s.idle.Reset(s.IdleExit)
		}
		s.mu.Unlock()
		if ended != nil {
			ended.Close() // the application's last connection: its sessions and logins end
		}
	}()
	peer, err := peerOf(c)
	if err != nil {
		s.log.Warn("connection without peer credentials", "err", err)
		return
	}
	st.peer = peer
	s.mu.Lock()
	uid := s.perUID[peer.UID]
	if uid == nil {
		uid = &uidState{id: peer.UID, budget: newByteBudget(s.lim.MaxReceiveBytesPerUID)}
		s.perUID[peer.UID] = uid
	}
	if uid.conns >= s.lim.MaxConnectionsPerUID { // (at least 1: uid is not new)
		s.mu.Unlock()
		s.refused.note(s.log, "refusing a connection beyond the uid's limit", "uid", peer.UID,
			"max_connections_per_uid", s.lim.MaxConnectionsPerUID)
		return
	}
	uid.conns++
	st.uid = uid
	s.mu.Unlock()
	st.log = s.log.With("peer", peer.String())
	if uc, ok := c.(*net.UnixConn); ok {
		// Room for a large response in the socket (see the client's KW_SNDBUF): the kernel caps it at
		// net.core.wmem_max, and charges memory only while data is in flight.
		uc.SetWriteBuffer(4 << 20)
	}
	st.r = bufio.NewReaderSize(c, 64<<10)
	st.w = bufio.NewWriterSize(c, 64<<10)
	for s.serveFrame(st) {
		if st.ring != nil {
			s.serveRing(st)
			return
		}
	}
}

// serveFrame reads one request frame from the socket, serves it and writes the response on the socket. It
// reports whether the connection goes on.
func (s *Server) serveFrame(st *connState) bool {
	c, r, log := st.c, st.r, st.log
	// After Hello, waiting for the next request has no time limit (an application may sleep between
	// calls), but once a frame has begun it must arrive within FrameTimeout: a peer cannot pin a half-sent
	// frame forever. Before Hello, everything is bounded by helloBy.
	hdr, err := r.Peek(4)
	if errors.Is(err, io.EOF) && r.Buffered() > 0 {
		err = io.ErrUnexpectedEOF // the peer left in the middle of a length field
	}
	if err != nil {
		if st.app == nil && isTimeout(err) {
			log.Debug("closing a connection that did not say Hello in time", "hello_timeout", s.lim.HelloTimeout.String())
		} else if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !isTimeout(err) {
			log.Warn("dropping connection", "err", err)
		}
		return false
	}
	size := 4 + int64(binary.BigEndian.Uint32(hdr))
	frameBy := time.Now().Add(s.lim.FrameTimeout)
	if st.app == nil {
		frameBy = st.helloBy
	}
	// A large frame takes its size from the budgets of bytes being received (its uid's, then everyone's)
	// before its bytes are read, and keeps it until its response is out: slow or stalled senders hold at
	// most MaxReceiveBytes, one uid at most MaxReceiveBytesPerUID. (A frame beyond MaxFrame is refused by
	// ReadRequest; it counts as MaxFrame meanwhile.)
	var held int64
	if size > budgetFloor {
		held = min(size, maxFrameBytes)
		if !st.uid.budget.acquire(held, frameBy, s.stop) {
			s.refused.note(log, "dropping connection: request frames being received exceed the uid's limit", "frame", size,
				"max_receive_bytes_per_uid", s.lim.MaxReceiveBytesPerUID)
			return false
		}
		if !s.budget.acquire(held, frameBy, s.stop) {
			st.uid.budget.release(held)
			s.refused.note(log, "dropping connection: request frames being received exceed the limit", "frame", size,
				"max_receive_bytes", s.lim.MaxReceiveBytes)
			return false
		}
	}
	deadline := st.app == nil || int64(r.Buffered()) < size
	if deadline {
		c.SetReadDeadline(frameBy) // the rest of the frame is still on its way
	}
	// What a handler decodes aliases the request's frame, and an operation may keep parts of its input (a
	// parameter, buffered data) beyond the request: every frame gets a fresh buffer, except the large
	// frames of the data calls, whose input nothing keeps (reusableFrame).
	req, pooled, err := frames.ReadRequest(r, reusableFrame)
	if deadline && st.app != nil {
		c.SetReadDeadline(time.Time{})
	}
	if err != nil {
		s.budget.release(held)
		st.uid.budget.release(held)
		if st.app == nil && isTimeout(err) {
			log.Debug("closing a connection that did not say Hello in time", "hello_timeout", s.lim.HelloTimeout.String())
		} else if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !isTimeout(err) {
			log.Warn("dropping connection", "err", err)
		}
		return false
	}
	hadApp := st.app != nil
	more := s.serve(st, req, nil)
	// The response is out: the request's frame goes back to its pool, cleared (it may hold plaintext), while
	// the peer reads.
	frames.Put(pooled)
	s.budget.release(held)
	st.uid.budget.release(held)
	if more && !hadApp {
		c.SetReadDeadline(time.Time{}) // Hello done: the application may wait as long as it likes
	}
	return more
}

// serve serves one request (serveRequest) with a pooled response encoder, which goes back to the pool
// cleared (the response may hold plaintext) once the response is out. rg is the ring the request came
// through, nil for the socket. It returns whether the connection goes on.
func (s *Server) serve(st *connState, req wire.Request, rg *ring) bool {
	enc := encoders.Get().(*wire.Encoder)
	more := s.serveRequest(st, req, enc, rg)
	clear(enc.Bytes())
	enc.Reset()
	encoders.Put(enc)
	return more
}

// frames lends buffers to large request frames of the calls reusableFrame names.
var frames wire.FramePool

// encoders holds response encoders: their buffers grow to the largest response they carried, and the pool
// lets them go when the daemon is idle.
var encoders = sync.Pool{New: func() any { return new(wire.Encoder) }}

// reusableFrame reports whether a call's request frame may lie in a buffer that is reused after the call:
// its handler hands the frame's byte strings to the engine's data functions, which keep nothing that
// aliases them (an operation copies the input it buffers, and output held for the length convention is a
// copy when it would alias the input: engine.step).
// offeredFeatures are the Features bits this daemon answers (docs/protocol.md, "Features"). The connection
// answers Features itself, as it serves RingSetup: what it offers is the connection's, not the provider's.
const offeredFeatures = wire.FeatureFused | wire.FeatureKeep | wire.FeatureAttrPeek | wire.FeatureRing

func reusableFrame(call wire.Call) bool { return reusableCalls[call] }

var reusableCalls = map[wire.Call]bool{
	wire.CallOperationSingle: true, wire.CallOperationUpdate: true, wire.CallOperationFinal: true,
	wire.CallVerify: true, wire.CallVerifyFinal: true, wire.CallVerifySignature: true,
	// The fused calls, an Init with its first data call: the Init keeps a copy of the mechanism's parameter
	// (mech.NewParam), nothing of the frame.
	wire.CallOperationInitData: true, wire.CallVerifyInitVerify: true,
}

// serveRequest answers one request into enc and writes the response: into rg when the request came through
// the ring and the response fits there, else on the socket. It reports whether the connection goes on.
func (s *Server) serveRequest(st *connState, req wire.Request, enc *wire.Encoder, rg *ring) bool {
	ci, known := wire.Lookup(req.Call)
	log := st.log
	if st.app == nil && req.Call != wire.CallHello {
		log.Warn("dropping connection: first frame is not Hello", "call", req.Call.String())
		return false
	}
	var rv ck.RV
	switch {
	case !known || (s.Legacy && req.Call > wire.CallDeleteToken):
		rv = ck.CKR_FUNCTION_NOT_SUPPORTED
	case wire.Validate(req.Body, ci.Request) != nil:
		log.Warn("dropping connection: malformed request", "call", ci.Name)
		return false
	case req.Call == wire.CallHello:
		if st.app != nil {
			log.Warn("dropping connection: second Hello")
			return false
		}
		st.app, rv = s.hello(st.peer, wire.NewDecoder(req.Body), enc)
		if st.app == nil {
			writeResponse(st.c, st.w, req, rv, nil)
			return false
		}
	case req.Call == wire.CallFeatures:
		enc.U(offeredFeatures)
	case req.Call == wire.CallRingSetup:
		if rg != nil || st.ring != nil {
			log.Warn("dropping connection: second RingSetup")
			return false
		}
		return s.setupRing(st, req)
	default:
		rv = s.handle(log, st.app.provider, req.Call, req.Body, enc)
	}
	if wire.OneWay(req.Call) && known && !s.Legacy {
		return true // no response: the client reads only the response of the request written after it
	}
	body := enc.Bytes()
	if !wire.CarriesBody(rv) {
		body = nil
	}
	if rg != nil {
		var hb [wire.ResponseHeaderSize]byte
		if rg.respond(wire.AppendResponseHeader(hb[:0], req.ID, req.Call, rv, len(body)), body) {
			return true
		}
		err := writeResponse(st.c, st.w, req, rv, body)
		rg.post(RingOnSocket)
		return err == nil
	}
	return writeResponse(st.c, st.w, req, rv, body) == nil
}

// writeResponse writes one response frame. A small one goes through w (one write); a large body is sent
// from where it lies, behind its header, with one writev and no copy.
func writeResponse(c net.Conn, w *bufio.Writer, req wire.Request, rv ck.RV, body []byte) error {
	// A peer that stops reading must not hold the daemon's goroutine, buffers and receive budget forever:
	// the response must be taken within DefaultFrameTimeout.
	c.SetWriteDeadline(time.Now().Add(DefaultFrameTimeout))
	var hb [wire.ResponseHeaderSize]byte
	hdr := wire.AppendResponseHeader(hb[:0], req.ID, req.Call, rv, len(body))
	if len(hdr)+len(body) > w.Available() && w.Buffered() == 0 {
		bufs := net.Buffers{hdr, body}
		_, err := bufs.WriteTo(c)
		return err
	}
	w.Write(hdr)
	w.Write(body)
	return w.Flush()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// handle runs one call. A panic in the engine is a bug: it is logged with its stack and answered with
// CKR_GENERAL_ERROR, and the daemon goes on.
func (s *Server) handle(log *slog.Logger, p ck.Provider, call wire.Call, body []byte, enc *wire.Encoder) (rv ck.RV) {
	h, ok := handlers[call]
	if !ok {
		return ck.CKR_FUNCTION_NOT_SUPPORTED
	}
	defer func() {
		if r := recover(); r != nil {
			log.Error("panic serving a call", "call", call.String(), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			enc.Reset()
			rv = ck.CKR_GENERAL_ERROR
		}
	}()
	d := wire.NewDecoder(body)
	err := h(p, d, enc)
	if derr := d.Finish(); derr != nil {
		// Validate checked the body against the signature; a handler that reads differently is a bug.
		log.Error("handler does not follow its call's signature", "call", call.String(), "err", derr)
		enc.Reset()
		return ck.CKR_GENERAL_ERROR
	}
	return ck.ToRV(err)
}

// hello creates or joins an application.
func (s *Server) hello(peer engine.Peer, d *wire.Decoder, enc *wire.Encoder) (*application, ck.RV) {
	ver := d.U()
	cookie := d.B()
	if ver != wire.Version {
		s.log.Warn("refusing a client of another protocol version", "version", ver, "peer", peer.String())
		return nil, ck.CKR_GENERAL_ERROR
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var app *application
	if len(cookie) == 0 {
		c := make([]byte, wire.CookieSize)
		if _, err := rand.Read(c); err != nil {
			return nil, ck.CKR_GENERAL_ERROR
		}
		app = &application{provider: s.open(peer), peer: peer, cookie: c}
		s.apps[string(c)] = app
	} else {
		app = s.apps[string(cookie)]
		if app == nil || subtle.ConstantTimeCompare(app.cookie, cookie) != 1 || app.peer.UID != peer.UID || app.peer.PID != peer.PID {
			s.log.Warn("refusing to join an application", "peer", peer.String())
			return nil, ck.CKR_GENERAL_ERROR
		}
		if app.refs >= MaxConnectionsPerApplication {
			s.log.Warn("refusing a connection beyond the application's limit", "peer", peer.String(), "limit", MaxConnectionsPerApplication)
			return nil, ck.CKR_DEVICE_MEMORY
		}
	}
	app.refs++
	enc.U(wire.Version)
	enc.B(app.cookie)
	return app, ck.CKR_OK
}

// Applications returns how many applications are connected (for tests and status).
func (s *Server) Applications() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.apps)
}
