package wire

import (
	"bytes"
	"os"
	"testing"

	"github.com/keyward/keyward/internal/wire/gen"
)

// TestGenerated regenerates every file that comes from calls.def, params.def and consts.def (Go and C) and
// fails when a committed one differs: the .def files are the one source of the wire format, and a hand edit
// of a generated file, or a .def change without `go generate ./internal/wire`, is caught here.
func TestGenerated(t *testing.T) {
	files, err := gen.Generate(gen.Defs{Calls: callsDef, Params: paramsDef, Consts: constsDef})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 3 {
		t.Fatalf("gen.Generate wrote %d files", len(files))
	}
	for path, want := range files {
		got, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("%s: %v (run go generate ./internal/wire)", path, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is not what the .def files generate: run go generate ./internal/wire", path)
		}
	}
}
