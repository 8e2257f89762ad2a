package mech

import (
	"crypto/subtle"
	"math/big"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// CKM_RSA_X_509: raw RSA. Input of at most k bytes, as an integer below n; output always k bytes.

// rsaX509PublicFunc is the raw public operation with the given errors for a long or out-of-range input.
func rsaX509PublicFunc(p Param, k *Key, lenErr, valErr ck.RV) (rsaSingle, error) {
	pub, err := rsaInit(p, k, rsaPublicOf)
	if err != nil {
		return nil, err
	}
	return rsaSingle(func(in []byte) ([]byte, error) {
		if len(in) > pub.Size() {
			return nil, lenErr
		}
		c, ok := rsaRawPublic(pub, in)
		if !ok {
			return nil, valErr
		}
		return rsaBytes(c, pub.Size()), nil
	}), nil
}

// rsaX509PrivateFunc is the raw private operation with the given errors for a long or out-of-range input.
func rsaX509PrivateFunc(p Param, k *Key, exact bool, lenErr, valErr ck.RV) (rsaSingle, error) {
	priv, err := rsaInit(p, k, rsaPrivateOf)
	if err != nil {
		return nil, err
	}
	size := priv.size()
	return rsaSingle(func(in []byte) ([]byte, error) {
		if len(in) > size || (exact && len(in) != size) {
			return nil, lenErr
		}
		x := new(big.Int).SetBytes(in)
		if x.Cmp(priv.pub.N) >= 0 {
			return nil, valErr
		}
		m, err := priv.ops.raw(x)
		if err != nil {
			return nil, err
		}
		defer rsaWipe(m)
		return rsaBytes(m, size), nil
	}), nil
}

func rsaX509Encrypt(p Param, k *Key) (Operation, error) {
	return rsaOp(rsaX509PublicFunc(p, k, ck.CKR_DATA_LEN_RANGE, ck.CKR_DATA_INVALID))
}

func rsaX509Decrypt(p Param, k *Key) (Operation, error) {
	return rsaOp(rsaX509PrivateFunc(p, k, true, ck.CKR_ENCRYPTED_DATA_LEN_RANGE, ck.CKR_ENCRYPTED_DATA_INVALID))
}

func rsaX509Sign(p Param, k *Key) (Operation, error) {
	return rsaOp(rsaX509PrivateFunc(p, k, false, ck.CKR_DATA_LEN_RANGE, ck.CKR_DATA_INVALID))
}

func rsaX509SignRecover(p Param, k *Key) (Single, error) {
	return rsaSingleOf(rsaX509PrivateFunc(p, k, false, ck.CKR_DATA_LEN_RANGE, ck.CKR_DATA_INVALID))
}

func rsaX509Verify(p Param, k *Key) (Verifier, error) {
	pub, err := rsaInit(p, k, rsaPublicOf)
	if err != nil {
		return nil, err
	}
	return rsaSingleVerifier(func(data, sig []byte) error {
		size := pub.Size()
		if len(data) > size {
			return ck.CKR_DATA_LEN_RANGE
		}
		em, err := rsaOpenSignature(pub, sig)
		if err != nil {
			return err
		}
		want := make([]byte, size)
		copy(want[size-len(data):], data)
		if subtle.ConstantTimeCompare(em, want) != 1 {
			return ck.CKR_SIGNATURE_INVALID
		}
		return nil
	}), nil
}

func rsaX509VerifyRecover(p Param, k *Key) (Single, error) {
	pub, err := rsaInit(p, k, rsaPublicOf)
	if err != nil {
		return nil, err
	}
	return rsaSingle(func(sig []byte) ([]byte, error) { return rsaOpenSignature(pub, sig) }), nil
}

func rsaX509Wrap(p Param, wrapping *Key, plain []byte) ([]byte, error) {
	return rsaRun(plain)(rsaX509PublicFunc(p, wrapping, ck.CKR_KEY_SIZE_RANGE, ck.CKR_KEY_SIZE_RANGE))
}

// rsaX509Unwrap returns all k bytes of the raw decryption: the key value is their tail, as long as the
// template says (the specification leaves the cut to the caller of the mechanism).
func rsaX509Unwrap(p Param, unwrapping *Key, wrapped []byte) ([]byte, error) {
	return rsaRun(wrapped)(rsaX509PrivateFunc(p, unwrapping, true, ck.CKR_WRAPPED_KEY_LEN_RANGE, ck.CKR_WRAPPED_KEY_INVALID))
}
