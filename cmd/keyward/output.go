package main

import (
	"encoding/json"
	"fmt"
)

// Output: JSON for --json, and warnings on standard error.

// printJSON writes v as indented JSON on standard output.
func (c *cli) printJSON(v any) error {
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// warnf prints a warning line on standard error.
func (c *cli) warnf(format string, a ...any) {
	fmt.Fprintf(c.stderr, "keyward: warning: "+format+"\n", a...)
}
