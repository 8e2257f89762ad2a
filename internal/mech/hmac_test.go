package mech

import (
	"bytes"
	"crypto"
	"crypto/hmac"
	"encoding/hex"
	"errors"
	"testing"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// Test helpers shared by the HMAC and KDF tests.

func hkUnhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// mechParam decodes a parameter as the engine would receive it (nil: a NULL pParameter).
func hkMechParam(t testing.TB, m ck.MechanismType, raw []byte) Param {
	t.Helper()
	p, err := NewParam(&ck.Mechanism{Type: m, Parameter: raw})
	if err != nil {
		t.Fatalf("%v: NewParam: %v", m, err)
	}
	return p
}

func hkSecretKey(typ ck.KeyType, value []byte) *Key {
	return NewKey(ck.CKO_SECRET_KEY, typ, Attrs{ck.CKA_VALUE: value, ck.CKA_VALUE_LEN: ck.ULong(uint64(len(value)))}, nil)
}

// wantRV checks that err is the CKR code want.
func hkWantRV(t testing.TB, what string, err error, want ck.RV) {
	t.Helper()
	var rv ck.RV
	if !errors.As(err, &rv) || rv != want {
		t.Errorf("%s: got %v, want %v", what, err, want)
	}
}

func hkSpec(t testing.TB, m ck.MechanismType) *Spec {
	t.Helper()
	s := Lookup(m)
	if s == nil {
		t.Fatalf("%v is not registered", m)
	}
	return s
}

// hmacSign signs msg, given to Update in two parts when split is true.
func hkHmacSign(t testing.TB, m ck.MechanismType, p Param, k *Key, msg []byte, split bool) ([]byte, error) {
	t.Helper()
	op, err := hkSpec(t, m).Sign(p, k)
	if err != nil {
		return nil, err
	}
	if split && len(msg) > 1 {
		if _, err := op.Update(msg[:len(msg)/3]); err != nil {
			return nil, err
		}
		if _, err := op.Update(msg[len(msg)/3:]); err != nil {
			return nil, err
		}
	} else if _, err := op.Update(msg); err != nil {
		return nil, err
	}
	return op.Final()
}

func hkHmacVerify(t testing.TB, m ck.MechanismType, p Param, k *Key, msg, sig []byte, split bool) error {
	t.Helper()
	v, err := hkSpec(t, m).Verify(p, k)
	if err != nil {
		return err
	}
	if split && len(msg) > 1 {
		if err := v.Update(msg[:1]); err != nil {
			return err
		}
		if err := v.Update(msg[1:]); err != nil {
			return err
		}
	} else if err := v.Update(msg); err != nil {
		return err
	}
	return v.Final(sig)
}

// generalParam encodes a CK_MAC_GENERAL_PARAMS.
func hkGeneralParam(n uint64) []byte { return ck.ULong(n) }

func TestHMACWycheproof(t *testing.T) {
	type macTest struct {
		TcID   int    `json:"tcId"`
		Key    string `json:"key"`
		Msg    string `json:"msg"`
		Tag    string `json:"tag"`
		Result string `json:"result"`
	}
	type macFile struct {
		TestGroups []struct {
			KeySize int       `json:"keySize"`
			TagSize int       `json:"tagSize"`
			Tests   []macTest `json:"tests"`
		} `json:"testGroups"`
	}
	files := []struct {
		name string
		fam  ck.MechanismType
	}{
		{"hmac_sha1_test.json", ck.CKM_SHA_1_HMAC},
		{"hmac_sha256_test.json", ck.CKM_SHA256_HMAC},
		{"hmac_sha384_test.json", ck.CKM_SHA384_HMAC},
		{"hmac_sha512_test.json", ck.CKM_SHA512_HMAC},
		{"hmac_sha3_256_test.json", ck.CKM_SHA3_256_HMAC},
	}
	for _, f := range files {
		t.Run(f.name, func(t *testing.T) {
			fam, ok := hmacPRF(f.fam)
			if !ok {
				t.Fatal("no family")
			}
			var file macFile
			loadWycheproof(t, f.name, &file)
			c := &wycheproofCount{file: f.name}
			defer c.report(t)
			for _, g := range file.TestGroups {
				for _, tc := range g.Tests {
					c.total++
					key, msg, tag := hkUnhex(t, tc.Key), hkUnhex(t, tc.Msg), hkUnhex(t, tc.Tag)
					m, raw := fam.mac, []byte(nil)
					if g.TagSize != 8*fam.hash.Size() {
						m, raw = fam.general, hkGeneralParam(uint64(g.TagSize/8))
					}
					k := hkSecretKey(ck.CKK_GENERIC_SECRET, key)
					p := hkMechParam(t, m, raw)
					ok := true
					for _, split := range []bool{false, true} {
						sig, err := hkHmacSign(t, m, p, k, msg, split)
						verr := hkHmacVerify(t, m, p, k, msg, tag, split)
						switch tc.Result {
						case "valid":
							if err != nil || !bytes.Equal(sig, tag) || verr != nil {
								ok = false
								t.Errorf("tc %d (split %v): sign %x, %v; verify %v", tc.TcID, split, sig, err, verr)
							}
						default:
							if err == nil && bytes.Equal(sig, tag) {
								ok = false
								t.Errorf("tc %d: invalid tag produced by Sign", tc.TcID)
							}
							var rv ck.RV
							if !errors.As(verr, &rv) || rv != ck.CKR_SIGNATURE_INVALID {
								ok = false
								t.Errorf("tc %d: verify of an invalid tag: %v", tc.TcID, verr)
							}
						}
					}
					// The same key as the hash's own HMAC key type.
					if tc.Result == "valid" {
						sig, err := hkHmacSign(t, m, p, hkSecretKey(fam.keyType, key), msg, false)
						if err != nil || !bytes.Equal(sig, tag) {
							ok = false
							t.Errorf("tc %d with %v key: %x, %v", tc.TcID, fam.keyType, sig, err)
						}
					}
					c.tally(ok)
				}
			}
		})
	}
}

// TestHMACRFC4231 checks RFC 4231 test case 2 (full length) and test case 5 (truncated to 128 bits, the
// _GENERAL forms).
func TestHMACRFC4231(t *testing.T) {
	cases := []struct {
		fam         ck.MechanismType
		full, trunc string
	}{
		{ck.CKM_SHA224_HMAC, "a30e01098bc6dbbf45690f3a7e9e6d0f8bbea2a39e6148008fd05e44", "0e2aea68a90c8d37c988bcdb9fca6fa8"},
		{ck.CKM_SHA256_HMAC, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", "a3b6167473100ee06e0c796c2955552b"},
		{ck.CKM_SHA384_HMAC, "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649", "3abf34c3503b2a23a46efc619baef897"},
		{ck.CKM_SHA512_HMAC, "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737", "415fad6271580a531d4179bc891d87a6"},
	}
	for _, c := range cases {
		fam, _ := hmacPRF(c.fam)
		k2 := hkSecretKey(ck.CKK_GENERIC_SECRET, []byte("Jefe"))
		msg2 := []byte("what do ya want for nothing?")
		sig, err := hkHmacSign(t, fam.mac, hkMechParam(t, fam.mac, nil), k2, msg2, true)
		if err != nil || hex.EncodeToString(sig) != c.full {
			t.Errorf("%v case 2: %x, %v", fam.mac, sig, err)
		}
		k5 := hkSecretKey(ck.CKK_GENERIC_SECRET, bytes.Repeat([]byte{0x0c}, 20))
		msg5 := []byte("Test With Truncation")
		p := hkMechParam(t, fam.general, hkGeneralParam(16))
		sig, err = hkHmacSign(t, fam.general, p, k5, msg5, false)
		if err != nil || hex.EncodeToString(sig) != c.trunc {
			t.Errorf("%v case 5: %x, %v", fam.general, sig, err)
		}
		if err := hkHmacVerify(t, fam.general, p, k5, msg5, hkUnhex(t, c.trunc), true); err != nil {
			t.Errorf("%v case 5 verify: %v", fam.general, err)
		}
		// The full-length general form equals the plain mechanism.
		pf := hkMechParam(t, fam.general, hkGeneralParam(uint64(fam.hash.Size())))
		sig, err = hkHmacSign(t, fam.general, pf, k2, msg2, false)
		if err != nil || hex.EncodeToString(sig) != c.full {
			t.Errorf("%v full-length general: %x, %v", fam.general, sig, err)
		}
	}
}

// TestHMACAgainstGo compares every mechanism, full and truncated, with crypto/hmac (the SHA-224 and SHA3
// families have no Wycheproof file here).
func TestHMACAgainstGo(t *testing.T) {
	msg := bytes.Repeat([]byte("keyward hmac "), 50)
	key := []byte("a key of some length, longer than sixteen bytes")
	long := bytes.Repeat([]byte{0xa5}, 200) // longer than every block size: hashed first
	for _, f := range hmacFamilies {
		for _, k := range [][]byte{key, long} {
			ref := hmac.New(hmacHashFunc(f.hash), k)
			ref.Write(msg)
			want := ref.Sum(nil)
			sig, err := hkHmacSign(t, f.mac, hkMechParam(t, f.mac, nil), hkSecretKey(f.keyType, k), msg, true)
			if err != nil || !bytes.Equal(sig, want) {
				t.Errorf("%v: %x, %v; want %x", f.mac, sig, err, want)
			}
			for _, n := range []int{1, 10, f.hash.Size() - 1} {
				p := hkMechParam(t, f.general, hkGeneralParam(uint64(n)))
				sig, err := hkHmacSign(t, f.general, p, hkSecretKey(ck.CKK_GENERIC_SECRET, k), msg, false)
				if err != nil || !bytes.Equal(sig, want[:n]) {
					t.Errorf("%v/%d: %x, %v", f.general, n, sig, err)
				}
				if err := hkHmacVerify(t, f.general, p, hkSecretKey(ck.CKK_GENERIC_SECRET, k), msg, want[:n], false); err != nil {
					t.Errorf("%v/%d verify: %v", f.general, n, err)
				}
			}
		}
	}
}

func TestHMACErrors(t *testing.T) {
	f, _ := hmacPRF(ck.CKM_SHA256_HMAC)
	k := hkSecretKey(ck.CKK_GENERIC_SECRET, []byte("0123456789abcdef"))
	msg := []byte("message")
	for _, raw := range [][]byte{nil, hkGeneralParam(0), hkGeneralParam(33), hkGeneralParam(1 << 40), {16}, append(hkGeneralParam(16), 0)} {
		p := hkMechParam(t, f.general, raw)
		_, err := hkSpec(t, f.general).Sign(p, k)
		hkWantRV(t, "general sign param", err, ck.CKR_MECHANISM_PARAM_INVALID)
		_, err = hkSpec(t, f.general).Verify(p, k)
		hkWantRV(t, "general verify param", err, ck.CKR_MECHANISM_PARAM_INVALID)
	}
	_, err := hkSpec(t, f.mac).Sign(hkMechParam(t, f.mac, hkGeneralParam(32)), k)
	hkWantRV(t, "full-length with a parameter", err, ck.CKR_MECHANISM_PARAM_INVALID)
	_, err = hkSpec(t, f.mac).Sign(Param{}, hkSecretKey(ck.CKK_GENERIC_SECRET, nil))
	hkWantRV(t, "empty key", err, ck.CKR_KEY_SIZE_RANGE)
	_, err = hkSpec(t, f.mac).Verify(Param{}, hkSecretKey(ck.CKK_GENERIC_SECRET, make([]byte, hmacMaxKey+1)))
	hkWantRV(t, "oversized key", err, ck.CKR_KEY_SIZE_RANGE)

	sig, err := hkHmacSign(t, f.mac, Param{}, k, msg, false)
	if err != nil {
		t.Fatal(err)
	}
	hkWantRV(t, "short signature", hkHmacVerify(t, f.mac, Param{}, k, msg, sig[:31], false), ck.CKR_SIGNATURE_LEN_RANGE)
	hkWantRV(t, "long signature", hkHmacVerify(t, f.mac, Param{}, k, msg, append(sig, 0), false), ck.CKR_SIGNATURE_LEN_RANGE)
	hkWantRV(t, "empty signature", hkHmacVerify(t, f.mac, Param{}, k, msg, nil, false), ck.CKR_SIGNATURE_LEN_RANGE)
	for i := range sig {
		bad := append([]byte(nil), sig...)
		bad[i] ^= 0x80
		hkWantRV(t, "flipped bit", hkHmacVerify(t, f.mac, Param{}, k, msg, bad, false), ck.CKR_SIGNATURE_INVALID)
	}
	hkWantRV(t, "other message", hkHmacVerify(t, f.mac, Param{}, k, []byte("massage"), sig, false), ck.CKR_SIGNATURE_INVALID)
	// A truncated MAC is checked at its own length only.
	p := hkMechParam(t, f.general, hkGeneralParam(12))
	hkWantRV(t, "general: full-length signature", hkHmacVerify(t, f.general, p, k, msg, sig, false), ck.CKR_SIGNATURE_LEN_RANGE)
	if err := hkHmacVerify(t, f.general, p, k, msg, sig[:12], false); err != nil {
		t.Errorf("general: truncated signature: %v", err)
	}
}

func TestHMACRegistration(t *testing.T) {
	for _, f := range hmacFamilies {
		for _, m := range []ck.MechanismType{f.mac, f.general} {
			s := hkSpec(t, m)
			if s.Info.Flags != ck.CKF_SIGN|ck.CKF_VERIFY || s.Info.MinKeySize != 1 || s.Info.MaxKeySize != hmacMaxKey {
				t.Errorf("%v: info %+v", m, s.Info)
			}
			if !s.AcceptsKey(ck.CKK_GENERIC_SECRET) || !s.AcceptsKey(f.keyType) || s.AcceptsKey(ck.CKK_AES) {
				t.Errorf("%v: key types %v", m, s.KeyTypes)
			}
			for _, o := range hmacFamilies {
				if o.keyType != f.keyType && s.AcceptsKey(o.keyType) {
					t.Errorf("%v accepts %v", m, o.keyType)
				}
			}
		}
		if KeyTypeOf(f.keyType) == nil {
			t.Errorf("key type %v not registered", f.keyType)
		}
	}
	if len(hmacFamilies) != 9 {
		t.Errorf("%d HMAC families", len(hmacFamilies))
	}
	for _, h := range []crypto.Hash{crypto.SHA1, crypto.SHA224, crypto.SHA256, crypto.SHA384, crypto.SHA512,
		crypto.SHA3_224, crypto.SHA3_256, crypto.SHA3_384, crypto.SHA3_512} {
		found := false
		for _, f := range hmacFamilies {
			found = found || f.hash == h
		}
		if !found {
			t.Errorf("no HMAC family for %v", h)
		}
	}
}

func TestGenericSecret(t *testing.T) {
	s := hkSpec(t, ck.CKM_GENERIC_SECRET_KEY_GEN)
	if s.GenKeyType != ck.CKK_GENERIC_SECRET || s.Info.Flags != ck.CKF_GENERATE || s.Info.MinKeySize != 8 || s.Info.MaxKeySize != 4096 {
		t.Errorf("registration %+v", s)
	}
	_, err := s.GenerateKey(Param{}, Attrs{})
	hkWantRV(t, "no CKA_VALUE_LEN", err, ck.CKR_TEMPLATE_INCOMPLETE)
	for _, bad := range [][]byte{ck.ULong(0), ck.ULong(secretKeyGenMax + 1), {32}} {
		_, err = s.GenerateKey(Param{}, Attrs{ck.CKA_VALUE_LEN: bad})
		hkWantRV(t, "bad CKA_VALUE_LEN", err, ck.CKR_ATTRIBUTE_VALUE_INVALID)
	}
	_, err = s.GenerateKey(hkMechParam(t, ck.CKM_GENERIC_SECRET_KEY_GEN, []byte{1}), Attrs{ck.CKA_VALUE_LEN: ck.ULong(16)})
	hkWantRV(t, "parameter", err, ck.CKR_MECHANISM_PARAM_INVALID)
	a, err := s.GenerateKey(Param{}, Attrs{ck.CKA_VALUE_LEN: ck.ULong(32)})
	b, err2 := s.GenerateKey(Param{}, Attrs{ck.CKA_VALUE_LEN: ck.ULong(32)})
	if err != nil || err2 != nil || len(a[ck.CKA_VALUE]) != 32 || bytes.Equal(a[ck.CKA_VALUE], b[ck.CKA_VALUE]) || len(a) != 1 {
		t.Errorf("generate: %v %v %x %x", err, err2, a[ck.CKA_VALUE], b[ck.CKA_VALUE])
	}
	if one, err := s.GenerateKey(Param{}, Attrs{ck.CKA_VALUE_LEN: ck.ULong(1)}); err != nil || len(one[ck.CKA_VALUE]) != 1 {
		t.Errorf("1-byte key: %v", err)
	}

	for _, typ := range []ck.KeyType{ck.CKK_GENERIC_SECRET, ck.CKK_SHA256_HMAC, ck.CKK_SHA3_512_HMAC, ck.CKK_HKDF} {
		kt := KeyTypeOf(typ)
		if kt == nil || kt.Check == nil || kt.PKCS8 != nil {
			t.Fatalf("key type %v: %+v", typ, kt)
		}
		add, err := kt.Check(ck.CKO_SECRET_KEY, Attrs{ck.CKA_VALUE: []byte("abc")})
		if n, ok := GetULong(add, ck.CKA_VALUE_LEN); err != nil || !ok || n != 3 {
			t.Errorf("%v check: %v %v", typ, add, err)
		}
		_, err = kt.Check(ck.CKO_SECRET_KEY, Attrs{ck.CKA_VALUE: []byte{}})
		hkWantRV(t, "empty value", err, ck.CKR_ATTRIBUTE_VALUE_INVALID)
		_, err = kt.Check(ck.CKO_SECRET_KEY, Attrs{})
		hkWantRV(t, "no value", err, ck.CKR_TEMPLATE_INCOMPLETE)
		_, err = kt.Check(ck.CKO_SECRET_KEY, Attrs{ck.CKA_VALUE: []byte("abc"), ck.CKA_VALUE_LEN: ck.ULong(4)})
		hkWantRV(t, "length mismatch", err, ck.CKR_TEMPLATE_INCONSISTENT)
		_, err = kt.Check(ck.CKO_PRIVATE_KEY, Attrs{ck.CKA_VALUE: []byte("abc")})
		hkWantRV(t, "private class", err, ck.CKR_TEMPLATE_INCONSISTENT)
	}
}
