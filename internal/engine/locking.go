package engine

import (
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// The locking rule. The engine has one lock, e.mu, for its maps and every object's state. A call that
// computes (a signature, a wrapping, a derivation, a PIN's memory-hard KDF) does so in three steps, each a
// small function:
//
//   - check, under e.mu (released by defer): the session, the keys and the rules, and a snapshot of what the
//     computation needs (a key's mechanism view, a PIN record);
//   - compute, without e.mu: other sessions keep working;
//   - commit, under e.mu again (defer): the checks that state may have changed meanwhile are run again (the
//     session still exists, the keys may still be used so, the quotas), and only then is the result kept
//     or returned.
//
// A key's mechanism view (keyView) shares the object's memory. A call holds the keys it computes with
// (holdKeys) from its check to its end (releaseKeys), and an operation holds its key from its Init to its end,
// so that a C_DestroyObject or a logout meanwhile removes the object at once but leaves wiping its memory to
// the last release (wipeAttrs).

// withSession runs fn under e.mu with the application's session h; the lock is released when fn returns.
func (a *app) withSession(h ck.SessionHandle, fn func(s *session) error) error {
	a.e.mu.Lock()
	defer a.e.mu.Unlock()
	s, err := a.session(h)
	if err != nil {
		return err
	}
	return fn(s)
}

// checkSession answers whether h is a session of the application (for calls that need nothing else of it).
func (a *app) checkSession(h ck.SessionHandle) error {
	return a.withSession(h, func(*session) error { return nil })
}

// holdKeys marks keys as used outside e.mu: by a computation, or by an active operation (whose mechanism
// state may read the key's memory at each call). Called with e.mu held; nil keys are ignored.
func (e *Engine) holdKeys(objs ...*object) {
	if e.held == nil {
		e.held = map[*object]int{}
	}
	for _, o := range objs {
		if o != nil {
			e.held[o]++
		}
	}
}

// releaseKeys ends holdKeys: the memory of a key destroyed or dropped meanwhile is wiped at its last release.
// Takes e.mu.
func (e *Engine) releaseKeys(objs ...*object) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.releaseKeysLocked(objs...)
}

// releaseKeysLocked is releaseKeys with e.mu held.
func (e *Engine) releaseKeysLocked(objs ...*object) {
	for _, o := range objs {
		if o == nil {
			continue
		}
		if e.held[o]--; e.held[o] > 0 {
			continue
		}
		delete(e.held, o)
		for _, l := range e.heldWipes[o] {
			l.wipe()
		}
		delete(e.heldWipes, o)
	}
}

// wipeAttrs zeroes the attribute memory of an object nobody will read again through the engine: now, or,
// while a computation or an operation holds it, at the last release. Called with e.mu held.
func (e *Engine) wipeAttrs(o *object) {
	if e.held[o] == 0 {
		o.attrs.wipe()
		return
	}
	if e.heldWipes == nil {
		e.heldWipes = map[*object][]attrList{}
	}
	e.heldWipes[o] = append(e.heldWipes[o], o.attrs)
}

// checked is called between a call's check and its computation, outside e.mu. Tests set e.checkedHook to
// change the state there (destroy a key, change its attributes) and see what the commit makes of it.
func (e *Engine) checked(call string) {
	if e.checkedHook != nil {
		e.checkedHook(call)
	}
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

// locked runs fn under e.mu; the lock is released when fn returns.
func (e *Engine) locked(fn func() error) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return fn()
}
