// Package mech is Keyward's mechanism registry. Every mechanism registers a Spec: its CK_MECHANISM_INFO and
// the operations it supports; every key type registers a KeyTypeSpec (keytype.go): the attributes its objects
// carry and their rules, how imported values are checked and how private keys are wrapped. The engine looks
// mechanisms and key types up here and drives them; it keeps the operation state, the key policy and the
// length convention, so a mechanism only computes.
//
// One family of mechanisms per file (rsa*.go, ec.go, eddsa.go, aes*.go, hmac.go, digest.go, kdf.go, pqc.go),
// each registering its mechanisms and key types from an init function, the key type's rules beside its
// mechanisms. Errors returned are ck.RV values with the codes
// the PKCS#11 specification names (CKR_MECHANISM_PARAM_INVALID, CKR_DATA_LEN_RANGE, CKR_SIGNATURE_INVALID,
// CKR_KEY_SIZE_RANGE ...); anything else becomes CKR_FUNCTION_FAILED.
package mech

import (
	"fmt"
	"sort"
	"sync"

	"github.com/keyward/keyward/internal/wire"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// Attrs is an attribute map: attribute type to value (CK_ULONG values in host byte order, CK_BBOOL one byte).
type Attrs = map[ck.AttributeType][]byte

// Key is a key object as a mechanism sees it. Attrs must not be modified.
type Key struct {
	Class ck.ObjectClass
	Type  ck.KeyType
	Attrs Attrs
	cache *Cache
}

// NewKey makes the mechanism view of a key object. cache may be nil; the engine passes the object's own so
// parsed keys survive between operations.
func NewKey(class ck.ObjectClass, typ ck.KeyType, attrs Attrs, cache *Cache) *Key {
	if cache == nil {
		cache = &Cache{}
	}
	return &Key{Class: class, Type: typ, Attrs: attrs, cache: cache}
}

// Cache keeps parsed forms of a key object (an *rsa.PrivateKey with its precomputed values, a parsed curve
// point) between operations. The engine keeps one per object and replaces it when the object changes.
type Cache struct {
	mu sync.Mutex
	v  map[string]any
}

// Parsed returns the parsed form of the key named name, building it with parse the first time.
func (k *Key) Parsed(name string, parse func() (any, error)) (any, error) {
	k.cache.mu.Lock()
	defer k.cache.mu.Unlock()
	if v, ok := k.cache.v[name]; ok {
		return v, nil
	}
	v, err := parse()
	if err != nil {
		return nil, err
	}
	if k.cache.v == nil {
		k.cache.v = map[string]any{}
	}
	k.cache.v[name] = v
	return v, nil
}

// Param is a mechanism's parameter. For mechanisms with a layout in internal/wire/params.def, S holds the
// decoded structure; otherwise Raw holds the bytes (a pointer-free structure in the C ABI layout, or a byte
// string such as an IV). Present is false for a NULL pParameter.
type Param struct {
	Present bool
	Raw     []byte
	S       *wire.Params
}

// NewParam decodes a mechanism's parameter as received from a client.
func NewParam(m *ck.Mechanism) (Param, error) {
	if m.Parameter == nil {
		return Param{}, nil
	}
	// A copy: operations keep their parameter (an IV, a nonce) beyond the request that carried it.
	p := Param{Present: true, Raw: append([]byte{}, m.Parameter...)}
	if wire.LayoutOf(m.Type) != nil {
		s, err := wire.DecodeParams(m.Type, p.Raw)
		if err != nil {
			return Param{}, ck.CKR_MECHANISM_PARAM_INVALID
		}
		p.S = s
	}
	return p, nil
}

// Operation is a running operation that produces output: encryption, decryption, signing, digesting.
type Operation interface {
	// Update processes one part and returns the output it makes (possibly none).
	Update(in []byte) ([]byte, error)
	// Final finishes the operation and returns the rest of the output (a signature, the last blocks).
	Final() ([]byte, error)
}

// Single is implemented by operations whose single-part call (C_Encrypt, C_Sign, C_Digest ...) is not
// Update followed by Final, and by operations that have no multi-part form at all (their Update returns
// CKR_FUNCTION_NOT_SUPPORTED ... or buffers, as the mechanism's specification says).
type Single interface {
	Single(in []byte) ([]byte, error)
}

// Verifier is a running verification.
type Verifier interface {
	Update(in []byte) error
	// Final checks the signature over everything given to Update.
	Final(signature []byte) error
}

// SingleVerifier is implemented by verifiers whose single-part C_Verify differs from Update and Final.
type SingleVerifier interface {
	Verify(data, signature []byte) error
}

// Resolver looks up another key object for a mechanism whose parameter names one (HKDF's salt key).
type Resolver func(ck.ObjectHandle) (*Key, error)

// Spec is a mechanism's registration. Nil functions are operations the mechanism does not do; Info.Flags
// must agree with them (Register checks).
type Spec struct {
	Type ck.MechanismType
	Info ck.MechanismInfo
	// KeyTypes are the key types the mechanism's key-using operations accept; another type gets
	// CKR_KEY_TYPE_INCONSISTENT.
	KeyTypes []ck.KeyType

	Encrypt       func(p Param, k *Key) (Operation, error)
	Decrypt       func(p Param, k *Key) (Operation, error)
	Sign          func(p Param, k *Key) (Operation, error)
	Verify        func(p Param, k *Key) (Verifier, error)
	SignRecover   func(p Param, k *Key) (Single, error)
	VerifyRecover func(p Param, k *Key) (Single, error)
	Digest        func(p Param) (Operation, error)

	// GenKeyType is the key type GenerateKey and GenerateKeyPair make.
	GenKeyType ck.KeyType
	// KeyTypeFromTemplate says GenerateKey makes a secret key of whatever type the template's CKA_KEY_TYPE
	// names (required: CKR_TEMPLATE_INCOMPLETE without it) instead of GenKeyType: PKCS #5 PBKDF2 derives key
	// material for any symmetric key type.
	KeyTypeFromTemplate bool
	// GenerateKey makes a secret key from the template (CKA_VALUE_LEN ...) and returns the attributes the
	// mechanism sets: the key value, and nothing the template already says.
	GenerateKey func(p Param, template Attrs) (Attrs, error)
	// GenerateKeyPair makes a key pair and returns the attributes of the public and the private key the
	// mechanism sets (key values, CKA_EC_POINT, CKA_MODULUS ...).
	GenerateKeyPair func(p Param, public, private Attrs) (pub, priv Attrs, err error)
	// Derive derives a key from base and returns the new key's CKA_VALUE (the engine sizes it from the
	// template's CKA_VALUE_LEN and key type, given in template).
	Derive func(p Param, base *Key, template Attrs, resolve Resolver) ([]byte, error)
	// DeriveFromData says Derive also takes a data object (CKO_DATA) as its base key material, as HKDF does
	// (PKCS#11 3.0): its CKA_VALUE is the input.
	DeriveFromData bool
	// DerivesData says Derive makes a data object (CKO_DATA, its CKA_VALUE the output) instead of a secret
	// key: CKM_HKDF_DATA (PKCS#11 3.0).
	DerivesData bool
	// SecretKeyType is the key type of the secret key Derive, Encapsulate and Decapsulate make when the
	// template names none. Every mechanism that makes a secret key sets it; the others leave it 0 (CKK_RSA,
	// which is no secret key type).
	SecretKeyType ck.KeyType
	// Wrap encrypts a key's encoding (a secret key's value, a private key's PKCS#8) under wrapping.
	Wrap func(p Param, wrapping *Key, plain []byte) ([]byte, error)
	// Unwrap decrypts what Wrap made.
	Unwrap func(p Param, unwrapping *Key, wrapped []byte) ([]byte, error)
	// UnwrapLen is how what Unwrap returns holds the key when the template gives CKA_VALUE_LEN (unwrap.go):
	// zero-padded (AES-ECB, AES-CBC, RFC 3394 key wrap), the trailing bytes (raw RSA), or all of it.
	UnwrapLen UnwrapLen
	// Encapsulate makes a shared secret and its ciphertext for a public key (C_EncapsulateKey).
	Encapsulate func(p Param, public *Key) (ciphertext, secret []byte, err error)
	// Decapsulate recovers the shared secret (C_DecapsulateKey).
	Decapsulate func(p Param, private *Key, ciphertext []byte) ([]byte, error)
}

var mechs = map[ck.MechanismType]*Spec{}

// flagFuncs pairs each operation flag with whether the Spec implements it.
func flagFuncs(s *Spec) map[uint64]bool {
	return map[uint64]bool{
		ck.CKF_ENCRYPT:           s.Encrypt != nil,
		ck.CKF_DECRYPT:           s.Decrypt != nil,
		ck.CKF_SIGN:              s.Sign != nil,
		ck.CKF_VERIFY:            s.Verify != nil,
		ck.CKF_SIGN_RECOVER:      s.SignRecover != nil,
		ck.CKF_VERIFY_RECOVER:    s.VerifyRecover != nil,
		ck.CKF_DIGEST:            s.Digest != nil,
		ck.CKF_GENERATE:          s.GenerateKey != nil,
		ck.CKF_GENERATE_KEY_PAIR: s.GenerateKeyPair != nil,
		ck.CKF_DERIVE:            s.Derive != nil,
		ck.CKF_WRAP:              s.Wrap != nil,
		ck.CKF_UNWRAP:            s.Unwrap != nil,
		ck.CKF_ENCAPSULATE:       s.Encapsulate != nil,
		ck.CKF_DECAPSULATE:       s.Decapsulate != nil,
	}
}

// Register adds a mechanism. It panics on a duplicate or on flags that disagree with the functions, so a
// wrong registration fails every test at once.
func Register(s *Spec) {
	if _, dup := mechs[s.Type]; dup {
		panic(fmt.Sprintf("mech: %v registered twice", s.Type))
	}
	for flag, has := range flagFuncs(s) {
		if has != (s.Info.Flags&flag != 0) {
			panic(fmt.Sprintf("mech: %v: flag %#x does not match its functions", s.Type, flag))
		}
	}
	if s.KeyTypeFromTemplate && s.GenerateKey == nil || (s.DeriveFromData || s.DerivesData) && s.Derive == nil ||
		s.UnwrapLen != UnwrapWhole && s.Unwrap == nil {
		panic(fmt.Sprintf("mech: %v: KeyTypeFromTemplate, DeriveFromData, DerivesData or UnwrapLen without the operation", s.Type))
	}
	if makesSecret := s.Derive != nil && !s.DerivesData || s.Encapsulate != nil || s.Decapsulate != nil; makesSecret != (s.SecretKeyType != 0) {
		panic(fmt.Sprintf("mech: %v: SecretKeyType %v does not match the secrets it makes", s.Type, s.SecretKeyType))
	}
	mechs[s.Type] = s
}

// Buffering is implemented by the operations that keep their multi-part input until Final (AES-GCM and
// AES-CCM, pure EdDSA and Ed448ph, ML-DSA): the engine bounds what they hold (engine, buffer.go).
type Buffering interface {
	// Buffers reports whether the operation keeps what its Updates are given.
	Buffers() bool
}

// Lookup returns a mechanism's registration, or nil.
func Lookup(m ck.MechanismType) *Spec { return mechs[m] }

// List returns every registered mechanism, in numeric order (C_GetMechanismList).
func List() []ck.MechanismType {
	out := make([]ck.MechanismType, 0, len(mechs))
	for m := range mechs {
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// AcceptsKey reports whether the mechanism works with keys of type t.
func (s *Spec) AcceptsKey(t ck.KeyType) bool {
	for _, k := range s.KeyTypes {
		if k == t {
			return true
		}
	}
	return false
}
