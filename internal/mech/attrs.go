package mech

import (
	"math/big"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// Attribute values are encoded and decoded by pkg/cryptoki (ck.ULong, ck.DecodeULong, ck.BBool ...), the one
// set the engine and the clients share; these read them out of a key's attribute map.

// GetULong decodes a CK_ULONG attribute; ok is false when it is absent or not 8 bytes (ck.MapULong).
func GetULong(a Attrs, t ck.AttributeType) (uint64, bool) { return ck.MapULong(a, t) }

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
	return ck.DecodeULong(raw[off : off+8])
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
