package wire

import (
	"encoding/binary"
	"errors"
	"fmt"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// ErrMalformed is wrapped by every decoding error: the peer broke the protocol.
var ErrMalformed = errors.New("wire: malformed message")

// Encoder appends items to a body. Its zero value is ready to use.
type Encoder struct {
	buf []byte
}

// Bytes returns the encoded body.
func (e *Encoder) Bytes() []byte { return e.buf }

// Reset empties the encoder, keeping its buffer.
func (e *Encoder) Reset() { e.buf = e.buf[:0] }

func (e *Encoder) u64(v uint64) { e.buf = binary.BigEndian.AppendUint64(e.buf, v) }
func (e *Encoder) u32(v uint32) { e.buf = binary.BigEndian.AppendUint32(e.buf, v) }

// U appends an integer item.
func (e *Encoder) U(v uint64) {
	e.buf = append(e.buf, 'u')
	e.u64(v)
}

// B appends a byte string item.
func (e *Encoder) B(b []byte) {
	e.buf = append(e.buf, 'b')
	e.u32(uint32(len(b)))
	e.buf = append(e.buf, b...)
}

// S appends a byte string item holding s.
func (e *Encoder) S(s string) {
	e.buf = append(e.buf, 'b')
	e.u32(uint32(len(s)))
	e.buf = append(e.buf, s...)
}

// P appends an optional byte string item; nil encodes a NULL pointer (an empty non-nil slice does not).
func (e *Encoder) P(b []byte) {
	e.buf = append(e.buf, 'p')
	if b == nil {
		e.buf = append(e.buf, 0)
		return
	}
	e.buf = append(e.buf, 1)
	e.u32(uint32(len(b)))
	e.buf = append(e.buf, b...)
}

// O appends an output-buffer item.
func (e *Encoder) O(o ck.Out) {
	e.buf = append(e.buf, 'o')
	var flags byte
	if o.Present {
		flags |= outPresent
	}
	if o.Peek {
		flags |= outPeek
	}
	e.buf = append(e.buf, flags)
	e.u64(o.Cap)
}

// Us appends an integer array item.
func (e *Encoder) Us(v []uint64) { encodeUs(e, v) }

// A appends an attribute template item.
func (e *Encoder) A(t []ck.Attribute) {
	e.buf = append(e.buf, 'A')
	e.template(t)
}

func (e *Encoder) template(t []ck.Attribute) {
	e.u32(uint32(len(t)))
	for _, a := range t {
		e.u64(uint64(a.Type))
		e.buf = append(e.buf, byte(a.Kind))
		switch a.Kind {
		case ck.AttrLength, ck.AttrBuffer, ck.AttrPeek:
			e.u64(a.Len)
		case ck.AttrValue:
			e.u32(uint32(len(a.Value)))
			e.buf = append(e.buf, a.Value...)
		case ck.AttrArray:
			e.template(a.Array)
		default:
			panic(fmt.Sprintf("wire: attribute kind %d", a.Kind))
		}
	}
}

// M appends a mechanism item; nil encodes a NULL pMechanism.
func (e *Encoder) M(m *ck.Mechanism) {
	e.buf = append(e.buf, 'M')
	if m == nil {
		e.buf = append(e.buf, 0)
		return
	}
	e.buf = append(e.buf, 1)
	e.u64(uint64(m.Type))
	if m.Parameter == nil {
		e.buf = append(e.buf, 0)
		return
	}
	e.buf = append(e.buf, 1)
	e.u32(uint32(len(m.Parameter)))
	e.buf = append(e.buf, m.Parameter...)
}

// Decoder reads items from a body. Errors are sticky: after the first one every method returns zero values,
// and Err reports it. Byte strings returned alias the body.
type Decoder struct {
	buf []byte
	err error
}

// NewDecoder returns a decoder of body.
func NewDecoder(body []byte) *Decoder { return &Decoder{buf: body} }

// Err returns the first error met.
func (d *Decoder) Err() error { return d.err }

// Finish reports the first error, or an error if bytes remain.
func (d *Decoder) Finish() error {
	if d.err == nil && len(d.buf) != 0 {
		d.fail("%d trailing bytes", len(d.buf))
	}
	return d.err
}

// Empty reports whether every byte was consumed.
func (d *Decoder) Empty() bool { return len(d.buf) == 0 }

func (d *Decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
	}
	d.buf = nil
}

func (d *Decoder) take(n uint64) []byte {
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.buf)) {
		d.fail("need %d bytes, have %d", n, len(d.buf))
		return nil
	}
	b := d.buf[:n:n]
	d.buf = d.buf[n:]
	return b
}

func (d *Decoder) byte1() byte {
	b := d.take(1)
	if b == nil {
		return 0
	}
	return b[0]
}

func (d *Decoder) flag() bool {
	switch d.byte1() {
	case 0:
		return false
	case 1:
		return true
	default:
		d.fail("flag byte is neither 0 nor 1")
		return false
	}
}

func (d *Decoder) u64() uint64 {
	b := d.take(8)
	if b == nil {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

func (d *Decoder) u32() uint32 {
	b := d.take(4)
	if b == nil {
		return 0
	}
	return binary.BigEndian.Uint32(b)
}

func (d *Decoder) tag(want byte) bool {
	got := d.byte1()
	if d.err != nil {
		return false
	}
	if got != want {
		d.fail("item tag %q, want %q", got, want)
		return false
	}
	return true
}

func (d *Decoder) bytes() []byte {
	n := d.u32()
	b := d.take(uint64(n))
	if b == nil && d.err == nil {
		b = []byte{}
	}
	return b
}

// U reads an integer item.
func (d *Decoder) U() uint64 {
	if !d.tag('u') {
		return 0
	}
	return d.u64()
}

// B reads a byte string item (never nil on success).
func (d *Decoder) B() []byte {
	if !d.tag('b') {
		return nil
	}
	return d.bytes()
}

// P reads an optional byte string item: nil for NULL, a non-nil slice otherwise.
func (d *Decoder) P() []byte {
	if !d.tag('p') {
		return nil
	}
	if !d.flag() {
		return nil
	}
	return d.bytes()
}

// The flag bits of an output-buffer item: bit 0 the buffer is present, bit 1 the answer carries the output
// even when it does not deliver it (ck.Out.Peek; only a client that saw FeatureKeep sets it).
const (
	outPresent = 1 << 0
	outPeek    = 1 << 1
)

// O reads an output-buffer item.
func (d *Decoder) O() ck.Out {
	if !d.tag('o') {
		return ck.Out{}
	}
	f := d.byte1()
	if f&^(outPresent|outPeek) != 0 {
		d.fail("output flags 0x%x have unknown bits", f)
		return ck.Out{}
	}
	return ck.Out{Present: f&outPresent != 0, Cap: d.u64(), Peek: f&outPeek != 0}
}

// Us reads an integer array item.
func (d *Decoder) Us() []uint64 { return decodeUs[uint64](d) }

// A reads an attribute template item.
func (d *Decoder) A() []ck.Attribute {
	if !d.tag('A') {
		return nil
	}
	return d.template(0)
}

// minAttrSize is the smallest encoding of one attribute (type, kind, u32 length).
const minAttrSize = 8 + 1 + 4

func (d *Decoder) template(depth int) []ck.Attribute {
	n := d.u32()
	if d.err != nil {
		return nil
	}
	if n > MaxAttributes {
		d.fail("template of %d attributes exceeds the limit %d", n, MaxAttributes)
		return nil
	}
	if uint64(n)*minAttrSize > uint64(len(d.buf)) {
		d.fail("template of %d attributes exceeds the body", n)
		return nil
	}
	t := make([]ck.Attribute, n)
	for i := range t {
		a := &t[i]
		a.Type = ck.AttributeType(d.u64())
		a.Kind = ck.AttrKind(d.byte1())
		switch a.Kind {
		case ck.AttrLength, ck.AttrBuffer, ck.AttrPeek:
			a.Len = d.u64()
		case ck.AttrValue:
			a.Value = d.bytes()
		case ck.AttrArray:
			if depth > 0 {
				d.fail("attribute arrays nest more than once")
				return nil
			}
			a.Array = d.template(depth + 1)
		default:
			d.fail("attribute kind %d", a.Kind)
		}
		if d.err != nil {
			return nil
		}
	}
	return t
}

// M reads a mechanism item; nil for a NULL pMechanism.
func (d *Decoder) M() *ck.Mechanism {
	if !d.tag('M') {
		return nil
	}
	if !d.flag() {
		return nil
	}
	m := &ck.Mechanism{Type: ck.MechanismType(d.u64())}
	if d.flag() {
		m.Parameter = d.bytes()
	}
	if d.err != nil {
		return nil
	}
	return m
}

// Validate checks that body is a well-formed sequence of items following signature sig, with nothing left over.
// The daemon validates every request before it dispatches it.
func Validate(body []byte, sig string) error {
	d := NewDecoder(body)
	for i := 0; i < len(sig); i++ {
		switch sig[i] {
		case 'u':
			d.U()
		case 'b':
			d.B()
		case 'p':
			d.P()
		case 'o':
			d.O()
		case 'U':
			d.Us()
		case 'A':
			d.A()
		case 'M':
			d.M()
		default:
			return fmt.Errorf("wire: bad signature letter %q", sig[i])
		}
	}
	return d.Finish()
}
