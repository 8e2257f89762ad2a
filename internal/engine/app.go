package engine

import (
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/keyward/keyward/internal/store"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

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

// lock takes the engine lock and returns the application's session h.
func (a *app) lock(h ck.SessionHandle) (*session, func(), error) {
	a.e.mu.Lock()
	s, err := a.session(h)
	if err != nil {
		a.e.mu.Unlock()
		return nil, nil, err
	}
	return s, a.e.mu.Unlock, nil
}

// storeError maps a failed store write to the code PKCS#11 names for it.
func storeError(err error) error {
	if errors.Is(err, store.ErrFull) {
		return ck.CKR_DEVICE_MEMORY // "the token does not have sufficient memory to perform the requested function"
	}
	return ck.CKR_DEVICE_ERROR // also a read-only store (store.ErrReadOnly)
}

func (a *app) GetInfo() (ck.Info, error) {
	return ck.Info{
		ManufacturerID:     manufacturerID,
		LibraryDescription: "Keyward PKCS#11 key store",
		LibraryVersion:     engineVersion,
	}, nil
}

func (a *app) GetSlotList(tokenPresent bool) ([]ck.SlotID, error) {
	a.e.mu.Lock()
	defer a.e.mu.Unlock()
	var out []ck.SlotID
	for _, s := range a.e.slotList() {
		if a.visibleSlot(s) == nil {
			out = append(out, s)
		}
	}
	return out, nil
}

func (a *app) GetSlotInfo(slot ck.SlotID) (ck.SlotInfo, error) {
	a.e.mu.Lock()
	defer a.e.mu.Unlock()
	if err := a.visibleSlot(slot); err != nil {
		return ck.SlotInfo{}, err
	}
	return a.e.slotInfo(slot)
}

func (a *app) GetTokenInfo(slot ck.SlotID) (ck.TokenInfo, error) {
	a.e.mu.Lock()
	defer a.e.mu.Unlock()
	if err := a.visibleSlot(slot); err != nil {
		return ck.TokenInfo{}, err
	}
	info, err := a.e.tokenInfo(slot)
	if t, ok := a.e.tokens[slot]; ok && err == nil && a.identityLogin(t) {
		info.Flags |= ck.CKF_PROTECTED_AUTHENTICATION_PATH // this application logs in by its identity
	}
	return info, err
}

func (a *app) WaitForSlotEvent(flags uint64) (ck.SlotID, error) {
	if flags&ck.CKF_DONT_BLOCK == 0 {
		return 0, ck.CKR_FUNCTION_NOT_SUPPORTED
	}
	a.e.mu.Lock()
	defer a.e.mu.Unlock()
	for len(a.e.events) > 0 {
		slot := a.e.events[0]
		a.e.events = a.e.events[1:]
		if a.visibleSlot(slot) == nil { // an event of a token the policy hides is not this application's
			return slot, nil
		}
	}
	return 0, ck.CKR_NO_EVENT
}

func (a *app) OpenSession(slot ck.SlotID, flags uint64) (ck.SessionHandle, error) {
	a.e.mu.Lock()
	defer a.e.mu.Unlock()
	if a.closed {
		return 0, ck.CKR_CRYPTOKI_NOT_INITIALIZED
	}
	if err := a.visibleSlot(slot); err != nil {
		return 0, err
	}
	return a.e.openSession(a, slot, flags)
}

func (a *app) CloseSession(h ck.SessionHandle) error {
	s, unlock, err := a.lock(h)
	if err != nil {
		return err
	}
	defer unlock()
	a.e.closeSession(s)
	return nil
}

func (a *app) CloseAllSessions(slot ck.SlotID) error {
	e := a.e
	e.mu.Lock()
	defer e.mu.Unlock()
	t, ok := e.tokens[slot]
	if !ok || !a.mayOpen(t) {
		if slot == e.freeSlot {
			return nil
		}
		return ck.CKR_SLOT_ID_INVALID
	}
	for _, s := range a.sessions {
		if s.tok == t {
			e.closeSession(s)
		}
	}
	return nil
}

func (a *app) GetSessionInfo(h ck.SessionHandle) (ck.SessionInfo, error) {
	s, unlock, err := a.lock(h)
	if err != nil {
		return ck.SessionInfo{}, err
	}
	defer unlock()
	flags := uint64(ck.CKF_SERIAL_SESSION)
	if s.rw {
		flags |= ck.CKF_RW_SESSION
	}
	return ck.SessionInfo{SlotID: s.tok.slot, State: s.state(), Flags: flags}, nil
}

func (a *app) SessionCancel(h ck.SessionHandle, flags uint64) error {
	s, unlock, err := a.lock(h)
	if err != nil {
		return err
	}
	defer unlock()
	s.cancelMatching(flags)
	return nil
}

func (a *app) SeedRandom(h ck.SessionHandle, seed []byte) error {
	_, unlock, err := a.lock(h)
	if err != nil {
		return err
	}
	unlock()
	// The operating system's generator needs no seed and takes none from applications.
	return ck.CKR_RANDOM_SEED_NOT_SUPPORTED
}

// MaxRandom is the most bytes one C_GenerateRandom returns; larger requests get CKR_DATA_LEN_RANGE.
const MaxRandom = 1 << 20

func (a *app) GenerateRandom(h ck.SessionHandle, n uint64) ([]byte, error) {
	_, unlock, err := a.lock(h)
	if err != nil {
		return nil, err
	}
	unlock()
	if n > MaxRandom {
		return nil, ck.CKR_DATA_LEN_RANGE
	}
	out := make([]byte, n)
	if _, err := rand.Read(out); err != nil {
		return nil, ck.CKR_FUNCTION_FAILED
	}
	return out, nil
}
