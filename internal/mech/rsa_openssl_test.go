//go:build openssl && cgo

package mech

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"math/big"
	"strings"
	"testing"

	"github.com/golang-fips/openssl/v2"
	"github.com/golang-fips/openssl/v2/bbig"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// These tests run only in the openssl build (go test -tags openssl): they fail, rather than skip, when
// libcrypto is not what does the private-key operations, so the build cannot fall back to crypto/rsa unseen.

// rsaOpenSSLKey returns the test pair's private key with a cache of its own, and its parsed form, which
// must be on libcrypto.
func rsaOpenSSLKey(t testing.TB) (*rsaPair, *Key, *rsaPrivate) {
	t.Helper()
	if name := RSABackend(); !strings.HasPrefix(name, "libcrypto (OpenSSL ") {
		t.Fatalf("RSA backend is %q, want libcrypto", name)
	}
	kp := rsaTestPair(t)
	key := NewKey(ck.CKO_PRIVATE_KEY, ck.CKK_RSA, kp.privAttrs, &Cache{})
	priv, err := rsaPrivateOf(key)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := priv.ops.(*rsaOpenSSLOps); !ok {
		t.Fatalf("private key operations by %T, want *rsaOpenSSLOps", priv.ops)
	}
	return kp, key, priv
}

// rsaByLibcrypto runs f and fails unless libcrypto did exactly one operation in it, and no fallback.
func rsaByLibcrypto(t *testing.T, what string, f func()) {
	t.Helper()
	done, fb := rsaOpenSSLDone.Load(), rsaOpenSSLFallback.Load()
	f()
	if d := rsaOpenSSLDone.Load() - done; d != 1 {
		t.Errorf("%s: %d operations by libcrypto, want 1", what, d)
	}
	if d := rsaOpenSSLFallback.Load() - fb; d != 0 {
		t.Errorf("%s: %d libcrypto failures redone by crypto/rsa", what, d)
	}
}

func TestRSAOpenSSLBackend(t *testing.T) {
	kp, key, priv := rsaOpenSSLKey(t)
	goKey := kp.goKey
	msg := []byte("keyward openssl backend")

	// The libcrypto key is made once per parsed key: the cache gives back the same operations.
	again, _ := rsaPrivateOf(NewKey(ck.CKO_PRIVATE_KEY, ck.CKK_RSA, nil, key.cache))
	if again != priv || again.ops != priv.ops {
		t.Error("libcrypto key not cached with the parsed key")
	}

	// Hash-and-sign PKCS #1 v1.5, every hash: deterministic, so byte for byte crypto/rsa's signature.
	for _, m := range rsaHashMechs {
		var sig []byte
		rsaByLibcrypto(t, m.pkcs.String(), func() {
			op, err := rsaSpec(t, m.pkcs).Sign(Param{}, key)
			if err != nil {
				t.Fatal(err)
			}
			if sig, err = rsaSingleRun(t, op, msg); err != nil {
				t.Fatalf("%v: %v", m.pkcs, err)
			}
		})
		if want, _ := rsa.SignPKCS1v15(nil, goKey, m.h, rsaDigest(m.h, msg)); !bytes.Equal(sig, want) {
			t.Errorf("%v: signature differs from crypto/rsa's", m.pkcs)
		}
	}

	// CKM_RSA_PKCS over a DigestInfo given by the caller.
	di := rsaDigestInfoOf(t, crypto.SHA256, msg)
	rsaByLibcrypto(t, "CKM_RSA_PKCS sign", func() {
		op, _ := rsaSpec(t, ck.CKM_RSA_PKCS).Sign(Param{}, key)
		sig, err := rsaSingleRun(t, op, di)
		want, _ := rsa.SignPKCS1v15(nil, goKey, 0, di)
		if err != nil || !bytes.Equal(sig, want) {
			t.Errorf("CKM_RSA_PKCS sign: %v, or a signature unlike crypto/rsa's", err)
		}
	})

	// PSS with MGF1 over the message hash and a salt: libcrypto's PSS, checked by crypto/rsa.
	for _, m := range rsaHashMechs {
		rsaByLibcrypto(t, m.pss.String(), func() {
			p := rsaPSSParam(rsaMechOfHash(m.h), rsaMGFOfHash(m.h), m.h.Size())
			op, err := rsaSpec(t, m.pss).Sign(p, key)
			if err != nil {
				t.Fatal(err)
			}
			sig, err := rsaSingleRun(t, op, msg)
			if err != nil {
				t.Fatalf("%v: %v", m.pss, err)
			}
			opts := &rsa.PSSOptions{SaltLength: m.h.Size(), Hash: m.h}
			if err := rsa.VerifyPSS(&goKey.PublicKey, m.h, rsaDigest(m.h, msg), sig, opts); err != nil {
				t.Errorf("%v: crypto/rsa rejects libcrypto's signature: %v", m.pss, err)
			}
		})
	}

	// PSS crypto/rsa cannot make (empty salt, MGF1 over another hash): the self-written encoding over
	// libcrypto's raw operation, checked by the mechanism's own verification.
	for _, c := range []struct {
		h, mgf crypto.Hash
		sLen   int
	}{{crypto.SHA256, crypto.SHA256, 0}, {crypto.SHA256, crypto.SHA1, 32}, {crypto.SHA3_256, crypto.SHA512, 0}} {
		p := rsaPSSParam(rsaMechOfHash(c.h), rsaMGFOfHash(c.mgf), c.sLen)
		var sig []byte
		rsaByLibcrypto(t, "PSS own encoding", func() {
			op, err := rsaSpec(t, ck.CKM_RSA_PKCS_PSS).Sign(p, key)
			if err != nil {
				t.Fatal(err)
			}
			if sig, err = rsaSingleRun(t, op, rsaDigest(c.h, msg)); err != nil {
				t.Fatalf("PSS %v/%v/%d: %v", c.h, c.mgf, c.sLen, err)
			}
		})
		v, _ := rsaSpec(t, ck.CKM_RSA_PKCS_PSS).Verify(p, kp.pub)
		if err := rsaVerifyRun(v, rsaDigest(c.h, msg), sig); err != nil {
			t.Errorf("PSS %v/%v/%d: %v", c.h, c.mgf, c.sLen, err)
		}
	}

	// Raw RSA (decrypt and sign): the same integer as crypto/rsa's and the Go raw operation's.
	x := new(big.Int).SetBytes(bytes.Repeat([]byte{0x5a}, 255))
	want, err := rsaGoOps{priv}.raw(x)
	if err != nil {
		t.Fatal(err)
	}
	for _, dec := range []bool{true, false} {
		rsaByLibcrypto(t, "CKM_RSA_X_509", func() {
			var op Operation
			in := rsaBytes(x, 256)
			if dec {
				op, _ = rsaSpec(t, ck.CKM_RSA_X_509).Decrypt(Param{}, key)
			} else {
				op, _ = rsaSpec(t, ck.CKM_RSA_X_509).Sign(Param{}, key)
				in = in[1:] // shorter than k: an integer all the same
			}
			out, err := rsaSingleRun(t, op, in)
			if err != nil || !bytes.Equal(out, rsaBytes(want, 256)) {
				t.Errorf("CKM_RSA_X_509 (decrypt %v): %v, or a result unlike the Go raw operation's", dec, err)
			}
		})
	}

	// OAEP decryption and unwrapping, hashes and MGF1 hashes alike or not, with and without a label.
	s := rsaSpec(t, ck.CKM_RSA_PKCS_OAEP)
	for _, c := range []struct {
		h, mgf crypto.Hash
		label  []byte
	}{
		{crypto.SHA1, crypto.SHA1, nil},
		{crypto.SHA256, crypto.SHA256, []byte("label")},
		{crypto.SHA256, crypto.SHA1, nil},
		{crypto.SHA512, crypto.SHA224, []byte{0}},
		{crypto.SHA3_256, crypto.SHA3_256, []byte("l")},
		{crypto.SHA224, crypto.SHA3_512, nil},
	} {
		p := rsaOAEPParam(t, rsaMechOfHash(c.h), rsaMGFOfHash(c.mgf), ck.CKZ_DATA_SPECIFIED, c.label)
		opts := &rsa.OAEPOptions{Hash: c.h, MGFHash: c.mgf, Label: c.label}
		ct, err := rsa.EncryptOAEPWithOptions(rand.Reader, &goKey.PublicKey, msg, opts)
		if err != nil {
			t.Fatal(err)
		}
		rsaByLibcrypto(t, "OAEP decrypt", func() {
			op, _ := s.Decrypt(p, key)
			if pt, err := rsaSingleRun(t, op, ct); err != nil || !bytes.Equal(pt, msg) {
				t.Errorf("OAEP %v/%v: %v", c.h, c.mgf, err)
			}
		})
		rsaByLibcrypto(t, "OAEP unwrap", func() {
			if pt, err := s.Unwrap(p, key, ct); err != nil || !bytes.Equal(pt, msg) {
				t.Errorf("OAEP %v/%v unwrap: %v", c.h, c.mgf, err)
			}
		})
		// A changed ciphertext is rejected with the mechanism's error, by libcrypto (no fallback).
		bad := append([]byte{}, ct...)
		bad[len(bad)-1] ^= 1
		fb := rsaOpenSSLFallback.Load()
		op, _ := s.Decrypt(p, key)
		_, err = rsaSingleRun(t, op, bad)
		rsaWantRV(t, "OAEP changed ciphertext", err, ck.CKR_ENCRYPTED_DATA_INVALID)
		_, err = s.Unwrap(p, key, bad)
		rsaWantRV(t, "OAEP changed wrapped key", err, ck.CKR_WRAPPED_KEY_INVALID)
		if rsaOpenSSLFallback.Load() != fb {
			t.Error("OAEP rejection fell back to crypto/rsa")
		}
	}
}

// A key whose public exponent is unknown (n and d only, d the inverse of an unusual e) has no libcrypto
// form: it keeps the Go raw operation.
func TestRSAOpenSSLUnknownExponent(t *testing.T) {
	kp, _, _ := rsaOpenSSLKey(t)
	p, q := kp.goKey.Primes[0], kp.goKey.Primes[1]
	pm1, qm1 := new(big.Int).Sub(p, rsaOne), new(big.Int).Sub(q, rsaOne)
	lambda := new(big.Int).Mul(pm1, qm1)
	lambda.Quo(lambda, new(big.Int).GCD(nil, nil, pm1, qm1))
	var d *big.Int
	for e := int64(65539); d == nil; e += 2 {
		d = new(big.Int).ModInverse(big.NewInt(e), lambda)
	}
	a := Attrs{ck.CKA_MODULUS: kp.goKey.N.Bytes(), ck.CKA_PRIVATE_EXPONENT: d.Bytes()}
	priv, err := rsaPrivateOf(NewKey(ck.CKO_PRIVATE_KEY, ck.CKK_RSA, a, nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := priv.ops.(rsaGoOps); !ok || priv.key != nil {
		t.Errorf("key of unknown exponent on %T, want rsaGoOps", priv.ops)
	}
	done := rsaOpenSSLDone.Load()
	op, _ := rsaSpec(t, ck.CKM_RSA_PKCS).Sign(Param{}, NewKey(ck.CKO_PRIVATE_KEY, ck.CKK_RSA, a, nil))
	if _, err := rsaSingleRun(t, op, rsaDigestInfoOf(t, crypto.SHA256, []byte("abc"))); err != nil {
		t.Fatal(err)
	}
	if rsaOpenSSLDone.Load() != done {
		t.Error("a key of unknown exponent went to libcrypto")
	}
}

// BenchmarkRSAOpenSSLSign compares RSA-2048 PKCS #1 v1.5 signing (SHA-256) by crypto/rsa, by libcrypto
// with the key kept (what the mechanisms do), and by libcrypto with the key made for every signature.
func BenchmarkRSAOpenSSLSign(b *testing.B) {
	_, _, priv := rsaOpenSSLKey(b)
	digest := rsaDigest(crypto.SHA256, []byte("bench"))
	b.Run("crypto-rsa", func(b *testing.B) {
		for b.Loop() {
			if _, err := (rsaGoOps{priv}).signPKCS1v15(crypto.SHA256, digest); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("libcrypto-cached-key", func(b *testing.B) {
		for b.Loop() {
			if _, err := priv.ops.signPKCS1v15(crypto.SHA256, digest); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("libcrypto-key-per-sign", func(b *testing.B) {
		e := big.NewInt(int64(priv.pub.E))
		for b.Loop() {
			k, err := openssl.NewPrivateKeyRSA(bbig.Enc(priv.pub.N), bbig.Enc(e), bbig.Enc(priv.d),
				bbig.Enc(priv.p), bbig.Enc(priv.q), bbig.Enc(priv.dp), bbig.Enc(priv.dq), bbig.Enc(priv.qinv))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := openssl.SignRSAPKCS1v15(k, crypto.SHA256, digest); err != nil {
				b.Fatal(err)
			}
		}
	})
}
