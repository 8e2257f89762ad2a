package main

import "testing"

// TestPctEncode: a token or key label with URI delimiters stays one attribute value of the pkcs11: URI.
func TestPctEncode(t *testing.T) {
	for in, want := range map[string]string{
		"kwbench":       "kwbench",
		"a;object=b":    "a%3Bobject=b",
		"my token/2 x?": "my%20token%2F2%20x%3F",
		"100%":          "100%25",
	} {
		if got := pctEncode(in); got != want {
			t.Errorf("pctEncode(%q) = %q, want %q", in, got, want)
		}
	}
}
