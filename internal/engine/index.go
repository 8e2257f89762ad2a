package engine

import (
	"hash/maphash"
	"iter"
	"maps"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// indexed are the attributes the per-token index keys objects by. A find template naming one of them looks
// at the matching objects only, so a find-by-label or find-by-id does not depend on how many objects the
// token holds.
var indexed = [...]ck.AttributeType{ck.CKA_LABEL, ck.CKA_ID, ck.CKA_UNIQUE_ID, ck.CKA_CLASS}

type objSet map[*object]struct{}

// objIndex indexes a token's objects in memory.
//
// It keys objects by a hash of the attribute value rather than by the value, so it keeps no copy of the
// values the objects already hold; a hash collision only puts more objects in a candidate set, which the
// find compares attribute by attribute anyway. Most values (labels, ids, unique ids) belong to one object:
// such a value costs one map slot pointing at the object, and only a value shared by several objects has a
// set of its own.
type objIndex struct {
	objs objSet
	seed maphash.Seed
	one  [len(indexed)]map[uint64]*object // a hash only one object has
	many [len(indexed)]map[uint64]objSet  // a hash several objects have (never also in one)
}

func newObjIndex() *objIndex {
	ix := &objIndex{objs: objSet{}, seed: maphash.MakeSeed()}
	for i := range indexed {
		ix.one[i] = map[uint64]*object{}
		ix.many[i] = map[uint64]objSet{}
	}
	return ix
}

func (ix *objIndex) hash(v []byte) uint64 {
	return maphash.Bytes(ix.seed, v)
}

func (ix *objIndex) add(o *object) {
	ix.objs[o] = struct{}{}
	for i, t := range indexed {
		v, ok := o.attrs.get(t)
		if !ok {
			continue
		}
		h := ix.hash(v)
		if s, ok := ix.many[i][h]; ok {
			s[o] = struct{}{}
		} else if p, ok := ix.one[i][h]; ok {
			if p != o {
				delete(ix.one[i], h)
				ix.many[i][h] = objSet{p: {}, o: {}}
			}
		} else {
			ix.one[i][h] = o
		}
	}
}

// remove drops o, whose attributes must be those it was added with.
func (ix *objIndex) remove(o *object) {
	delete(ix.objs, o)
	for i, t := range indexed {
		v, ok := o.attrs.get(t)
		if !ok {
			continue
		}
		h := ix.hash(v)
		if s, ok := ix.many[i][h]; ok {
			delete(s, o)
			if len(s) == 1 {
				delete(ix.many[i], h)
				for p := range s {
					ix.one[i][h] = p
				}
			}
		} else if ix.one[i][h] == o {
			delete(ix.one[i], h)
		}
	}
}

func (ix *objIndex) all() []*object {
	out := make([]*object, 0, len(ix.objs))
	for o := range ix.objs {
		out = append(out, o)
	}
	return out
}

// lookup returns the objects whose attribute number i may have value v, and how many there are.
func (ix *objIndex) lookup(i int, v []byte) (iter.Seq[*object], int) {
	h := ix.hash(v)
	if s, ok := ix.many[i][h]; ok {
		return maps.Keys(s), len(s)
	}
	if p, ok := ix.one[i][h]; ok {
		return func(yield func(*object) bool) { yield(p) }, 1
	}
	return func(func(*object) bool) {}, 0
}

// candidates returns the smallest set of objects the index can tell may match a template: a superset of
// the objects that match it, each once.
func (ix *objIndex) candidates(template []ck.Attribute) iter.Seq[*object] {
	best, n := maps.Keys(ix.objs), len(ix.objs)
	for _, a := range template {
		if a.Kind != ck.AttrValue || n == 0 {
			continue
		}
		for i, t := range indexed {
			if a.Type == t {
				if s, m := ix.lookup(i, a.Value); m < n {
					best, n = s, m
				}
				break
			}
		}
	}
	return best
}
