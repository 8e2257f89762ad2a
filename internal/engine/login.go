package engine

import (
	"encoding/binary"

	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/vault"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// PIN operations run the memory-hard KDF without holding the engine lock, so other applications keep
// working during a login. They are serialised among themselves by pinMu, which keeps failure counting
// exact: an attempt is counted durably before the PIN is tried, so killing the daemon mid-attempt cannot
// buy an uncounted guess.

func roleName(u ck.UserType) string {
	if u == ck.CKU_SO {
		return "so"
	}
	return "user"
}

func (e *Engine) pinLenOK(pin []byte) bool {
	return len(pin) >= e.cfg.MinPINLen && len(pin) <= e.cfg.MaxPINLen
}

// countAttempt records one more failure before a PIN is tried; a success resets it.
func (e *Engine) countAttempt(t *token, ps *pinState) error {
	ps.Failures++
	if e.store.ReadOnly() {
		return nil // counted in memory only: a read-only store keeps nothing (logged at start)
	}
	if err := e.saveToken(t); err != nil {
		ps.Failures--
		return err
	}
	return nil
}

// tryPIN derives the key of a PIN and unwraps the token key with it. Called without e.mu.
func (e *Engine) tryPIN(tokID uint64, role string, pin []byte, ps pinState) (*vault.TokenKey, error) {
	if len(ps.Bound) != 0 {
		return e.tryBoundPIN(tokID, role, pin, ps) // pinbind.go
	}
	pk, err := e.root.DerivePIN(tokID, role, pin, ps.Salt, ps.KDF)
	if err != nil {
		return nil, ck.CKR_DEVICE_ERROR
	}
	tk, err := pk.Unwrap(ps.Wrapped)
	if err != nil {
		return nil, ck.CKR_PIN_INCORRECT
	}
	return tk, nil
}

// wrapPIN makes a new PIN state wrapping tk under pin. Called without e.mu.
func (e *Engine) wrapPIN(tokID uint64, role string, pin []byte, tk *vault.TokenKey) (pinState, error) {
	if e.cfg.BindPINs {
		return e.wrapBoundPIN(tokID, role, pin, tk) // pinbind.go
	}
	ps := pinState{Salt: vault.NewSalt(), KDF: e.cfg.KDF}
	pk, err := e.root.DerivePIN(tokID, role, pin, ps.Salt, ps.KDF)
	if err != nil {
		return pinState{}, ck.CKR_DEVICE_ERROR
	}
	ps.Wrapped = pk.Wrap(tk)
	return ps, nil
}

func (e *Engine) pinOf(t *token, u ck.UserType) *pinState {
	if u == ck.CKU_SO {
		return &t.rec.SO
	}
	return &t.rec.User
}

// locked runs fn under e.mu; the lock is released when fn returns.
func (e *Engine) locked(fn func() error) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return fn()
}

// pinAttempt is one try of a PIN between its count and its end (attemptPIN).
type pinAttempt struct {
	t    *token
	user ck.UserType
	rec  pinState // the PIN record as counted: what tryPIN opens
}

// attemptPIN is every try of a PIN (C_Login, C_SetPIN's old PIN, the SO PIN of C_InitToken on an initialised
// token and of DeleteToken), in three steps. Called with pinMu held, which keeps the token and its PIN
// records as they are for the whole attempt (every call that changes them takes it), and without e.mu.
//
// Check, under e.mu: check is the caller's own checks; it returns the token and the user whose PIN is tried,
// or a nil token when there is no PIN to try (C_InitToken on a new token: attemptPIN returns nil, nil). In the
// same critical section a locked PIN (MaxPINFailures consecutive failures) answers CKR_PIN_LOCKED without a
// try; a PIN outside the token's lengths cannot be right and answers CKR_PIN_INCORRECT without spending an
// attempt; otherwise the attempt is counted durably before the PIN is tried (countAttempt), so killing the
// daemon mid-attempt buys no uncounted guess.
//
// Compute, without e.mu: tryPIN, the memory-hard KDF and the token key's unwrap (or the TPM's PIN-bound seal,
// pinbind.go). No PIN bytes are compared: a wrong PIN fails the AES-GCM authentication of the token key's
// wrap, whose time does not depend on how much of the PIN is right.
//
// End, under e.mu: a failed try is logged and audited as failed (the event's name, with the failures so far);
// a right PIN resets the count (durably, unless the store is read-only) and returns the token key, which the
// caller wipes.
func (e *Engine) attemptPIN(a *app, pin []byte, failed string, check func() (*token, ck.UserType, error)) (*vault.TokenKey, error) {
	var at pinAttempt
	err := e.locked(func() error {
		t, user, err := check()
		if err != nil || t == nil {
			return err
		}
		ps := e.pinOf(t, user)
		if ps.Failures >= e.cfg.MaxPINFailures {
			return ck.CKR_PIN_LOCKED
		}
		if !e.pinLenOK(pin) {
			return ck.CKR_PIN_INCORRECT
		}
		if err := e.countAttempt(t, ps); err != nil {
			return err
		}
		at = pinAttempt{t: t, user: user, rec: *ps}
		return nil
	})
	if err != nil || at.t == nil {
		return nil, err
	}

	e.checked("pin attempt")
	tk, err := e.tryPIN(at.t.id, roleName(at.user), pin, at.rec)

	err = e.locked(func() error { return e.endPINAttempt(a, at, failed, err) })
	if err != nil {
		if tk != nil {
			tk.Wipe()
		}
		return nil, err
	}
	return tk, nil
}

// endPINAttempt is the end of attemptPIN: tryErr is what tryPIN answered. Called with e.mu held.
func (e *Engine) endPINAttempt(a *app, at pinAttempt, failed string, tryErr error) error {
	t, role := at.t, roleName(at.user)
	ps := e.pinOf(t, at.user)
	if tryErr != nil {
		e.log.Warn(failed, "token", t.id, "user", role, "app", a.peer.String(), "failures", ps.Failures)
		e.auditEvent(failed, a, t.id, "user", role, "failures", ps.Failures)
		return tryErr
	}
	ps.Failures = 0
	if e.store.ReadOnly() {
		return nil
	}
	return e.saveToken(t)
}

// checkUserType accepts the user types C_Login knows.
func checkUserType(user ck.UserType) error {
	switch user {
	case ck.CKU_SO, ck.CKU_USER, ck.CKU_CONTEXT_SPECIFIC:
		return nil
	}
	return ck.CKR_USER_TYPE_INVALID
}

// loginCall is what Login's check found.
type loginCall struct {
	s               *session
	user            ck.UserType // CKU_CONTEXT_SPECIFIC is tried as the user
	contextSpecific bool        // a CKU_CONTEXT_SPECIFIC login: it authenticates an operation
}

// checkLogin is C_Login's checks for a login with a PIN. Called with e.mu held.
func (a *app) checkLogin(h ck.SessionHandle, user ck.UserType) (loginCall, error) {
	s, err := a.session(h)
	if err != nil {
		return loginCall{}, err
	}
	if err := checkUserType(user); err != nil {
		return loginCall{}, err
	}
	t := s.tok
	current, loggedIn := a.logins[t]
	if user == ck.CKU_CONTEXT_SPECIFIC {
		if current != ck.CKU_USER {
			return loginCall{}, ck.CKR_USER_NOT_LOGGED_IN
		}
		if s.pendingAuth() == nil {
			return loginCall{}, ck.CKR_OPERATION_NOT_INITIALIZED
		}
		user = ck.CKU_USER
	} else if loggedIn {
		if current == user {
			return loginCall{}, ck.CKR_USER_ALREADY_LOGGED_IN
		}
		return loginCall{}, ck.CKR_USER_ANOTHER_ALREADY_LOGGED_IN
	}
	if !loggedIn {
		if user == ck.CKU_SO {
			for _, other := range a.sessions {
				if other.tok == t && !other.rw {
					return loginCall{}, ck.CKR_SESSION_READ_ONLY_EXISTS
				}
			}
			if t.userLogins > 0 {
				return loginCall{}, ck.CKR_USER_TOO_MANY_TYPES
			}
		} else if t.soLogins > 0 {
			return loginCall{}, ck.CKR_USER_TOO_MANY_TYPES
		}
	}
	if user == ck.CKU_USER && !a.e.pinOf(t, user).set() {
		return loginCall{}, ck.CKR_USER_PIN_NOT_INITIALIZED
	}
	return loginCall{s: s, user: user, contextSpecific: loggedIn}, nil
}

// Login is C_Login. Locking: pinMu for the whole call; the PIN's check, count and try are attemptPIN's; the
// commit (commitLogin) runs under e.mu.
func (a *app) Login(h ck.SessionHandle, user ck.UserType, pin []byte) error {
	e := a.e
	e.pinMu.Lock()
	defer e.pinMu.Unlock()
	if pin == nil {
		// The protected authentication path: identity login, for the identities the token's policy names.
		return a.withSession(h, func(s *session) error {
			if err := checkUserType(user); err != nil {
				return err
			}
			return a.loginByIdentity(s, user)
		})
	}
	var c loginCall
	tk, err := e.attemptPIN(a, pin, "login failed", func() (*token, ck.UserType, error) {
		var err error
		if c, err = a.checkLogin(h, user); err != nil {
			return nil, 0, err
		}
		return c.s.tok, c.user, nil
	})
	if err != nil {
		return err
	}
	return e.locked(func() error { return a.commitLogin(h, c, tk) })
}

// commitLogin is the end of a right C_Login: the session must still exist (it may have closed during the
// KDF); a context-specific login authenticates the session's pending operation, if it still has one (a
// logout meanwhile ends it); any other logs the application in and, for the first login of the token,
// decrypts its private objects. The caller's logins cannot have changed meanwhile: logins are made only under
// pinMu, and a logout only ends one. tk is the token key the PIN opened: kept or wiped. Called with e.mu held.
func (a *app) commitLogin(h ck.SessionHandle, c loginCall, tk *vault.TokenKey) error {
	e, s, t, user := a.e, c.s, c.s.tok, c.user
	if _, still := a.sessions[h]; !still {
		tk.Wipe()
		return ck.CKR_SESSION_HANDLE_INVALID
	}
	if c.contextSpecific {
		tk.Wipe()
		if op := s.pendingAuth(); op != nil {
			op.authenticated = true
		}
		return nil
	}
	e.ensureIdentityWrap(t, tk)
	a.logins[t] = user
	t.keyHolders++
	if t.tokenKey == nil {
		t.tokenKey = tk
	} else {
		tk.Wipe()
	}
	if user == ck.CKU_USER {
		t.userLogins++
	} else {
		t.soLogins++
	}
	if !t.privLoaded {
		// The SO needs them too: the SO's public objects are sealed under the token key (sealed.go).
		if err := e.loadObjects(t, true); err != nil {
			e.log.Error("loading private objects failed", "token", t.id, "err", err)
		}
		t.privLoaded = true
		e.sealTrusted(t)
	}
	e.log.Info("login", "token", t.id, "user", roleName(user), "app", a.peer.String())
	e.auditEvent("login", a, t.id, "user", roleName(user))
	return nil
}

func (a *app) LoginUser(h ck.SessionHandle, user ck.UserType, pin, username []byte) error {
	// Keyward tokens have one user of each type; a user name other than none is not known to the token.
	if len(username) != 0 {
		return a.withSession(h, func(*session) error { return ck.CKR_USER_TYPE_INVALID })
	}
	return a.Login(h, user, pin)
}

// logout ends an application's login on a token. Called with e.mu held.
func (e *Engine) logout(a *app, t *token) {
	user := a.logins[t]
	delete(a.logins, t)
	for _, s := range a.sessions {
		if s.tok == t {
			s.cancelOperations()
		}
	}
	if user == ck.CKU_USER {
		t.userLogins--
	} else {
		t.soLogins--
	}
	t.keyHolders--
	if t.keyHolders == 0 {
		t.dropTokenKey(e)
	}
}

func (a *app) Logout(h ck.SessionHandle) error {
	e := a.e
	e.mu.Lock()
	defer e.mu.Unlock()
	s, err := a.session(h)
	if err != nil {
		return err
	}
	if _, in := a.logins[s.tok]; !in {
		return ck.CKR_USER_NOT_LOGGED_IN
	}
	e.logout(a, s.tok)
	return nil
}

func (a *app) InitToken(slot ck.SlotID, soPIN []byte, label []byte) error {
	return a.InitTokenPolicy(slot, soPIN, label, ck.WrapPolicyTrustedOnly)
}

// InitTokenPolicy is C_InitToken with a wrapping policy. Locking: pinMu for the whole call. The check
// (under e.mu) takes the slot and, for an initialised token, tries its SO PIN (attemptPIN); the new token key
// is wrapped under the SO PIN without e.mu; the commit (commitInitToken) runs under e.mu.
func (a *app) InitTokenPolicy(slot ck.SlotID, soPIN []byte, label []byte, policy ck.WrapPolicy) error {
	e := a.e
	if label == nil || soPIN == nil {
		return ck.CKR_ARGUMENTS_BAD
	}
	if policy != ck.WrapPolicyTrustedOnly && policy != ck.WrapPolicySpec {
		return ck.CKR_ARGUMENTS_BAD
	}
	e.pinMu.Lock()
	defer e.pinMu.Unlock()
	var t *token // the token re-initialised; nil for the free slot's new token
	old, err := e.attemptPIN(a, soPIN, "token initialisation failed", func() (*token, ck.UserType, error) {
		var err error
		t, err = a.checkInitToken(slot, soPIN)
		return t, ck.CKU_SO, err
	})
	if err != nil {
		return err
	}
	var id uint64
	if t != nil {
		old.Wipe()
		id = t.id
	} else {
		id = randomID()
	}

	tk := vault.NewTokenKey()
	defer tk.Wipe()
	so, err := e.wrapPIN(id, "so", soPIN, tk)
	if err != nil {
		return err
	}

	return e.locked(func() error { return a.commitInitToken(slot, t, id, label, so, policy) })
}

// checkInitToken is C_InitToken's checks; it returns the token to re-initialise, nil for a new one. Called
// with e.mu held.
func (a *app) checkInitToken(slot ck.SlotID, soPIN []byte) (*token, error) {
	e := a.e
	t, exists := e.tokens[slot]
	if !exists && slot != e.freeSlot {
		return nil, ck.CKR_SLOT_ID_INVALID
	}
	if exists && !a.mayOpen(t) {
		return nil, ck.CKR_SLOT_ID_INVALID // a hidden token: its SO PIN can be neither guessed nor locked
	}
	if !e.pinLenOK(soPIN) {
		return nil, ck.CKR_PIN_LEN_RANGE
	}
	if exists && e.hasSessions(t) {
		return nil, ck.CKR_SESSION_EXISTS
	}
	return t, nil
}

// commitInitToken stores the new token record (id, the SO PIN's record so) in slot, replacing t's if t is not
// nil. A session opened on t meanwhile answers CKR_SESSION_EXISTS. Called with e.mu held.
func (a *app) commitInitToken(slot ck.SlotID, t *token, id uint64, label []byte, so pinState, policy ck.WrapPolicy) error {
	e := a.e
	exists := t != nil
	if exists && e.hasSessions(t) {
		return ck.CKR_SESSION_EXISTS
	}
	serial := newSerial()
	if exists {
		serial = t.rec.Serial // the device's serial number survives a re-initialisation, and so do policies naming it
	}
	rec := tokenRecord{Slot: uint64(slot), Label: cleanLabel(label), Serial: serial, SO: so, WrapPolicy: policy}
	nt := &token{id: id, slot: slot, rec: rec, pubKey: e.root.PublicKey(id), index: newObjIndex(), handles: map[uint64]ck.ObjectHandle{}}
	err := e.store.Update(func(tx *store.Tx) error {
		if exists {
			if err := tx.DeleteObjects(id); err != nil {
				return err
			}
		} else {
			next := binary.BigEndian.AppendUint64(nil, uint64(slot)+1)
			if err := tx.SetMeta(metaNextSlot, next); err != nil {
				return err
			}
		}
		return tx.PutToken(store.Token{ID: id, Blob: nt.blob()})
	})
	if err != nil {
		e.log.Error("initialising a token failed", "slot", uint64(slot), "err", err)
		return storeError(err)
	}
	if exists {
		for _, o := range t.index.all() {
			e.removeObject(o)
		}
		t.dropTokenKey(e)
	} else {
		e.freeSlot = slot + 1
	}
	e.tokens[slot] = nt
	if len(e.events) < 64 { // C_WaitForSlotEvent: remember a bounded number of events
		e.events = append(e.events, slot)
	}
	e.log.Info("token initialised", "slot", uint64(slot), "token", id, "reinit", exists, "app", a.peer.String())
	e.auditEvent("token initialised", a, id, "slot", uint64(slot), "reinit", exists)
	return nil
}

func (e *Engine) hasSessions(t *token) bool {
	for _, s := range e.sessions {
		if s.tok == t {
			return true
		}
	}
	return false
}

// InitPIN is C_InitPIN. Locking: pinMu for the whole call. The check (under e.mu) takes a copy of the token
// key the SO's login holds; the copy is wrapped under the new PIN without e.mu; the commit (under e.mu) stores
// the new user PIN record only if the token key is still the one copied (the SO did not log out meanwhile:
// CKR_USER_NOT_LOGGED_IN). C_InitPIN tries no PIN and counts no attempt; the new record starts with none.
func (a *app) InitPIN(h ck.SessionHandle, pin []byte) error {
	e := a.e
	e.pinMu.Lock()
	defer e.pinMu.Unlock()
	var t *token
	var held, tk *vault.TokenKey // the token key the SO's login holds, and the copy wrapped
	err := a.withSession(h, func(s *session) error {
		if s.state() != ck.CKS_RW_SO_FUNCTIONS {
			return ck.CKR_USER_NOT_LOGGED_IN
		}
		if pin == nil {
			return ck.CKR_ARGUMENTS_BAD
		}
		if !e.pinLenOK(pin) {
			return ck.CKR_PIN_LEN_RANGE
		}
		t, held = s.tok, s.tok.tokenKey
		if held == nil {
			return ck.CKR_USER_NOT_LOGGED_IN
		}
		tk = held.Clone()
		return nil
	})
	if err != nil {
		return err
	}
	defer tk.Wipe()

	e.checked("init pin")
	user, err := e.wrapPIN(t.id, "user", pin, tk)

	return e.locked(func() error {
		if err != nil {
			return err
		}
		if t.tokenKey != held {
			return ck.CKR_USER_NOT_LOGGED_IN
		}
		old := t.rec.User
		t.rec.User = user
		if err := e.saveToken(t); err != nil {
			t.rec.User = old
			return err
		}
		e.ensureIdentityWrap(t, held)
		e.log.Info("user PIN initialised", "token", t.id, "app", a.peer.String())
		e.auditEvent("user PIN initialised", a, t.id)
		return nil
	})
}

// SetPIN is C_SetPIN. Locking: pinMu for the whole call. The old PIN's check, count and try are attemptPIN's
// (after SetPIN's own checks, in the same critical section); the token key it opens is wrapped under the new
// PIN without e.mu; the commit (under e.mu) replaces the PIN record, whose count starts at zero.
func (a *app) SetPIN(h ck.SessionHandle, oldPIN, newPIN []byte) error {
	e := a.e
	e.pinMu.Lock()
	defer e.pinMu.Unlock()
	var t *token
	var user ck.UserType
	tk, err := e.attemptPIN(a, oldPIN, "PIN change failed", func() (*token, ck.UserType, error) {
		var err error
		t, user, err = a.checkSetPIN(h, oldPIN, newPIN)
		return t, user, err
	})
	if err != nil {
		return err
	}

	next, err := e.wrapPIN(t.id, roleName(user), newPIN, tk)
	tk.Wipe()

	return e.locked(func() error {
		if err != nil {
			return err
		}
		ps := e.pinOf(t, user)
		prev := *ps
		*ps = next
		if err := e.saveToken(t); err != nil {
			*ps = prev
			return err
		}
		e.log.Info("PIN changed", "token", t.id, "user", roleName(user), "app", a.peer.String())
		e.auditEvent("PIN changed", a, t.id, "user", roleName(user))
		return nil
	})
}

// checkSetPIN is C_SetPIN's checks; it returns the token and the user whose PIN changes (the SO in an SO
// session, else the user). Called with e.mu held.
func (a *app) checkSetPIN(h ck.SessionHandle, oldPIN, newPIN []byte) (*token, ck.UserType, error) {
	s, err := a.session(h)
	if err != nil {
		return nil, 0, err
	}
	if !s.rw {
		return nil, 0, ck.CKR_SESSION_READ_ONLY
	}
	if oldPIN == nil || newPIN == nil {
		return nil, 0, ck.CKR_ARGUMENTS_BAD
	}
	user := ck.CKU_USER
	if s.state() == ck.CKS_RW_SO_FUNCTIONS {
		user = ck.CKU_SO
	}
	if !a.e.pinOf(s.tok, user).set() {
		return nil, 0, ck.CKR_USER_PIN_NOT_INITIALIZED
	}
	if !a.e.pinLenOK(newPIN) {
		return nil, 0, ck.CKR_PIN_LEN_RANGE
	}
	return s.tok, user, nil
}

// loginByIdentity logs the application in as the user of s's token by its Linux identity (C_Login with a NULL
// PIN), if the token's policy names it. Called with e.mu held.
func (a *app) loginByIdentity(s *session, user ck.UserType) error {
	e, t := a.e, s.tok
	if !a.identityLogin(t) || (user != ck.CKU_USER && user != ck.CKU_CONTEXT_SPECIFIC) {
		return ck.CKR_ARGUMENTS_BAD // no protected authentication path for this application
	}
	current, loggedIn := a.logins[t]
	if user == ck.CKU_CONTEXT_SPECIFIC {
		if !loggedIn || current != ck.CKU_USER {
			return ck.CKR_USER_NOT_LOGGED_IN
		}
		op := s.pendingAuth()
		if op == nil {
			return ck.CKR_OPERATION_NOT_INITIALIZED
		}
		op.authenticated = true
		return nil
	}
	if loggedIn {
		if current == ck.CKU_USER {
			return ck.CKR_USER_ALREADY_LOGGED_IN
		}
		return ck.CKR_USER_ANOTHER_ALREADY_LOGGED_IN
	}
	if t.soLogins > 0 {
		return ck.CKR_USER_TOO_MANY_TYPES
	}
	tk := t.tokenKey
	if tk == nil {
		if len(t.rec.Identity) == 0 {
			// The token key is wrapped for identity login the first time it is unlocked with a PIN after
			// the policy was set (login, C_InitPIN or C_InitToken).
			e.log.Warn("identity login is not ready: log in once with the user or SO PIN", "token", t.id)
			return ck.CKR_USER_PIN_NOT_INITIALIZED
		}
		var err error
		if tk, err = e.root.IdentityKey(t.id).UnwrapTokenKey(t.rec.Identity, identityAD(t.id)); err != nil {
			e.log.Error("the identity-login key does not open", "token", t.id)
			return ck.CKR_DEVICE_ERROR
		}
		t.tokenKey = tk
	}
	a.logins[t] = ck.CKU_USER
	t.keyHolders++
	t.userLogins++
	if !t.privLoaded {
		if err := e.loadObjects(t, true); err != nil {
			e.log.Error("loading private objects failed", "token", t.id, "err", err)
		}
		t.privLoaded = true
		e.sealTrusted(t)
	}
	e.log.Info("login", "token", t.id, "user", "user", "method", "identity", "app", a.peer.String())
	e.auditEvent("login", a, t.id, "user", "user", "method", "identity")
	return nil
}

func identityAD(token uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte("keyward/v1/identity-wrapped-token-key/"), token)
}

// ensureIdentityWrap stores the token key wrapped for identity login when the token's policy names
// identities to log in and the wrap does not exist yet. Called with e.mu held and the token key at hand.
func (e *Engine) ensureIdentityWrap(t *token, tk *vault.TokenKey) {
	p := e.policyOf(t)
	if e.store.ReadOnly() || tk == nil || p == nil || (len(p.LoginUIDs) == 0 && len(p.LoginGIDs) == 0) || len(t.rec.Identity) != 0 {
		return
	}
	t.rec.Identity = e.root.IdentityKey(t.id).WrapTokenKey(tk, identityAD(t.id))
	if err := e.saveToken(t); err != nil {
		t.rec.Identity = nil
	}
}

// dropStaleIdentityWraps removes the identity-login wrap of tokens whose policy no longer logs anyone in:
// without a policy, the device root key alone must not open a token's private objects.
func (e *Engine) dropStaleIdentityWraps() {
	if e.store.ReadOnly() {
		return
	}
	for _, t := range e.tokens {
		p := e.policyOf(t)
		if len(t.rec.Identity) != 0 && (p == nil || (len(p.LoginUIDs) == 0 && len(p.LoginGIDs) == 0)) {
			t.rec.Identity = nil
			if err := e.saveToken(t); err == nil {
				e.log.Info("identity login disabled: its key wrap is removed", "token", t.id)
			}
		}
	}
}

// DeleteToken removes an initialised token and its objects (the SO PIN authorises it). Locking: pinMu for the
// whole call; the SO PIN's check, count and try are attemptPIN's (after DeleteToken's own checks, in the same
// critical section); the commit (commitDeleteToken) runs under e.mu.
func (a *app) DeleteToken(slot ck.SlotID, soPIN []byte) error {
	e := a.e
	if soPIN == nil {
		return ck.CKR_ARGUMENTS_BAD
	}
	e.pinMu.Lock()
	defer e.pinMu.Unlock()
	var t *token
	key, err := e.attemptPIN(a, soPIN, "token deletion failed", func() (*token, ck.UserType, error) {
		var err error
		t, err = a.checkDeleteToken(slot)
		return t, ck.CKU_SO, err
	})
	if err != nil {
		return err
	}
	key.Wipe()
	return e.locked(func() error { return a.commitDeleteToken(slot, t) })
}

// checkDeleteToken is DeleteToken's checks; it returns the token. Called with e.mu held.
func (a *app) checkDeleteToken(slot ck.SlotID) (*token, error) {
	e := a.e
	t, exists := e.tokens[slot]
	if !exists || !a.mayOpen(t) {
		if slot == e.freeSlot {
			return nil, ck.CKR_TOKEN_NOT_RECOGNIZED
		}
		return nil, ck.CKR_SLOT_ID_INVALID
	}
	if e.hasSessions(t) {
		return nil, ck.CKR_SESSION_EXISTS
	}
	return t, nil
}

// commitDeleteToken deletes token t of slot: it must still be there, and no session may have been opened on
// it meanwhile (CKR_SESSION_EXISTS). Called with e.mu held.
func (a *app) commitDeleteToken(slot ck.SlotID, t *token) error {
	e := a.e
	if e.tokens[slot] != t {
		return ck.CKR_SLOT_ID_INVALID
	}
	if e.hasSessions(t) {
		return ck.CKR_SESSION_EXISTS
	}
	if err := e.store.Update(func(tx *store.Tx) error { return tx.DeleteToken(t.id) }); err != nil {
		e.log.Error("deleting a token failed", "token", t.id, "err", err)
		return storeError(err)
	}
	for _, o := range t.index.all() {
		e.removeObject(o)
	}
	t.dropTokenKey(e)
	delete(e.tokens, slot)
	e.log.Info("token deleted", "slot", uint64(slot), "token", t.id, "app", a.peer.String())
	e.auditEvent("token deleted", a, t.id, "slot", uint64(slot))
	return nil
}
