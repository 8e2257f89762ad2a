package main

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/asn1"
	"fmt"
	"hash"
)

// Encrypted PKCS#8 (RFC 5958, RFC 8018 PBES2 with PBKDF2 and AES-CBC), as openssl pkcs8 -topk8 writes.
var (
	oidPBES2      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBKDF2     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	oidHMACSHA1   = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 7}
	oidHMACSHA256 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9}
	oidHMACSHA384 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 10}
	oidHMACSHA512 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 11}
	oidAES128CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 2}
	oidAES192CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 22}
	oidAES256CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
)

// algoID is an AlgorithmIdentifier.
type algoID struct {
	Algorithm  asn1.ObjectIdentifier
	Parameters asn1.RawValue `asn1:"optional"`
}

// encryptedPKI is an EncryptedPrivateKeyInfo (RFC 5958).
type encryptedPKI struct {
	Algo algoID
	Data []byte
}

// pbes2Params are PBES2-params (RFC 8018).
type pbes2Params struct {
	KDF algoID
	Enc algoID
}

// pbkdf2Params are PBKDF2-params (RFC 8018).
type pbkdf2Params struct {
	Salt      []byte
	Iter      int
	KeyLength int    `asn1:"optional"`
	PRF       algoID `asn1:"optional"`
}

// decryptPKCS8 decrypts an EncryptedPrivateKeyInfo with the passphrase pw into the PKCS#8 PrivateKeyInfo;
// PBES2 with PBKDF2 (HMAC-SHA-1/256/384/512) and AES-CBC only.
func decryptPKCS8(der, pw []byte) ([]byte, error) {
	unsupported := func(what string) ([]byte, error) {
		return nil, failf("import: encrypted private key: %s is not supported (re-encrypt with: openssl pkcs8 -topk8 -v2 aes-256-cbc)", what)
	}
	var e encryptedPKI
	if rest, err := asn1.Unmarshal(der, &e); err != nil || len(rest) != 0 {
		return nil, failf("import: the encrypted private key does not parse")
	}
	if !e.Algo.Algorithm.Equal(oidPBES2) {
		return unsupported(fmt.Sprintf("the encryption scheme %v", e.Algo.Algorithm))
	}
	var p pbes2Params
	if _, err := asn1.Unmarshal(e.Algo.Parameters.FullBytes, &p); err != nil {
		return nil, failf("import: the PBES2 parameters do not parse")
	}
	if !p.KDF.Algorithm.Equal(oidPBKDF2) {
		return unsupported(fmt.Sprintf("the key derivation %v (scrypt?)", p.KDF.Algorithm))
	}
	var kp pbkdf2Params
	if _, err := asn1.Unmarshal(p.KDF.Parameters.FullBytes, &kp); err != nil {
		return nil, failf("import: the PBKDF2 parameters do not parse")
	}
	var h func() hash.Hash
	switch prf := kp.PRF.Algorithm; {
	case len(prf) == 0 || prf.Equal(oidHMACSHA1):
		h = sha1.New
	case prf.Equal(oidHMACSHA256):
		h = sha256.New
	case prf.Equal(oidHMACSHA384):
		h = sha512.New384
	case prf.Equal(oidHMACSHA512):
		h = sha512.New
	default:
		return unsupported(fmt.Sprintf("the PBKDF2 PRF %v", prf))
	}
	var keyLen int
	switch {
	case p.Enc.Algorithm.Equal(oidAES128CBC):
		keyLen = 16
	case p.Enc.Algorithm.Equal(oidAES192CBC):
		keyLen = 24
	case p.Enc.Algorithm.Equal(oidAES256CBC):
		keyLen = 32
	default:
		return unsupported(fmt.Sprintf("the cipher %v", p.Enc.Algorithm))
	}
	var iv []byte
	if _, err := asn1.Unmarshal(p.Enc.Parameters.FullBytes, &iv); err != nil || len(iv) != aes.BlockSize {
		return nil, failf("import: the cipher's IV does not parse")
	}
	if kp.Iter <= 0 || kp.Iter > 10_000_000 {
		return nil, failf("import: PBKDF2 iteration count %d out of range", kp.Iter)
	}
	key, err := pbkdf2.Key(h, string(pw), kp.Salt, kp.Iter, keyLen)
	if err != nil {
		return nil, failf("import: deriving the key: %v", err)
	}
	block, _ := aes.NewCipher(key)
	clear(key)
	if len(e.Data) == 0 || len(e.Data)%aes.BlockSize != 0 {
		return nil, failf("import: the encrypted private key has a bad length")
	}
	plain := make([]byte, len(e.Data))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(plain, e.Data)
	n := int(plain[len(plain)-1])
	if n == 0 || n > aes.BlockSize || !bytes.Equal(plain[len(plain)-n:], bytes.Repeat([]byte{byte(n)}, n)) {
		clear(plain)
		return nil, authf("import: cannot decrypt the private key: wrong passphrase or damaged file")
	}
	return plain[:len(plain)-n], nil
}
