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

func (a *app) WrapKey(h ck.SessionHandle, m *ck.Mechanism, wrapping, key ck.ObjectHandle, out ck.Out) ([]byte, uint64, error) {
	s, unlock, err := a.lock(h)
	if err != nil {
		return nil, 0, err
	}
	spec, p, err := keySpec(m, func(s *mech.Spec) bool { return s.Wrap != nil })
	if err != nil {
		unlock()
		return nil, 0, err
	}
	w, err := useKey(s, wrapping, spec, ck.CKA_WRAP, []ck.ObjectClass{ck.CKO_SECRET_KEY, ck.CKO_PUBLIC_KEY},
		ck.CKR_WRAPPING_KEY_HANDLE_INVALID, ck.CKR_WRAPPING_KEY_TYPE_INCONSISTENT)
	if err != nil {
		unlock()
		return nil, 0, err
	}
	o, err := s.object(key)
	if err != nil {
		unlock()
		return nil, 0, ck.CKR_KEY_HANDLE_INVALID
	}
	if err := wrapAllowed(w, o, m.Type); err != nil {
		unlock()
		return nil, 0, err
	}
	plain, err := keyEncoding(o)
	wk := keyView(w)
	unlock()
	if err != nil {
		return nil, 0, err
	}
	defer clear(plain)
	wrapped, err := spec.Wrap(p, wk, plain)
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
	a.e.audit("wrap key", a, o, m.Type)
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

func (a *app) UnwrapKey(h ck.SessionHandle, m *ck.Mechanism, unwrapping ck.ObjectHandle, wrapped []byte, template []ck.Attribute) (ck.ObjectHandle, error) {
	s, unlock, err := a.lock(h)
	if err != nil {
		return 0, err
	}
	spec, p, err := keySpec(m, func(s *mech.Spec) bool { return s.Unwrap != nil })
	if err != nil {
		unlock()
		return 0, err
	}
	u, err := useKey(s, unwrapping, spec, ck.CKA_UNWRAP, []ck.ObjectClass{ck.CKO_SECRET_KEY, ck.CKO_PRIVATE_KEY},
		ck.CKR_UNWRAPPING_KEY_HANDLE_INVALID, ck.CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT)
	if err != nil {
		unlock()
		return 0, err
	}
	template, err = mergeTemplate(template, u.attrs.value(ck.CKA_UNWRAP_TEMPLATE))
	if err != nil {
		unlock()
		return 0, err
	}
	if wrapOnly(u) {
		// What this key (or a copy of it) unwraps it may have wrapped from a sensitive key: it comes back
		// sensitive.
		if template, err = requireSensitive(template); err != nil {
			unlock()
			return 0, err
		}
	}
	t, err := templateMap(template)
	if err != nil {
		unlock()
		return 0, err
	}
	class, _ := mech.GetULong(t, ck.CKA_CLASS)
	if err := canCreate(s, t, ck.ObjectClass(class)); err != nil {
		unlock()
		return 0, err
	}
	uk := keyView(u)
	so := a.isSO(s)
	unlock()
	plain, err := spec.Unwrap(p, uk, wrapped)
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
	attrs, err := buildAttrs(template, byUnwrap, values, so)
	if err != nil {
		return 0, err
	}
	setSensitivityHistory(attrs, false, false)
	return a.insertMade(h, attrs, "unwrap key", m.Type)
}

func (a *app) DeriveKey(h ck.SessionHandle, m *ck.Mechanism, base ck.ObjectHandle, template []ck.Attribute) (ck.ObjectHandle, error) {
	s, unlock, err := a.lock(h)
	if err != nil {
		return 0, err
	}
	spec, p, err := keySpec(m, func(s *mech.Spec) bool { return s.Derive != nil })
	if err != nil {
		unlock()
		return 0, err
	}
	var b *object
	if o, oerr := s.object(base); oerr == nil && o.class == ck.CKO_DATA && dataDerivations[m.Type] {
		b = o // HKDF also takes a data object as its input key material
	} else if b, err = useKey(s, base, spec, ck.CKA_DERIVE, []ck.ObjectClass{ck.CKO_SECRET_KEY, ck.CKO_PRIVATE_KEY},
		ck.CKR_KEY_HANDLE_INVALID, ck.CKR_KEY_TYPE_INCONSISTENT); err != nil {
		unlock()
		return 0, err
	}
	template, err = mergeTemplate(template, b.attrs.value(ck.CKA_DERIVE_TEMPLATE))
	if err != nil {
		unlock()
		return 0, err
	}
	// A derived key is a secret key, generic unless the template says otherwise; CKM_HKDF_DATA makes a data
	// object.
	outClass := ck.CKO_SECRET_KEY
	if m.Type == ck.CKM_HKDF_DATA {
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
		unlock()
		return 0, err
	}
	if c, _ := mech.GetULong(t, ck.CKA_CLASS); ck.ObjectClass(c) != outClass {
		unlock()
		return 0, ck.CKR_TEMPLATE_INCONSISTENT
	}
	if err := canCreate(s, t, outClass); err != nil {
		unlock()
		return 0, err
	}
	bk := keyView(b)
	alwaysSensitive, neverExtractable := b.bool(ck.CKA_ALWAYS_SENSITIVE), b.bool(ck.CKA_NEVER_EXTRACTABLE)
	resolve := func(oh ck.ObjectHandle) (*mech.Key, error) {
		a.e.mu.Lock()
		defer a.e.mu.Unlock()
		o, err := s.object(oh)
		if err != nil || o.class != ck.CKO_SECRET_KEY || !o.bool(ck.CKA_DERIVE) || trustedUse(o, ck.CKA_DERIVE) != nil {
			return nil, ck.CKR_KEY_HANDLE_INVALID
		}
		return keyView(o), nil
	}
	so := a.isSO(s)
	unlock()
	value, err := spec.Derive(p, bk, t, resolve)
	if err != nil {
		return 0, mechError(err)
	}
	defer clear(value)
	var attrs map[ck.AttributeType][]byte
	if outClass == ck.CKO_DATA {
		// The output length came from CKA_VALUE_LEN, which a data object does not carry.
		var dataT []ck.Attribute
		for _, at := range template {
			if at.Type != ck.CKA_VALUE_LEN {
				dataT = append(dataT, at)
			}
		}
		attrs, err = buildAttrs(dataT, byDerive, map[ck.AttributeType][]byte{ck.CKA_VALUE: append([]byte{}, value...)}, so)
	} else {
		var values map[ck.AttributeType][]byte
		if values, err = newKeyFromValue(t, value); err != nil {
			return 0, err
		}
		values[ck.CKA_LOCAL] = []byte{0}
		attrs, err = buildAttrs(template, byDerive, values, so)
	}
	if err != nil {
		return 0, err
	}
	setSensitivityHistory(attrs, alwaysSensitive, neverExtractable)
	return a.insertMade(h, attrs, "derive key", m.Type)
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

func (a *app) EncapsulateKey(h ck.SessionHandle, m *ck.Mechanism, pub ck.ObjectHandle, template []ck.Attribute, out ck.Out) ([]byte, uint64, ck.ObjectHandle, error) {
	s, unlock, err := a.lock(h)
	if err != nil {
		return nil, 0, 0, err
	}
	spec, p, err := keySpec(m, func(s *mech.Spec) bool { return s.Encapsulate != nil })
	if err != nil {
		unlock()
		return nil, 0, 0, err
	}
	k, err := useKey(s, pub, spec, ck.CKA_ENCAPSULATE, []ck.ObjectClass{ck.CKO_PUBLIC_KEY},
		ck.CKR_KEY_HANDLE_INVALID, ck.CKR_KEY_TYPE_INCONSISTENT)
	if err != nil {
		unlock()
		return nil, 0, 0, err
	}
	template = secretTemplate(template)
	t, err := templateMap(template)
	if err != nil {
		unlock()
		return nil, 0, 0, err
	}
	if err := canCreate(s, t, ck.CKO_SECRET_KEY); err != nil {
		unlock()
		return nil, 0, 0, err
	}
	kv := keyView(k)
	so := a.isSO(s)
	unlock()
	ct, secret, err := spec.Encapsulate(p, kv)
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
	values, err := newKeyFromValue(t, secret)
	if err != nil {
		return nil, 0, 0, err
	}
	values[ck.CKA_LOCAL] = []byte{0}
	attrs, err := buildAttrs(template, byDerive, values, so)
	if err != nil {
		return nil, 0, 0, err
	}
	setSensitivityHistory(attrs, true, true)
	hk, err := a.insertMade(h, attrs, "encapsulate key", m.Type)
	if err != nil {
		return nil, 0, 0, err
	}
	return ct, n, hk, nil
}

func (a *app) DecapsulateKey(h ck.SessionHandle, m *ck.Mechanism, priv ck.ObjectHandle, template []ck.Attribute, ct []byte) (ck.ObjectHandle, error) {
	s, unlock, err := a.lock(h)
	if err != nil {
		return 0, err
	}
	spec, p, err := keySpec(m, func(s *mech.Spec) bool { return s.Decapsulate != nil })
	if err != nil {
		unlock()
		return 0, err
	}
	k, err := useKey(s, priv, spec, ck.CKA_DECAPSULATE, []ck.ObjectClass{ck.CKO_PRIVATE_KEY},
		ck.CKR_KEY_HANDLE_INVALID, ck.CKR_KEY_TYPE_INCONSISTENT)
	if err != nil {
		unlock()
		return 0, err
	}
	template = secretTemplate(template)
	t, err := templateMap(template)
	if err != nil {
		unlock()
		return 0, err
	}
	if err := canCreate(s, t, ck.CKO_SECRET_KEY); err != nil {
		unlock()
		return 0, err
	}
	kv := keyView(k)
	so := a.isSO(s)
	alwaysSensitive, neverExtractable := k.bool(ck.CKA_ALWAYS_SENSITIVE), k.bool(ck.CKA_NEVER_EXTRACTABLE)
	unlock()
	secret, err := spec.Decapsulate(p, kv, ct)
	if err != nil {
		return 0, mechError(err)
	}
	defer clear(secret)
	values, err := newKeyFromValue(t, secret)
	if err != nil {
		return 0, err
	}
	values[ck.CKA_LOCAL] = []byte{0}
	attrs, err := buildAttrs(template, byDerive, values, so)
	if err != nil {
		return 0, err
	}
	setSensitivityHistory(attrs, alwaysSensitive, neverExtractable)
	return a.insertMade(h, attrs, "decapsulate key", m.Type)
}

// insertMade adds a key the engine made without holding its lock (unwrapped, derived, encapsulated) to
// session h, which may have closed meanwhile, and audits it.
func (a *app) insertMade(h ck.SessionHandle, attrs map[ck.AttributeType][]byte, what string, m ck.MechanismType) (ck.ObjectHandle, error) {
	e := a.e
	e.mu.Lock()
	defer e.mu.Unlock()
	s, err := a.session(h)
	if err != nil {
		return 0, err
	}
	hk, err := e.insert(s, attrs)
	if err == nil {
		e.auditObject(what, a, hk, m)
	}
	return hk, err
}

func (a *app) GetSessionValidationFlags(h ck.SessionHandle, typ uint64) (uint64, error) {
	_, unlock, err := a.lock(h)
	if err != nil {
		return 0, err
	}
	unlock()
	return 0, nil // no validated (FIPS-style) operation has run: no flag is set
}
