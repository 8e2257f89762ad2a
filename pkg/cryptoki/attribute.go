package cryptoki

import "fmt"

// NewAttribute builds a template attribute from a Go value: a bool is a CK_BBOOL, an integer or any of this
// package's integer types is a CK_ULONG (8 bytes, host order, as the C ABI has it), a string or []byte is a
// byte string, and a []Attribute is an attribute array (CKA_WRAP_TEMPLATE and the like).
func NewAttribute(t AttributeType, value any) Attribute {
	a := Attribute{Type: t, Kind: AttrValue}
	switch v := value.(type) {
	case bool:
		if v {
			a.Value = []byte{1}
		} else {
			a.Value = []byte{0}
		}
	case []byte:
		a.Value = v
	case string:
		a.Value = []byte(v)
	case []Attribute:
		a.Kind, a.Array = AttrArray, v
	case int:
		a.Value = ULong(uint64(v))
	case uint64:
		a.Value = ULong(v)
	case ObjectClass:
		a.Value = ULong(uint64(v))
	case KeyType:
		a.Value = ULong(uint64(v))
	case CertificateType:
		a.Value = ULong(uint64(v))
	case MechanismType:
		a.Value = ULong(uint64(v))
	default:
		panic(fmt.Sprintf("cryptoki: NewAttribute: unsupported value type %T", value))
	}
	return a
}

// Query returns a C_GetAttributeValue query for the values of the given attributes with a buffer of
// capacity size each (size 0 asks for lengths only, as a NULL pValue does).
func Query(size uint64, types ...AttributeType) []Attribute {
	q := make([]Attribute, len(types))
	for i, t := range types {
		if size == 0 {
			q[i] = Attribute{Type: t, Kind: AttrLength}
		} else {
			q[i] = Attribute{Type: t, Kind: AttrBuffer, Len: size}
		}
	}
	return q
}

// Bool decodes a CK_BBOOL attribute value (DecodeBBool).
func (a Attribute) Bool() bool { return DecodeBBool(a.Value) }

// Uint decodes a CK_ULONG attribute value; ok is false if the value is not 8 bytes (DecodeULong).
func (a Attribute) Uint() (v uint64, ok bool) { return DecodeULong(a.Value) }
