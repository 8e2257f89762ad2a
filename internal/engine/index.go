package engine

import (
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// indexed are the attributes the per-token index keys objects by. A find template naming one of them looks
// at the matching objects only, so a find-by-label or find-by-id does not depend on how many objects the
// token holds.
var indexed = []ck.AttributeType{ck.CKA_LABEL, ck.CKA_ID, ck.CKA_UNIQUE_ID, ck.CKA_CLASS}

type objSet map[*object]struct{}

// objIndex indexes a token's objects in memory.
type objIndex struct {
	objs objSet
	by   map[ck.AttributeType]map[string]objSet
}

func newObjIndex() *objIndex {
	ix := &objIndex{objs: objSet{}, by: map[ck.AttributeType]map[string]objSet{}}
	for _, t := range indexed {
		ix.by[t] = map[string]objSet{}
	}
	return ix
}

func (ix *objIndex) add(o *object) {
	ix.objs[o] = struct{}{}
	for _, t := range indexed {
		if v, ok := o.attrs[t]; ok {
			m := ix.by[t]
			s := m[string(v)]
			if s == nil {
				s = objSet{}
				m[string(v)] = s
			}
			s[o] = struct{}{}
		}
	}
}

func (ix *objIndex) remove(o *object) {
	delete(ix.objs, o)
	for _, t := range indexed {
		if v, ok := o.attrs[t]; ok {
			m := ix.by[t]
			if s := m[string(v)]; s != nil {
				delete(s, o)
				if len(s) == 0 {
					delete(m, string(v))
				}
			}
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

// candidates returns the smallest set of objects that can match a template.
func (ix *objIndex) candidates(template []ck.Attribute) objSet {
	best := ix.objs
	for _, a := range template {
		m, ok := ix.by[a.Type]
		if !ok || a.Kind != ck.AttrValue {
			continue
		}
		s := m[string(a.Value)]
		if len(s) < len(best) {
			best = s
		}
		if len(best) == 0 {
			break
		}
	}
	return best
}
