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

func (a *app) Login(h ck.SessionHandle, user ck.UserType, pin []byte) error {
	e := a.e
	e.pinMu.Lock()
	defer e.pinMu.Unlock()
	e.mu.Lock()
	s, err := a.session(h)
	if err != nil {
		e.mu.Unlock()
		return err
	}
	t := s.tok
	switch user {
	case ck.CKU_SO, ck.CKU_USER, ck.CKU_CONTEXT_SPECIFIC:
	default:
		e.mu.Unlock()
		return ck.CKR_USER_TYPE_INVALID
	}
	if pin == nil {
		// The protected authentication path: identity login, for the identities the token's policy names.
		err := a.loginByIdentity(s, user)
		e.mu.Unlock()
		return err
	}
	current, loggedIn := a.logins[t]
	if user == ck.CKU_CONTEXT_SPECIFIC {
		if current != ck.CKU_USER {
			e.mu.Unlock()
			return ck.CKR_USER_NOT_LOGGED_IN
		}
		op := s.pendingAuth()
		if op == nil {
			e.mu.Unlock()
			return ck.CKR_OPERATION_NOT_INITIALIZED
		}
		user = ck.CKU_USER
	} else if loggedIn {
		e.mu.Unlock()
		if current == user {
			return ck.CKR_USER_ALREADY_LOGGED_IN
		}
		return ck.CKR_USER_ANOTHER_ALREADY_LOGGED_IN
	}
	contextSpecific := loggedIn
	if !contextSpecific {
		if user == ck.CKU_SO {
			for _, other := range a.sessions {
				if other.tok == t && !other.rw {
					e.mu.Unlock()
					return ck.CKR_SESSION_READ_ONLY_EXISTS
				}
			}
			if t.userLogins > 0 {
				e.mu.Unlock()
				return ck.CKR_USER_TOO_MANY_TYPES
			}
		} else if t.soLogins > 0 {
			e.mu.Unlock()
			return ck.CKR_USER_TOO_MANY_TYPES
		}
	}
	ps := e.pinOf(t, user)
	if user == ck.CKU_USER && !ps.set() {
		e.mu.Unlock()
		return ck.CKR_USER_PIN_NOT_INITIALIZED
	}
	if ps.Failures >= e.cfg.MaxPINFailures {
		e.mu.Unlock()
		return ck.CKR_PIN_LOCKED
	}
	if !e.pinLenOK(pin) {
		// Outside the token's PIN lengths (CK_TOKEN_INFO says them) a PIN cannot be right: it is refused
		// without spending one of the user's attempts.
		e.mu.Unlock()
		return ck.CKR_PIN_INCORRECT
	}
	if err := e.countAttempt(t, ps); err != nil {
		e.mu.Unlock()
		return err
	}
	snapshot := *ps
	e.mu.Unlock()

	tk, err := e.tryPIN(t.id, roleName(user), pin, snapshot)

	e.mu.Lock()
	defer e.mu.Unlock()
	if err != nil {
		e.log.Warn("login failed", "token", t.id, "user", roleName(user), "app", a.peer.String(), "failures", ps.Failures)
		e.auditEvent("login failed", a, t.id, "user", roleName(user), "failures", ps.Failures)
		return err
	}
	ps.Failures = 0
	if !e.store.ReadOnly() {
		if err := e.saveToken(t); err != nil {
			tk.Wipe()
			return err
		}
	}
	if _, still := a.sessions[h]; !still {
		tk.Wipe()
		return ck.CKR_SESSION_HANDLE_INVALID
	}
	if contextSpecific {
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
		a.e.mu.Lock()
		_, err := a.session(h)
		a.e.mu.Unlock()
		if err != nil {
			return err
		}
		return ck.CKR_USER_TYPE_INVALID
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
	e.mu.Lock()
	t, exists := e.tokens[slot]
	if !exists && slot != e.freeSlot {
		e.mu.Unlock()
		return ck.CKR_SLOT_ID_INVALID
	}
	if exists && !a.mayOpen(t) {
		e.mu.Unlock()
		return ck.CKR_SLOT_ID_INVALID // a hidden token: its SO PIN can be neither guessed nor locked
	}
	if !e.pinLenOK(soPIN) {
		e.mu.Unlock()
		return ck.CKR_PIN_LEN_RANGE
	}
	if exists && e.hasSessions(t) {
		e.mu.Unlock()
		return ck.CKR_SESSION_EXISTS
	}
	var id uint64
	var snapshot pinState
	if exists {
		id = t.id
		if t.rec.SO.Failures >= e.cfg.MaxPINFailures {
			e.mu.Unlock()
			return ck.CKR_PIN_LOCKED
		}
		if err := e.countAttempt(t, &t.rec.SO); err != nil {
			e.mu.Unlock()
			return err
		}
		snapshot = t.rec.SO
	} else {
		id = randomID()
	}
	e.mu.Unlock()

	if exists {
		old, err := e.tryPIN(id, "so", soPIN, snapshot)
		if err != nil {
			return err
		}
		old.Wipe()
	}
	tk := vault.NewTokenKey()
	defer tk.Wipe()
	so, err := e.wrapPIN(id, "so", soPIN, tk)
	if err != nil {
		return err
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	if exists && e.hasSessions(t) {
		return ck.CKR_SESSION_EXISTS
	}
	serial := newSerial()
	if exists {
		serial = t.rec.Serial // the device's serial number survives a re-initialisation, and so do policies naming it
	}
	rec := tokenRecord{Slot: uint64(slot), Label: cleanLabel(label), Serial: serial, SO: so, WrapPolicy: policy}
	nt := &token{id: id, slot: slot, rec: rec, pubKey: e.root.PublicKey(id), index: newObjIndex(), handles: map[uint64]ck.ObjectHandle{}}
	err = e.store.Update(func(tx *store.Tx) error {
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

func (a *app) InitPIN(h ck.SessionHandle, pin []byte) error {
	e := a.e
	e.pinMu.Lock()
	defer e.pinMu.Unlock()
	e.mu.Lock()
	s, err := a.session(h)
	if err != nil {
		e.mu.Unlock()
		return err
	}
	if s.state() != ck.CKS_RW_SO_FUNCTIONS {
		e.mu.Unlock()
		return ck.CKR_USER_NOT_LOGGED_IN
	}
	if pin == nil {
		e.mu.Unlock()
		return ck.CKR_ARGUMENTS_BAD
	}
	if !e.pinLenOK(pin) {
		e.mu.Unlock()
		return ck.CKR_PIN_LEN_RANGE
	}
	t := s.tok
	tk := t.tokenKey
	e.mu.Unlock()
	user, err := e.wrapPIN(t.id, "user", pin, tk)
	e.mu.Lock()
	defer e.mu.Unlock()
	if err != nil {
		return err
	}
	if t.tokenKey != tk {
		return ck.CKR_USER_NOT_LOGGED_IN
	}
	old := t.rec.User
	t.rec.User = user
	if err := e.saveToken(t); err != nil {
		t.rec.User = old
		return err
	}
	e.ensureIdentityWrap(t, tk)
	e.log.Info("user PIN initialised", "token", t.id, "app", a.peer.String())
	e.auditEvent("user PIN initialised", a, t.id)
	return nil
}

func (a *app) SetPIN(h ck.SessionHandle, oldPIN, newPIN []byte) error {
	e := a.e
	e.pinMu.Lock()
	defer e.pinMu.Unlock()
	e.mu.Lock()
	s, err := a.session(h)
	if err != nil {
		e.mu.Unlock()
		return err
	}
	if !s.rw {
		e.mu.Unlock()
		return ck.CKR_SESSION_READ_ONLY
	}
	if oldPIN == nil || newPIN == nil {
		e.mu.Unlock()
		return ck.CKR_ARGUMENTS_BAD
	}
	user := ck.CKU_USER
	if s.state() == ck.CKS_RW_SO_FUNCTIONS {
		user = ck.CKU_SO
	}
	t := s.tok
	ps := e.pinOf(t, user)
	if !ps.set() {
		e.mu.Unlock()
		return ck.CKR_USER_PIN_NOT_INITIALIZED
	}
	if !e.pinLenOK(newPIN) {
		e.mu.Unlock()
		return ck.CKR_PIN_LEN_RANGE
	}
	if ps.Failures >= e.cfg.MaxPINFailures {
		e.mu.Unlock()
		return ck.CKR_PIN_LOCKED
	}
	if !e.pinLenOK(oldPIN) { // cannot be right: refused without spending an attempt (as in Login)
		e.mu.Unlock()
		return ck.CKR_PIN_INCORRECT
	}
	if err := e.countAttempt(t, ps); err != nil {
		e.mu.Unlock()
		return err
	}
	snapshot := *ps
	e.mu.Unlock()

	tk, err := e.tryPIN(t.id, roleName(user), oldPIN, snapshot)
	var next pinState
	if err == nil {
		next, err = e.wrapPIN(t.id, roleName(user), newPIN, tk)
		tk.Wipe()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err != nil {
		return err
	}
	prev := *ps
	*ps = next
	if err := e.saveToken(t); err != nil {
		*ps = prev
		return err
	}
	e.log.Info("PIN changed", "token", t.id, "user", roleName(user), "app", a.peer.String())
	e.auditEvent("PIN changed", a, t.id, "user", roleName(user))
	return nil
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

func (a *app) DeleteToken(slot ck.SlotID, soPIN []byte) error {
	e := a.e
	if soPIN == nil {
		return ck.CKR_ARGUMENTS_BAD
	}
	e.pinMu.Lock()
	defer e.pinMu.Unlock()
	e.mu.Lock()
	t, exists := e.tokens[slot]
	if !exists || !a.mayOpen(t) {
		e.mu.Unlock()
		if slot == e.freeSlot {
			return ck.CKR_TOKEN_NOT_RECOGNIZED
		}
		return ck.CKR_SLOT_ID_INVALID
	}
	if e.hasSessions(t) {
		e.mu.Unlock()
		return ck.CKR_SESSION_EXISTS
	}
	if t.rec.SO.Failures >= e.cfg.MaxPINFailures {
		e.mu.Unlock()
		return ck.CKR_PIN_LOCKED
	}
	if !e.pinLenOK(soPIN) { // cannot be right: refused without spending an attempt (as in Login)
		e.mu.Unlock()
		return ck.CKR_PIN_INCORRECT
	}
	if err := e.countAttempt(t, &t.rec.SO); err != nil {
		e.mu.Unlock()
		return err
	}
	snapshot := t.rec.SO
	e.mu.Unlock()
	key, err := e.tryPIN(t.id, "so", soPIN, snapshot)
	if err != nil {
		return err
	}
	key.Wipe()
	e.mu.Lock()
	defer e.mu.Unlock()
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
