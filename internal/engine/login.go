package engine

import (
	"encoding/binary"

	"github.com/keyward/keyward/internal/vault"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// Logins: C_Login with a PIN or by the application's identity, C_LoginUser, C_Logout; the identity-login
// wrap of the token key.

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
