package mech

import (
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/asn1"
	"encoding/binary"
	"hash"
	"math/big"
	"strings"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// Short Weierstrass elliptic curves (PKCS#11 3.0/3.2 mechanisms, "Elliptic Curve"): key type CKK_EC on
// P-256, P-384 and P-521, CKM_EC_KEY_PAIR_GEN, CKM_ECDSA (single-part, over a hash), CKM_ECDSA_SHA1 ...
// CKM_ECDSA_SHA3_512 (multi-part), CKM_ECDH1_DERIVE (also on CKK_EC_MONTGOMERY keys: X25519, X448, see
// eddsa.go) and CKM_ECDH1_COFACTOR_DERIVE (the NIST curves have cofactor 1, so it computes the same secret).
//
// Encodings: CKA_EC_PARAMS is the DER of the Parameters CHOICE: a named-curve OBJECT IDENTIFIER or (PKCS#11
// 3.0) a PrintableString curveName; explicit ecParameters and implicitlyCA are not supported
// (CKR_DOMAIN_PARAMS_INVALID), a well-formed but unknown curve is CKR_CURVE_NOT_SUPPORTED. CKA_EC_POINT is
// the DER OCTET STRING holding the uncompressed point (a bare uncompressed point is accepted on input).
// A private CKA_VALUE is the big-endian scalar d. Signatures are r||s, each nLen bytes.

// curveID names the curves this package knows, across the three EC key types.
type curveID int

const (
	curveNone curveID = iota
	curveP256
	curveP384
	curveP521
	curveEd25519
	curveEd448
	curveX25519
	curveX448
)

// curveInfo describes one supported curve.
type curveInfo struct {
	id      curveID
	keyType ck.KeyType              // the key type whose keys live on this curve
	oids    []asn1.ObjectIdentifier // accepted OIDs, the canonical one first
	names   []string                // accepted PKCS#11 3.0 curveName values
	bits    int                     // field size in bits (CK_MECHANISM_INFO units)
	size    int                     // bytes of a coordinate / scalar / raw public key
	curve   elliptic.Curve          // NIST curves only
	ecdh    ecdh.Curve              // NIST curves and X25519
}

var (
	oidP256    = asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}
	oidP384    = asn1.ObjectIdentifier{1, 3, 132, 0, 34}
	oidP521    = asn1.ObjectIdentifier{1, 3, 132, 0, 35}
	oidX25519  = asn1.ObjectIdentifier{1, 3, 101, 110}
	oidX448    = asn1.ObjectIdentifier{1, 3, 101, 111}
	oidEd25519 = asn1.ObjectIdentifier{1, 3, 101, 112}
	oidEd448   = asn1.ObjectIdentifier{1, 3, 101, 113}
	// OIDs used for the 25519 curves before RFC 8410 (GnuPG/OpenPGP, and OpenSC following it).
	oidEd25519Legacy = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 11591, 15, 1}
	oidX25519Legacy  = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 3029, 1, 5, 1}
)

var curves = []*curveInfo{
	{id: curveP256, keyType: ck.CKK_EC, oids: []asn1.ObjectIdentifier{oidP256},
		names: []string{"prime256v1", "secp256r1", "P-256"}, bits: 256, size: 32,
		curve: elliptic.P256(), ecdh: ecdh.P256()},
	{id: curveP384, keyType: ck.CKK_EC, oids: []asn1.ObjectIdentifier{oidP384},
		names: []string{"secp384r1", "prime384v1", "P-384"}, bits: 384, size: 48,
		curve: elliptic.P384(), ecdh: ecdh.P384()},
	{id: curveP521, keyType: ck.CKK_EC, oids: []asn1.ObjectIdentifier{oidP521},
		names: []string{"secp521r1", "prime521v1", "P-521"}, bits: 521, size: 66,
		curve: elliptic.P521(), ecdh: ecdh.P521()},
	{id: curveEd25519, keyType: ck.CKK_EC_EDWARDS, oids: []asn1.ObjectIdentifier{oidEd25519, oidEd25519Legacy},
		names: []string{"edwards25519", "Ed25519"}, bits: 255, size: 32},
	{id: curveEd448, keyType: ck.CKK_EC_EDWARDS, oids: []asn1.ObjectIdentifier{oidEd448},
		names: []string{"edwards448", "Ed448"}, bits: 448, size: 57},
	{id: curveX25519, keyType: ck.CKK_EC_MONTGOMERY, oids: []asn1.ObjectIdentifier{oidX25519, oidX25519Legacy},
		names: []string{"curve25519", "X25519"}, bits: 255, size: 32, ecdh: ecdh.X25519()},
	{id: curveX448, keyType: ck.CKK_EC_MONTGOMERY, oids: []asn1.ObjectIdentifier{oidX448},
		names: []string{"curve448", "X448"}, bits: 448, size: 56},
}

// parseECParams decodes CKA_EC_PARAMS: a DER OBJECT IDENTIFIER or PrintableString naming a known curve.
func parseECParams(der []byte) (*curveInfo, error) {
	s := cryptobyte.String(der)
	var tag cbasn1.Tag
	var body cryptobyte.String
	if !s.ReadAnyASN1Element(&body, &tag) || !s.Empty() {
		return nil, ck.CKR_DOMAIN_PARAMS_INVALID
	}
	switch tag {
	case cbasn1.OBJECT_IDENTIFIER:
		var oid asn1.ObjectIdentifier
		if !body.ReadASN1ObjectIdentifier(&oid) {
			return nil, ck.CKR_DOMAIN_PARAMS_INVALID
		}
		for _, c := range curves {
			for _, o := range c.oids {
				if o.Equal(oid) {
					return c, nil
				}
			}
		}
		return nil, ck.CKR_CURVE_NOT_SUPPORTED
	case cbasn1.PrintableString:
		var name cryptobyte.String
		if !body.ReadASN1(&name, cbasn1.PrintableString) {
			return nil, ck.CKR_DOMAIN_PARAMS_INVALID
		}
		for _, c := range curves {
			for _, n := range c.names {
				if strings.EqualFold(n, string(name)) {
					return c, nil
				}
			}
		}
		return nil, ck.CKR_CURVE_NOT_SUPPORTED
	}
	// ecParameters (a SEQUENCE), implicitlyCA (NULL) or anything else.
	return nil, ck.CKR_DOMAIN_PARAMS_INVALID
}

// curveOf returns the curve of a key's (or template's) CKA_EC_PARAMS, which must suit key type t.
func curveOf(a Attrs, t ck.KeyType) (*curveInfo, error) {
	params, ok := a[ck.CKA_EC_PARAMS]
	if !ok {
		return nil, ck.CKR_TEMPLATE_INCOMPLETE
	}
	c, err := parseECParams(params)
	if err != nil {
		return nil, err
	}
	if c.keyType != t {
		return nil, ck.CKR_CURVE_NOT_SUPPORTED
	}
	return c, nil
}

// oidDER is the DER of a curve's canonical OID (CKA_EC_PARAMS of keys made from PKCS#8).
func oidDER(c *curveInfo) []byte {
	b, err := asn1.Marshal(c.oids[0])
	if err != nil {
		panic(err)
	}
	return b
}

// octetString DER-encodes v as an OCTET STRING (the CKA_EC_POINT encoding).
func octetString(v []byte) []byte {
	var b cryptobyte.Builder
	b.AddASN1OctetString(v)
	return b.BytesOrPanic()
}

// unwrapPoint returns the raw point inside an EC point encoding: raw (n bytes, first byte first when not 0),
// a DER OCTET STRING, or (when bitString) a DER BIT STRING with no unused bits. ok is false for anything else.
func unwrapPoint(v []byte, n int, bitString bool) ([]byte, bool) {
	if len(v) == n {
		return v, true
	}
	s := cryptobyte.String(v)
	var inner cryptobyte.String
	if s.ReadASN1(&inner, cbasn1.OCTET_STRING) && s.Empty() && len(inner) == n {
		return inner, true
	}
	if bitString {
		s = cryptobyte.String(v)
		var bits asn1.BitString
		if s.ReadASN1BitString(&bits) && s.Empty() && bits.BitLength == 8*n {
			return bits.Bytes, true
		}
	}
	return nil, false
}

// ecPointBytes decodes a NIST-curve CKA_EC_POINT (or a peer's ECDH public value) to the uncompressed point.
func ecPointBytes(c *curveInfo, v []byte) ([]byte, error) {
	n := 1 + 2*c.size
	raw, ok := unwrapPoint(v, n, false)
	if !ok || raw[0] != 4 {
		if p, ok2 := unwrapPoint(v, 1+c.size, false); ok2 && (p[0] == 2 || p[0] == 3) {
			return nil, ck.CKR_TEMPLATE_INCONSISTENT // compressed form: not supported (no CKF_EC_COMPRESS)
		}
		return nil, ck.CKR_ATTRIBUTE_VALUE_INVALID
	}
	return raw, nil
}

// ecPublic parses a NIST-curve point, checking it is on the curve.
func ecPublic(c *curveInfo, v []byte) (*ecdsa.PublicKey, error) {
	raw, err := ecPointBytes(c, v)
	if err != nil {
		return nil, err
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(c.curve, raw)
	if err != nil {
		return nil, ck.CKR_ATTRIBUTE_VALUE_INVALID
	}
	return pub, nil
}

// ecPrivate parses a NIST-curve private scalar (big-endian, any length), requiring 0 < d < n.
func ecPrivate(c *curveInfo, v []byte) (*ecdsa.PrivateKey, error) {
	d := new(big.Int).SetBytes(v)
	if d.Sign() <= 0 || d.Cmp(c.curve.Params().N) >= 0 {
		return nil, ck.CKR_ATTRIBUTE_VALUE_INVALID
	}
	b := d.FillBytes(make([]byte, c.size))
	defer clear(b)
	d.SetInt64(0)
	priv, err := ecdsa.ParseRawPrivateKey(c.curve, b)
	if err != nil {
		return nil, ck.CKR_ATTRIBUTE_VALUE_INVALID
	}
	return priv, nil
}

// ecPublicAttrs returns CKA_EC_POINT and CKA_PUBLIC_KEY_INFO of a NIST-curve public key.
func ecPublicAttrs(pub *ecdsa.PublicKey) (point, spki []byte, err error) {
	raw, err := pub.Bytes()
	if err != nil {
		return nil, nil, err
	}
	spki, err = x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, nil, err
	}
	return octetString(raw), spki, nil
}

func checkEC(class ck.ObjectClass, a Attrs) (Attrs, error) {
	c, err := curveOf(a, ck.CKK_EC)
	if err != nil {
		return nil, err
	}
	add := Attrs{}
	switch class {
	case ck.CKO_PUBLIC_KEY:
		point, ok := a[ck.CKA_EC_POINT]
		if !ok {
			return nil, ck.CKR_TEMPLATE_INCOMPLETE
		}
		pub, err := ecPublic(c, point)
		if err != nil {
			return nil, err
		}
		if len(a[ck.CKA_PUBLIC_KEY_INFO]) == 0 {
			_, spki, err := ecPublicAttrs(pub)
			if err != nil {
				return nil, err
			}
			add[ck.CKA_PUBLIC_KEY_INFO] = spki
		}
	case ck.CKO_PRIVATE_KEY:
		v, ok := a[ck.CKA_VALUE]
		if !ok {
			return nil, ck.CKR_TEMPLATE_INCOMPLETE
		}
		priv, err := ecPrivate(c, v)
		if err != nil {
			return nil, err
		}
		point, spki, err := ecPublicAttrs(&priv.PublicKey)
		if err != nil {
			return nil, err
		}
		if given := a[ck.CKA_EC_POINT]; len(given) > 0 {
			pub, err := ecPublic(c, given)
			if err != nil || !pub.Equal(&priv.PublicKey) {
				return nil, ck.CKR_TEMPLATE_INCONSISTENT
			}
		} else {
			add[ck.CKA_EC_POINT] = point
		}
		if len(a[ck.CKA_PUBLIC_KEY_INFO]) == 0 {
			add[ck.CKA_PUBLIC_KEY_INFO] = spki
		}
	default:
		return nil, ck.CKR_TEMPLATE_INCONSISTENT
	}
	return add, nil
}

func pkcs8EC(a Attrs) ([]byte, error) {
	c, err := curveOf(a, ck.CKK_EC)
	if err != nil {
		return nil, err
	}
	priv, err := ecPrivate(c, a[ck.CKA_VALUE])
	if err != nil {
		return nil, err
	}
	return x509.MarshalPKCS8PrivateKey(priv)
}

func parsePKCS8EC(der []byte) (Attrs, error) {
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, ck.CKR_WRAPPED_KEY_INVALID
	}
	priv, ok := key.(*ecdsa.PrivateKey)
	if !ok {
		return nil, ck.CKR_TEMPLATE_INCONSISTENT // a valid key of another type
	}
	var c *curveInfo
	for _, ci := range curves {
		if ci.curve != nil && ci.curve == priv.Curve {
			c = ci
		}
	}
	if c == nil {
		return nil, ck.CKR_CURVE_NOT_SUPPORTED
	}
	d, err := priv.Bytes()
	if err != nil {
		return nil, ck.CKR_WRAPPED_KEY_INVALID
	}
	point, spki, err := ecPublicAttrs(&priv.PublicKey)
	if err != nil {
		return nil, err
	}
	return Attrs{
		ck.CKA_EC_PARAMS:       oidDER(c),
		ck.CKA_VALUE:           d,
		ck.CKA_EC_POINT:        point,
		ck.CKA_PUBLIC_KEY_INFO: spki,
	}, nil
}

// noParam rejects a parameter on mechanisms that take none (an empty one is tolerated).
func noParam(p Param) error {
	if p.Present && len(p.Raw) > 0 {
		return ck.CKR_MECHANISM_PARAM_INVALID
	}
	return nil
}

func genEC(p Param, public, private Attrs) (Attrs, Attrs, error) {
	if err := noParam(p); err != nil {
		return nil, nil, err
	}
	c, err := curveOf(public, ck.CKK_EC)
	if err != nil {
		return nil, nil, err
	}
	priv, err := ecdsa.GenerateKey(c.curve, rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	d, err := priv.Bytes()
	if err != nil {
		return nil, nil, err
	}
	point, spki, err := ecPublicAttrs(&priv.PublicKey)
	if err != nil {
		return nil, nil, err
	}
	pub := Attrs{ck.CKA_EC_POINT: point, ck.CKA_PUBLIC_KEY_INFO: spki}
	prv := Attrs{
		ck.CKA_EC_PARAMS:       append([]byte(nil), public[ck.CKA_EC_PARAMS]...),
		ck.CKA_VALUE:           d,
		ck.CKA_EC_POINT:        point,
		ck.CKA_PUBLIC_KEY_INFO: spki,
	}
	return pub, prv, nil
}

// ecKeys is the parsed form of a CKK_EC key object.
type ecKeys struct {
	c    *curveInfo
	priv *ecdsa.PrivateKey // nil for a public key
	pub  *ecdsa.PublicKey
}

func loadEC(k *Key) (*ecKeys, error) {
	if k.Type != ck.CKK_EC {
		return nil, ck.CKR_KEY_TYPE_INCONSISTENT
	}
	v, err := k.Parsed("ec.key", func() (any, error) {
		c, err := curveOf(k.Attrs, ck.CKK_EC)
		if err != nil {
			return nil, err
		}
		switch k.Class {
		case ck.CKO_PRIVATE_KEY:
			priv, err := ecPrivate(c, k.Attrs[ck.CKA_VALUE])
			if err != nil {
				return nil, err
			}
			return &ecKeys{c: c, priv: priv, pub: &priv.PublicKey}, nil
		case ck.CKO_PUBLIC_KEY:
			pub, err := ecPublic(c, k.Attrs[ck.CKA_EC_POINT])
			if err != nil {
				return nil, err
			}
			return &ecKeys{c: c, pub: pub}, nil
		}
		return nil, ck.CKR_KEY_TYPE_INCONSISTENT
	})
	if err != nil {
		return nil, err
	}
	return v.(*ecKeys), nil
}

// ecdsaSign makes the r||s signature of a hash (truncated to the order's length by ecdsa.Sign).
func ecdsaSign(k *ecKeys, digest []byte) ([]byte, error) {
	r, s, err := ecdsa.Sign(rand.Reader, k.priv, digest)
	if err != nil {
		return nil, err
	}
	sig := make([]byte, 2*k.c.size)
	r.FillBytes(sig[:k.c.size])
	s.FillBytes(sig[k.c.size:])
	return sig, nil
}

// ecdsaVerify checks an r||s signature: even length, at most 2*nLen (shorter halves are zero-padded values).
func ecdsaVerify(k *ecKeys, digest, sig []byte) error {
	if len(sig) == 0 || len(sig)%2 != 0 || len(sig) > 2*k.c.size {
		return ck.CKR_SIGNATURE_LEN_RANGE
	}
	half := len(sig) / 2
	r := new(big.Int).SetBytes(sig[:half])
	s := new(big.Int).SetBytes(sig[half:])
	if !ecdsa.Verify(k.pub, digest, r, s) {
		return ck.CKR_SIGNATURE_INVALID
	}
	return nil
}

// ecdsaOp signs (priv set) or verifies; h is nil for CKM_ECDSA, which is single-part only.
type ecdsaOp struct {
	k *ecKeys
	h hash.Hash
}

func (o *ecdsaOp) Update(in []byte) ([]byte, error) {
	if o.h == nil {
		return nil, ck.CKR_FUNCTION_NOT_SUPPORTED
	}
	o.h.Write(in)
	return nil, nil
}

func (o *ecdsaOp) Final() ([]byte, error) {
	if o.h == nil {
		return nil, ck.CKR_FUNCTION_NOT_SUPPORTED
	}
	return ecdsaSign(o.k, o.h.Sum(nil))
}

func (o *ecdsaOp) Single(in []byte) ([]byte, error) {
	if o.h == nil {
		return ecdsaSign(o.k, in)
	}
	o.h.Write(in)
	return o.Final()
}

type ecdsaVerifier struct {
	k *ecKeys
	h hash.Hash
}

func (o *ecdsaVerifier) Update(in []byte) error {
	if o.h == nil {
		return ck.CKR_FUNCTION_NOT_SUPPORTED
	}
	o.h.Write(in)
	return nil
}

func (o *ecdsaVerifier) Final(sig []byte) error {
	if o.h == nil {
		return ck.CKR_FUNCTION_NOT_SUPPORTED
	}
	return ecdsaVerify(o.k, o.h.Sum(nil), sig)
}

func (o *ecdsaVerifier) Verify(data, sig []byte) error {
	if o.h == nil {
		return ecdsaVerify(o.k, data, sig)
	}
	o.h.Write(data)
	return o.Final(sig)
}

// ecFlags are the CK_MECHANISM_INFO EC flags of every EC mechanism: prime fields, named curves by OID or
// by curveName, uncompressed points.
const ecFlags = ck.CKF_EC_F_P | ck.CKF_EC_OID | ck.CKF_EC_CURVENAME | ck.CKF_EC_UNCOMPRESS

func registerECDSA(m ck.MechanismType, h crypto.Hash) {
	newHash := func() hash.Hash {
		if h == 0 {
			return nil
		}
		return NewHash(h)
	}
	Register(&Spec{
		Type:     m,
		Info:     ck.MechanismInfo{MinKeySize: 256, MaxKeySize: 521, Flags: ck.CKF_SIGN | ck.CKF_VERIFY | ecFlags},
		KeyTypes: []ck.KeyType{ck.CKK_EC},
		Sign: func(p Param, k *Key) (Operation, error) {
			if err := noParam(p); err != nil {
				return nil, err
			}
			if k.Class != ck.CKO_PRIVATE_KEY {
				return nil, ck.CKR_KEY_FUNCTION_NOT_PERMITTED
			}
			ek, err := loadEC(k)
			if err != nil {
				return nil, err
			}
			return &ecdsaOp{k: ek, h: newHash()}, nil
		},
		Verify: func(p Param, k *Key) (Verifier, error) {
			if err := noParam(p); err != nil {
				return nil, err
			}
			ek, err := loadEC(k)
			if err != nil {
				return nil, err
			}
			return &ecdsaVerifier{k: ek, h: newHash()}, nil
		},
	})
}

// KDFs of CK_ECDH1_DERIVE_PARAMS: ANSI X9.63 (Hash(Z || counter || SharedInfo)) and NIST SP 800-56A
// section 5.8.1.1 one-step (Hash(counter || Z || OtherInfo)).
var (
	x963KDFs = map[uint64]crypto.Hash{
		ck.CKD_SHA1_KDF: crypto.SHA1, ck.CKD_SHA224_KDF: crypto.SHA224, ck.CKD_SHA256_KDF: crypto.SHA256,
		ck.CKD_SHA384_KDF: crypto.SHA384, ck.CKD_SHA512_KDF: crypto.SHA512,
		ck.CKD_SHA3_224_KDF: crypto.SHA3_224, ck.CKD_SHA3_256_KDF: crypto.SHA3_256,
		ck.CKD_SHA3_384_KDF: crypto.SHA3_384, ck.CKD_SHA3_512_KDF: crypto.SHA3_512,
	}
	sp80056KDFs = map[uint64]crypto.Hash{
		ck.CKD_SHA1_KDF_SP800: crypto.SHA1, ck.CKD_SHA224_KDF_SP800: crypto.SHA224,
		ck.CKD_SHA256_KDF_SP800: crypto.SHA256, ck.CKD_SHA384_KDF_SP800: crypto.SHA384,
		ck.CKD_SHA512_KDF_SP800: crypto.SHA512, ck.CKD_SHA3_224_KDF_SP800: crypto.SHA3_224,
		ck.CKD_SHA3_256_KDF_SP800: crypto.SHA3_256, ck.CKD_SHA3_384_KDF_SP800: crypto.SHA3_384,
		ck.CKD_SHA3_512_KDF_SP800: crypto.SHA3_512,
	}
)

// maxDerivedLen bounds the key length a KDF is asked for (generic secrets; no real key is longer).
const maxDerivedLen = 1 << 16

// concatKDF computes n bytes of hash-counter KDF output; zFirst selects X9.63 ordering (Z before the counter).
func concatKDF(h crypto.Hash, z, info []byte, n int, zFirst bool) []byte {
	out := make([]byte, 0, n+h.Size())
	var ctr [4]byte
	var block []byte
	for i := uint32(1); len(out) < n; i++ {
		binary.BigEndian.PutUint32(ctr[:], i)
		d := NewHash(h)
		if zFirst {
			d.Write(z)
			d.Write(ctr[:])
		} else {
			d.Write(ctr[:])
			d.Write(z)
		}
		d.Write(info)
		block = d.Sum(block[:0])
		out = append(out, block...)
	}
	clear(block)
	clear(out[n:cap(out)])
	return out[:n]
}

// (fixedKeyLen is shared by the KDF families: attrs.go.)

// ecdhKDF applies the parameter's KDF to the shared secret z and sizes the result for the template (the
// new key's CKA_VALUE). With CKD_NULL the secret is truncated by removing leading bytes; without a length
// in the template it is the whole secret (CKD_NULL) or one hash output (the hash KDFs).
func ecdhKDF(kdf uint64, z, sharedData []byte, template Attrs) ([]byte, error) {
	var h crypto.Hash
	var zFirst bool
	switch {
	case kdf == ck.CKD_NULL:
		if len(sharedData) != 0 {
			return nil, ck.CKR_MECHANISM_PARAM_INVALID
		}
	case x963KDFs[kdf] != 0:
		h, zFirst = x963KDFs[kdf], true
	case sp80056KDFs[kdf] != 0:
		h = sp80056KDFs[kdf]
	default:
		return nil, ck.CKR_MECHANISM_PARAM_INVALID
	}
	natural := len(z)
	if h != 0 {
		natural = h.Size()
	}
	n := natural
	keyType := ck.CKK_GENERIC_SECRET
	if t, ok := GetULong(template, ck.CKA_KEY_TYPE); ok {
		keyType = ck.KeyType(t)
	}
	if l, ok := GetULong(template, ck.CKA_VALUE_LEN); ok {
		if l == 0 {
			return nil, ck.CKR_ATTRIBUTE_VALUE_INVALID
		}
		if l > maxDerivedLen {
			return nil, ck.CKR_KEY_SIZE_RANGE
		}
		n = int(l)
		if keyType == ck.CKK_AES && n != 16 && n != 24 && n != 32 {
			return nil, ck.CKR_ATTRIBUTE_VALUE_INVALID
		}
	} else if _, present := template[ck.CKA_VALUE_LEN]; present {
		return nil, ck.CKR_ATTRIBUTE_VALUE_INVALID
	} else if fl, ok := fixedKeyLen[keyType]; ok {
		n = fl
	} else if keyType == ck.CKK_AES && n != 16 && n != 24 && n != 32 {
		return nil, ck.CKR_TEMPLATE_INCOMPLETE
	}
	if h == 0 {
		if n > len(z) {
			return nil, ck.CKR_KEY_SIZE_RANGE
		}
		return append([]byte(nil), z[len(z)-n:]...), nil
	}
	return concatKDF(h, z, sharedData, n, zFirst), nil
}

// ecdhDerive is CKM_ECDH1_DERIVE (cofactor false) and CKM_ECDH1_COFACTOR_DERIVE.
func ecdhDerive(cofactor bool) func(p Param, base *Key, template Attrs, _ Resolver) ([]byte, error) {
	return func(p Param, base *Key, template Attrs, _ Resolver) ([]byte, error) {
		if !p.Present || p.S == nil || p.S.ECDH1DeriveParams == nil {
			return nil, ck.CKR_MECHANISM_PARAM_INVALID
		}
		if base.Class != ck.CKO_PRIVATE_KEY {
			return nil, ck.CKR_KEY_TYPE_INCONSISTENT
		}
		peer := p.S.ECDH1DeriveParams.PublicData
		var z []byte
		var err error
		switch {
		case base.Type == ck.CKK_EC:
			z, err = ecdhShared(base, peer)
		case base.Type == ck.CKK_EC_MONTGOMERY && !cofactor:
			z, err = montgomeryShared(base, peer)
		default:
			return nil, ck.CKR_KEY_TYPE_INCONSISTENT
		}
		if err != nil {
			return nil, err
		}
		defer clear(z)
		return ecdhKDF(p.S.ECDH1DeriveParams.KDF, z, p.S.ECDH1DeriveParams.SharedData, template)
	}
}

// ecdhShared computes the x-coordinate of d*Q for a NIST-curve private key and a peer point (raw
// uncompressed or DER OCTET STRING). The curves' cofactor is 1, so plain and cofactor ECDH agree.
func ecdhShared(base *Key, peer []byte) ([]byte, error) {
	ek, err := loadEC(base)
	if err != nil {
		return nil, err
	}
	priv, err := ek.priv.ECDH()
	if err != nil {
		return nil, err
	}
	raw, err := ecPointBytes(ek.c, peer)
	if err != nil {
		return nil, ck.CKR_MECHANISM_PARAM_INVALID
	}
	pub, err := ek.c.ecdh.NewPublicKey(raw)
	if err != nil {
		return nil, ck.CKR_MECHANISM_PARAM_INVALID
	}
	z, err := priv.ECDH(pub)
	if err != nil {
		return nil, ck.CKR_MECHANISM_PARAM_INVALID
	}
	return z, nil
}

// ecPublicRules and ecPrivateRules are the value attributes of the elliptic-curve key types (CKK_EC here,
// CKK_EC_EDWARDS and CKK_EC_MONTGOMERY in eddsa.go; PKCS#11 3.0 "Elliptic Curve public key objects" and
// "private key objects"): the curve (CKA_EC_PARAMS), the public point and the private value.
var (
	ecPublicRules = AttrRules{
		ck.CKA_EC_PARAMS: {Rules: RuleCreateRequired | RuleGenRequired},
		ck.CKA_EC_POINT:  {Rules: RuleCreateRequired | RuleGenForbid},
	}
	ecPrivateRules = AttrRules{
		ck.CKA_EC_PARAMS: {Rules: RuleCreateRequired | RuleGenForbid | RuleUnwrapForbid},
		// Not in the specification's table for private keys, but read there by OpenSSL's pkcs11-provider and
		// others: the public point, set by key generation and optional on import.
		ck.CKA_EC_POINT: {Rules: RuleGenForbid | RuleUnwrapForbid},
		ck.CKA_VALUE:    {Rules: RuleCreateRequired | RuleGenForbid | RuleUnwrapForbid | RuleSensitive},
	}
)

func init() {
	RegisterKeyType(&KeyTypeSpec{
		Type:  ck.CKK_EC,
		Rules: pairRules(ecPublicRules, ecPrivateRules, signerUsage),
		Check: checkEC, PKCS8: pkcs8EC, ParsePKCS8: parsePKCS8EC,
	})

	Register(&Spec{
		Type:            ck.CKM_EC_KEY_PAIR_GEN,
		Info:            ck.MechanismInfo{MinKeySize: 256, MaxKeySize: 521, Flags: ck.CKF_GENERATE_KEY_PAIR | ecFlags},
		GenKeyType:      ck.CKK_EC,
		GenerateKeyPair: genEC,
	})

	registerECDSA(ck.CKM_ECDSA, 0)
	registerECDSA(ck.CKM_ECDSA_SHA1, crypto.SHA1)
	registerECDSA(ck.CKM_ECDSA_SHA224, crypto.SHA224)
	registerECDSA(ck.CKM_ECDSA_SHA256, crypto.SHA256)
	registerECDSA(ck.CKM_ECDSA_SHA384, crypto.SHA384)
	registerECDSA(ck.CKM_ECDSA_SHA512, crypto.SHA512)
	registerECDSA(ck.CKM_ECDSA_SHA3_224, crypto.SHA3_224)
	registerECDSA(ck.CKM_ECDSA_SHA3_256, crypto.SHA3_256)
	registerECDSA(ck.CKM_ECDSA_SHA3_384, crypto.SHA3_384)
	registerECDSA(ck.CKM_ECDSA_SHA3_512, crypto.SHA3_512)

	Register(&Spec{
		Type: ck.CKM_ECDH1_DERIVE,
		// Field sizes from 255 (X25519) to 521 (P-521).
		Info:     ck.MechanismInfo{MinKeySize: 255, MaxKeySize: 521, Flags: ck.CKF_DERIVE | ecFlags},
		KeyTypes: []ck.KeyType{ck.CKK_EC, ck.CKK_EC_MONTGOMERY},
		Derive:   ecdhDerive(false),
		// The shared secret is a generic secret unless the template says otherwise.
		SecretKeyType: ck.CKK_GENERIC_SECRET,
	})
	Register(&Spec{
		Type:     ck.CKM_ECDH1_COFACTOR_DERIVE,
		Info:     ck.MechanismInfo{MinKeySize: 256, MaxKeySize: 521, Flags: ck.CKF_DERIVE | ecFlags},
		KeyTypes: []ck.KeyType{ck.CKK_EC},
		Derive:   ecdhDerive(true),
		// As CKM_ECDH1_DERIVE.
		SecretKeyType: ck.CKK_GENERIC_SECRET,
	})
}
