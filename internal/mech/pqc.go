package mech

import (
	"bytes"
	"crypto/rand"
	"crypto/sha3"
	"crypto/subtle"
	"encoding"
	encasn1 "encoding/asn1"

	"github.com/cloudflare/circl/kem"
	"github.com/cloudflare/circl/kem/mlkem/mlkem1024"
	"github.com/cloudflare/circl/kem/mlkem/mlkem512"
	"github.com/cloudflare/circl/kem/mlkem/mlkem768"
	"github.com/cloudflare/circl/sign"
	"github.com/cloudflare/circl/sign/mldsa/mldsa44"
	"github.com/cloudflare/circl/sign/mldsa/mldsa65"
	"github.com/cloudflare/circl/sign/mldsa/mldsa87"
	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// Post-quantum mechanisms of PKCS#11 3.2: ML-DSA (FIPS 204) and ML-KEM (FIPS 203).
//
//   - Key types CKK_ML_DSA and CKK_ML_KEM. Public keys: CKA_PARAMETER_SET and CKA_VALUE (the FIPS encoding of
//     pk / ek). Private keys: CKA_PARAMETER_SET, CKA_SEED (ML-DSA: the 32-byte ξ of ML-DSA.KeyGen; ML-KEM: the
//     64-byte d‖z of ML-KEM.KeyGen) and CKA_VALUE (the expanded FIPS encoding of sk / dk). The specification
//     requires at least one of CKA_SEED and CKA_VALUE on C_CreateObject; Check derives CKA_VALUE from a lone
//     seed and checks that both agree when both are given. Generated private keys get both.
//   - CKM_ML_DSA_KEY_PAIR_GEN and CKM_ML_KEM_KEY_PAIR_GEN: the parameter set comes from the public template.
//   - CKM_ML_DSA: pure ML-DSA (FIPS 204 algorithms 2 and 3), optional CK_SIGN_ADDITIONAL_CONTEXT. Multi-part
//     operations buffer the message (ML-DSA hashes tr before the message, so the whole message is needed).
//   - CKM_ML_KEM: C_EncapsulateKey / C_DecapsulateKey, no parameter; the shared secret is 32 bytes.
//
// CK_MECHANISM_INFO: the specification gives ulMinKeySize/ulMaxKeySize for every ML-DSA and ML-KEM mechanism
// as the range of supported public key sizes in bytes.
//
// One implementation, Cloudflare CIRCL, serves all three parameter sets of each algorithm. Go's crypto/mlkem
// has no ML-KEM-512 and can only build a decapsulation key from its 64-byte seed, while a PKCS#11 private key
// may arrive with only its expanded CKA_VALUE; the tests use crypto/mlkem as an independent cross-check.
//
// HashML-DSA (CKM_HASH_ML_DSA*) and the external-mu mechanisms are not provided: CIRCL exposes only the pure
// ML-DSA signing interface, and their parameters have no layout in internal/wire/params.def.

const (
	mldsaSeedSize = 32
	mlkemSeedSize = 64
	mlkemSecret   = 32
	mldsaMaxCtx   = 255
)

// pqcParams is what every ML-DSA and ML-KEM parameter set has.
type pqcParams struct {
	param    uint64
	oid      encasn1.ObjectIdentifier
	seedSize int // CKA_SEED: ξ or d‖z
	skSize   int // CKA_VALUE of a private key: the expanded sk or dk
}

func (p *pqcParams) params() *pqcParams { return p }

// pqcSet is an ML-DSA or ML-KEM parameter set: the key checks, PKCS#8 encoding and key objects below serve
// both algorithms through it.
type pqcSet interface {
	params() *pqcParams
	// fromSeed derives the key pair of a seed and returns the packed keys.
	fromSeed(seed []byte) (pk, sk []byte)
	// checkPrivate validates an expanded private key that came without its seed.
	checkPrivate(sk []byte) error
	// publicOf returns the packed public key that an expanded private key implies.
	publicOf(sk []byte) ([]byte, error)
	// parsePublic, parsePrivate and derivePrivate return CIRCL's keys (sign.* or kem.*).
	parsePublic(pk []byte) (any, error)
	parsePrivate(sk []byte) (any, error)
	derivePrivate(seed []byte) any
}

// mldsaSet describes one ML-DSA parameter set.
type mldsaSet struct {
	pqcParams
	scheme     sign.Scheme
	eta, l, k  int // FIPS 204 table 1
	pkSize     int
	sigSize    int
	signTo     func(sk sign.PrivateKey, msg, ctx []byte, randomized bool, sig []byte) error
	verifyWith func(pk sign.PublicKey, msg, ctx, sig []byte) bool
}

var mldsaSets = []*mldsaSet{
	{
		pqcParams: pqcParams{
			param: ck.CKP_ML_DSA_44, oid: encasn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 3, 17},
			seedSize: mldsaSeedSize, skSize: mldsa44.PrivateKeySize,
		},
		scheme: mldsa44.Scheme(), eta: 2, l: 4, k: 4,
		pkSize: mldsa44.PublicKeySize, sigSize: mldsa44.SignatureSize,
		signTo: func(sk sign.PrivateKey, msg, ctx []byte, rnd bool, sig []byte) error {
			return mldsa44.SignTo(sk.(*mldsa44.PrivateKey), msg, ctx, rnd, sig)
		},
		verifyWith: func(pk sign.PublicKey, msg, ctx, sig []byte) bool {
			return mldsa44.Verify(pk.(*mldsa44.PublicKey), msg, ctx, sig)
		},
	},
	{
		pqcParams: pqcParams{
			param: ck.CKP_ML_DSA_65, oid: encasn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 3, 18},
			seedSize: mldsaSeedSize, skSize: mldsa65.PrivateKeySize,
		},
		scheme: mldsa65.Scheme(), eta: 4, l: 5, k: 6,
		pkSize: mldsa65.PublicKeySize, sigSize: mldsa65.SignatureSize,
		signTo: func(sk sign.PrivateKey, msg, ctx []byte, rnd bool, sig []byte) error {
			return mldsa65.SignTo(sk.(*mldsa65.PrivateKey), msg, ctx, rnd, sig)
		},
		verifyWith: func(pk sign.PublicKey, msg, ctx, sig []byte) bool {
			return mldsa65.Verify(pk.(*mldsa65.PublicKey), msg, ctx, sig)
		},
	},
	{
		pqcParams: pqcParams{
			param: ck.CKP_ML_DSA_87, oid: encasn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 3, 19},
			seedSize: mldsaSeedSize, skSize: mldsa87.PrivateKeySize,
		},
		scheme: mldsa87.Scheme(), eta: 2, l: 7, k: 8,
		pkSize: mldsa87.PublicKeySize, sigSize: mldsa87.SignatureSize,
		signTo: func(sk sign.PrivateKey, msg, ctx []byte, rnd bool, sig []byte) error {
			return mldsa87.SignTo(sk.(*mldsa87.PrivateKey), msg, ctx, rnd, sig)
		},
		verifyWith: func(pk sign.PublicKey, msg, ctx, sig []byte) bool {
			return mldsa87.Verify(pk.(*mldsa87.PublicKey), msg, ctx, sig)
		},
	},
}

// mlkemSet describes one ML-KEM parameter set.
type mlkemSet struct {
	pqcParams
	scheme kem.Scheme
	k      int // FIPS 203 table 2
}

var mlkemSets = []*mlkemSet{
	{pqcParams: pqcParams{param: ck.CKP_ML_KEM_512, oid: encasn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 4, 1},
		seedSize: mlkemSeedSize, skSize: mlkem512.PrivateKeySize}, scheme: mlkem512.Scheme(), k: 2},
	{pqcParams: pqcParams{param: ck.CKP_ML_KEM_768, oid: encasn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 4, 2},
		seedSize: mlkemSeedSize, skSize: mlkem768.PrivateKeySize}, scheme: mlkem768.Scheme(), k: 3},
	{pqcParams: pqcParams{param: ck.CKP_ML_KEM_1024, oid: encasn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 4, 3},
		seedSize: mlkemSeedSize, skSize: mlkem1024.PrivateKeySize}, scheme: mlkem1024.Scheme(), k: 4},
}

// pqcFind returns the parameter set of sets that match accepts.
func pqcFind[S pqcSet](sets []S, match func(p *pqcParams) bool) (S, bool) {
	for _, s := range sets {
		if match(s.params()) {
			return s, true
		}
	}
	var none S
	return none, false
}

// pqcAlg is ML-DSA or ML-KEM: its parameter sets S and CIRCL's key types Pub and Priv. Its methods are the
// key type's and the key pair generation mechanism's functions, and the operations' key lookups.
type pqcAlg[S pqcSet, Pub, Priv any] struct {
	sets              []S
	pubName, privName string // the names the parsed keys are cached under in a key object
}

var (
	mldsaAlg = &pqcAlg[*mldsaSet, sign.PublicKey, sign.PrivateKey]{mldsaSets, "mldsa.public", "mldsa.private"}
	mlkemAlg = &pqcAlg[*mlkemSet, kem.PublicKey, kem.PrivateKey]{mlkemSets, "mlkem.public", "mlkem.private"}
)

// setOf returns the parameter set that CKA_PARAMETER_SET param names.
func (alg *pqcAlg[S, Pub, Priv]) setOf(param uint64) (S, bool) {
	return pqcFind(alg.sets, func(p *pqcParams) bool { return p.param == param })
}

func mldsaSetOf(param uint64) *mldsaSet {
	s, _ := mldsaAlg.setOf(param)
	return s
}

func mlkemSetOf(param uint64) *mlkemSet {
	s, _ := mlkemAlg.setOf(param)
	return s
}

// pqcTemplateParamSet reads CKA_PARAMETER_SET from a template: CKR_TEMPLATE_INCOMPLETE when it is absent,
// CKR_ATTRIBUTE_VALUE_INVALID when it is not a CK_ULONG.
func pqcTemplateParamSet(a Attrs) (uint64, error) {
	v, present := a[ck.CKA_PARAMETER_SET]
	if !present {
		return 0, ck.CKR_TEMPLATE_INCOMPLETE
	}
	if len(v) != 8 {
		return 0, ck.CKR_ATTRIBUTE_VALUE_INVALID
	}
	p, _ := GetULong(a, ck.CKA_PARAMETER_SET)
	return p, nil
}

// pqcPrivateParamMatches checks a private key template's CKA_PARAMETER_SET, which the specification says is not
// given when generating (the public template names the set): tolerated when it agrees.
func pqcPrivateParamMatches(priv Attrs, param uint64) error {
	if _, present := priv[ck.CKA_PARAMETER_SET]; !present {
		return nil
	}
	if p, ok := GetULong(priv, ck.CKA_PARAMETER_SET); !ok || p != param {
		return ck.CKR_TEMPLATE_INCONSISTENT
	}
	return nil
}

// ---------------------------------------------------------------------------------------------------------
// Keys of either algorithm

// pqcPrivateValue checks a private key's CKA_SEED and CKA_VALUE (at least one present, both agreeing) and
// returns the expanded key, and whether it was derived from the seed (not given).
func pqcPrivateValue(s pqcSet, seed, value []byte, hasSeed, hasValue bool) (sk []byte, derived bool, err error) {
	p := s.params()
	switch {
	case hasSeed:
		if len(seed) != p.seedSize {
			return nil, false, ck.CKR_ATTRIBUTE_VALUE_INVALID
		}
		_, sk = s.fromSeed(seed)
		if !hasValue {
			return sk, true, nil
		}
		if len(value) != p.skSize {
			clear(sk)
			return nil, false, ck.CKR_ATTRIBUTE_VALUE_INVALID
		}
		same := subtle.ConstantTimeCompare(sk, value) == 1
		clear(sk)
		if !same {
			return nil, false, ck.CKR_TEMPLATE_INCONSISTENT
		}
		return value, false, nil
	case hasValue:
		if err := s.checkPrivate(value); err != nil {
			return nil, false, err
		}
		return value, false, nil
	}
	return nil, false, ck.CKR_TEMPLATE_INCOMPLETE
}

// check is the key type's Check.
func (alg *pqcAlg[S, Pub, Priv]) check(class ck.ObjectClass, a Attrs) (Attrs, error) {
	param, err := pqcTemplateParamSet(a)
	if err != nil {
		return nil, err
	}
	s, ok := alg.setOf(param)
	if !ok {
		return nil, ck.CKR_ATTRIBUTE_VALUE_INVALID
	}
	value, hasValue := a[ck.CKA_VALUE]
	seed, hasSeed := a[ck.CKA_SEED]
	switch class {
	case ck.CKO_PUBLIC_KEY:
		if hasSeed {
			return nil, ck.CKR_ATTRIBUTE_TYPE_INVALID
		}
		if !hasValue {
			return nil, ck.CKR_TEMPLATE_INCOMPLETE
		}
		if _, err := s.parsePublic(value); err != nil {
			return nil, ck.CKR_ATTRIBUTE_VALUE_INVALID
		}
		return nil, nil
	case ck.CKO_PRIVATE_KEY:
		sk, derived, err := pqcPrivateValue(s, seed, value, hasSeed, hasValue)
		if err != nil {
			return nil, err
		}
		if derived {
			return Attrs{ck.CKA_VALUE: sk}, nil
		}
		return nil, nil
	}
	return nil, ck.CKR_TEMPLATE_INCONSISTENT
}

// pqcPacked returns the packed encodings of a key pair (CIRCL's keys cannot fail to pack).
func pqcPacked(pub, priv encoding.BinaryMarshaler) (pk, sk []byte) {
	pk, _ = pub.MarshalBinary()
	sk, _ = priv.MarshalBinary()
	return pk, sk
}

// pqcKeyParamSet returns the parameter set of a key object for an operation.
func pqcKeyParamSet(k *Key) (uint64, error) {
	p, ok := GetULong(k.Attrs, ck.CKA_PARAMETER_SET)
	if !ok {
		return 0, ck.CKR_KEY_SIZE_RANGE
	}
	return p, nil
}

// public returns the parameter set and the parsed key of a public key object.
func (alg *pqcAlg[S, Pub, Priv]) public(k *Key) (S, Pub, error) {
	return pqcKeyOf[Pub](k, ck.CKO_PUBLIC_KEY, alg.sets, alg.pubName)
}

// private returns the parameter set and the parsed key of a private key object.
func (alg *pqcAlg[S, Pub, Priv]) private(k *Key) (S, Priv, error) {
	return pqcKeyOf[Priv](k, ck.CKO_PRIVATE_KEY, alg.sets, alg.privName)
}

// pqcKeyOf returns the parameter set and the parsed key (K: CIRCL's public or private key type) of a key
// object of class, cached in the object under name.
func pqcKeyOf[K any, S pqcSet](k *Key, class ck.ObjectClass, sets []S, name string) (S, K, error) {
	var noSet S
	var noKey K
	if k.Class != class {
		return noSet, noKey, ck.CKR_KEY_TYPE_INCONSISTENT
	}
	param, err := pqcKeyParamSet(k)
	if err != nil {
		return noSet, noKey, err
	}
	s, ok := pqcFind(sets, func(p *pqcParams) bool { return p.param == param })
	if !ok {
		return noSet, noKey, ck.CKR_KEY_SIZE_RANGE
	}
	v, err := k.Parsed(name, func() (any, error) {
		if class == ck.CKO_PUBLIC_KEY {
			pub, err := s.parsePublic(k.Attrs[ck.CKA_VALUE])
			if err != nil {
				return nil, ck.CKR_KEY_SIZE_RANGE
			}
			return pub, nil
		}
		if value, ok := k.Attrs[ck.CKA_VALUE]; ok {
			priv, err := s.parsePrivate(value)
			if err != nil {
				return nil, ck.CKR_KEY_SIZE_RANGE
			}
			return priv, nil
		}
		if seed := k.Attrs[ck.CKA_SEED]; len(seed) == s.params().seedSize {
			return s.derivePrivate(seed), nil
		}
		return nil, ck.CKR_KEY_SIZE_RANGE
	})
	if err != nil {
		return noSet, noKey, err
	}
	return s, v.(K), nil
}

// generateKeyPair is the key pair generation mechanism's: the set comes from the public template, the seed
// from the system's random source.
func (alg *pqcAlg[S, Pub, Priv]) generateKeyPair(p Param, public, private Attrs) (Attrs, Attrs, error) {
	if p.Present {
		return nil, nil, ck.CKR_MECHANISM_PARAM_INVALID
	}
	param, err := pqcTemplateParamSet(public)
	if err != nil {
		return nil, nil, err
	}
	s, ok := alg.setOf(param)
	if !ok {
		return nil, nil, ck.CKR_ATTRIBUTE_VALUE_INVALID
	}
	if err := pqcPrivateParamMatches(private, param); err != nil {
		return nil, nil, err
	}
	seed := make([]byte, s.params().seedSize)
	if _, err := rand.Read(seed); err != nil {
		return nil, nil, ck.CKR_FUNCTION_FAILED
	}
	pk, sk := s.fromSeed(seed)
	return Attrs{ck.CKA_VALUE: pk},
		Attrs{ck.CKA_PARAMETER_SET: ck.ULong(param), ck.CKA_SEED: seed, ck.CKA_VALUE: sk}, nil
}

// ---------------------------------------------------------------------------------------------------------
// PKCS#8 for ML-DSA and ML-KEM private keys: a PrivateKeyInfo (or OneAsymmetricKey) with the algorithm's
// OID, no parameters, and as privateKey the IETF LAMPS CHOICE (RFC 9881 for ML-DSA, the ML-KEM certificates
// document for ML-KEM):
//
//	PrivateKey ::= CHOICE {
//	  seed        [0] IMPLICIT OCTET STRING,            -- ξ (32 bytes) or d‖z (64 bytes)
//	  expandedKey OCTET STRING,                         -- sk / dk
//	  both        SEQUENCE { seed OCTET STRING, expandedKey OCTET STRING } }
//
// Keys with a seed are wrapped as "both", so that any receiver can use them; keys without one as expandedKey.

func marshalPQCPKCS8(oid encasn1.ObjectIdentifier, seed, expanded []byte) ([]byte, error) {
	var inner cryptobyte.Builder
	if seed != nil {
		inner.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1OctetString(seed)
			b.AddASN1OctetString(expanded)
		})
	} else {
		inner.AddASN1OctetString(expanded)
	}
	choice, err := inner.Bytes()
	if err != nil {
		return nil, ck.CKR_FUNCTION_FAILED
	}
	var b cryptobyte.Builder
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1Int64(0)
		b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(oid) })
		b.AddASN1OctetString(choice)
	})
	der, err := b.Bytes()
	clear(choice)
	if err != nil {
		return nil, ck.CKR_FUNCTION_FAILED
	}
	return der, nil
}

// parsePQCPKCS8 decodes a PrivateKeyInfo / OneAsymmetricKey of one of the OIDs; it returns the OID and the
// seed and expanded key present (either may be nil). The public key of a OneAsymmetricKey is returned too.
func parsePQCPKCS8(der []byte) (oid encasn1.ObjectIdentifier, seed, expanded, public []byte, err error) {
	bad := ck.CKR_WRAPPED_KEY_INVALID
	in := cryptobyte.String(der)
	var pki, alg, choice cryptobyte.String
	var version int64
	if !in.ReadASN1(&pki, asn1.SEQUENCE) || !in.Empty() ||
		!pki.ReadASN1Integer(&version) || (version != 0 && version != 1) ||
		!pki.ReadASN1(&alg, asn1.SEQUENCE) || !alg.ReadASN1ObjectIdentifier(&oid) || !alg.Empty() ||
		!pki.ReadASN1(&choice, asn1.OCTET_STRING) {
		return nil, nil, nil, nil, bad
	}
	// Optional [0] attributes and, in a version 1 OneAsymmetricKey, [1] publicKey.
	if !pki.SkipOptionalASN1(asn1.Tag(0).ContextSpecific().Constructed()) {
		return nil, nil, nil, nil, bad
	}
	if pki.PeekASN1Tag(asn1.Tag(1).ContextSpecific()) {
		var pub cryptobyte.String
		if version != 1 || !pki.ReadASN1(&pub, asn1.Tag(1).ContextSpecific()) || len(pub) < 1 || pub[0] != 0 {
			return nil, nil, nil, nil, bad
		}
		public = pub[1:]
	}
	if !pki.Empty() {
		return nil, nil, nil, nil, bad
	}
	var s, e cryptobyte.String
	switch {
	case choice.PeekASN1Tag(asn1.Tag(0).ContextSpecific()):
		if !choice.ReadASN1(&s, asn1.Tag(0).ContextSpecific()) {
			return nil, nil, nil, nil, bad
		}
	case choice.PeekASN1Tag(asn1.OCTET_STRING):
		if !choice.ReadASN1(&e, asn1.OCTET_STRING) {
			return nil, nil, nil, nil, bad
		}
	case choice.PeekASN1Tag(asn1.SEQUENCE):
		var both cryptobyte.String
		if !choice.ReadASN1(&both, asn1.SEQUENCE) || !both.ReadASN1(&s, asn1.OCTET_STRING) ||
			!both.ReadASN1(&e, asn1.OCTET_STRING) || !both.Empty() {
			return nil, nil, nil, nil, bad
		}
	default:
		return nil, nil, nil, nil, bad
	}
	if !choice.Empty() {
		return nil, nil, nil, nil, bad
	}
	if s != nil {
		seed = bytes.Clone(s)
	}
	if e != nil {
		expanded = bytes.Clone(e)
	}
	return oid, seed, expanded, public, nil
}

// pkcs8 is the key type's PKCS8.
func (alg *pqcAlg[S, Pub, Priv]) pkcs8(a Attrs) ([]byte, error) {
	p, _ := GetULong(a, ck.CKA_PARAMETER_SET)
	s, ok := alg.setOf(p)
	if !ok {
		return nil, ck.CKR_KEY_NOT_WRAPPABLE
	}
	seed, hasSeed := a[ck.CKA_SEED]
	value, hasValue := a[ck.CKA_VALUE]
	sk, derived, err := pqcPrivateValue(s, seed, value, hasSeed, hasValue)
	if err != nil {
		return nil, ck.CKR_KEY_NOT_WRAPPABLE
	}
	if derived {
		defer clear(sk)
	}
	if !hasSeed {
		seed = nil
	}
	return marshalPQCPKCS8(s.params().oid, seed, sk)
}

// parsePKCS8 is the key type's ParsePKCS8.
func (alg *pqcAlg[S, Pub, Priv]) parsePKCS8(der []byte) (Attrs, error) {
	oid, seed, expanded, public, err := parsePQCPKCS8(der)
	if err != nil {
		return nil, err
	}
	s, ok := pqcFind(alg.sets, func(p *pqcParams) bool { return p.oid.Equal(oid) })
	if !ok {
		return nil, ck.CKR_WRAPPED_KEY_INVALID
	}
	sk, _, err := pqcPrivateValue(s, seed, expanded, seed != nil, expanded != nil)
	if err != nil {
		clear(seed)
		clear(expanded)
		return nil, ck.CKR_WRAPPED_KEY_INVALID
	}
	if public != nil {
		if pk, err := s.publicOf(sk); err != nil || !bytes.Equal(pk, public) {
			clear(seed)
			clear(sk)
			return nil, ck.CKR_WRAPPED_KEY_INVALID
		}
	}
	out := Attrs{ck.CKA_PARAMETER_SET: ck.ULong(s.params().param), ck.CKA_VALUE: sk}
	if seed != nil {
		out[ck.CKA_SEED] = seed
	}
	return out, nil
}

// ---------------------------------------------------------------------------------------------------------
// ML-DSA keys

// fromSeed derives the key pair of seed ξ (ML-DSA.KeyGen_internal) and returns the packed keys.
func (s *mldsaSet) fromSeed(seed []byte) (pk, sk []byte) { return pqcPacked(s.scheme.DeriveKey(seed)) }

// checkPrivate validates an expanded ML-DSA private key that came without its seed: s1 and s2 must hold
// coefficients in [-η, η], tr must be H(pk) of the public key the key implies, and a signature made with it
// must verify under that public key (which catches a damaged t0 or K).
func (s *mldsaSet) checkPrivate(sk []byte) error {
	if len(sk) != s.skSize {
		return ck.CKR_ATTRIBUTE_VALUE_INVALID
	}
	bits, max := 3, uint32(2*s.eta)
	if s.eta == 4 {
		bits = 4
	}
	const off = 32 + 32 + 64 // ρ, K, tr
	mask := uint32(1)<<bits - 1
	for i := 0; i < (s.l+s.k)*256; i++ {
		pos := i * bits
		b := off + pos/8
		v := (uint32(sk[b]) | uint32(sk[b+1])<<8) >> (pos % 8) & mask
		if v > max {
			return ck.CKR_ATTRIBUTE_VALUE_INVALID
		}
	}
	priv, err := s.scheme.UnmarshalBinaryPrivateKey(sk)
	if err != nil {
		return ck.CKR_ATTRIBUTE_VALUE_INVALID
	}
	pub := priv.Public().(sign.PublicKey)
	pk, _ := pub.MarshalBinary()
	if subtle.ConstantTimeCompare(sha3.SumSHAKE256(pk, 64), sk[64:128]) != 1 {
		return ck.CKR_ATTRIBUTE_VALUE_INVALID
	}
	msg := []byte("keyward ML-DSA pairwise consistency test")
	sig := make([]byte, s.sigSize)
	if err := s.signTo(priv, msg, nil, false, sig); err != nil || !s.verifyWith(pub, msg, nil, sig) {
		return ck.CKR_ATTRIBUTE_VALUE_INVALID
	}
	return nil
}

// publicOf returns the public key of an expanded private key.
func (s *mldsaSet) publicOf(sk []byte) ([]byte, error) {
	priv, err := s.scheme.UnmarshalBinaryPrivateKey(sk)
	if err != nil {
		return nil, err
	}
	return priv.Public().(sign.PublicKey).MarshalBinary()
}

// parsePublic accepts every byte string of the right length: all are ML-DSA public keys (ρ and packed
// 10-bit t1).
func (s *mldsaSet) parsePublic(pk []byte) (any, error) { return s.scheme.UnmarshalBinaryPublicKey(pk) }

func (s *mldsaSet) parsePrivate(sk []byte) (any, error) {
	return s.scheme.UnmarshalBinaryPrivateKey(sk)
}

func (s *mldsaSet) derivePrivate(seed []byte) any {
	_, priv := s.scheme.DeriveKey(seed)
	return priv
}

// ---------------------------------------------------------------------------------------------------------
// ML-DSA mechanisms

// mldsaSignContext decodes CKM_ML_DSA's optional CK_SIGN_ADDITIONAL_CONTEXT: hedged signing and an empty context
// without one.
func mldsaSignContext(p Param) (hedge uint64, ctx []byte, err error) {
	if !p.Present {
		return ck.CKH_HEDGE_PREFERRED, nil, nil
	}
	if p.S == nil || p.S.SignAdditionalContext == nil {
		return 0, nil, ck.CKR_MECHANISM_PARAM_INVALID
	}
	hedge, ctx = p.S.SignAdditionalContext.HedgeVariant, p.S.SignAdditionalContext.Context
	switch hedge {
	case ck.CKH_HEDGE_PREFERRED, ck.CKH_HEDGE_REQUIRED, ck.CKH_DETERMINISTIC_REQUIRED:
	default:
		return 0, nil, ck.CKR_MECHANISM_PARAM_INVALID
	}
	if len(ctx) > mldsaMaxCtx {
		return 0, nil, ck.CKR_MECHANISM_PARAM_INVALID
	}
	return hedge, bytes.Clone(ctx), nil
}

// mldsaSigner buffers the message: pure ML-DSA hashes tr, the context and then the message, and CIRCL signs
// whole messages.
type mldsaSigner struct {
	set        *mldsaSet
	key        sign.PrivateKey
	ctx        []byte
	randomized bool
	msg        []byte
}

// Buffers implements Buffering.
func (o *mldsaSigner) Buffers() bool { return true }

func (o *mldsaSigner) Update(in []byte) ([]byte, error) {
	o.msg = append(o.msg, in...)
	return nil, nil
}

func (o *mldsaSigner) Final() ([]byte, error) {
	sig, err := o.Single(o.msg)
	clear(o.msg)
	o.msg = nil
	return sig, err
}

func (o *mldsaSigner) Single(in []byte) ([]byte, error) {
	sig := make([]byte, o.set.sigSize)
	if err := o.set.signTo(o.key, in, o.ctx, o.randomized, sig); err != nil {
		return nil, ck.CKR_FUNCTION_FAILED
	}
	return sig, nil
}

func mldsaSign(p Param, k *Key) (Operation, error) {
	hedge, ctx, err := mldsaSignContext(p)
	if err != nil {
		return nil, err
	}
	s, priv, err := mldsaAlg.private(k)
	if err != nil {
		return nil, err
	}
	return &mldsaSigner{set: s, key: priv, ctx: ctx, randomized: hedge != ck.CKH_DETERMINISTIC_REQUIRED}, nil
}

type mldsaVerifier struct {
	set *mldsaSet
	key sign.PublicKey
	ctx []byte
	msg []byte
}

// Buffers implements Buffering.
func (o *mldsaVerifier) Buffers() bool { return true }

func (o *mldsaVerifier) Update(in []byte) error {
	o.msg = append(o.msg, in...)
	return nil
}

func (o *mldsaVerifier) Final(signature []byte) error {
	err := o.Verify(o.msg, signature)
	o.msg = nil
	return err
}

func (o *mldsaVerifier) Verify(data, signature []byte) error {
	if len(signature) != o.set.sigSize {
		return ck.CKR_SIGNATURE_LEN_RANGE
	}
	if !o.set.verifyWith(o.key, data, o.ctx, signature) {
		return ck.CKR_SIGNATURE_INVALID
	}
	return nil
}

func mldsaVerify(p Param, k *Key) (Verifier, error) {
	_, ctx, err := mldsaSignContext(p) // the hedge variant is ignored on verification
	if err != nil {
		return nil, err
	}
	s, pub, err := mldsaAlg.public(k)
	if err != nil {
		return nil, err
	}
	return &mldsaVerifier{set: s, key: pub, ctx: ctx}, nil
}

// ---------------------------------------------------------------------------------------------------------
// ML-KEM keys

func (s *mlkemSet) ekSize() int { return s.scheme.PublicKeySize() }

// fromSeed derives the key pair of d‖z (ML-KEM.KeyGen_internal) and returns the packed ek and dk.
func (s *mlkemSet) fromSeed(seed []byte) (ek, dk []byte) {
	return pqcPacked(s.scheme.DeriveKeyPair(seed))
}

// checkPrivate validates an expanded decapsulation key that came without its seed: the FIPS 203 §7.3 hash
// check (H(ek) stored in dk), the modulus check of the embedded ek, and a pairwise consistency test.
func (s *mlkemSet) checkPrivate(dk []byte) error {
	priv, err := s.scheme.UnmarshalBinaryPrivateKey(dk) // length and hash check
	if err != nil {
		return ck.CKR_ATTRIBUTE_VALUE_INVALID
	}
	off := 384 * s.k
	pub, err := s.scheme.UnmarshalBinaryPublicKey(dk[off : off+s.ekSize()])
	if err != nil {
		return ck.CKR_ATTRIBUTE_VALUE_INVALID
	}
	ct, ss, err := s.scheme.Encapsulate(pub)
	if err != nil {
		return ck.CKR_FUNCTION_FAILED
	}
	ss2, err := s.scheme.Decapsulate(priv, ct)
	same := err == nil && subtle.ConstantTimeCompare(ss, ss2) == 1
	clear(ss)
	clear(ss2)
	if !same {
		return ck.CKR_ATTRIBUTE_VALUE_INVALID
	}
	return nil
}

// publicOf returns the encapsulation key embedded in an expanded decapsulation key.
func (s *mlkemSet) publicOf(dk []byte) ([]byte, error) {
	off := 384 * s.k
	return dk[off : off+s.ekSize()], nil
}

// parsePublic checks the length and makes the FIPS 203 §7.2 modulus check.
func (s *mlkemSet) parsePublic(ek []byte) (any, error) { return s.scheme.UnmarshalBinaryPublicKey(ek) }

func (s *mlkemSet) parsePrivate(dk []byte) (any, error) {
	return s.scheme.UnmarshalBinaryPrivateKey(dk)
}

func (s *mlkemSet) derivePrivate(seed []byte) any {
	_, priv := s.scheme.DeriveKeyPair(seed)
	return priv
}

// ---------------------------------------------------------------------------------------------------------
// ML-KEM mechanisms

func mlkemEncapsulate(p Param, public *Key) ([]byte, []byte, error) {
	if p.Present {
		return nil, nil, ck.CKR_MECHANISM_PARAM_INVALID
	}
	s, pub, err := mlkemAlg.public(public)
	if err != nil {
		return nil, nil, err
	}
	ct, ss, err := s.scheme.Encapsulate(pub)
	if err != nil {
		return nil, nil, ck.CKR_FUNCTION_FAILED
	}
	return ct, ss, nil
}

// mlkemDecapsulate never fails on a well-sized ciphertext: a ciphertext that does not decrypt to itself gives
// the implicit-rejection secret, as FIPS 203 requires.
func mlkemDecapsulate(p Param, private *Key, ciphertext []byte) ([]byte, error) {
	if p.Present {
		return nil, ck.CKR_MECHANISM_PARAM_INVALID
	}
	s, priv, err := mlkemAlg.private(private)
	if err != nil {
		return nil, err
	}
	if len(ciphertext) != s.scheme.CiphertextSize() {
		return nil, ck.CKR_WRAPPED_KEY_LEN_RANGE
	}
	ss, err := s.scheme.Decapsulate(priv, ciphertext)
	if err != nil {
		return nil, ck.CKR_FUNCTION_FAILED
	}
	return ss, nil
}

// pqPublicRules and pqPrivateRules are the value attributes of ML-DSA and ML-KEM keys (PKCS#11 3.2): the
// parameter set and the key value. A private key holds its seed, its expanded value, or both; the key
// type's Check requires one and derives the value from the seed.
var (
	pqPublicRules = AttrRules{
		ck.CKA_PARAMETER_SET: {Kind: KindULong, Rules: RuleCreateRequired | RuleGenRequired},
		ck.CKA_VALUE:         {Rules: RuleCreateRequired | RuleGenForbid},
	}
	pqPrivateRules = AttrRules{
		ck.CKA_PARAMETER_SET: {Kind: KindULong, Rules: RuleCreateRequired | RuleGenForbid | RuleUnwrapForbid},
		ck.CKA_VALUE:         {Rules: RuleGenForbid | RuleUnwrapForbid | RuleSensitive},
		ck.CKA_SEED:          {Rules: RuleGenForbid | RuleUnwrapForbid | RuleSensitive},
	}
)

func init() {
	RegisterKeyType(&KeyTypeSpec{Type: ck.CKK_ML_DSA, Rules: pairRules(pqPublicRules, pqPrivateRules, signerUsage),
		Check: mldsaAlg.check, PKCS8: mldsaAlg.pkcs8, ParsePKCS8: mldsaAlg.parsePKCS8})
	RegisterKeyType(&KeyTypeSpec{Type: ck.CKK_ML_KEM, Rules: pairRules(pqPublicRules, pqPrivateRules, kemUsage),
		Check: mlkemAlg.check, PKCS8: mlkemAlg.pkcs8, ParsePKCS8: mlkemAlg.parsePKCS8})

	dsaInfo := func(flags uint64) ck.MechanismInfo {
		return ck.MechanismInfo{
			MinKeySize: uint64(mldsaSets[0].pkSize),
			MaxKeySize: uint64(mldsaSets[len(mldsaSets)-1].pkSize),
			Flags:      flags,
		}
	}
	kemInfo := func(flags uint64) ck.MechanismInfo {
		return ck.MechanismInfo{
			MinKeySize: uint64(mlkemSets[0].ekSize()),
			MaxKeySize: uint64(mlkemSets[len(mlkemSets)-1].ekSize()),
			Flags:      flags,
		}
	}
	Register(&Spec{
		Type:            ck.CKM_ML_DSA_KEY_PAIR_GEN,
		Info:            dsaInfo(ck.CKF_GENERATE_KEY_PAIR),
		GenKeyType:      ck.CKK_ML_DSA,
		GenerateKeyPair: mldsaAlg.generateKeyPair,
	})
	Register(&Spec{
		Type:     ck.CKM_ML_DSA,
		Info:     dsaInfo(ck.CKF_SIGN | ck.CKF_VERIFY),
		KeyTypes: []ck.KeyType{ck.CKK_ML_DSA},
		Sign:     mldsaSign,
		Verify:   mldsaVerify,
	})
	Register(&Spec{
		Type:            ck.CKM_ML_KEM_KEY_PAIR_GEN,
		Info:            kemInfo(ck.CKF_GENERATE_KEY_PAIR),
		GenKeyType:      ck.CKK_ML_KEM,
		GenerateKeyPair: mlkemAlg.generateKeyPair,
	})
	Register(&Spec{
		Type:        ck.CKM_ML_KEM,
		Info:        kemInfo(ck.CKF_ENCAPSULATE | ck.CKF_DECAPSULATE),
		KeyTypes:    []ck.KeyType{ck.CKK_ML_KEM},
		Encapsulate: mlkemEncapsulate,
		Decapsulate: mlkemDecapsulate,
		// The shared secret is a generic secret unless the template says otherwise.
		SecretKeyType: ck.CKK_GENERIC_SECRET,
	})
}
