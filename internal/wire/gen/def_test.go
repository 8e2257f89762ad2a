package gen

import "testing"

// TestUnquoteRefusesWhatBreaksTheOutput: a .def string is written into Go and C comments and literals
// unescaped, so what would open or end a comment, or need an escape, is refused.
func TestUnquoteRefusesWhatBreaksTheOutput(t *testing.T) {
	if s, err := unquote(`"the peek flag of output items (docs/protocol.md, Kept output)"`); err != nil || s != "the peek flag of output items (docs/protocol.md, Kept output)" {
		t.Errorf("a plain doc: %q, %v", s, err)
	}
	for _, bad := range []string{`"a \"quoted\" name"`, `"a back\\slash"`, `"opens /* a comment"`, `"ends */ one"`, `"unquoted`} {
		if _, err := unquote(bad); err == nil {
			t.Errorf("unquote(%s) accepted", bad)
		}
	}
}
