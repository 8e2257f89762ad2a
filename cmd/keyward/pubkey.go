package main

import (
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// Public keys of token objects, as SubjectPublicKeyInfo DER, built from CKA_PUBLIC_KEY_INFO or the key
// type's public attributes. Private and secret values are never read.

var (
	oidECPublicKey = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	oidMLDSA       = map[uint64]asn1.ObjectIdentifier{
		ck.CKP_ML_DSA_44: {2, 16, 840, 1, 101, 3, 4, 3, 17},
		ck.CKP_ML_DSA_65: {2, 16, 840, 1, 101, 3, 4, 3, 18},
		ck.CKP_ML_DSA_87: {2, 16, 840, 1, 101, 3, 4, 3, 19},
	}
	oidMLKEM = map[uint64]asn1.ObjectIdentifier{
		ck.CKP_ML_KEM_512:  {2, 16, 840, 1, 101, 3, 4, 4, 1},
		ck.CKP_ML_KEM_768:  {2, 16, 840, 1, 101, 3, 4, 4, 2},
		ck.CKP_ML_KEM_1024: {2, 16, 840, 1, 101, 3, 4, 4, 3},
	}
	mldsaNames = map[uint64]string{ck.CKP_ML_DSA_44: "ml-dsa-44", ck.CKP_ML_DSA_65: "ml-dsa-65", ck.CKP_ML_DSA_87: "ml-dsa-87"}
	mlkemNames = map[uint64]string{ck.CKP_ML_KEM_512: "ml-kem-512", ck.CKP_ML_KEM_768: "ml-kem-768", ck.CKP_ML_KEM_1024: "ml-kem-1024"}
)

type spkiDER struct {
	Algorithm pkix.AlgorithmIdentifier
	PublicKey asn1.BitString
}

func marshalSPKI(alg asn1.ObjectIdentifier, params []byte, key []byte) ([]byte, error) {
	ai := pkix.AlgorithmIdentifier{Algorithm: alg}
	if params != nil {
		ai.Parameters = asn1.RawValue{FullBytes: params}
	}
	return asn1.Marshal(spkiDER{Algorithm: ai, PublicKey: asn1.BitString{Bytes: key, BitLength: 8 * len(key)}})
}

// publicAttrs are the attributes a public key is built from.
var publicAttrs = []ck.AttributeType{ck.CKA_PUBLIC_KEY_INFO, ck.CKA_MODULUS, ck.CKA_PUBLIC_EXPONENT, ck.CKA_EC_PARAMS,
	ck.CKA_EC_POINT, ck.CKA_PARAMETER_SET}

// curveInfo describes an EC_PARAMS value: its name, the SPKI algorithm and parameters, and the raw point
// length (0 when any).
func curveInfo(params []byte) (name string, alg asn1.ObjectIdentifier, algParams []byte, rawLen int, err error) {
	var oid asn1.ObjectIdentifier
	if rest, e := asn1.Unmarshal(params, &oid); e == nil && len(rest) == 0 {
		switch {
		case oid.Equal(oidP256):
			return "P-256", oidECPublicKey, params, 65, nil
		case oid.Equal(oidP384):
			return "P-384", oidECPublicKey, params, 97, nil
		case oid.Equal(oidP521):
			return "P-521", oidECPublicKey, params, 133, nil
		case oid.Equal(oidEd25519):
			return "Ed25519", oidEd25519, nil, 32, nil
		case oid.Equal(oidEd448):
			return "Ed448", oidEd448, nil, 57, nil
		case oid.Equal(oidX25519):
			return "X25519", oidX25519, nil, 32, nil
		case oid.Equal(oidX448):
			return "X448", oidX448, nil, 56, nil
		}
		return "", nil, nil, 0, fmt.Errorf("unknown curve %v", oid)
	}
	var s string
	if rest, e := asn1.Unmarshal(params, &s); e == nil && len(rest) == 0 {
		switch s {
		case "edwards25519":
			return "Ed25519", oidEd25519, nil, 32, nil
		case "edwards448":
			return "Ed448", oidEd448, nil, 57, nil
		case "curve25519":
			return "X25519", oidX25519, nil, 32, nil
		case "curve448":
			return "X448", oidX448, nil, 56, nil
		case "prime256v1", "secp256r1":
			return "P-256", oidECPublicKey, oidParam(oidP256), 65, nil
		case "secp384r1":
			return "P-384", oidECPublicKey, oidParam(oidP384), 97, nil
		case "secp521r1":
			return "P-521", oidECPublicKey, oidParam(oidP521), 133, nil
		}
		return "", nil, nil, 0, fmt.Errorf("unknown curve %q", s)
	}
	return "", nil, nil, 0, errors.New("unreadable CKA_EC_PARAMS")
}

// unwrapPoint returns the contents of a DER OCTET STRING CKA_EC_POINT, or the value itself when it is
// already the raw point.
func unwrapPoint(v []byte, rawLen int) []byte {
	if len(v) == rawLen {
		return v
	}
	var inner []byte
	if rest, err := asn1.Unmarshal(v, &inner); err == nil && len(rest) == 0 {
		return inner
	}
	return v
}

// spkiOf builds the SubjectPublicKeyInfo of a key of type kt from its attributes; nil if they are missing.
func spkiOf(kt ck.KeyType, a map[ck.AttributeType][]byte) ([]byte, error) {
	if v := a[ck.CKA_PUBLIC_KEY_INFO]; len(v) > 0 {
		return v, nil
	}
	switch kt {
	case ck.CKK_RSA:
		n, e := a[ck.CKA_MODULUS], a[ck.CKA_PUBLIC_EXPONENT]
		if len(n) == 0 || len(e) == 0 {
			return nil, nil
		}
		eb := new(big.Int).SetBytes(e)
		if !eb.IsInt64() || eb.Int64() > 1<<31-1 {
			return nil, errors.New("unsupported RSA public exponent")
		}
		return x509.MarshalPKIXPublicKey(&rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(eb.Int64())})
	case ck.CKK_EC, ck.CKK_EC_EDWARDS, ck.CKK_EC_MONTGOMERY:
		params, point := a[ck.CKA_EC_PARAMS], a[ck.CKA_EC_POINT]
		if len(params) == 0 || len(point) == 0 {
			return nil, nil
		}
		_, alg, algParams, rawLen, err := curveInfo(params)
		if err != nil {
			return nil, err
		}
		return marshalSPKI(alg, algParams, unwrapPoint(point, rawLen))
	case ck.CKK_ML_DSA, ck.CKK_ML_KEM:
		set, ok := ck.MapULong(a, ck.CKA_PARAMETER_SET)
		v := a[ck.CKA_VALUE]
		if !ok || len(v) == 0 {
			return nil, nil
		}
		oid := oidMLDSA[set]
		if kt == ck.CKK_ML_KEM {
			oid = oidMLKEM[set]
		}
		if oid == nil {
			return nil, fmt.Errorf("unknown parameter set %d", set)
		}
		return marshalSPKI(oid, nil, v)
	}
	return nil, nil
}

// publicKey returns the SubjectPublicKeyInfo of a public or private key object. For a private key whose
// own attributes do not carry the public key, it uses the public key object with the same id (or label).
func (s *session) publicKey(o *object) ([]byte, error) {
	kt, ok := o.keyType()
	if !ok {
		return nil, fmt.Errorf("%s is not a key", o.uri())
	}
	types := publicAttrs
	if o.class == ck.CKO_PUBLIC_KEY {
		types = append(append([]ck.AttributeType{}, publicAttrs...), ck.CKA_VALUE) // public: CKA_VALUE is public (ML-DSA, ML-KEM)
	}
	a, err := s.attrs(o.h, types...)
	if err != nil {
		return nil, err
	}
	spki, err := spkiOf(kt, a)
	if err != nil || spki != nil || o.class != ck.CKO_PRIVATE_KEY {
		if spki == nil && err == nil {
			err = fmt.Errorf("%s has no public key attributes", o.uri())
		}
		return spki, err
	}
	t := []ck.Attribute{ck.NewAttribute(ck.CKA_CLASS, ck.CKO_PUBLIC_KEY), ck.NewAttribute(ck.CKA_KEY_TYPE, kt)}
	switch {
	case len(o.id) > 0:
		t = append(t, ck.NewAttribute(ck.CKA_ID, o.id))
	case o.label != "":
		t = append(t, ck.NewAttribute(ck.CKA_LABEL, o.label))
	default:
		return nil, fmt.Errorf("%s carries no public key and has neither id nor label to find its public key", o.uri())
	}
	pubs, err := s.find(t)
	if err != nil {
		return nil, err
	}
	if len(pubs) != 1 {
		return nil, fmt.Errorf("%s carries no public key, and %d public key objects match it", o.uri(), len(pubs))
	}
	return s.publicKey(pubs[0])
}

// publicPEM returns the PEM public key of object h.
func (s *session) publicPEM(h ck.ObjectHandle) (string, error) {
	o, err := s.object(h)
	if err != nil {
		return "", err
	}
	spki, err := s.publicKey(o)
	if err != nil {
		return "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki})), nil
}

// describeKey says what a key is: "ec P-256", "rsa 3072" ...; from the key's public attributes.
func (s *session) describeKey(o *object) string {
	kt, ok := o.keyType()
	if !ok {
		return ""
	}
	a, err := s.attrs(o.h, ck.CKA_MODULUS_BITS, ck.CKA_MODULUS, ck.CKA_EC_PARAMS, ck.CKA_VALUE_LEN, ck.CKA_PARAMETER_SET)
	if err != nil {
		return keyTypeName(kt)
	}
	switch kt {
	case ck.CKK_RSA:
		if bits, ok := ck.MapULong(a, ck.CKA_MODULUS_BITS); ok {
			return fmt.Sprintf("rsa:%d", bits)
		}
		if n := a[ck.CKA_MODULUS]; len(n) > 0 {
			return fmt.Sprintf("rsa:%d", new(big.Int).SetBytes(n).BitLen())
		}
	case ck.CKK_EC, ck.CKK_EC_EDWARDS, ck.CKK_EC_MONTGOMERY:
		if name, _, _, _, err := curveInfo(a[ck.CKA_EC_PARAMS]); err == nil {
			switch name {
			case "P-256", "P-384", "P-521":
				return "ec:" + map[string]string{"P-256": "p256", "P-384": "p384", "P-521": "p521"}[name]
			}
			return map[string]string{"Ed25519": "ed25519", "Ed448": "ed448", "X25519": "x25519", "X448": "x448"}[name]
		}
	case ck.CKK_AES:
		if n, ok := ck.MapULong(a, ck.CKA_VALUE_LEN); ok {
			return fmt.Sprintf("aes:%d", 8*n)
		}
	case ck.CKK_GENERIC_SECRET:
		if n, ok := ck.MapULong(a, ck.CKA_VALUE_LEN); ok {
			return fmt.Sprintf("hmac:%d", 8*n)
		}
	case ck.CKK_ML_DSA:
		if p, ok := ck.MapULong(a, ck.CKA_PARAMETER_SET); ok && mldsaNames[p] != "" {
			return mldsaNames[p]
		}
	case ck.CKK_ML_KEM:
		if p, ok := ck.MapULong(a, ck.CKA_PARAMETER_SET); ok && mlkemNames[p] != "" {
			return mlkemNames[p]
		}
	}
	return keyTypeName(kt)
}

func keyTypeName(kt ck.KeyType) string {
	switch kt {
	case ck.CKK_RSA:
		return "rsa"
	case ck.CKK_EC:
		return "ec"
	case ck.CKK_EC_EDWARDS:
		return "eddsa"
	case ck.CKK_EC_MONTGOMERY:
		return "montgomery"
	case ck.CKK_AES:
		return "aes"
	case ck.CKK_GENERIC_SECRET:
		return "generic-secret"
	case ck.CKK_ML_DSA:
		return "ml-dsa"
	case ck.CKK_ML_KEM:
		return "ml-kem"
	case ck.CKK_HKDF:
		return "hkdf"
	}
	return kt.String()
}

// fingerprint is the SHA-256 of a DER value, in hex.
func fingerprint(der []byte) string {
	h := sha256.Sum256(der)
	return hex.EncodeToString(h[:])
}
