package engine

import (
	"github.com/keyward/keyward/internal/mech"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// Key management, wrapping: C_WrapKey and C_UnwrapKey.

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
		a.e.holdKeys(c.w)
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	defer a.e.releaseKeys(c.w)
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
		a.e.holdKeys(c.u)
		return nil
	})
	if err != nil {
		return 0, err
	}
	defer a.e.releaseKeys(c.u)
	a.e.checked("unwrap key")
	t := c.t
	plain, err := c.spec.Unwrap(c.p, c.uk, wrapped)
	if err != nil {
		return 0, mechError(err)
	}
	defer clear(plain)
	// The template's CKA_VALUE_LEN says how much of the unwrapped bytes is the key (mech.Spec.UnwrapLen).
	value, err := c.spec.UnwrappedKey(plain, t)
	if err != nil {
		return 0, mechError(err)
	}
	values, err := newKeyFromValue(t, value)
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
