package gen

import (
	"fmt"
	"strings"
	"unicode"
)

// paramStruct is a structure of params.def.
type paramStruct struct {
	c      string // the C type: CK_GCM_PARAMS
	fields []paramField
}

// paramField is one field of a params.def structure.
type paramField struct {
	macro string // ULONG, BOOL, BYTES, DATA, ARRAY, ULONG_PTR, PRF_DATA, DERIVED_KEYS
	c     string // the C field (the pointer for BYTES, DATA, PRF_DATA, DERIVED_KEYS)
}

// params is params.def: its structures, the mechanisms that take them, and the mechanisms whose raw
// parameter is data only.
type params struct {
	structs []*paramStruct
	mechs   []paramMech
	rawData []string
}

type paramMech struct{ mech, s string }

// fieldKinds maps each KW_FIELD_ macro to its item letter and its number of arguments after the structure.
var fieldKinds = map[string]struct {
	kind byte
	args int
}{
	"ULONG": {'u', 1}, "BOOL": {'u', 1}, "BYTES": {'b', 2}, "DATA": {'b', 2}, "ARRAY": {'b', 2},
	"ULONG_PTR": {'u', 1}, "PRF_DATA": {'A', 2}, "DERIVED_KEYS": {'u', 2},
}

func parseParams(src string) (*params, error) {
	ms, err := parseMacros("params.def", src)
	if err != nil {
		return nil, err
	}
	p := &params{}
	byName := map[string]*paramStruct{}
	var cur *paramStruct
	for _, m := range ms {
		bad := func(format string, args ...any) error {
			return fmt.Errorf("params.def:%d: %s: %s", m.line, m.name, fmt.Sprintf(format, args...))
		}
		switch kind := strings.TrimPrefix(m.name, "KW_"); {
		case kind == "STRUCT":
			if cur != nil || len(m.args) != 1 || byName[m.args[0]] != nil {
				return nil, bad("a new structure inside another, or twice")
			}
			cur = &paramStruct{c: m.args[0]}
			byName[cur.c] = cur
			p.structs = append(p.structs, cur)
		case kind == "END":
			if cur == nil || len(m.args) != 1 || m.args[0] != cur.c {
				return nil, bad("does not end the current structure")
			}
			cur = nil
		case kind == "MECH":
			if len(m.args) != 2 || byName[m.args[1]] == nil {
				return nil, bad("names no structure defined above")
			}
			p.mechs = append(p.mechs, paramMech{m.args[0], m.args[1]})
		case kind == "MECH_DATA":
			if len(m.args) != 1 {
				return nil, bad("takes one mechanism")
			}
			p.rawData = append(p.rawData, m.args[0])
		case strings.HasPrefix(kind, "FIELD_"):
			fk, ok := fieldKinds[strings.TrimPrefix(kind, "FIELD_")]
			if !ok {
				return nil, bad("unknown field kind")
			}
			if cur == nil || len(m.args) != 1+fk.args || m.args[0] != cur.c {
				return nil, bad("outside its structure, or with %d arguments", len(m.args))
			}
			cur.fields = append(cur.fields, paramField{macro: strings.TrimPrefix(kind, "FIELD_"), c: m.args[1]})
		default:
			return nil, bad("unknown macro")
		}
	}
	if cur != nil {
		return nil, fmt.Errorf("params.def: %s does not end", cur.c)
	}
	return p, nil
}

// Words written in capitals in Go names.
var initialisms = map[string]string{
	"iv": "IV", "aad": "AAD", "mac": "MAC", "prf": "PRF", "kdf": "KDF", "mgf": "MGF", "ph": "PH", "id": "ID",
	"rsa": "RSA", "pkcs": "PKCS", "oaep": "OAEP", "ecdh1": "ECDH1", "gcm": "GCM", "ccm": "CCM", "aes": "AES",
	"cbc": "CBC", "hkdf": "HKDF", "pkcs5": "PKCS5", "pbkd2": "PBKD2", "sp800": "SP800", "eddsa": "EdDSA",
}

func goWord(w string) string {
	if s, ok := initialisms[strings.ToLower(w)]; ok {
		return s
	}
	return strings.ToUpper(w[:1]) + strings.ToLower(w[1:])
}

// goType is the Go name of a C parameter structure: CK_GCM_PARAMS is GCMParams.
func (s *paramStruct) goType() string {
	var b strings.Builder
	for _, w := range strings.Split(strings.TrimPrefix(s.c, "CK_"), "_") {
		b.WriteString(goWord(w))
	}
	return b.String()
}

// goName is the Go name of a C field: its type prefix (p, ul, b, h before a capital) dropped, its words
// capitalised: pIv is IV, ulTagBits TagBits, phFlag PHFlag.
func (f paramField) goName() string {
	name := f.c
	for _, pre := range []string{"ul", "p", "b", "h"} {
		if len(name) > len(pre) && strings.HasPrefix(name, pre) && unicode.IsUpper(rune(name[len(pre)])) {
			name = name[len(pre):]
			break
		}
	}
	var b strings.Builder
	for _, w := range camelWords(name) {
		b.WriteString(goWord(w))
	}
	return b.String()
}

// camelWords splits a camelCase name into words: MACLen is MAC, Len; saltSource salt, Source.
func camelWords(s string) []string {
	var words []string
	start := 0
	for i := 1; i < len(s); i++ {
		lowerToUpper := unicode.IsLower(rune(s[i-1])) && unicode.IsUpper(rune(s[i]))
		acronymEnd := unicode.IsUpper(rune(s[i-1])) && unicode.IsUpper(rune(s[i])) && i+1 < len(s) && unicode.IsLower(rune(s[i+1]))
		if lowerToUpper || acronymEnd {
			words = append(words, s[start:i])
			start = i
		}
	}
	return append(words, s[start:])
}

// goFieldType is a field's Go type.
func (f paramField) goFieldType() string {
	switch f.macro {
	case "BOOL":
		return "bool"
	case "BYTES", "DATA", "ARRAY":
		return "[]byte"
	case "PRF_DATA":
		return "[]ck.Attribute"
	}
	return "uint64"
}

func (f paramField) kind() byte { return fieldKinds[f.macro].kind }

// goParams writes internal/wire's typed parameter structures, their codecs and the layout table.
func goParams(w *writer, p *params) {
	w.p("import ck \"github.com/keyward/keyward/pkg/cryptoki\"")
	w.p("")
	for _, s := range p.structs {
		t := s.goType()
		w.p("// %s is %s (params.def), the fields in layout order.", t, s.c)
		w.p("type %s struct {", t)
		for _, f := range s.fields {
			note := ""
			switch f.macro {
			case "DATA":
				note = " (data only: only its length and presence decide whether an Init succeeds)"
			case "DERIVED_KEYS":
				note = " (the count of CK_DERIVED_KEY entries; the keys are not supported yet)"
			case "BOOL":
				note = " (0 or 1 on the wire)"
			}
			w.p("%s %s // %s%s", f.goName(), f.goFieldType(), f.c, note)
		}
		w.p("}")
		w.p("")
		w.p("// Encode returns the parameter in its canonical layout.")
		w.p("func (p *%s) Encode() []byte {", t)
		w.p("var e Encoder")
		for _, f := range s.fields {
			switch f.macro {
			case "BOOL":
				w.p("e.U(b2u(p.%s))", f.goName())
			case "PRF_DATA":
				w.p("e.A(p.%s)", f.goName())
			default:
				w.p("e.%c(p.%s)", unicode.ToUpper(rune(f.kind())), f.goName())
			}
		}
		w.p("return e.Bytes()")
		w.p("}")
		w.p("")
		w.comment("", "// ", fmt.Sprintf("Decode%s decodes a %s: ErrParam when raw does not follow its layout. Byte strings alias raw.", t, s.c))
		w.p("func Decode%s(raw []byte) (*%s, error) {", t, t)
		w.p("d := NewDecoder(raw)")
		w.p("p := &%s{}", t)
		for _, f := range s.fields {
			switch f.macro {
			case "BOOL":
				w.p("p.%s = d.bool()", f.goName())
			case "PRF_DATA":
				w.p("p.%s = d.A()", f.goName())
			default:
				w.p("p.%s = d.%c()", f.goName(), unicode.ToUpper(rune(f.kind())))
			}
		}
		w.p("if d.Finish() != nil {")
		w.p("return nil, ErrParam")
		w.p("}")
		w.p("return p, nil")
		w.p("}")
		w.p("")
		w.p("// fields returns the fields by their C names (for the tests).")
		w.p("func (p *%s) fields() map[string]any {", t)
		w.p("return map[string]any{")
		for _, f := range s.fields {
			w.p("%q: p.%s,", f.c, f.goName())
		}
		w.p("}")
		w.p("}")
		w.p("")
	}
	w.comment("", "// ", "Params is a decoded structured parameter: the field of the mechanism's structure is set, the others are nil.")
	w.p("type Params struct {")
	for _, s := range p.structs {
		w.p("%s *%s", s.goType(), s.goType())
	}
	w.p("}")
	w.p("")
	w.p("// Encode returns the parameter in its canonical layout.")
	w.p("func (p *Params) Encode() []byte {")
	w.p("switch {")
	for _, s := range p.structs {
		w.p("case p.%s != nil:", s.goType())
		w.p("return p.%s.Encode()", s.goType())
	}
	w.p("}")
	w.p("return nil")
	w.p("}")
	w.p("")
	w.p("// fields returns the set structure's fields by their C names (for the tests).")
	w.p("func (p *Params) fields() map[string]any {")
	w.p("switch {")
	for _, s := range p.structs {
		w.p("case p.%s != nil:", s.goType())
		w.p("return p.%s.fields()", s.goType())
	}
	w.p("}")
	w.p("return nil")
	w.p("}")
	w.p("")
	for _, s := range p.structs {
		w.p("var layout%s = &ParamLayout{Struct: %q, Fields: []ParamField{", s.goType(), s.c)
		for _, f := range s.fields {
			w.p("{Name: %q, Kind: '%c', DataOnly: %v},", f.c, f.kind(), f.macro == "DATA")
		}
		w.p("}, decode: func(raw []byte) (*Params, error) {")
		w.p("s, err := Decode%s(raw)", s.goType())
		w.p("if err != nil {")
		w.p("return nil, err")
		w.p("}")
		w.p("return &Params{%s: s}, nil", s.goType())
		w.p("}}")
		w.p("")
	}
	w.p("// paramLayouts maps each mechanism of params.def to its parameter's layout.")
	w.p("var paramLayouts = map[ck.MechanismType]*ParamLayout{")
	for _, m := range p.mechs {
		w.p("ck.%s: layout%s,", m.mech, (&paramStruct{c: m.s}).goType())
	}
	w.p("}")
	w.p("")
	w.p("// rawDataOnly holds the mechanisms of params.def whose raw parameter is data only (an IV).")
	w.p("var rawDataOnly = map[ck.MechanismType]bool{")
	for _, m := range p.rawData {
		w.p("ck.%s: true,", m)
	}
	w.p("}")
}
