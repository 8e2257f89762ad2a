package engine

import (
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// Session management, but for the logins (login.go): C_OpenSession, C_CloseSession, C_CloseAllSessions,
// C_GetSessionInfo, C_SessionCancel, C_GetSessionValidationFlags.

// session is an open session of an application with a token.
type session struct {
	handle ck.SessionHandle
	app    *app
	tok    *token
	rw     bool
	find   *findState
	ops    map[ck.Operation]*operation
}

// findState is an active C_FindObjects search: the handles it matched at C_FindObjectsInit.
type findState struct {
	handles []ck.ObjectHandle
}

// state is the session's CK_STATE, which follows from the application's login on the token.
func (s *session) state() ck.State {
	user, loggedIn := s.app.logins[s.tok]
	switch {
	case loggedIn && user == ck.CKU_SO:
		return ck.CKS_RW_SO_FUNCTIONS
	case loggedIn && user == ck.CKU_USER:
		if s.rw {
			return ck.CKS_RW_USER_FUNCTIONS
		}
		return ck.CKS_RO_USER_FUNCTIONS
	}
	if s.rw {
		return ck.CKS_RW_PUBLIC_SESSION
	}
	return ck.CKS_RO_PUBLIC_SESSION
}

func (s *session) userLoggedIn() bool { return s.app.loggedInAs(s.tok, ck.CKU_USER) }

// canSee reports whether an object is visible to the session's application: session objects only to the
// application that made them, private objects only while it is logged in as the user.
func (s *session) canSee(o *object) bool {
	if o.tok != s.tok {
		return false
	}
	if !o.onToken && o.owner.app != s.app {
		return false
	}
	return (!o.private || s.userLoggedIn()) && !s.app.viewHides(o)
}

func (s *session) cancelOperations() {
	s.find = nil
	for k, op := range s.ops {
		s.release(op)
		op.end()
		s.app.e.releaseKeysLocked(op.key) // held since the Init (locking.go)
		delete(s.ops, k)
	}
}

func (e *Engine) openSession(a *app, slot ck.SlotID, flags uint64) (ck.SessionHandle, error) {
	t, ok := e.tokens[slot]
	if !ok {
		if slot == e.freeSlot {
			return 0, ck.CKR_TOKEN_NOT_RECOGNIZED
		}
		return 0, ck.CKR_SLOT_ID_INVALID
	}
	if flags&ck.CKF_SERIAL_SESSION == 0 {
		return 0, ck.CKR_SESSION_PARALLEL_NOT_SUPPORTED
	}
	if flags&ck.CKF_ASYNC_SESSION != 0 {
		return 0, ck.CKR_SESSION_ASYNC_NOT_SUPPORTED // PKCS#11 3.2: no asynchronous operation
	}
	if len(a.sessions) >= e.cfg.MaxSessions {
		return 0, ck.CKR_SESSION_COUNT
	}
	rw := flags&ck.CKF_RW_SESSION != 0
	if !rw && a.loggedInAs(t, ck.CKU_SO) {
		return 0, ck.CKR_SESSION_READ_WRITE_SO_EXISTS
	}
	s := &session{handle: e.newSessionHandle(), app: a, tok: t, rw: rw, ops: map[ck.Operation]*operation{}}
	e.sessions[s.handle] = s
	a.sessions[s.handle] = s
	return s.handle, nil
}

// closeSession ends a session: its operations and its session objects. When it was the application's last
// session with the token, the application's login there ends too (PKCS#11: logging out is implied).
func (e *Engine) closeSession(s *session) {
	s.cancelOperations()
	for _, o := range s.tok.index.all() {
		if o.owner == s {
			e.removeObject(o)
		}
	}
	delete(e.sessions, s.handle)
	delete(s.app.sessions, s.handle)
	for _, other := range s.app.sessions {
		if other.tok == s.tok {
			return
		}
	}
	if _, in := s.app.logins[s.tok]; in {
		e.logout(s.app, s.tok)
	}
}

// loggedInAs reports whether the application is logged in to t as user u. (CKU_SO is 0, so a plain map
// lookup would mistake "not logged in" for the SO.)
func (a *app) loggedInAs(t *token, u ck.UserType) bool {
	got, ok := a.logins[t]
	return ok && got == u
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

// GetSessionValidationFlags is C_GetSessionValidationFlags.
func (a *app) GetSessionValidationFlags(h ck.SessionHandle, typ uint64) (uint64, error) {
	if err := a.checkSession(h); err != nil {
		return 0, err
	}
	return 0, nil // no validated (FIPS-style) operation has run: no flag is set
}
