package main

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// Golden-output tests: a token with fixed objects (the keys and certificate in testdata/golden, generated
// once and committed), and the output of list, list --json, show and token info --json compared with
// testdata/golden/*.golden after masking what legitimately varies (the token serial, the slot, session
// counts, object handles). Regenerate with:  go test ./cmd/keyward -run TestGolden -update

var updateGolden = flag.Bool("update", false, "rewrite testdata/golden/*.golden from the current output")

const goldenDir = "testdata/golden"

func TestGolden(t *testing.T) {
	env := newToken(t, "golden")
	in := func(name string) string { return filepath.Join(goldenDir, name) }
	ok(t, env, "import", in("device.key.pem"), "--label", "device-id", "--id", "01", "--token", "golden")
	ok(t, env, "import", in("device.crt.pem"), "--token", "golden") // finds its key: label device-id, id 01
	ok(t, env, "import", in("fw.key.pem"), "--label", "fw-sign", "--id", "02", "--token", "golden")
	ok(t, env, "import", in("data.key.hex"), "--type", "secret", "--key-type", "aes", "--hex", "--label", "data-key", "--id", "03", "--token", "golden")

	var info struct {
		Serial string `json:"serial"`
	}
	infoOut := ok(t, env, "token", "info", "--token", "golden", "--json")
	if err := json.Unmarshal([]byte(infoOut), &info); err != nil || info.Serial == "" {
		t.Fatalf("token info --json: %v, %q", err, infoOut)
	}
	mask := goldenMasker(info.Serial)

	cases := []struct {
		file string
		args []string
	}{
		{"list.golden", []string{"list", "pkcs11:token=golden"}},
		{"list-json.golden", []string{"list", "pkcs11:token=golden", "--json", "--login"}},
		{"show-device-id.golden", []string{"show", "pkcs11:token=golden;object=device-id", "--login"}},
		{"show-data-key-json.golden", []string{"show", "pkcs11:token=golden;object=data-key", "--login", "--json"}},
		{"token-info-json.golden", []string{"token", "info", "--token", "golden", "--json"}},
	}
	for _, tc := range cases {
		t.Run(strings.TrimSuffix(tc.file, ".golden"), func(t *testing.T) {
			r := kw(t, env, tc.args...)
			if r.code != 0 || r.stderr != "" {
				t.Fatalf("keyward %s: exit %d, stderr %q", strings.Join(tc.args, " "), r.code, r.stderr)
			}
			got := mask(r.stdout)
			if strings.Contains(got, info.Serial) {
				t.Fatalf("the token serial is still in the masked output:\n%s", got)
			}
			path := in(tc.file)
			if *updateGolden {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -run TestGolden -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("keyward %s differs from %s (run with -update if the change is intended):\n%s",
					strings.Join(tc.args, " "), path, lineDiff(string(want), got))
			}
		})
	}
}

// goldenMasker returns a function that replaces the values that vary from run to run with placeholders.
func goldenMasker(serial string) func(string) string {
	res := []struct {
		re   *regexp.Regexp
		repl string
	}{
		{regexp.MustCompile(`("slot":\s*)\d+`), `${1}"<SLOT>"`},
		{regexp.MustCompile(`("sessions":\s*)\d+`), `${1}"<SESSIONS>"`},
		{regexp.MustCompile(`("handle":\s*)\d+`), `${1}"<HANDLE>"`},
		{regexp.MustCompile(`(?m)^(handle:\s*)\S+`), `${1}<HANDLE>`},
		{regexp.MustCompile(`(?m)^(slot:\s*)\S+`), `${1}<SLOT>`},
	}
	return func(s string) string {
		s = strings.ReplaceAll(s, serial, "<SERIAL>")
		for _, r := range res {
			s = r.re.ReplaceAllString(s, r.repl)
		}
		return s
	}
}

// lineDiff shows the lines that differ, with their numbers.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			b.WriteString("line " + strconv.Itoa(i+1) + ":\n  want: " + wl + "\n  got:  " + gl + "\n")
		}
	}
	return b.String()
}
