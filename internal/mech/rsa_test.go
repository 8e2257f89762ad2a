package mech

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"math/big"
	"sync"
	"testing"

	"github.com/keyward/keyward/internal/wire"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// The RSA family's shared test helpers, its registration, the Wycheproof vectors of every RSA mechanism, and
// sign/verify over every signing mechanism; the other tests sit beside their files (rsa_key_test.go,
// rsa_pkcs1v15_test.go, rsa_raw_test.go, rsa_pss_test.go, rsa_oaep_test.go).

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

// rsaWPDecryptKey is the private key of Wycheproof's PKCS #1 decryption vectors.
func rsaWPDecryptKey(t testing.TB) Attrs {
	var f rsaWPFile
	loadWycheproof(t, "rsa_pkcs1_2048_test.json", &f)
	return rsaWPAttrs(t, f.TestGroups[0].PrivateKey)
}

// ---- sign and verify, every signing mechanism ----

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
