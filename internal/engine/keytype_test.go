package engine

import (
	"bytes"
	"testing"

	"github.com/keyward/keyward/internal/engine/enginetest"
	"github.com/keyward/keyward/internal/mech"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// keyTypeGen says how TestKeyTypeRules makes a key of each key type that has rules: the generation mechanism
// and the template attributes the key type requires on generation. A key type registered with rules and
// missing here fails the test, so a new key type comes with its row.
var keyTypeGen = map[ck.KeyType]struct {
	mech ck.MechanismType
	gen  []ck.Attribute // the public key's (a key pair) or the secret key's
}{
	ck.CKK_RSA:            {ck.CKM_RSA_PKCS_KEY_PAIR_GEN, []ck.Attribute{ck.NewAttribute(ck.CKA_MODULUS_BITS, 2048)}},
	ck.CKK_EC:             {ck.CKM_EC_KEY_PAIR_GEN, []ck.Attribute{ck.NewAttribute(ck.CKA_EC_PARAMS, oidP256)}},
	ck.CKK_EC_EDWARDS:     {ck.CKM_EC_EDWARDS_KEY_PAIR_GEN, []ck.Attribute{ck.NewAttribute(ck.CKA_EC_PARAMS, oidEd25519)}},
	ck.CKK_EC_MONTGOMERY:  {ck.CKM_EC_MONTGOMERY_KEY_PAIR_GEN, []ck.Attribute{ck.NewAttribute(ck.CKA_EC_PARAMS, oidX25519)}},
	ck.CKK_ML_DSA:         {ck.CKM_ML_DSA_KEY_PAIR_GEN, []ck.Attribute{ck.NewAttribute(ck.CKA_PARAMETER_SET, ck.CKP_ML_DSA_44)}},
	ck.CKK_ML_KEM:         {ck.CKM_ML_KEM_KEY_PAIR_GEN, []ck.Attribute{ck.NewAttribute(ck.CKA_PARAMETER_SET, ck.CKP_ML_KEM_512)}},
	ck.CKK_AES:            {ck.CKM_AES_KEY_GEN, []ck.Attribute{ck.NewAttribute(ck.CKA_VALUE_LEN, 32)}},
	ck.CKK_GENERIC_SECRET: {ck.CKM_GENERIC_SECRET_KEY_GEN, []ck.Attribute{ck.NewAttribute(ck.CKA_VALUE_LEN, 32)}},
	ck.CKK_HKDF:           {ck.CKM_HKDF_KEY_GEN, []ck.Attribute{ck.NewAttribute(ck.CKA_VALUE_LEN, 32)}},
}

var (
	oidP256    = []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}
	oidEd25519 = []byte{0x06, 0x03, 0x2b, 0x65, 0x70}
	oidX25519  = []byte{0x06, 0x03, 0x2b, 0x65, 0x6e}
)

// dummyValue is a value of the right layout for attribute t, for the template checks that come before any
// key value is parsed.
func dummyValue(t ck.AttributeType) []byte {
	switch attrKinds[t] {
	case mech.KindBool:
		return []byte{0}
	case mech.KindULong:
		return ck.ULong(1)
	case mech.KindDate, mech.KindMechs:
		return []byte{}
	}
	return []byte{1, 2, 3}
}

// TestKeyTypeSchemas walks the key-type table: every registered key type with rules has an object schema
// per class, made of its class's attributes with the key type's own rules over them, and the engine keeps
// no schema of a key type internal/mech does not describe.
func TestKeyTypeSchemas(t *testing.T) {
	n := 0
	for _, kt := range mech.KeyTypes() {
		for class, own := range mech.KeyTypeOf(kt).Rules {
			schema, ok := schemas[classKey{class, uint64(kt)}]
			if !ok {
				t.Errorf("key type %v, class %v: no schema", kt, class)
				continue
			}
			n++
			for a, r := range own {
				if got := schema[a]; got.Rules != r.Rules || !bytes.Equal(got.Default, r.Default) {
					t.Errorf("key type %v, class %v, %v: schema has %+v, the key type says %+v", kt, class, a, got, r)
				}
			}
			for a, r := range classAttrs[class] {
				if _, mine := own[a]; !mine && (schema[a].Rules != r.Rules || !bytes.Equal(schema[a].Default, r.Default)) {
					t.Errorf("key type %v, class %v, %v: the class's rule is lost", kt, class, a)
				}
			}
		}
	}
	for k := range schemas {
		if !isKeyClass(k.class) {
			continue
		}
		if ks := mech.KeyTypeOf(ck.KeyType(k.sub)); ks == nil || ks.Rules[k.class] == nil {
			t.Errorf("schema of class %v, key type %v has no rules in internal/mech", k.class, ck.KeyType(k.sub))
		}
	}
	if n == 0 {
		t.Fatal("no key type has rules")
	}
}

// TestKeyTypeKinds checks the layouts the key types give their attributes, which is all the engine knows of
// the attributes only key types name: CK_ULONG for the sizes and parameter sets, CK_BBOOL for the usage
// defaults, byte strings for the key values. A key value given another layout would accept malformed
// templates (or refuse good ones) with no other test noticing.
func TestKeyTypeKinds(t *testing.T) {
	ulongs := map[ck.AttributeType]bool{ck.CKA_MODULUS_BITS: true, ck.CKA_VALUE_LEN: true, ck.CKA_PARAMETER_SET: true}
	for _, kt := range mech.KeyTypes() {
		for class, own := range mech.KeyTypeOf(kt).Rules {
			for a, r := range own {
				want := mech.KindBytes
				switch {
				case ulongs[a]:
					want = mech.KindULong
				case objectKinds[a] == mech.KindBool:
					want = mech.KindBool
				}
				if r.Kind != want || attrKinds[a] != want {
					t.Errorf("%v %v: %v has layout %d (the engine: %d), want %d", kt, class, a, r.Kind, attrKinds[a], want)
				}
			}
		}
	}
	if _, known := objectKinds[ck.CKA_MODULUS]; known {
		t.Error("CKA_MODULUS is in the engine's own layouts: the RSA key type should bring it")
	}
	if attrKinds[ck.CKA_MODULUS_BITS] != mech.KindULong {
		t.Error("CKA_MODULUS_BITS is not a CK_ULONG")
	}
}

// TestKeyTypeCreationRules exercises every creation footnote of every key type's rules through buildAttrs:
// an attribute that must be given for a kind of creation (C_CreateObject, generation, C_UnwrapKey) and is
// not gets CKR_TEMPLATE_INCOMPLETE, one that must not be given and is gets CKR_ATTRIBUTE_READ_ONLY.
func TestKeyTypeCreationRules(t *testing.T) {
	modes := []struct {
		how               creation
		name              string
		required, forbids mech.Rule
	}{
		{byCreate, "create", mech.RuleCreateRequired, mech.RuleCreateForbid},
		{byGenerate, "generate", mech.RuleGenRequired, mech.RuleGenForbid},
		{byUnwrap, "unwrap", mech.RuleUnwrapRequired, mech.RuleUnwrapForbid},
	}
	checked := 0
	for _, kt := range mech.KeyTypes() {
		for class, own := range mech.KeyTypeOf(kt).Rules {
			schema := schemas[classKey{class, uint64(kt)}]
			for _, m := range modes {
				// A template with every attribute this kind of creation requires.
				base := []ck.Attribute{ck.NewAttribute(ck.CKA_CLASS, class), ck.NewAttribute(ck.CKA_KEY_TYPE, kt)}
				for a, r := range schema {
					if r.Rules&m.required != 0 && a != ck.CKA_CLASS && a != ck.CKA_KEY_TYPE {
						base = append(base, ck.NewAttribute(a, dummyValue(a)))
					}
				}
				for a, r := range own {
					if r.Rules&m.required != 0 {
						var less []ck.Attribute
						for _, at := range base {
							if at.Type != a {
								less = append(less, at)
							}
						}
						_, err := buildAttrs(less, m.how, nil, false)
						if ck.ToRV(err) != ck.CKR_TEMPLATE_INCOMPLETE {
							t.Errorf("%v %v, %s without %v: %v, want CKR_TEMPLATE_INCOMPLETE", kt, class, m.name, a, ck.ToRV(err))
						}
						checked++
					}
					if r.Rules&m.forbids != 0 {
						more := append(append([]ck.Attribute{}, base...), ck.NewAttribute(a, dummyValue(a)))
						_, err := buildAttrs(more, m.how, nil, false)
						if ck.ToRV(err) != ck.CKR_ATTRIBUTE_READ_ONLY {
							t.Errorf("%v %v, %s with %v: %v, want CKR_ATTRIBUTE_READ_ONLY", kt, class, m.name, a, ck.ToRV(err))
						}
						checked++
					}
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no creation rule checked")
	}
}

// TestKeyTypeRules makes a key of every key type with rules, through the Provider, and checks every rule of
// its own attributes on the objects: a default is the value of an attribute the template left out, a
// sensitive value cannot be read, a modifiable attribute can be set and any other cannot.
func TestKeyTypeRules(t *testing.T) {
	e, done := openSealEngine(t, t.TempDir())
	defer done()
	p, _, so := soSessionOnNewToken(t, e, "key types")
	if err := p.Logout(so); err != nil {
		t.Fatal(err)
	}
	if err := p.Login(so, ck.CKU_USER, enginetest.UserPIN); err != nil {
		t.Fatal(err)
	}
	for _, kt := range mech.KeyTypes() {
		ks := mech.KeyTypeOf(kt)
		if ks.Rules == nil {
			continue
		}
		g, ok := keyTypeGen[kt]
		if !ok {
			t.Errorf("key type %v has rules but no row in keyTypeGen", kt)
			continue
		}
		m := &ck.Mechanism{Type: g.mech}
		objects := map[ck.ObjectClass]ck.ObjectHandle{}
		if _, pair := ks.Rules[ck.CKO_PUBLIC_KEY]; pair {
			pub, priv, err := p.GenerateKeyPair(so, m, g.gen, nil)
			if err != nil {
				t.Errorf("%v: GenerateKeyPair: %v", kt, err)
				continue
			}
			objects[ck.CKO_PUBLIC_KEY], objects[ck.CKO_PRIVATE_KEY] = pub, priv
		} else {
			k, err := p.GenerateKey(so, m, g.gen)
			if err != nil {
				t.Errorf("%v: GenerateKey: %v", kt, err)
				continue
			}
			objects[ck.CKO_SECRET_KEY] = k
		}
		for class, own := range ks.Rules {
			h := objects[class]
			for a, r := range own {
				got, err := p.GetAttributeValue(so, h, ck.Query(4096, a))
				switch {
				case r.Rules&mech.RuleSensitive != 0:
					if ck.ToRV(err) != ck.CKR_ATTRIBUTE_SENSITIVE {
						t.Errorf("%v %v: reading sensitive %v: %v, want CKR_ATTRIBUTE_SENSITIVE", kt, class, a, ck.ToRV(err))
					}
				case err != nil:
					t.Errorf("%v %v: reading %v: %v", kt, class, a, err)
				case r.Default != nil && !bytes.Equal(got[0].Value, r.Default):
					t.Errorf("%v %v: %v is %x, want the default %x", kt, class, a, got[0].Value, r.Default)
				}
				v := dummyValue(a)
				if attrKinds[a] == mech.KindBool {
					v = []byte{1}
				}
				err = p.SetAttributeValue(so, h, []ck.Attribute{ck.NewAttribute(a, v)})
				if r.Rules&mech.RuleModifiable != 0 {
					if err != nil {
						t.Errorf("%v %v: setting modifiable %v: %v", kt, class, a, err)
					}
				} else if ck.ToRV(err) != ck.CKR_ATTRIBUTE_READ_ONLY {
					t.Errorf("%v %v: setting %v: %v, want CKR_ATTRIBUTE_READ_ONLY", kt, class, a, ck.ToRV(err))
				}
			}
		}
	}
}
