package mech

import (
	"crypto/rand"
	"crypto/rsa"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// CKM_RSA_PKCS_OAEP: CK_RSA_PKCS_OAEP_PARAMS arrives decoded (hashAlg, mgf, source, pSourceData). The
// label is pSourceData; source must be CKZ_DATA_SPECIFIED, or 0 with no data (a zeroed structure).

func rsaParseOAEP(p Param) (*rsa.OAEPOptions, error) {
	if !p.Present || p.S == nil || p.S.RSAPKCSOAEPParams == nil {
		return nil, ck.CKR_MECHANISM_PARAM_INVALID
	}
	h, ok := HashOf(ck.MechanismType(p.S.RSAPKCSOAEPParams.HashAlg))
	if !ok {
		return nil, ck.CKR_MECHANISM_PARAM_INVALID
	}
	mh, ok := rsaMGFs[p.S.RSAPKCSOAEPParams.MGF]
	if !ok {
		return nil, ck.CKR_MECHANISM_PARAM_INVALID
	}
	label := p.S.RSAPKCSOAEPParams.SourceData
	switch src := p.S.RSAPKCSOAEPParams.Source; {
	case src == ck.CKZ_DATA_SPECIFIED:
	case src == 0 && len(label) == 0:
	default:
		return nil, ck.CKR_MECHANISM_PARAM_INVALID
	}
	return &rsa.OAEPOptions{Hash: h, MGFHash: mh, Label: append([]byte{}, label...)}, nil
}

// rsaOAEPMax returns the longest message OAEP takes with a k-byte modulus, or an error if none fits.
func rsaOAEPMax(opts *rsa.OAEPOptions, k int) (int, error) {
	m := k - 2*opts.Hash.Size() - 2
	if m < 0 {
		return 0, ck.CKR_KEY_SIZE_RANGE
	}
	return m, nil
}

// rsaOAEPInit is the prologue of the OAEP operations: the parameter is parsed first, then the key fetched
// with of, then its modulus (pub gives its public half) checked to leave room for a message. limit is the
// longest message.
func rsaOAEPInit[K any](p Param, k *Key, of func(*Key) (K, error), pub func(K) *rsa.PublicKey) (key K, opts *rsa.OAEPOptions, limit int, err error) {
	var none K
	if opts, err = rsaParseOAEP(p); err != nil {
		return none, nil, 0, err
	}
	if key, err = of(k); err != nil {
		return none, nil, 0, err
	}
	if limit, err = rsaOAEPMax(opts, pub(key).Size()); err != nil {
		return none, nil, 0, err
	}
	return key, opts, limit, nil
}

// rsaOAEPEncryptFunc encrypts (C_Encrypt, C_WrapKey); lenErr is for a long input.
func rsaOAEPEncryptFunc(p Param, k *Key, lenErr ck.RV) (rsaSingle, error) {
	pub, opts, limit, err := rsaOAEPInit(p, k, rsaPublicOf, rsaSelf)
	if err != nil {
		return nil, err
	}
	return rsaSingle(func(in []byte) ([]byte, error) {
		if len(in) > limit {
			return nil, lenErr
		}
		out, err := rsa.EncryptOAEPWithOptions(rand.Reader, pub, in, opts)
		if err != nil {
			return nil, ck.CKR_FUNCTION_FAILED
		}
		return out, nil
	}), nil
}

// rsaOAEPDecryptFunc decrypts (C_Decrypt, C_UnwrapKey) with the given errors for an input not k bytes long
// or not well formed.
func rsaOAEPDecryptFunc(p Param, k *Key, lenErr, valErr ck.RV) (rsaSingle, error) {
	priv, opts, _, err := rsaOAEPInit(p, k, rsaFullPrivateOf, (*rsaPrivate).public)
	if err != nil {
		return nil, err
	}
	return rsaSingle(func(in []byte) ([]byte, error) {
		if len(in) != priv.size() {
			return nil, lenErr
		}
		out, err := priv.ops.decryptOAEP(in, opts)
		if err != nil {
			return nil, valErr
		}
		return out, nil
	}), nil
}

func rsaOAEPEncrypt(p Param, k *Key) (Operation, error) {
	return rsaOp(rsaOAEPEncryptFunc(p, k, ck.CKR_DATA_LEN_RANGE))
}

func rsaOAEPDecrypt(p Param, k *Key) (Operation, error) {
	return rsaOp(rsaOAEPDecryptFunc(p, k, ck.CKR_ENCRYPTED_DATA_LEN_RANGE, ck.CKR_ENCRYPTED_DATA_INVALID))
}

func rsaOAEPWrap(p Param, wrapping *Key, plain []byte) ([]byte, error) {
	return rsaRun(plain)(rsaOAEPEncryptFunc(p, wrapping, ck.CKR_KEY_SIZE_RANGE))
}

func rsaOAEPUnwrap(p Param, unwrapping *Key, wrapped []byte) ([]byte, error) {
	return rsaRun(wrapped)(rsaOAEPDecryptFunc(p, unwrapping, ck.CKR_WRAPPED_KEY_LEN_RANGE, ck.CKR_WRAPPED_KEY_INVALID))
}
