package mech

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"math/big"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// CKM_RSA_PKCS: PKCS #1 v1.5 block formats, data at most k-11 bytes.

// rsaPKCSEncryptFunc encrypts with block type 2 (C_Encrypt, C_WrapKey); lenErr is for a long input.
func rsaPKCSEncryptFunc(p Param, k *Key, lenErr ck.RV) (rsaSingle, error) {
	pub, err := rsaInit(p, k, rsaPublicOf)
	if err != nil {
		return nil, err
	}
	return rsaSingle(func(in []byte) ([]byte, error) {
		if len(in) > pub.Size()-11 {
			return nil, lenErr
		}
		out, err := rsa.EncryptPKCS1v15(rand.Reader, pub, in) //lint:ignore SA1019 CKM_RSA_PKCS is a PKCS#11 mechanism applications use
		if err != nil {
			return nil, ck.CKR_FUNCTION_FAILED
		}
		return out, nil
	}), nil
}

// rsaPKCSDecryptFunc decrypts block type 2 (C_Decrypt, C_UnwrapKey) with the given errors for an input not
// k bytes long or not well padded.
func rsaPKCSDecryptFunc(p Param, k *Key, lenErr, valErr ck.RV) (rsaSingle, error) {
	key, err := rsaInit(p, k, rsaGoKeyOf)
	if err != nil {
		return nil, err
	}
	return rsaSingle(func(in []byte) ([]byte, error) {
		if len(in) != key.Size() {
			return nil, lenErr
		}
		// CKM_RSA_PKCS decryption answers CKR_ENCRYPTED_DATA_INVALID on bad padding, as the specification says;
		// that is a padding oracle by nature, which is why applications should prefer CKM_RSA_PKCS_OAEP.
		out, err := rsa.DecryptPKCS1v15(nil, key, in) //lint:ignore SA1019 as above
		if err != nil {
			return nil, valErr
		}
		return out, nil
	}), nil
}

func rsaPKCSEncrypt(p Param, k *Key) (Operation, error) {
	return rsaOp(rsaPKCSEncryptFunc(p, k, ck.CKR_DATA_LEN_RANGE))
}

func rsaPKCSDecrypt(p Param, k *Key) (Operation, error) {
	return rsaOp(rsaPKCSDecryptFunc(p, k, ck.CKR_ENCRYPTED_DATA_LEN_RANGE, ck.CKR_ENCRYPTED_DATA_INVALID))
}

// rsaPKCSSignFunc signs data (usually a DigestInfo) with block type 1; also C_SignRecover.
func rsaPKCSSignFunc(p Param, k *Key) (rsaSingle, error) {
	priv, err := rsaInit(p, k, rsaPrivateOf)
	if err != nil {
		return nil, err
	}
	size := priv.size()
	return rsaSingle(func(in []byte) ([]byte, error) {
		if len(in) > size-11 {
			return nil, ck.CKR_DATA_LEN_RANGE
		}
		if priv.key != nil {
			out, err := priv.ops.signPKCS1v15(0, in)
			if err != nil {
				return nil, ck.CKR_FUNCTION_FAILED
			}
			return out, nil
		}
		// Public exponent unknown: EM = 00 01 FF..FF 00 || data, raised to d.
		em := make([]byte, size)
		em[1] = 1
		for i := 2; i < size-len(in)-1; i++ {
			em[i] = 0xff
		}
		copy(em[size-len(in):], in)
		s, err := priv.raw(new(big.Int).SetBytes(em))
		if err != nil {
			return nil, err
		}
		return rsaBytes(s, size), nil
	}), nil
}

func rsaPKCSSign(p Param, k *Key) (Operation, error) { return rsaOp(rsaPKCSSignFunc(p, k)) }

func rsaPKCSSignRecover(p Param, k *Key) (Single, error) { return rsaSingleOf(rsaPKCSSignFunc(p, k)) }

func rsaPKCSVerify(p Param, k *Key) (Verifier, error) {
	pub, err := rsaInit(p, k, rsaPublicOf)
	if err != nil {
		return nil, err
	}
	return rsaSingleVerifier(func(data, sig []byte) error {
		if len(data) > pub.Size()-11 {
			return ck.CKR_DATA_LEN_RANGE
		}
		if len(sig) != pub.Size() {
			return ck.CKR_SIGNATURE_LEN_RANGE
		}
		if rsa.VerifyPKCS1v15(pub, 0, data, sig) != nil {
			return ck.CKR_SIGNATURE_INVALID
		}
		return nil
	}), nil
}

func rsaPKCSVerifyRecover(p Param, k *Key) (Single, error) {
	pub, err := rsaInit(p, k, rsaPublicOf)
	if err != nil {
		return nil, err
	}
	return rsaSingle(func(sig []byte) ([]byte, error) {
		em, err := rsaOpenSignature(pub, sig)
		if err != nil {
			return nil, err
		}
		// EM = 00 01 PS 00 D, PS at least 8 bytes of FF.
		size := len(em)
		if em[0] != 0 || em[1] != 1 {
			return nil, ck.CKR_SIGNATURE_INVALID
		}
		i := 2
		for i < size && em[i] == 0xff {
			i++
		}
		if i-2 < 8 || i == size || em[i] != 0 {
			return nil, ck.CKR_SIGNATURE_INVALID
		}
		return em[i+1:], nil
	}), nil
}

func rsaPKCSWrap(p Param, wrapping *Key, plain []byte) ([]byte, error) {
	return rsaRun(plain)(rsaPKCSEncryptFunc(p, wrapping, ck.CKR_KEY_SIZE_RANGE))
}

func rsaPKCSUnwrap(p Param, unwrapping *Key, wrapped []byte) ([]byte, error) {
	return rsaRun(wrapped)(rsaPKCSDecryptFunc(p, unwrapping, ck.CKR_WRAPPED_KEY_LEN_RANGE, ck.CKR_WRAPPED_KEY_INVALID))
}

// CKM_<hash>_RSA_PKCS: PKCS #1 v1.5 signatures over a DigestInfo of the hashed data.

func rsaHashPKCSSign(h crypto.Hash) func(p Param, k *Key) (Operation, error) {
	return func(p Param, k *Key) (Operation, error) {
		priv, err := rsaInit(p, k, rsaFullPrivateOf)
		if err != nil {
			return nil, err
		}
		return &rsaHashSigner{h: NewHash(h), sign: func(d []byte) ([]byte, error) {
			out, err := priv.ops.signPKCS1v15(h, d)
			if err != nil {
				return nil, ck.CKR_FUNCTION_FAILED
			}
			return out, nil
		}}, nil
	}
}

func rsaHashPKCSVerify(h crypto.Hash) func(p Param, k *Key) (Verifier, error) {
	return func(p Param, k *Key) (Verifier, error) {
		pub, err := rsaInit(p, k, rsaPublicOf)
		if err != nil {
			return nil, err
		}
		return &rsaHashVerifier{h: NewHash(h), verify: func(d, sig []byte) error {
			if len(sig) != pub.Size() {
				return ck.CKR_SIGNATURE_LEN_RANGE
			}
			if rsa.VerifyPKCS1v15(pub, h, d, sig) != nil {
				return ck.CKR_SIGNATURE_INVALID
			}
			return nil
		}}, nil
	}
}
