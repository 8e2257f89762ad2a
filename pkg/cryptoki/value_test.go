package cryptoki

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// TestValueHelpers holds the attribute-value layouts every part of Keyward reads and writes: a CK_ULONG is 8
// bytes in host order and nothing else decodes, a CK_BBOOL is one byte, a CK_DATE is empty or YYYYMMDD.
func TestValueHelpers(t *testing.T) {
	for _, v := range []uint64{0, 1, 0x1234, 1<<64 - 1} {
		b := ULong(v)
		if len(b) != 8 || binary.NativeEndian.Uint64(b) != v {
			t.Errorf("ULong(%#x) = %x", v, b)
		}
		if got, ok := DecodeULong(b); !ok || got != v {
			t.Errorf("DecodeULong(ULong(%#x)) = %#x, %v", v, got, ok)
		}
	}
	for _, bad := range [][]byte{nil, {}, {1, 2, 3, 4}, make([]byte, 7), make([]byte, 9)} {
		if _, ok := DecodeULong(bad); ok {
			t.Errorf("DecodeULong(%x) accepted %d bytes", bad, len(bad))
		}
	}
	if !bytes.Equal(BBool(true), []byte{1}) || !bytes.Equal(BBool(false), []byte{0}) {
		t.Errorf("BBool: %x %x", BBool(true), BBool(false))
	}
	for v, want := range map[string]bool{"": false, "\x00": false, "\x01": true, "\x02": true, "\x01\x01": false} {
		if DecodeBBool([]byte(v)) != want {
			t.Errorf("DecodeBBool(%x) = %v", v, !want)
		}
	}
	for v, want := range map[string]bool{"": true, "20261208": true, "2026120": false, "2026-12-": false,
		"202612081": false, "2026120x": false} {
		if ValidDate([]byte(v)) != want {
			t.Errorf("ValidDate(%q) = %v", v, !want)
		}
	}
	m := map[AttributeType][]byte{CKA_CLASS: ULong(uint64(CKO_SECRET_KEY)), CKA_TOKEN: {1}, CKA_LABEL: []byte("x")}
	if v, ok := MapULong(m, CKA_CLASS); !ok || ObjectClass(v) != CKO_SECRET_KEY {
		t.Errorf("MapULong(CKA_CLASS) = %v, %v", v, ok)
	}
	if _, ok := MapULong(m, CKA_KEY_TYPE); ok {
		t.Error("MapULong of an absent attribute: ok")
	}
	if _, ok := MapULong(m, CKA_LABEL); ok {
		t.Error("MapULong of a 1-byte value: ok")
	}
	if !MapBBool(m, CKA_TOKEN) || MapBBool(m, CKA_PRIVATE) {
		t.Error("MapBBool: wrong values")
	}
	if a := NewAttribute(CKA_TOKEN, true); !a.Bool() {
		t.Error("Attribute.Bool of CK_TRUE: false")
	}
	if v, ok := NewAttribute(CKA_VALUE_LEN, 32).Uint(); !ok || v != 32 {
		t.Errorf("Attribute.Uint: %v, %v", v, ok)
	}
}
