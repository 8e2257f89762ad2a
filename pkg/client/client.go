// Package client is the Go client of keywardd: a cryptoki.Provider over the daemon's socket, with no cgo.
// Go programs use it to reach the keys that keywardd holds; the keyward CLI uses it too.
package client

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/keyward/keyward/internal/socketdir"
	"github.com/keyward/keyward/internal/wire"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// DefaultTimeout bounds one call's round trip.
const DefaultTimeout = 120 * time.Second

// SystemSocket is the system-mode daemon's socket.
const SystemSocket = socketdir.SystemSocket

// SocketPath returns the socket a client uses: $KEYWARD_SOCKET, else the system socket if it exists, else the
// user-mode socket under $XDG_RUNTIME_DIR (or /tmp/keyward-UID).
func SocketPath() string {
	if p := os.Getenv("KEYWARD_SOCKET"); p != "" {
		return p
	}
	if fi, err := os.Stat(SystemSocket); err == nil && fi.Mode()&os.ModeSocket != 0 {
		return SystemSocket
	}
	return UserSocketPath()
}

// UserSocketPath returns the user-mode daemon's socket path.
func UserSocketPath() string { return socketdir.UserSocketPath() }

// Client is one application of keywardd. It is safe for concurrent use: each call takes a connection from a
// small pool (connections beyond the first join the same application).
type Client struct {
	path    string
	timeout time.Duration

	mu     sync.Mutex
	idle   []*conn
	cookie []byte
	dead   bool
	closed bool
}

type conn struct {
	c    net.Conn
	r    *bufio.Reader
	next uint32
	buf  []byte
	out  []byte
}

// Dial connects to the daemon at path and starts an application. With an empty path it goes where
// DefaultOptions says, starting the per-user daemon as libkeyward.so does; calls are bounded by
// $KEYWARD_TIMEOUT_MS either way (autostart.go).
func Dial(path string) (*Client, error) {
	o := DefaultOptions(os.Getenv)
	if path != "" {
		o.Path, o.Autostart = path, false
	}
	return DialWith(o)
}

// SetTimeout changes the bound on one call's round trip.
func (cl *Client) SetTimeout(d time.Duration) { cl.timeout = d }

func (cl *Client) connect(cookie []byte) (*conn, error) {
	if cl.path == UserSocketPath() {
		if err := CheckPrivateDir(filepath.Dir(cl.path)); err != nil {
			return nil, fmt.Errorf("client: connecting to keywardd at %s: %w", cl.path, err)
		}
	}
	nc, err := net.DialTimeout("unix", cl.path, 5*time.Second)
	if err != nil {
		return nil, fmt.Errorf("client: connecting to keywardd at %s: %w", cl.path, err)
	}
	if err := checkPeer(nc, cl.path); err != nil {
		nc.Close()
		return nil, fmt.Errorf("client: connecting to keywardd at %s: %w", cl.path, err)
	}
	c := &conn{c: nc, r: bufio.NewReaderSize(nc, 64<<10)}
	var e wire.Encoder
	e.U(wire.Version)
	e.B(cookie)
	resp, err := cl.roundTrip(c, wire.CallHello, e.Bytes())
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("client: hello: %w", err)
	}
	if resp.RV != ck.CKR_OK {
		nc.Close()
		return nil, fmt.Errorf("client: keywardd refused the connection: %w", resp.RV)
	}
	d := wire.NewDecoder(resp.Body)
	d.U()
	got := d.B()
	if err := d.Finish(); err != nil || len(got) != wire.CookieSize {
		nc.Close()
		return nil, fmt.Errorf("client: bad hello response: %v", err)
	}
	if cookie == nil {
		cl.cookie = append([]byte{}, got...)
	}
	return c, nil
}

func (cl *Client) roundTrip(c *conn, call wire.Call, body []byte) (wire.Response, error) {
	c.next++
	id := c.next
	c.out = wire.AppendRequest(c.out[:0], id, call, body)
	c.c.SetDeadline(time.Now().Add(cl.timeout))
	if _, err := c.c.Write(c.out); err != nil {
		return wire.Response{}, err
	}
	resp, buf, err := wire.ReadResponse(c.r, c.buf)
	c.buf = buf
	if err != nil {
		return wire.Response{}, err
	}
	if resp.ID != id || resp.Call != call {
		return wire.Response{}, fmt.Errorf("client: response %d/%v to request %d/%v", resp.ID, resp.Call, id, call)
	}
	return resp, nil
}

// ErrClosed is returned by calls after Close.
var ErrClosed = errors.New("client: closed")

func (cl *Client) get() (*conn, error) {
	cl.mu.Lock()
	if cl.closed {
		cl.mu.Unlock()
		return nil, ck.CKR_CRYPTOKI_NOT_INITIALIZED
	}
	if cl.dead {
		cl.mu.Unlock()
		return nil, ck.CKR_DEVICE_REMOVED
	}
	if n := len(cl.idle); n > 0 {
		c := cl.idle[n-1]
		cl.idle = cl.idle[:n-1]
		cl.mu.Unlock()
		return c, nil
	}
	cookie := cl.cookie
	cl.mu.Unlock()
	c, err := cl.connect(cookie)
	if err != nil {
		cl.kill()
		return nil, ck.CKR_DEVICE_REMOVED
	}
	return c, nil
}

func (cl *Client) put(c *conn) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.closed || cl.dead || len(cl.idle) >= 8 {
		c.c.Close()
		return
	}
	cl.idle = append(cl.idle, c)
}

// kill marks the application dead: the daemon went away, and with it the sessions.
func (cl *Client) kill() {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	cl.dead = true
	for _, c := range cl.idle {
		c.c.Close()
	}
	cl.idle = nil
}

// call runs one call: enc writes the request items, dec reads the response items when the response carries
// them. It returns the call's CK_RV as an error.
func (cl *Client) call(call wire.Call, enc func(*wire.Encoder), dec func(*wire.Decoder)) error {
	c, err := cl.get()
	if err != nil {
		return err
	}
	var e wire.Encoder
	if enc != nil {
		enc(&e)
	}
	resp, err := cl.roundTrip(c, call, e.Bytes())
	clear(e.Bytes()) // requests may carry PINs
	if err != nil {
		c.c.Close()
		cl.kill()
		return ck.CKR_DEVICE_REMOVED
	}
	// The body aliases the connection's read buffer, which the next call on it reuses: copy it before the
	// connection goes back to the pool, so returned values stay the caller's.
	resp.Body = append([]byte(nil), resp.Body...)
	cl.put(c)
	if len(resp.Body) > 0 {
		if !wire.CarriesBody(resp.RV) {
			return ck.CKR_DEVICE_ERROR
		}
		ci, _ := wire.Lookup(call)
		if err := wire.Validate(resp.Body, ci.Response); err != nil {
			return ck.CKR_DEVICE_ERROR
		}
		if dec != nil {
			d := wire.NewDecoder(resp.Body)
			dec(d)
			if d.Finish() != nil {
				return ck.CKR_DEVICE_ERROR
			}
		}
	} else if wire.CarriesBody(resp.RV) {
		ci, _ := wire.Lookup(call)
		if ci.Response != "" {
			return ck.CKR_DEVICE_ERROR
		}
	}
	if resp.RV != ck.CKR_OK {
		return resp.RV
	}
	return nil
}

// Close ends the application (C_Finalize): the daemon closes its sessions and logins.
func (cl *Client) Close() error {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.closed {
		return nil
	}
	cl.closed = true
	for _, c := range cl.idle {
		c.c.Close()
	}
	cl.idle = nil
	return nil
}
