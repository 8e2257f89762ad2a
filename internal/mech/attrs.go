package mech

import (
	"encoding/binary"
	"math/big"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// ULong encodes a CK_ULONG attribute value.
func ULong(v uint64) []byte { return binary.NativeEndian.AppendUint64(nil, v) }

// GetULong decodes a CK_ULONG attribute; ok is false when it is absent or not 8 bytes.
func GetULong(a Attrs, t ck.AttributeType) (uint64, bool) {
	v, present := a[t]
	if !present || len(v) != 8 {
		return 0, false
	}
	return binary.NativeEndian.Uint64(v), true
}

// GetBool decodes a CK_BBOOL attribute (false when absent).
func GetBool(a Attrs, t ck.AttributeType) bool {
	v := a[t]
	return len(v) == 1 && v[0] != 0
}

// GetBig decodes a big-endian integer attribute (CKA_MODULUS ...); nil when absent or empty.
func GetBig(a Attrs, t ck.AttributeType) *big.Int {
	v, ok := a[t]
	if !ok || len(v) == 0 {
		return nil
	}
	return new(big.Int).SetBytes(v)
}

// RawULong decodes a CK_ULONG at offset off of a raw C structure parameter; ok is false if it is short.
func RawULong(raw []byte, off int) (uint64, bool) {
	if off < 0 || len(raw) < off+8 {
		return 0, false
	}
	return binary.NativeEndian.Uint64(raw[off:]), true
}

// fixedKeyLen is the value length of secret key types whose length the type fixes; the key-deriving
// families (ECDH, HKDF, PBKDF2, SP 800-108) size their output by it when the template has no CKA_VALUE_LEN.
// Shared here so that every family agrees.
var fixedKeyLen = map[ck.KeyType]int{
	ck.CKK_DES:       8,
	ck.CKK_DES2:      16,
	ck.CKK_DES3:      24,
	ck.CKK_GOST28147: 32,
	ck.CKK_CHACHA20:  32,
	ck.CKK_POLY1305:  32,
	ck.CKK_SALSA20:   32,
}
