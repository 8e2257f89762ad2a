package mech

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"math/big"
)

// The seam of the RSA private-key operations. Every private-key operation of rsa.go on a key whose public
// exponent is known goes through rsaPrivate.ops, an rsaPrivateOps. The default is rsaGoOps: crypto/rsa, and
// the self-written raw operation (rsaPrivate.raw). Built with the `openssl` tag (and cgo), rsa_openssl.go
// sets rsaAccelerate, which gives each parsed key an implementation over libcrypto (OpenSSL 3, loaded at
// run time), kept with the parsed key in the object's Cache so the libcrypto key is built once per object.
//
// What stays on Go in every build: keys whose public exponent is unknown (only the raw operation works
// then, with exponent blinding of its own), PKCS #1 v1.5 decryption and unwrapping (crypto/rsa rejects bad
// padding with an error; libcrypto 3.2 and later answer it with a synthetic message, "implicit
// rejection", which is not what PKCS #11 callers expect), PSS encoding with an empty salt or with MGF1 over
// another hash (rsaPSSParams.signOwn: only its raw operation goes through ops), and every public-key
// operation.

// rsaPrivateOps are the private-key operations of one key. Errors are any error: callers map them to the
// ck.RV their mechanism answers.
type rsaPrivateOps interface {
	// signPKCS1v15 is RSASSA-PKCS1-v1_5 (RFC 8017, section 8.2.1) of digest, a hash by h; with h 0, digest
	// is signed as given (a DigestInfo, at most k-11 bytes: the caller checks).
	signPKCS1v15(h crypto.Hash, digest []byte) ([]byte, error)
	// signPSS is RSASSA-PSS with MGF1 over h and a random salt of sLen > 0 bytes.
	signPSS(h crypto.Hash, digest []byte, sLen int) ([]byte, error)
	// decryptOAEP is RSAES-OAEP-DECRYPT; in is k bytes (the caller checks).
	decryptOAEP(in []byte, opts *rsa.OAEPOptions) ([]byte, error)
	// raw is c^d mod n for 0 <= c < n, its result checked against the public exponent.
	raw(c *big.Int) (*big.Int, error)
}

// rsaAccelerate, when set (rsa_openssl.go), returns another implementation of a parsed key's operations,
// which may call fallback for what it does not do; or nil to keep fallback.
var rsaAccelerate func(k *rsaPrivate, fallback rsaPrivateOps) rsaPrivateOps

// rsaBackendName, when set, names the implementation rsaAccelerate gives, or says why it gives none.
var rsaBackendName func() string

// rsaNewOps returns the operations of a parsed private key: rsaAccelerate's when it gives one (a key with a
// known public exponent only), rsaGoOps otherwise.
func rsaNewOps(k *rsaPrivate) rsaPrivateOps {
	ops := rsaGoOps{k}
	if k.key != nil && rsaAccelerate != nil {
		if a := rsaAccelerate(k, ops); a != nil {
			return a
		}
	}
	return ops
}

// RSABackend names what does the RSA private-key operations: "crypto/rsa", or libcrypto and its version
// in a build with the openssl tag (or why libcrypto is not used). It loads libcrypto if the build uses it
// and it is not loaded yet; it says nothing about any key.
func RSABackend() string {
	if rsaBackendName != nil {
		return rsaBackendName()
	}
	return "crypto/rsa"
}

// rsaGoOps is the pure-Go implementation: crypto/rsa, and rsaPrivate.raw. The signing and decrypting
// methods need k.key (a known public exponent).
type rsaGoOps struct{ k *rsaPrivate }

func (o rsaGoOps) signPKCS1v15(h crypto.Hash, digest []byte) ([]byte, error) {
	return rsa.SignPKCS1v15(nil, o.k.key, h, digest)
}

func (o rsaGoOps) signPSS(h crypto.Hash, digest []byte, sLen int) ([]byte, error) {
	return rsa.SignPSS(rand.Reader, o.k.key, h, digest, &rsa.PSSOptions{SaltLength: sLen, Hash: h})
}

func (o rsaGoOps) decryptOAEP(in []byte, opts *rsa.OAEPOptions) ([]byte, error) {
	return o.k.key.Decrypt(nil, in, opts)
}

func (o rsaGoOps) raw(c *big.Int) (*big.Int, error) { return o.k.raw(c) }
