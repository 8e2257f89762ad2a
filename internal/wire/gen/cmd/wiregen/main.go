// Command wiregen writes the wire protocol's generated Go and C files from internal/wire's .def files. Run it
// with `go generate ./internal/wire` (it works in internal/wire).
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/keyward/keyward/internal/wire/gen"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "wiregen:", err)
		os.Exit(1)
	}
}

func run() error {
	read := func(name string) (string, error) {
		b, err := os.ReadFile(name)
		return string(b), err
	}
	var d gen.Defs
	var err error
	if d.Calls, err = read("calls.def"); err != nil {
		return err
	}
	if d.Params, err = read("params.def"); err != nil {
		return err
	}
	if d.Consts, err = read("consts.def"); err != nil {
		return err
	}
	files, err := gen.Generate(d)
	if err != nil {
		return err
	}
	for path, b := range files {
		if err := os.WriteFile(filepath.FromSlash(path), b, 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
	}
	return nil
}
