package engine

import (
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
