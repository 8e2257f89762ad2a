package mech

//lint:file-ignore SA1019 the tests check CKM_RSA_PKCS, a PKCS#11 mechanism, against Go

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/keyward/keyward/internal/wire"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// ---- helpers ----

type rsaWPKey struct {
	Modulus         string `json:"modulus"`
	PublicExponent  string `json:"publicExponent"`
	PrivateExponent string `json:"privateExponent"`
	Prime1          string `json:"prime1"`
	Prime2          string `json:"prime2"`
	Exponent1       string `json:"exponent1"`
	Exponent2       string `json:"exponent2"`
	Coefficient     string `json:"coefficient"`
}

type rsaWPTest struct {
	TcID    int      `json:"tcId"`
	Comment string   `json:"comment"`
	Flags   []string `json:"flags"`
	Msg     string   `json:"msg"`
	Sig     string   `json:"sig"`
	Ct      string   `json:"ct"`
	Label   string   `json:"label"`
	Result  string   `json:"result"`
}

type rsaWPFile struct {
	TestGroups []struct {
		Sha        string      `json:"sha"`
		MgfSha     string      `json:"mgfSha"`
		SLen       int         `json:"sLen"`
		PublicKey  rsaWPKey    `json:"publicKey"`
		PrivateKey rsaWPKey    `json:"privateKey"`
		Tests      []rsaWPTest `json:"tests"`
	} `json:"testGroups"`
}

// rsaWPHash maps Wycheproof's hash names to Go, the digest mechanism and MGF1's CKG_ value.
var rsaWPHash = map[string]struct {
	h   crypto.Hash
	m   ck.MechanismType
	mgf uint64
}{
	"SHA-1":    {crypto.SHA1, ck.CKM_SHA_1, ck.CKG_MGF1_SHA1},
	"SHA-224":  {crypto.SHA224, ck.CKM_SHA224, ck.CKG_MGF1_SHA224},
	"SHA-256":  {crypto.SHA256, ck.CKM_SHA256, ck.CKG_MGF1_SHA256},
	"SHA-384":  {crypto.SHA384, ck.CKM_SHA384, ck.CKG_MGF1_SHA384},
	"SHA-512":  {crypto.SHA512, ck.CKM_SHA512, ck.CKG_MGF1_SHA512},
	"SHA3-256": {crypto.SHA3_256, ck.CKM_SHA3_256, ck.CKG_MGF1_SHA3_256},
}

// rsaDigestInfo holds the DER prefixes of DigestInfo (RFC 8017, section 9.2, note 1).
var rsaDigestInfo = map[crypto.Hash]string{
	crypto.SHA1:   "3021300906052b0e03021a05000414",
	crypto.SHA224: "302d300d06096086480165030402040500041c",
	crypto.SHA256: "3031300d060960864801650304020105000420",
	crypto.SHA384: "3041300d060960864801650304020205000430",
	crypto.SHA512: "3051300d060960864801650304020305000440",
}

func rsaHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func rsaDigestInfoOf(t testing.TB, h crypto.Hash, msg []byte) []byte {
	t.Helper()
	hh := NewHash(h)
	hh.Write(msg)
	return append(rsaHex(t, rsaDigestInfo[h]), hh.Sum(nil)...)
}

func rsaDigest(h crypto.Hash, msg []byte) []byte {
	hh := NewHash(h)
	hh.Write(msg)
	return hh.Sum(nil)
}

// rsaWPAttrs turns a Wycheproof key into attributes (only the fields it has).
func rsaWPAttrs(t testing.TB, k rsaWPKey) Attrs {
	a := Attrs{}
	for typ, v := range map[ck.AttributeType]string{
		ck.CKA_MODULUS: k.Modulus, ck.CKA_PUBLIC_EXPONENT: k.PublicExponent,
		ck.CKA_PRIVATE_EXPONENT: k.PrivateExponent, ck.CKA_PRIME_1: k.Prime1, ck.CKA_PRIME_2: k.Prime2,
		ck.CKA_EXPONENT_1: k.Exponent1, ck.CKA_EXPONENT_2: k.Exponent2, ck.CKA_COEFFICIENT: k.Coefficient,
	} {
		if v != "" {
			a[typ] = rsaHex(t, v)
		}
	}
	return a
}

// rsaChecked runs the key type's Check and returns the key made of the attributes and what Check added.
func rsaChecked(t testing.TB, class ck.ObjectClass, a Attrs) (*Key, Attrs) {
	t.Helper()
	add, err := KeyTypeOf(ck.CKK_RSA).Check(class, a)
	if err != nil {
		t.Fatalf("Check(%v): %v", class, err)
	}
	all := Attrs{}
	for k, v := range a {
		all[k] = v
	}
	for k, v := range add {
		all[k] = v
	}
	return NewKey(class, ck.CKK_RSA, all, nil), add
}

func rsaSpec(t testing.TB, m ck.MechanismType) *Spec {
	t.Helper()
	s := Lookup(m)
	if s == nil {
		t.Fatalf("%v not registered", m)
	}
	return s
}

func rsaRawParam(vals ...uint64) Param {
	var raw []byte
	for _, v := range vals {
		raw = append(raw, ck.ULong(v)...)
	}
	return Param{Present: true, Raw: raw}
}

func rsaPSSParam(h ck.MechanismType, mgf uint64, sLen int) Param {
	return rsaRawParam(uint64(h), mgf, uint64(sLen))
}

func rsaOAEPParam(t testing.TB, h ck.MechanismType, mgf uint64, source uint64, label []byte) Param {
	t.Helper()
	raw, err := wire.EncodeParams(ck.CKM_RSA_PKCS_OAEP, map[string]any{
		"hashAlg": uint64(h), "mgf": mgf, "source": source, "pSourceData": label})
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewParam(&ck.Mechanism{Type: ck.CKM_RSA_PKCS_OAEP, Parameter: raw})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func rsaRV(err error) ck.RV { return ck.ToRV(err) }

func rsaWantRV(t testing.TB, what string, err error, want ck.RV) {
	t.Helper()
	if got := rsaRV(err); got != want {
		t.Errorf("%s: got %v, want %v", what, got, want)
	}
}

// rsaSingleRun runs a single-part operation the way the engine does.
func rsaSingleRun(t testing.TB, op Operation, in []byte) ([]byte, error) {
	t.Helper()
	if s, ok := op.(Single); ok {
		return s.Single(in)
	}
	if _, err := op.Update(in); err != nil {
		return nil, err
	}
	return op.Final()
}

// rsaVerifyRun runs a single-part verification the way the engine does.
func rsaVerifyRun(v Verifier, data, sig []byte) error {
	if sv, ok := v.(SingleVerifier); ok {
		return sv.Verify(data, sig)
	}
	if err := v.Update(data); err != nil {
		return err
	}
	return v.Final(sig)
}

// rsaSplitUpdate feeds data in two parts.
func rsaSplitUpdate(t testing.TB, op Operation, msg []byte) {
	t.Helper()
	h := len(msg) / 2
	for _, part := range [][]byte{msg[:h], msg[h:]} {
		if _, err := op.Update(part); err != nil {
			t.Fatal(err)
		}
	}
}

func rsaGoPrivate(t testing.TB, a Attrs) *rsa.PrivateKey {
	t.Helper()
	k := &rsa.PrivateKey{
		PublicKey: rsa.PublicKey{N: GetBig(a, ck.CKA_MODULUS), E: int(GetBig(a, ck.CKA_PUBLIC_EXPONENT).Int64())},
		D:         GetBig(a, ck.CKA_PRIVATE_EXPONENT),
		Primes:    []*big.Int{GetBig(a, ck.CKA_PRIME_1), GetBig(a, ck.CKA_PRIME_2)},
	}
	k.Precompute()
	if err := k.Validate(); err != nil {
		t.Fatal(err)
	}
	return k
}

// rsaPair is the test key pair, generated once through CKM_RSA_PKCS_KEY_PAIR_GEN.
type rsaPair struct {
	pubAttrs, privAttrs Attrs
	pub, priv           *Key
	goKey               *rsa.PrivateKey // built independently from the attributes
}

var (
	rsaPairOnce sync.Once
	rsaPairVal  *rsaPair
	rsaPairErr  error
)

func rsaTestPair(t testing.TB) *rsaPair {
	t.Helper()
	rsaPairOnce.Do(func() {
		pubT := Attrs{ck.CKA_MODULUS_BITS: ck.ULong(2048), ck.CKA_PUBLIC_EXPONENT: {0x01, 0x00, 0x01}}
		pubA, privA, err := rsaSpec(t, ck.CKM_RSA_PKCS_KEY_PAIR_GEN).GenerateKeyPair(Param{}, pubT, Attrs{})
		if err != nil {
			rsaPairErr = err
			return
		}
		// The engine keeps the template's attributes too.
		pubA[ck.CKA_MODULUS_BITS] = pubT[ck.CKA_MODULUS_BITS]
		rsaPairVal = &rsaPair{pubAttrs: pubA, privAttrs: privA,
			pub:  NewKey(ck.CKO_PUBLIC_KEY, ck.CKK_RSA, pubA, nil),
			priv: NewKey(ck.CKO_PRIVATE_KEY, ck.CKK_RSA, privA, nil)}
	})
	if rsaPairErr != nil {
		t.Fatalf("key pair generation: %v", rsaPairErr)
	}
	if rsaPairVal.goKey == nil {
		rsaPairVal.goKey = rsaGoPrivate(t, rsaPairVal.privAttrs)
	}
	return rsaPairVal
}

// ---- registration ----

func TestRSARegistration(t *testing.T) {
	gen := rsaSpec(t, ck.CKM_RSA_PKCS_KEY_PAIR_GEN)
	if gen.Info != (ck.MechanismInfo{MinKeySize: 2048, MaxKeySize: 4096, Flags: ck.CKF_GENERATE_KEY_PAIR}) ||
		gen.GenKeyType != ck.CKK_RSA {
		t.Errorf("key pair generation: %+v", gen.Info)
	}
	all := uint64(ck.CKF_ENCRYPT | ck.CKF_DECRYPT | ck.CKF_SIGN | ck.CKF_VERIFY | ck.CKF_SIGN_RECOVER |
		ck.CKF_VERIFY_RECOVER | ck.CKF_WRAP | ck.CKF_UNWRAP)
	want := map[ck.MechanismType]uint64{
		ck.CKM_RSA_PKCS:      all,
		ck.CKM_RSA_X_509:     all,
		ck.CKM_RSA_PKCS_OAEP: ck.CKF_ENCRYPT | ck.CKF_DECRYPT | ck.CKF_WRAP | ck.CKF_UNWRAP,
		ck.CKM_RSA_PKCS_PSS:  ck.CKF_SIGN | ck.CKF_VERIFY,
	}
	for _, m := range rsaHashMechs {
		want[m.pkcs] = ck.CKF_SIGN | ck.CKF_VERIFY
		want[m.pss] = ck.CKF_SIGN | ck.CKF_VERIFY
	}
	if len(want) != 22 {
		t.Fatalf("%d mechanisms", len(want))
	}
	for m, flags := range want {
		s := rsaSpec(t, m)
		if s.Info != (ck.MechanismInfo{MinKeySize: 1024, MaxKeySize: 16384, Flags: flags}) {
			t.Errorf("%v: info %+v", m, s.Info)
		}
		if !s.AcceptsKey(ck.CKK_RSA) || s.AcceptsKey(ck.CKK_EC) {
			t.Errorf("%v: key types %v", m, s.KeyTypes)
		}
	}
	if ks := KeyTypeOf(ck.CKK_RSA); ks == nil || ks.Check == nil || ks.PKCS8 == nil || ks.ParsePKCS8 == nil {
		t.Error("CKK_RSA not registered completely")
	}
}

// ---- Wycheproof ----

func TestRSAWycheproofPKCS1Decrypt(t *testing.T) {
	const file = "rsa_pkcs1_2048_test.json"
	var f rsaWPFile
	loadWycheproof(t, file, &f)
	c := wycheproofCount{file: file}
	for _, g := range f.TestGroups {
		key, _ := rsaChecked(t, ck.CKO_PRIVATE_KEY, rsaWPAttrs(t, g.PrivateKey))
		for _, tc := range g.Tests {
			c.total++
			ct, msg := rsaHex(t, tc.Ct), rsaHex(t, tc.Msg)
			op, err := rsaSpec(t, ck.CKM_RSA_PKCS).Decrypt(Param{}, key)
			if err != nil {
				t.Fatal(err)
			}
			got, err := rsaSingleRun(t, op, ct)
			ok := err == nil && bytes.Equal(got, msg)
			// Unwrap is the same decryption.
			uw, uerr := rsaSpec(t, ck.CKM_RSA_PKCS).Unwrap(Param{}, key, ct)
			uok := uerr == nil && bytes.Equal(uw, msg)
			// The self-written raw private operation must agree: 00 02 PS 00 msg.
			raw := false
			if rop, err := rsaSpec(t, ck.CKM_RSA_X_509).Decrypt(Param{}, key); err == nil {
				em, err := rsaSingleRun(t, rop, ct)
				raw = err == nil && len(em) == 256 && em[0] == 0 && em[1] == 2 && bytes.HasSuffix(em, append([]byte{0}, msg...))
			}
			if tc.Result == "valid" {
				c.check(t, ok && uok && raw, "tc %d (%s): decrypt %v (ok %v), unwrap %v, raw %v", tc.TcID, tc.Comment, err, ok, uerr, raw)
			} else if c.check(t, err != nil && uerr != nil, "tc %d (%s): invalid ciphertext accepted", tc.TcID, tc.Comment) {
				if rv := rsaRV(err); rv != ck.CKR_ENCRYPTED_DATA_INVALID && rv != ck.CKR_ENCRYPTED_DATA_LEN_RANGE {
					t.Errorf("tc %d: %v", tc.TcID, rv)
				}
			}
		}
	}
	c.report(t)
}

func TestRSAWycheproofOAEP(t *testing.T) {
	wycheproofEach(t, []string{"rsa_oaep_2048_sha1_mgf1sha1_test.json", "rsa_oaep_2048_sha256_mgf1sha256_test.json",
		"rsa_oaep_3072_sha256_mgf1sha256_test.json"}, func(file string, f *rsaWPFile, c *wycheproofCount) {
		for _, g := range f.TestGroups {
			key, _ := rsaChecked(t, ck.CKO_PRIVATE_KEY, rsaWPAttrs(t, g.PrivateKey))
			h, mh := rsaWPHash[g.Sha], rsaWPHash[g.MgfSha]
			for _, tc := range g.Tests {
				c.total++
				ct, msg := rsaHex(t, tc.Ct), rsaHex(t, tc.Msg)
				p := rsaOAEPParam(t, h.m, mh.mgf, ck.CKZ_DATA_SPECIFIED, rsaHex(t, tc.Label))
				op, err := rsaSpec(t, ck.CKM_RSA_PKCS_OAEP).Decrypt(p, key)
				if err != nil {
					t.Fatal(err)
				}
				got, err := rsaSingleRun(t, op, ct)
				ok := err == nil && bytes.Equal(got, msg)
				uw, uerr := rsaSpec(t, ck.CKM_RSA_PKCS_OAEP).Unwrap(p, key, ct)
				uok := uerr == nil && bytes.Equal(uw, msg)
				if tc.Result == "valid" {
					c.check(t, ok && uok, "%s tc %d (%s): %v %v", file, tc.TcID, tc.Comment, err, uerr)
				} else {
					c.check(t, err != nil && uerr != nil, "%s tc %d (%s): invalid ciphertext accepted", file, tc.TcID, tc.Comment)
				}
			}
		}
	})
}

func TestRSAWycheproofPKCS1SigGen(t *testing.T) {
	const file = "rsa_pkcs1_2048_sig_gen_test.json"
	var f rsaWPFile
	loadWycheproof(t, file, &f)
	c := wycheproofCount{file: file}
	mechOf := map[crypto.Hash]ck.MechanismType{}
	for _, m := range rsaHashMechs {
		mechOf[m.h] = m.pkcs
	}
	for gi, g := range f.TestGroups {
		// These keys are n, e, d only: Check recovers the primes.
		a := rsaWPAttrs(t, g.PrivateKey)
		key, add := rsaChecked(t, ck.CKO_PRIVATE_KEY, a)
		p, q := GetBig(add, ck.CKA_PRIME_1), GetBig(add, ck.CKA_PRIME_2)
		if p == nil || q == nil || new(big.Int).Mul(p, q).Cmp(GetBig(a, ck.CKA_MODULUS)) != 0 {
			t.Fatalf("group %d: primes not recovered: %v", gi, add)
		}
		goKey := rsaGoPrivate(t, key.Attrs)
		if gi == 0 || len(a[ck.CKA_PUBLIC_EXPONENT]) == 1 {
			// Without the public exponent either: Check finds it among the usual ones.
			na := Attrs{ck.CKA_MODULUS: a[ck.CKA_MODULUS], ck.CKA_PRIVATE_EXPONENT: a[ck.CKA_PRIVATE_EXPONENT]}
			_, add2 := rsaChecked(t, ck.CKO_PRIVATE_KEY, na)
			if GetBig(add2, ck.CKA_PUBLIC_EXPONENT).Cmp(GetBig(a, ck.CKA_PUBLIC_EXPONENT)) != 0 ||
				GetBig(add2, ck.CKA_PRIME_1) == nil {
				t.Errorf("group %d: exponent not recovered: %x", gi, add2[ck.CKA_PUBLIC_EXPONENT])
			}
		}
		h := rsaWPHash[g.Sha]
		for _, tc := range g.Tests {
			c.total++
			msg, want := rsaHex(t, tc.Msg), rsaHex(t, tc.Sig)
			op, err := rsaSpec(t, mechOf[h.h]).Sign(Param{}, key)
			if err != nil {
				t.Fatal(err)
			}
			rsaSplitUpdate(t, op, msg)
			sig, err := op.Final()
			// CKM_RSA_PKCS over the DigestInfo makes the same signature.
			op2, err2 := rsaSpec(t, ck.CKM_RSA_PKCS).Sign(Param{}, key)
			var sig2 []byte
			if err2 == nil {
				sig2, err2 = rsaSingleRun(t, op2, rsaDigestInfoOf(t, h.h, msg))
			}
			goErr := rsa.VerifyPKCS1v15(&goKey.PublicKey, h.h, rsaDigest(h.h, msg), sig)
			c.check(t, err == nil && err2 == nil && goErr == nil && bytes.Equal(sig, want) && bytes.Equal(sig2, want),
				"tc %d (%s, %v): %v %v %v", tc.TcID, g.Sha, tc.Flags, err, err2, goErr)
		}
	}
	c.report(t)
}

func TestRSAWycheproofPKCS1Verify(t *testing.T) {
	mechOf := map[crypto.Hash]ck.MechanismType{}
	for _, m := range rsaHashMechs {
		mechOf[m.h] = m.pkcs
	}
	wycheproofEach(t, []string{"rsa_signature_2048_sha256_test.json", "rsa_signature_3072_sha384_test.json",
		"rsa_signature_4096_sha512_test.json"}, func(file string, f *rsaWPFile, c *wycheproofCount) {
		for _, g := range f.TestGroups {
			key, add := rsaChecked(t, ck.CKO_PUBLIC_KEY, rsaWPAttrs(t, g.PublicKey))
			if b, _ := GetULong(add, ck.CKA_MODULUS_BITS); int(b) != GetBig(key.Attrs, ck.CKA_MODULUS).BitLen() {
				t.Errorf("CKA_MODULUS_BITS %d", b)
			}
			h := rsaWPHash[g.Sha]
			for _, tc := range g.Tests {
				c.total++
				msg, sig := rsaHex(t, tc.Msg), rsaHex(t, tc.Sig)
				v, err := rsaSpec(t, mechOf[h.h]).Verify(Param{}, key)
				if err != nil {
					t.Fatal(err)
				}
				if err := v.Update(msg); err != nil {
					t.Fatal(err)
				}
				err = v.Final(sig)
				v2, err2 := rsaSpec(t, ck.CKM_RSA_PKCS).Verify(Param{}, key)
				if err2 == nil {
					err2 = rsaVerifyRun(v2, rsaDigestInfoOf(t, h.h, msg), sig)
				}
				if c.checkBoth(t, tc.Result, err, err2, "%s tc %d (%s %v)", file, tc.TcID, tc.Comment, tc.Flags) && tc.Result == "invalid" {
					if rv := rsaRV(err); rv != ck.CKR_SIGNATURE_INVALID && rv != ck.CKR_SIGNATURE_LEN_RANGE {
						t.Errorf("%s tc %d: %v", file, tc.TcID, rv)
					}
				}
			}
		}
	})
}

func TestRSAWycheproofPSS(t *testing.T) {
	mechOf := map[crypto.Hash]ck.MechanismType{}
	for _, m := range rsaHashMechs {
		mechOf[m.h] = m.pss
	}
	wycheproofEach(t, rsaPSSFiles, func(file string, f *rsaWPFile, c *wycheproofCount) {
		for _, g := range f.TestGroups {
			key, _ := rsaChecked(t, ck.CKO_PUBLIC_KEY, rsaWPAttrs(t, g.PublicKey))
			h, mh := rsaWPHash[g.Sha], rsaWPHash[g.MgfSha]
			p := rsaPSSParam(h.m, mh.mgf, g.SLen)
			for _, tc := range g.Tests {
				c.total++
				msg, sig := rsaHex(t, tc.Msg), rsaHex(t, tc.Sig)
				v, err := rsaSpec(t, mechOf[h.h]).Verify(p, key)
				if err != nil {
					t.Fatal(err)
				}
				if err := v.Update(msg); err != nil {
					t.Fatal(err)
				}
				err = v.Final(sig)
				v2, err2 := rsaSpec(t, ck.CKM_RSA_PKCS_PSS).Verify(p, key)
				if err2 == nil {
					err2 = rsaVerifyRun(v2, rsaDigest(h.h, msg), sig)
				}
				c.checkBoth(t, tc.Result, err, err2, "%s tc %d (%s %v)", file, tc.TcID, tc.Comment, tc.Flags)
			}
		}
	})
}

// rsaPSSFiles are the Wycheproof PSS files: through the mechanisms and through the self-written check.
var rsaPSSFiles = []string{"rsa_pss_2048_sha256_mgf1_32_test.json", "rsa_pss_3072_sha256_mgf1_32_test.json",
	"rsa_pss_4096_sha512_mgf1_64_test.json"}

// ---- the key type ----

func rsaWPDecryptKey(t testing.TB) Attrs {
	var f rsaWPFile
	loadWycheproof(t, "rsa_pkcs1_2048_test.json", &f)
	return rsaWPAttrs(t, f.TestGroups[0].PrivateKey)
}

func TestRSACheckPrivate(t *testing.T) {
	check := KeyTypeOf(ck.CKK_RSA).Check
	good := rsaWPDecryptKey(t)
	add, err := check(ck.CKO_PRIVATE_KEY, good)
	if err != nil {
		t.Fatal(err)
	}
	// Complete values: only CKA_PUBLIC_KEY_INFO follows, and it is the SPKI of (n, e).
	goKey := rsaGoPrivate(t, good)
	spki, _ := x509.MarshalPKIXPublicKey(&goKey.PublicKey)
	if len(add) != 1 || !bytes.Equal(add[ck.CKA_PUBLIC_KEY_INFO], spki) {
		t.Errorf("added %v", add)
	}
	with := func(t ck.AttributeType, v []byte) Attrs {
		a := Attrs{}
		for k, x := range good {
			a[k] = x
		}
		if v == nil {
			delete(a, t)
		} else {
			a[t] = v
		}
		return a
	}
	plus := func(t ck.AttributeType, d int64) []byte {
		return new(big.Int).Add(GetBig(good, t), big.NewInt(d)).Bytes()
	}
	bad := map[string]Attrs{
		"dP":              with(ck.CKA_EXPONENT_1, plus(ck.CKA_EXPONENT_1, 2)),
		"dQ":              with(ck.CKA_EXPONENT_2, plus(ck.CKA_EXPONENT_2, -2)),
		"qInv":            with(ck.CKA_COEFFICIENT, plus(ck.CKA_COEFFICIENT, 1)),
		"qInv + p":        with(ck.CKA_COEFFICIENT, new(big.Int).Add(GetBig(good, ck.CKA_COEFFICIENT), GetBig(good, ck.CKA_PRIME_1)).Bytes()),
		"p":               with(ck.CKA_PRIME_1, plus(ck.CKA_PRIME_1, 2)),
		"p and q swapped": with(ck.CKA_PRIME_2, good[ck.CKA_PRIME_1]),
		"d":               with(ck.CKA_PRIVATE_EXPONENT, plus(ck.CKA_PRIVATE_EXPONENT, 2)),
		"e":               with(ck.CKA_PUBLIC_EXPONENT, []byte{3}),
		"even e":          with(ck.CKA_PUBLIC_EXPONENT, []byte{1, 0, 0}),
		"no coefficient":  with(ck.CKA_COEFFICIENT, nil),
		"no primes":       with(ck.CKA_PRIME_2, nil),
		"d >= n":          with(ck.CKA_PRIVATE_EXPONENT, plus(ck.CKA_MODULUS, 0)),
	}
	// An SPKI of a different key.
	other := *goKey
	other.PublicKey.E = 3
	otherSPKI, _ := x509.MarshalPKIXPublicKey(&other.PublicKey)
	bad["spki of another key"] = with(ck.CKA_PUBLIC_KEY_INFO, otherSPKI)
	for name, a := range bad {
		if _, err := check(ck.CKO_PRIVATE_KEY, a); rsaRV(err) != ck.CKR_ATTRIBUTE_VALUE_INVALID {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := check(ck.CKO_PRIVATE_KEY, with(ck.CKA_PRIVATE_EXPONENT, nil)); rsaRV(err) != ck.CKR_TEMPLATE_INCOMPLETE {
		t.Errorf("no d: %v", err)
	}
	// The right SPKI is accepted and not added again.
	if add, err := check(ck.CKO_PRIVATE_KEY, with(ck.CKA_PUBLIC_KEY_INFO, spki)); err != nil || len(add) != 0 {
		t.Errorf("with its SPKI: %v %v", add, err)
	}
	// Without e, CRT values present: e follows from them.
	add, err = check(ck.CKO_PRIVATE_KEY, with(ck.CKA_PUBLIC_EXPONENT, nil))
	if err != nil || GetBig(add, ck.CKA_PUBLIC_EXPONENT).Int64() != 65537 || !bytes.Equal(add[ck.CKA_PUBLIC_KEY_INFO], spki) {
		t.Errorf("without e: %v %v", add, err)
	}
	// Without CRT values: they are recovered, equal to the real ones.
	noCRT := Attrs{ck.CKA_MODULUS: good[ck.CKA_MODULUS], ck.CKA_PUBLIC_EXPONENT: good[ck.CKA_PUBLIC_EXPONENT],
		ck.CKA_PRIVATE_EXPONENT: good[ck.CKA_PRIVATE_EXPONENT]}
	add, err = check(ck.CKO_PRIVATE_KEY, noCRT)
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range rsaCRTAttrs {
		if GetBig(add, typ).Cmp(GetBig(good, typ)) != 0 {
			t.Errorf("recovered %v differs", typ)
		}
	}
	// An inconsistent d without CRT values is rejected.
	noCRT[ck.CKA_PRIVATE_EXPONENT] = plus(ck.CKA_PRIVATE_EXPONENT, 2)
	if _, err := check(ck.CKO_PRIVATE_KEY, noCRT); rsaRV(err) != ck.CKR_ATTRIBUTE_VALUE_INVALID {
		t.Errorf("inconsistent d without CRT: %v", err)
	}
}

func TestRSACheckPublic(t *testing.T) {
	check := KeyTypeOf(ck.CKK_RSA).Check
	good := rsaWPDecryptKey(t)
	n, e := good[ck.CKA_MODULUS], good[ck.CKA_PUBLIC_EXPONENT]
	add, err := check(ck.CKO_PUBLIC_KEY, Attrs{ck.CKA_MODULUS: n, ck.CKA_PUBLIC_EXPONENT: e})
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := GetULong(add, ck.CKA_MODULUS_BITS); b != 2048 {
		t.Errorf("CKA_MODULUS_BITS %d", b)
	}
	pk, err := x509.ParsePKIXPublicKey(add[ck.CKA_PUBLIC_KEY_INFO])
	if err != nil || !pk.(*rsa.PublicKey).Equal(&rsa.PublicKey{N: GetBig(good, ck.CKA_MODULUS), E: 65537}) {
		t.Errorf("CKA_PUBLIC_KEY_INFO: %v", err)
	}
	small, _ := rand.Prime(rand.Reader, 512)
	small.Mul(small, big.NewInt(3))
	even := new(big.Int).Add(GetBig(good, ck.CKA_MODULUS), big.NewInt(1))
	huge := new(big.Int).Lsh(big.NewInt(1), 16384)
	huge.Add(huge, big.NewInt(1))
	for name, c := range map[string]struct {
		a  Attrs
		rv ck.RV
	}{
		"512-bit modulus":   {Attrs{ck.CKA_MODULUS: small.Bytes(), ck.CKA_PUBLIC_EXPONENT: e}, ck.CKR_ATTRIBUTE_VALUE_INVALID},
		"16385-bit modulus": {Attrs{ck.CKA_MODULUS: huge.Bytes(), ck.CKA_PUBLIC_EXPONENT: e}, ck.CKR_ATTRIBUTE_VALUE_INVALID},
		"even modulus":      {Attrs{ck.CKA_MODULUS: even.Bytes(), ck.CKA_PUBLIC_EXPONENT: e}, ck.CKR_ATTRIBUTE_VALUE_INVALID},
		"e = 1":             {Attrs{ck.CKA_MODULUS: n, ck.CKA_PUBLIC_EXPONENT: {1}}, ck.CKR_ATTRIBUTE_VALUE_INVALID},
		"even e":            {Attrs{ck.CKA_MODULUS: n, ck.CKA_PUBLIC_EXPONENT: {1, 0, 0}}, ck.CKR_ATTRIBUTE_VALUE_INVALID},
		"e >= 2^31":         {Attrs{ck.CKA_MODULUS: n, ck.CKA_PUBLIC_EXPONENT: {0x80, 0, 0, 1}}, ck.CKR_ATTRIBUTE_VALUE_INVALID},
		"no e":              {Attrs{ck.CKA_MODULUS: n}, ck.CKR_TEMPLATE_INCOMPLETE},
		"no n":              {Attrs{ck.CKA_PUBLIC_EXPONENT: e}, ck.CKR_TEMPLATE_INCOMPLETE},
		"bits":              {Attrs{ck.CKA_MODULUS: n, ck.CKA_PUBLIC_EXPONENT: e, ck.CKA_MODULUS_BITS: ck.ULong(2047)}, ck.CKR_TEMPLATE_INCONSISTENT},
		"spki":              {Attrs{ck.CKA_MODULUS: n, ck.CKA_PUBLIC_EXPONENT: {3}, ck.CKA_PUBLIC_KEY_INFO: add[ck.CKA_PUBLIC_KEY_INFO]}, ck.CKR_ATTRIBUTE_VALUE_INVALID},
	} {
		if _, err := check(ck.CKO_PUBLIC_KEY, c.a); rsaRV(err) != c.rv {
			t.Errorf("%s: got %v, want %v", name, err, c.rv)
		}
	}
	// A leading zero byte is the same integer.
	if add, err := check(ck.CKO_PUBLIC_KEY, Attrs{ck.CKA_MODULUS: append([]byte{0}, n...), ck.CKA_PUBLIC_EXPONENT: append([]byte{0}, e...)}); err != nil ||
		!bytes.Equal(add[ck.CKA_MODULUS_BITS], ck.ULong(2048)) {
		t.Errorf("leading zeros: %v", err)
	}
}

// TestRSAUnknownExponent covers a private key given as n and d only whose exponent is not a usual one: it is
// accepted and does the raw operation (CKM_RSA_X_509, CKM_RSA_PKCS signatures).
func TestRSAUnknownExponent(t *testing.T) {
	kp := rsaTestPair(t)
	p, q := kp.goKey.Primes[0], kp.goKey.Primes[1]
	pm1, qm1 := new(big.Int).Sub(p, big.NewInt(1)), new(big.Int).Sub(q, big.NewInt(1))
	lambda := new(big.Int).Mul(pm1, qm1)
	lambda.Quo(lambda, new(big.Int).GCD(nil, nil, pm1, qm1))
	var e int64
	var d *big.Int
	for e = 65539; ; e += 2 {
		if d = new(big.Int).ModInverse(big.NewInt(e), lambda); d != nil {
			break
		}
	}
	n := kp.goKey.N
	pub := &rsa.PublicKey{N: n, E: int(e)}
	check := KeyTypeOf(ck.CKK_RSA).Check

	// With the CRT values, e follows from them.
	full := Attrs{ck.CKA_MODULUS: n.Bytes(), ck.CKA_PRIVATE_EXPONENT: d.Bytes(), ck.CKA_PRIME_1: p.Bytes(),
		ck.CKA_PRIME_2: q.Bytes(), ck.CKA_EXPONENT_1: new(big.Int).Mod(d, pm1).Bytes(),
		ck.CKA_EXPONENT_2: new(big.Int).Mod(d, qm1).Bytes(), ck.CKA_COEFFICIENT: new(big.Int).ModInverse(q, p).Bytes()}
	if add, err := check(ck.CKO_PRIVATE_KEY, full); err != nil || GetBig(add, ck.CKA_PUBLIC_EXPONENT).Int64() != e {
		t.Errorf("implied exponent: %v %v", add, err)
	}

	// n and d only: accepted, nothing follows.
	a := Attrs{ck.CKA_MODULUS: n.Bytes(), ck.CKA_PRIVATE_EXPONENT: d.Bytes()}
	key, add := rsaChecked(t, ck.CKO_PRIVATE_KEY, a)
	if len(add) != 0 {
		t.Errorf("added %v", add)
	}
	pubKey, _ := rsaChecked(t, ck.CKO_PUBLIC_KEY, Attrs{ck.CKA_MODULUS: n.Bytes(), ck.CKA_PUBLIC_EXPONENT: big.NewInt(e).Bytes()})

	// CKM_RSA_PKCS signature, checked by crypto/rsa.
	di := rsaDigestInfoOf(t, crypto.SHA256, []byte("abc"))
	op, err := rsaSpec(t, ck.CKM_RSA_PKCS).Sign(Param{}, key)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := rsaSingleRun(t, op, di)
	if err != nil {
		t.Fatal(err)
	}
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, rsaDigest(crypto.SHA256, []byte("abc")), sig); err != nil {
		t.Errorf("PKCS #1 signature: %v", err)
	}
	// CKM_RSA_X_509 decryption of what crypto/rsa encrypted: 00 02 PS 00 msg.
	ct, _ := rsa.EncryptPKCS1v15(rand.Reader, pub, []byte("secret"))
	op, err = rsaSpec(t, ck.CKM_RSA_X_509).Decrypt(Param{}, key)
	if err != nil {
		t.Fatal(err)
	}
	em, err := rsaSingleRun(t, op, ct)
	if err != nil || em[0] != 0 || em[1] != 2 || !bytes.HasSuffix(em, []byte("\x00secret")) {
		t.Errorf("raw decryption: %x %v", em, err)
	}
	// CKM_RSA_X_509 sign and verify-recover.
	op, _ = rsaSpec(t, ck.CKM_RSA_X_509).Sign(Param{}, key)
	sig, err = rsaSingleRun(t, op, []byte("raw"))
	if err != nil {
		t.Fatal(err)
	}
	vr, _ := rsaSpec(t, ck.CKM_RSA_X_509).VerifyRecover(Param{}, pubKey)
	if got, err := vr.Single(sig); err != nil || !bytes.HasSuffix(got, []byte("raw")) || len(got) != 256 {
		t.Errorf("raw verify-recover: %x %v", got, err)
	}
	// What needs crypto/rsa is refused; the key cannot be wrapped.
	if _, err := rsaSpec(t, ck.CKM_SHA256_RSA_PKCS).Sign(Param{}, key); rsaRV(err) != ck.CKR_KEY_FUNCTION_NOT_PERMITTED {
		t.Errorf("hashed signature: %v", err)
	}
	if _, err := rsaSpec(t, ck.CKM_RSA_PKCS).Decrypt(Param{}, key); rsaRV(err) != ck.CKR_KEY_FUNCTION_NOT_PERMITTED {
		t.Errorf("PKCS decryption: %v", err)
	}
	if _, err := KeyTypeOf(ck.CKK_RSA).PKCS8(key.Attrs); rsaRV(err) != ck.CKR_KEY_NOT_WRAPPABLE {
		t.Errorf("PKCS8: %v", err)
	}
}

// ---- a generated key ----

func TestRSAGenerateKeyPair(t *testing.T) {
	kp := rsaTestPair(t)
	n := GetBig(kp.pubAttrs, ck.CKA_MODULUS)
	if n.BitLen() != 2048 || len(kp.pubAttrs[ck.CKA_MODULUS]) != 256 {
		t.Errorf("modulus of %d bits", n.BitLen())
	}
	if !bytes.Equal(kp.pubAttrs[ck.CKA_PUBLIC_EXPONENT], []byte{1, 0, 1}) ||
		!bytes.Equal(kp.privAttrs[ck.CKA_PUBLIC_EXPONENT], []byte{1, 0, 1}) {
		t.Error("public exponent")
	}
	for _, typ := range []ck.AttributeType{ck.CKA_MODULUS, ck.CKA_PUBLIC_EXPONENT, ck.CKA_PRIVATE_EXPONENT,
		ck.CKA_PRIME_1, ck.CKA_PRIME_2, ck.CKA_EXPONENT_1, ck.CKA_EXPONENT_2, ck.CKA_COEFFICIENT, ck.CKA_PUBLIC_KEY_INFO} {
		if len(kp.privAttrs[typ]) == 0 {
			t.Errorf("private key lacks %v", typ)
		}
	}
	if _, ok := kp.pubAttrs[ck.CKA_PRIVATE_EXPONENT]; ok {
		t.Error("public key has CKA_PRIVATE_EXPONENT")
	}
	for _, a := range []Attrs{kp.pubAttrs, kp.privAttrs} {
		pk, err := x509.ParsePKIXPublicKey(a[ck.CKA_PUBLIC_KEY_INFO])
		if err != nil || !pk.(*rsa.PublicKey).Equal(&kp.goKey.PublicKey) {
			t.Errorf("CKA_PUBLIC_KEY_INFO: %v", err)
		}
	}
	// The generated values pass Check (as an imported key would), adding nothing.
	for class, a := range map[ck.ObjectClass]Attrs{ck.CKO_PUBLIC_KEY: kp.pubAttrs, ck.CKO_PRIVATE_KEY: kp.privAttrs} {
		if add, err := KeyTypeOf(ck.CKK_RSA).Check(class, a); err != nil || len(add) != 0 {
			t.Errorf("Check(%v): %v %v", class, add, err)
		}
	}
	// CRT values as PKCS#11 defines them.
	g := kp.goKey
	p, q, d := g.Primes[0], g.Primes[1], g.D
	if GetBig(kp.privAttrs, ck.CKA_EXPONENT_1).Cmp(new(big.Int).Mod(d, new(big.Int).Sub(p, big.NewInt(1)))) != 0 ||
		GetBig(kp.privAttrs, ck.CKA_COEFFICIENT).Cmp(new(big.Int).ModInverse(q, p)) != 0 {
		t.Error("CRT values")
	}

	gen := rsaSpec(t, ck.CKM_RSA_PKCS_KEY_PAIR_GEN).GenerateKeyPair
	for name, c := range map[string]struct {
		p    Param
		tmpl Attrs
		rv   ck.RV
	}{
		"no bits":    {Param{}, Attrs{}, ck.CKR_TEMPLATE_INCOMPLETE},
		"short bits": {Param{}, Attrs{ck.CKA_MODULUS_BITS: {0, 8}}, ck.CKR_ATTRIBUTE_VALUE_INVALID},
		"1024 bits":  {Param{}, Attrs{ck.CKA_MODULUS_BITS: ck.ULong(1024)}, ck.CKR_KEY_SIZE_RANGE},
		"2047 bits":  {Param{}, Attrs{ck.CKA_MODULUS_BITS: ck.ULong(2047)}, ck.CKR_KEY_SIZE_RANGE},
		"8192 bits":  {Param{}, Attrs{ck.CKA_MODULUS_BITS: ck.ULong(8192)}, ck.CKR_KEY_SIZE_RANGE},
		"exponent 3": {Param{}, Attrs{ck.CKA_MODULUS_BITS: ck.ULong(2048), ck.CKA_PUBLIC_EXPONENT: {3}}, ck.CKR_TEMPLATE_INCONSISTENT},
		"exponent 0": {Param{}, Attrs{ck.CKA_MODULUS_BITS: ck.ULong(2048), ck.CKA_PUBLIC_EXPONENT: {0}}, ck.CKR_TEMPLATE_INCONSISTENT},
		"parameter":  {Param{Present: true, Raw: []byte{1}}, Attrs{ck.CKA_MODULUS_BITS: ck.ULong(2048)}, ck.CKR_MECHANISM_PARAM_INVALID},
		"empty exp.": {Param{}, Attrs{ck.CKA_MODULUS_BITS: ck.ULong(2048), ck.CKA_PUBLIC_EXPONENT: {}}, ck.CKR_ATTRIBUTE_VALUE_INVALID},
		"huge exp.":  {Param{}, Attrs{ck.CKA_MODULUS_BITS: ck.ULong(2048), ck.CKA_PUBLIC_EXPONENT: bytes.Repeat([]byte{1}, 12)}, ck.CKR_TEMPLATE_INCONSISTENT},
		"4095 bits":  {Param{}, Attrs{ck.CKA_MODULUS_BITS: ck.ULong(4095)}, ck.CKR_KEY_SIZE_RANGE},
	} {
		if _, _, err := gen(c.p, c.tmpl, Attrs{}); rsaRV(err) != c.rv {
			t.Errorf("%s: got %v, want %v", name, err, c.rv)
		}
	}
}

func TestRSASignVerifyGenerated(t *testing.T) {
	kp := rsaTestPair(t)
	pub := &kp.goKey.PublicKey
	msg := []byte("The quick brown fox jumps over the lazy dog")
	for _, m := range rsaHashMechs {
		// PKCS #1 v1.5: deterministic, equal to crypto/rsa's.
		op, err := rsaSpec(t, m.pkcs).Sign(Param{}, kp.priv)
		if err != nil {
			t.Fatal(err)
		}
		rsaSplitUpdate(t, op, msg)
		sig, err := op.Final()
		if err != nil {
			t.Fatalf("%v: %v", m.pkcs, err)
		}
		want, _ := rsa.SignPKCS1v15(nil, kp.goKey, m.h, rsaDigest(m.h, msg))
		if !bytes.Equal(sig, want) || rsa.VerifyPKCS1v15(pub, m.h, rsaDigest(m.h, msg), sig) != nil {
			t.Errorf("%v: signature differs from crypto/rsa's", m.pkcs)
		}
		rsaCheckVerifier(t, m.pkcs, Param{}, kp.pub, msg, sig)

		// PSS with sLen = hLen: crypto/rsa verifies ours and we verify crypto/rsa's.
		pp := rsaPSSParam(rsaMechOfHash(m.h), rsaMGFOfHash(m.h), m.h.Size())
		op, err = rsaSpec(t, m.pss).Sign(pp, kp.priv)
		if err != nil {
			t.Fatal(err)
		}
		rsaSplitUpdate(t, op, msg)
		sig, err = op.Final()
		if err != nil {
			t.Fatalf("%v: %v", m.pss, err)
		}
		if err := rsa.VerifyPSS(pub, m.h, rsaDigest(m.h, msg), sig, &rsa.PSSOptions{SaltLength: m.h.Size()}); err != nil {
			t.Errorf("%v: crypto/rsa rejects our signature: %v", m.pss, err)
		}
		goSig, _ := rsa.SignPSS(rand.Reader, kp.goKey, m.h, rsaDigest(m.h, msg), &rsa.PSSOptions{SaltLength: m.h.Size()})
		rsaCheckVerifier(t, m.pss, pp, kp.pub, msg, goSig)
		// Another salt length is another signature.
		if v, err := rsaSpec(t, m.pss).Verify(rsaPSSParam(rsaMechOfHash(m.h), rsaMGFOfHash(m.h), m.h.Size()+1), kp.pub); err == nil {
			_ = v.Update(msg)
			if v.Final(goSig) == nil {
				t.Errorf("%v: wrong salt length accepted", m.pss)
			}
		}

		// CKM_RSA_PKCS_PSS over the digest, with a salt of 1 byte and of the largest length.
		for _, sLen := range []int{1, 256 - m.h.Size() - 2} {
			pp := rsaPSSParam(rsaMechOfHash(m.h), rsaMGFOfHash(m.h), sLen)
			op, err := rsaSpec(t, ck.CKM_RSA_PKCS_PSS).Sign(pp, kp.priv)
			if err != nil {
				t.Fatal(err)
			}
			sig, err := rsaSingleRun(t, op, rsaDigest(m.h, msg))
			if err != nil {
				t.Fatalf("PSS sLen %d: %v", sLen, err)
			}
			if err := rsa.VerifyPSS(pub, m.h, rsaDigest(m.h, msg), sig, &rsa.PSSOptions{SaltLength: sLen}); err != nil {
				t.Errorf("CKM_RSA_PKCS_PSS %v sLen %d: %v", m.h, sLen, err)
			}
			v, _ := rsaSpec(t, ck.CKM_RSA_PKCS_PSS).Verify(pp, kp.pub)
			if err := rsaVerifyRun(v, rsaDigest(m.h, msg), sig); err != nil {
				t.Errorf("CKM_RSA_PKCS_PSS verify: %v", err)
			}
		}
	}
}

func rsaMechOfHash(h crypto.Hash) ck.MechanismType {
	for m, x := range hashes {
		if x == h {
			return m
		}
	}
	panic("no mechanism")
}

func rsaMGFOfHash(h crypto.Hash) uint64 {
	for m, x := range rsaMGFs {
		if x == h {
			return m
		}
	}
	panic("no MGF")
}

// rsaCheckVerifier checks that sig verifies over msg (in parts) and that altered ones do not.
func rsaCheckVerifier(t *testing.T, m ck.MechanismType, p Param, pub *Key, msg, sig []byte) {
	t.Helper()
	run := func(msg, sig []byte) error {
		v, err := rsaSpec(t, m).Verify(p, pub)
		if err != nil {
			t.Fatal(err)
		}
		h := len(msg) / 2
		_ = v.Update(msg[:h])
		_ = v.Update(msg[h:])
		return v.Final(sig)
	}
	if err := run(msg, sig); err != nil {
		t.Errorf("%v: %v", m, err)
	}
	bad := append([]byte{}, sig...)
	bad[len(bad)/2] ^= 1
	rsaWantRV(t, m.String()+" altered signature", run(msg, bad), ck.CKR_SIGNATURE_INVALID)
	rsaWantRV(t, m.String()+" altered message", run(append([]byte{1}, msg...), sig), ck.CKR_SIGNATURE_INVALID)
	rsaWantRV(t, m.String()+" short signature", run(msg, sig[1:]), ck.CKR_SIGNATURE_LEN_RANGE)
}

func TestRSAPKCSGenerated(t *testing.T) {
	kp := rsaTestPair(t)
	pub := &kp.goKey.PublicKey
	s := rsaSpec(t, ck.CKM_RSA_PKCS)
	data := bytes.Repeat([]byte{0xa5}, 256-11)

	// Encrypt: crypto/rsa decrypts; decrypt what crypto/rsa encrypted.
	op, _ := s.Encrypt(Param{}, kp.pub)
	ct, err := rsaSingleRun(t, op, data)
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := rsa.DecryptPKCS1v15(nil, kp.goKey, ct); err != nil || !bytes.Equal(pt, data) {
		t.Errorf("crypto/rsa decryption: %v", err)
	}
	ct, _ = rsa.EncryptPKCS1v15(rand.Reader, pub, []byte("x"))
	op, _ = s.Decrypt(Param{}, kp.priv)
	if pt, err := rsaSingleRun(t, op, ct); err != nil || string(pt) != "x" {
		t.Errorf("decryption: %v", err)
	}
	op, _ = s.Encrypt(Param{}, kp.pub)
	_, err = rsaSingleRun(t, op, append(data, 0))
	rsaWantRV(t, "encrypt k-10 bytes", err, ck.CKR_DATA_LEN_RANGE)
	op, _ = s.Decrypt(Param{}, kp.priv)
	_, err = rsaSingleRun(t, op, ct[1:])
	rsaWantRV(t, "decrypt k-1 bytes", err, ck.CKR_ENCRYPTED_DATA_LEN_RANGE)
	op, _ = s.Decrypt(Param{}, kp.priv)
	_, err = rsaSingleRun(t, op, bytes.Repeat([]byte{0xff}, 256))
	rsaWantRV(t, "decrypt >= n", err, ck.CKR_ENCRYPTED_DATA_INVALID)

	// Sign, verify, sign-recover, verify-recover.
	di := rsaDigestInfoOf(t, crypto.SHA384, []byte("m"))
	op, _ = s.Sign(Param{}, kp.priv)
	sig, err := rsaSingleRun(t, op, di)
	if err != nil || rsa.VerifyPKCS1v15(pub, crypto.SHA384, rsaDigest(crypto.SHA384, []byte("m")), sig) != nil {
		t.Errorf("sign: %v", err)
	}
	sr, _ := s.SignRecover(Param{}, kp.priv)
	if sig2, err := sr.Single(di); err != nil || !bytes.Equal(sig2, sig) {
		t.Errorf("sign-recover: %v", err)
	}
	vr, _ := s.VerifyRecover(Param{}, kp.pub)
	if got, err := vr.Single(sig); err != nil || !bytes.Equal(got, di) {
		t.Errorf("verify-recover: %x %v", got, err)
	}
	bad := append([]byte{}, sig...)
	bad[10] ^= 0x80
	_, err = vr.Single(bad)
	rsaWantRV(t, "verify-recover altered", err, ck.CKR_SIGNATURE_INVALID)
	_, err = vr.Single(sig[1:])
	rsaWantRV(t, "verify-recover short", err, ck.CKR_SIGNATURE_LEN_RANGE)
	// A raw-signed block of type 2 is not a signature.
	xs, _ := rsaSpec(t, ck.CKM_RSA_X_509).Sign(Param{}, kp.priv)
	t2 := append([]byte{0, 2}, bytes.Repeat([]byte{0xff}, 256-2-1-len(di))...)
	t2 = append(append(t2, 0), di...)
	t2sig, _ := rsaSingleRun(t, xs, t2)
	_, err = vr.Single(t2sig)
	rsaWantRV(t, "verify-recover type 2", err, ck.CKR_SIGNATURE_INVALID)
	v, _ := s.Verify(Param{}, kp.pub)
	rsaWantRV(t, "verify type 2", rsaVerifyRun(v, di, t2sig), ck.CKR_SIGNATURE_INVALID)
	// Seven bytes of padding are too few.
	short := append([]byte{0, 1}, bytes.Repeat([]byte{0xff}, 7)...)
	short = append(append(short, 0), bytes.Repeat([]byte{0x11}, 256-10)...)
	xs, _ = rsaSpec(t, ck.CKM_RSA_X_509).Sign(Param{}, kp.priv)
	shortSig, _ := rsaSingleRun(t, xs, short)
	_, err = vr.Single(shortSig)
	rsaWantRV(t, "verify-recover, 7 bytes of padding", err, ck.CKR_SIGNATURE_INVALID)
	v, _ = s.Verify(Param{}, kp.pub)
	if err := rsaVerifyRun(v, di, sig); err != nil {
		t.Errorf("verify: %v", err)
	}
	op, _ = s.Sign(Param{}, kp.priv)
	_, err = rsaSingleRun(t, op, append(data, 0))
	rsaWantRV(t, "sign k-10 bytes", err, ck.CKR_DATA_LEN_RANGE)
	// Single-part only.
	op, _ = s.Sign(Param{}, kp.priv)
	_, err = op.Update(di)
	rsaWantRV(t, "C_SignUpdate", err, ck.CKR_FUNCTION_NOT_SUPPORTED)
	v, _ = s.Verify(Param{}, kp.pub)
	rsaWantRV(t, "C_VerifyUpdate", v.Update(di), ck.CKR_FUNCTION_NOT_SUPPORTED)

	// Wrap and unwrap.
	secret := bytes.Repeat([]byte{7}, 32)
	w, err := s.Wrap(Param{}, kp.pub, secret)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Unwrap(Param{}, kp.priv, w); err != nil || !bytes.Equal(got, secret) {
		t.Errorf("unwrap: %v", err)
	}
	_, err = s.Wrap(Param{}, kp.pub, make([]byte, 246))
	rsaWantRV(t, "wrap too long", err, ck.CKR_KEY_SIZE_RANGE)
	_, err = s.Unwrap(Param{}, kp.priv, w[:255])
	rsaWantRV(t, "unwrap short", err, ck.CKR_WRAPPED_KEY_LEN_RANGE)
	w[5] ^= 1
	_, err = s.Unwrap(Param{}, kp.priv, w)
	rsaWantRV(t, "unwrap altered", err, ck.CKR_WRAPPED_KEY_INVALID)

	// Keys of the wrong class, a parameter.
	_, err = s.Decrypt(Param{}, kp.pub)
	rsaWantRV(t, "decrypt with a public key", err, ck.CKR_KEY_TYPE_INCONSISTENT)
	_, err = s.Verify(Param{}, kp.priv)
	rsaWantRV(t, "verify with a private key", err, ck.CKR_KEY_TYPE_INCONSISTENT)
	_, err = s.Sign(Param{Present: true, Raw: []byte{0}}, kp.priv)
	rsaWantRV(t, "parameter", err, ck.CKR_MECHANISM_PARAM_INVALID)
	if _, err = s.Sign(Param{Present: true}, kp.priv); err != nil {
		t.Errorf("empty parameter: %v", err)
	}
}

func TestRSAX509Generated(t *testing.T) {
	kp := rsaTestPair(t)
	pub := &kp.goKey.PublicKey
	s := rsaSpec(t, ck.CKM_RSA_X_509)
	// Raw signature of a PKCS #1 block equals crypto/rsa's PKCS #1 v1.5 signature.
	di := rsaDigestInfoOf(t, crypto.SHA256, []byte("m"))
	em := append([]byte{0, 1}, bytes.Repeat([]byte{0xff}, 256-3-len(di))...)
	em = append(append(em, 0), di...)
	op, _ := s.Sign(Param{}, kp.priv)
	sig, err := rsaSingleRun(t, op, em[1:]) // leading zero dropped: inputs shorter than k are numbers too
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := rsa.SignPKCS1v15(nil, kp.goKey, crypto.SHA256, rsaDigest(crypto.SHA256, []byte("m"))); !bytes.Equal(sig, want) {
		t.Error("raw signature differs from crypto/rsa's")
	}
	sr, _ := s.SignRecover(Param{}, kp.priv)
	if sig2, err := sr.Single(em); err != nil || !bytes.Equal(sig2, sig) {
		t.Errorf("sign-recover: %v", err)
	}
	v, _ := s.Verify(Param{}, kp.pub)
	if err := rsaVerifyRun(v, em[1:], sig); err != nil {
		t.Errorf("verify: %v", err)
	}
	v, _ = s.Verify(Param{}, kp.pub)
	rsaWantRV(t, "verify other data", rsaVerifyRun(v, em[2:], sig), ck.CKR_SIGNATURE_INVALID)
	v, _ = s.Verify(Param{}, kp.pub)
	rsaWantRV(t, "verify signature >= n", rsaVerifyRun(v, em, bytes.Repeat([]byte{0xff}, 256)), ck.CKR_SIGNATURE_INVALID)
	vr, _ := s.VerifyRecover(Param{}, kp.pub)
	if got, err := vr.Single(sig); err != nil || !bytes.Equal(got, em) {
		t.Errorf("verify-recover: %v", err)
	}
	// Raw encryption of a type 2 block is PKCS #1 v1.5 encryption, as crypto/rsa decrypts it.
	blk := append([]byte{0, 2}, bytes.Repeat([]byte{0x5a}, 256-3-5)...)
	blk = append(append(blk, 0), []byte("hello")...)
	op, _ = s.Encrypt(Param{}, kp.pub)
	ct, err := rsaSingleRun(t, op, blk)
	if err != nil || len(ct) != 256 {
		t.Fatal(err)
	}
	if pt, err := rsa.DecryptPKCS1v15(nil, kp.goKey, ct); err != nil || string(pt) != "hello" {
		t.Errorf("crypto/rsa decryption of raw encryption: %v", err)
	}
	op, _ = s.Decrypt(Param{}, kp.priv)
	if got, err := rsaSingleRun(t, op, ct); err != nil || !bytes.Equal(got, blk) {
		t.Errorf("raw decryption: %v", err)
	}
	// Random values round trip; the raw operation of crypto/rsa's ciphertext is its block.
	for range 5 {
		x, _ := rand.Int(rand.Reader, pub.N)
		op, _ := s.Decrypt(Param{}, kp.priv)
		m, err := rsaSingleRun(t, op, x.FillBytes(make([]byte, 256)))
		if err != nil {
			t.Fatal(err)
		}
		if new(big.Int).Exp(new(big.Int).SetBytes(m), big.NewInt(65537), pub.N).Cmp(x) != 0 {
			t.Error("raw decryption is not the inverse of raw encryption")
		}
	}
	// Lengths and ranges.
	op, _ = s.Encrypt(Param{}, kp.pub)
	_, err = rsaSingleRun(t, op, make([]byte, 257))
	rsaWantRV(t, "encrypt k+1 bytes", err, ck.CKR_DATA_LEN_RANGE)
	op, _ = s.Encrypt(Param{}, kp.pub)
	_, err = rsaSingleRun(t, op, bytes.Repeat([]byte{0xff}, 256))
	rsaWantRV(t, "encrypt >= n", err, ck.CKR_DATA_INVALID)
	op, _ = s.Sign(Param{}, kp.priv)
	_, err = rsaSingleRun(t, op, bytes.Repeat([]byte{0xff}, 256))
	rsaWantRV(t, "sign >= n", err, ck.CKR_DATA_INVALID)
	op, _ = s.Decrypt(Param{}, kp.priv)
	_, err = rsaSingleRun(t, op, ct[1:])
	rsaWantRV(t, "decrypt k-1 bytes", err, ck.CKR_ENCRYPTED_DATA_LEN_RANGE)
	op, _ = s.Decrypt(Param{}, kp.priv)
	_, err = rsaSingleRun(t, op, bytes.Repeat([]byte{0xff}, 256))
	rsaWantRV(t, "decrypt >= n", err, ck.CKR_ENCRYPTED_DATA_INVALID)
	// Wrap and unwrap: the unwrapped block is k bytes, the key value at its end.
	secret := bytes.Repeat([]byte{9}, 24)
	w, err := s.Wrap(Param{}, kp.pub, secret)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Unwrap(Param{}, kp.priv, w); err != nil || len(got) != 256 || !bytes.Equal(got[256-24:], secret) {
		t.Errorf("unwrap: %v", err)
	}
	_, err = s.Wrap(Param{}, kp.pub, bytes.Repeat([]byte{0xff}, 256))
	rsaWantRV(t, "wrap >= n", err, ck.CKR_KEY_SIZE_RANGE)
	_, err = s.Unwrap(Param{}, kp.priv, w[1:])
	rsaWantRV(t, "unwrap short", err, ck.CKR_WRAPPED_KEY_LEN_RANGE)
}

func TestRSAOAEPGenerated(t *testing.T) {
	kp := rsaTestPair(t)
	pub := &kp.goKey.PublicKey
	s := rsaSpec(t, ck.CKM_RSA_PKCS_OAEP)
	for _, c := range []struct {
		h, mgf crypto.Hash
		label  []byte
	}{
		{crypto.SHA1, crypto.SHA1, nil},
		{crypto.SHA256, crypto.SHA256, []byte("label")},
		{crypto.SHA256, crypto.SHA1, nil},
		{crypto.SHA384, crypto.SHA512, []byte{0}},
		{crypto.SHA512, crypto.SHA224, nil},
		{crypto.SHA3_256, crypto.SHA3_256, []byte("l")},
		{crypto.SHA224, crypto.SHA3_512, nil},
	} {
		p := rsaOAEPParam(t, rsaMechOfHash(c.h), rsaMGFOfHash(c.mgf), ck.CKZ_DATA_SPECIFIED, c.label)
		opts := &rsa.OAEPOptions{Hash: c.h, MGFHash: c.mgf, Label: c.label}
		limit := 256 - 2*c.h.Size() - 2
		msg := bytes.Repeat([]byte{0x3c}, limit)
		op, err := s.Encrypt(p, kp.pub)
		if err != nil {
			t.Fatal(err)
		}
		ct, err := rsaSingleRun(t, op, msg)
		if err != nil {
			t.Fatalf("%v/%v: %v", c.h, c.mgf, err)
		}
		if pt, err := kp.goKey.Decrypt(nil, ct, opts); err != nil || !bytes.Equal(pt, msg) {
			t.Errorf("%v/%v: crypto/rsa decryption: %v", c.h, c.mgf, err)
		}
		goCT, _ := rsa.EncryptOAEPWithOptions(rand.Reader, pub, []byte("m"), opts)
		op, _ = s.Decrypt(p, kp.priv)
		if pt, err := rsaSingleRun(t, op, goCT); err != nil || string(pt) != "m" {
			t.Errorf("%v/%v: decryption: %v", c.h, c.mgf, err)
		}
		// Another label, another MGF hash: rejected alike.
		p2 := rsaOAEPParam(t, rsaMechOfHash(c.h), rsaMGFOfHash(c.mgf), ck.CKZ_DATA_SPECIFIED, append(c.label, 'x'))
		op, _ = s.Decrypt(p2, kp.priv)
		_, err = rsaSingleRun(t, op, goCT)
		rsaWantRV(t, "wrong label", err, ck.CKR_ENCRYPTED_DATA_INVALID)
		other := crypto.SHA1
		if c.mgf == crypto.SHA1 {
			other = crypto.SHA256
		}
		p3 := rsaOAEPParam(t, rsaMechOfHash(c.h), rsaMGFOfHash(other), ck.CKZ_DATA_SPECIFIED, c.label)
		op, _ = s.Decrypt(p3, kp.priv)
		_, err = rsaSingleRun(t, op, goCT)
		rsaWantRV(t, "wrong MGF", err, ck.CKR_ENCRYPTED_DATA_INVALID)
		op, _ = s.Encrypt(p, kp.pub)
		_, err = rsaSingleRun(t, op, append(msg, 0))
		rsaWantRV(t, "too long", err, ck.CKR_DATA_LEN_RANGE)
		// Wrap and unwrap.
		w, err := s.Wrap(p, kp.pub, msg[:16])
		if err != nil {
			t.Fatal(err)
		}
		if got, err := s.Unwrap(p, kp.priv, w); err != nil || !bytes.Equal(got, msg[:16]) {
			t.Errorf("unwrap: %v", err)
		}
		_, err = s.Wrap(p, kp.pub, append(msg, 0))
		rsaWantRV(t, "wrap too long", err, ck.CKR_KEY_SIZE_RANGE)
		_, err = s.Unwrap(p2, kp.priv, w)
		rsaWantRV(t, "unwrap, wrong label", err, ck.CKR_WRAPPED_KEY_INVALID)
	}
	// A zeroed source with no label is the empty label.
	p0 := rsaOAEPParam(t, ck.CKM_SHA256, ck.CKG_MGF1_SHA256, 0, nil)
	goCT, _ := rsa.EncryptOAEP(NewHash(crypto.SHA256), rand.Reader, pub, []byte("z"), nil)
	op, err := s.Decrypt(p0, kp.priv)
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := rsaSingleRun(t, op, goCT); err != nil || string(pt) != "z" {
		t.Errorf("source 0: %v", err)
	}
	op, _ = s.Decrypt(p0, kp.priv)
	_, err = rsaSingleRun(t, op, goCT[1:])
	rsaWantRV(t, "short ciphertext", err, ck.CKR_ENCRYPTED_DATA_LEN_RANGE)
	// Bad parameters.
	for name, p := range map[string]Param{
		"none":              {},
		"raw bytes":         {Present: true, Raw: ck.ULong(uint64(ck.CKM_SHA256))},
		"digest not a hash": rsaOAEPParam(t, ck.CKM_RSA_PKCS, ck.CKG_MGF1_SHA256, ck.CKZ_DATA_SPECIFIED, nil),
		"unknown MGF":       rsaOAEPParam(t, ck.CKM_SHA256, 0, ck.CKZ_DATA_SPECIFIED, nil),
		"unknown source":    rsaOAEPParam(t, ck.CKM_SHA256, ck.CKG_MGF1_SHA256, 2, nil),
		"source 0 and data": rsaOAEPParam(t, ck.CKM_SHA256, ck.CKG_MGF1_SHA256, 0, []byte("x")),
	} {
		_, err := s.Encrypt(p, kp.pub)
		rsaWantRV(t, "OAEP param "+name, err, ck.CKR_MECHANISM_PARAM_INVALID)
		_, err = s.Decrypt(p, kp.priv)
		rsaWantRV(t, "OAEP param "+name, err, ck.CKR_MECHANISM_PARAM_INVALID)
	}
}

func TestRSAPSSParams(t *testing.T) {
	kp := rsaTestPair(t)
	for name, c := range map[string]struct {
		m ck.MechanismType
		p Param
	}{
		"none":                   {ck.CKM_RSA_PKCS_PSS, Param{}},
		"short":                  {ck.CKM_RSA_PKCS_PSS, rsaRawParam(uint64(ck.CKM_SHA256), ck.CKG_MGF1_SHA256)},
		"long":                   {ck.CKM_RSA_PKCS_PSS, rsaRawParam(uint64(ck.CKM_SHA256), ck.CKG_MGF1_SHA256, 32, 0)},
		"hashAlg not a hash":     {ck.CKM_RSA_PKCS_PSS, rsaPSSParam(ck.CKM_RSA_PKCS, ck.CKG_MGF1_SHA256, 32)},
		"unknown MGF":            {ck.CKM_RSA_PKCS_PSS, rsaPSSParam(ck.CKM_SHA256, 99, 32)},
		"sLen too large":         {ck.CKM_RSA_PKCS_PSS, rsaPSSParam(ck.CKM_SHA256, ck.CKG_MGF1_SHA256, 256-32-1)},
		"sLen huge":              {ck.CKM_RSA_PKCS_PSS, rsaRawParam(uint64(ck.CKM_SHA256), ck.CKG_MGF1_SHA256, 1<<63)},
		"hash of another digest": {ck.CKM_SHA384_RSA_PKCS_PSS, rsaPSSParam(ck.CKM_SHA256, ck.CKG_MGF1_SHA256, 32)},
		"SHA-512/256":            {ck.CKM_RSA_PKCS_PSS, rsaPSSParam(ck.CKM_SHA512_256, ck.CKG_MGF1_SHA256, 32)},
	} {
		_, err := rsaSpec(t, c.m).Sign(c.p, kp.priv)
		rsaWantRV(t, name+" (sign)", err, ck.CKR_MECHANISM_PARAM_INVALID)
		_, err = rsaSpec(t, c.m).Verify(c.p, kp.pub)
		rsaWantRV(t, name+" (verify)", err, ck.CKR_MECHANISM_PARAM_INVALID)
	}
	// The largest salt is accepted; the input of CKM_RSA_PKCS_PSS is exactly a digest.
	p := rsaPSSParam(ck.CKM_SHA256, ck.CKG_MGF1_SHA256, 256-32-2)
	op, err := rsaSpec(t, ck.CKM_RSA_PKCS_PSS).Sign(p, kp.priv)
	if err != nil {
		t.Fatal(err)
	}
	_, err = rsaSingleRun(t, op, make([]byte, 31))
	rsaWantRV(t, "31-byte digest", err, ck.CKR_DATA_LEN_RANGE)
	v, _ := rsaSpec(t, ck.CKM_RSA_PKCS_PSS).Verify(p, kp.pub)
	rsaWantRV(t, "33-byte digest", rsaVerifyRun(v, make([]byte, 33), make([]byte, 256)), ck.CKR_DATA_LEN_RANGE)
	_, err = rsaSpec(t, ck.CKM_SHA256_RSA_PKCS).Sign(Param{Present: true, Raw: []byte{1}}, kp.priv)
	rsaWantRV(t, "hashed PKCS #1 with a parameter", err, ck.CKR_MECHANISM_PARAM_INVALID)
}

func TestRSAPKCS8(t *testing.T) {
	kp := rsaTestPair(t)
	kt := KeyTypeOf(ck.CKK_RSA)
	der, err := kt.PKCS8(kp.privAttrs)
	if err != nil {
		t.Fatal(err)
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil || !k.(*rsa.PrivateKey).Equal(kp.goKey) {
		t.Fatalf("crypto/x509 reads another key: %v", err)
	}
	a, err := kt.ParsePKCS8(der)
	if err != nil {
		t.Fatal(err)
	}
	for typ, v := range kp.privAttrs {
		if typ == ck.CKA_PUBLIC_KEY_INFO {
			continue
		}
		if !bytes.Equal(a[typ], v) {
			t.Errorf("%v differs after the round trip", typ)
		}
	}
	if len(a) != 8 {
		t.Errorf("%d attributes", len(a))
	}
	// crypto/x509's encoding of a Wycheproof key reads back to the Wycheproof values.
	good := rsaWPDecryptKey(t)
	der, _ = x509.MarshalPKCS8PrivateKey(rsaGoPrivate(t, good))
	a, err = kt.ParsePKCS8(der)
	if err != nil {
		t.Fatal(err)
	}
	for typ, v := range good {
		if GetBig(a, typ).Cmp(new(big.Int).SetBytes(v)) != 0 {
			t.Errorf("Wycheproof key: %v differs", typ)
		}
	}
	// Not RSA, not PKCS#8.
	if _, err := kt.ParsePKCS8(der[:len(der)-1]); rsaRV(err) != ck.CKR_WRAPPED_KEY_INVALID {
		t.Errorf("truncated: %v", err)
	}
	ecDER := rsaHex(t, "3041020100301306072a8648ce3d020106082a8648ce3d030107042730250201010420"+
		"c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721")
	if _, err := kt.ParsePKCS8(ecDER); rsaRV(err) != ck.CKR_WRAPPED_KEY_INVALID {
		t.Errorf("EC key: %v", err)
	}
	if _, err := kt.PKCS8(Attrs{ck.CKA_MODULUS: kp.privAttrs[ck.CKA_MODULUS]}); rsaRV(err) != ck.CKR_KEY_NOT_WRAPPABLE {
		t.Errorf("incomplete key: %v", err)
	}
}

// TestRSAKeyCache checks that the parsed key lives in the object's cache and that a key too small for the
// mechanisms is refused at init.
func TestRSAKeyCache(t *testing.T) {
	kp := rsaTestPair(t)
	cache := &Cache{}
	key := NewKey(ck.CKO_PRIVATE_KEY, ck.CKK_RSA, kp.privAttrs, cache)
	a, err := rsaPrivateOf(key)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := rsaPrivateOf(NewKey(ck.CKO_PRIVATE_KEY, ck.CKK_RSA, nil, cache))
	if a != b || a.key == nil || a.key.Precomputed.Dp == nil {
		t.Error("parsed key not cached, or not precomputed")
	}
	small, _ := rand.Prime(rand.Reader, 512)
	tiny := NewKey(ck.CKO_PUBLIC_KEY, ck.CKK_RSA, Attrs{ck.CKA_MODULUS: small.Bytes(), ck.CKA_PUBLIC_EXPONENT: {3}}, nil)
	_, err = rsaSpec(t, ck.CKM_RSA_PKCS).Encrypt(Param{}, tiny)
	rsaWantRV(t, "512-bit key", err, ck.CKR_KEY_SIZE_RANGE)
	if !errors.Is(err, ck.CKR_KEY_SIZE_RANGE) {
		t.Error("not an RV")
	}
}

// ---- PSS: every salt length, MGF1 over any hash ----

// rsaOpenSSLHash is openssl's name of each hash.
var rsaOpenSSLHash = map[crypto.Hash]string{
	crypto.SHA1: "sha1", crypto.SHA224: "sha224", crypto.SHA256: "sha256", crypto.SHA384: "sha384",
	crypto.SHA512: "sha512", crypto.SHA3_224: "sha3-224", crypto.SHA3_256: "sha3-256", crypto.SHA3_384: "sha3-384",
	crypto.SHA3_512: "sha3-512",
}

// rsaOpenSSL runs the openssl CLI and returns its combined output and whether it exited 0; the test skips
// without it.
func rsaOpenSSL(t testing.TB, args ...string) (string, bool) {
	t.Helper()
	path, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl CLI not found")
	}
	out, err := exec.Command(path, args...).CombinedOutput()
	return string(out), err == nil
}

// rsaPEMFiles writes a key pair as PEM files (PKCS #8 and SubjectPublicKeyInfo) for openssl.
func rsaPEMFiles(t testing.TB, k *rsa.PrivateKey) (privPEM, pubPEM string) {
	t.Helper()
	dir := t.TempDir()
	priv, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	privPEM, pubPEM = filepath.Join(dir, "priv.pem"), filepath.Join(dir, "pub.pem")
	for name, b := range map[string]*pem.Block{privPEM: {Type: "PRIVATE KEY", Bytes: priv}, pubPEM: {Type: "PUBLIC KEY", Bytes: pub}} {
		if err := os.WriteFile(name, pem.EncodeToMemory(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return privPEM, pubPEM
}

// rsaTempFile writes b to a fresh file.
func rsaTempFile(t testing.TB, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// rsaOpenSSLPSSOpts are pkeyutl's options for PSS over a digest of h, MGF1 over mgf, an sLen-byte salt.
func rsaOpenSSLPSSOpts(h, mgf crypto.Hash, sLen int) []string {
	return []string{"-pkeyopt", "rsa_padding_mode:pss", "-pkeyopt", "digest:" + rsaOpenSSLHash[h],
		"-pkeyopt", "rsa_mgf1_md:" + rsaOpenSSLHash[mgf], "-pkeyopt", fmt.Sprintf("rsa_pss_saltlen:%d", sLen)}
}

// rsaOpenSSLVerifyPSS reports whether openssl pkeyutl accepts sig over digest with exactly these parameters.
func rsaOpenSSLVerifyPSS(t testing.TB, pubPEM string, h, mgf crypto.Hash, sLen int, digest, sig []byte) bool {
	t.Helper()
	args := append([]string{"pkeyutl", "-verify", "-pubin", "-inkey", pubPEM}, rsaOpenSSLPSSOpts(h, mgf, sLen)...)
	out, ok := rsaOpenSSL(t, append(args, "-in", rsaTempFile(t, "digest", digest), "-sigfile", rsaTempFile(t, "sig", sig))...)
	return ok && strings.Contains(out, "Signature Verified Successfully")
}

// rsaOpenSSLSignPSS signs digest with openssl pkeyutl.
func rsaOpenSSLSignPSS(t testing.TB, privPEM string, h, mgf crypto.Hash, sLen int, digest []byte) []byte {
	t.Helper()
	sigPath := filepath.Join(t.TempDir(), "sig")
	args := append([]string{"pkeyutl", "-sign", "-inkey", privPEM}, rsaOpenSSLPSSOpts(h, mgf, sLen)...)
	if out, ok := rsaOpenSSL(t, append(args, "-in", rsaTempFile(t, "digest", digest), "-out", sigPath)...); !ok {
		t.Fatalf("openssl pkeyutl -sign: %s", out)
	}
	sig, err := os.ReadFile(sigPath)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// rsaPSSMechOf returns the hash-and-sign PSS mechanism of h.
func rsaPSSMechOf(h crypto.Hash) ck.MechanismType {
	for _, m := range rsaHashMechs {
		if m.h == h {
			return m.pss
		}
	}
	panic("no PSS mechanism")
}

// rsaPSSInput is what mechanism m signs for msg: its digest for CKM_RSA_PKCS_PSS, msg itself otherwise.
func rsaPSSInput(m ck.MechanismType, h crypto.Hash, msg []byte) []byte {
	if m == ck.CKM_RSA_PKCS_PSS {
		return rsaDigest(h, msg)
	}
	return msg
}

// rsaPSSSignMech signs msg with m (in two parts for a hash-and-sign mechanism).
func rsaPSSSignMech(t testing.TB, m ck.MechanismType, p Param, priv *Key, h crypto.Hash, msg []byte) []byte {
	t.Helper()
	op, err := rsaSpec(t, m).Sign(p, priv)
	if err != nil {
		t.Fatalf("%v sign init: %v", m, err)
	}
	var sig []byte
	if m == ck.CKM_RSA_PKCS_PSS {
		sig, err = rsaSingleRun(t, op, rsaPSSInput(m, h, msg))
	} else {
		rsaSplitUpdate(t, op, msg)
		sig, err = op.Final()
	}
	if err != nil {
		t.Fatalf("%v sign: %v", m, err)
	}
	return sig
}

// rsaPSSVerifyMech verifies sig over msg with m.
func rsaPSSVerifyMech(t testing.TB, m ck.MechanismType, p Param, pub *Key, h crypto.Hash, msg, sig []byte) error {
	t.Helper()
	v, err := rsaSpec(t, m).Verify(p, pub)
	if err != nil {
		t.Fatalf("%v verify init: %v", m, err)
	}
	return rsaVerifyRun(v, rsaPSSInput(m, h, msg), sig)
}

// TestRSAPSSSaltAndMGF signs with salts of 0, 20, 32 and the largest length and MGF1 over SHA-1, SHA-256 and
// SHA-384, for SHA-256 and SHA-384 messages, through CKM_RSA_PKCS_PSS and the hash-and-sign mechanism; checks
// each signature with crypto/rsa where it can (MGF1 over the message hash, a salt) and with openssl otherwise;
// and checks that another salt length, another MGF1 hash, a flipped bit or another message are refused.
func TestRSAPSSSaltAndMGF(t *testing.T) {
	kp := rsaTestPair(t)
	pub := &kp.goKey.PublicKey
	_, pubPEM := rsaPEMFiles(t, kp.goKey)
	msg := []byte("PSS with any salt length and any MGF1 hash")
	for _, h := range []crypto.Hash{crypto.SHA256, crypto.SHA384} {
		digest := rsaDigest(h, msg)
		maxSalt := 256 - h.Size() - 2
		for _, mgf := range []crypto.Hash{crypto.SHA1, crypto.SHA256, crypto.SHA384} {
			otherMGF := crypto.SHA1
			if mgf == crypto.SHA1 {
				otherMGF = crypto.SHA256
			}
			for _, sLen := range []int{0, 20, 32, maxSalt} {
				otherLen := sLen + 1
				if sLen == maxSalt {
					otherLen = sLen - 1
				}
				p := rsaPSSParam(rsaMechOfHash(h), rsaMGFOfHash(mgf), sLen)
				for _, m := range []ck.MechanismType{ck.CKM_RSA_PKCS_PSS, rsaPSSMechOf(h)} {
					name := fmt.Sprintf("%v %v MGF1-%v sLen %d", m, h, mgf, sLen)
					sig := rsaPSSSignMech(t, m, p, kp.priv, h, msg)
					if len(sig) != 256 {
						t.Fatalf("%s: %d-byte signature", name, len(sig))
					}
					if err := rsaPSSVerifyMech(t, m, p, kp.pub, h, msg, sig); err != nil {
						t.Errorf("%s: our own signature: %v", name, err)
					}
					switch {
					case mgf == h && sLen > 0:
						if err := rsa.VerifyPSS(pub, h, digest, sig, &rsa.PSSOptions{SaltLength: sLen}); err != nil {
							t.Errorf("%s: crypto/rsa: %v", name, err)
						}
					default:
						if !rsaOpenSSLVerifyPSS(t, pubPEM, h, mgf, sLen, digest, sig) {
							t.Errorf("%s: openssl refuses the signature", name)
						}
					}
					if sLen == 0 {
						// No salt: the signature is deterministic (and crypto/rsa's auto-detection finds it).
						if again := rsaPSSSignMech(t, m, p, kp.priv, h, msg); !bytes.Equal(again, sig) {
							t.Errorf("%s: two signatures differ", name)
						}
						if mgf == h {
							if err := rsa.VerifyPSS(pub, h, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto}); err != nil {
								t.Errorf("%s: crypto/rsa (auto salt): %v", name, err)
							}
						}
					}
					// What must be refused.
					wrongLen := rsaPSSParam(rsaMechOfHash(h), rsaMGFOfHash(mgf), otherLen)
					rsaWantRV(t, name+": sLen "+fmt.Sprint(otherLen), rsaPSSVerifyMech(t, m, wrongLen, kp.pub, h, msg, sig), ck.CKR_SIGNATURE_INVALID)
					if sLen != 0 {
						noSalt := rsaPSSParam(rsaMechOfHash(h), rsaMGFOfHash(mgf), 0)
						rsaWantRV(t, name+": sLen 0", rsaPSSVerifyMech(t, m, noSalt, kp.pub, h, msg, sig), ck.CKR_SIGNATURE_INVALID)
					}
					wrongMGF := rsaPSSParam(rsaMechOfHash(h), rsaMGFOfHash(otherMGF), sLen)
					rsaWantRV(t, name+": MGF1-"+otherMGF.String(), rsaPSSVerifyMech(t, m, wrongMGF, kp.pub, h, msg, sig), ck.CKR_SIGNATURE_INVALID)
					for _, bit := range []int{0, 7, 8*len(sig)/2 + 3, 8*len(sig) - 1} {
						bad := append([]byte{}, sig...)
						bad[bit/8] ^= 0x80 >> (bit % 8)
						rsaWantRV(t, fmt.Sprintf("%s: bit %d flipped", name, bit), rsaPSSVerifyMech(t, m, p, kp.pub, h, msg, bad), ck.CKR_SIGNATURE_INVALID)
					}
					rsaWantRV(t, name+": another message", rsaPSSVerifyMech(t, m, p, kp.pub, h, append([]byte{0}, msg...), sig), ck.CKR_SIGNATURE_INVALID)
					rsaWantRV(t, name+": short signature", rsaPSSVerifyMech(t, m, p, kp.pub, h, msg, sig[1:]), ck.CKR_SIGNATURE_LEN_RANGE)
				}
			}
		}
	}
	// The oracle itself is strict: openssl refuses a signature under another salt length or MGF1 hash.
	p := rsaPSSParam(ck.CKM_SHA256, ck.CKG_MGF1_SHA1, 0)
	sig := rsaPSSSignMech(t, ck.CKM_RSA_PKCS_PSS, p, kp.priv, crypto.SHA256, msg)
	if rsaOpenSSLVerifyPSS(t, pubPEM, crypto.SHA256, crypto.SHA1, 1, rsaDigest(crypto.SHA256, msg), sig) ||
		rsaOpenSSLVerifyPSS(t, pubPEM, crypto.SHA256, crypto.SHA256, 0, rsaDigest(crypto.SHA256, msg), sig) {
		t.Error("openssl accepts a PSS signature under other parameters: it checks nothing")
	}
}

// TestRSAPSSEveryHash signs with every hash-and-sign PSS mechanism, MGF1 over another hash (SHA-1, SHA-2 and
// SHA-3 both ways) and salts of 0 and hLen bytes, and has openssl check the signatures.
func TestRSAPSSEveryHash(t *testing.T) {
	kp := rsaTestPair(t)
	_, pubPEM := rsaPEMFiles(t, kp.goKey)
	msg := []byte("every hash, every MGF1")
	for i, m := range rsaHashMechs {
		mgf := rsaHashMechs[(i+4)%len(rsaHashMechs)].h
		for _, sLen := range []int{0, m.h.Size()} {
			name := fmt.Sprintf("%v MGF1-%v sLen %d", m.pss, mgf, sLen)
			p := rsaPSSParam(rsaMechOfHash(m.h), rsaMGFOfHash(mgf), sLen)
			sig := rsaPSSSignMech(t, m.pss, p, kp.priv, m.h, msg)
			if err := rsaPSSVerifyMech(t, m.pss, p, kp.pub, m.h, msg, sig); err != nil {
				t.Errorf("%s: %v", name, err)
			}
			if !rsaOpenSSLVerifyPSS(t, pubPEM, m.h, mgf, sLen, rsaDigest(m.h, msg), sig) {
				t.Errorf("%s: openssl refuses the signature", name)
			}
			wrongMGF := rsaPSSParam(rsaMechOfHash(m.h), rsaMGFOfHash(m.h), sLen)
			rsaWantRV(t, name+": MGF1 over the message hash", rsaPSSVerifyMech(t, m.pss, wrongMGF, kp.pub, m.h, msg, sig), ck.CKR_SIGNATURE_INVALID)
		}
	}
}

// TestRSAPSSOpenSSLSignatures verifies PSS signatures openssl made (an empty salt, MGF1 over SHA-1) and
// refuses them under other parameters.
func TestRSAPSSOpenSSLSignatures(t *testing.T) {
	kp := rsaTestPair(t)
	privPEM, _ := rsaPEMFiles(t, kp.goKey)
	msg := []byte("signed by openssl")
	for _, c := range []struct {
		h, mgf crypto.Hash
		sLen   int
	}{
		{crypto.SHA256, crypto.SHA1, 0},
		{crypto.SHA256, crypto.SHA256, 0},
		{crypto.SHA256, crypto.SHA1, 20},
		{crypto.SHA256, crypto.SHA1, 32},
		{crypto.SHA384, crypto.SHA1, 0},
		{crypto.SHA256, crypto.SHA384, 256 - 32 - 2},
		{crypto.SHA1, crypto.SHA256, 0},
		{crypto.SHA3_256, crypto.SHA1, 0},
	} {
		name := fmt.Sprintf("%v MGF1-%v sLen %d", c.h, c.mgf, c.sLen)
		sig := rsaOpenSSLSignPSS(t, privPEM, c.h, c.mgf, c.sLen, rsaDigest(c.h, msg))
		p := rsaPSSParam(rsaMechOfHash(c.h), rsaMGFOfHash(c.mgf), c.sLen)
		for _, m := range []ck.MechanismType{ck.CKM_RSA_PKCS_PSS, rsaPSSMechOf(c.h)} {
			if err := rsaPSSVerifyMech(t, m, p, kp.pub, c.h, msg, sig); err != nil {
				t.Errorf("%v %s: openssl's signature: %v", m, name, err)
			}
			otherLen := c.sLen + 1
			if c.sLen > 0 {
				otherLen = c.sLen - 1
			}
			otherMGF := crypto.SHA1
			if c.mgf == crypto.SHA1 {
				otherMGF = crypto.SHA256
			}
			for what, q := range map[string]Param{
				"another salt length": rsaPSSParam(rsaMechOfHash(c.h), rsaMGFOfHash(c.mgf), otherLen),
				"another MGF1 hash":   rsaPSSParam(rsaMechOfHash(c.h), rsaMGFOfHash(otherMGF), c.sLen),
			} {
				rsaWantRV(t, fmt.Sprintf("%v %s: %s", m, name, what), rsaPSSVerifyMech(t, m, q, kp.pub, c.h, msg, sig), ck.CKR_SIGNATURE_INVALID)
			}
			bad := append([]byte{}, sig...)
			bad[100] ^= 0x04
			rsaWantRV(t, fmt.Sprintf("%v %s: flipped bit", m, name), rsaPSSVerifyMech(t, m, p, kp.pub, c.h, msg, bad), ck.CKR_SIGNATURE_INVALID)
		}
	}
}

// rsaPSSKeys makes the mechanism keys of a crypto/rsa key.
func rsaPSSKeys(t testing.TB, k *rsa.PrivateKey) (priv, pub *Key) {
	t.Helper()
	e := big.NewInt(int64(k.E)).Bytes()
	priv, _ = rsaChecked(t, ck.CKO_PRIVATE_KEY, rsaPrivateAttrs(k, e))
	pub, _ = rsaChecked(t, ck.CKO_PUBLIC_KEY, Attrs{ck.CKA_MODULUS: k.N.Bytes(), ck.CKA_PUBLIC_EXPONENT: e})
	return priv, pub
}

// TestRSAPSSOwnAgainstGo runs the self-written encoding (signOwn, verifyOwn) on parameters crypto/rsa does
// too, with every hash, on the 2048-bit key and on a 1025-bit one (whose encoded message is an octet shorter
// than the modulus): crypto/rsa verifies its signatures strictly, it verifies crypto/rsa's, and refuses them
// under another salt length.
func TestRSAPSSOwnAgainstGo(t *testing.T) {
	kp := rsaTestPair(t)
	odd, err := rsa.GenerateKey(rand.Reader, 1025)
	if err != nil {
		t.Fatal(err)
	}
	oddPriv, oddPub := rsaPSSKeys(t, odd)
	for _, c := range []struct {
		goKey     *rsa.PrivateKey
		priv, pub *Key
	}{{kp.goKey, kp.priv, kp.pub}, {odd, oddPriv, oddPub}} {
		priv, err := rsaPrivateOf(c.priv)
		if err != nil {
			t.Fatal(err)
		}
		pub, err := rsaPublicOf(c.pub)
		if err != nil {
			t.Fatal(err)
		}
		bits := c.goKey.N.BitLen()
		for _, m := range rsaHashMechs {
			maxSalt := (bits-1+7)/8 - m.h.Size() - 2
			digest := rsaDigest(m.h, []byte("the same as crypto/rsa"))
			for _, sLen := range []int{1, m.h.Size(), maxSalt} {
				if sLen > maxSalt {
					continue // SHA-512's hLen with the 1025-bit key
				}
				name := fmt.Sprintf("%d bits %v sLen %d", bits, m.h, sLen)
				pp := rsaPSSParams{hash: m.h, mgf: m.h, sLen: sLen}
				sig, err := pp.signOwn(priv, digest)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if err := rsa.VerifyPSS(&c.goKey.PublicKey, m.h, digest, sig, &rsa.PSSOptions{SaltLength: sLen}); err != nil {
					t.Errorf("%s: crypto/rsa refuses our encoding: %v", name, err)
				}
				goSig, err := rsa.SignPSS(rand.Reader, c.goKey, m.h, digest, &rsa.PSSOptions{SaltLength: sLen})
				if err != nil {
					t.Fatal(err)
				}
				for _, s := range [][]byte{sig, goSig} {
					if err := pp.verifyOwn(pub, digest, s); err != nil {
						t.Errorf("%s: %v", name, err)
					}
					other := pp
					if other.sLen--; sLen == 1 {
						other.sLen = 2
					}
					rsaWantRV(t, name+": another salt length", other.verifyOwn(pub, digest, s), ck.CKR_SIGNATURE_INVALID)
				}
			}
		}
	}
}

// TestRSAPSSEncoding checks EMSA-PSS-VERIFY's every condition (RFC 8017, section 9.1.2): an encoded message
// changed in its trailer, its leftmost bits, its padding, its separator, its salt or its H is refused, by
// rsaPSSCheck and, signed with the raw private operation, by verifyOwn.
func TestRSAPSSEncoding(t *testing.T) {
	kp := rsaTestPair(t)
	priv, _ := rsaPrivateOf(kp.priv)
	pub, _ := rsaPublicOf(kp.pub)
	h, mgf := crypto.SHA256, crypto.SHA1
	mHash := rsaDigest(h, []byte("encoding"))
	// An encoded message of 2045 bits: three leftmost bits to clear.
	for _, emBits := range []int{2047, 2045, 2040} {
		emLen := (emBits + 7) / 8
		for _, sLen := range []int{0, 20, emLen - h.Size() - 2} {
			name := fmt.Sprintf("emBits %d sLen %d", emBits, sLen)
			salt := bytes.Repeat([]byte{0x5a}, sLen)
			em, err := rsaPSSEncode(mHash, emBits, salt, h, mgf)
			if err != nil || len(em) != emLen {
				t.Fatalf("%s: %d bytes, %v", name, len(em), err)
			}
			if clear := 8*emLen - emBits; em[emLen-1] != 0xbc || clear > 0 && em[0]>>(8-clear) != 0 {
				t.Errorf("%s: trailer %#x, leftmost byte %#x", name, em[emLen-1], em[0])
			}
			if !rsaPSSCheck(mHash, em, emBits, sLen, h, mgf) {
				t.Errorf("%s: refused", name)
			}
			// Unmask DB to change what is under the mask, then mask it again.
			dbLen := emLen - h.Size() - 1
			remask := func(change func(db []byte)) []byte {
				e := append([]byte{}, em...)
				rsaMGF1XOR(e[:dbLen], mgf, e[dbLen:emLen-1])
				change(e[:dbLen])
				rsaMGF1XOR(e[:dbLen], mgf, e[dbLen:emLen-1])
				return e
			}
			psLen := emLen - h.Size() - sLen - 2
			bad := map[string][]byte{
				"trailer":   append(append([]byte{}, em[:emLen-1]...), 0xbd),
				"H":         remask(func([]byte) {}),
				"separator": remask(func(db []byte) { db[psLen] = 0x02 }),
			}
			bad["H"][dbLen] ^= 1
			if psLen > 0 {
				bad["padding"] = remask(func(db []byte) { db[psLen-1] = 0x01 })
				bad["padding, first octet"] = remask(func(db []byte) { db[0] = 0x01 })
			}
			if sLen > 0 {
				bad["salt"] = remask(func(db []byte) { db[dbLen-1] ^= 1 })
			}
			for b := 0; b < 8*emLen-emBits; b++ {
				e := append([]byte{}, em...)
				e[0] |= 0x80 >> b
				bad[fmt.Sprintf("leftmost bit %d", b)] = e
			}
			for what, e := range bad {
				if rsaPSSCheck(mHash, e, emBits, sLen, h, mgf) {
					t.Errorf("%s: %s changed: accepted", name, what)
				}
			}
			if emBits != 2047 {
				continue
			}
			// Through the public operation: the changes that keep m below n.
			for _, what := range []string{"trailer", "H", "separator", "padding", "salt"} {
				e, ok := bad[what]
				if !ok {
					continue
				}
				s, err := priv.raw(new(big.Int).SetBytes(e))
				if err != nil {
					t.Fatal(err)
				}
				pp := rsaPSSParams{hash: h, mgf: mgf, sLen: sLen}
				rsaWantRV(t, name+": signed with "+what+" changed", pp.verifyOwn(pub, mHash, rsaBytes(s, 256)), ck.CKR_SIGNATURE_INVALID)
			}
		}
	}
	// A 1025-bit modulus: EM has 128 octets, m must fit in them (I2OSP(m, emLen) of RFC 8017, 8.1.2).
	odd, err := rsa.GenerateKey(rand.Reader, 1025)
	if err != nil {
		t.Fatal(err)
	}
	oddPriv, oddPub := rsaPSSKeys(t, odd)
	op, _ := rsaPrivateOf(oddPriv)
	pk, _ := rsaPublicOf(oddPub)
	pp := rsaPSSParams{hash: h, mgf: mgf, sLen: 16}
	for range 64 {
		salt := make([]byte, 16)
		_, _ = rand.Read(salt)
		em, _ := rsaPSSEncode(mHash, 1024, salt, h, mgf)
		m := new(big.Int).SetBytes(append([]byte{1}, em...)) // 2^1024 + EM
		if m.Cmp(odd.N) >= 0 {
			continue
		}
		s, err := op.raw(m)
		if err != nil {
			t.Fatal(err)
		}
		rsaWantRV(t, "m above 2^emBits", pp.verifyOwn(pk, mHash, rsaBytes(s, 129)), ck.CKR_SIGNATURE_INVALID)
		s, _ = op.raw(new(big.Int).SetBytes(em))
		if err := pp.verifyOwn(pk, mHash, rsaBytes(s, 129)); err != nil {
			t.Errorf("1025-bit key: %v", err)
		}
		return
	}
	t.Error("no 2^1024 + EM below n in 64 tries")
}

// TestRSAPSSOwnWycheproof runs the Wycheproof PSS vectors through the self-written verification too.
func TestRSAPSSOwnWycheproof(t *testing.T) {
	wycheproofEach(t, rsaPSSFiles, func(file string, f *rsaWPFile, c *wycheproofCount) {
		for _, g := range f.TestGroups {
			key, _ := rsaChecked(t, ck.CKO_PUBLIC_KEY, rsaWPAttrs(t, g.PublicKey))
			pub, err := rsaPublicOf(key)
			if err != nil {
				t.Fatal(err)
			}
			h, mh := rsaWPHash[g.Sha], rsaWPHash[g.MgfSha]
			pp := rsaPSSParams{hash: h.h, mgf: mh.h, sLen: g.SLen}
			for _, tc := range g.Tests {
				c.total++
				err := pp.verifyOwn(pub, rsaDigest(h.h, rsaHex(t, tc.Msg)), rsaHex(t, tc.Sig))
				c.check(t, (err == nil) == (tc.Result == "valid") || tc.Result == "acceptable",
					"%s tc %d (%s %v): %s, got %v", file, tc.TcID, tc.Comment, tc.Flags, tc.Result, err)
			}
		}
	})
}
