package mech

import (
	"bytes"
	"crypto/mlkem"
	"crypto/sha256"
	"crypto/sha3"
	encasn1 "encoding/asn1"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/keyward/keyward/internal/wire"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

func pqcUnhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func pqcWantRV(t testing.TB, what string, err error, want ck.RV) {
	t.Helper()
	var rv ck.RV
	if !errors.As(err, &rv) || rv != want {
		t.Errorf("%s: got %v, want %v", what, err, want)
	}
}

// mldsaParam builds a CKM_ML_DSA parameter as a client sends it.
func mldsaParam(t testing.TB, hedge uint64, ctx []byte) Param {
	t.Helper()
	raw, err := wire.EncodeParams(ck.CKM_ML_DSA, map[string]any{"hedgeVariant": hedge, "pContext": ctx})
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewParam(&ck.Mechanism{Type: ck.CKM_ML_DSA, Parameter: raw})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func pqcParamSet(set uint64) Attrs { return Attrs{ck.CKA_PARAMETER_SET: ck.ULong(set)} }

func TestPQCRegistration(t *testing.T) {
	cases := []struct {
		m        ck.MechanismType
		min, max uint64
		flags    uint64
	}{
		{ck.CKM_ML_DSA_KEY_PAIR_GEN, 1312, 2592, ck.CKF_GENERATE_KEY_PAIR},
		{ck.CKM_ML_DSA, 1312, 2592, ck.CKF_SIGN | ck.CKF_VERIFY},
		{ck.CKM_ML_KEM_KEY_PAIR_GEN, 800, 1568, ck.CKF_GENERATE_KEY_PAIR},
		{ck.CKM_ML_KEM, 800, 1568, ck.CKF_ENCAPSULATE | ck.CKF_DECAPSULATE},
	}
	for _, c := range cases {
		s := Lookup(c.m)
		if s == nil {
			t.Fatalf("%v not registered", c.m)
		}
		if s.Info.MinKeySize != c.min || s.Info.MaxKeySize != c.max || s.Info.Flags != c.flags {
			t.Errorf("%v: info %+v", c.m, s.Info)
		}
	}
	if !Lookup(ck.CKM_ML_DSA).AcceptsKey(ck.CKK_ML_DSA) || Lookup(ck.CKM_ML_DSA).AcceptsKey(ck.CKK_ML_KEM) {
		t.Error("CKM_ML_DSA key types")
	}
	if !Lookup(ck.CKM_ML_KEM).AcceptsKey(ck.CKK_ML_KEM) || Lookup(ck.CKM_ML_KEM).AcceptsKey(ck.CKK_ML_DSA) {
		t.Error("CKM_ML_KEM key types")
	}
	if Lookup(ck.CKM_ML_DSA_KEY_PAIR_GEN).GenKeyType != ck.CKK_ML_DSA || Lookup(ck.CKM_ML_KEM_KEY_PAIR_GEN).GenKeyType != ck.CKK_ML_KEM {
		t.Error("GenKeyType")
	}
	for _, kt := range []ck.KeyType{ck.CKK_ML_DSA, ck.CKK_ML_KEM} {
		k := KeyTypeOf(kt)
		if k == nil || k.Check == nil || k.PKCS8 == nil || k.ParsePKCS8 == nil {
			t.Errorf("key type %v registration incomplete", kt)
		}
	}
}

// ---------------------------------------------------------------------------------------------------------
// ML-DSA

// NIST ACVP ML-DSA-keyGen-FIPS204: seed ξ and SHA-256 of the expected pk and sk.
var acvpMLDSAKeyGen = []struct {
	set          string
	tc           int
	seed, pk, sk string
}{
	{"ML-DSA-44", 1, "93ef2e6ef1fb08999d142abe0295482370d3f43bdb254a78e2b0d5168eca065f", "6995b20ecd5cde41719035028a712ccf35b1adf53b913030423d9d6fa188d673", "16a35d4b59f932aeada987dc689b075add0df57b4815bb103be7443ee3c1c561"},
	{"ML-DSA-44", 2, "d6a5d2325b94ca1b993a0151e24ab95b396f415831dc14a08404820ae58a2ad1", "51bced8954e17da402e93fc5275f723aed1b9101bdf4fac5afc2b5c227d9e674", "7b1145d3514f394295a88cc96f90a3125602b51b18cd118478194ac1e97d34f0"},
	{"ML-DSA-65", 26, "70cefb9aed5b68e018b079da8284b9d5cad5499ed9c265ff73588005d85c225c", "646b26b8d09dbc9e865b6a006c693a3127b065e62fab5fbe8b159c416462feb6", "3894dc56a4553781d68ff0d1b6fcf1b4876085ea602fb6f8738def50ed7d4c75"},
	{"ML-DSA-65", 27, "4b4b71c5a1bc1074f2167a1d68729cdb9e16aba3651ff02a0a0f4c883caac827", "5fef74046438638b54fb828d4ae59fea8eb26de94905664c2c7d76da82672057", "c63df42f503d13f9b808bf5cef71239f9f9e4f68437022d84a5ed757bd918810"},
	{"ML-DSA-87", 51, "38359fbcd79582cffe609e137ee2efe8a8dbcbad18ba92bb433ab4f09b49299d", "ea374a09356e5f89be784f28f4ef938e8976cb5c4db00fbacb257663491748d4", "a0cc3d4f703057c09b9261336ba45563d2c781d173f7fc634910698e95eee375"},
	{"ML-DSA-87", 52, "29b4987c62218c19c77d695eb904affaa1bfef6a52f138604cdab1534e66dc10", "40d79acd066c7453d66619211188f3725739cf64df6b8a7e2b948cf16b33a42b", "326a51b6884d0432e5bb3dc601eced7db51e4278e6fcfba92d42f27ae4b73d11"},
}

var pqcSetByName = map[string]uint64{
	"ML-DSA-44": ck.CKP_ML_DSA_44, "ML-DSA-65": ck.CKP_ML_DSA_65, "ML-DSA-87": ck.CKP_ML_DSA_87,
	"ML-KEM-512": ck.CKP_ML_KEM_512, "ML-KEM-768": ck.CKP_ML_KEM_768, "ML-KEM-1024": ck.CKP_ML_KEM_1024,
}

func pqcSHA256(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func TestMLDSAKeyGenACVP(t *testing.T) {
	for _, v := range acvpMLDSAKeyGen {
		param := pqcSetByName[v.set]
		seed := pqcUnhex(t, v.seed)
		// A private key imported with only CKA_SEED gets the expanded CKA_VALUE from Check.
		add, err := mldsaAlg.check(ck.CKO_PRIVATE_KEY, Attrs{ck.CKA_PARAMETER_SET: ck.ULong(param), ck.CKA_SEED: seed})
		if err != nil {
			t.Fatalf("%s tc %d: %v", v.set, v.tc, err)
		}
		if got := pqcSHA256(add[ck.CKA_VALUE]); got != v.sk {
			t.Errorf("%s tc %d: sk mismatch", v.set, v.tc)
		}
		pk, _ := mldsaSetOf(param).fromSeed(seed)
		if got := pqcSHA256(pk); got != v.pk {
			t.Errorf("%s tc %d: pk mismatch", v.set, v.tc)
		}
		// The NIST key, both attributes given, is accepted; the pk imports as a public key.
		if _, err := mldsaAlg.check(ck.CKO_PRIVATE_KEY, Attrs{ck.CKA_PARAMETER_SET: ck.ULong(param), ck.CKA_SEED: seed, ck.CKA_VALUE: add[ck.CKA_VALUE]}); err != nil {
			t.Errorf("%s tc %d: seed+value: %v", v.set, v.tc, err)
		}
		if _, err := mldsaAlg.check(ck.CKO_PRIVATE_KEY, Attrs{ck.CKA_PARAMETER_SET: ck.ULong(param), ck.CKA_VALUE: add[ck.CKA_VALUE]}); err != nil {
			t.Errorf("%s tc %d: value only: %v", v.set, v.tc, err)
		}
		if _, err := mldsaAlg.check(ck.CKO_PUBLIC_KEY, Attrs{ck.CKA_PARAMETER_SET: ck.ULong(param), ck.CKA_VALUE: pk}); err != nil {
			t.Errorf("%s tc %d: public: %v", v.set, v.tc, err)
		}
	}
}

type mldsaVerifyFile struct {
	Algorithm  string `json:"algorithm"`
	TestGroups []struct {
		PublicKey string `json:"publicKey"`
		Tests     []struct {
			TcID    int      `json:"tcId"`
			Comment string   `json:"comment"`
			Msg     string   `json:"msg"`
			Ctx     *string  `json:"ctx"`
			Sig     string   `json:"sig"`
			Result  string   `json:"result"`
			Flags   []string `json:"flags"`
		} `json:"tests"`
	} `json:"testGroups"`
}

// mldsaVerifyVector runs one verification as an application would: import the public key (Check), C_VerifyInit
// with the context, C_Verify. Any error along the way is a rejection.
func mldsaVerifyVector(t *testing.T, param uint64, pk, msg, sig []byte, ctx *[]byte, multi bool) error {
	attrs := Attrs{ck.CKA_PARAMETER_SET: ck.ULong(param), ck.CKA_VALUE: pk}
	if _, err := KeyTypeOf(ck.CKK_ML_DSA).Check(ck.CKO_PUBLIC_KEY, attrs); err != nil {
		return err
	}
	p := Param{}
	if ctx != nil {
		p = mldsaParam(t, ck.CKH_HEDGE_PREFERRED, *ctx)
	}
	v, err := Lookup(ck.CKM_ML_DSA).Verify(p, NewKey(ck.CKO_PUBLIC_KEY, ck.CKK_ML_DSA, attrs, nil))
	if err != nil {
		return err
	}
	if multi {
		half := len(msg) / 2
		if err := v.Update(msg[:half]); err != nil {
			return err
		}
		if err := v.Update(msg[half:]); err != nil {
			return err
		}
		return v.Final(sig)
	}
	return v.(SingleVerifier).Verify(msg, sig)
}

func TestMLDSAWycheproof(t *testing.T) {
	for _, f := range []struct {
		name  string
		param uint64
	}{
		{"mldsa_44_verify_test.json", ck.CKP_ML_DSA_44},
		{"mldsa_65_verify_test.json", ck.CKP_ML_DSA_65},
	} {
		var file mldsaVerifyFile
		loadWycheproof(t, f.name, &file)
		c := wycheproofCount{file: f.name}
		for _, g := range file.TestGroups {
			pk := pqcUnhex(t, g.PublicKey)
			for _, tc := range g.Tests {
				c.total++
				var ctx *[]byte
				if tc.Ctx != nil {
					b := pqcUnhex(t, *tc.Ctx)
					ctx = &b
				}
				msg, sig := pqcUnhex(t, tc.Msg), pqcUnhex(t, tc.Sig)
				err := mldsaVerifyVector(t, f.param, pk, msg, sig, ctx, tc.TcID%2 == 0)
				switch tc.Result {
				case "valid":
					c.check(t, err == nil, "%s tc %d (%s): valid signature rejected: %v", f.name, tc.TcID, tc.Comment, err)
				case "invalid":
					c.check(t, err != nil, "%s tc %d (%s): invalid signature accepted", f.name, tc.TcID, tc.Comment)
				default:
					t.Fatalf("%s tc %d: result %q", f.name, tc.TcID, tc.Result)
				}
			}
		}
		c.report(t)
	}
}

// genMLDSA generates a key pair through the mechanism and returns the two key objects.
func genMLDSA(t *testing.T, param uint64) (pub, priv *Key) {
	t.Helper()
	s := Lookup(ck.CKM_ML_DSA_KEY_PAIR_GEN)
	pa, pr, err := s.GenerateKeyPair(Param{}, pqcParamSet(param), Attrs{})
	if err != nil {
		t.Fatal(err)
	}
	set := mldsaSetOf(param)
	if len(pa[ck.CKA_VALUE]) != set.pkSize || len(pr[ck.CKA_VALUE]) != set.skSize || len(pr[ck.CKA_SEED]) != 32 {
		t.Fatalf("generated sizes: pk %d sk %d seed %d", len(pa[ck.CKA_VALUE]), len(pr[ck.CKA_VALUE]), len(pr[ck.CKA_SEED]))
	}
	if p, _ := GetULong(pr, ck.CKA_PARAMETER_SET); p != param {
		t.Fatalf("private CKA_PARAMETER_SET %d", p)
	}
	// The engine merges the templates with the mechanism's attributes.
	pa[ck.CKA_PARAMETER_SET] = ck.ULong(param)
	// Generated keys pass the import checks.
	if _, err := mldsaAlg.check(ck.CKO_PUBLIC_KEY, pa); err != nil {
		t.Fatalf("generated public key: %v", err)
	}
	if _, err := mldsaAlg.check(ck.CKO_PRIVATE_KEY, pr); err != nil {
		t.Fatalf("generated private key: %v", err)
	}
	return NewKey(ck.CKO_PUBLIC_KEY, ck.CKK_ML_DSA, pa, nil), NewKey(ck.CKO_PRIVATE_KEY, ck.CKK_ML_DSA, pr, nil)
}

func mldsaSignWith(t *testing.T, p Param, k *Key, msg []byte, parts int) []byte {
	t.Helper()
	op, err := Lookup(ck.CKM_ML_DSA).Sign(p, k)
	if err != nil {
		t.Fatal(err)
	}
	var sig []byte
	if parts == 0 {
		sig, err = op.(Single).Single(msg)
	} else {
		step := len(msg)/parts + 1
		for i := 0; i < len(msg); i += step {
			if _, err := op.Update(msg[i:min(i+step, len(msg))]); err != nil {
				t.Fatal(err)
			}
		}
		sig, err = op.Final()
	}
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

func mldsaVerifyWith(t *testing.T, p Param, k *Key, msg, sig []byte) error {
	t.Helper()
	v, err := Lookup(ck.CKM_ML_DSA).Verify(p, k)
	if err != nil {
		return err
	}
	return v.(SingleVerifier).Verify(msg, sig)
}

func TestMLDSARoundTrip(t *testing.T) {
	msg := []byte("Keyward signs this message with ML-DSA, in one part or in several parts.")
	for _, set := range mldsaSets {
		pub, priv := genMLDSA(t, set.param)
		otherPub, _ := genMLDSA(t, set.param)
		ctx := []byte("keyward context")
		noParam := Param{}
		withCtx := mldsaParam(t, ck.CKH_HEDGE_REQUIRED, ctx)
		emptyCtx := mldsaParam(t, ck.CKH_HEDGE_PREFERRED, nil)

		// No parameter = empty context, hedged.
		sig := mldsaSignWith(t, noParam, priv, msg, 0)
		if len(sig) != set.sigSize {
			t.Fatalf("%d: signature length %d", set.param, len(sig))
		}
		if err := mldsaVerifyWith(t, noParam, pub, msg, sig); err != nil {
			t.Errorf("%d: verify: %v", set.param, err)
		}
		if err := mldsaVerifyWith(t, emptyCtx, pub, msg, sig); err != nil {
			t.Errorf("%d: verify with an explicit empty context: %v", set.param, err)
		}
		pqcWantRV(t, "verify with a context", mldsaVerifyWith(t, withCtx, pub, msg, sig), ck.CKR_SIGNATURE_INVALID)
		pqcWantRV(t, "verify with another key", mldsaVerifyWith(t, noParam, otherPub, msg, sig), ck.CKR_SIGNATURE_INVALID)
		pqcWantRV(t, "verify another message", mldsaVerifyWith(t, noParam, pub, msg[1:], sig), ck.CKR_SIGNATURE_INVALID)
		bad := bytes.Clone(sig)
		bad[len(bad)/2] ^= 1
		pqcWantRV(t, "tampered signature", mldsaVerifyWith(t, noParam, pub, msg, bad), ck.CKR_SIGNATURE_INVALID)
		pqcWantRV(t, "short signature", mldsaVerifyWith(t, noParam, pub, msg, sig[:len(sig)-1]), ck.CKR_SIGNATURE_LEN_RANGE)
		pqcWantRV(t, "long signature", mldsaVerifyWith(t, noParam, pub, msg, append(bytes.Clone(sig), 0)), ck.CKR_SIGNATURE_LEN_RANGE)

		// With a context, multi-part sign and verify against single-part.
		sig = mldsaSignWith(t, withCtx, priv, msg, 3)
		if err := mldsaVerifyWith(t, withCtx, pub, msg, sig); err != nil {
			t.Errorf("%d: verify with context: %v", set.param, err)
		}
		pqcWantRV(t, "context signature without context", mldsaVerifyWith(t, noParam, pub, msg, sig), ck.CKR_SIGNATURE_INVALID)
		pqcWantRV(t, "other context", mldsaVerifyWith(t, mldsaParam(t, 0, []byte("keyward contexT")), pub, msg, sig), ck.CKR_SIGNATURE_INVALID)
		v, _ := Lookup(ck.CKM_ML_DSA).Verify(withCtx, pub)
		for _, part := range [][]byte{msg[:5], nil, msg[5:40], msg[40:]} {
			if err := v.Update(part); err != nil {
				t.Fatal(err)
			}
		}
		if err := v.Final(sig); err != nil {
			t.Errorf("%d: multi-part verify: %v", set.param, err)
		}
		// Empty message and the longest context.
		long := bytes.Repeat([]byte{0xa5}, 255)
		sig = mldsaSignWith(t, mldsaParam(t, 0, long), priv, nil, 0)
		if err := mldsaVerifyWith(t, mldsaParam(t, 0, long), pub, nil, sig); err != nil {
			t.Errorf("%d: 255-byte context: %v", set.param, err)
		}

		// Hedged signatures differ; deterministic ones repeat, and do not depend on which of CKA_SEED and
		// CKA_VALUE the key object holds.
		det := mldsaParam(t, ck.CKH_DETERMINISTIC_REQUIRED, ctx)
		d1 := mldsaSignWith(t, det, priv, msg, 0)
		seedOnly := NewKey(ck.CKO_PRIVATE_KEY, ck.CKK_ML_DSA, Attrs{ck.CKA_PARAMETER_SET: ck.ULong(set.param), ck.CKA_SEED: priv.Attrs[ck.CKA_SEED]}, nil)
		valueOnly := NewKey(ck.CKO_PRIVATE_KEY, ck.CKK_ML_DSA, Attrs{ck.CKA_PARAMETER_SET: ck.ULong(set.param), ck.CKA_VALUE: priv.Attrs[ck.CKA_VALUE]}, nil)
		if d2 := mldsaSignWith(t, det, seedOnly, msg, 2); !bytes.Equal(d1, d2) {
			t.Errorf("%d: deterministic signatures differ (seed-only key)", set.param)
		}
		if d3 := mldsaSignWith(t, det, valueOnly, msg, 0); !bytes.Equal(d1, d3) {
			t.Errorf("%d: deterministic signatures differ (value-only key)", set.param)
		}
		if err := mldsaVerifyWith(t, withCtx, pub, msg, d1); err != nil {
			t.Errorf("%d: deterministic signature: %v", set.param, err)
		}
		h1 := mldsaSignWith(t, withCtx, priv, msg, 0)
		h2 := mldsaSignWith(t, withCtx, priv, msg, 0)
		if bytes.Equal(h1, h2) || bytes.Equal(h1, d1) {
			t.Errorf("%d: hedged signatures repeat", set.param)
		}

		// Parameter errors.
		for name, p := range map[string]Param{
			"context too long": mldsaParam(t, 0, make([]byte, 256)),
			"bad hedge":        mldsaParam(t, 3, nil),
		} {
			_, err := Lookup(ck.CKM_ML_DSA).Sign(p, priv)
			pqcWantRV(t, "sign: "+name, err, ck.CKR_MECHANISM_PARAM_INVALID)
			_, err = Lookup(ck.CKM_ML_DSA).Verify(p, pub)
			if name == "context too long" {
				pqcWantRV(t, "verify: "+name, err, ck.CKR_MECHANISM_PARAM_INVALID)
			}
		}
		_, err := Lookup(ck.CKM_ML_DSA).Sign(Param{Present: true, Raw: []byte{1, 2, 3}}, priv)
		pqcWantRV(t, "undecoded parameter", err, ck.CKR_MECHANISM_PARAM_INVALID)
		// Keys of the wrong class.
		_, err = Lookup(ck.CKM_ML_DSA).Sign(noParam, pub)
		pqcWantRV(t, "sign with a public key", err, ck.CKR_KEY_TYPE_INCONSISTENT)
		_, err = Lookup(ck.CKM_ML_DSA).Verify(noParam, priv)
		pqcWantRV(t, "verify with a private key", err, ck.CKR_KEY_TYPE_INCONSISTENT)
	}
}

func TestMLDSAKeyGenTemplates(t *testing.T) {
	gen := Lookup(ck.CKM_ML_DSA_KEY_PAIR_GEN).GenerateKeyPair
	_, _, err := gen(Param{}, Attrs{}, Attrs{})
	pqcWantRV(t, "no parameter set", err, ck.CKR_TEMPLATE_INCOMPLETE)
	_, _, err = gen(Param{}, pqcParamSet(4), Attrs{})
	pqcWantRV(t, "unknown parameter set", err, ck.CKR_ATTRIBUTE_VALUE_INVALID)
	_, _, err = gen(Param{}, Attrs{ck.CKA_PARAMETER_SET: []byte{1}}, Attrs{})
	pqcWantRV(t, "short parameter set", err, ck.CKR_ATTRIBUTE_VALUE_INVALID)
	_, _, err = gen(Param{}, pqcParamSet(ck.CKP_ML_DSA_44), pqcParamSet(ck.CKP_ML_DSA_65))
	pqcWantRV(t, "conflicting private parameter set", err, ck.CKR_TEMPLATE_INCONSISTENT)
	_, _, err = gen(Param{Present: true, Raw: []byte{0}}, pqcParamSet(ck.CKP_ML_DSA_44), Attrs{})
	pqcWantRV(t, "parameter", err, ck.CKR_MECHANISM_PARAM_INVALID)
	if _, _, err = gen(Param{}, pqcParamSet(ck.CKP_ML_DSA_44), pqcParamSet(ck.CKP_ML_DSA_44)); err != nil {
		t.Errorf("agreeing private parameter set: %v", err)
	}
}

func TestMLDSACheck(t *testing.T) {
	set := mldsaSetOf(ck.CKP_ML_DSA_65)
	pub, priv := genMLDSA(t, set.param)
	pk, sk, seed := pub.Attrs[ck.CKA_VALUE], priv.Attrs[ck.CKA_VALUE], priv.Attrs[ck.CKA_SEED]
	p := ck.ULong(set.param)
	with := func(b []byte, i int, x byte) []byte { c := bytes.Clone(b); c[i] ^= x; return c }
	cases := []struct {
		name  string
		class ck.ObjectClass
		a     Attrs
		want  ck.RV
	}{
		{"public: no parameter set", ck.CKO_PUBLIC_KEY, Attrs{ck.CKA_VALUE: pk}, ck.CKR_TEMPLATE_INCOMPLETE},
		{"public: unknown parameter set", ck.CKO_PUBLIC_KEY, Attrs{ck.CKA_PARAMETER_SET: ck.ULong(9), ck.CKA_VALUE: pk}, ck.CKR_ATTRIBUTE_VALUE_INVALID},
		{"public: no value", ck.CKO_PUBLIC_KEY, Attrs{ck.CKA_PARAMETER_SET: p}, ck.CKR_TEMPLATE_INCOMPLETE},
		{"public: short", ck.CKO_PUBLIC_KEY, Attrs{ck.CKA_PARAMETER_SET: p, ck.CKA_VALUE: pk[1:]}, ck.CKR_ATTRIBUTE_VALUE_INVALID},
		{"public: other set's size", ck.CKO_PUBLIC_KEY, Attrs{ck.CKA_PARAMETER_SET: ck.ULong(ck.CKP_ML_DSA_44), ck.CKA_VALUE: pk}, ck.CKR_ATTRIBUTE_VALUE_INVALID},
		{"public: seed", ck.CKO_PUBLIC_KEY, Attrs{ck.CKA_PARAMETER_SET: p, ck.CKA_VALUE: pk, ck.CKA_SEED: seed}, ck.CKR_ATTRIBUTE_TYPE_INVALID},
		{"private: neither seed nor value", ck.CKO_PRIVATE_KEY, Attrs{ck.CKA_PARAMETER_SET: p}, ck.CKR_TEMPLATE_INCOMPLETE},
		{"private: short seed", ck.CKO_PRIVATE_KEY, Attrs{ck.CKA_PARAMETER_SET: p, ck.CKA_SEED: seed[1:]}, ck.CKR_ATTRIBUTE_VALUE_INVALID},
		{"private: short value", ck.CKO_PRIVATE_KEY, Attrs{ck.CKA_PARAMETER_SET: p, ck.CKA_VALUE: sk[1:]}, ck.CKR_ATTRIBUTE_VALUE_INVALID},
		{"private: seed and value disagree", ck.CKO_PRIVATE_KEY, Attrs{ck.CKA_PARAMETER_SET: p, ck.CKA_SEED: with(seed, 0, 1), ck.CKA_VALUE: sk}, ck.CKR_TEMPLATE_INCONSISTENT},
		{"private: seed and short value", ck.CKO_PRIVATE_KEY, Attrs{ck.CKA_PARAMETER_SET: p, ck.CKA_SEED: seed, ck.CKA_VALUE: sk[1:]}, ck.CKR_ATTRIBUTE_VALUE_INVALID},
		// ρ changed: the key implies another public key, whose hash is not tr.
		{"private: rho", ck.CKO_PRIVATE_KEY, Attrs{ck.CKA_PARAMETER_SET: p, ck.CKA_VALUE: with(sk, 3, 0x10)}, ck.CKR_ATTRIBUTE_VALUE_INVALID},
		{"private: tr", ck.CKO_PRIVATE_KEY, Attrs{ck.CKA_PARAMETER_SET: p, ck.CKA_VALUE: with(sk, 100, 1)}, ck.CKR_ATTRIBUTE_VALUE_INVALID},
		// First s1 coefficient (η = 4, 4 bits): 0xF encodes 4 - 15 = -11, out of [-4, 4].
		{"private: s1 out of range", ck.CKO_PRIVATE_KEY, Attrs{ck.CKA_PARAMETER_SET: p, ck.CKA_VALUE: func() []byte { c := bytes.Clone(sk); c[128] |= 0x0f; return c }()}, ck.CKR_ATTRIBUTE_VALUE_INVALID},
		{"secret key class", ck.CKO_SECRET_KEY, Attrs{ck.CKA_PARAMETER_SET: p, ck.CKA_VALUE: sk}, ck.CKR_TEMPLATE_INCONSISTENT},
	}
	for _, c := range cases {
		_, err := mldsaAlg.check(c.class, c.a)
		pqcWantRV(t, c.name, err, c.want)
	}
	// η = 2 sets (3 bits): 5, 6 and 7 are out of range.
	set44 := mldsaSetOf(ck.CKP_ML_DSA_44)
	_, priv44 := genMLDSA(t, set44.param)
	bad := bytes.Clone(priv44.Attrs[ck.CKA_VALUE])
	bad[128] = bad[128]&^7 | 5
	_, err := mldsaAlg.check(ck.CKO_PRIVATE_KEY, Attrs{ck.CKA_PARAMETER_SET: ck.ULong(set44.param), ck.CKA_VALUE: bad})
	pqcWantRV(t, "ML-DSA-44 s1 out of range", err, ck.CKR_ATTRIBUTE_VALUE_INVALID)
	// A key object whose value does not fit its parameter set cannot be used.
	broken := NewKey(ck.CKO_PUBLIC_KEY, ck.CKK_ML_DSA, Attrs{ck.CKA_PARAMETER_SET: ck.ULong(ck.CKP_ML_DSA_44), ck.CKA_VALUE: pk}, nil)
	_, err = Lookup(ck.CKM_ML_DSA).Verify(Param{}, broken)
	pqcWantRV(t, "verify with a broken key", err, ck.CKR_KEY_SIZE_RANGE)
}

// ---------------------------------------------------------------------------------------------------------
// PKCS#8

func TestPQCPKCS8(t *testing.T) {
	type pki struct {
		Version    int
		Algorithm  struct{ Algorithm encasn1.ObjectIdentifier }
		PrivateKey []byte
	}
	for _, c := range []struct {
		kt      ck.KeyType
		param   uint64
		gen     ck.MechanismType
		oid     encasn1.ObjectIdentifier
		seedLen int
	}{
		{ck.CKK_ML_DSA, ck.CKP_ML_DSA_44, ck.CKM_ML_DSA_KEY_PAIR_GEN, encasn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 3, 17}, 32},
		{ck.CKK_ML_DSA, ck.CKP_ML_DSA_87, ck.CKM_ML_DSA_KEY_PAIR_GEN, encasn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 3, 19}, 32},
		{ck.CKK_ML_KEM, ck.CKP_ML_KEM_512, ck.CKM_ML_KEM_KEY_PAIR_GEN, encasn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 4, 1}, 64},
		{ck.CKK_ML_KEM, ck.CKP_ML_KEM_1024, ck.CKM_ML_KEM_KEY_PAIR_GEN, encasn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 4, 3}, 64},
	} {
		kts := KeyTypeOf(c.kt)
		_, priv, err := Lookup(c.gen).GenerateKeyPair(Param{}, pqcParamSet(c.param), Attrs{})
		if err != nil {
			t.Fatal(err)
		}
		seed, value := priv[ck.CKA_SEED], priv[ck.CKA_VALUE]

		// With a seed: the "both" form.
		der, err := kts.PKCS8(priv)
		if err != nil {
			t.Fatal(err)
		}
		var info pki
		if rest, err := encasn1.Unmarshal(der, &info); err != nil || len(rest) != 0 || info.Version != 0 || !info.Algorithm.Algorithm.Equal(c.oid) {
			t.Fatalf("%v: PrivateKeyInfo %+v %v", c.oid, info, err)
		}
		var both struct{ Seed, Expanded []byte }
		if _, err := encasn1.Unmarshal(info.PrivateKey, &both); err != nil || !bytes.Equal(both.Seed, seed) || !bytes.Equal(both.Expanded, value) {
			t.Errorf("%v: both form: %v", c.oid, err)
		}
		got, err := kts.ParsePKCS8(der)
		if err != nil || !bytes.Equal(got[ck.CKA_SEED], seed) || !bytes.Equal(got[ck.CKA_VALUE], value) || !bytes.Equal(got[ck.CKA_PARAMETER_SET], ck.ULong(c.param)) {
			t.Errorf("%v: parse both: %v", c.oid, err)
		}

		// Without a seed: expandedKey.
		der, err = kts.PKCS8(Attrs{ck.CKA_PARAMETER_SET: ck.ULong(c.param), ck.CKA_VALUE: value})
		if err != nil {
			t.Fatal(err)
		}
		encasn1.Unmarshal(der, &info)
		var expanded []byte
		if _, err := encasn1.Unmarshal(info.PrivateKey, &expanded); err != nil || !bytes.Equal(expanded, value) {
			t.Errorf("%v: expandedKey form: %v", c.oid, err)
		}
		got, err = kts.ParsePKCS8(der)
		if err != nil || got[ck.CKA_SEED] != nil || !bytes.Equal(got[ck.CKA_VALUE], value) {
			t.Errorf("%v: parse expandedKey: %v", c.oid, err)
		}

		// The seed form ([0] IMPLICIT OCTET STRING), written by hand: the expanded key follows from the seed.
		seedForm, _ := encasn1.Marshal(encasn1.RawValue{Class: encasn1.ClassContextSpecific, Tag: 0, Bytes: seed})
		der, _ = encasn1.Marshal(pki{Version: 0, Algorithm: struct{ Algorithm encasn1.ObjectIdentifier }{c.oid}, PrivateKey: seedForm})
		got, err = kts.ParsePKCS8(der)
		if err != nil || !bytes.Equal(got[ck.CKA_SEED], seed) || !bytes.Equal(got[ck.CKA_VALUE], value) {
			t.Errorf("%v: parse seed: %v", c.oid, err)
		}

		// Rejections.
		mk := func(inner []byte, oid encasn1.ObjectIdentifier) []byte {
			d, _ := encasn1.Marshal(pki{Algorithm: struct{ Algorithm encasn1.ObjectIdentifier }{oid}, PrivateKey: inner})
			return d
		}
		badSeed := bytes.Clone(seed)
		badSeed[0] ^= 1
		mismatch, _ := encasn1.Marshal(struct{ Seed, Expanded []byte }{badSeed, value})
		shortSeed, _ := encasn1.Marshal(encasn1.RawValue{Class: encasn1.ClassContextSpecific, Tag: 0, Bytes: seed[:c.seedLen-1]})
		for name, d := range map[string][]byte{
			"garbage":           {0x30, 0x03, 0x02, 0x01},
			"trailing data":     append(bytes.Clone(der), 0),
			"unknown OID":       mk(seedForm, encasn1.ObjectIdentifier{1, 2, 3}),
			"seed/key mismatch": mk(mismatch, c.oid),
			"short seed":        mk(shortSeed, c.oid),
			"other algorithm":   mk(seedForm, map[bool]encasn1.ObjectIdentifier{true: {2, 16, 840, 1, 101, 3, 4, 4, 2}, false: {2, 16, 840, 1, 101, 3, 4, 3, 18}}[c.kt == ck.CKK_ML_DSA]),
		} {
			_, err := kts.ParsePKCS8(d)
			pqcWantRV(t, c.oid.String()+": "+name, err, ck.CKR_WRAPPED_KEY_INVALID)
		}
	}
}

// ---------------------------------------------------------------------------------------------------------
// ML-KEM

// NIST ACVP ML-KEM-keyGen-FIPS203: d‖z and SHA-256 of the expected ek and dk.
var acvpMLKEMKeyGen = []struct {
	set    string
	tc     int
	seed   string
	ek, dk string
}{
	{"ML-KEM-512", 1, "2cb843a02ef02ee109305f39119fabf49ab90a57ffecb3a0e75e179450f5276184cc9121ae56fbf39e67adbd83ad2d3e3bb80843645206bdd9f2f629e3cc49b7", "f96920dc6766df52dca2428e7e751c0c27d537424c0a3f5c89153c2d5d28f898", "0c48e1338e5329cb7850f0a8cf7bd6ea3b4071158269fc129afd984b8ee14543"},
	{"ML-KEM-512", 2, "9eff3ff8252400827f3b4389e4ec07e67948257c744278048c889d0789c5bffa5d473027666fecf7024abaf175b9bc42e84768c00ae2c5cf27a668121b02cd3a", "92d41f9c871a3eeaabe6138cbd3a7698615e25e79ae8b492b8f1c562ba796d4a", "cd1c0d354cde21730581afbf7218733042c924755213db39578aef0d431cfe7b"},
	{"ML-KEM-768", 26, "e34a701c4c87582f42264ee422d3c684d97611f2523efe0c998af05056d693dca85768f3486bd32a01bf9a8f21ea938e648eae4e5448c34c3eb88820b159eedd", "7799c9d8eef172aa78c073514f2f039c240de8c5cb61bca82ba0bc46041ce279", "104b3444c3de2b81143788d27e17648f45c80f617f906156db2258da96dead40"},
	{"ML-KEM-768", 27, "444f032dd19ae7518c4b35b0732a41dc567845aba8bd7b04a9c413a0cf2de0b5df0f282411f4a071489a8f618e2ae5aef40131cac5233d6d731522720c2feb1c", "9d027d1bffe13e5b754e793c6b54f92ce2f12858a3bf74421eba8622cd911670", "c8b9a246835a31f61a99f3c547cc5cc10fb8927e6026ccf12267f756a4ca50af"},
	{"ML-KEM-1024", 51, "49ac8b99bb1e6a8ea818261f8be68bdeaa52897e7ec6c40b530bc760ab77dce399e3246884181f8e1dd44e0c7629093330221fd67d9b7d6e1510b2dbad8762f7", "62fccf5fdf805b110670b39cd5e25b1811172961ea4047bfbd589e323ce7cfbc", "2f8af73000bd5247a74312ac70386444290bc4b80da6fae05aeb1196dbd8912e"},
	{"ML-KEM-1024", 52, "2d229ab46354901491476cce8fa96e4a5fba65ab2f538fedaa528e35687a782b007bf379b97da0947f2e9bfde3359e282c9cf1d2e68a80209b533104e90f432d", "b3565a7f5518d32811879a47ccc9ede111d5b2e98ba070f77ad61a0a0783d30c", "4db273a294e420d9f20d465d7b163b9c2363cc6f6d63b304d61a9af06a03f2ad"},
}

func TestMLKEMKeyGenACVP(t *testing.T) {
	for _, v := range acvpMLKEMKeyGen {
		param := pqcSetByName[v.set]
		seed := pqcUnhex(t, v.seed)
		add, err := mlkemAlg.check(ck.CKO_PRIVATE_KEY, Attrs{ck.CKA_PARAMETER_SET: ck.ULong(param), ck.CKA_SEED: seed})
		if err != nil {
			t.Fatalf("%s tc %d: %v", v.set, v.tc, err)
		}
		if pqcSHA256(add[ck.CKA_VALUE]) != v.dk {
			t.Errorf("%s tc %d: dk mismatch", v.set, v.tc)
		}
		ek, _ := mlkemSetOf(param).fromSeed(seed)
		if pqcSHA256(ek) != v.ek {
			t.Errorf("%s tc %d: ek mismatch", v.set, v.tc)
		}
		if _, err := mlkemAlg.check(ck.CKO_PRIVATE_KEY, Attrs{ck.CKA_PARAMETER_SET: ck.ULong(param), ck.CKA_VALUE: add[ck.CKA_VALUE]}); err != nil {
			t.Errorf("%s tc %d: value only: %v", v.set, v.tc, err)
		}
	}
}

func TestMLKEMDecapsulateACVP512(t *testing.T) {
	dk := pqcUnhex(t, acvpKEM512DK)
	a := Attrs{ck.CKA_PARAMETER_SET: ck.ULong(ck.CKP_ML_KEM_512), ck.CKA_VALUE: dk}
	if _, err := mlkemAlg.check(ck.CKO_PRIVATE_KEY, a); err != nil {
		t.Fatal(err)
	}
	ss, err := Lookup(ck.CKM_ML_KEM).Decapsulate(Param{}, NewKey(ck.CKO_PRIVATE_KEY, ck.CKK_ML_KEM, a, nil), pqcUnhex(t, acvpKEM512C))
	if err != nil || !bytes.Equal(ss, pqcUnhex(t, acvpKEM512K)) {
		t.Errorf("ML-KEM-512 ACVP decapsulation: %x, %v", ss, err)
	}
}

type mlkemFile struct {
	TestGroups []struct {
		ParameterSet string `json:"parameterSet"`
		Tests        []struct {
			TcID    int    `json:"tcId"`
			Comment string `json:"comment"`
			Seed    string `json:"seed"`
			Ek      string `json:"ek"`
			C       string `json:"c"`
			K       string `json:"K"`
			Result  string `json:"result"`
		} `json:"tests"`
	} `json:"testGroups"`
}

// TestMLKEMWycheproof: each vector is a private key given by its seed d‖z (imported with CKA_SEED alone), the
// expected encapsulation key, a ciphertext and the expected shared secret (valid vectors include ciphertexts
// that take the implicit-rejection path). Invalid vectors have a seed or ciphertext of the wrong length.
func TestMLKEMWycheproof(t *testing.T) {
	const name = "mlkem_768_test.json"
	var file mlkemFile
	loadWycheproof(t, name, &file)
	c := wycheproofCount{file: name}
	for _, g := range file.TestGroups {
		param, ok := pqcSetByName[g.ParameterSet]
		if !ok {
			t.Fatalf("parameter set %q", g.ParameterSet)
		}
		for _, tc := range g.Tests {
			c.total++
			ss, err := func() ([]byte, error) {
				a := Attrs{ck.CKA_PARAMETER_SET: ck.ULong(param), ck.CKA_SEED: pqcUnhex(t, tc.Seed)}
				add, err := KeyTypeOf(ck.CKK_ML_KEM).Check(ck.CKO_PRIVATE_KEY, a)
				if err != nil {
					return nil, err
				}
				for k, v := range add {
					a[k] = v
				}
				if tc.Ek != "" {
					// The encapsulation key is the one embedded in dk (FIPS 203: dk = dk_PKE‖ek‖H(ek)‖z).
					ek := a[ck.CKA_VALUE][384*3 : 384*3+1184]
					if !bytes.Equal(ek, pqcUnhex(t, tc.Ek)) {
						return nil, errors.New("encapsulation key mismatch")
					}
				}
				return Lookup(ck.CKM_ML_KEM).Decapsulate(Param{}, NewKey(ck.CKO_PRIVATE_KEY, ck.CKK_ML_KEM, a, nil), pqcUnhex(t, tc.C))
			}()
			switch tc.Result {
			case "valid":
				c.check(t, err == nil && bytes.Equal(ss, pqcUnhex(t, tc.K)), "tc %d (%s): %x, %v", tc.TcID, tc.Comment, ss, err)
			case "invalid":
				c.check(t, err != nil, "tc %d (%s): accepted", tc.TcID, tc.Comment)
			default:
				c.check(t, false, "tc %d (%s): result %q", tc.TcID, tc.Comment, tc.Result)
			}
		}
	}
	c.report(t)
}

func genMLKEM(t *testing.T, param uint64) (pub, priv *Key) {
	t.Helper()
	pa, pr, err := Lookup(ck.CKM_ML_KEM_KEY_PAIR_GEN).GenerateKeyPair(Param{}, pqcParamSet(param), Attrs{})
	if err != nil {
		t.Fatal(err)
	}
	s := mlkemSetOf(param)
	if len(pa[ck.CKA_VALUE]) != s.scheme.PublicKeySize() || len(pr[ck.CKA_VALUE]) != s.scheme.PrivateKeySize() || len(pr[ck.CKA_SEED]) != 64 {
		t.Fatal("generated sizes")
	}
	if p, _ := GetULong(pr, ck.CKA_PARAMETER_SET); p != param {
		t.Fatal("private CKA_PARAMETER_SET")
	}
	pa[ck.CKA_PARAMETER_SET] = ck.ULong(param)
	if _, err := mlkemAlg.check(ck.CKO_PUBLIC_KEY, pa); err != nil {
		t.Fatal(err)
	}
	if _, err := mlkemAlg.check(ck.CKO_PRIVATE_KEY, pr); err != nil {
		t.Fatal(err)
	}
	return NewKey(ck.CKO_PUBLIC_KEY, ck.CKK_ML_KEM, pa, nil), NewKey(ck.CKO_PRIVATE_KEY, ck.CKK_ML_KEM, pr, nil)
}

func TestMLKEMRoundTrip(t *testing.T) {
	m := Lookup(ck.CKM_ML_KEM)
	for _, set := range mlkemSets {
		pub, priv := genMLKEM(t, set.param)
		_, otherPriv := genMLKEM(t, set.param)
		ct, ss, err := m.Encapsulate(Param{}, pub)
		if err != nil {
			t.Fatal(err)
		}
		if len(ct) != set.scheme.CiphertextSize() || len(ss) != 32 {
			t.Fatalf("%d: sizes %d %d", set.param, len(ct), len(ss))
		}
		got, err := m.Decapsulate(Param{}, priv, ct)
		if err != nil || !bytes.Equal(got, ss) {
			t.Errorf("%d: decapsulate: %v", set.param, err)
		}
		// Both halves of a seed-only or value-only private key object decapsulate alike.
		for _, a := range []Attrs{
			{ck.CKA_PARAMETER_SET: ck.ULong(set.param), ck.CKA_SEED: priv.Attrs[ck.CKA_SEED]},
			{ck.CKA_PARAMETER_SET: ck.ULong(set.param), ck.CKA_VALUE: priv.Attrs[ck.CKA_VALUE]},
		} {
			if got, err := m.Decapsulate(Param{}, NewKey(ck.CKO_PRIVATE_KEY, ck.CKK_ML_KEM, a, nil), ct); err != nil || !bytes.Equal(got, ss) {
				t.Errorf("%d: decapsulate with a partial key object: %v", set.param, err)
			}
		}
		ct2, ss2, _ := m.Encapsulate(Param{}, pub)
		if bytes.Equal(ct, ct2) || bytes.Equal(ss, ss2) {
			t.Errorf("%d: encapsulation repeats", set.param)
		}
		// Implicit rejection: a tampered ciphertext, or another key, gives another secret and no error, and
		// the same one every time.
		bad := bytes.Clone(ct)
		bad[0] ^= 1
		r1, err := m.Decapsulate(Param{}, priv, bad)
		r2, _ := m.Decapsulate(Param{}, priv, bad)
		if err != nil || len(r1) != 32 || bytes.Equal(r1, ss) || !bytes.Equal(r1, r2) {
			t.Errorf("%d: tampered ciphertext: %x %v", set.param, r1, err)
		}
		if r, err := m.Decapsulate(Param{}, otherPriv, ct); err != nil || bytes.Equal(r, ss) {
			t.Errorf("%d: other key: %v", set.param, err)
		}
		// Errors.
		_, err = m.Decapsulate(Param{}, priv, ct[1:])
		pqcWantRV(t, "short ciphertext", err, ck.CKR_WRAPPED_KEY_LEN_RANGE)
		_, err = m.Decapsulate(Param{}, priv, append(bytes.Clone(ct), 0))
		pqcWantRV(t, "long ciphertext", err, ck.CKR_WRAPPED_KEY_LEN_RANGE)
		_, _, err = m.Encapsulate(Param{Present: true, Raw: []byte{0}}, pub)
		pqcWantRV(t, "encapsulate parameter", err, ck.CKR_MECHANISM_PARAM_INVALID)
		_, err = m.Decapsulate(Param{Present: true, Raw: []byte{0}}, priv, ct)
		pqcWantRV(t, "decapsulate parameter", err, ck.CKR_MECHANISM_PARAM_INVALID)
		_, _, err = m.Encapsulate(Param{}, priv)
		pqcWantRV(t, "encapsulate to a private key", err, ck.CKR_KEY_TYPE_INCONSISTENT)
		_, err = m.Decapsulate(Param{}, pub, ct)
		pqcWantRV(t, "decapsulate with a public key", err, ck.CKR_KEY_TYPE_INCONSISTENT)
	}
	_, _, err := Lookup(ck.CKM_ML_KEM_KEY_PAIR_GEN).GenerateKeyPair(Param{}, Attrs{}, Attrs{})
	pqcWantRV(t, "keygen without parameter set", err, ck.CKR_TEMPLATE_INCOMPLETE)
	_, _, err = Lookup(ck.CKM_ML_KEM_KEY_PAIR_GEN).GenerateKeyPair(Param{}, pqcParamSet(0), Attrs{})
	pqcWantRV(t, "keygen with parameter set 0", err, ck.CKR_ATTRIBUTE_VALUE_INVALID)
	_, _, err = Lookup(ck.CKM_ML_KEM_KEY_PAIR_GEN).GenerateKeyPair(Param{}, pqcParamSet(ck.CKP_ML_KEM_512), pqcParamSet(ck.CKP_ML_KEM_1024))
	pqcWantRV(t, "keygen with conflicting parameter sets", err, ck.CKR_TEMPLATE_INCONSISTENT)
}

func TestMLKEMCheck(t *testing.T) {
	set := mlkemSetOf(ck.CKP_ML_KEM_768)
	pub, priv := genMLKEM(t, set.param)
	ek, dk, seed := pub.Attrs[ck.CKA_VALUE], priv.Attrs[ck.CKA_VALUE], priv.Attrs[ck.CKA_SEED]
	p := ck.ULong(set.param)
	// An ek with its first coefficient set to 4095 ≥ q (12-bit little-endian packing).
	unreduced := bytes.Clone(ek)
	unreduced[0] = 0xff
	unreduced[1] |= 0x0f
	// A dk embedding that ek, with H(ek) updated so that only the modulus check can notice.
	dkUnreduced := bytes.Clone(dk)
	copy(dkUnreduced[384*3:], unreduced)
	h := sha3.Sum256(unreduced)
	copy(dkUnreduced[384*3+1184:], h[:])
	// A dk with a damaged secret vector: hash check passes, the pairwise test does not.
	dkBadS := bytes.Clone(dk)
	clear(dkBadS[:384*3])
	dkBadHash := bytes.Clone(dk)
	dkBadHash[384*3+1184] ^= 1
	seedBad := bytes.Clone(seed)
	seedBad[63] ^= 1 // z only: ek and dk_PKE agree, the implicit-rejection value does not
	cases := []struct {
		name  string
		class ck.ObjectClass
		a     Attrs
		want  ck.RV
	}{
		{"public: no parameter set", ck.CKO_PUBLIC_KEY, Attrs{ck.CKA_VALUE: ek}, ck.CKR_TEMPLATE_INCOMPLETE},
		{"public: no value", ck.CKO_PUBLIC_KEY, Attrs{ck.CKA_PARAMETER_SET: p}, ck.CKR_TEMPLATE_INCOMPLETE},
		{"public: wrong size", ck.CKO_PUBLIC_KEY, Attrs{ck.CKA_PARAMETER_SET: ck.ULong(ck.CKP_ML_KEM_512), ck.CKA_VALUE: ek}, ck.CKR_ATTRIBUTE_VALUE_INVALID},
		{"public: unreduced", ck.CKO_PUBLIC_KEY, Attrs{ck.CKA_PARAMETER_SET: p, ck.CKA_VALUE: unreduced}, ck.CKR_ATTRIBUTE_VALUE_INVALID},
		{"private: neither", ck.CKO_PRIVATE_KEY, Attrs{ck.CKA_PARAMETER_SET: p}, ck.CKR_TEMPLATE_INCOMPLETE},
		{"private: 32-byte seed", ck.CKO_PRIVATE_KEY, Attrs{ck.CKA_PARAMETER_SET: p, ck.CKA_SEED: seed[:32]}, ck.CKR_ATTRIBUTE_VALUE_INVALID},
		{"private: wrong size", ck.CKO_PRIVATE_KEY, Attrs{ck.CKA_PARAMETER_SET: p, ck.CKA_VALUE: dk[1:]}, ck.CKR_ATTRIBUTE_VALUE_INVALID},
		{"private: hash check", ck.CKO_PRIVATE_KEY, Attrs{ck.CKA_PARAMETER_SET: p, ck.CKA_VALUE: dkBadHash}, ck.CKR_ATTRIBUTE_VALUE_INVALID},
		{"private: embedded ek unreduced", ck.CKO_PRIVATE_KEY, Attrs{ck.CKA_PARAMETER_SET: p, ck.CKA_VALUE: dkUnreduced}, ck.CKR_ATTRIBUTE_VALUE_INVALID},
		{"private: damaged s", ck.CKO_PRIVATE_KEY, Attrs{ck.CKA_PARAMETER_SET: p, ck.CKA_VALUE: dkBadS}, ck.CKR_ATTRIBUTE_VALUE_INVALID},
		{"private: seed and value disagree", ck.CKO_PRIVATE_KEY, Attrs{ck.CKA_PARAMETER_SET: p, ck.CKA_SEED: seedBad, ck.CKA_VALUE: dk}, ck.CKR_TEMPLATE_INCONSISTENT},
		{"secret key class", ck.CKO_SECRET_KEY, Attrs{ck.CKA_PARAMETER_SET: p, ck.CKA_VALUE: dk}, ck.CKR_TEMPLATE_INCONSISTENT},
	}
	for _, c := range cases {
		_, err := mlkemAlg.check(c.class, c.a)
		pqcWantRV(t, c.name, err, c.want)
	}
}

// TestMLKEMGoCrossCheck checks ML-KEM-768 and ML-KEM-1024 against Go's crypto/mlkem, an independent
// implementation: the same seed gives the same encapsulation key, and each side decapsulates the other's
// ciphertexts (and agree on implicit rejection).
func TestMLKEMGoCrossCheck(t *testing.T) {
	type goDK interface {
		Bytes() []byte
		Decapsulate([]byte) ([]byte, error)
	}
	for _, c := range []struct {
		param uint64
		newDK func(seed []byte) (goDK, []byte, func() (ss, ct []byte))
	}{
		{ck.CKP_ML_KEM_768, func(seed []byte) (goDK, []byte, func() ([]byte, []byte)) {
			d, err := mlkem.NewDecapsulationKey768(seed)
			if err != nil {
				t.Fatal(err)
			}
			return d, d.EncapsulationKey().Bytes(), d.EncapsulationKey().Encapsulate
		}},
		{ck.CKP_ML_KEM_1024, func(seed []byte) (goDK, []byte, func() ([]byte, []byte)) {
			d, err := mlkem.NewDecapsulationKey1024(seed)
			if err != nil {
				t.Fatal(err)
			}
			return d, d.EncapsulationKey().Bytes(), d.EncapsulationKey().Encapsulate
		}},
	} {
		pub, priv := genMLKEM(t, c.param)
		goKey, goEK, goEncaps := c.newDK(priv.Attrs[ck.CKA_SEED])
		if !bytes.Equal(goEK, pub.Attrs[ck.CKA_VALUE]) {
			t.Fatalf("%d: encapsulation keys differ", c.param)
		}
		for i := 0; i < 5; i++ {
			ss, ct := goEncaps()
			if got, err := Lookup(ck.CKM_ML_KEM).Decapsulate(Param{}, priv, ct); err != nil || !bytes.Equal(got, ss) {
				t.Errorf("%d: decapsulating Go's ciphertext: %v", c.param, err)
			}
			ct, ss, err := Lookup(ck.CKM_ML_KEM).Encapsulate(Param{}, pub)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := goKey.Decapsulate(ct); err != nil || !bytes.Equal(got, ss) {
				t.Errorf("%d: Go decapsulating ours: %v", c.param, err)
			}
			ct[len(ct)-1] ^= 0x80
			want, _ := goKey.Decapsulate(ct)
			if got, err := Lookup(ck.CKM_ML_KEM).Decapsulate(Param{}, priv, ct); err != nil || !bytes.Equal(got, want) || bytes.Equal(got, ss) {
				t.Errorf("%d: implicit rejection differs from Go's: %v", c.param, err)
			}
		}
	}
}

// NIST ACVP ML-KEM-encapDecap-FIPS203, ML-KEM-512 decapsulation (VAL) group, tcId 76.
const acvpKEM512DK = "" +
	"69f9cbfd1237ba161cf6e6c18f488fc6e39ab4a5c9e6c22ea4e3ad8f267a9c442010d32e61f83e6bfa5c58706145376d" +
	"bb849528f68007c822b33a95b84904dcd2708d0340c8b808bcd3aad0e48b85849583a1b4e5945dd9514a7f6461e057b7" +
	"ecf61957e97cf62815f9c32294b326e1a1c4e360b9498ba80f8ca91532b171d0aefc4849fa53bc617932e208a677c604" +
	"4a6600b8d8b83f26a747b18cfb78beafc551ad52b7ca6cb88f3b5d9ce2af6c67956c478cef491f59e0191b3bbe929b94" +
	"b666c176138b00f49724341ee2e164b94c053c185a51f93e00f36861613a7fd72febd23a8b96a260234239c9628f995d" +
	"c13807b43a69468167cb1a8f9dd07ee3b33238f63096ebc49d5051c4b65963d74a4766c226f0b94f1862c2124c8c7497" +
	"48c0bc4dc14cb34906b81c5524fb8100798542dc6cc2aa0a708575eabcc11f96a9e61c017a96a7ce93c42091737113ae" +
	"783c0ae8755e594111edfabfd86c3212c612a7b62afd3c7a5c78b2f07344b789c2b2dbb5f4448be97bba4233c0039c0f" +
	"e84300f9b03ac99497e6d46b6e95308ff84790f612cf186ec16811e80c179316a63b25703f60b842b61907e62894e736" +
	"647b3c09da6fec5932782b36e0635085a3949e694d7e17cba3d9064330438c071b5836a770c55f6213cc1425845de5a3" +
	"34d75d3e5058c7809fda4bcd78191da9797325e6236c2650fc604ee43a83ceb34980084403a33259857907799a9d2a71" +
	"3a633b5c904727f61e42520991d655705cb6bc1b74af60713ef8712f14086869be8eb297d228b325a0609fd615eab708" +
	"1540a61a82abf43b7df98a595be11f416b41e1eb75bb57977c25c64e97437d88ca5fda6159d668f6bab8157555b5d54c" +
	"0f47cbcd16843b1a0a0f0210ee310313967f3d516499018fdf3114772470a1889cc06cb6b6690ac31abcfaf4bc707684" +
	"545b000b580ccbfcbce9fa70aaea0bbd9110992a7c6c06cb368527fd229090757e6fe75705fa592a7608f050c6f88703" +
	"cc28cb000c1d7e77b897b72c62bcc7aea21a57729483d2211832bed612430c983103c69e8c072c0ea7898f2283bec48c" +
	"5ac81984d4a5a83619735a842bd172c0d1b39f43588af170458ba9ee7492eaaa94ea53a4d38498ecbb98a5f407e7c97b" +
	"4e166e397192c216033014b878e938075c6c1f10a0065abc3163722f1a2effec8d6e3a0c4f7174fc16b79fb5186a7516" +
	"8f81a56aa48a20a04bddf182c6e179c3f69061555ef7396dd0b7499601a6eb3a96a9a22d04f1168db56355b07600a203" +
	"70637b645976bbd97b6d6288a0d3036360472e3ac71d566db8fbb1b1d76cb755cd0d68bdbfc048eba2525eea9dd5b144" +
	"fb3b60fbc34239320cbc069b35ab16b8756536fb33e8a6af1dd42c79f48ad120ae4b159d3d8c319060cce569c3f60353" +
	"65585d34413795a6a18ec5136ab13c90e3af14c0b8a464c86b9073222b56b3f7328aea798155325911250ef016d72802" +
	"e3878aa50540cc983956971d6efa352c02554dc760a5a91358ea56370884fd5b3f85b70e83e4697deb1705169e9c60a7" +
	"4528cf15281cb1b1c457d467b5f93a60373d10e0cf6a837aa3c9596a72bec29b2d7e58653d533061d381d51759752217" +
	"eb46cac7807c4ad38b611644acf0a3f26b6b084ab47a83bf0d696f8a4768fc35bca6bc7903b2a237c27749f5510c8638" +
	"69e6ae56bb2afe4771c9221874f50f5b14baad5993b49238fd0a0c9f79b7b4584e41301f7a885c9f91819bea00d51258" +
	"1730539fb37e59e86a6d19ca25f0a811c9b428ba8614aa4f94807bc031cbcc183f3bf07fe2c1a6eba80d5a706ee0dab2" +
	"7e231458025d84a7a9b0230501116c290a6bb50626d97b939850942828390b0a2001b7853ad1ae9b011b2db36caeea73" +
	"a2328e3c56485b491c299115a017c907ab54317260a593a0d7ba6d06615d6e2ca84b860eff3ccb597211bfe36bdef806" +
	"9afa36c5a73392722650e4957dca597acba5605b63c163cfa94b64ddd62301a4332083361972589db0599a694dd4547a" +
	"5ee9196577c22ed427ac89bb8ba3753eb76c41f2c1129c8a77d6805fa719b1b6ca11b740a78a3d41b5330526ab87d58d" +
	"5925315a1485edc647c1604eb38138de637ad2c6ca5be44e1008b2c0867b229ccc36619e2758c4c2029eaeb26e7a803f" +
	"ca305a59cd585e117d698ece011cc3fce54d2e114545a21ac5be6771ab8f13122fad295e745a503b142f91aef7bde999" +
	"98845fda043555c9c1ee535be125e5dce5d266667e723e67b6ba891c16cba174098a3f351778b0888c9590a9090cd404"

const acvpKEM512C = "" +
	"161cd259feaa7ec6b286498a9a6f69f8b262a2e2093d0fbd76d5dc1c9fde0dedb36581004cb48112f852e7f87f649e8a" +
	"42cd9e0349e7dabdf0a9ac1b521c37ea5241370a8ab2911cc79902c95d28224fa8896ad715209ecdd5d784e91dd9d0be" +
	"916b4565f4d5669aee0def931e9768294eec5258de8391ece271e7e4cfd9d23a79fac3a8e0db5ddd6e0107235688bbdf" +
	"7bc5d5632f206c63a0c9564f30965ca58c69ff92d25a4f93a09eab9b9085947e078a23e4d9c13b8a56e73e18df42d694" +
	"9faf5921f2e373d450c8c09d07b152a97c245447429481d498beb7256bc47f68f9922b0b1c62d9c23f9f733dd73792cf" +
	"c7b43cbcea277d51b2b8ad4a4f522f642cad5c5deb21f3627f8af4d3e5bc9e91d4cb2f124b5bd7c2f4a050ca755bdb80" +
	"56609663fb9511c9ad83b5039088cc01f0dd54353b0dd7433f0c6cee0d075959810dec5416522bb1f1f65547a0c2e9cc" +
	"9bc17f8d39d29309ebe79f21331b75e12af2e93f03f74f7f87d360f1daf86ced736092a211a8158859c42e223cfe2e6e" +
	"553437d80576cfd1944e97eeff9b49e5eccfc678ee165268dfe3d3596b4b86204a81c6063b0cdce619fdbb96df7de6e0" +
	"bd5270b4d59c4dc508476e7f0708f98c7a4f6645c49d06100c760c599528d1b8bbfe628191cc083c8d225a093f9f17e3" +
	"5574986f86baa46898b589f3cb7db46a45f3edd4fac20808f4cd0249da693f8fabfbd4e10c02c65ba8c8610fa8c6df3d" +
	"baeb6763dd482af41558b1e15cc9c7a72e071685ac19a051f19245b9f77c3038a54e2958623eb8105955609e27d67cf7" +
	"2ec5c4a8e9b9c2924a9e2298508baba13cf111fdfb062c9607ac1aaa6c637310a8894bf0b96f0c19136186b618dffb27" +
	"5528bed1cc2715def412f77a3cf96645733b048a78474320d1a380f5eedbda21fa0125c91d3c37c54bf3752a1f8471c8" +
	"1fcae2d3eda966e14e66f223b054d79848ff9411d634024a098970ade6a88b5f9069f760584dc4cfffcea8ece11bb556" +
	"6bd2360ab707df2d21b67488d931f020069176423e6944490cb385e70b358a25346bafcdd06d402ff24d6c1e5f61a85d"

const acvpKEM512K = "df462ad68f1ec8972ed9b02d6de0604bdec75720e050497351e6ec933e71f882"
