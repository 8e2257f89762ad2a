package mech

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// wycheproofDir finds ../shared/testdata/wycheproof from the repository root (the directory holding go.mod).
func wycheproofDir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("KEYWARD_WYCHEPROOF"); d != "" {
		return d
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test directory")
		}
		dir = parent
	}
	d := filepath.Join(dir, "..", "shared", "testdata", "wycheproof")
	if _, err := os.Stat(d); err != nil {
		t.Fatalf("Wycheproof vectors not found at %s (set KEYWARD_WYCHEPROOF): %v", d, err)
	}
	return d
}

// loadWycheproof decodes one Wycheproof JSON file into v.
func loadWycheproof(t testing.TB, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(wycheproofDir(t), name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// wycheproofCount tallies results per file and reports them, so a run shows what it covered.
type wycheproofCount struct {
	file                  string
	passed, failed, total int
}

func (c *wycheproofCount) report(t testing.TB) {
	t.Helper()
	t.Logf("wycheproof %s: %d vectors, %d passed, %d failed", c.file, c.total, c.passed, c.failed)
	if c.total == 0 {
		t.Errorf("wycheproof %s: no vectors ran", c.file)
	}
}
