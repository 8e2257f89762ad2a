package wire

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// params.def is the source of params_gen.go: the typed parameter structures (GCMParams ...), their decoders
// and encoders, and the layout table.
//
// ParamField is one field of a parameter structure of params.def.
type ParamField struct {
	Name string // the C field (the pointer of a pointer-and-length pair)
	Kind byte   // the item letter: 'u', 'b' or 'A'
	// DataOnly marks a byte string that only feeds the computation (an IV, a nonce, associated data, a
	// context): its length and presence, not its contents, decide whether an Init succeeds (KW_FIELD_DATA).
	DataOnly bool
}

// ParamLayout is a parameter structure of params.def.
type ParamLayout struct {
	Struct string
	Fields []ParamField
	decode func(raw []byte) (*Params, error)
}

// LayoutOf returns the parameter layout of a mechanism, or nil if its parameter travels as raw bytes.
func LayoutOf(m ck.MechanismType) *ParamLayout { return paramLayouts[m] }

// RawDataOnly reports whether a mechanism's raw parameter is data only (KW_MECH_DATA: the IV of
// CKM_AES_CBC): its length and presence, not its contents, decide whether an Init succeeds.
func RawDataOnly(m ck.MechanismType) bool { return rawDataOnly[m] }

// ErrParam is returned for a parameter that does not follow its layout.
var ErrParam = errors.New("wire: parameter does not follow its layout")

// DecodeParams decodes the structured parameter of a mechanism listed in params.def: the Params field of
// the mechanism's structure is set.
func DecodeParams(m ck.MechanismType, raw []byte) (*Params, error) {
	l := paramLayouts[m]
	if l == nil {
		return nil, fmt.Errorf("wire: %v has no structured parameter", m)
	}
	return l.decode(raw)
}

// EncodeParams encodes a structured parameter from field values named as in params.def, in layout order
// (for tests and tools that build parameters from text; Go code uses the typed structures' Encode). A
// missing field is zero or empty; a name the layout does not have, or a value of the wrong type, is an
// error.
func EncodeParams(m ck.MechanismType, fields map[string]any) ([]byte, error) {
	l := paramLayouts[m]
	if l == nil {
		return nil, fmt.Errorf("wire: %v has no structured parameter", m)
	}
	known := map[string]bool{}
	for _, f := range l.Fields {
		known[f.Name] = true
	}
	var unknown []string
	for name := range fields {
		if !known[name] {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, fmt.Errorf("wire: %s has no field %s", l.Struct, strings.Join(unknown, ", "))
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
				e.U(b2u(x))
			case ck.MechanismType:
				e.U(uint64(x))
			default:
				return nil, fmt.Errorf("wire: %s.%s: %T is not an integer", l.Struct, f.Name, v)
			}
		case 'b':
			x, ok := v.([]byte)
			if !ok && v != nil {
				return nil, fmt.Errorf("wire: %s.%s: %T is not a byte string", l.Struct, f.Name, v)
			}
			e.B(x)
		case 'A':
			x, ok := v.([]ck.Attribute)
			if !ok && v != nil {
				return nil, fmt.Errorf("wire: %s.%s: %T is not a list of attributes", l.Struct, f.Name, v)
			}
			e.A(x)
		}
	}
	return e.Bytes(), nil
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// bool reads an integer item that must be 0 or 1 (a CK_BBOOL field).
func (d *Decoder) bool() bool {
	switch v := d.U(); v {
	case 0:
		return false
	case 1:
		return true
	default:
		d.fail("boolean field is %d", v)
		return false
	}
}
