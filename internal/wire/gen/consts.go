package gen

import (
	"fmt"
	"strconv"
	"strings"
)

// constant is one line of consts.def.
type constant struct {
	kind  string // CONST, FEATURE, STAGE, OP, ATTR_KIND
	name  string
	value uint64
	doc   string
}

func parseConsts(src string) ([]constant, error) {
	ms, err := parseMacros("consts.def", src)
	if err != nil {
		return nil, err
	}
	var out []constant
	seen := map[string]bool{}
	for _, m := range ms {
		kind := strings.TrimPrefix(m.name, "KW_")
		switch kind {
		case "CONST", "FEATURE", "STAGE", "OP", "ATTR_KIND":
		default:
			return nil, fmt.Errorf("consts.def:%d: unknown macro %s", m.line, m.name)
		}
		if len(m.args) != 3 {
			return nil, fmt.Errorf("consts.def:%d: %s takes a name, a value and a doc string", m.line, m.name)
		}
		v, err := strconv.ParseUint(m.args[1], 0, 64)
		if err != nil {
			return nil, fmt.Errorf("consts.def:%d: %v", m.line, err)
		}
		doc, err := unquote(m.args[2])
		if err != nil {
			return nil, fmt.Errorf("consts.def:%d: %v", m.line, err)
		}
		if kind == "FEATURE" && v > 63 {
			return nil, fmt.Errorf("consts.def:%d: feature bit %d", m.line, v)
		}
		c := constant{kind: kind, name: m.args[0], value: v, doc: doc}
		if seen[c.kind+c.name] {
			return nil, fmt.Errorf("consts.def:%d: %s defined twice", m.line, c.name)
		}
		seen[c.kind+c.name] = true
		out = append(out, c)
	}
	return out, nil
}

// goName is a constant's Go name.
func (c constant) goName() string {
	switch c.kind {
	case "FEATURE":
		return "Feature" + c.name
	case "STAGE":
		return "Stage" + c.name
	case "OP":
		return "Op" + c.name
	case "ATTR_KIND":
		return "Attr" + c.name
	}
	return c.name
}

// cName is a constant's C name.
func (c constant) cName() string {
	switch c.kind {
	case "OP":
		return "OP_" + snake(c.name)
	case "ATTR_KIND":
		return "KW_ATTR_" + snake(c.name)
	}
	return "KW_" + snake(c.goName())
}

// goWire writes internal/wire's constants.
func goWire(w *writer, cs []constant) {
	w.p("// Limits and sizes of the protocol (docs/protocol.md).")
	w.p("const (")
	for _, c := range cs {
		if c.kind == "CONST" {
			w.comment("", "// ", c.goName()+" is "+c.doc+".")
			w.p("%s = %d", c.goName(), c.value)
		}
	}
	w.p(")")
	w.p("")
	w.p("// Feature bits of the Features call (docs/protocol.md, \"Features\").")
	w.p("const (")
	for _, c := range cs {
		if c.kind == "FEATURE" {
			w.p("// %s: %s.", c.goName(), c.doc)
			w.p("%s = 1 << %d", c.goName(), c.value)
		}
	}
	w.p(")")
	w.p("")
	w.p("// The stages of OperationInitData: the data call that follows the Init.")
	w.p("const (")
	for _, c := range cs {
		if c.kind == "STAGE" {
			w.p("// %s: %s.", c.goName(), c.doc)
			w.p("%s = %d", c.goName(), c.value)
		}
	}
	w.p(")")
}

// goCryptoki writes pkg/cryptoki's constants: the operation and attribute kinds.
func goCryptoki(w *writer, cs []constant) {
	w.p("// Operation kinds, as on the wire (docs/protocol.md, \"Cryptographic operations\"). The dual-function kinds")
	w.p("// combine two active operations in one call.")
	w.p("const (")
	for _, c := range cs {
		if c.kind == "OP" {
			w.p("%s Operation = %d // %s", c.goName(), c.value, c.doc)
		}
	}
	w.p(")")
	w.p("")
	w.p("// The kinds of Attribute, as on the wire (docs/protocol.md).")
	w.p("const (")
	for _, c := range cs {
		if c.kind == "ATTR_KIND" {
			w.comment("", "// ", c.goName()+" "+c.doc+".")
			w.p("%s AttrKind = %d", c.goName(), c.value)
		}
	}
	w.p(")")
}

// cConsts writes the constants into the C header.
func cConsts(w *writer, cs []constant) {
	w.p("/* ---- constants (consts.def) ---- */")
	w.p("")
	for _, c := range cs {
		switch c.kind {
		case "CONST", "STAGE", "FEATURE":
			w.comment("", "/* ", c.doc+" */")
		}
		switch c.kind {
		case "CONST", "STAGE":
			w.p("#define %s %du", c.cName(), c.value)
		case "FEATURE":
			w.p("#define %s (1u << %d)", c.cName(), c.value)
		}
	}
	w.p("")
	w.p("/* Operation kinds (cryptoki.Operation; docs/protocol.md, \"Cryptographic operations\"). */")
	w.p("enum kw_op {")
	for _, c := range cs {
		if c.kind == "OP" {
			w.p("    %s = %d, /* %s */", c.cName(), c.value, c.doc)
		}
	}
	w.p("};")
	w.p("")
	w.p("/* Attribute kinds on the wire. */")
	w.p("enum kw_attr_kind {")
	for _, c := range cs {
		if c.kind == "ATTR_KIND" {
			w.p("    %s = %d,", c.cName(), c.value)
		}
	}
	w.p("};")
}
