package mech

import (
	"testing"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// TestKeyTypeTable walks the registries: every key type a mechanism accepts or makes is registered, every key
// type a mechanism generates has rules (so its keys can be objects), and no public key's attribute is
// sensitive.
func TestKeyTypeTable(t *testing.T) {
	for _, m := range List() {
		s := Lookup(m)
		for _, kt := range s.KeyTypes {
			if KeyTypeOf(kt) == nil {
				t.Errorf("%v accepts key type %v, which is not registered", m, kt)
			}
		}
		if s.GenerateKey == nil && s.GenerateKeyPair == nil || s.KeyTypeFromTemplate {
			continue
		}
		ks := KeyTypeOf(s.GenKeyType)
		switch {
		case ks == nil:
			t.Errorf("%v generates key type %v, which is not registered", m, s.GenKeyType)
		case ks.Rules == nil:
			t.Errorf("%v generates key type %v, which has no rules", m, s.GenKeyType)
		case s.GenerateKeyPair != nil && ks.Rules[ck.CKO_PRIVATE_KEY] == nil:
			t.Errorf("%v generates key pairs of %v, whose rules have no private key", m, s.GenKeyType)
		case s.GenerateKey != nil && ks.Rules != nil && ks.Rules[ck.CKO_SECRET_KEY] == nil:
			t.Errorf("%v generates secret keys of %v, whose rules have no secret key", m, s.GenKeyType)
		}
	}
	for _, kt := range KeyTypes() {
		for a, r := range KeyTypeOf(kt).Rules[ck.CKO_PUBLIC_KEY] {
			if r.Rules&RuleSensitive != 0 {
				t.Errorf("%v: public key attribute %v is sensitive", kt, a)
			}
		}
	}
}

// TestRegisterKeyTypeRefuses checks that a key type registered with rules for the wrong classes panics.
func TestRegisterKeyTypeRefuses(t *testing.T) {
	const unused ck.KeyType = ck.CKK_VENDOR_DEFINED | 0x4b57
	for name, rules := range map[string]map[ck.ObjectClass]AttrRules{
		"public key alone":     {ck.CKO_PUBLIC_KEY: {}},
		"private key alone":    {ck.CKO_PRIVATE_KEY: {}},
		"secret key and pair":  {ck.CKO_PUBLIC_KEY: {}, ck.CKO_PRIVATE_KEY: {}, ck.CKO_SECRET_KEY: {}},
		"not a key class":      {ck.CKO_DATA: {}},
		"secret and data both": {ck.CKO_SECRET_KEY: {}, ck.CKO_DATA: {}},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: RegisterKeyType did not panic", name)
				}
			}()
			RegisterKeyType(&KeyTypeSpec{Type: unused, Rules: rules})
		}()
		if KeyTypeOf(unused) != nil {
			t.Fatalf("%s: the key type was registered", name)
		}
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("Register of KeyTypeFromTemplate without GenerateKey did not panic")
			}
		}()
		Register(&Spec{Type: ck.CKM_VENDOR_DEFINED | 0x4b57, KeyTypeFromTemplate: true})
	}()
	derive := func(Param, *Key, Attrs, Resolver) ([]byte, error) { return nil, nil }
	for name, s := range map[string]*Spec{
		"DerivesData without Derive":      {DerivesData: true},
		"UnwrapLen without Unwrap":        {UnwrapLen: UnwrapZeroPadded},
		"Derive without SecretKeyType":    {Info: ck.MechanismInfo{Flags: ck.CKF_DERIVE}, Derive: derive},
		"SecretKeyType without an output": {SecretKeyType: ck.CKK_GENERIC_SECRET},
		"DerivesData with SecretKeyType": {Info: ck.MechanismInfo{Flags: ck.CKF_DERIVE}, Derive: derive,
			DerivesData: true, SecretKeyType: ck.CKK_GENERIC_SECRET},
	} {
		s.Type = ck.CKM_VENDOR_DEFINED | 0x4b57
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Register of %s did not panic", name)
				}
			}()
			Register(s)
		}()
		if Lookup(s.Type) != nil {
			t.Fatalf("%s: the mechanism was registered", name)
		}
	}
}
