// Package wire is the Go side of the Keyward wire protocol (docs/protocol.md): framing, the typed item codec,
// and the table of calls. The calls (calls.def), the mechanism parameter layouts (params.def) and the
// constants (consts.def) are written once, in .def files that the C client reads too; `go generate` writes
// the Go code from them (calls_gen.go, params_gen.go, consts_gen.go: internal/wire/gen).
package wire

import (
	"fmt"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// Call identifies a call of the protocol.
type Call uint32

// CallInfo describes a call: its name and its request and response signatures.
type CallInfo struct {
	ID       Call
	Name     string
	Request  string
	Response string
}

// Message is a request or a response of a call: NameRequest or NameResponse, generated from calls.def with
// the call's fields in signature order.
type Message interface {
	// Call returns the message's call.
	Call() Call
	// Encode appends the message's items to e.
	Encode(e *Encoder)
	// Decode reads the message's items from d; d.Err (or d.Finish) reports a body that does not follow them.
	Decode(d *Decoder)
}

var callTable, callByName = indexCalls(callList)

func indexCalls(list []CallInfo) (map[Call]CallInfo, map[string]Call) {
	byID, byName := map[Call]CallInfo{}, map[string]Call{}
	for _, c := range list {
		if err := checkSignature(c.Request + c.Response); err != nil {
			panic(fmt.Sprintf("wire: calls.def: %s: %v", c.Name, err))
		}
		byID[c.ID] = c
		byName[c.Name] = c.ID
	}
	return byID, byName
}

func checkSignature(sig string) error {
	for _, r := range sig {
		switch r {
		case 'u', 'b', 'p', 'o', 'U', 'A', 'M':
		default:
			return fmt.Errorf("unknown signature letter %q", r)
		}
	}
	return nil
}

// Lookup returns the description of a call.
func Lookup(c Call) (CallInfo, bool) {
	ci, ok := callTable[c]
	return ci, ok
}

// CallByName returns the id of the call with the given name (as in calls.def).
func CallByName(name string) (Call, bool) {
	c, ok := callByName[name]
	return c, ok
}

// Calls returns every call of the table, in id order.
func Calls() []CallInfo {
	var out []CallInfo
	for id := Call(0); len(out) < len(callTable); id++ {
		if c, ok := callTable[id]; ok {
			out = append(out, c)
		}
	}
	return out
}

// String returns the call's name.
func (c Call) String() string {
	if ci, ok := callTable[c]; ok {
		return ci.Name
	}
	return fmt.Sprintf("Call(%d)", uint32(c))
}

// Helpers of the generated codecs.

func versionOf(v uint64) ck.Version { return ck.Version{Major: byte(v >> 8), Minor: byte(v)} }

func versionU(v ck.Version) uint64 { return uint64(v.Major)<<8 | uint64(v.Minor) }

// encodeUs appends an integer array item of a cryptoki integer type.
func encodeUs[T ~uint64](e *Encoder, v []T) {
	e.buf = append(e.buf, 'U')
	e.u32(uint32(len(v)))
	for _, x := range v {
		e.u64(uint64(x))
	}
}

// decodeUs reads an integer array item as a cryptoki integer type.
func decodeUs[T ~uint64](d *Decoder) []T {
	if !d.tag('U') {
		return nil
	}
	n := d.u32()
	if uint64(n)*8 > uint64(len(d.buf)) {
		d.fail("array of %d integers exceeds the body", n)
		return nil
	}
	v := make([]T, n)
	for i := range v {
		v[i] = T(d.u64())
	}
	return v
}

// OneWay reports whether a call has no response frame: the daemon serves it and answers nothing, so a
// client writes it in front of another request, in the same write, and reads only that request's response.
func OneWay(c Call) bool { return c == CallOperationEnd }
