package main

import (
	"encoding/json"
	"fmt"
)

// Output: JSON for --json, the URI of a new object, and warnings on standard error.

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

// printURI prints the URI of the object a command made: a line, or {"uri": ...} with --json.
func (c *cli) printURI(f *flags, uri string) error {
	if *f.json {
		return c.printJSON(map[string]string{"uri": uri})
	}
	fmt.Fprintln(c.stdout, uri)
	return nil
}
