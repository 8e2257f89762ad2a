package engine

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"weak"

	"github.com/keyward/keyward/internal/mech"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// object is a token or session object: an attribute set and where it lives.
type object struct {
	handle  ck.ObjectHandle
	id      uint64 // store id of a token object; for a session object, unique in the daemon
	tok     *token
	owner   *session             // the creating session of a session object; nil for token objects
	attrs   attrList             // set with setAttrs once the object exists
	view    weak.Pointer[keyMap] // the map form of attrs keyView last built, while something holds it
	class   ck.ObjectClass
	private bool
	onToken bool
	sealed  bool        // a public token object stored under the token key all the same (sealed.go)
	stored  uint64      // the size of a token object's record in the store; 0 until written (quota.go)
	cache   *mech.Cache // parsed key material, kept between operations; replaced when attrs change
}

// setAttrs replaces the attributes of o.
func (o *object) setAttrs(l attrList) {
	o.attrs = l
	o.view = weak.Pointer[keyMap]{}
}

// ulongBytes encodes a CK_ULONG attribute value: ck.ULong, under the name wrap.go uses.
func ulongBytes(v uint64) []byte { return ck.ULong(v) }

// bool decodes the CK_BBOOL attribute t of o (false when absent).
func (o *object) bool(t ck.AttributeType) bool { return ck.DecodeBBool(o.attrs.value(t)) }

// ulong decodes the CK_ULONG attribute t of o; ok is false when it is absent or not 8 bytes.
func (o *object) ulong(t ck.AttributeType) (uint64, bool) { return ck.DecodeULong(o.attrs.value(t)) }

// schemaKey returns the schema key of an attribute map (class plus key or certificate type).
func schemaKey(attrs map[ck.AttributeType][]byte) (classKey, bool) {
	return schemaKeyOf(func(t ck.AttributeType) ([]byte, bool) { v, ok := attrs[t]; return v, ok })
}

// schemaKeyOf is schemaKey over a lookup function.
func schemaKeyOf(attrs func(ck.AttributeType) ([]byte, bool)) (classKey, bool) {
	// An absent attribute's value is nil, which does not decode.
	cv, _ := attrs(ck.CKA_CLASS)
	c, ok := ck.DecodeULong(cv)
	if !ok {
		return classKey{}, false
	}
	k := classKey{class: ck.ObjectClass(c)}
	switch {
	case k.class == ck.CKO_CERTIFICATE:
		v, _ := attrs(ck.CKA_CERTIFICATE_TYPE)
		if k.sub, ok = ck.DecodeULong(v); !ok {
			return k, false
		}
	case isKeyClass(k.class):
		v, _ := attrs(ck.CKA_KEY_TYPE)
		if k.sub, ok = ck.DecodeULong(v); !ok {
			return k, false
		}
	}
	return k, true
}

func (o *object) schema() attrSet {
	k, _ := schemaKeyOf(o.attrs.get)
	return schemas[k]
}

// isSensitive reports whether attribute t of o may not be revealed.
func (o *object) isSensitive(t ck.AttributeType) bool {
	spec, ok := o.schema()[t]
	if !ok || spec.Rules&mech.RuleSensitive == 0 {
		return false
	}
	return o.bool(ck.CKA_SENSITIVE) || !o.bool(ck.CKA_EXTRACTABLE)
}

// size is the approximate size of the object for C_GetObjectSize.
func (o *object) size() uint64 {
	var n uint64
	for _, v := range o.attrs.all() {
		n += 12 + uint64(len(v))
	}
	return n
}

// Attribute-map encoding for the store: u32 count, then sorted (u64 type, u32 length, value).

func encodeAttrs(attrs map[ck.AttributeType][]byte) []byte {
	types := make([]ck.AttributeType, 0, len(attrs))
	n := 4
	for t, v := range attrs {
		types = append(types, t)
		n += 12 + len(v)
	}
	sort.Slice(types, func(i, j int) bool { return types[i] < types[j] })
	out := make([]byte, 0, n)
	out = binary.BigEndian.AppendUint32(out, uint32(len(types)))
	for _, t := range types {
		v := attrs[t]
		out = binary.BigEndian.AppendUint64(out, uint64(t))
		out = binary.BigEndian.AppendUint32(out, uint32(len(v)))
		out = append(out, v...)
	}
	return out
}

var errBadEncoding = errors.New("engine: bad attribute encoding")

func decodeAttrs(b []byte) (map[ck.AttributeType][]byte, error) {
	if len(b) < 4 {
		return nil, errBadEncoding
	}
	n := binary.BigEndian.Uint32(b)
	b = b[4:]
	if uint64(n)*12 > uint64(len(b)) {
		return nil, errBadEncoding
	}
	attrs := make(map[ck.AttributeType][]byte, n)
	for i := uint32(0); i < n; i++ {
		if len(b) < 12 {
			return nil, errBadEncoding
		}
		t := ck.AttributeType(binary.BigEndian.Uint64(b))
		l := binary.BigEndian.Uint32(b[8:])
		b = b[12:]
		if uint64(l) > uint64(len(b)) {
			return nil, errBadEncoding
		}
		attrs[t] = append([]byte{}, b[:l]...)
		b = b[l:]
	}
	if len(b) != 0 {
		return nil, errBadEncoding
	}
	return attrs, nil
}

// encodeTemplate stores a nested template (CKA_WRAP_TEMPLATE ...) as an attribute value.
func encodeTemplate(t []ck.Attribute) []byte {
	m := make(map[ck.AttributeType][]byte, len(t))
	for _, a := range t {
		m[a.Type] = a.Value
	}
	return encodeAttrs(m)
}

// decodeTemplate is the inverse of encodeTemplate, in type order.
func decodeTemplate(b []byte) ([]ck.Attribute, error) {
	m, err := decodeAttrs(b)
	if err != nil {
		return nil, err
	}
	out := make([]ck.Attribute, 0, len(m))
	for t, v := range m {
		out = append(out, ck.Attribute{Type: t, Kind: ck.AttrValue, Value: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Type < out[j].Type })
	return out, nil
}

// checkValue validates one attribute value against its layout.
func checkValue(a ck.Attribute) error {
	kind, known := attrKinds[a.Type]
	if !known {
		if a.Type&ck.CKA_VENDOR_DEFINED != 0 {
			return ck.CKR_ATTRIBUTE_TYPE_INVALID
		}
		return ck.CKR_ATTRIBUTE_TYPE_INVALID
	}
	if kind == mech.KindTemplate {
		if a.Kind != ck.AttrArray {
			return ck.CKR_ATTRIBUTE_VALUE_INVALID
		}
		seen := map[ck.AttributeType]bool{}
		for _, n := range a.Array {
			if n.Kind != ck.AttrValue || seen[n.Type] {
				return ck.CKR_ATTRIBUTE_VALUE_INVALID
			}
			seen[n.Type] = true
			if err := checkValue(n); err != nil {
				return ck.CKR_ATTRIBUTE_VALUE_INVALID
			}
		}
		return nil
	}
	if a.Kind != ck.AttrValue {
		return ck.CKR_ATTRIBUTE_VALUE_INVALID
	}
	v := a.Value
	switch kind {
	case mech.KindBool:
		if len(v) != 1 || v[0] > 1 {
			return ck.CKR_ATTRIBUTE_VALUE_INVALID
		}
	case mech.KindULong:
		if len(v) != 8 {
			return ck.CKR_ATTRIBUTE_VALUE_INVALID
		}
	case mech.KindDate:
		if !ck.ValidDate(v) {
			return ck.CKR_ATTRIBUTE_VALUE_INVALID
		}
	case mech.KindMechs:
		if len(v)%8 != 0 {
			return ck.CKR_ATTRIBUTE_VALUE_INVALID
		}
	}
	return nil
}

// valueOf returns the stored form of a template attribute's value.
func valueOf(a ck.Attribute) []byte {
	if a.Kind == ck.AttrArray {
		return encodeTemplate(a.Array)
	}
	if a.Value == nil {
		return []byte{}
	}
	return append([]byte{}, a.Value...)
}

// creation says how an object comes to be, which decides the attribute rules that apply.
type creation int

const (
	byCreate   creation = iota // C_CreateObject
	byGenerate                 // C_GenerateKey, C_GenerateKeyPair
	byUnwrap                   // C_UnwrapKey
	byDerive                   // C_DeriveKey
)

// buildAttrs turns a template into a complete attribute map under the specification's rules: unknown or
// duplicate attributes, values of the wrong layout, attributes that must or must not be given for this
// kind of creation, and defaults. extra holds attributes the mechanism sets (key values, CKA_LOCAL ...),
// which bypass the template rules.
func buildAttrs(template []ck.Attribute, how creation, extra map[ck.AttributeType][]byte, so bool) (map[ck.AttributeType][]byte, error) {
	attrs := make(map[ck.AttributeType][]byte, len(template)+16)
	for _, a := range template {
		if err := checkValue(a); err != nil {
			return nil, err
		}
		if old, dup := attrs[a.Type]; dup {
			if string(old) != string(valueOf(a)) {
				return nil, ck.CKR_TEMPLATE_INCONSISTENT
			}
			continue
		}
		attrs[a.Type] = valueOf(a)
	}
	for t, v := range extra {
		given, ok := attrs[t]
		if !ok {
			continue
		}
		// A value the mechanism computes may also be named by the template only with the same value (an RSA
		// public exponent); class and key type likewise.
		if !bytes.Equal(given, v) {
			return nil, ck.CKR_TEMPLATE_INCONSISTENT
		}
	}
	// Class and type come from the template or the mechanism.
	for _, t := range []ck.AttributeType{ck.CKA_CLASS, ck.CKA_KEY_TYPE} {
		if v, ok := extra[t]; ok {
			attrs[t] = v
		}
	}
	key, ok := schemaKey(attrs)
	if !ok {
		if _, has := attrs[ck.CKA_CLASS]; !has {
			return nil, ck.CKR_TEMPLATE_INCOMPLETE
		}
		if c, _ := ck.MapULong(attrs, ck.CKA_CLASS); ck.ObjectClass(c) == ck.CKO_CERTIFICATE || isKeyClass(ck.ObjectClass(c)) {
			return nil, ck.CKR_TEMPLATE_INCOMPLETE
		}
		return nil, ck.CKR_ATTRIBUTE_VALUE_INVALID
	}
	schema, ok := schemas[key]
	if !ok {
		// A class, key type or certificate type Keyward does not support.
		return nil, ck.CKR_ATTRIBUTE_VALUE_INVALID
	}
	var required, forbidden mech.Rule
	switch how {
	case byCreate:
		required, forbidden = mech.RuleCreateRequired, mech.RuleCreateForbid
	case byGenerate:
		required, forbidden = mech.RuleGenRequired, mech.RuleGenForbid
	case byUnwrap, byDerive:
		required, forbidden = mech.RuleUnwrapRequired, mech.RuleUnwrapForbid
	}
	for t := range attrs {
		spec, ok := schema[t]
		if !ok {
			return nil, ck.CKR_ATTRIBUTE_TYPE_INVALID
		}
		if spec.Rules&forbidden != 0 && inTemplate(template, t) && t != ck.CKA_CLASS && t != ck.CKA_KEY_TYPE {
			return nil, ck.CKR_ATTRIBUTE_READ_ONLY
		}
		if spec.Rules&mech.RuleSOOnlyTrue != 0 && attrs[t][0] == 1 && !so {
			return nil, ck.CKR_ATTRIBUTE_READ_ONLY
		}
	}
	for t, v := range extra {
		attrs[t] = append([]byte{}, v...)
	}
	trusted := ck.MapBBool(attrs, ck.CKA_TRUSTED)
	for t, spec := range schema {
		if _, ok := attrs[t]; ok {
			continue
		}
		if trusted && key.class == ck.CKO_SECRET_KEY && (t == ck.CKA_UNWRAP || isInverting(t)) {
			attrs[t] = []byte{0} // a trusted key only wraps (checkTrust)
			continue
		}
		if trusted && t == ck.CKA_DECRYPT {
			attrs[t] = []byte{0} // a trusted key never decrypts or unwraps (checkTrust)
			continue
		}
		if spec.Rules&required != 0 {
			return nil, ck.CKR_TEMPLATE_INCOMPLETE
		}
		if spec.Default != nil {
			attrs[t] = append([]byte{}, spec.Default...) // each object owns its values: they are wiped when dropped
		}
	}
	if _, ok := attrs[ck.CKA_PRIVATE]; !ok {
		attrs[ck.CKA_PRIVATE] = []byte{0}
		if defaultPrivate(key.class) {
			attrs[ck.CKA_PRIVATE][0] = 1
		}
	}
	if isKeyClass(key.class) {
		if _, ok := attrs[ck.CKA_LOCAL]; !ok {
			attrs[ck.CKA_LOCAL] = []byte{0}
		}
		if _, ok := attrs[ck.CKA_KEY_GEN_MECHANISM]; !ok {
			attrs[ck.CKA_KEY_GEN_MECHANISM] = ck.ULong(uint64(ck.CK_UNAVAILABLE_INFORMATION))
		}
	}
	if key.class == ck.CKO_PRIVATE_KEY || key.class == ck.CKO_SECRET_KEY {
		// An imported key has been outside the token: it was never guaranteed sensitive or unextractable.
		if _, ok := attrs[ck.CKA_ALWAYS_SENSITIVE]; !ok {
			attrs[ck.CKA_ALWAYS_SENSITIVE] = []byte{0}
		}
		if _, ok := attrs[ck.CKA_NEVER_EXTRACTABLE]; !ok {
			attrs[ck.CKA_NEVER_EXTRACTABLE] = []byte{0}
		}
	}
	if how == byCreate || how == byUnwrap || key.class == ck.CKO_SECRET_KEY {
		// Imported key material is checked by its key type (RSA CRT consistency, EC points on the curve, the
		// length of an AES key ...), which may add what follows from it (CKA_MODULUS_BITS, CKA_VALUE_LEN); so
		// is every secret value, however it was made (an AES key derived with the wrong length is refused).
		if ks := mech.KeyTypeOf(ck.KeyType(key.sub)); ks != nil && ks.Check != nil && isKeyClass(key.class) {
			add, err := ks.Check(key.class, attrs)
			if err != nil {
				return nil, mechError(err)
			}
			for t, v := range add {
				if _, allowed := schema[t]; allowed {
					attrs[t] = v
				}
			}
		}
	}
	attrs[ck.CKA_UNIQUE_ID] = newUniqueID()
	return attrs, nil
}

func inTemplate(template []ck.Attribute, t ck.AttributeType) bool {
	for _, a := range template {
		if a.Type == t {
			return true
		}
	}
	return false
}

// newUniqueID returns a fresh CKA_UNIQUE_ID: 32 hex digits of randomness.
func newUniqueID() []byte {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("engine: random: %v", err))
	}
	return []byte(hex.EncodeToString(b[:]))
}
