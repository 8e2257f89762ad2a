// Package gen writes the Go and C code of the wire protocol from internal/wire's .def files (calls.def,
// params.def, consts.def): `go generate ./internal/wire` runs it (cmd/wiregen), and internal/wire's
// TestGenerated checks that the committed files are what it writes.
package gen

import (
	"fmt"
	"strings"
)

// macro is one X-macro line of a .def file: KW_NAME(arg, arg, ...), with its arguments as written.
type macro struct {
	name string
	args []string
	line int
}

// parseMacros reads the X-macro lines of a .def file: comments are skipped, and a macro's arguments may span
// lines, hold strings and parenthesised lists (whose commas do not split arguments).
func parseMacros(file, src string) ([]macro, error) {
	var out []macro
	line := 1
	for i := 0; i < len(src); {
		switch {
		case src[i] == '\n':
			line++
			i++
		case strings.HasPrefix(src[i:], "/*"):
			end := strings.Index(src[i+2:], "*/")
			if end < 0 {
				return nil, fmt.Errorf("%s:%d: unterminated comment", file, line)
			}
			line += strings.Count(src[i:i+2+end+2], "\n")
			i += 2 + end + 2
		case strings.HasPrefix(src[i:], "//"):
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case src[i] == ' ' || src[i] == '\t' || src[i] == '\r':
			i++
		case strings.HasPrefix(src[i:], "KW_"):
			m, n, err := parseMacro(src[i:])
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %v", file, line, err)
			}
			m.line = line
			line += strings.Count(src[i:i+n], "\n")
			out = append(out, m)
			i += n
		default:
			return nil, fmt.Errorf("%s:%d: unexpected %q", file, line, src[i])
		}
	}
	return out, nil
}

// parseMacro reads one macro at the start of s and returns it and the bytes it takes.
func parseMacro(s string) (macro, int, error) {
	open := strings.IndexByte(s, '(')
	if open < 0 {
		return macro{}, 0, fmt.Errorf("macro without arguments")
	}
	m := macro{name: strings.TrimSpace(s[:open])}
	depth, start := 0, open+1
	for i := open + 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			j := strings.IndexByte(s[i+1:], '"')
			if j < 0 {
				return macro{}, 0, fmt.Errorf("unterminated string")
			}
			i += j + 1
		case '(':
			depth++
		case ')':
			if depth > 0 {
				depth--
				continue
			}
			m.args = append(m.args, strings.TrimSpace(s[start:i]))
			return m, i + 1, nil
		case ',':
			if depth == 0 {
				m.args = append(m.args, strings.TrimSpace(s[start:i]))
				start = i + 1
			}
		}
	}
	return macro{}, 0, fmt.Errorf("%s: unterminated arguments", m.name)
}

// unquote returns a string argument's contents.
func unquote(arg string) (string, error) {
	if len(arg) < 2 || arg[0] != '"' || arg[len(arg)-1] != '"' {
		return "", fmt.Errorf("%s is not a string", arg)
	}
	s := arg[1 : len(arg)-1]
	// The strings go into Go and C comments and string literals as they are: nothing in them may open or end
	// a comment or need an escape.
	if strings.ContainsAny(s, `"\`) || strings.Contains(s, "/*") || strings.Contains(s, "*/") {
		return "", fmt.Errorf("%s: a .def string may hold no quote, backslash, /* or */", arg)
	}
	return s, nil
}

// snake returns a CamelCase name in upper case with underscores between its words: DigestEncrypt is
// DIGEST_ENCRYPT, MaxFrame MAX_FRAME.
func snake(name string) string {
	var b strings.Builder
	for i, r := range name {
		if i > 0 && r >= 'A' && r <= 'Z' && !(name[i-1] >= 'A' && name[i-1] <= 'Z') {
			b.WriteByte('_')
		}
		b.WriteRune(r)
	}
	return strings.ToUpper(b.String())
}
