package mech

//lint:file-ignore SA1019 the tests compare the token's EC scalars with Go's

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"testing"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/keyward/keyward/internal/wire"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// Test helpers (prefixed ec, shared with eddsa_test.go).

func ecUnhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func ecWantRV(t testing.TB, what string, err error, want ck.RV) {
	t.Helper()
	var rv ck.RV
	if !errors.As(err, &rv) || rv != want {
		t.Errorf("%s: got %v, want %v", what, err, want)
	}
}

func ecSpec(t testing.TB, m ck.MechanismType) *Spec {
	t.Helper()
	s := Lookup(m)
	if s == nil {
		t.Fatalf("%v not registered", m)
	}
	return s
}

// ecSign signs msg as the engine would: parts == 0 is the single-part call (Single when the operation has
// it, else Update and Final); parts > 0 splits msg into that many Update calls before Final.
func ecSign(t testing.TB, m ck.MechanismType, p Param, k *Key, msg []byte, parts int) ([]byte, error) {
	t.Helper()
	op, err := ecSpec(t, m).Sign(p, k)
	if err != nil {
		return nil, err
	}
	if parts == 0 {
		if s, ok := op.(Single); ok {
			return s.Single(msg)
		}
		parts = 1
	}
	for i := 0; i < parts; i++ {
		lo, hi := len(msg)*i/parts, len(msg)*(i+1)/parts
		if _, err := op.Update(msg[lo:hi]); err != nil {
			return nil, err
		}
	}
	return op.Final()
}

func ecVerify(t testing.TB, m ck.MechanismType, p Param, k *Key, msg, sig []byte, parts int) error {
	t.Helper()
	v, err := ecSpec(t, m).Verify(p, k)
	if err != nil {
		return err
	}
	if parts == 0 {
		if s, ok := v.(SingleVerifier); ok {
			return s.Verify(msg, sig)
		}
		parts = 1
	}
	for i := 0; i < parts; i++ {
		lo, hi := len(msg)*i/parts, len(msg)*(i+1)/parts
		if err := v.Update(msg[lo:hi]); err != nil {
			return err
		}
	}
	return v.Final(sig)
}

func ecMechParam(t testing.TB, m ck.MechanismType, fields map[string]any) Param {
	t.Helper()
	raw, err := wire.EncodeParams(m, fields)
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewParam(&ck.Mechanism{Type: m, Parameter: raw})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func ecdhParam(t testing.TB, m ck.MechanismType, kdf uint64, shared, public []byte) Param {
	t.Helper()
	return ecMechParam(t, m, map[string]any{"kdf": kdf, "pSharedData": shared, "pPublicData": public})
}

func ecDERString(t testing.TB, tag cbasn1.Tag, v []byte) []byte {
	var b cryptobyte.Builder
	b.AddASN1(tag, func(b *cryptobyte.Builder) { b.AddBytes(v) })
	return b.BytesOrPanic()
}

func ecOIDParams(t testing.TB, oid asn1.ObjectIdentifier) []byte {
	t.Helper()
	b, err := asn1.Marshal(oid)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func ecNameParams(t testing.TB, name string) []byte {
	return ecDERString(t, cbasn1.PrintableString, []byte(name))
}

// ecGoKey makes key objects for a key made by Go's crypto/ecdsa (not by this package).
func ecGoKey(t testing.TB, curve elliptic.Curve, params []byte) (pub, priv *Key, k *ecdsa.PrivateKey) {
	t.Helper()
	k, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	point, err := k.PublicKey.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	pub = NewKey(ck.CKO_PUBLIC_KEY, ck.CKK_EC, Attrs{
		ck.CKA_EC_PARAMS: params, ck.CKA_EC_POINT: ecDERString(t, cbasn1.OCTET_STRING, point)}, nil)
	priv = NewKey(ck.CKO_PRIVATE_KEY, ck.CKK_EC, Attrs{
		ck.CKA_EC_PARAMS: params, ck.CKA_VALUE: k.D.Bytes()}, nil)
	return pub, priv, k
}

type ecTestCurve struct {
	name  string
	curve elliptic.Curve
	oid   asn1.ObjectIdentifier
	size  int
	hash  crypto.Hash
}

var ecTestCurves = []ecTestCurve{
	{"P-256", elliptic.P256(), asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}, 32, crypto.SHA256},
	{"P-384", elliptic.P384(), asn1.ObjectIdentifier{1, 3, 132, 0, 34}, 48, crypto.SHA384},
	{"P-521", elliptic.P521(), asn1.ObjectIdentifier{1, 3, 132, 0, 35}, 66, crypto.SHA512},
}

func TestECMechanismInfo(t *testing.T) {
	want := map[ck.MechanismType]struct {
		min, max, flags uint64
		keys            []ck.KeyType
	}{
		ck.CKM_EC_KEY_PAIR_GEN:            {256, 521, ck.CKF_GENERATE_KEY_PAIR, nil},
		ck.CKM_ECDSA:                      {256, 521, ck.CKF_SIGN | ck.CKF_VERIFY, []ck.KeyType{ck.CKK_EC}},
		ck.CKM_ECDSA_SHA1:                 {256, 521, ck.CKF_SIGN | ck.CKF_VERIFY, []ck.KeyType{ck.CKK_EC}},
		ck.CKM_ECDSA_SHA3_512:             {256, 521, ck.CKF_SIGN | ck.CKF_VERIFY, []ck.KeyType{ck.CKK_EC}},
		ck.CKM_ECDH1_DERIVE:               {255, 521, ck.CKF_DERIVE, []ck.KeyType{ck.CKK_EC, ck.CKK_EC_MONTGOMERY}},
		ck.CKM_ECDH1_COFACTOR_DERIVE:      {256, 521, ck.CKF_DERIVE, []ck.KeyType{ck.CKK_EC}},
		ck.CKM_EC_EDWARDS_KEY_PAIR_GEN:    {255, 448, ck.CKF_GENERATE_KEY_PAIR, nil},
		ck.CKM_EC_MONTGOMERY_KEY_PAIR_GEN: {255, 448, ck.CKF_GENERATE_KEY_PAIR, nil},
		ck.CKM_EDDSA:                      {255, 448, ck.CKF_SIGN | ck.CKF_VERIFY, []ck.KeyType{ck.CKK_EC_EDWARDS}},
	}
	for m, w := range want {
		s := ecSpec(t, m)
		if s.Info.MinKeySize != w.min || s.Info.MaxKeySize != w.max {
			t.Errorf("%v: key sizes %d..%d, want %d..%d", m, s.Info.MinKeySize, s.Info.MaxKeySize, w.min, w.max)
		}
		// Every EC mechanism names its field type and its domain-parameter encodings (PKCS#11 "must set").
		ecf := uint64(ck.CKF_EC_F_P | ck.CKF_EC_OID | ck.CKF_EC_CURVENAME)
		if s.Info.Flags&w.flags != w.flags || s.Info.Flags&ecf != ecf || s.Info.Flags&ck.CKF_EC_COMPRESS != 0 {
			t.Errorf("%v: flags %#x", m, s.Info.Flags)
		}
		if fmt.Sprint(s.KeyTypes) != fmt.Sprint(w.keys) {
			t.Errorf("%v: key types %v, want %v", m, s.KeyTypes, w.keys)
		}
	}
	for _, kt := range []ck.KeyType{ck.CKK_EC, ck.CKK_EC_EDWARDS, ck.CKK_EC_MONTGOMERY} {
		if KeyTypeOf(kt) == nil {
			t.Errorf("key type %v not registered", kt)
		}
	}
}

func TestECParams(t *testing.T) {
	// The named-curve OID DER of P-256 as RFC 5480 and every certificate spell it.
	p256DER := ecUnhex(t, "06082a8648ce3d030107")
	for _, c := range []struct {
		params []byte
		kt     ck.KeyType
		want   curveID
	}{
		{p256DER, ck.CKK_EC, curveP256},
		{ecNameParams(t, "prime256v1"), ck.CKK_EC, curveP256},
		{ecNameParams(t, "secp256r1"), ck.CKK_EC, curveP256},
		{ecOIDParams(t, asn1.ObjectIdentifier{1, 3, 132, 0, 34}), ck.CKK_EC, curveP384},
		{ecNameParams(t, "secp384r1"), ck.CKK_EC, curveP384},
		{ecOIDParams(t, asn1.ObjectIdentifier{1, 3, 132, 0, 35}), ck.CKK_EC, curveP521},
		{ecNameParams(t, "secp521r1"), ck.CKK_EC, curveP521},
		// The specification's own sample: PrintableString "edwards25519".
		{[]byte{0x13, 0x0c, 0x65, 0x64, 0x77, 0x61, 0x72, 0x64, 0x73, 0x32, 0x35, 0x35, 0x31, 0x39}, ck.CKK_EC_EDWARDS, curveEd25519},
		{ecUnhex(t, "06032b6570"), ck.CKK_EC_EDWARDS, curveEd25519},
		{ecUnhex(t, "06032b6571"), ck.CKK_EC_EDWARDS, curveEd448},
		{ecNameParams(t, "edwards448"), ck.CKK_EC_EDWARDS, curveEd448},
		{ecUnhex(t, "06032b656e"), ck.CKK_EC_MONTGOMERY, curveX25519},
		{ecNameParams(t, "curve25519"), ck.CKK_EC_MONTGOMERY, curveX25519},
		{ecUnhex(t, "06032b656f"), ck.CKK_EC_MONTGOMERY, curveX448},
		{ecNameParams(t, "curve448"), ck.CKK_EC_MONTGOMERY, curveX448},
	} {
		got, err := curveOf(Attrs{ck.CKA_EC_PARAMS: c.params}, c.kt)
		if err != nil || got.id != c.want {
			t.Errorf("%x as %v: %v, %v", c.params, c.kt, got, err)
		}
	}
	for _, c := range []struct {
		params []byte
		kt     ck.KeyType
		want   ck.RV
	}{
		{ecOIDParams(t, asn1.ObjectIdentifier{1, 3, 132, 0, 10}), ck.CKK_EC, ck.CKR_CURVE_NOT_SUPPORTED}, // secp256k1
		{ecNameParams(t, "brainpoolP256r1"), ck.CKK_EC, ck.CKR_CURVE_NOT_SUPPORTED},
		{ecUnhex(t, "06032b6570"), ck.CKK_EC, ck.CKR_CURVE_NOT_SUPPORTED},         // Ed25519 on CKK_EC
		{p256DER, ck.CKK_EC_EDWARDS, ck.CKR_CURVE_NOT_SUPPORTED},                  // P-256 on Edwards
		{ecUnhex(t, "06032b656e"), ck.CKK_EC_EDWARDS, ck.CKR_CURVE_NOT_SUPPORTED}, // X25519 on Edwards
		{ecNameParams(t, "edwards25519"), ck.CKK_EC_MONTGOMERY, ck.CKR_CURVE_NOT_SUPPORTED},
		{ecUnhex(t, "0500"), ck.CKK_EC, ck.CKR_DOMAIN_PARAMS_INVALID},              // implicitlyCA
		{ecUnhex(t, "3003020101"), ck.CKK_EC, ck.CKR_DOMAIN_PARAMS_INVALID},        // ecParameters
		{append(bytes.Clone(p256DER), 0), ck.CKK_EC, ck.CKR_DOMAIN_PARAMS_INVALID}, // trailing data
		{p256DER[:5], ck.CKK_EC, ck.CKR_DOMAIN_PARAMS_INVALID},                     // truncated
		{ecDERString(t, cbasn1.UTF8String, []byte("prime256v1")), ck.CKK_EC, ck.CKR_DOMAIN_PARAMS_INVALID},
	} {
		_, err := curveOf(Attrs{ck.CKA_EC_PARAMS: c.params}, c.kt)
		ecWantRV(t, fmt.Sprintf("%x as %v", c.params, c.kt), err, c.want)
	}
	_, err := curveOf(Attrs{}, ck.CKK_EC)
	ecWantRV(t, "no CKA_EC_PARAMS", err, ck.CKR_TEMPLATE_INCOMPLETE)
}

func TestECCheck(t *testing.T) {
	check := KeyTypeOf(ck.CKK_EC).Check
	for _, tc := range ecTestCurves {
		params := ecOIDParams(t, tc.oid)
		k, err := ecdsa.GenerateKey(tc.curve, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		point, _ := k.PublicKey.Bytes()
		der := ecDERString(t, cbasn1.OCTET_STRING, point)

		for _, form := range [][]byte{der, point} {
			add, err := check(ck.CKO_PUBLIC_KEY, Attrs{ck.CKA_EC_PARAMS: params, ck.CKA_EC_POINT: form})
			if err != nil {
				t.Fatalf("%s public %x: %v", tc.name, form[:3], err)
			}
			got, err := x509.ParsePKIXPublicKey(add[ck.CKA_PUBLIC_KEY_INFO])
			if err != nil || !k.PublicKey.Equal(got) {
				t.Errorf("%s: CKA_PUBLIC_KEY_INFO %v", tc.name, err)
			}
		}
		// Off the curve, compressed, wrong length, no point.
		bad := bytes.Clone(point)
		bad[len(bad)-1] ^= 1
		_, err = check(ck.CKO_PUBLIC_KEY, Attrs{ck.CKA_EC_PARAMS: params, ck.CKA_EC_POINT: ecDERString(t, cbasn1.OCTET_STRING, bad)})
		ecWantRV(t, tc.name+" off-curve point", err, ck.CKR_ATTRIBUTE_VALUE_INVALID)
		compressed := elliptic.MarshalCompressed(tc.curve, k.X, k.Y)
		_, err = check(ck.CKO_PUBLIC_KEY, Attrs{ck.CKA_EC_PARAMS: params, ck.CKA_EC_POINT: ecDERString(t, cbasn1.OCTET_STRING, compressed)})
		ecWantRV(t, tc.name+" compressed point", err, ck.CKR_TEMPLATE_INCONSISTENT)
		_, err = check(ck.CKO_PUBLIC_KEY, Attrs{ck.CKA_EC_PARAMS: params, ck.CKA_EC_POINT: point[:len(point)-1]})
		ecWantRV(t, tc.name+" short point", err, ck.CKR_ATTRIBUTE_VALUE_INVALID)
		_, err = check(ck.CKO_PUBLIC_KEY, Attrs{ck.CKA_EC_PARAMS: params})
		ecWantRV(t, tc.name+" no point", err, ck.CKR_TEMPLATE_INCOMPLETE)

		// Private: the scalar with or without leading zeros; the point it implies is added.
		d := k.D.Bytes()
		for _, v := range [][]byte{d, append([]byte{0, 0}, d...)} {
			add, err := check(ck.CKO_PRIVATE_KEY, Attrs{ck.CKA_EC_PARAMS: params, ck.CKA_VALUE: v})
			if err != nil {
				t.Fatalf("%s private: %v", tc.name, err)
			}
			if !bytes.Equal(add[ck.CKA_EC_POINT], der) {
				t.Errorf("%s: private key's CKA_EC_POINT %x, want %x", tc.name, add[ck.CKA_EC_POINT], der)
			}
		}
		_, err = check(ck.CKO_PRIVATE_KEY, Attrs{ck.CKA_EC_PARAMS: params, ck.CKA_VALUE: d, ck.CKA_EC_POINT: point})
		if err != nil {
			t.Errorf("%s: private key with its own raw point: %v", tc.name, err)
		}
		other, _ := ecdsa.GenerateKey(tc.curve, rand.Reader)
		otherPoint, _ := other.PublicKey.Bytes()
		_, err = check(ck.CKO_PRIVATE_KEY, Attrs{ck.CKA_EC_PARAMS: params, ck.CKA_VALUE: d, ck.CKA_EC_POINT: otherPoint})
		ecWantRV(t, tc.name+" private with another point", err, ck.CKR_TEMPLATE_INCONSISTENT)
		n := tc.curve.Params().N
		for _, v := range []*big.Int{big.NewInt(0), n, new(big.Int).Add(n, big.NewInt(1))} {
			_, err = check(ck.CKO_PRIVATE_KEY, Attrs{ck.CKA_EC_PARAMS: params, ck.CKA_VALUE: v.Bytes()})
			ecWantRV(t, fmt.Sprintf("%s private %v", tc.name, v), err, ck.CKR_ATTRIBUTE_VALUE_INVALID)
		}
		_, err = check(ck.CKO_PRIVATE_KEY, Attrs{ck.CKA_EC_PARAMS: params, ck.CKA_VALUE: new(big.Int).Sub(n, big.NewInt(1)).Bytes()})
		if err != nil {
			t.Errorf("%s: private n-1: %v", tc.name, err)
		}
	}
	_, err := check(ck.CKO_PUBLIC_KEY, Attrs{ck.CKA_EC_PARAMS: ecOIDParams(t, asn1.ObjectIdentifier{1, 3, 132, 0, 10}), ck.CKA_EC_POINT: []byte{4}})
	ecWantRV(t, "secp256k1 key", err, ck.CKR_CURVE_NOT_SUPPORTED)
}

func TestECKeyPairGen(t *testing.T) {
	s := ecSpec(t, ck.CKM_EC_KEY_PAIR_GEN)
	if s.GenKeyType != ck.CKK_EC {
		t.Errorf("GenKeyType %v", s.GenKeyType)
	}
	for _, tc := range ecTestCurves {
		for _, params := range [][]byte{ecOIDParams(t, tc.oid), ecNameParams(t, map[string]string{
			"P-256": "prime256v1", "P-384": "secp384r1", "P-521": "secp521r1"}[tc.name])} {
			pubA, privA, err := s.GenerateKeyPair(Param{}, Attrs{ck.CKA_EC_PARAMS: params}, Attrs{})
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if _, ok := pubA[ck.CKA_EC_PARAMS]; ok {
				t.Errorf("%s: public CKA_EC_PARAMS returned though the template has it", tc.name)
			}
			if !bytes.Equal(privA[ck.CKA_EC_PARAMS], params) {
				t.Errorf("%s: private CKA_EC_PARAMS %x", tc.name, privA[ck.CKA_EC_PARAMS])
			}
			// The point is a DER OCTET STRING of the uncompressed point, the public key of d (checked by Go).
			var inner cryptobyte.String
			s2 := cryptobyte.String(pubA[ck.CKA_EC_POINT])
			if !s2.ReadASN1(&inner, cbasn1.OCTET_STRING) || !s2.Empty() || len(inner) != 1+2*tc.size || inner[0] != 4 {
				t.Fatalf("%s: CKA_EC_POINT %x", tc.name, pubA[ck.CKA_EC_POINT])
			}
			goPriv, err := ecdsa.ParseRawPrivateKey(tc.curve, privA[ck.CKA_VALUE])
			if err != nil {
				t.Fatalf("%s: CKA_VALUE: %v", tc.name, err)
			}
			want, _ := goPriv.PublicKey.Bytes()
			if !bytes.Equal(inner, want) || !bytes.Equal(privA[ck.CKA_EC_POINT], pubA[ck.CKA_EC_POINT]) {
				t.Errorf("%s: point does not belong to the private value", tc.name)
			}
			for _, a := range []Attrs{pubA, privA} {
				got, err := x509.ParsePKIXPublicKey(a[ck.CKA_PUBLIC_KEY_INFO])
				if err != nil || !goPriv.PublicKey.Equal(got) {
					t.Errorf("%s: CKA_PUBLIC_KEY_INFO: %v", tc.name, err)
				}
			}
			// The generated objects pass the import check and sign for Go.
			pubAttrs := Attrs{ck.CKA_EC_PARAMS: params, ck.CKA_EC_POINT: pubA[ck.CKA_EC_POINT]}
			if _, err := KeyTypeOf(ck.CKK_EC).Check(ck.CKO_PUBLIC_KEY, pubAttrs); err != nil {
				t.Errorf("%s: generated public key fails Check: %v", tc.name, err)
			}
			if _, err := KeyTypeOf(ck.CKK_EC).Check(ck.CKO_PRIVATE_KEY, privA); err != nil {
				t.Errorf("%s: generated private key fails Check: %v", tc.name, err)
			}
			priv := NewKey(ck.CKO_PRIVATE_KEY, ck.CKK_EC, privA, nil)
			digest := make([]byte, tc.size)
			rand.Read(digest)
			sig, err := ecSign(t, ck.CKM_ECDSA, Param{}, priv, digest, 0)
			if err != nil {
				t.Fatal(err)
			}
			r, ss := new(big.Int).SetBytes(sig[:tc.size]), new(big.Int).SetBytes(sig[tc.size:])
			if !ecdsa.Verify(&goPriv.PublicKey, digest, r, ss) {
				t.Errorf("%s: Go rejects a signature by a generated key", tc.name)
			}
		}
	}
	_, _, err := s.GenerateKeyPair(Param{}, Attrs{}, Attrs{})
	ecWantRV(t, "no CKA_EC_PARAMS", err, ck.CKR_TEMPLATE_INCOMPLETE)
	_, _, err = s.GenerateKeyPair(Param{}, Attrs{ck.CKA_EC_PARAMS: ecUnhex(t, "06032b6570")}, Attrs{})
	ecWantRV(t, "Ed25519 with CKM_EC_KEY_PAIR_GEN", err, ck.CKR_CURVE_NOT_SUPPORTED)
	_, _, err = s.GenerateKeyPair(Param{}, Attrs{ck.CKA_EC_PARAMS: ecNameParams(t, "secp224r1")}, Attrs{})
	ecWantRV(t, "P-224", err, ck.CKR_CURVE_NOT_SUPPORTED)
	_, _, err = s.GenerateKeyPair(Param{Present: true, Raw: []byte{1}}, Attrs{ck.CKA_EC_PARAMS: ecNameParams(t, "prime256v1")}, Attrs{})
	ecWantRV(t, "a parameter", err, ck.CKR_MECHANISM_PARAM_INVALID)
}

var ecdsaHashed = map[ck.MechanismType]crypto.Hash{
	ck.CKM_ECDSA_SHA1: crypto.SHA1, ck.CKM_ECDSA_SHA224: crypto.SHA224, ck.CKM_ECDSA_SHA256: crypto.SHA256,
	ck.CKM_ECDSA_SHA384: crypto.SHA384, ck.CKM_ECDSA_SHA512: crypto.SHA512,
	ck.CKM_ECDSA_SHA3_224: crypto.SHA3_224, ck.CKM_ECDSA_SHA3_256: crypto.SHA3_256,
	ck.CKM_ECDSA_SHA3_384: crypto.SHA3_384, ck.CKM_ECDSA_SHA3_512: crypto.SHA3_512,
}

// Signatures made here verify with Go's crypto/ecdsa and the reverse, for every curve and hash,
// single-part and multi-part.
func TestECDSARoundTrip(t *testing.T) {
	msg := make([]byte, 1000)
	rand.Read(msg)
	for _, tc := range ecTestCurves {
		pub, priv, goKey := ecGoKey(t, tc.curve, ecOIDParams(t, tc.oid))
		for m, h := range ecdsaHashed {
			hh := h.New()
			hh.Write(msg)
			digest := hh.Sum(nil)
			for _, parts := range []int{0, 1, 3} {
				sig, err := ecSign(t, m, Param{}, priv, msg, parts)
				if err != nil {
					t.Fatalf("%s %v: %v", tc.name, m, err)
				}
				if len(sig) != 2*tc.size {
					t.Fatalf("%s %v: signature of %d bytes", tc.name, m, len(sig))
				}
				r, s := new(big.Int).SetBytes(sig[:tc.size]), new(big.Int).SetBytes(sig[tc.size:])
				if !ecdsa.Verify(&goKey.PublicKey, digest, r, s) {
					t.Errorf("%s %v parts=%d: Go rejects the signature", tc.name, m, parts)
				}
			}
			r, s, err := ecdsa.Sign(rand.Reader, goKey, digest)
			if err != nil {
				t.Fatal(err)
			}
			sig := make([]byte, 2*tc.size)
			r.FillBytes(sig[:tc.size])
			s.FillBytes(sig[tc.size:])
			for _, parts := range []int{0, 2} {
				if err := ecVerify(t, m, Param{}, pub, msg, sig, parts); err != nil {
					t.Errorf("%s %v parts=%d: Go's signature rejected: %v", tc.name, m, parts, err)
				}
			}
			ecWantRV(t, tc.name+" other message", ecVerify(t, m, Param{}, pub, msg[1:], sig, 0), ck.CKR_SIGNATURE_INVALID)
			// A private key object verifies too.
			if err := ecVerify(t, m, Param{}, priv, msg, sig, 0); err != nil {
				t.Errorf("%s %v: verify with the private key object: %v", tc.name, m, err)
			}
		}

		// CKM_ECDSA over a hash: equal to Go, single-part only, hash longer than the order truncated.
		digest := make([]byte, 64)
		rand.Read(digest)
		sig, err := ecSign(t, ck.CKM_ECDSA, Param{}, priv, digest, 0)
		if err != nil {
			t.Fatal(err)
		}
		r, s := new(big.Int).SetBytes(sig[:tc.size]), new(big.Int).SetBytes(sig[tc.size:])
		if !ecdsa.Verify(&goKey.PublicKey, digest, r, s) {
			t.Errorf("%s CKM_ECDSA: Go rejects", tc.name)
		}
		if tc.size < 64 && tc.curve.Params().N.BitLen() == 8*tc.size {
			// The order is a whole number of bytes: only the leftmost nLen bytes count.
			if err := ecVerify(t, ck.CKM_ECDSA, Param{}, pub, digest[:tc.size], sig, 0); err != nil {
				t.Errorf("%s CKM_ECDSA: truncated hash: %v", tc.name, err)
			}
			other := bytes.Clone(digest)
			other[63] ^= 1
			if err := ecVerify(t, ck.CKM_ECDSA, Param{}, pub, other, sig, 0); err != nil {
				t.Errorf("%s CKM_ECDSA: a change past the order's length matters: %v", tc.name, err)
			}
		}
		if err := ecVerify(t, ck.CKM_ECDSA, Param{}, pub, digest, sig, 0); err != nil {
			t.Errorf("%s CKM_ECDSA verify: %v", tc.name, err)
		}
		_, err = ecSign(t, ck.CKM_ECDSA, Param{}, priv, digest, 1)
		ecWantRV(t, "CKM_ECDSA multi-part sign", err, ck.CKR_FUNCTION_NOT_SUPPORTED)
		ecWantRV(t, "CKM_ECDSA multi-part verify", ecVerify(t, ck.CKM_ECDSA, Param{}, pub, digest, sig, 1), ck.CKR_FUNCTION_NOT_SUPPORTED)

		// Signature lengths: odd, empty, longer than 2*nLen.
		ecWantRV(t, "odd signature", ecVerify(t, ck.CKM_ECDSA, Param{}, pub, digest, sig[1:], 0), ck.CKR_SIGNATURE_LEN_RANGE)
		ecWantRV(t, "empty signature", ecVerify(t, ck.CKM_ECDSA, Param{}, pub, digest, nil, 0), ck.CKR_SIGNATURE_LEN_RANGE)
		long := append(append([]byte{0}, sig[:tc.size]...), append([]byte{0}, sig[tc.size:]...)...)
		ecWantRV(t, "long signature", ecVerify(t, ck.CKM_ECDSA, Param{}, pub, digest, long, 0), ck.CKR_SIGNATURE_LEN_RANGE)
		bad := bytes.Clone(sig)
		bad[3] ^= 0x10
		ecWantRV(t, "changed signature", ecVerify(t, ck.CKM_ECDSA, Param{}, pub, digest, bad, 0), ck.CKR_SIGNATURE_INVALID)
	}

	_, priv, _ := ecGoKey(t, elliptic.P256(), ecOIDParams(t, ecTestCurves[0].oid))
	_, err := ecSign(t, ck.CKM_ECDSA_SHA256, Param{Present: true, Raw: make([]byte, 8)}, priv, msg, 0)
	ecWantRV(t, "ECDSA with a parameter", err, ck.CKR_MECHANISM_PARAM_INVALID)
	edPub := NewKey(ck.CKO_PRIVATE_KEY, ck.CKK_EC_EDWARDS, Attrs{}, nil)
	_, err = ecSpec(t, ck.CKM_ECDSA).Sign(Param{}, edPub)
	ecWantRV(t, "ECDSA with an Edwards key", err, ck.CKR_KEY_TYPE_INCONSISTENT)
}

// ecDERSigToRaw converts a DER ECDSA-Sig-Value to r||s; ok is false when it is not strict DER or a value
// does not fit (both mean the signature cannot be given to a PKCS#11 token: it is invalid).
func ecDERSigToRaw(sig []byte, size int) ([]byte, bool) {
	s := cryptobyte.String(sig)
	var seq cryptobyte.String
	r, ss := new(big.Int), new(big.Int)
	if !s.ReadASN1(&seq, cbasn1.SEQUENCE) || !s.Empty() || !seq.ReadASN1Integer(r) || !seq.ReadASN1Integer(ss) || !seq.Empty() {
		return nil, false
	}
	if r.Sign() < 0 || ss.Sign() < 0 || r.BitLen() > 8*size || ss.BitLen() > 8*size {
		return nil, false
	}
	out := make([]byte, 2*size)
	r.FillBytes(out[:size])
	ss.FillBytes(out[size:])
	return out, true
}

type ecdsaWycheproof struct {
	TestGroups []struct {
		PublicKey struct {
			Curve        string `json:"curve"`
			Uncompressed string `json:"uncompressed"`
		} `json:"publicKey"`
		SHA   string `json:"sha"`
		Tests []struct {
			TcID   int      `json:"tcId"`
			Msg    string   `json:"msg"`
			Sig    string   `json:"sig"`
			Result string   `json:"result"`
			Flags  []string `json:"flags"`
		} `json:"tests"`
	} `json:"testGroups"`
}

var ecWycheproofCurves = map[string]ecTestCurve{
	"secp256r1": ecTestCurves[0], "secp384r1": ecTestCurves[1], "secp521r1": ecTestCurves[2],
}

var ecWycheproofHash = map[string]ck.MechanismType{
	"SHA-256": ck.CKM_ECDSA_SHA256, "SHA-384": ck.CKM_ECDSA_SHA384, "SHA-512": ck.CKM_ECDSA_SHA512,
}

func TestECDSAWycheproof(t *testing.T) {
	for _, f := range []struct {
		name string
		der  bool
	}{
		{"ecdsa_secp256r1_sha256_test.json", true},
		{"ecdsa_secp256r1_sha256_p1363_test.json", false},
		{"ecdsa_secp384r1_sha384_p1363_test.json", false},
		{"ecdsa_secp521r1_sha512_p1363_test.json", false},
	} {
		var file ecdsaWycheproof
		loadWycheproof(t, f.name, &file)
		count := wycheproofCount{file: f.name}
		pkcs11Short := 0
		check := KeyTypeOf(ck.CKK_EC).Check
		for gi, g := range file.TestGroups {
			tc, ok := ecWycheproofCurves[g.PublicKey.Curve]
			m, ok2 := ecWycheproofHash[g.SHA]
			if !ok || !ok2 {
				t.Fatalf("%s: group %d: curve %s, hash %s", f.name, gi, g.PublicKey.Curve, g.SHA)
			}
			params := ecOIDParams(t, tc.oid)
			point := ecUnhex(t, g.PublicKey.Uncompressed)
			if gi%2 == 0 {
				point = ecDERString(t, cbasn1.OCTET_STRING, point) // both encodings of CKA_EC_POINT
			}
			attrs := Attrs{ck.CKA_EC_PARAMS: params, ck.CKA_EC_POINT: point}
			if _, err := check(ck.CKO_PUBLIC_KEY, attrs); err != nil {
				t.Fatalf("%s group %d: public key rejected: %v", f.name, gi, err)
			}
			pub := NewKey(ck.CKO_PUBLIC_KEY, ck.CKK_EC, attrs, nil)
			for _, v := range g.Tests {
				count.total++
				msg := ecUnhex(t, v.Msg)
				sig := ecUnhex(t, v.Sig)
				parsed := true
				if f.der {
					sig, parsed = ecDERSigToRaw(sig, tc.size)
				}
				accepted := false
				if parsed {
					err := ecVerify(t, m, Param{}, pub, msg, sig, v.TcID%3)
					accepted = err == nil
					// CKM_ECDSA over Go's hash of the message must agree.
					h, _ := HashOf(map[ck.MechanismType]ck.MechanismType{
						ck.CKM_ECDSA_SHA256: ck.CKM_SHA256, ck.CKM_ECDSA_SHA384: ck.CKM_SHA384, ck.CKM_ECDSA_SHA512: ck.CKM_SHA512}[m])
					hh := h.New()
					hh.Write(msg)
					if raw := ecVerify(t, ck.CKM_ECDSA, Param{}, pub, hh.Sum(nil), sig, 0) == nil; raw != accepted {
						t.Errorf("%s tcId %d: CKM_ECDSA says %v, %v says %v", f.name, v.TcID, raw, m, accepted)
					}
					if err != nil {
						var rv ck.RV
						if !errors.As(err, &rv) || (rv != ck.CKR_SIGNATURE_INVALID && rv != ck.CKR_SIGNATURE_LEN_RANGE) {
							t.Errorf("%s tcId %d: rejected with %v", f.name, v.TcID, err)
						}
					}
				}
				want := v.Result == "valid"
				if !f.der && len(sig)%2 == 0 && len(sig) < 2*tc.size && slices.Contains(v.Flags, "SignatureSize") {
					// P1363 demands exactly 2*nLen bytes; PKCS#11 ("EC Signatures") lets a verifier be given
					// a shorter signature whose halves are r and s. Wycheproof's short forms of valid
					// signatures are then valid: Go's ecdsa.Verify on the halves decides.
					h := NewHash(map[ck.MechanismType]crypto.Hash{ck.CKM_ECDSA_SHA256: crypto.SHA256,
						ck.CKM_ECDSA_SHA384: crypto.SHA384, ck.CKM_ECDSA_SHA512: crypto.SHA512}[m])
					h.Write(msg)
					goPub, _ := ecdsa.ParseUncompressedPublicKey(tc.curve, ecUnhex(t, g.PublicKey.Uncompressed))
					want = ecdsa.Verify(goPub, h.Sum(nil), new(big.Int).SetBytes(sig[:len(sig)/2]), new(big.Int).SetBytes(sig[len(sig)/2:]))
					pkcs11Short++
				}
				count.check(t, want == accepted || v.Result == "acceptable", "%s tcId %d (%s): accepted=%v", f.name, v.TcID, v.Result, accepted)
			}
		}
		count.report(t)
		if pkcs11Short > 0 {
			t.Logf("%s: %d short (P1363-invalid) signatures judged by the PKCS#11 rule", f.name, pkcs11Short)
		}
	}
}

type ecdhWycheproof struct {
	TestGroups []struct {
		Curve    string `json:"curve"`
		Encoding string `json:"encoding"`
		Tests    []struct {
			TcID    int      `json:"tcId"`
			Public  string   `json:"public"`
			Private string   `json:"private"`
			Shared  string   `json:"shared"`
			Result  string   `json:"result"`
			Flags   []string `json:"flags"`
		} `json:"tests"`
	} `json:"testGroups"`
}

// ecSPKIPoint extracts the point of an id-ecPublicKey SubjectPublicKeyInfo naming the curve oid: what a
// PKCS#11 application would put in pPublicData. ok is false for anything a token cannot be given (another
// curve, explicit parameters, bad DER): the harness rejects those itself.
func ecSPKIPoint(spki []byte, oid asn1.ObjectIdentifier) ([]byte, bool) {
	s := cryptobyte.String(spki)
	var seq, alg cryptobyte.String
	var algOID, curveOID asn1.ObjectIdentifier
	var point asn1.BitString
	if !s.ReadASN1(&seq, cbasn1.SEQUENCE) || !s.Empty() || !seq.ReadASN1(&alg, cbasn1.SEQUENCE) ||
		!alg.ReadASN1ObjectIdentifier(&algOID) || !algOID.Equal(asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}) ||
		!alg.ReadASN1ObjectIdentifier(&curveOID) || !alg.Empty() || !curveOID.Equal(oid) ||
		!seq.ReadASN1BitString(&point) || !seq.Empty() || point.BitLength%8 != 0 {
		return nil, false
	}
	return point.Bytes, true
}

func TestECDHWycheproof(t *testing.T) {
	for _, name := range []string{"ecdh_secp256r1_test.json", "ecdh_secp384r1_test.json", "ecdh_secp521r1_test.json"} {
		var file ecdhWycheproof
		loadWycheproof(t, name, &file)
		count := wycheproofCount{file: name}
		for _, g := range file.TestGroups {
			tc, ok := ecWycheproofCurves[g.Curve]
			if !ok || g.Encoding != "asn" {
				t.Fatalf("%s: group %s/%s", name, g.Curve, g.Encoding)
			}
			params := ecOIDParams(t, tc.oid)
			for _, v := range g.Tests {
				count.total++
				priv := NewKey(ck.CKO_PRIVATE_KEY, ck.CKK_EC, Attrs{ck.CKA_EC_PARAMS: params, ck.CKA_VALUE: ecUnhex(t, v.Private)}, nil)
				point, ok := ecSPKIPoint(ecUnhex(t, v.Public), tc.oid)
				var got []byte
				var err error = errors.New("not a public key of this curve")
				if ok {
					if v.TcID%2 == 0 {
						point = ecDERString(t, cbasn1.OCTET_STRING, point)
					}
					m := ck.CKM_ECDH1_DERIVE
					if v.TcID%3 == 0 {
						m = ck.CKM_ECDH1_COFACTOR_DERIVE
					}
					p := ecdhParam(t, m, ck.CKD_NULL, nil, point)
					got, err = ecSpec(t, m).Derive(p, priv, Attrs{}, nil)
					if err != nil {
						ecWantRV(t, fmt.Sprintf("%s tcId %d", name, v.TcID), err, ck.CKR_MECHANISM_PARAM_INVALID)
					}
				}
				want := ecUnhex(t, v.Shared)
				var good bool
				switch v.Result {
				case "valid":
					good = err == nil && bytes.Equal(got, want)
				case "invalid":
					good = err != nil
				default:
					good = err != nil || bytes.Equal(got, want)
				}
				count.check(t, good, "%s tcId %d (%s %v): %x, %v", name, v.TcID, v.Result, v.Flags, got, err)
			}
		}
		count.report(t)
	}
}

// X9.63 KDF known answers from NIST's CAVS ANSI X9.63 component test vectors.
func TestECDHX963KDF(t *testing.T) {
	for _, v := range []struct {
		h               crypto.Hash
		z, info, output string
	}{
		{crypto.SHA1, "1c7d7b5f0597b03d06a018466ed1a93e30ed4b04dc64ccdd", "", "bf71dffd8f4d99223936beb46fee8ccc"},
		{crypto.SHA256, "96c05619d56c328ab95fe84b18264b08725b85e33fd34f08", "", "443024c3dae66b95e6f5670601558f71"},
		{crypto.SHA256, "96f600b73ad6ac5629577eced51743dd2c24c21b1ac83ee4", "", "b6295162a7804f5667ba9070f82fa522"},
		{crypto.SHA256, "22518b10e70f2a3f243810ae3254139efbee04aa57c7af7d", "75eef81aa3041e33b80971203d2c0c52",
			"c498af77161cc59f2962b9a713e2b215152d139766ce34a776df11866a69bf2e52a13d9c7c6fc878c50c5ea0bc7b00e0da2447cfd874f6cf92f30d0097111485500c90c3af8b487872d04685d14c8d1dc8d7fa08beb0ce0ababc11f0bd496269142d43525a78e5bc79a17f59676a5706dc54d54d4d1f0bd7e386128ec26afc21"},
	} {
		want := ecUnhex(t, v.output)
		got := concatKDF(v.h, ecUnhex(t, v.z), ecUnhex(t, v.info), len(want), true)
		if !bytes.Equal(got, want) {
			t.Errorf("X9.63 %v %s: %x", v.h, v.z, got)
		}
	}
}

// The JWE ECDH-ES example of RFC 7518 appendix C: P-256 ECDH, then the SP 800-56A section 5.8.1.1 one-step
// KDF with SHA-256 (CKD_SHA256_KDF_SP800) over OtherInfo = AlgorithmID || PartyUInfo || PartyVInfo ||
// SuppPubInfo, 128 bits.
func TestECDHSP80056AKDF(t *testing.T) {
	b64 := func(s string) []byte {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	bobD := b64("VEmDZpDXXK8p8N0Cndsxs924q6nS1RXFASRl6BfUqdw")
	epk := append(append([]byte{4}, b64("gI0GAILBdu7T53akrFmMyGcsF3n5dO7MmwNBHKW5SV0")...),
		b64("SLW_xSffzlPWrHEVI30DHM_4egVwt3NQqeUD7nMFpps")...)
	lv := func(s string) []byte { return append([]byte{0, 0, 0, byte(len(s))}, s...) }
	otherInfo := append(append(append(lv("A128GCM"), lv("Alice")...), lv("Bob")...), 0, 0, 0, 128)
	bob := NewKey(ck.CKO_PRIVATE_KEY, ck.CKK_EC, Attrs{ck.CKA_EC_PARAMS: ecNameParams(t, "prime256v1"), ck.CKA_VALUE: bobD}, nil)

	z, err := ecSpec(t, ck.CKM_ECDH1_DERIVE).Derive(ecdhParam(t, ck.CKM_ECDH1_DERIVE, ck.CKD_NULL, nil, epk), bob, Attrs{}, nil)
	wantZ := []byte{158, 86, 217, 29, 129, 113, 53, 211, 114, 131, 66, 131, 191, 132, 38, 156, 251, 49, 110, 163, 218, 128, 106, 72, 246, 218, 167, 121, 140, 254, 144, 196}
	if err != nil || !bytes.Equal(z, wantZ) {
		t.Errorf("Z: %x, %v", z, err)
	}
	key, err := ecSpec(t, ck.CKM_ECDH1_DERIVE).Derive(ecdhParam(t, ck.CKM_ECDH1_DERIVE, ck.CKD_SHA256_KDF_SP800, otherInfo, epk), bob,
		Attrs{ck.CKA_KEY_TYPE: ck.ULong(uint64(ck.CKK_AES)), ck.CKA_VALUE_LEN: ck.ULong(16)}, nil)
	if want := b64("VqqN6vgjbSBcIijNcacQGg"); err != nil || !bytes.Equal(key, want) {
		t.Errorf("derived key %x, %v, want %x", key, err, want)
	}
}

// Key lengths, truncation and parameter errors of CKM_ECDH1_DERIVE, against Go's crypto/ecdh.
func TestECDHDerive(t *testing.T) {
	spec := ecSpec(t, ck.CKM_ECDH1_DERIVE)
	for _, tc := range ecTestCurves {
		_, priv, goKey := ecGoKey(t, tc.curve, ecOIDParams(t, tc.oid))
		goECDH, _ := goKey.ECDH()
		other, err := goECDH.Curve().GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		z, err := goECDH.ECDH(other.PublicKey())
		if err != nil {
			t.Fatal(err)
		}
		peerPoint := other.PublicKey().Bytes()
		derive := func(kdf uint64, shared []byte, template Attrs) ([]byte, error) {
			return spec.Derive(ecdhParam(t, ck.CKM_ECDH1_DERIVE, kdf, shared, peerPoint), priv, template, nil)
		}
		aes := func(n uint64) Attrs {
			a := Attrs{ck.CKA_KEY_TYPE: ck.ULong(uint64(ck.CKK_AES))}
			if n != 0 {
				a[ck.CKA_VALUE_LEN] = ck.ULong(n)
			}
			return a
		}
		// CKD_NULL: the whole secret, or its trailing bytes.
		got, err := derive(ck.CKD_NULL, nil, Attrs{ck.CKA_KEY_TYPE: ck.ULong(uint64(ck.CKK_GENERIC_SECRET))})
		if err != nil || !bytes.Equal(got, z) {
			t.Errorf("%s: CKD_NULL: %x, %v", tc.name, got, err)
		}
		got, err = derive(ck.CKD_NULL, nil, aes(16))
		if err != nil || !bytes.Equal(got, z[len(z)-16:]) {
			t.Errorf("%s: CKD_NULL AES-128: %x, %v", tc.name, got, err)
		}
		got, err = derive(ck.CKD_NULL, nil, Attrs{ck.CKA_KEY_TYPE: ck.ULong(uint64(ck.CKK_DES3))})
		if err != nil || !bytes.Equal(got, z[len(z)-24:]) {
			t.Errorf("%s: CKD_NULL DES3: %x, %v", tc.name, got, err)
		}
		_, err = derive(ck.CKD_NULL, nil, Attrs{ck.CKA_VALUE_LEN: ck.ULong(uint64(len(z) + 1))})
		ecWantRV(t, tc.name+" CKD_NULL longer than the secret", err, ck.CKR_KEY_SIZE_RANGE)
		if len(z) != 32 {
			_, err = derive(ck.CKD_NULL, nil, aes(0))
			ecWantRV(t, tc.name+" AES without a length", err, ck.CKR_TEMPLATE_INCOMPLETE)
		}
		_, err = derive(ck.CKD_NULL, nil, aes(20))
		ecWantRV(t, tc.name+" AES of 20 bytes", err, ck.CKR_ATTRIBUTE_VALUE_INVALID)
		_, err = derive(ck.CKD_NULL, []byte("info"), Attrs{})
		ecWantRV(t, tc.name+" CKD_NULL with shared data", err, ck.CKR_MECHANISM_PARAM_INVALID)

		// Hash KDFs: the NIST-checked construction over Go's shared secret, sized by the template.
		for kdf, h := range x963KDFs {
			got, err := derive(kdf, []byte("shared info"), aes(32))
			if want := concatKDF(h, z, []byte("shared info"), 32, true); err != nil || !bytes.Equal(got, want) {
				t.Errorf("%s: X9.63 KDF %#x: %x, %v", tc.name, kdf, got, err)
			}
			got, err = derive(kdf, nil, Attrs{})
			if err != nil || len(got) != h.Size() {
				t.Errorf("%s: X9.63 KDF %#x without a length: %d bytes, %v", tc.name, kdf, len(got), err)
			}
		}
		for kdf, h := range sp80056KDFs {
			got, err := derive(kdf, nil, Attrs{ck.CKA_VALUE_LEN: ck.ULong(100)})
			if want := concatKDF(h, z, nil, 100, false); err != nil || !bytes.Equal(got, want) {
				t.Errorf("%s: SP 800-56A KDF %#x: %x, %v", tc.name, kdf, got, err)
			}
		}
		for _, kdf := range []uint64{0, ck.CKD_SHA1_KDF_ASN1, ck.CKD_SHA1_KDF_CONCATENATE, ck.CKD_BLAKE2B_256_KDF, 0x1000} {
			_, err = derive(kdf, nil, Attrs{})
			ecWantRV(t, fmt.Sprintf("%s kdf %#x", tc.name, kdf), err, ck.CKR_MECHANISM_PARAM_INVALID)
		}

		// Peer public data: raw or DER accepted (above and in Wycheproof), not a point of another curve.
		var otherCurve ecdh.Curve = ecdh.P256()
		if tc.name == "P-256" {
			otherCurve = ecdh.P384()
		}
		wrong, _ := otherCurve.GenerateKey(rand.Reader)
		for _, bad := range [][]byte{wrong.PublicKey().Bytes(), nil, peerPoint[:len(peerPoint)-1], {4}} {
			_, err = spec.Derive(ecdhParam(t, ck.CKM_ECDH1_DERIVE, ck.CKD_NULL, nil, bad), priv, Attrs{}, nil)
			ecWantRV(t, tc.name+" bad peer point", err, ck.CKR_MECHANISM_PARAM_INVALID)
		}
		_, err = spec.Derive(Param{}, priv, Attrs{}, nil)
		ecWantRV(t, tc.name+" no parameter", err, ck.CKR_MECHANISM_PARAM_INVALID)
	}
	x := NewKey(ck.CKO_PRIVATE_KEY, ck.CKK_EC_MONTGOMERY, Attrs{ck.CKA_EC_PARAMS: ecNameParams(t, "curve25519"), ck.CKA_VALUE: make([]byte, 32)}, nil)
	_, err := ecSpec(t, ck.CKM_ECDH1_COFACTOR_DERIVE).Derive(ecdhParam(t, ck.CKM_ECDH1_COFACTOR_DERIVE, ck.CKD_NULL, nil, make([]byte, 32)), x, Attrs{}, nil)
	ecWantRV(t, "cofactor derive with a Montgomery key", err, ck.CKR_KEY_TYPE_INCONSISTENT)
}

func TestECPKCS8(t *testing.T) {
	kt := KeyTypeOf(ck.CKK_EC)
	for _, tc := range ecTestCurves {
		k, _ := ecdsa.GenerateKey(tc.curve, rand.Reader)
		der, err := kt.PKCS8(Attrs{ck.CKA_EC_PARAMS: ecNameParams(t, map[string]string{
			"P-256": "prime256v1", "P-384": "secp384r1", "P-521": "secp521r1"}[tc.name]), ck.CKA_VALUE: k.D.Bytes()})
		if err != nil {
			t.Fatal(err)
		}
		got, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil || !k.Equal(got) {
			t.Errorf("%s: Go reads PKCS#8 as %v, %v", tc.name, got, err)
		}
		goDER, _ := x509.MarshalPKCS8PrivateKey(k)
		a, err := kt.ParsePKCS8(goDER)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !bytes.Equal(a[ck.CKA_EC_PARAMS], ecOIDParams(t, tc.oid)) || new(big.Int).SetBytes(a[ck.CKA_VALUE]).Cmp(k.D) != 0 {
			t.Errorf("%s: parsed %x / %x", tc.name, a[ck.CKA_EC_PARAMS], a[ck.CKA_VALUE])
		}
		point, _ := k.PublicKey.Bytes()
		if !bytes.Equal(a[ck.CKA_EC_POINT], ecDERString(t, cbasn1.OCTET_STRING, point)) {
			t.Errorf("%s: parsed CKA_EC_POINT %x", tc.name, a[ck.CKA_EC_POINT])
		}
		if _, err := kt.Check(ck.CKO_PRIVATE_KEY, a); err != nil {
			t.Errorf("%s: parsed key fails Check: %v", tc.name, err)
		}
	}
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	edDER, _ := x509.MarshalPKCS8PrivateKey(edKey)
	_, err := kt.ParsePKCS8(edDER)
	ecWantRV(t, "Ed25519 PKCS#8 as CKK_EC", err, ck.CKR_TEMPLATE_INCONSISTENT)
	_, err = kt.ParsePKCS8([]byte{0x30, 0x03, 0x02, 0x01, 0x00})
	ecWantRV(t, "garbage PKCS#8", err, ck.CKR_WRAPPED_KEY_INVALID)
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	p224DER, _ := x509.MarshalPKCS8PrivateKey(p224)
	_, err = kt.ParsePKCS8(p224DER)
	ecWantRV(t, "P-224 PKCS#8", err, ck.CKR_CURVE_NOT_SUPPORTED)
}
