package cryptoki

import "encoding/binary"

// Attribute values: the one set of encoders and decoders of the fixed layouts (CK_ULONG, CK_BBOOL, CK_DATE)
// that the daemon, the mechanisms and the Go client share. A CK_ULONG is 8 bytes in host order, as the wire
// carries every CK_ULONG at 64 bits (the C client widens and narrows them); a CK_BBOOL is one byte.

// ULong encodes a CK_ULONG attribute value.
func ULong(v uint64) []byte { return binary.NativeEndian.AppendUint64(nil, v) }

// DecodeULong decodes a CK_ULONG attribute value; ok is false if the value is not 8 bytes.
func DecodeULong(v []byte) (uint64, bool) {
	if len(v) != 8 {
		return 0, false
	}
	return binary.NativeEndian.Uint64(v), true
}

// BBool encodes a CK_BBOOL attribute value: CK_TRUE or CK_FALSE.
func BBool(b bool) []byte {
	if b {
		return []byte{1}
	}
	return []byte{0}
}

// DecodeBBool decodes a CK_BBOOL attribute value: true for one non-zero byte, false for anything else
// (CK_FALSE, an absent or malformed value).
func DecodeBBool(v []byte) bool { return len(v) == 1 && v[0] != 0 }

// ValidDate reports whether v is a CK_DATE attribute value: empty (no date) or eight ASCII digits YYYYMMDD.
func ValidDate(v []byte) bool {
	if len(v) != 0 && len(v) != 8 {
		return false
	}
	for _, c := range v {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// MapULong decodes the CK_ULONG attribute t of an attribute map; ok is false when it is absent or not
// 8 bytes.
func MapULong(a map[AttributeType][]byte, t AttributeType) (uint64, bool) { return DecodeULong(a[t]) }

// MapBBool decodes the CK_BBOOL attribute t of an attribute map (false when absent).
func MapBBool(a map[AttributeType][]byte, t AttributeType) bool { return DecodeBBool(a[t]) }
