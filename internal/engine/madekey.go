package engine

import (
	"github.com/keyward/keyward/internal/mech"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// What the calls that make a key from a value outside the caller's template share (unwrap, derive, the KEMs):
// the key's attributes from the value, the key's stored template merged in, and the commit (insertMade).

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

func hasAttr(t []ck.Attribute, typ ck.AttributeType) bool {
	for _, a := range t {
		if a.Type == typ {
			return true
		}
	}
	return false
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
