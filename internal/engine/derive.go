package engine

import (
	"github.com/keyward/keyward/internal/mech"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// Key management, derivation: C_DeriveKey.

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
func checkDerive(s *session, spec *mech.Spec, base ck.ObjectHandle, template []ck.Attribute) (*object, []ck.Attribute, mech.Attrs, ck.ObjectClass, error) {
	var b *object
	var err error
	if o, oerr := s.object(base); oerr == nil && o.class == ck.CKO_DATA && spec.DeriveFromData {
		b = o // HKDF also takes a data object as its input key material
	} else if b, err = useKey(s, base, spec, ck.CKA_DERIVE, []ck.ObjectClass{ck.CKO_SECRET_KEY, ck.CKO_PRIVATE_KEY},
		ck.CKR_KEY_HANDLE_INVALID, ck.CKR_KEY_TYPE_INCONSISTENT); err != nil {
		return nil, nil, nil, 0, err
	}
	template, err = mergeTemplate(template, b.attrs.value(ck.CKA_DERIVE_TEMPLATE))
	if err != nil {
		return nil, nil, nil, 0, err
	}
	// A derived key is a secret key, of the mechanism's SecretKeyType unless the template says otherwise; a
	// mechanism that DerivesData (CKM_HKDF_DATA) makes a data object.
	outClass := ck.CKO_SECRET_KEY
	if spec.DerivesData {
		outClass = ck.CKO_DATA
	}
	if !hasAttr(template, ck.CKA_CLASS) {
		template = append(template, ck.NewAttribute(ck.CKA_CLASS, outClass))
	}
	if outClass == ck.CKO_SECRET_KEY && !hasAttr(template, ck.CKA_KEY_TYPE) {
		template = append(template, ck.NewAttribute(ck.CKA_KEY_TYPE, spec.SecretKeyType))
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
		if c.b, c.template, c.t, c.outClass, err = checkDerive(s, c.spec, base, template); err != nil {
			return err
		}
		c.bk = keyView(c.b)
		c.alwaysSensitive, c.neverExtractable = c.b.bool(ck.CKA_ALWAYS_SENSITIVE), c.b.bool(ck.CKA_NEVER_EXTRACTABLE)
		c.so = a.isSO(s)
		a.e.holdKeys(c.b)
		return nil
	})
	if err != nil {
		return 0, err
	}
	defer func() { a.e.releaseKeys(append(c.resolved, c.b)...) }()
	resolve := func(oh ck.ObjectHandle) (*mech.Key, error) {
		var k *mech.Key
		err := a.withSession(h, func(s *session) error {
			o, err := s.object(oh)
			if err != nil || o.class != ck.CKO_SECRET_KEY || !o.bool(ck.CKA_DERIVE) || trustedUse(o, ck.CKA_DERIVE) != nil {
				return ck.CKR_KEY_HANDLE_INVALID
			}
			a.e.holdKeys(o)
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
		_, _, _, _, err := checkDerive(s, c.spec, base, template)
		return err
	})
}
