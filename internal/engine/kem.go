package engine

import (
	"github.com/keyward/keyward/internal/mech"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// Key management, encapsulation: C_EncapsulateKey and C_DecapsulateKey.

// secretTemplate completes a template for a secret made by encapsulation: a secret key, of the mechanism's
// SecretKeyType unless the template says otherwise.
func secretTemplate(template []ck.Attribute, spec *mech.Spec) []ck.Attribute {
	if !hasAttr(template, ck.CKA_CLASS) {
		template = append(template, ck.NewAttribute(ck.CKA_CLASS, ck.CKO_SECRET_KEY))
	}
	if !hasAttr(template, ck.CKA_KEY_TYPE) {
		template = append(template, ck.NewAttribute(ck.CKA_KEY_TYPE, spec.SecretKeyType))
	}
	return template
}

// kemCall is what C_EncapsulateKey and C_DecapsulateKey checked under the engine lock and compute with
// outside it.
type kemCall struct {
	spec     *mech.Spec
	p        mech.Param
	k        *object   // the public (encapsulate) or private (decapsulate) key, held while kv is used
	kv       *mech.Key // its view
	template []ck.Attribute
	t        mech.Attrs
	so       bool
	// the private key's sensitivity history, which a decapsulated secret inherits
	alwaysSensitive, neverExtractable bool
}

// checkKEM is the key and template checks of C_EncapsulateKey (usage CKA_ENCAPSULATE, a public key) and
// C_DecapsulateKey (CKA_DECAPSULATE, a private key), run at the check and again at the commit. Called with
// e.mu held.
func checkKEM(s *session, spec *mech.Spec, h ck.ObjectHandle, usage ck.AttributeType, class ck.ObjectClass, template []ck.Attribute) (*object, []ck.Attribute, mech.Attrs, error) {
	k, err := useKey(s, h, spec, usage, []ck.ObjectClass{class}, ck.CKR_KEY_HANDLE_INVALID, ck.CKR_KEY_TYPE_INCONSISTENT)
	if err != nil {
		return nil, nil, nil, err
	}
	template = secretTemplate(template, spec)
	t, err := templateMap(template)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := canCreate(s, t, ck.CKO_SECRET_KEY); err != nil {
		return nil, nil, nil, err
	}
	return k, template, t, nil
}

// checkKEMCall is the check step of both KEM calls: checkKEM and the snapshot, the key held. Called with e.mu
// held.
func (a *app) checkKEMCall(s *session, c *kemCall, m *ck.Mechanism, has func(*mech.Spec) bool, h ck.ObjectHandle, usage ck.AttributeType, class ck.ObjectClass, template []ck.Attribute) error {
	var err error
	if c.spec, c.p, err = keySpec(m, has); err != nil {
		return err
	}
	if c.k, c.template, c.t, err = checkKEM(s, c.spec, h, usage, class, template); err != nil {
		return err
	}
	c.kv = keyView(c.k)
	c.so = a.isSO(s)
	c.alwaysSensitive, c.neverExtractable = c.k.bool(ck.CKA_ALWAYS_SENSITIVE), c.k.bool(ck.CKA_NEVER_EXTRACTABLE)
	a.e.holdKeys(c.k)
	return nil
}

// EncapsulateKey is C_EncapsulateKey. Locking (locking.go): the check takes the public key's view under the
// lock, the encapsulation runs without it, and the commit (insertMade) adds the secret only if the session
// still exists, checkKEM still passes (a public key destroyed meanwhile answers CKR_KEY_HANDLE_INVALID) and
// the quotas allow it. A length query or a short buffer makes no key and is not checked again.
func (a *app) EncapsulateKey(h ck.SessionHandle, m *ck.Mechanism, pub ck.ObjectHandle, template []ck.Attribute, out ck.Out) ([]byte, uint64, ck.ObjectHandle, error) {
	var c kemCall
	err := a.withSession(h, func(s *session) error {
		return a.checkKEMCall(s, &c, m, func(s *mech.Spec) bool { return s.Encapsulate != nil }, pub, ck.CKA_ENCAPSULATE, ck.CKO_PUBLIC_KEY, template)
	})
	if err != nil {
		return nil, 0, 0, err
	}
	defer a.e.releaseKeys(c.k)
	a.e.checked("encapsulate key")
	ct, secret, err := c.spec.Encapsulate(c.p, c.kv)
	if err != nil {
		return nil, 0, 0, mechError(err)
	}
	defer clear(secret)
	n := uint64(len(ct))
	if !out.Present {
		return nil, n, 0, nil // a length query makes no key
	}
	if out.Cap < n {
		return nil, n, 0, ck.CKR_BUFFER_TOO_SMALL
	}
	values, err := newKeyFromValue(c.t, secret)
	if err != nil {
		return nil, 0, 0, err
	}
	values[ck.CKA_LOCAL] = []byte{0}
	attrs, err := buildAttrs(c.template, byDerive, values, c.so)
	if err != nil {
		return nil, 0, 0, err
	}
	setSensitivityHistory(attrs, true, true)
	hk, err := a.insertMade(h, attrs, "encapsulate key", m.Type, func(s *session) error {
		_, _, _, err := checkKEM(s, c.spec, pub, ck.CKA_ENCAPSULATE, ck.CKO_PUBLIC_KEY, template)
		return err
	})
	if err != nil {
		return nil, 0, 0, err
	}
	return ct, n, hk, nil
}

// DecapsulateKey is C_DecapsulateKey. Locking (locking.go): as EncapsulateKey; a private key destroyed
// meanwhile answers CKR_KEY_HANDLE_INVALID.
func (a *app) DecapsulateKey(h ck.SessionHandle, m *ck.Mechanism, priv ck.ObjectHandle, template []ck.Attribute, ct []byte) (ck.ObjectHandle, error) {
	var c kemCall
	err := a.withSession(h, func(s *session) error {
		return a.checkKEMCall(s, &c, m, func(s *mech.Spec) bool { return s.Decapsulate != nil }, priv, ck.CKA_DECAPSULATE, ck.CKO_PRIVATE_KEY, template)
	})
	if err != nil {
		return 0, err
	}
	defer a.e.releaseKeys(c.k)
	a.e.checked("decapsulate key")
	secret, err := c.spec.Decapsulate(c.p, c.kv, ct)
	if err != nil {
		return 0, mechError(err)
	}
	defer clear(secret)
	values, err := newKeyFromValue(c.t, secret)
	if err != nil {
		return 0, err
	}
	values[ck.CKA_LOCAL] = []byte{0}
	attrs, err := buildAttrs(c.template, byDerive, values, c.so)
	if err != nil {
		return 0, err
	}
	setSensitivityHistory(attrs, c.alwaysSensitive, c.neverExtractable)
	return a.insertMade(h, attrs, "decapsulate key", m.Type, func(s *session) error {
		_, _, _, err := checkKEM(s, c.spec, priv, ck.CKA_DECAPSULATE, ck.CKO_PRIVATE_KEY, template)
		return err
	})
}
