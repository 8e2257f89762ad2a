package engine

import (
	"encoding/binary"

	ck "github.com/keyward/keyward/pkg/cryptoki"

	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/vault"
)

// Making and removing tokens: C_InitToken and Keyward's DeleteToken, both authorised by the SO PIN.

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
