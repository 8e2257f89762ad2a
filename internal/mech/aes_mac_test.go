package mech

import (
	"bytes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

func aesMACParam(n uint64) Param {
	return Param{Present: true, Raw: binary.NativeEndian.AppendUint64(nil, n)}
}

// aesSign signs through the Spec, single- or multi-part.
func aesSign(m ck.MechanismType, p Param, key, msg []byte, cuts []int) ([]byte, error) {
	op, err := Lookup(m).Sign(p, aesTestKey(key))
	if err != nil {
		return nil, err
	}
	return aesRun(op, msg, cuts)
}

// aesVerify verifies through the Spec, single- or multi-part.
func aesVerify(m ck.MechanismType, p Param, key, msg, sig []byte, cuts []int) error {
	v, err := Lookup(m).Verify(p, aesTestKey(key))
	if err != nil {
		return err
	}
	if cuts == nil {
		if s, ok := v.(SingleVerifier); ok {
			return s.Verify(msg, sig)
		}
		if err := v.Update(msg); err != nil {
			return err
		}
		return v.Final(sig)
	}
	prev := 0
	for _, c := range append(cuts, len(msg)) {
		if err := v.Update(msg[prev:c]); err != nil {
			return err
		}
		prev = c
	}
	return v.Final(sig)
}

// RFC 4493 §4: AES-128 CMAC of 0, 16, 40 and 64 bytes of the SP 800-38A example plaintext.
func TestAESCMACRFC4493(t *testing.T) {
	key := aesUnhex(t, "2b7e151628aed2a6abf7158809cf4f3c")
	msg := aesUnhex(t, aes38APlain)
	// The subkeys of §4 (K1, K2), from the doubling of AES-128(K, 0^128).
	c := aesNewCMAC(mustAESBlock(t, key))
	if !bytes.Equal(c.k1[:], aesUnhex(t, "fbeed618357133667c85e08f7236a8de")) ||
		!bytes.Equal(c.k2[:], aesUnhex(t, "f7ddac306ae266ccf90bc11ee46d513b")) {
		t.Fatalf("subkeys %x %x", c.k1, c.k2)
	}
	for _, v := range []struct {
		n   int
		mac string
	}{
		{0, "bb1d6929e95937287fa37d129b756746"},
		{16, "070a16b46b4d4144f79bdd9dd04a287c"},
		{40, "dfa66747de9ae63030ca32611497c827"},
		{64, "51f0bebf7e3b9d92fc49741779363cfe"},
	} {
		want := aesUnhex(t, v.mac)
		for _, cuts := range aesSplits(v.n) {
			got, err := aesSign(ck.CKM_AES_CMAC, Param{}, key, msg[:v.n], cuts)
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("%d bytes %v: %x %v", v.n, cuts, got, err)
			}
			if err := aesVerify(ck.CKM_AES_CMAC, Param{}, key, msg[:v.n], want, cuts); err != nil {
				t.Errorf("%d bytes %v: verify: %v", v.n, cuts, err)
			}
			for _, l := range []uint64{1, 4, 8, 12, 15, 16} {
				got, err := aesSign(ck.CKM_AES_CMAC_GENERAL, aesMACParam(l), key, msg[:v.n], cuts)
				if err != nil || !bytes.Equal(got, want[:l]) {
					t.Errorf("general %d, %d bytes %v: %x %v", l, v.n, cuts, got, err)
				}
				if err := aesVerify(ck.CKM_AES_CMAC_GENERAL, aesMACParam(l), key, msg[:v.n], want[:l], cuts); err != nil {
					t.Errorf("general %d, %d bytes %v: verify %v", l, v.n, cuts, err)
				}
			}
		}
	}
}

func mustAESBlock(t testing.TB, key []byte) cipher.Block {
	t.Helper()
	b, err := aesBlock(aesTestKey(key))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAESWycheproofCMAC(t *testing.T) {
	aesWycheproof(t, "aes_cmac_test.json", func(g *aesWPGroup, v *aesWPTest) bool {
		ok := true
		tl := uint64(g.TagSize / 8)
		for _, cuts := range aesSplits(len(v.Msg)) {
			for _, m := range []ck.MechanismType{ck.CKM_AES_CMAC, ck.CKM_AES_CMAC_GENERAL} {
				p := Param{}
				if m == ck.CKM_AES_CMAC_GENERAL {
					p = aesMACParam(tl)
				} else if tl != 16 {
					continue
				}
				got, serr := aesSign(m, p, v.Key, v.Msg, cuts)
				verr := aesVerify(m, p, v.Key, v.Msg, v.Tag, cuts)
				if v.Result == "valid" {
					ok = ok && serr == nil && bytes.Equal(got, v.Tag) && verr == nil
					continue
				}
				var rv ck.RV
				ok = ok && (serr != nil || !bytes.Equal(got, v.Tag)) && errors.As(verr, &rv) &&
					(rv == ck.CKR_SIGNATURE_INVALID || rv == ck.CKR_KEY_SIZE_RANGE)
			}
		}
		return ok
	})
}

func TestAESCMACErrors(t *testing.T) {
	key, msg := aesRandom(16), []byte("message")
	sig, err := aesSign(ck.CKM_AES_CMAC, Param{}, key, msg, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = aesVerify(ck.CKM_AES_CMAC, Param{}, key, msg, sig[:15], nil)
	aesWantRV(t, err, ck.CKR_SIGNATURE_LEN_RANGE, "short MAC")
	err = aesVerify(ck.CKM_AES_CMAC, Param{}, key, msg, append(sig, 0), nil)
	aesWantRV(t, err, ck.CKR_SIGNATURE_LEN_RANGE, "long MAC")
	err = aesVerify(ck.CKM_AES_CMAC_GENERAL, aesMACParam(8), key, msg, sig, nil)
	aesWantRV(t, err, ck.CKR_SIGNATURE_LEN_RANGE, "general: full MAC for an 8-byte length")
	for i := range sig {
		bad := append([]byte(nil), sig...)
		bad[i] ^= 4
		err = aesVerify(ck.CKM_AES_CMAC, Param{}, key, msg, bad, nil)
		aesWantRV(t, err, ck.CKR_SIGNATURE_INVALID, fmt.Sprintf("flipped byte %d", i))
	}
	err = aesVerify(ck.CKM_AES_CMAC, Param{}, key, []byte("messagf"), sig, nil)
	aesWantRV(t, err, ck.CKR_SIGNATURE_INVALID, "other message")
	for _, p := range []Param{{}, aesMACParam(0), aesMACParam(17), {Present: true, Raw: []byte{8, 0, 0, 0}}} {
		_, err := Lookup(ck.CKM_AES_CMAC_GENERAL).Sign(p, aesTestKey(key))
		aesWantRV(t, err, ck.CKR_MECHANISM_PARAM_INVALID, fmt.Sprintf("general parameter %x", p.Raw))
	}
	_, err = Lookup(ck.CKM_AES_CMAC).Sign(aesMACParam(16), aesTestKey(key))
	aesWantRV(t, err, ck.CKR_MECHANISM_PARAM_INVALID, "CMAC with a parameter")
}
