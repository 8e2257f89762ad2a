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

func TestAttrList(t *testing.T) {
	m := map[ck.AttributeType][]byte{
		ck.CKA_VALUE: []byte("value"), ck.CKA_CLASS: ulongBytes(3), ck.CKA_LABEL: []byte("label"),
		ck.CKA_ID: {}, ck.CKA_VENDOR_DEFINED | 7: {1}, ck.CKA_TOKEN: {1},
	}
	l := newAttrList(m)
	if l.len() != len(m) {
		t.Fatalf("len %d", l.len())
	}
	var prev ck.AttributeType
	n := 0
	for typ, v := range l.all() {
		if n > 0 && typ <= prev {
			t.Errorf("%v after %v", typ, prev)
		}
		if !bytes.Equal(v, m[typ]) {
			t.Errorf("%v: %q, want %q", typ, v, m[typ])
		}
		prev = typ
		n++
	}
	for typ, want := range m {
		v, ok := l.get(typ)
		if !ok || !bytes.Equal(v, want) || v == nil || cap(v) != len(v) {
			t.Errorf("get %v: %q %v (cap %d)", typ, v, ok, cap(v))
		}
	}
	for _, typ := range []ck.AttributeType{0xffff, ck.CKA_PRIVATE, ck.CKA_VENDOR_DEFINED | 8, ^ck.AttributeType(0)} {
		if v, ok := l.get(typ); ok || v != nil {
			t.Errorf("get %v: %q %v", typ, v, ok)
		}
	}
	if !bytes.Equal(l.encode(), encodeAttrs(m)) {
		t.Error("encode differs from encodeAttrs")
	}
	back := l.attrMap()
	if len(back) != len(m) || string(back[ck.CKA_LABEL]) != "label" {
		t.Errorf("attrMap %v", back)
	}
	m[ck.CKA_LABEL][0] = 'L' // the list holds its own copy
	if string(l.value(ck.CKA_LABEL)) != "label" {
		t.Error("list shares the map's values")
	}
	l.wipe()
	if l.len() != 0 {
		t.Error("wiped list not empty")
	}
	var zero attrList
	if zero.len() != 0 || zero.value(ck.CKA_CLASS) != nil || len(zero.encode()) != 4 {
		t.Error("zero list")
	}
	empty := newAttrList(nil)
	if empty.len() != 0 || !bytes.Equal(empty.encode(), encodeAttrs(nil)) {
		t.Error("empty list")
	}
}

func TestObjIndex(t *testing.T) {
	ix := newObjIndex()
	mk := func(label string) *object {
		return &object{attrs: newAttrList(map[ck.AttributeType][]byte{ck.CKA_CLASS: ulongBytes(0), ck.CKA_LABEL: []byte(label)})}
	}
	find := func(label string) int {
		n := 0
		for o := range ix.candidates([]ck.Attribute{ck.NewAttribute(ck.CKA_LABEL, label)}) {
			if string(o.attrs.value(ck.CKA_LABEL)) == label {
				n++
			}
		}
		return n
	}
	a, b, c := mk("a"), mk("a"), mk("c")
	for _, o := range []*object{a, b, c} {
		ix.add(o)
	}
	if find("a") != 2 || find("c") != 1 || find("x") != 0 || len(ix.all()) != 3 {
		t.Fatalf("a %d c %d x %d", find("a"), find("c"), find("x"))
	}
	ix.remove(a)
	if find("a") != 1 || len(ix.many[0]) != 0 || len(ix.one[0]) != 2 {
		t.Fatalf("after remove: a %d, %d shared, %d single", find("a"), len(ix.many[0]), len(ix.one[0]))
	}
	ix.remove(b)
	ix.remove(c)
	if find("a") != 0 || len(ix.one[0]) != 0 || len(ix.many[3]) != 0 || len(ix.one[3]) != 0 || len(ix.objs) != 0 {
		t.Fatal("index not empty")
	}
}
