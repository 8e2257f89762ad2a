//go:build openssl && cgo

package mech

import (
	"crypto"
	"crypto/rsa"
	"errors"
	"hash"
	"log/slog"
	"math/big"
	"os"
	"sync"
	"sync/atomic"

	"github.com/golang-fips/openssl/v2"
	"github.com/golang-fips/openssl/v2/bbig"
)

// The RSA private-key operations over libcrypto (the `openssl` build tag, with cgo): PKCS #1 v1.5 signing
// (of a digest, or of a DigestInfo as given), PSS signing with MGF1 over the message hash and a salt of at
// least one byte, OAEP decryption and unwrapping, and the raw private operation (CKM_RSA_X_509, and the
// one under the self-written PSS encoding). github.com/golang-fips/openssl dlopens libcrypto (OpenSSL 3, or
// 1.1) at the first private key used; when it cannot (no library, an unsupported version, FIPS mode, where
// libcrypto would refuse some of the hashes PKCS #11 allows), every key stays on crypto/rsa and that is
// logged once. Each parsed key gets its libcrypto key (an EVP_PKEY made from n, e, d, p, q, dP, dQ and
// qInv) once, kept in the object's Cache with the parsed key and freed by a finalizer when the cache goes.
// A signature or raw operation libcrypto fails (which a valid key and input never cause) is made again by
// crypto/rsa; a decryption libcrypto rejects is a rejection. Nothing here logs key material or data.
//
// libcrypto blinds every private operation and checks a CRT result against e (recomputing without CRT
// when it is wrong); DecryptRSANoPadding also checks the raw result with a public operation.

// rsaLibcrypto is the library opened: $KEYWARD_LIBCRYPTO, or OpenSSL 3's soname.
func rsaLibcrypto() string {
	if f := os.Getenv("KEYWARD_LIBCRYPTO"); f != "" {
		return f
	}
	return "libcrypto.so.3"
}

var (
	rsaOpenSSLOnce sync.Once
	rsaOpenSSLOK   bool
	rsaOpenSSLName string
	// rsaOpenSSLHashes holds one hash.Hash of the binding per hash it supports: its OAEP functions take
	// the hash by an object of its own types (only the type is looked at, so one object serves all).
	rsaOpenSSLHashes map[crypto.Hash]hash.Hash

	// Counters for the tests: operations libcrypto did, and operations it failed that crypto/rsa redid.
	rsaOpenSSLDone, rsaOpenSSLFallback atomic.Uint64
)

// rsaOpenSSLInit loads libcrypto once and logs the outcome.
func rsaOpenSSLInit() bool {
	rsaOpenSSLOnce.Do(func() {
		lib := rsaLibcrypto()
		if err := openssl.Init(lib); err != nil {
			rsaOpenSSLName = "crypto/rsa (libcrypto not loaded: " + err.Error() + ")"
			slog.Warn("rsa: libcrypto cannot be loaded; RSA private-key operations stay on crypto/rsa",
				"library", lib, "err", err)
			return
		}
		if openssl.FIPS() {
			rsaOpenSSLName = "crypto/rsa (libcrypto is in FIPS mode)"
			slog.Warn("rsa: libcrypto is in FIPS mode; RSA private-key operations stay on crypto/rsa",
				"version", openssl.VersionText())
			return
		}
		rsaOpenSSLHashes = map[crypto.Hash]hash.Hash{}
		for h, f := range map[crypto.Hash]func() hash.Hash{
			crypto.SHA1: openssl.NewSHA1, crypto.SHA224: openssl.NewSHA224, crypto.SHA256: openssl.NewSHA256,
			crypto.SHA384: openssl.NewSHA384, crypto.SHA512: openssl.NewSHA512,
			crypto.SHA3_224: openssl.NewSHA3_224, crypto.SHA3_256: openssl.NewSHA3_256,
			crypto.SHA3_384: openssl.NewSHA3_384, crypto.SHA3_512: openssl.NewSHA3_512,
		} {
			if openssl.SupportsHash(h) {
				rsaOpenSSLHashes[h] = f()
			}
		}
		rsaOpenSSLOK = true
		rsaOpenSSLName = "libcrypto (" + openssl.VersionText() + ")"
		slog.Info("rsa: RSA private-key operations by libcrypto", "version", openssl.VersionText())
	})
	return rsaOpenSSLOK
}

func init() {
	rsaAccelerate = rsaNewOpenSSL
	rsaBackendName = func() string {
		rsaOpenSSLInit()
		return rsaOpenSSLName
	}
}

// rsaOpenSSLOps is a key's operations over libcrypto; fb (crypto/rsa) does what libcrypto does not.
type rsaOpenSSLOps struct {
	key  *openssl.PrivateKeyRSA
	size int
	fb   rsaPrivateOps
}

// rsaNewOpenSSL makes the libcrypto key of k (whose public exponent is known), or returns nil to keep
// crypto/rsa: libcrypto not loaded, or a key it does not take.
func rsaNewOpenSSL(k *rsaPrivate, fallback rsaPrivateOps) rsaPrivateOps {
	if k.key == nil || k.p == nil || !rsaOpenSSLInit() {
		return nil
	}
	e := big.NewInt(int64(k.pub.E))
	key, err := openssl.NewPrivateKeyRSA(bbig.Enc(k.pub.N), bbig.Enc(e), bbig.Enc(k.d), bbig.Enc(k.p),
		bbig.Enc(k.q), bbig.Enc(k.dp), bbig.Enc(k.dq), bbig.Enc(k.qinv))
	if err != nil {
		// libcrypto's message names the failing call, never a value.
		slog.Warn("rsa: libcrypto does not take a key; it stays on crypto/rsa", "bits", k.pub.N.BitLen(), "err", err)
		return nil
	}
	return &rsaOpenSSLOps{key: key, size: k.size(), fb: fallback}
}

// done counts an operation libcrypto did and returns out.
func (o *rsaOpenSSLOps) done(out []byte) []byte {
	rsaOpenSSLDone.Add(1)
	return out
}

func (o *rsaOpenSSLOps) signPKCS1v15(h crypto.Hash, digest []byte) ([]byte, error) {
	if out, err := openssl.SignRSAPKCS1v15(o.key, h, digest); err == nil && len(out) == o.size {
		return o.done(out), nil
	}
	rsaOpenSSLFallback.Add(1)
	return o.fb.signPKCS1v15(h, digest)
}

func (o *rsaOpenSSLOps) signPSS(h crypto.Hash, digest []byte, sLen int) ([]byte, error) {
	// The binding reads a salt length of 0 as "as long as possible": sLen 0 never comes here (signOwn).
	if sLen > 0 {
		if out, err := openssl.SignRSAPSS(o.key, h, digest, sLen); err == nil && len(out) == o.size {
			return o.done(out), nil
		}
		rsaOpenSSLFallback.Add(1)
	}
	return o.fb.signPSS(h, digest, sLen)
}

func (o *rsaOpenSSLOps) decryptOAEP(in []byte, opts *rsa.OAEPOptions) ([]byte, error) {
	mgf := opts.MGFHash
	if mgf == 0 {
		mgf = opts.Hash
	}
	h, mh := rsaOpenSSLHashes[opts.Hash], rsaOpenSSLHashes[mgf]
	if h == nil || mh == nil {
		return o.fb.decryptOAEP(in, opts)
	}
	out, err := openssl.DecryptRSAOAEP(h, mh, o.key, in, opts.Label)
	if err != nil {
		return nil, errors.New("rsa: decryption error") // the same answer for every bad ciphertext
	}
	return o.done(out), nil
}

func (o *rsaOpenSSLOps) raw(c *big.Int) (*big.Int, error) {
	in := rsaBytes(c, o.size)
	out, err := openssl.DecryptRSANoPadding(o.key, in)
	if err == nil && len(out) == o.size {
		m := new(big.Int).SetBytes(out)
		clear(out)
		rsaOpenSSLDone.Add(1)
		return m, nil
	}
	clear(out)
	rsaOpenSSLFallback.Add(1)
	return o.fb.raw(c)
}
