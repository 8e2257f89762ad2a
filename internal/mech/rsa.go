package mech

import (
	"crypto"
	"crypto/rsa"
	"hash"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// RSA (PKCS#11 3.0 "Current Mechanisms", section 2.1): the CKK_RSA key type, CKM_RSA_PKCS_KEY_PAIR_GEN,
// CKM_RSA_PKCS (PKCS #1 v1.5), CKM_RSA_X_509 (raw RSA), CKM_RSA_PKCS_PSS and CKM_RSA_PKCS_OAEP, and the
// hash-and-sign mechanisms CKM_SHA1/224/256/384/512_RSA_PKCS(_PSS) and CKM_SHA3_224/256/384/512_RSA_PKCS(_PSS).
//
// Every padding and every private-key operation goes through crypto/rsa, with three exceptions that Go has no
// API for and that are written here (the first two on math/big):
//   - the raw RSA private operation of CKM_RSA_X_509 (decrypt, sign, sign-recover, unwrap), and of
//     CKM_RSA_PKCS signing with a private key whose public exponent is unknown: CRT with base blinding,
//     exponent blinding of dP and dQ, and a check of the result against the public exponent when it is
//     known (rsaPrivate.raw). math/big is not constant-time; the blinding is what protects d.
//   - recovering p and q of an imported private key given as (n, e, d) only (rsaFactor), once, at import
//     (the CRT values are then added to the object) or when a stored key without them is first used.
//   - PSS with an empty salt or with MGF1 over another hash than the message's: EMSA-PSS-ENCODE and
//     EMSA-PSS-VERIFY (RFC 8017, section 9.1), signed with the raw private operation above and verified with
//     a public exponentiation (rsaPSSParams).
// Public-key operations without padding (CKM_RSA_X_509 encrypt/verify/verify-recover, CKM_RSA_PKCS
// verify-recover) are math/big exponentiations of public values.
// The private-key operations are reached through rsaPrivate.ops (rsa_backend.go): the above by default,
// libcrypto in a build with the openssl tag (rsa_openssl.go).

const (
	// Modulus sizes, in bits, of the keys the operations take (CK_MECHANISM_INFO of every RSA mechanism but
	// key generation) and that an imported key may have.
	rsaMinBits = 1024
	rsaMaxBits = 16384
	// Modulus sizes key generation makes (any multiple of 8 in this range); the minimum is the default of
	// the daemon's min_rsa_bits (rsa_policy.go).
	rsaGenMinBits = 2048
	rsaGenMaxBits = 4096
	// crypto/rsa takes public exponents up to 2^31-1.
	rsaMaxExponent = 1<<31 - 1
	// The exponent key generation uses: crypto/rsa.GenerateKey makes no other.
	rsaGenExponent = 65537
)

// rsaMGFs maps CK_RSA_PKCS_MGF_TYPE to MGF1's hash (PSS and OAEP).
var rsaMGFs = map[uint64]crypto.Hash{
	ck.CKG_MGF1_SHA1:     crypto.SHA1,
	ck.CKG_MGF1_SHA224:   crypto.SHA224,
	ck.CKG_MGF1_SHA256:   crypto.SHA256,
	ck.CKG_MGF1_SHA384:   crypto.SHA384,
	ck.CKG_MGF1_SHA512:   crypto.SHA512,
	ck.CKG_MGF1_SHA3_224: crypto.SHA3_224,
	ck.CKG_MGF1_SHA3_256: crypto.SHA3_256,
	ck.CKG_MGF1_SHA3_384: crypto.SHA3_384,
	ck.CKG_MGF1_SHA3_512: crypto.SHA3_512,
}

// The family's files, one concept each: rsa_key.go (the key type and key pair generation), rsa_pkcs1v15.go
// (CKM_RSA_PKCS and CKM_<hash>_RSA_PKCS), rsa_raw.go (CKM_RSA_X_509), rsa_pss.go (CKM_RSA_PKCS_PSS and
// CKM_<hash>_RSA_PKCS_PSS), rsa_oaep.go (CKM_RSA_PKCS_OAEP); rsa_backend.go and rsa_openssl.go (who does the
// private-key operations) and rsa_policy.go (the daemon's minimum modulus size). This file holds what they
// share: the family's limits, the single-part operation adapters, and the registration.

// rsaNoParam accepts a NULL (or empty) parameter.
func rsaNoParam(p Param) error {
	if p.Present && len(p.Raw) != 0 {
		return ck.CKR_MECHANISM_PARAM_INVALID
	}
	return nil
}

// rsaInit is the prologue of the operations that take no parameter: the parameter is checked first, then
// the key fetched with of (rsaPublicOf, rsaPrivateOf, rsaFullPrivateOf or rsaGoKeyOf).
func rsaInit[K any](p Param, k *Key, of func(*Key) (K, error)) (K, error) {
	if err := rsaNoParam(p); err != nil {
		var none K
		return none, err
	}
	return of(k)
}

// public returns the private key's public half (its exponent is 0 when unknown).
func (k *rsaPrivate) public() *rsa.PublicKey { return &k.pub }

// rsaSelf is a public key's public half, for rsaOAEPInit and rsaPSSInit.
func rsaSelf(pub *rsa.PublicKey) *rsa.PublicKey { return pub }

// rsaSingle is a single-part operation (C_Encrypt, C_Sign, C_SignRecover ...): the mechanisms that have no
// multi-part form answer C_*Update and C_*Final with CKR_FUNCTION_NOT_SUPPORTED.
type rsaSingle func(in []byte) ([]byte, error)

func (f rsaSingle) Update([]byte) ([]byte, error)    { return nil, ck.CKR_FUNCTION_NOT_SUPPORTED }
func (f rsaSingle) Final() ([]byte, error)           { return nil, ck.CKR_FUNCTION_NOT_SUPPORTED }
func (f rsaSingle) Single(in []byte) ([]byte, error) { return f(in) }

// rsaOp and rsaSingleOf return a nil interface, not a nil rsaSingle, with an error.
func rsaOp(f rsaSingle, err error) (Operation, error) {
	if err != nil {
		return nil, err
	}
	return f, nil
}

func rsaSingleOf(f rsaSingle, err error) (Single, error) {
	if err != nil {
		return nil, err
	}
	return f, nil
}

// rsaRun runs a single-part operation once on in, as C_WrapKey and C_UnwrapKey do: rsaRun(in)(f, err)
// passes on the error of making f.
func rsaRun(in []byte) func(f rsaSingle, err error) ([]byte, error) {
	return func(f rsaSingle, err error) ([]byte, error) {
		if err != nil {
			return nil, err
		}
		return f(in)
	}
}

// rsaSingleVerifier is a single-part verification.
type rsaSingleVerifier func(data, sig []byte) error

func (f rsaSingleVerifier) Update([]byte) error           { return ck.CKR_FUNCTION_NOT_SUPPORTED }
func (f rsaSingleVerifier) Final([]byte) error            { return ck.CKR_FUNCTION_NOT_SUPPORTED }
func (f rsaSingleVerifier) Verify(data, sig []byte) error { return f(data, sig) }

// rsaHashSigner hashes the data of a multi-part signature and signs the digest in Final.
type rsaHashSigner struct {
	h    hash.Hash
	sign func(digest []byte) ([]byte, error)
}

func (s *rsaHashSigner) Update(in []byte) ([]byte, error) {
	s.h.Write(in)
	return nil, nil
}

func (s *rsaHashSigner) Final() ([]byte, error) { return s.sign(s.h.Sum(nil)) }

// rsaHashVerifier hashes the data of a multi-part verification and checks the digest's signature in Final.
type rsaHashVerifier struct {
	h      hash.Hash
	verify func(digest, sig []byte) error
}

func (v *rsaHashVerifier) Update(in []byte) error {
	v.h.Write(in)
	return nil
}

func (v *rsaHashVerifier) Final(sig []byte) error { return v.verify(v.h.Sum(nil), sig) }

// rsaOpenSignature checks a signature's length and returns the k bytes of its raw public operation (the
// encoded message).
func rsaOpenSignature(pub *rsa.PublicKey, sig []byte) ([]byte, error) {
	if len(sig) != pub.Size() {
		return nil, ck.CKR_SIGNATURE_LEN_RANGE
	}
	m, ok := rsaRawPublic(pub, sig)
	if !ok {
		return nil, ck.CKR_SIGNATURE_INVALID
	}
	return rsaBytes(m, pub.Size()), nil
}

// rsaHashMechs lists the hash-and-sign mechanisms: PKCS #1 v1.5 and PSS for each hash.
var rsaHashMechs = []struct {
	h         crypto.Hash
	pkcs, pss ck.MechanismType
}{
	{crypto.SHA1, ck.CKM_SHA1_RSA_PKCS, ck.CKM_SHA1_RSA_PKCS_PSS},
	{crypto.SHA224, ck.CKM_SHA224_RSA_PKCS, ck.CKM_SHA224_RSA_PKCS_PSS},
	{crypto.SHA256, ck.CKM_SHA256_RSA_PKCS, ck.CKM_SHA256_RSA_PKCS_PSS},
	{crypto.SHA384, ck.CKM_SHA384_RSA_PKCS, ck.CKM_SHA384_RSA_PKCS_PSS},
	{crypto.SHA512, ck.CKM_SHA512_RSA_PKCS, ck.CKM_SHA512_RSA_PKCS_PSS},
	{crypto.SHA3_224, ck.CKM_SHA3_224_RSA_PKCS, ck.CKM_SHA3_224_RSA_PKCS_PSS},
	{crypto.SHA3_256, ck.CKM_SHA3_256_RSA_PKCS, ck.CKM_SHA3_256_RSA_PKCS_PSS},
	{crypto.SHA3_384, ck.CKM_SHA3_384_RSA_PKCS, ck.CKM_SHA3_384_RSA_PKCS_PSS},
	{crypto.SHA3_512, ck.CKM_SHA3_512_RSA_PKCS, ck.CKM_SHA3_512_RSA_PKCS_PSS},
}

func rsaInfo(flags uint64) ck.MechanismInfo {
	return ck.MechanismInfo{MinKeySize: rsaMinBits, MaxKeySize: rsaMaxBits, Flags: flags}
}

func init() {
	RegisterKeyType(&KeyTypeSpec{Type: ck.CKK_RSA, Rules: rsaRules, Check: rsaCheck, PKCS8: rsaPKCS8,
		ParsePKCS8: rsaParsePKCS8})
	keyTypes := []ck.KeyType{ck.CKK_RSA}
	Register(&Spec{
		Type:            ck.CKM_RSA_PKCS_KEY_PAIR_GEN,
		Info:            ck.MechanismInfo{MinKeySize: rsaGenMinBits, MaxKeySize: rsaGenMaxBits, Flags: ck.CKF_GENERATE_KEY_PAIR},
		GenKeyType:      ck.CKK_RSA,
		GenerateKeyPair: rsaGenerateKeyPair,
	})
	all := uint64(ck.CKF_ENCRYPT | ck.CKF_DECRYPT | ck.CKF_SIGN | ck.CKF_VERIFY | ck.CKF_SIGN_RECOVER |
		ck.CKF_VERIFY_RECOVER | ck.CKF_WRAP | ck.CKF_UNWRAP)
	Register(&Spec{
		Type: ck.CKM_RSA_PKCS, Info: rsaInfo(all), KeyTypes: keyTypes,
		Encrypt: rsaPKCSEncrypt, Decrypt: rsaPKCSDecrypt, Sign: rsaPKCSSign, Verify: rsaPKCSVerify,
		SignRecover: rsaPKCSSignRecover, VerifyRecover: rsaPKCSVerifyRecover, Wrap: rsaPKCSWrap, Unwrap: rsaPKCSUnwrap,
	})
	Register(&Spec{
		Type: ck.CKM_RSA_X_509, Info: rsaInfo(all), KeyTypes: keyTypes,
		Encrypt: rsaX509Encrypt, Decrypt: rsaX509Decrypt, Sign: rsaX509Sign, Verify: rsaX509Verify,
		SignRecover: rsaX509SignRecover, VerifyRecover: rsaX509VerifyRecover, Wrap: rsaX509Wrap, Unwrap: rsaX509Unwrap,
		// Raw RSA unwraps a modulus-sized block, the key at its end.
		UnwrapLen: UnwrapTrailing,
	})
	Register(&Spec{
		Type: ck.CKM_RSA_PKCS_PSS, Info: rsaInfo(ck.CKF_SIGN | ck.CKF_VERIFY), KeyTypes: keyTypes,
		Sign: rsaPSSSign(0), Verify: rsaPSSVerify(0),
	})
	Register(&Spec{
		Type: ck.CKM_RSA_PKCS_OAEP, Info: rsaInfo(ck.CKF_ENCRYPT | ck.CKF_DECRYPT | ck.CKF_WRAP | ck.CKF_UNWRAP),
		KeyTypes: keyTypes,
		Encrypt:  rsaOAEPEncrypt, Decrypt: rsaOAEPDecrypt, Wrap: rsaOAEPWrap, Unwrap: rsaOAEPUnwrap,
	})
	for _, m := range rsaHashMechs {
		Register(&Spec{
			Type: m.pkcs, Info: rsaInfo(ck.CKF_SIGN | ck.CKF_VERIFY), KeyTypes: keyTypes,
			Sign: rsaHashPKCSSign(m.h), Verify: rsaHashPKCSVerify(m.h),
		})
		Register(&Spec{
			Type: m.pss, Info: rsaInfo(ck.CKF_SIGN | ck.CKF_VERIFY), KeyTypes: keyTypes,
			Sign: rsaPSSSign(m.h), Verify: rsaPSSVerify(m.h),
		})
	}
}
