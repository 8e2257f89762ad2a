package mech

import (
	"encoding/json"
	"fmt"
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

// tally counts a vector that passed when ok; the test has reported a failure already.
func (c *wycheproofCount) tally(ok bool) {
	if ok {
		c.passed++
	} else {
		c.failed++
	}
}

// check counts a vector: passed when ok, else failed with the error format and args describe. It returns ok.
func (c *wycheproofCount) check(t testing.TB, ok bool, format string, args ...any) bool {
	t.Helper()
	c.tally(ok)
	if !ok {
		t.Errorf(format, args...)
	}
	return ok
}

// checkBoth counts a vector that two ways of one verification answered with err and err2: a valid vector
// both must accept, an invalid one both reject, and an acceptable one both alike. It returns whether the
// vector passed.
func (c *wycheproofCount) checkBoth(t testing.TB, result string, err, err2 error, format string, args ...any) bool {
	t.Helper()
	var ok bool
	switch result {
	case "valid":
		ok = err == nil && err2 == nil
	case "invalid":
		ok = err != nil && err2 != nil
	default: // acceptable
		ok = (err == nil) == (err2 == nil)
	}
	return c.check(t, ok, "%s: %s vector, errors %v and %v", fmt.Sprintf(format, args...), result, err, err2)
}

// wycheproofEach loads each file into a fresh F, runs it with a count and reports the count.
func wycheproofEach[F any](t *testing.T, files []string, run func(file string, f *F, c *wycheproofCount)) {
	t.Helper()
	for _, file := range files {
		var f F
		loadWycheproof(t, file, &f)
		c := wycheproofCount{file: file}
		run(file, &f, &c)
		c.report(t)
	}
}
