package mech

//lint:file-ignore SA1019 the tests check CKM_RSA_PKCS, a PKCS#11 mechanism, against Go

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"math/big"
	"testing"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// Tests of CKM_RSA_X_509, raw RSA (rsa_raw.go), on generated keys.

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
