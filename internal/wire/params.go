package wire

import (
	_ "embed"
	"fmt"
	"regexp"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

//go:embed params.def
var paramsDef string

// ParamField is one field of a parameter structure of params.def.
type ParamField struct {
	Name string
	Kind byte // the item letter: 'u', 'b' or 'A'
}

// ParamLayout is a parameter structure of params.def.
type ParamLayout struct {
	Struct string
	Fields []ParamField
}

var paramLayouts = parseParams(paramsDef)

var (
	paramLine = regexp.MustCompile(`(?m)^KW_(STRUCT|FIELD_\w+|END|MECH)\(([^)]*)\)\s*$`)
	splitArgs = regexp.MustCompile(`\s*,\s*`)
)

func parseParams(def string) map[ck.MechanismType]*ParamLayout {
	structs := map[string]*ParamLayout{}
	byMech := map[ck.MechanismType]*ParamLayout{}
	var cur *ParamLayout
	for _, m := range paramLine.FindAllStringSubmatch(def, -1) {
		args := splitArgs.Split(m[2], -1)
		switch m[1] {
		case "STRUCT":
			cur = &ParamLayout{Struct: args[0]}
			structs[args[0]] = cur
		case "END":
			cur = nil
		case "MECH":
			mt, ok := ck.MechanismByName(args[0])
			if !ok || structs[args[1]] == nil {
				panic(fmt.Sprintf("wire: params.def: bad mechanism line %q", m[0]))
			}
			byMech[mt] = structs[args[1]]
		default:
			if cur == nil || args[0] != cur.Struct {
				panic(fmt.Sprintf("wire: params.def: field outside its structure: %q", m[0]))
			}
			kind := map[string]byte{"FIELD_ULONG": 'u', "FIELD_BOOL": 'u', "FIELD_BYTES": 'b', "FIELD_ARRAY": 'b',
				"FIELD_ULONG_PTR": 'u', "FIELD_PRF_DATA": 'A', "FIELD_DERIVED_KEYS": 'u'}[m[1]]
			if kind == 0 {
				panic(fmt.Sprintf("wire: params.def: unknown field kind %q", m[1]))
			}
			cur.Fields = append(cur.Fields, ParamField{Name: args[1], Kind: kind})
		}
	}
	return byMech
}

// LayoutOf returns the parameter layout of a mechanism, or nil if its parameter travels as raw bytes.
func LayoutOf(m ck.MechanismType) *ParamLayout { return paramLayouts[m] }

// Params is a decoded structured parameter: its fields by name.
type Params struct {
	u map[string]uint64
	b map[string][]byte
	a map[string][]ck.Attribute
}

// U returns an integer field.
func (p *Params) U(name string) uint64 { return p.u[name] }

// B returns a byte-string field (never nil).
func (p *Params) B(name string) []byte {
	if v := p.b[name]; v != nil {
		return v
	}
	return []byte{}
}

// A returns a list field (CK_PRF_DATA_PARAM entries as type and value).
func (p *Params) A(name string) []ck.Attribute { return p.a[name] }

// ErrParam is returned for a parameter that does not follow its layout.
var ErrParam = fmt.Errorf("wire: parameter does not follow its layout")

// DecodeParams decodes the structured parameter of a mechanism listed in params.def.
func DecodeParams(m ck.MechanismType, raw []byte) (*Params, error) {
	l := paramLayouts[m]
	if l == nil {
		return nil, fmt.Errorf("wire: %v has no structured parameter", m)
	}
	d := NewDecoder(raw)
	p := &Params{u: map[string]uint64{}, b: map[string][]byte{}, a: map[string][]ck.Attribute{}}
	for _, f := range l.Fields {
		switch f.Kind {
		case 'u':
			p.u[f.Name] = d.U()
		case 'b':
			p.b[f.Name] = d.B()
		case 'A':
			p.a[f.Name] = d.A()
		}
	}
	if err := d.Finish(); err != nil {
		return nil, ErrParam
	}
	return p, nil
}

// EncodeParams encodes a structured parameter from field values, in layout order (for Go clients and tests).
func EncodeParams(m ck.MechanismType, fields map[string]any) ([]byte, error) {
	l := paramLayouts[m]
	if l == nil {
		return nil, fmt.Errorf("wire: %v has no structured parameter", m)
	}
	var e Encoder
	for _, f := range l.Fields {
		v := fields[f.Name]
		switch f.Kind {
		case 'u':
			switch x := v.(type) {
			case nil:
				e.U(0)
			case uint64:
				e.U(x)
			case int:
				e.U(uint64(x))
			case bool:
				if x {
					e.U(1)
				} else {
					e.U(0)
				}
			case ck.MechanismType:
				e.U(uint64(x))
			default:
				return nil, fmt.Errorf("wire: field %s: %T is not an integer", f.Name, v)
			}
		case 'b':
			x, _ := v.([]byte)
			e.B(x)
		case 'A':
			x, _ := v.([]ck.Attribute)
			e.A(x)
		}
	}
	return e.Bytes(), nil
}
