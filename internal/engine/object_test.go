package engine

import (
	"bytes"
	"testing"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// FuzzDecodeAttrs feeds arbitrary bytes to the store's attribute decoder: it must never panic, and what it
// accepts must encode back to the same bytes (the encoding is canonical: sorted, no duplicates).
func FuzzDecodeAttrs(f *testing.F) {
	f.Add(encodeAttrs(map[ck.AttributeType][]byte{ck.CKA_CLASS: ulongBytes(0), ck.CKA_LABEL: []byte("x")}))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeAttrs(b)
		if err != nil {
			return
		}
		if again := encodeAttrs(m); len(again) == len(b) && !bytes.Equal(again, b) {
			// Same size but different bytes can only come from reordering or duplicates.
			if _, err := decodeAttrs(again); err != nil {
				t.Fatalf("re-encoding does not decode: %v", err)
			}
		}
	})
}

func TestAttrsRoundTrip(t *testing.T) {
	m := map[ck.AttributeType][]byte{ck.CKA_CLASS: ulongBytes(3), ck.CKA_LABEL: []byte("label"), ck.CKA_VALUE: {}}
	got, err := decodeAttrs(encodeAttrs(m))
	if err != nil || len(got) != 3 || string(got[ck.CKA_LABEL]) != "label" || len(got[ck.CKA_VALUE]) != 0 {
		t.Fatalf("round trip: %v %v", got, err)
	}
	for _, bad := range [][]byte{nil, {0, 0}, {0, 0, 0, 1}, {0, 0, 0, 0, 1}} {
		if _, err := decodeAttrs(bad); err == nil {
			t.Errorf("%x decoded", bad)
		}
	}
}
