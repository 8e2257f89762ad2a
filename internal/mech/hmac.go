package mech

import (
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"hash"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// HMAC (PKCS#11 3.0 mechanisms, the "SHA-1", "SHA-224", "SHA-256", "SHA-384", "SHA-512" and "SHA3-*"
// sections; 3.2 "Hash-Based Message Authentication Codes"): CKM_<hash>_HMAC (no parameter, full-length MAC)
// and CKM_<hash>_HMAC_GENERAL (a CK_MAC_GENERAL_PARAMS: the MAC length in bytes, 1..hash size), for
// SHA-1, SHA-224, SHA-256, SHA-384, SHA-512 and SHA3-224 ... SHA3-512. They sign and verify, single and
// multi-part, with a generic secret key or the hash's own CKK_<hash>_HMAC key.
//
// Generic secrets: the key type CKK_GENERIC_SECRET and its generation mechanism CKM_GENERIC_SECRET_KEY_GEN.
// The HMAC key types CKK_<hash>_HMAC of the hashes above share its attribute checks.

// hmacMaxKey is the largest HMAC key this token takes, in bytes (CK_MECHANISM_INFO ulMaxKeySize; the spec
// gives HMAC key sizes in bytes). HMAC itself takes any length.
const hmacMaxKey = 512

// hmacFamily describes one hash's HMAC mechanisms.
type hmacFamily struct {
	mac, general ck.MechanismType
	keyType      ck.KeyType
	hash         crypto.Hash
}

var hmacFamilies = []hmacFamily{
	{ck.CKM_SHA_1_HMAC, ck.CKM_SHA_1_HMAC_GENERAL, ck.CKK_SHA_1_HMAC, crypto.SHA1},
	{ck.CKM_SHA224_HMAC, ck.CKM_SHA224_HMAC_GENERAL, ck.CKK_SHA224_HMAC, crypto.SHA224},
	{ck.CKM_SHA256_HMAC, ck.CKM_SHA256_HMAC_GENERAL, ck.CKK_SHA256_HMAC, crypto.SHA256},
	{ck.CKM_SHA384_HMAC, ck.CKM_SHA384_HMAC_GENERAL, ck.CKK_SHA384_HMAC, crypto.SHA384},
	{ck.CKM_SHA512_HMAC, ck.CKM_SHA512_HMAC_GENERAL, ck.CKK_SHA512_HMAC, crypto.SHA512},
	{ck.CKM_SHA3_224_HMAC, ck.CKM_SHA3_224_HMAC_GENERAL, ck.CKK_SHA3_224_HMAC, crypto.SHA3_224},
	{ck.CKM_SHA3_256_HMAC, ck.CKM_SHA3_256_HMAC_GENERAL, ck.CKK_SHA3_256_HMAC, crypto.SHA3_256},
	{ck.CKM_SHA3_384_HMAC, ck.CKM_SHA3_384_HMAC_GENERAL, ck.CKK_SHA3_384_HMAC, crypto.SHA3_384},
	{ck.CKM_SHA3_512_HMAC, ck.CKM_SHA3_512_HMAC_GENERAL, ck.CKK_SHA3_512_HMAC, crypto.SHA3_512},
}

// hmacPRF maps an HMAC mechanism (the PRF of SP 800-108, the prfHashMechanism's HMAC of HKDF) to its family.
func hmacPRF(m ck.MechanismType) (hmacFamily, bool) {
	for _, f := range hmacFamilies {
		if f.mac == m {
			return f, true
		}
	}
	return hmacFamily{}, false
}

// hmacHashFunc returns a constructor of h for crypto/hmac, crypto/hkdf and crypto/pbkdf2.
func hmacHashFunc(h crypto.Hash) func() hash.Hash {
	return func() hash.Hash { return NewHash(h) }
}

// newHMAC keys an HMAC with a key object's CKA_VALUE.
func newHMAC(h crypto.Hash, k *Key) (hash.Hash, error) {
	key := k.Attrs[ck.CKA_VALUE]
	if len(key) == 0 || len(key) > hmacMaxKey {
		return nil, ck.CKR_KEY_SIZE_RANGE
	}
	return hmac.New(hmacHashFunc(h), key), nil
}

// hmacMACLen decodes the parameter of an HMAC mechanism: none for the full-length form, a CK_MAC_GENERAL_PARAMS
// (one CK_ULONG, 1..hash size) for the general-length form.
func hmacMACLen(p Param, general bool, size int) (int, error) {
	if !general {
		if p.Present {
			return 0, ck.CKR_MECHANISM_PARAM_INVALID
		}
		return size, nil
	}
	if !p.Present || len(p.Raw) != 8 {
		return 0, ck.CKR_MECHANISM_PARAM_INVALID
	}
	n, _ := RawULong(p.Raw, 0)
	if n < 1 || n > uint64(size) {
		return 0, ck.CKR_MECHANISM_PARAM_INVALID
	}
	return int(n), nil
}

// hmacSigner is a running HMAC signature (single-part signing is Update then Final).
type hmacSigner struct {
	mac hash.Hash
	n   int
}

func (s *hmacSigner) Update(in []byte) ([]byte, error) {
	s.mac.Write(in)
	return nil, nil
}

func (s *hmacSigner) Final() ([]byte, error) {
	sum := s.mac.Sum(nil)
	out := append([]byte(nil), sum[:s.n]...)
	clear(sum)
	return out, nil
}

// hmacVerifier is a running HMAC verification.
type hmacVerifier struct {
	mac hash.Hash
	n   int
}

func (v *hmacVerifier) Update(in []byte) error {
	v.mac.Write(in)
	return nil
}

func (v *hmacVerifier) Final(signature []byte) error {
	if len(signature) != v.n {
		return ck.CKR_SIGNATURE_LEN_RANGE
	}
	sum := v.mac.Sum(nil)
	defer clear(sum)
	if !hmac.Equal(sum[:v.n], signature) {
		return ck.CKR_SIGNATURE_INVALID
	}
	return nil
}

// registerHMAC registers the full-length (general false) or general-length HMAC mechanism of a family.
func registerHMAC(f hmacFamily, general bool) {
	m := f.mac
	if general {
		m = f.general
	}
	size := f.hash.Size()
	Register(&Spec{
		Type:     m,
		Info:     ck.MechanismInfo{MinKeySize: 1, MaxKeySize: hmacMaxKey, Flags: ck.CKF_SIGN | ck.CKF_VERIFY},
		KeyTypes: []ck.KeyType{ck.CKK_GENERIC_SECRET, f.keyType},
		Sign: func(p Param, k *Key) (Operation, error) {
			n, err := hmacMACLen(p, general, size)
			if err != nil {
				return nil, err
			}
			mac, err := newHMAC(f.hash, k)
			if err != nil {
				return nil, err
			}
			return &hmacSigner{mac: mac, n: n}, nil
		},
		Verify: func(p Param, k *Key) (Verifier, error) {
			n, err := hmacMACLen(p, general, size)
			if err != nil {
				return nil, err
			}
			mac, err := newHMAC(f.hash, k)
			if err != nil {
				return nil, err
			}
			return &hmacVerifier{mac: mac, n: n}, nil
		},
	})
}

// checkGenericSecret is the Check of generic secret keys and the secret key types that are a plain byte string of
// any length (CKK_<hash>_HMAC, CKK_HKDF): a non-empty CKA_VALUE; it returns CKA_VALUE_LEN.
func checkGenericSecret(class ck.ObjectClass, a Attrs) (Attrs, error) {
	if class != ck.CKO_SECRET_KEY {
		return nil, ck.CKR_TEMPLATE_INCONSISTENT
	}
	v, ok := a[ck.CKA_VALUE]
	if !ok {
		return nil, ck.CKR_TEMPLATE_INCOMPLETE
	}
	if len(v) == 0 {
		return nil, ck.CKR_ATTRIBUTE_VALUE_INVALID
	}
	if _, present := a[ck.CKA_VALUE_LEN]; present {
		if n, ok := GetULong(a, ck.CKA_VALUE_LEN); !ok || n != uint64(len(v)) {
			return nil, ck.CKR_TEMPLATE_INCONSISTENT
		}
	}
	return Attrs{ck.CKA_VALUE_LEN: ck.ULong(uint64(len(v)))}, nil
}

// secretKeyGenMax is the longest secret CKM_GENERIC_SECRET_KEY_GEN and CKM_HKDF_KEY_GEN make, in bytes.
const secretKeyGenMax = 512

// genGenericSecret makes a random secret of the template's CKA_VALUE_LEN bytes (required, 1..secretKeyGenMax),
// the key generation of mechanisms without a parameter (CKM_GENERIC_SECRET_KEY_GEN, CKM_HKDF_KEY_GEN).
func genGenericSecret(p Param, template Attrs) (Attrs, error) {
	if p.Present {
		return nil, ck.CKR_MECHANISM_PARAM_INVALID
	}
	if _, present := template[ck.CKA_VALUE_LEN]; !present {
		return nil, ck.CKR_TEMPLATE_INCOMPLETE
	}
	n, ok := GetULong(template, ck.CKA_VALUE_LEN)
	if !ok || n < 1 || n > secretKeyGenMax {
		return nil, ck.CKR_ATTRIBUTE_VALUE_INVALID
	}
	v := make([]byte, n)
	if _, err := rand.Read(v); err != nil {
		return nil, ck.CKR_FUNCTION_FAILED
	}
	return Attrs{ck.CKA_VALUE: v}, nil
}

func init() {
	RegisterKeyType(&KeyTypeSpec{Type: ck.CKK_GENERIC_SECRET, Rules: secretRules(secretValueRules),
		Check: checkGenericSecret})
	for _, f := range hmacFamilies {
		// The CKK_<hash>_HMAC key types name keys for their HMAC mechanisms; Keyward keeps no objects of
		// them (no Rules): generic secret keys serve every HMAC.
		RegisterKeyType(&KeyTypeSpec{Type: f.keyType, Check: checkGenericSecret})
		registerHMAC(f, false)
		registerHMAC(f, true)
	}
	// The generic secret key generation's key sizes are in bits (3.0 "Generic secret key generation").
	Register(&Spec{
		Type:        ck.CKM_GENERIC_SECRET_KEY_GEN,
		Info:        ck.MechanismInfo{MinKeySize: 8, MaxKeySize: 8 * secretKeyGenMax, Flags: ck.CKF_GENERATE},
		GenKeyType:  ck.CKK_GENERIC_SECRET,
		GenerateKey: genGenericSecret,
	})
}
