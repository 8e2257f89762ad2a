package wire

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Calls a side does not make, on purpose. The test fails when one of them gets used, so the lists stay true.
var (
	// The Go client makes one round trip per Cryptoki call on the socket: it defers no Init, batches no search,
	// keeps no output, maps no ring.
	unusedInGoClient = map[string]bool{"OperationInitData": true, "VerifyInitVerify": true, "FindObjectsFirst": true,
		"Features": true, "OperationEnd": true, "RingSetup": true}
	// Keyward extensions without a C_ function: the CLI and pkg/client make them.
	unusedInCClient = map[string]bool{"DeleteToken": true, "InitTokenPolicy": true}
)

// sources returns the concatenated non-test files of dir whose names end in ext.
func sources(t *testing.T, dir, ext string) string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*"+ext))
	if err != nil || len(files) == 0 {
		t.Fatalf("no %s files in %s: %v", ext, dir, err)
	}
	var b strings.Builder
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") || strings.HasSuffix(f, "_gen.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(src)
	}
	return b.String()
}

// TestEveryCallIsServedAndMade: every call of calls.def has a handler in the daemon (dispatch.go, or the
// connection for Hello), a stub in pkg/client (its generated request in use) and a use in the C client
// (KW_CALL_Name), but for the calls listed above as unused on purpose.
func TestEveryCallIsServedAndMade(t *testing.T) {
	daemon := sources(t, "../daemon", ".go")
	goClient := sources(t, "../../pkg/client", ".go")
	// A call named only as a case label (a list of calls by their shape, such as those without a session) is
	// not made there.
	cClient := regexp.MustCompile(`(?m)^\s*case KW_CALL_\w+:.*$`).ReplaceAllString(sources(t, "../../client", ".c"), "")
	for _, c := range Calls() {
		used := func(src string, pats ...string) bool {
			for _, p := range pats {
				if regexp.MustCompile(p).MatchString(src) {
					return true
				}
			}
			return false
		}
		if !used(daemon, `\bserve`+c.Name+`\(func\(`, `case wire\.Call`+c.Name+`\b`, `req\.Call == wire\.Call`+c.Name+`\b`) {
			t.Errorf("%s: no handler in internal/daemon", c.Name)
		}
		if got := used(goClient, `wire\.`+c.Name+`Request\{`, `wire\.Call`+c.Name+`\b`); got == unusedInGoClient[c.Name] {
			t.Errorf("%s: made by pkg/client %v, listed as unused there %v", c.Name, got, unusedInGoClient[c.Name])
		}
		if got := used(cClient, `\bKW_CALL_`+c.Name+`\b`); got == unusedInCClient[c.Name] {
			t.Errorf("%s: made by the C client %v, listed as unused there %v", c.Name, got, unusedInCClient[c.Name])
		}
	}
	for _, list := range []map[string]bool{unusedInGoClient, unusedInCClient} {
		for name := range list {
			if _, ok := CallByName(name); !ok {
				t.Errorf("%s is listed as unused but is no call", name)
			}
		}
	}
}
