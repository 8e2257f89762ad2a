package mech

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// aesKWAll runs the four key-wrap entry points of mechanism m on one vector: C_Encrypt, C_Decrypt (both
// single-part, through Single), C_WrapKey and C_UnwrapKey.
type aesKWResult struct {
	enc, dec, wrap, unwrap []byte
	encErr, decErr         error
	wrapErr, unwrapErr     error
}

func aesKWAll(m ck.MechanismType, p Param, key, msg, ct []byte) aesKWResult {
	var r aesKWResult
	s := Lookup(m)
	k := aesTestKey(key)
	if op, err := s.Encrypt(p, k); err != nil {
		r.encErr = err
	} else {
		r.enc, r.encErr = op.(Single).Single(msg)
	}
	if op, err := s.Decrypt(p, k); err != nil {
		r.decErr = err
	} else {
		r.dec, r.decErr = op.(Single).Single(ct)
	}
	r.wrap, r.wrapErr = s.Wrap(p, k, msg)
	r.unwrap, r.unwrapErr = s.Unwrap(p, k, ct)
	return r
}

func aesIsRV(err error, codes ...ck.RV) bool {
	var rv ck.RV
	if !errors.As(err, &rv) {
		return false
	}
	for _, c := range codes {
		if rv == c {
			return true
		}
	}
	return false
}

// valid reports whether the four operations all gave a valid vector's answers.
func (r aesKWResult) valid(msg, ct []byte) bool {
	return r.encErr == nil && bytes.Equal(r.enc, ct) && r.decErr == nil && bytes.Equal(r.dec, msg) &&
		r.wrapErr == nil && bytes.Equal(r.wrap, ct) && r.unwrapErr == nil && bytes.Equal(r.unwrap, msg)
}

// refused reports whether decryption and unwrapping refused an invalid vector's ciphertext.
func (r aesKWResult) refused() bool {
	return aesIsRV(r.decErr, ck.CKR_ENCRYPTED_DATA_INVALID, ck.CKR_ENCRYPTED_DATA_LEN_RANGE) &&
		aesIsRV(r.unwrapErr, ck.CKR_WRAPPED_KEY_INVALID, ck.CKR_WRAPPED_KEY_LEN_RANGE)
}

// aesWycheproofKeyWrap runs a KW or KWP file: pass judges the four operations' results of a vector, which
// are logged when it fails.
func aesWycheproofKeyWrap(t *testing.T, file string, m ck.MechanismType, pass func(v *aesWPTest, r aesKWResult) bool) {
	t.Helper()
	aesWycheproof(t, file, func(_ *aesWPGroup, v *aesWPTest) bool {
		r := aesKWAll(m, Param{}, v.Key, v.Msg, v.CT)
		if !pass(v, r) {
			t.Logf("tcId %d: %+v", v.TcID, r)
			return false
		}
		return true
	})
}

func TestAESWycheproofKW(t *testing.T) {
	aesWycheproofKeyWrap(t, "aes_wrap_test.json", ck.CKM_AES_KEY_WRAP, func(v *aesWPTest, r aesKWResult) bool {
		switch v.Result {
		case "valid":
			return r.valid(v.Msg, v.CT)
		case "acceptable":
			// An 8-byte key: SP 800-38F's KW needs two semiblocks, so Keyward refuses it.
			return aesIsRV(r.encErr, ck.CKR_DATA_LEN_RANGE) && aesIsRV(r.wrapErr, ck.CKR_KEY_SIZE_RANGE) &&
				aesIsRV(r.decErr, ck.CKR_ENCRYPTED_DATA_LEN_RANGE) && aesIsRV(r.unwrapErr, ck.CKR_WRAPPED_KEY_LEN_RANGE)
		}
		// The ciphertext is refused; the message, if it can be wrapped at all, does not give it.
		ok := r.refused() && (r.encErr != nil || !bytes.Equal(r.enc, v.CT)) && (r.wrapErr != nil || !bytes.Equal(r.wrap, v.CT))
		if len(v.Msg)%8 != 0 || len(v.Msg) < 16 {
			ok = ok && aesIsRV(r.encErr, ck.CKR_DATA_LEN_RANGE)
		}
		return ok
	})
}

func TestAESWycheproofKWP(t *testing.T) {
	aesWycheproofKeyWrap(t, "aes_kwp_test.json", ck.CKM_AES_KEY_WRAP_KWP, func(v *aesWPTest, r aesKWResult) bool {
		if v.Result == "valid" {
			return r.valid(v.Msg, v.CT)
		}
		return r.refused() && !bytes.Equal(r.enc, v.CT) && !bytes.Equal(r.wrap, v.CT)
	})
}

// RFC 3394 §4.1 and §4.6, RFC 5649 §6.
func TestAESKeyWrapRFCVectors(t *testing.T) {
	for _, v := range []struct {
		name         string
		m            ck.MechanismType
		kek, key, ct string
	}{
		{"RFC 3394 4.1", ck.CKM_AES_KEY_WRAP, "000102030405060708090A0B0C0D0E0F", "00112233445566778899AABBCCDDEEFF",
			"1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5"},
		{"RFC 3394 4.6", ck.CKM_AES_KEY_WRAP, "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F",
			"00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F",
			"28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21"},
		{"RFC 5649 6 (20 bytes)", ck.CKM_AES_KEY_WRAP_KWP, "5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8",
			"c37b7e6492584340bed12207808941155068f738", "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a"},
		{"RFC 5649 6 (7 bytes)", ck.CKM_AES_KEY_WRAP_KWP, "5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8",
			"466f7250617369", "afbeb0f07dfbf5419200f2ccb50bb24f"},
	} {
		kek, key, ct := aesUnhex(t, v.kek), aesUnhex(t, v.key), aesUnhex(t, v.ct)
		r := aesKWAll(v.m, Param{}, kek, key, ct)
		if r.encErr != nil || !bytes.Equal(r.enc, ct) || r.decErr != nil || !bytes.Equal(r.dec, key) ||
			r.wrapErr != nil || !bytes.Equal(r.wrap, ct) || r.unwrapErr != nil || !bytes.Equal(r.unwrap, key) {
			t.Errorf("%s: %+v", v.name, r)
		}
	}
}

// TestAESKeyWrapPad: CKM_AES_KEY_WRAP_PAD is PKCS#7 padding to semiblocks, then KW: checked against
// CKM_AES_KEY_WRAP (proven by the vectors above) over explicitly padded input.
func TestAESKeyWrapPad(t *testing.T) {
	kek := aesRandom(32)
	k := aesTestKey(kek)
	kw, pad := Lookup(ck.CKM_AES_KEY_WRAP), Lookup(ck.CKM_AES_KEY_WRAP_PAD)
	for n := 8; n <= 41; n++ {
		plain := aesRandom(n)
		padded := append(append([]byte(nil), plain...), bytes.Repeat([]byte{byte(8 - n%8)}, 8-n%8)...)
		want, err := kw.Wrap(Param{}, k, padded)
		if err != nil {
			t.Fatal(err)
		}
		r := aesKWAll(ck.CKM_AES_KEY_WRAP_PAD, Param{}, kek, plain, want)
		if r.encErr != nil || !bytes.Equal(r.enc, want) || r.decErr != nil || !bytes.Equal(r.dec, plain) ||
			r.wrapErr != nil || !bytes.Equal(r.wrap, want) || r.unwrapErr != nil || !bytes.Equal(r.unwrap, plain) {
			t.Fatalf("%d bytes: %+v", n, r)
		}
	}
	// Under 8 bytes the padded input is one semiblock, which KW cannot take.
	for n := 0; n < 8; n++ {
		_, err := pad.Wrap(Param{}, k, make([]byte, n))
		aesWantRV(t, err, ck.CKR_KEY_SIZE_RANGE, fmt.Sprintf("wrap %d bytes", n))
	}
	// A KW ciphertext of unpadded data has no valid PKCS#7 padding (its last byte is 0).
	w, _ := kw.Wrap(Param{}, k, make([]byte, 24))
	_, err := pad.Unwrap(Param{}, k, w)
	aesWantRV(t, err, ck.CKR_WRAPPED_KEY_INVALID, "unwrap without padding")
	op, _ := pad.Decrypt(Param{}, k)
	_, err = op.(Single).Single(w)
	aesWantRV(t, err, ck.CKR_ENCRYPTED_DATA_INVALID, "decrypt without padding")
}

func TestAESKeyWrapParams(t *testing.T) {
	kek, key := aesRandom(16), aesRandom(32)
	k := aesTestKey(kek)
	for m, ivLen := range map[ck.MechanismType]int{ck.CKM_AES_KEY_WRAP: 8, ck.CKM_AES_KEY_WRAP_PAD: 8, ck.CKM_AES_KEY_WRAP_KWP: 4} {
		s := Lookup(m)
		iv := Param{Present: true, Raw: aesRandom(ivLen)}
		w, err := s.Wrap(iv, k, key)
		if err != nil {
			t.Fatal(err)
		}
		def, _ := s.Wrap(Param{}, k, key)
		empty, _ := s.Wrap(Param{Present: true, Raw: []byte{}}, k, key)
		if bytes.Equal(w, def) || !bytes.Equal(def, empty) {
			t.Errorf("%v: the IV parameter is not used", m)
		}
		if u, err := s.Unwrap(iv, k, w); err != nil || !bytes.Equal(u, key) {
			t.Errorf("%v: unwrap with the IV: %v", m, err)
		}
		_, err = s.Unwrap(Param{}, k, w)
		aesWantRV(t, err, ck.CKR_WRAPPED_KEY_INVALID, fmt.Sprintf("%v: unwrap with the default IV", m))
		for _, n := range []int{1, ivLen - 1, ivLen + 1, 16} {
			_, err := s.Wrap(Param{Present: true, Raw: make([]byte, n)}, k, key)
			aesWantRV(t, err, ck.CKR_MECHANISM_PARAM_INVALID, fmt.Sprintf("%v: IV of %d bytes", m, n))
			_, err = s.Encrypt(Param{Present: true, Raw: make([]byte, n)}, k)
			aesWantRV(t, err, ck.CKR_MECHANISM_PARAM_INVALID, fmt.Sprintf("%v: encrypt, IV of %d bytes", m, n))
		}
		// Single-part only.
		op, _ := s.Encrypt(Param{}, k)
		_, err = op.Update(key)
		aesWantRV(t, err, ck.CKR_FUNCTION_NOT_SUPPORTED, fmt.Sprintf("%v: EncryptUpdate", m))
		op, _ = s.Decrypt(Param{}, k)
		_, err = op.Update(w)
		aesWantRV(t, err, ck.CKR_FUNCTION_NOT_SUPPORTED, fmt.Sprintf("%v: DecryptUpdate", m))
		// Every flipped bit of a wrapped key is caught.
		for i := range def {
			bad := append([]byte(nil), def...)
			bad[i] ^= 0x10
			_, err := s.Unwrap(Param{}, k, bad)
			aesWantRV(t, err, ck.CKR_WRAPPED_KEY_INVALID, fmt.Sprintf("%v: flipped byte %d", m, i))
		}
	}
}

// TestAESKeyWrapZeroPad: CKM_AES_KEY_WRAP wraps a key that is not whole semiblocks zero-padded (the
// spec's rule); encryption of such data is refused.
func TestAESKeyWrapZeroPad(t *testing.T) {
	kek := aesRandom(24)
	k := aesTestKey(kek)
	s := Lookup(ck.CKM_AES_KEY_WRAP)
	for _, n := range []int{9, 15, 17, 20, 31} {
		plain := aesRandom(n)
		padded := make([]byte, (n+7)/8*8)
		copy(padded, plain)
		w, err := s.Wrap(Param{}, k, plain)
		want, _ := s.Wrap(Param{}, k, padded)
		if err != nil || !bytes.Equal(w, want) {
			t.Fatalf("%d bytes: %v", n, err)
		}
		if u, err := s.Unwrap(Param{}, k, w); err != nil || !bytes.Equal(u, padded) {
			t.Fatalf("%d bytes: unwrap %v", n, err)
		}
		op, _ := s.Encrypt(Param{}, k)
		_, err = op.(Single).Single(plain)
		aesWantRV(t, err, ck.CKR_DATA_LEN_RANGE, fmt.Sprintf("encrypt %d bytes", n))
	}
	for _, n := range []int{0, 1, 8} {
		_, err := s.Wrap(Param{}, k, make([]byte, n))
		aesWantRV(t, err, ck.CKR_KEY_SIZE_RANGE, fmt.Sprintf("wrap %d bytes", n))
	}
	_, err := Lookup(ck.CKM_AES_KEY_WRAP_KWP).Wrap(Param{}, k, nil)
	aesWantRV(t, err, ck.CKR_KEY_SIZE_RANGE, "KWP wrap of nothing")
}
