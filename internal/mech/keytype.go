package mech

import (
	"fmt"
	"sort"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// Rule is a set of the specification's attribute footnotes (PKCS#11 3.0 section 4.2, Table 10), the rules
// the engine applies to one attribute of an object.
type Rule uint16

// The footnotes, by their number in Table 10.
const (
	RuleCreateRequired Rule = 1 << iota // 1: must be specified when the object is created with C_CreateObject
	RuleCreateForbid                    // 2: must not be specified when the object is created with C_CreateObject
	RuleGenRequired                     // 3: must be specified when the object is generated
	RuleGenForbid                       // 4: must not be specified when the object is generated
	RuleUnwrapRequired                  // 5: must be specified when the object is unwrapped
	RuleUnwrapForbid                    // 6: must not be specified when the object is unwrapped
	RuleSensitive                       // 7: cannot be revealed if CKA_SENSITIVE is true or CKA_EXTRACTABLE false
	RuleModifiable                      // 8: may be modified by C_SetAttributeValue or during C_CopyObject
	RuleSOOnlyTrue                      // 10: can be set to true only by the SO
	RuleOnlyToTrue                      // 11: cannot be changed once set to true
	RuleOnlyToFalse                     // 12: cannot be changed once set to false
	RuleCopyOnly                        // may be changed during C_CopyObject only (CKA_TOKEN, CKA_PRIVATE, ...)
)

// Kind is how an attribute's value is laid out; the engine refuses a template value of another layout
// (CKR_ATTRIBUTE_VALUE_INVALID).
type Kind uint8

// The layouts.
const (
	KindBytes    Kind = iota // any byte string (including UTF-8 strings)
	KindBool                 // CK_BBOOL: one byte, 0 or 1
	KindULong                // CK_ULONG: 8 bytes, host order
	KindDate                 // CK_DATE: empty or 8 ASCII digits YYYYMMDD
	KindTemplate             // an attribute array (CKF_ARRAY_ATTRIBUTE)
	KindMechs                // CK_MECHANISM_TYPE array: a multiple of 8 bytes
)

// AttrRule is one attribute an object may carry: its layout, its rules and its default (nil: the attribute
// is absent unless given). The engine's class tables leave Kind to the engine's list of attribute layouts; a
// key type's rules give the layout of every attribute they name, which is how the engine learns the
// attribute types a key type brings (those it already knows must agree).
type AttrRule struct {
	Kind    Kind
	Rules   Rule
	Default []byte
}

// AttrRules maps the attributes an object may carry to their rules.
type AttrRules map[ck.AttributeType]AttrRule

// Merge returns the union of sets; where two name the same attribute, the later set wins.
func Merge(sets ...AttrRules) AttrRules {
	out := AttrRules{}
	for _, s := range sets {
		for k, v := range s {
			out[k] = v
		}
	}
	return out
}

// UsageOff gives usage attributes a CK_FALSE default, for the operations a key type does not have (an EC
// public key does not encrypt, an ML-KEM key does not sign). The application may still set them; the
// mechanisms decide.
func UsageOff(types ...ck.AttributeType) AttrRules {
	s := AttrRules{}
	for _, t := range types {
		s[t] = AttrRule{Kind: KindBool, Rules: RuleModifiable, Default: []byte{0}}
	}
	return s
}

// pairUsage is the usage defaults of a key pair's two halves.
type pairUsage struct{ public, private AttrRules }

// The usage defaults of key pairs by what the key type does: sign (ECDSA, EdDSA, ML-DSA), agree on a key
// (X25519, X448) or encapsulate one (ML-KEM).
var (
	signerUsage = pairUsage{
		public:  UsageOff(ck.CKA_ENCRYPT, ck.CKA_WRAP, ck.CKA_VERIFY_RECOVER, ck.CKA_ENCAPSULATE),
		private: UsageOff(ck.CKA_DECRYPT, ck.CKA_UNWRAP, ck.CKA_SIGN_RECOVER, ck.CKA_DECAPSULATE),
	}
	dhUsage = pairUsage{
		public:  UsageOff(ck.CKA_ENCRYPT, ck.CKA_WRAP, ck.CKA_VERIFY, ck.CKA_VERIFY_RECOVER, ck.CKA_ENCAPSULATE),
		private: UsageOff(ck.CKA_DECRYPT, ck.CKA_UNWRAP, ck.CKA_SIGN, ck.CKA_SIGN_RECOVER, ck.CKA_DECAPSULATE),
	}
	kemUsage = pairUsage{
		public:  UsageOff(ck.CKA_ENCRYPT, ck.CKA_WRAP, ck.CKA_VERIFY, ck.CKA_VERIFY_RECOVER),
		private: UsageOff(ck.CKA_DECRYPT, ck.CKA_UNWRAP, ck.CKA_SIGN, ck.CKA_SIGN_RECOVER),
	}
)

// pairRules are the Rules of a key-pair type: the value attributes of its public and private keys, each
// with the usage defaults of its half.
func pairRules(public, private AttrRules, u pairUsage) map[ck.ObjectClass]AttrRules {
	return map[ck.ObjectClass]AttrRules{
		ck.CKO_PUBLIC_KEY:  Merge(public, u.public),
		ck.CKO_PRIVATE_KEY: Merge(private, u.private),
	}
}

// secretRules are the Rules of a secret key type.
func secretRules(r AttrRules) map[ck.ObjectClass]AttrRules {
	return map[ck.ObjectClass]AttrRules{ck.CKO_SECRET_KEY: r}
}

// secretValueRules are the value attributes of a secret key that is a byte string (AES, generic secret):
// CKA_VALUE, given on import and made by generation, and CKA_VALUE_LEN, given on generation and derived
// from the value otherwise (the key type's Check).
var secretValueRules = AttrRules{
	ck.CKA_VALUE:     {Rules: RuleCreateRequired | RuleGenForbid | RuleUnwrapForbid | RuleSensitive},
	ck.CKA_VALUE_LEN: {Kind: KindULong, Rules: RuleCreateForbid | RuleGenRequired},
}

// KeyTypeSpec is a key type's registration, in its family's file beside the mechanisms that use it.
type KeyTypeSpec struct {
	Type ck.KeyType
	// Rules are the key type's own attributes, by the classes its objects have (CKO_PUBLIC_KEY and
	// CKO_PRIVATE_KEY for a key pair, CKO_SECRET_KEY for a secret key): the key values, with the footnotes
	// that say when each must or must not be given and which are sensitive, and the usage defaults that
	// follow from what the key type does. The engine adds the attributes every key of the class carries
	// (engine, policy.go); the key type's rules win where both name an attribute. A key type without Rules
	// is one that mechanisms accept as a key type name but no object has: creating one answers
	// CKR_ATTRIBUTE_VALUE_INVALID.
	Rules map[ck.ObjectClass]AttrRules
	// Check validates the attributes of an imported key (C_CreateObject, C_UnwrapKey) of class
	// CKO_PUBLIC_KEY, CKO_PRIVATE_KEY or CKO_SECRET_KEY, and of every secret key however it was made, and
	// returns attributes to add that follow from the value (CKA_MODULUS_BITS of an RSA public key,
	// CKA_VALUE_LEN of a secret key). It answers CKR_ATTRIBUTE_VALUE_INVALID (or CKR_TEMPLATE_INCONSISTENT,
	// CKR_CURVE_NOT_SUPPORTED) for a value that is not a valid key: an AES key of another length than 16, 24
	// or 32 bytes, an empty generic secret, an EC point off its curve.
	Check func(class ck.ObjectClass, a Attrs) (Attrs, error)
	// PKCS8 encodes a private key's attributes as a PKCS#8 PrivateKeyInfo, for wrapping.
	PKCS8 func(a Attrs) ([]byte, error)
	// ParsePKCS8 decodes an unwrapped PKCS#8 PrivateKeyInfo into the key's attributes.
	ParsePKCS8 func(der []byte) (Attrs, error)
}

var keyTypes = map[ck.KeyType]*KeyTypeSpec{}

// RegisterKeyType adds a key type. It panics on a duplicate or on Rules for classes a key type cannot have
// (not a key class; a public key without its private half or the other way round; a secret key beside a
// key pair), so a wrong registration fails every test at once.
func RegisterKeyType(k *KeyTypeSpec) {
	if _, dup := keyTypes[k.Type]; dup {
		panic(fmt.Sprintf("mech: key type %v registered twice", k.Type))
	}
	_, pub := k.Rules[ck.CKO_PUBLIC_KEY]
	_, priv := k.Rules[ck.CKO_PRIVATE_KEY]
	_, secret := k.Rules[ck.CKO_SECRET_KEY]
	pairs := pub && priv && !secret && len(k.Rules) == 2
	secrets := secret && len(k.Rules) == 1
	if len(k.Rules) != 0 && !pairs && !secrets {
		panic(fmt.Sprintf("mech: key type %v: rules for classes %v", k.Type, k.Rules))
	}
	keyTypes[k.Type] = k
}

// KeyTypeOf returns a key type's registration, or nil.
func KeyTypeOf(t ck.KeyType) *KeyTypeSpec { return keyTypes[t] }

// KeyTypes returns every registered key type, in numeric order.
func KeyTypes() []ck.KeyType {
	out := make([]ck.KeyType, 0, len(keyTypes))
	for t := range keyTypes {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
