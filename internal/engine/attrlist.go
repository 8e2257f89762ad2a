package engine

import (
	"encoding/binary"
	"iter"
	"math"
	"slices"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// attrList is an object's attribute set, held in one allocation to keep an in-memory object small (a Go map
// of a dozen or more attributes costs several times the values it holds). It is immutable once built: a
// change builds a new list, so whoever took the old one (a running operation, the index) keeps a consistent
// view. The only mutation is wipe, which zeroes the values of an object that is gone.
//
// Layout, in host byte order:
//
//	u32 n
//	n × (u64 type, u32 end)   sorted by type, no duplicates; end is the offset of the value's end in values
//	values                    back to back
type attrList struct {
	b []byte // a struct, not a named []byte, so that o.attrs[t] does not compile as a byte index
}

const (
	attrListHead  = 4
	attrListEntry = 12
)

// newAttrList builds the list of an attribute map. The values are copied.
func newAttrList(m map[ck.AttributeType][]byte) attrList {
	types := make([]ck.AttributeType, 0, len(m))
	size := 0
	for t, v := range m {
		types = append(types, t)
		size += len(v)
	}
	slices.Sort(types)
	base := attrListHead + attrListEntry*len(types)
	if uint64(size) > math.MaxUint32 {
		panic("engine: attribute values over 4 GiB")
	}
	b := make([]byte, base+size)
	binary.NativeEndian.PutUint32(b, uint32(len(types)))
	end := 0
	for i, t := range types {
		end += copy(b[base+end:], m[t])
		e := b[attrListHead+attrListEntry*i:]
		binary.NativeEndian.PutUint64(e, uint64(t))
		binary.NativeEndian.PutUint32(e[8:], uint32(end))
	}
	return attrList{b}
}

// len returns the number of attributes.
func (l attrList) len() int {
	if len(l.b) < attrListHead {
		return 0
	}
	return int(binary.NativeEndian.Uint32(l.b))
}

func (l attrList) typeAt(i int) ck.AttributeType {
	return ck.AttributeType(binary.NativeEndian.Uint64(l.b[attrListHead+attrListEntry*i:]))
}

func (l attrList) endAt(i int) int {
	return int(binary.NativeEndian.Uint32(l.b[attrListHead+attrListEntry*i+8:]))
}

// valueAt returns value i, capped so that an append cannot reach the next value.
func (l attrList) valueAt(n, i int) []byte {
	base := attrListHead + attrListEntry*n
	start := 0
	if i > 0 {
		start = l.endAt(i - 1)
	}
	end := l.endAt(i)
	return l.b[base+start : base+end : base+end]
}

// get returns the value of attribute t (never nil when present). The value must not be modified.
func (l attrList) get(t ck.AttributeType) ([]byte, bool) {
	n := l.len()
	lo, hi := 0, n
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if l.typeAt(mid) < t {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo < n && l.typeAt(lo) == t {
		return l.valueAt(n, lo), true
	}
	return nil, false
}

// value returns the value of attribute t, nil when absent.
func (l attrList) value(t ck.AttributeType) []byte {
	v, _ := l.get(t)
	return v
}

// all yields the attributes in ascending type order. The values must not be modified.
func (l attrList) all() iter.Seq2[ck.AttributeType, []byte] {
	return func(yield func(ck.AttributeType, []byte) bool) {
		n := l.len()
		for i := range n {
			if !yield(l.typeAt(i), l.valueAt(n, i)) {
				return
			}
		}
	}
}

// attrMap returns the attributes as a map whose values share the list's memory: the map may be changed,
// the values must not be.
func (l attrList) attrMap() map[ck.AttributeType][]byte {
	m := make(map[ck.AttributeType][]byte, l.len())
	for t, v := range l.all() {
		m[t] = v
	}
	return m
}

// encode returns the store encoding of the attributes, the same bytes as encodeAttrs(l.attrMap()).
func (l attrList) encode() []byte {
	n := l.len()
	out := make([]byte, 0, len(l.b)) // the same header, entry and value sizes
	out = binary.BigEndian.AppendUint32(out, uint32(n))
	for t, v := range l.all() {
		out = binary.BigEndian.AppendUint64(out, uint64(t))
		out = binary.BigEndian.AppendUint32(out, uint32(len(v)))
		out = append(out, v...)
	}
	return out
}

// wipe zeroes the values (and the rest) of a list nobody will read again.
func (l attrList) wipe() {
	clear(l.b)
}
