package gen

import (
	"fmt"
	"strconv"
	"strings"
)

// call is one line of calls.def.
type call struct {
	id         uint32
	name       string
	req, resp  string // signatures
	reqF, resF []callField
}

// callField is one named item of a call's request or response.
type callField struct {
	letter byte
	name   string // the Go field
	typ    string // the annotation after ':' ("" for none)
}

// cryptokiTypes are the annotations that name a cryptoki integer type.
var cryptokiTypes = map[string]bool{
	"SessionHandle": true, "SlotID": true, "ObjectHandle": true, "MechanismType": true, "Operation": true,
	"UserType": true, "State": true, "WrapPolicy": true,
}

func parseCalls(src string) ([]call, error) {
	ms, err := parseMacros("calls.def", src)
	if err != nil {
		return nil, err
	}
	var out []call
	ids, names := map[uint32]bool{}, map[string]bool{}
	for _, m := range ms {
		bad := func(format string, args ...any) error {
			return fmt.Errorf("calls.def:%d: %s", m.line, fmt.Sprintf(format, args...))
		}
		if m.name != "KW_CALL" || len(m.args) != 6 {
			return nil, bad("want KW_CALL(id, Name, \"request\", \"response\", (fields), (fields))")
		}
		id, err := strconv.ParseUint(m.args[0], 10, 32)
		if err != nil || id == 0 {
			return nil, bad("bad id %q", m.args[0])
		}
		c := call{id: uint32(id), name: m.args[1]}
		if !isIdent(c.name) || ids[c.id] || names[c.name] {
			return nil, bad("%s: a bad or duplicate id or name", c.name)
		}
		ids[c.id], names[c.name] = true, true
		if c.req, err = unquote(m.args[2]); err != nil {
			return nil, bad("%v", err)
		}
		if c.resp, err = unquote(m.args[3]); err != nil {
			return nil, bad("%v", err)
		}
		if c.reqF, err = parseCallFields(c.req, m.args[4]); err != nil {
			return nil, bad("%s request: %v", c.name, err)
		}
		if c.resF, err = parseCallFields(c.resp, m.args[5]); err != nil {
			return nil, bad("%s response: %v", c.name, err)
		}
		out = append(out, c)
	}
	return out, nil
}

func isIdent(s string) bool {
	if s == "" || !(s[0] >= 'A' && s[0] <= 'Z') {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// parseCallFields reads a parenthesised field list against its signature: one field per letter.
func parseCallFields(sig, list string) ([]callField, error) {
	if len(list) < 2 || list[0] != '(' || list[len(list)-1] != ')' {
		return nil, fmt.Errorf("field list %q is not parenthesised", list)
	}
	var names []string
	if inner := strings.TrimSpace(list[1 : len(list)-1]); inner != "" {
		for _, f := range strings.Split(inner, ",") {
			names = append(names, strings.TrimSpace(f))
		}
	}
	if len(names) != len(sig) {
		return nil, fmt.Errorf("%d fields for signature %q", len(names), sig)
	}
	var out []callField
	seen := map[string]bool{}
	for i, n := range names {
		name, typ, _ := strings.Cut(n, ":")
		f := callField{letter: sig[i], name: name, typ: typ}
		if !isIdent(name) || seen[name] || name == "Call" || name == "Encode" || name == "Decode" {
			return nil, fmt.Errorf("bad or duplicate field name %q", name)
		}
		seen[name] = true
		ok := typ == ""
		switch f.letter {
		case 'u':
			ok = ok || typ == "bool" || typ == "Version" || cryptokiTypes[typ]
		case 'b':
			ok = ok || typ == "string"
		case 'U':
			ok = ok || cryptokiTypes[typ]
		case 'p', 'o', 'A', 'M':
		default:
			return nil, fmt.Errorf("unknown signature letter %q", f.letter)
		}
		if !ok {
			return nil, fmt.Errorf("field %s: type %q for a %c item", name, typ, f.letter)
		}
		out = append(out, f)
	}
	return out, nil
}

// goType is a field's Go type.
func (f callField) goType() string {
	switch f.letter {
	case 'u':
		switch {
		case f.typ == "bool":
			return "bool"
		case f.typ == "Version":
			return "ck.Version"
		case f.typ != "":
			return "ck." + f.typ
		}
		return "uint64"
	case 'b':
		if f.typ == "string" {
			return "string"
		}
		return "[]byte"
	case 'p':
		return "[]byte"
	case 'o':
		return "ck.Out"
	case 'U':
		if f.typ != "" {
			return "[]ck." + f.typ
		}
		return "[]uint64"
	case 'A':
		return "[]ck.Attribute"
	}
	return "*ck.Mechanism"
}

// goEncode is the statement that appends field x (an expression) to e.
func (f callField) goEncode(x string) string {
	switch f.letter {
	case 'u':
		switch {
		case f.typ == "bool":
			return "e.U(b2u(" + x + "))"
		case f.typ == "Version":
			return "e.U(versionU(" + x + "))"
		case f.typ != "":
			return "e.U(uint64(" + x + "))"
		}
		return "e.U(" + x + ")"
	case 'b':
		if f.typ == "string" {
			return "e.S(" + x + ")"
		}
		return "e.B(" + x + ")"
	case 'p':
		return "e.P(" + x + ")"
	case 'o':
		return "e.O(" + x + ")"
	case 'U':
		if f.typ != "" {
			return "encodeUs(e, " + x + ")"
		}
		return "e.Us(" + x + ")"
	case 'A':
		return "e.A(" + x + ")"
	}
	return "e.M(" + x + ")"
}

// goDecode is the expression that reads the field from d.
func (f callField) goDecode() string {
	switch f.letter {
	case 'u':
		switch {
		case f.typ == "bool":
			return "d.U() != 0"
		case f.typ == "Version":
			return "versionOf(d.U())"
		case f.typ != "":
			return "ck." + f.typ + "(d.U())"
		}
		return "d.U()"
	case 'b':
		if f.typ == "string" {
			return "string(d.B())"
		}
		return "d.B()"
	case 'p':
		return "d.P()"
	case 'o':
		return "d.O()"
	case 'U':
		if f.typ != "" {
			return "decodeUs[ck." + f.typ + "](d)"
		}
		return "d.Us()"
	case 'A':
		return "d.A()"
	}
	return "d.M()"
}

// goCalls writes internal/wire's call table and the request and response structures.
func goCalls(w *writer, cs []call) {
	w.p("import ck \"github.com/keyward/keyward/pkg/cryptoki\"")
	w.p("")
	w.p("// The calls of calls.def.")
	w.p("const (")
	for _, c := range cs {
		w.p("Call%s Call = %d", c.name, c.id)
	}
	w.p(")")
	w.p("")
	w.p("// callList is calls.def's table, in its order.")
	w.p("var callList = []CallInfo{")
	for _, c := range cs {
		w.p("{ID: Call%s, Name: %q, Request: %q, Response: %q},", c.name, c.name, c.req, c.resp)
	}
	w.p("}")
	w.p("")
	w.p("// NewRequest returns a zero request of call c (nil for an unknown call).")
	w.p("func NewRequest(c Call) Message {")
	w.p("switch c {")
	for _, c := range cs {
		w.p("case Call%s:", c.name)
		w.p("return &%sRequest{}", c.name)
	}
	w.p("}")
	w.p("return nil")
	w.p("}")
	w.p("")
	w.p("// NewResponse returns a zero response of call c (nil for an unknown call).")
	w.p("func NewResponse(c Call) Message {")
	w.p("switch c {")
	for _, c := range cs {
		w.p("case Call%s:", c.name)
		w.p("return &%sResponse{}", c.name)
	}
	w.p("}")
	w.p("return nil")
	w.p("}")
	for _, c := range cs {
		for _, half := range []struct {
			suffix, what, sig string
			fields            []callField
		}{{"Request", "request", c.req, c.reqF}, {"Response", "response", c.resp, c.resF}} {
			t := c.name + half.suffix
			w.p("")
			w.p("// %s is the %s of %s (call %d, %q).", t, half.what, c.name, c.id, half.sig)
			w.p("type %s struct {", t)
			for _, f := range half.fields {
				w.p("%s %s", f.name, f.goType())
			}
			w.p("}")
			w.p("")
			w.p("// Call returns %s.", "Call"+c.name)
			w.p("func (*%s) Call() Call { return Call%s }", t, c.name)
			w.p("")
			w.p("// Encode appends the %s's items to e.", half.what)
			if len(half.fields) == 0 {
				w.p("func (*%s) Encode(*Encoder) {}", t)
			} else {
				w.p("func (r *%s) Encode(e *Encoder) {", t)
				for _, f := range half.fields {
					w.p("%s", f.goEncode("r."+f.name))
				}
				w.p("}")
			}
			w.p("")
			w.p("// Decode reads the %s's items from d (d.Finish reports an error).", half.what)
			if len(half.fields) == 0 {
				w.p("func (*%s) Decode(*Decoder) {}", t)
			} else {
				w.p("func (r *%s) Decode(d *Decoder) {", t)
				for _, f := range half.fields {
					w.p("r.%s = %s", f.name, f.goDecode())
				}
				w.p("}")
			}
		}
	}
}

// cParam is a field's C parameter name.
func (f callField) cParam() string { return strings.ToLower(snake(f.name)) }

// cCalls writes the C field lists and, for the calls whose request has only u, b, p and o items, encoders.
func cCalls(w *writer, cs []call) {
	w.p("/* ---- calls (calls.def): field lists and encoders ---- */")
	w.p("")
	w.p("/* Every call, for X-macros over the calls: KW_CALLS(X) is X(Hello) X(GetInfo) ... */")
	w.p("#define KW_CALLS(X) \\")
	for i, c := range cs {
		end := " \\"
		if i == len(cs)-1 {
			end = ""
		}
		w.p("    X(%s)%s", c.name, end)
	}
	for _, c := range cs {
		list := func(fs []callField) string {
			var b strings.Builder
			for _, f := range fs {
				fmt.Fprintf(&b, " X(%c, %s)", f.letter, f.name)
			}
			return b.String()
		}
		w.p("")
		w.p("/* %s (%d): request %q, response %q. */", c.name, c.id, c.req, c.resp)
		w.p("#define KW_REQ_FIELDS_%s(X)%s", c.name, list(c.reqF))
		w.p("#define KW_RESP_FIELDS_%s(X)%s", c.name, list(c.resF))
		simple := true
		for _, f := range c.reqF {
			simple = simple && strings.IndexByte("ubpo", f.letter) >= 0
		}
		if !simple {
			continue
		}
		args := []string{"struct kw_buf *b"}
		var body []string
		for _, f := range c.reqF {
			n := f.cParam()
			switch f.letter {
			case 'u':
				args = append(args, "uint64_t "+n)
				body = append(body, fmt.Sprintf("kw_enc_u(b, %s);", n))
			case 'b':
				args = append(args, "const void *"+n, "size_t "+n+"_len")
				body = append(body, fmt.Sprintf("kw_enc_b(b, %s, %s_len);", n, n))
			case 'p':
				args = append(args, "const void *"+n, "size_t "+n+"_len", "int "+n+"_present")
				body = append(body, fmt.Sprintf("kw_enc_p(b, %s, %s_len, %s_present);", n, n, n))
			case 'o':
				args = append(args, "int "+n+"_present", "uint64_t "+n+"_cap")
				body = append(body, fmt.Sprintf("kw_enc_o(b, %s_present, %s_cap);", n, n))
			}
		}
		line := fmt.Sprintf("static inline void kw_req_%s(", c.name)
		for i, a := range args {
			if i > 0 {
				line += ","
				if len(line)+1+len(a) > 118 {
					w.p("%s", line)
					line = "    "
				} else {
					line += " "
				}
			}
			line += a
		}
		w.p("%s)", line)
		w.p("{")
		if len(body) == 0 {
			w.p("    (void)b;")
		}
		for _, s := range body {
			w.p("    %s", s)
		}
		w.p("}")
	}
}

// goServe writes internal/daemon's adapters: serveName makes the handler of call Name from a function of its
// typed request that returns its typed response. (Concrete types, not a generic adapter: the request and
// response stay on the stack.) Hello has none: the connection handles it.
func goServe(w *writer, cs []call) {
	w.p("import (")
	w.p("\"github.com/keyward/keyward/internal/wire\"")
	w.p("ck \"github.com/keyward/keyward/pkg/cryptoki\"")
	w.p(")")
	for _, c := range cs {
		if c.name == "Hello" {
			continue
		}
		w.p("")
		w.comment("", "// ", fmt.Sprintf("serve%s makes the handler of %s from f: it decodes the request, runs f and encodes the response f returns.", c.name, c.name))
		w.p("func serve%s(f func(p ck.Provider, r wire.%sRequest) (wire.%sResponse, error)) served {", c.name, c.name, c.name)
		w.p("return served{wire.Call%s, func(p ck.Provider, d *wire.Decoder, e *wire.Encoder) error {", c.name)
		w.p("var r wire.%sRequest", c.name)
		w.p("r.Decode(d)")
		w.p("resp, err := f(p, r)")
		w.p("resp.Encode(e)")
		w.p("return err")
		w.p("}}")
		w.p("}")
	}
}
