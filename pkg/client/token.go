package client

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// This file and signer.go are the high-level API of the package: a Token is a logged-in token found by
// its label, and its Signer and Decrypter methods turn private keys on it into crypto.Signer and
// crypto.Decrypter values for crypto/tls, crypto/x509 and the rest of the standard library. Everything
// here is built on the Provider methods of Client and needs no change to them.

// ErrTokenNotFound is returned (wrapped) by OpenToken and FindToken when no initialised token has the
// label.
var ErrTokenNotFound = errors.New("client: no token with that label")

// ErrKeyNotFound is returned (wrapped) by Token.Signer and Token.Decrypter when no private key matches.
var ErrKeyNotFound = errors.New("client: no private key matches")

// MaxTokenSessions bounds the sessions a Token opens for its keys' operations, on top of the one session
// that holds its login. Concurrent operations beyond it wait for a session to come free.
const MaxTokenSessions = 16

// FindToken returns the slot of the initialised token whose label is label (compared without the blank
// padding of CK_TOKEN_INFO). It fails if no token, or more than one, has the label.
func (cl *Client) FindToken(label string) (ck.SlotID, error) {
	slots, err := cl.GetSlotList(true)
	if err != nil {
		return 0, fmt.Errorf("client: listing slots: %w", err)
	}
	var found []ck.SlotID
	for _, slot := range slots {
		ti, err := cl.GetTokenInfo(slot)
		if err != nil {
			if ck.ToRV(err) == ck.CKR_TOKEN_NOT_PRESENT || ck.ToRV(err) == ck.CKR_SLOT_ID_INVALID {
				continue // removed since the slot list was taken
			}
			return 0, fmt.Errorf("client: reading the token info of slot %d: %w", slot, err)
		}
		if ti.Flags&ck.CKF_TOKEN_INITIALIZED == 0 {
			continue
		}
		if strings.TrimRight(ti.Label, " \x00") == label {
			found = append(found, slot)
		}
	}
	switch len(found) {
	case 0:
		return 0, fmt.Errorf("%w: %q", ErrTokenNotFound, label)
	case 1:
		return found[0], nil
	default:
		return 0, fmt.Errorf("client: %d tokens have the label %q (slots %v)", len(found), label, found)
	}
}

// Token is a token of keywardd that an application has logged in to, as the normal user. Its methods are
// safe for concurrent use, and so are the Signer and Decrypter values it returns: every operation runs on
// a session of its own, taken from a small pool (at most MaxTokenSessions open at once).
//
// The login belongs to the Client's application (PKCS#11 logins are per application and token): it lasts
// until Close closes the Token's sessions, or until the Client is closed.
type Token struct {
	cl    *Client
	slot  ck.SlotID
	label string

	sem chan struct{} // one token per session in use or idle: bounds the sessions open at once

	mu     sync.Mutex
	anchor ck.SessionHandle // keeps the login alive; never used for operations
	idle   []ck.SessionHandle
	closed bool
}

// OpenToken finds the initialised token with the given label (see FindToken), opens a session on it and
// logs in as the normal user (CKU_USER) with pin. A nil pin asks for the protected authentication path,
// which keywardd does not offer. If the application is already logged in to the token as the user (another
// Token of the same Client), OpenToken shares that login.
//
// The caller may clear pin after OpenToken returns; the Token does not keep it.
func (cl *Client) OpenToken(label string, pin []byte) (*Token, error) {
	slot, err := cl.FindToken(label)
	if err != nil {
		return nil, err
	}
	return cl.OpenTokenSlot(slot, pin)
}

// OpenTokenSlot is OpenToken for a token known by its slot.
func (cl *Client) OpenTokenSlot(slot ck.SlotID, pin []byte) (*Token, error) {
	ti, err := cl.GetTokenInfo(slot)
	if err != nil {
		return nil, fmt.Errorf("client: reading the token info of slot %d: %w", slot, err)
	}
	label := strings.TrimRight(ti.Label, " \x00")
	s, err := cl.OpenSession(slot, ck.CKF_SERIAL_SESSION)
	if err != nil {
		return nil, fmt.Errorf("client: opening a session on token %q (slot %d): %w", label, slot, err)
	}
	if err := cl.Login(s, ck.CKU_USER, pin); err != nil && ck.ToRV(err) != ck.CKR_USER_ALREADY_LOGGED_IN {
		cl.CloseSession(s)
		return nil, fmt.Errorf("client: logging in to token %q (slot %d): %w", label, slot, err)
	}
	return &Token{cl: cl, slot: slot, label: label, anchor: s, sem: make(chan struct{}, MaxTokenSessions)}, nil
}

// Slot returns the token's slot.
func (t *Token) Slot() ck.SlotID { return t.slot }

// Label returns the token's label, without its blank padding.
func (t *Token) Label() string { return t.label }

// String describes the token for messages.
func (t *Token) String() string { return fmt.Sprintf("token %q (slot %d)", t.label, t.slot) }

// Close closes the Token's sessions; when they were the application's last sessions on the token, the
// login ends too (PKCS#11 semantics). Operations in flight finish first on their own sessions, which close
// when they end; later operations of the Token's signers and decrypters fail. Close does not close the
// Client.
func (t *Token) Close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	idle, anchor := t.idle, t.anchor
	t.idle = nil
	t.mu.Unlock()
	var first error
	for _, s := range append(idle, anchor) {
		if err := t.cl.CloseSession(s); err != nil && first == nil {
			first = fmt.Errorf("client: closing a session of %v: %w", t, err)
		}
	}
	return first
}

// errTokenClosed is returned for operations on a closed Token.
var errTokenClosed = errors.New("client: token closed")

// withSession runs fn on a session of its own: an idle one from the pool or a new one. A session that fn
// leaves in doubt (a session-level error) is closed rather than pooled.
func (t *Token) withSession(fn func(s ck.SessionHandle) error) error {
	t.sem <- struct{}{}
	defer func() { <-t.sem }()
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return errTokenClosed
	}
	var s ck.SessionHandle
	if n := len(t.idle); n > 0 {
		s = t.idle[n-1]
		t.idle = t.idle[:n-1]
		t.mu.Unlock()
	} else {
		t.mu.Unlock()
		var err error
		if s, err = t.cl.OpenSession(t.slot, ck.CKF_SERIAL_SESSION); err != nil {
			return fmt.Errorf("client: opening a session on %v: %w", t, err)
		}
	}
	err := fn(s)
	if sessionBroken(err) {
		t.cl.CloseSession(s) // best effort: it may be gone already
		return err
	}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		t.cl.CloseSession(s)
		return err
	}
	t.idle = append(t.idle, s) // at most MaxTokenSessions: the semaphore bounds the sessions in existence
	t.mu.Unlock()
	return err
}

// sessionBroken reports whether err leaves the session unusable or its state unknown.
func sessionBroken(err error) bool {
	if err == nil {
		return false
	}
	var doubt inDoubt
	if errors.As(err, &doubt) {
		return true
	}
	var rv ck.RV
	if !errors.As(err, &rv) {
		return true // not a Cryptoki code: the call may have been cut half way
	}
	switch rv {
	case ck.CKR_SESSION_HANDLE_INVALID, ck.CKR_SESSION_CLOSED, ck.CKR_DEVICE_REMOVED, ck.CKR_DEVICE_ERROR,
		ck.CKR_TOKEN_NOT_PRESENT, ck.CKR_CRYPTOKI_NOT_INITIALIZED, ck.CKR_GENERAL_ERROR, ck.CKR_OPERATION_ACTIVE:
		return true
	}
	return false
}

// inDoubt marks an error after which the session's state is unknown (an operation could not be cancelled).
type inDoubt struct{ error }

func (e inDoubt) Unwrap() error { return e.error }

// KeyRef selects a key on a token by its CKA_LABEL, its CKA_ID, or both. At least one must be set; an
// empty Label or a nil ID matches any. Client.OpenURI turns a "pkcs11:" URI (RFC 7512) into a token and a
// KeyRef.
type KeyRef struct {
	Label string // CKA_LABEL
	ID    []byte // CKA_ID
}

// ByLabel selects a key by its CKA_LABEL.
func ByLabel(label string) KeyRef { return KeyRef{Label: label} }

// ByID selects a key by its CKA_ID.
func ByID(id []byte) KeyRef { return KeyRef{ID: bytes.Clone(id)} }

// String describes the reference for messages.
func (r KeyRef) String() string {
	switch {
	case r.Label != "" && r.ID != nil:
		return fmt.Sprintf("label %q id %x", r.Label, r.ID)
	case r.ID != nil:
		return fmt.Sprintf("id %x", r.ID)
	default:
		return fmt.Sprintf("label %q", r.Label)
	}
}

func (r KeyRef) template(class ck.ObjectClass) []ck.Attribute {
	t := []ck.Attribute{ck.NewAttribute(ck.CKA_CLASS, class)}
	if r.Label != "" {
		t = append(t, ck.NewAttribute(ck.CKA_LABEL, r.Label))
	}
	if r.ID != nil {
		t = append(t, ck.NewAttribute(ck.CKA_ID, bytes.Clone(r.ID)))
	}
	return t
}

// findObjects returns every object that matches template, on session s.
func (t *Token) findObjects(s ck.SessionHandle, template []ck.Attribute) ([]ck.ObjectHandle, error) {
	if err := t.cl.FindObjectsInit(s, template); err != nil {
		return nil, err
	}
	var all []ck.ObjectHandle
	for {
		hs, err := t.cl.FindObjects(s, 64)
		if err != nil {
			t.cl.FindObjectsFinal(s)
			return nil, err
		}
		if len(hs) == 0 {
			break
		}
		all = append(all, hs...)
	}
	return all, t.cl.FindObjectsFinal(s)
}

// attributes reads the values of the given attributes of object o, as a map. Attributes that are
// sensitive, absent or empty are left out of the map; only other errors are returned.
func (t *Token) attributes(s ck.SessionHandle, o ck.ObjectHandle, types ...ck.AttributeType) (map[ck.AttributeType][]byte, error) {
	lens, err := t.cl.GetAttributeValue(s, o, ck.Query(0, types...))
	if rv := ck.ToRV(err); rv != ck.CKR_OK && rv != ck.CKR_ATTRIBUTE_SENSITIVE && rv != ck.CKR_ATTRIBUTE_TYPE_INVALID {
		return nil, err
	}
	var q []ck.Attribute
	for _, a := range lens {
		if a.Kind == ck.AttrLength && a.Len != ck.CK_UNAVAILABLE_INFORMATION && a.Len > 0 {
			q = append(q, ck.Attribute{Type: a.Type, Kind: ck.AttrBuffer, Len: a.Len})
		}
	}
	out := make(map[ck.AttributeType][]byte, len(q))
	if len(q) == 0 {
		return out, nil
	}
	vals, err := t.cl.GetAttributeValue(s, o, q)
	if rv := ck.ToRV(err); rv != ck.CKR_OK && rv != ck.CKR_ATTRIBUTE_SENSITIVE && rv != ck.CKR_ATTRIBUTE_TYPE_INVALID {
		return nil, err
	}
	for _, a := range vals {
		if a.Kind == ck.AttrValue && len(a.Value) > 0 {
			out[a.Type] = a.Value
		}
	}
	return out, nil
}

// findOne returns the single object of the class that ref selects.
func (t *Token) findOne(s ck.SessionHandle, class ck.ObjectClass, ref KeyRef) (ck.ObjectHandle, error) {
	if ref.Label == "" && ref.ID == nil {
		return 0, errors.New("client: a KeyRef needs a label or an id")
	}
	hs, err := t.findObjects(s, ref.template(class))
	if err != nil {
		return 0, fmt.Errorf("client: searching %v for %v: %w", t, ref, err)
	}
	switch len(hs) {
	case 0:
		return 0, fmt.Errorf("%w %v on %v", ErrKeyNotFound, ref, t)
	case 1:
		return hs[0], nil
	default:
		return 0, fmt.Errorf("client: %d private keys match %v on %v", len(hs), ref, t)
	}
}
