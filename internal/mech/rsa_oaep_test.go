package mech

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"testing"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// Tests of CKM_RSA_PKCS_OAEP (rsa_oaep.go) on generated keys.

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
