package engine

import (
	"github.com/keyward/keyward/internal/mech"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// zeroPadded are the wrapping mechanisms that pad a key with zeros to their block size (PKCS#11: AES-ECB,
// AES-CBC and RFC 3394 key wrap).
var zeroPadded = map[ck.MechanismType]bool{ck.CKM_AES_ECB: true, ck.CKM_AES_CBC: true, ck.CKM_AES_KEY_WRAP: true}

// keyEncoding returns what wrapping a key encrypts: a secret key's value, a private key's PKCS#8.
func keyEncoding(o *object) ([]byte, error) {
	switch o.class {
	case ck.CKO_SECRET_KEY:
		return append([]byte{}, o.attrs.value(ck.CKA_VALUE)...), nil
	case ck.CKO_PRIVATE_KEY:
		kt, _ := o.ulong(ck.CKA_KEY_TYPE)
		ks := mech.KeyTypeOf(ck.KeyType(kt))
		if ks == nil || ks.PKCS8 == nil {
			return nil, ck.CKR_KEY_NOT_WRAPPABLE
		}
		der, err := ks.PKCS8(o.attrs.attrMap())
		if err != nil {
			return nil, ck.CKR_KEY_NOT_WRAPPABLE
		}
		return der, nil
	}
	return nil, ck.CKR_KEY_NOT_WRAPPABLE
}

// wrapAllowed applies the specification's rules and Keyward's wrapping policy (wrappolicy.go) to wrapping
// key o under w with mechanism m.
func wrapAllowed(w, o *object, m ck.MechanismType) error {
	if !isKeyClass(o.class) {
		return ck.CKR_KEY_HANDLE_INVALID
	}
	if !o.bool(ck.CKA_EXTRACTABLE) {
		return ck.CKR_KEY_UNEXTRACTABLE
	}
	if o.bool(ck.CKA_WRAP_WITH_TRUSTED) && !w.bool(ck.CKA_TRUSTED) {
		return ck.CKR_KEY_NOT_WRAPPABLE
	}
	if !matchesTemplate(o, w.attrs.value(ck.CKA_WRAP_TEMPLATE)) {
		return ck.CKR_KEY_NOT_WRAPPABLE
	}
	// Keyward policy: a sensitive key leaves the token only under a wrap-only secret key, with a mechanism
	// built for wrapping keys, and (trusted-only) a key the SO vouched for (CKA_TRUSTED). Such a key can do
	// nothing that turns the blob back into clear text or into a readable key inside the token. A public
	// wrapping key is never enough: its private half could decrypt.
	if o.bool(ck.CKA_SENSITIVE) {
		return sensitiveWrapAllowed(w, o, m, w.tok.rec.WrapPolicy)
	}
	return nil
}

// wrapCall is what C_WrapKey checked under the engine lock and computes with outside it.
type wrapCall struct {
	spec  *mech.Spec
	p     mech.Param
	w, o  *object   // the wrapping key and the key to wrap
	wk    *mech.Key // the wrapping key's view (w is held while it is used)
	plain []byte    // o's encoding, the wrapping's input: a copy, cleared after
}

// checkWrap is C_WrapKey's key checks, run at the check and again at the commit. Called with e.mu held.
func checkWrap(s *session, spec *mech.Spec, m ck.MechanismType, wrapping, key ck.ObjectHandle) (w, o *object, err error) {
	w, err = useKey(s, wrapping, spec, ck.CKA_WRAP, []ck.ObjectClass{ck.CKO_SECRET_KEY, ck.CKO_PUBLIC_KEY},
		ck.CKR_WRAPPING_KEY_HANDLE_INVALID, ck.CKR_WRAPPING_KEY_TYPE_INCONSISTENT)
	if err != nil {
		return nil, nil, err
	}
	if o, err = s.object(key); err != nil {
		return nil, nil, ck.CKR_KEY_HANDLE_INVALID
	}
	if err := wrapAllowed(w, o, m); err != nil {
		return nil, nil, err
	}
	return w, o, nil
}

// WrapKey is C_WrapKey. Locking (locking.go): the check takes the keys' state under the lock, the wrapping
// runs without it, and the commit returns the wrapped key only if the session still exists and checkWrap
// still passes: a wrapping key destroyed meanwhile answers CKR_WRAPPING_KEY_HANDLE_INVALID, a key destroyed
// CKR_KEY_HANDLE_INVALID, a key made unextractable CKR_KEY_UNEXTRACTABLE, a usage turned off
// CKR_KEY_FUNCTION_NOT_PERMITTED. A length query returns only a length and is not checked again.
func (a *app) WrapKey(h ck.SessionHandle, m *ck.Mechanism, wrapping, key ck.ObjectHandle, out ck.Out) ([]byte, uint64, error) {
	var c wrapCall
	err := a.withSession(h, func(s *session) error {
		var err error
		if c.spec, c.p, err = keySpec(m, func(s *mech.Spec) bool { return s.Wrap != nil }); err != nil {
			return err
		}
		if c.w, c.o, err = checkWrap(s, c.spec, m.Type, wrapping, key); err != nil {
			return err
		}
		if c.plain, err = keyEncoding(c.o); err != nil {
			return err
		}
		c.wk = keyView(c.w)
		a.e.hold(c.w)
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	defer a.e.release(c.w)
	a.e.checked("wrap key")
	wrapped, err := c.spec.Wrap(c.p, c.wk, c.plain)
	clear(c.plain)
	if err != nil {
		return nil, 0, mechError(err)
	}
	n := uint64(len(wrapped))
	if !out.Present {
		return nil, n, nil
	}
	if out.Cap < n {
		return nil, n, ck.CKR_BUFFER_TOO_SMALL
	}
	err = a.withSession(h, func(s *session) error {
		_, o, err := checkWrap(s, c.spec, m.Type, wrapping, key)
		if err == nil {
			a.e.audit("wrap key", a, o, m.Type)
		}
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	return wrapped, n, nil
}

// newKeyFromValue builds the attributes of a key made from bytes that came from outside the template
// (an unwrapped or derived value, a decapsulated secret): a secret key's CKA_VALUE, or a private key's PKCS#8.
func newKeyFromValue(t mech.Attrs, value []byte) (map[ck.AttributeType][]byte, error) {
	class, ok := mech.GetULong(t, ck.CKA_CLASS)
	if !ok {
		return nil, ck.CKR_TEMPLATE_INCOMPLETE
	}
	kt, ok := mech.GetULong(t, ck.CKA_KEY_TYPE)
	if !ok {
		return nil, ck.CKR_TEMPLATE_INCOMPLETE
	}
	switch ck.ObjectClass(class) {
	case ck.CKO_SECRET_KEY:
		if n, given := mech.GetULong(t, ck.CKA_VALUE_LEN); given && n != uint64(len(value)) {
			return nil, ck.CKR_TEMPLATE_INCONSISTENT
		}
		return map[ck.AttributeType][]byte{ck.CKA_VALUE: value, ck.CKA_VALUE_LEN: ulongBytes(uint64(len(value)))}, nil
	case ck.CKO_PRIVATE_KEY:
		ks := mech.KeyTypeOf(ck.KeyType(kt))
		if ks == nil || ks.ParsePKCS8 == nil {
			return nil, ck.CKR_TEMPLATE_INCONSISTENT
		}
		attrs, err := ks.ParsePKCS8(value)
		if err != nil {
			return nil, ck.CKR_WRAPPED_KEY_INVALID
		}
		return attrs, nil
	}
	return nil, ck.CKR_TEMPLATE_INCONSISTENT
}

// mergeTemplate adds a key's stored CKA_UNWRAP_TEMPLATE or CKA_DERIVE_TEMPLATE to a caller's template:
// attributes the caller also gives must agree.
func mergeTemplate(template []ck.Attribute, stored []byte) ([]ck.Attribute, error) {
	if len(stored) == 0 {
		return template, nil
	}
	extra, err := decodeTemplate(stored)
	if err != nil {
		return nil, ck.CKR_GENERAL_ERROR
	}
	out := append([]ck.Attribute{}, template...)
	for _, x := range extra {
		found := false
		for _, a := range template {
			if a.Type == x.Type {
				found = true
				if string(valueOf(a)) != string(x.Value) {
					return nil, ck.CKR_TEMPLATE_INCONSISTENT
				}
			}
		}
		if !found {
			out = append(out, x)
		}
	}
	return out, nil
}

// unwrapCall is what C_UnwrapKey checked under the engine lock and computes with outside it.
type unwrapCall struct {
	spec     *mech.Spec
	p        mech.Param
	u        *object   // the unwrapping key (held while uk is used)
	uk       *mech.Key // its view
	template []ck.Attribute
	t        mech.Attrs
	so       bool
}

// checkUnwrap is C_UnwrapKey's key and template checks, run at the check and again at the commit. It returns
// the unwrapping key and the template completed by its CKA_UNWRAP_TEMPLATE and the wrapping policy. Called
// with e.mu held.
func checkUnwrap(s *session, spec *mech.Spec, unwrapping ck.ObjectHandle, template []ck.Attribute) (*object, []ck.Attribute, mech.Attrs, error) {
	u, err := useKey(s, unwrapping, spec, ck.CKA_UNWRAP, []ck.ObjectClass{ck.CKO_SECRET_KEY, ck.CKO_PRIVATE_KEY},
		ck.CKR_UNWRAPPING_KEY_HANDLE_INVALID, ck.CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT)
	if err != nil {
		return nil, nil, nil, err
	}
	template, err = mergeTemplate(template, u.attrs.value(ck.CKA_UNWRAP_TEMPLATE))
	if err != nil {
		return nil, nil, nil, err
	}
	if wrapOnly(u) {
		// What this key (or a copy of it) unwraps it may have wrapped from a sensitive key: it comes back
		// sensitive.
		if template, err = requireSensitive(template); err != nil {
			return nil, nil, nil, err
		}
	}
	t, err := templateMap(template)
	if err != nil {
		return nil, nil, nil, err
	}
	class, _ := mech.GetULong(t, ck.CKA_CLASS)
	if err := canCreate(s, t, ck.ObjectClass(class)); err != nil {
		return nil, nil, nil, err
	}
	return u, template, t, nil
}

// UnwrapKey is C_UnwrapKey. Locking (locking.go): the check takes the unwrapping key's view and the
// completed template under the lock, the unwrapping and the new key's attributes are computed without it,
// and the commit (insertMade) adds the key only if the session still exists, checkUnwrap still passes (an
// unwrapping key destroyed meanwhile answers CKR_UNWRAPPING_KEY_HANDLE_INVALID) and the quotas allow it.
func (a *app) UnwrapKey(h ck.SessionHandle, m *ck.Mechanism, unwrapping ck.ObjectHandle, wrapped []byte, template []ck.Attribute) (ck.ObjectHandle, error) {
	var c unwrapCall
	err := a.withSession(h, func(s *session) error {
		var err error
		if c.spec, c.p, err = keySpec(m, func(s *mech.Spec) bool { return s.Unwrap != nil }); err != nil {
			return err
		}
		if c.u, c.template, c.t, err = checkUnwrap(s, c.spec, unwrapping, template); err != nil {
			return err
		}
		c.uk = keyView(c.u)
		c.so = a.isSO(s)
		a.e.hold(c.u)
		return nil
	})
	if err != nil {
		return 0, err
	}
	defer a.e.release(c.u)
	a.e.checked("unwrap key")
	t := c.t
	plain, err := c.spec.Unwrap(c.p, c.uk, wrapped)
	if err != nil {
		return 0, mechError(err)
	}
	defer clear(plain)
	if m.Type == ck.CKM_RSA_X_509 {
		// Raw RSA unwraps a whole modulus-sized block: the key is its last CKA_VALUE_LEN bytes, whatever
		// precedes them (PKCS#11 3.x, CKM_RSA_X_509: "the last CKA_VALUE_LEN bytes of the decrypted data").
		if n, given := mech.GetULong(t, ck.CKA_VALUE_LEN); given && n < uint64(len(plain)) {
			plain = plain[uint64(len(plain))-n:]
		}
	}
	if zeroPadded[m.Type] {
		// These mechanisms wrap a key zero-padded to whole blocks: the template's CKA_VALUE_LEN says how much
		// of the unwrapped value is the key.
		if n, given := mech.GetULong(t, ck.CKA_VALUE_LEN); given && n < uint64(len(plain)) {
			for _, b := range plain[n:] {
				if b != 0 {
					return 0, ck.CKR_WRAPPED_KEY_INVALID
				}
			}
			plain = plain[:n]
		}
	}
	values, err := newKeyFromValue(t, plain)
	if err != nil {
		return 0, err
	}
	values[ck.CKA_LOCAL] = []byte{0}
	attrs, err := buildAttrs(c.template, byUnwrap, values, c.so)
	if err != nil {
		return 0, err
	}
	setSensitivityHistory(attrs, false, false)
	return a.insertMade(h, attrs, "unwrap key", m.Type, func(s *session) error {
		_, _, _, err := checkUnwrap(s, c.spec, unwrapping, template)
		return err
	})
}

// deriveCall is what C_DeriveKey checked under the engine lock and computes with outside it.
type deriveCall struct {
	spec     *mech.Spec
	p        mech.Param
	b        *object   // the base key (held while bk is used)
	bk       *mech.Key // its view
	template []ck.Attribute
	t        mech.Attrs
	outClass ck.ObjectClass
	so       bool
	resolved []*object // other keys the mechanism asked for (resolve), held too
	// the base key's sensitivity history, which the derived key inherits
	alwaysSensitive, neverExtractable bool
}

// checkDerive is C_DeriveKey's key and template checks, run at the check and again at the commit. It
// returns the base key, the template completed by its CKA_DERIVE_TEMPLATE and the defaults, and the class
// of the object made. Called with e.mu held.
func checkDerive(s *session, spec *mech.Spec, m ck.MechanismType, base ck.ObjectHandle, template []ck.Attribute) (*object, []ck.Attribute, mech.Attrs, ck.ObjectClass, error) {
	var b *object
	var err error
	if o, oerr := s.object(base); oerr == nil && o.class == ck.CKO_DATA && dataDerivations[m] {
		b = o // HKDF also takes a data object as its input key material
	} else if b, err = useKey(s, base, spec, ck.CKA_DERIVE, []ck.ObjectClass{ck.CKO_SECRET_KEY, ck.CKO_PRIVATE_KEY},
		ck.CKR_KEY_HANDLE_INVALID, ck.CKR_KEY_TYPE_INCONSISTENT); err != nil {
		return nil, nil, nil, 0, err
	}
	template, err = mergeTemplate(template, b.attrs.value(ck.CKA_DERIVE_TEMPLATE))
	if err != nil {
		return nil, nil, nil, 0, err
	}
	// A derived key is a secret key, generic unless the template says otherwise; CKM_HKDF_DATA makes a data
	// object.
	outClass := ck.CKO_SECRET_KEY
	if m == ck.CKM_HKDF_DATA {
		outClass = ck.CKO_DATA
	}
	if !hasAttr(template, ck.CKA_CLASS) {
		template = append(template, ck.NewAttribute(ck.CKA_CLASS, outClass))
	}
	if outClass == ck.CKO_SECRET_KEY && !hasAttr(template, ck.CKA_KEY_TYPE) {
		template = append(template, ck.NewAttribute(ck.CKA_KEY_TYPE, ck.CKK_GENERIC_SECRET))
	}
	t, err := templateMap(template)
	if err != nil {
		return nil, nil, nil, 0, err
	}
	if c, _ := mech.GetULong(t, ck.CKA_CLASS); ck.ObjectClass(c) != outClass {
		return nil, nil, nil, 0, ck.CKR_TEMPLATE_INCONSISTENT
	}
	if err := canCreate(s, t, outClass); err != nil {
		return nil, nil, nil, 0, err
	}
	return b, template, t, outClass, nil
}

// DeriveKey is C_DeriveKey. Locking (locking.go): the check takes the base key's view and the completed
// template under the lock; the derivation runs without it, taking the lock only to look up the other keys
// a mechanism names (resolve, which holds them too); the commit (insertMade) adds the key only if the
// session still exists, checkDerive still passes (a base key destroyed meanwhile answers
// CKR_KEY_HANDLE_INVALID) and the quotas allow it.
func (a *app) DeriveKey(h ck.SessionHandle, m *ck.Mechanism, base ck.ObjectHandle, template []ck.Attribute) (ck.ObjectHandle, error) {
	var c deriveCall
	err := a.withSession(h, func(s *session) error {
		var err error
		if c.spec, c.p, err = keySpec(m, func(s *mech.Spec) bool { return s.Derive != nil }); err != nil {
			return err
		}
		if c.b, c.template, c.t, c.outClass, err = checkDerive(s, c.spec, m.Type, base, template); err != nil {
			return err
		}
		c.bk = keyView(c.b)
		c.alwaysSensitive, c.neverExtractable = c.b.bool(ck.CKA_ALWAYS_SENSITIVE), c.b.bool(ck.CKA_NEVER_EXTRACTABLE)
		c.so = a.isSO(s)
		a.e.hold(c.b)
		return nil
	})
	if err != nil {
		return 0, err
	}
	defer func() { a.e.release(append(c.resolved, c.b)...) }()
	resolve := func(oh ck.ObjectHandle) (*mech.Key, error) {
		var k *mech.Key
		err := a.withSession(h, func(s *session) error {
			o, err := s.object(oh)
			if err != nil || o.class != ck.CKO_SECRET_KEY || !o.bool(ck.CKA_DERIVE) || trustedUse(o, ck.CKA_DERIVE) != nil {
				return ck.CKR_KEY_HANDLE_INVALID
			}
			a.e.hold(o)
			c.resolved = append(c.resolved, o)
			k = keyView(o)
			return nil
		})
		return k, err
	}
	a.e.checked("derive key")
	t := c.t
	value, err := c.spec.Derive(c.p, c.bk, t, resolve)
	if err != nil {
		return 0, mechError(err)
	}
	defer clear(value)
	var attrs map[ck.AttributeType][]byte
	if c.outClass == ck.CKO_DATA {
		// The output length came from CKA_VALUE_LEN, which a data object does not carry.
		var dataT []ck.Attribute
		for _, at := range c.template {
			if at.Type != ck.CKA_VALUE_LEN {
				dataT = append(dataT, at)
			}
		}
		attrs, err = buildAttrs(dataT, byDerive, map[ck.AttributeType][]byte{ck.CKA_VALUE: append([]byte{}, value...)}, c.so)
	} else {
		var values map[ck.AttributeType][]byte
		if values, err = newKeyFromValue(t, value); err != nil {
			return 0, err
		}
		values[ck.CKA_LOCAL] = []byte{0}
		attrs, err = buildAttrs(c.template, byDerive, values, c.so)
	}
	if err != nil {
		return 0, err
	}
	setSensitivityHistory(attrs, c.alwaysSensitive, c.neverExtractable)
	return a.insertMade(h, attrs, "derive key", m.Type, func(s *session) error {
		_, _, _, _, err := checkDerive(s, c.spec, m.Type, base, template)
		return err
	})
}

func hasAttr(t []ck.Attribute, typ ck.AttributeType) bool {
	for _, a := range t {
		if a.Type == typ {
			return true
		}
	}
	return false
}

// secretTemplate completes a template for a secret made by encapsulation.
func secretTemplate(template []ck.Attribute) []ck.Attribute {
	if !hasAttr(template, ck.CKA_CLASS) {
		template = append(template, ck.NewAttribute(ck.CKA_CLASS, ck.CKO_SECRET_KEY))
	}
	if !hasAttr(template, ck.CKA_KEY_TYPE) {
		template = append(template, ck.NewAttribute(ck.CKA_KEY_TYPE, ck.CKK_GENERIC_SECRET))
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
	template = secretTemplate(template)
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
	a.e.hold(c.k)
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
	defer a.e.release(c.k)
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
	defer a.e.release(c.k)
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

// insertMade is the commit of a call that made a key without holding the engine lock (unwrapped, derived,
// encapsulated, decapsulated): under the lock again, session h must still exist (it may have closed
// meanwhile) and recheck, the call's own checks, must still pass; insert then checks the quotas and the
// login the new object needs, adds it, and the key is audited. A key that is not added has its secret
// values wiped.
func (a *app) insertMade(h ck.SessionHandle, attrs map[ck.AttributeType][]byte, what string, m ck.MechanismType, recheck func(*session) error) (ck.ObjectHandle, error) {
	var hk ck.ObjectHandle
	err := a.withSession(h, func(s *session) error {
		if err := recheck(s); err != nil {
			return err
		}
		var err error
		if hk, err = a.e.insert(s, attrs); err == nil {
			a.e.auditObject(what, a, hk, m)
		}
		return err
	})
	if err != nil {
		wipeSensitive(attrs)
	}
	return hk, err
}

// GetSessionValidationFlags is C_GetSessionValidationFlags.
func (a *app) GetSessionValidationFlags(h ck.SessionHandle, typ uint64) (uint64, error) {
	if err := a.withSession(h, func(*session) error { return nil }); err != nil {
		return 0, err
	}
	return 0, nil // no validated (FIPS-style) operation has run: no flag is set
}
