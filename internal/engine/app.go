package engine

import (
	"fmt"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// General-purpose functions: the application, what one C_Initialize of one process
// opens (Engine.Open) and C_Finalize closes, and C_GetInfo.

// Peer is the identity of an application's process, from SO_PEERCRED (and its executable, from /proc).
type Peer struct {
	UID, GID uint32
	PID      int32
	Exe      string
	Groups   []uint32 // supplementary groups, from /proc/PID/status
}

// String formats the peer for logs.
func (p Peer) String() string { return fmt.Sprintf("uid=%d,pid=%d", p.UID, p.PID) }

// app is one application: what one C_Initialize of one process sees.
type app struct {
	e        *Engine
	peer     Peer
	sessions map[ck.SessionHandle]*session
	logins   map[*token]ck.UserType
	closed   bool
	// sessionBytes is the size of the application's session objects (Config.MaxSessionBytes).
	sessionBytes uint64
	// buffered is what the application's buffering multi-part operations hold (buffer.go).
	buffered uint64
	// keyTypes are the only key types of key pairs this application sees (nil: all; view.go).
	keyTypes []ck.KeyType
}

// Open starts an application for a peer. The caller must Close it when the application ends (its last
// connection closes).
func (e *Engine) Open(peer Peer) ck.Provider {
	a := &app{e: e, peer: peer, sessions: map[ck.SessionHandle]*session{}, logins: map[*token]ck.UserType{}}
	e.mu.Lock()
	e.apps[a] = struct{}{}
	a.keyTypes = e.viewOf(peer)
	e.mu.Unlock()
	return a
}

func (e *Engine) closeApp(a *app) {
	if a.closed {
		return
	}
	for _, s := range a.sessions {
		e.closeSession(s)
	}
	for t := range a.logins {
		e.logout(a, t)
	}
	a.closed = true
	delete(e.apps, a)
}

// Close ends the application: its sessions, session objects and logins.
func (a *app) Close() error {
	a.e.mu.Lock()
	defer a.e.mu.Unlock()
	a.e.closeApp(a)
	return nil
}

// session looks up a session of this application. Called with e.mu held.
func (a *app) session(h ck.SessionHandle) (*session, error) {
	if a.closed {
		return nil, ck.CKR_CRYPTOKI_NOT_INITIALIZED
	}
	s, ok := a.sessions[h]
	if !ok {
		return nil, ck.CKR_SESSION_HANDLE_INVALID
	}
	return s, nil
}

func (a *app) GetInfo() (ck.Info, error) {
	return ck.Info{
		ManufacturerID:     manufacturerID,
		LibraryDescription: "Keyward PKCS#11 key store",
		LibraryVersion:     engineVersion,
	}, nil
}
