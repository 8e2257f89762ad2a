package mech

//lint:file-ignore SA1019 the tests check CKM_RSA_PKCS, a PKCS#11 mechanism, against Go

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"testing"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// Tests of CKM_RSA_PKCS and CKM_<hash>_RSA_PKCS (rsa_pkcs1v15.go) on generated keys.

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
