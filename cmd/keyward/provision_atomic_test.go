package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// provisionDir writes the PIN files of a manifest test and returns the directory and the token's YAML head.
func provisionDir(t *testing.T, label string) (string, string) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "so.pin"), []byte(label+"-so-pin\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "user.pin"), []byte(label+"-user\n"), 0o600)
	return dir, "tokens:\n  - label: " + label + "\n    so-pin-source: " + dir + "/so.pin\n    pin-source: " + dir + "/user.pin\n    keys:\n"
}

// Every problem of a manifest is reported at once, with its line, before the token changes; --dry-run finds
// the same problems; no message shows a Go type.
func TestProvisionChecksEverything(t *testing.T) {
	dir, head := provisionDir(t, "chk")
	m := head +
		"      - label: storage\n" + // line 6
		"        type: aes:256\n" +
		"        csr: {subject: \"CN=x\", out: storage.csr}\n" +
		"      - label: dev\n" + // line 9
		"        type: ec:p256\n" +
		"        csr: {subject: \"CN=dev\", out: /nonexistent/dir/dev.csr}\n" +
		"      - label: enc\n" + // line 12
		"        type: ec:p256\n" +
		"        usage: [encrypt]\n"
	p := writeFileIn(t, dir, "m.yaml", []byte("report: "+dir+"/report.json\n"+m))
	for _, args := range [][]string{{"provision", p, "--dry-run"}, {"provision", p}} {
		r := kw(t, nil, args...)
		fails(t, r, exitUsage, "3 problems")
		for _, want := range []string{"m.yaml:7: key \"storage\": a CSR needs a key pair that signs; key type aes:256 cannot",
			"m.yaml:10: key \"dev\": csr out /nonexistent/dir/dev.csr: its directory", "m.yaml:13: key \"enc\": key type ec:p256 cannot encrypt"} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("%v: stderr %q lacks %q", args, r.stderr, want)
			}
		}
	}
	if out := ok(t, nil, "token", "list", "--json"); strings.Contains(out, `"chk"`) {
		t.Fatal("a refused manifest created the token")
	}
	var rep report
	if data, err := os.ReadFile(filepath.Join(dir, "report.json")); err != nil || json.Unmarshal(data, &rep) != nil ||
		!strings.Contains(rep.Error, "3 problems") || rep.Changed {
		t.Errorf("the report of a refused manifest: %v %+v", err, rep)
	}
	// decoder messages speak of the manifest, not of Go types
	for name, text := range map[string]string{
		"keys.yaml": "tokens:\n  - label: x\n    keys: \"abc\"\n",
		"keys.json": `{"tokens": [{"label": "x", "keys": "abc"}]}`,
		"tok.yaml":  "tokens:\n  - 12\n",
	} {
		r := kw(t, nil, "provision", writeFileIn(t, dir, name, []byte(text)))
		fails(t, r, exitUsage, name)
		if strings.Contains(r.stderr, "main.") || strings.Contains(r.stderr, "Go struct") {
			t.Errorf("%s: %q shows Go internals", name, r.stderr)
		}
		if !strings.Contains(r.stderr, "expected a") {
			t.Errorf("%s: %q does not say what was expected", name, r.stderr)
		}
	}
}

// A run that fails half-way removes what it created and still writes its report, with the failure.
func TestProvisionRollsBack(t *testing.T) {
	env := newToken(t, "rollb")
	env["KEYWARD_PIN"] = "user-rollb"
	ok(t, env, "key", "generate", "--token", "rollb", "--type", "ec:p256", "--label", "other", "--id", "05")
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "so.pin"), []byte("so-rollb-pin\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "user.pin"), []byte("user-rollb\n"), 0o600)
	m := "report: " + dir + "/report.json\ntokens:\n  - label: rollb\n    so-pin-source: " + dir + "/so.pin\n    pin-source: " + dir + "/user.pin\n    keys:\n" +
		"      - {label: a, id: \"01\", type: ec:p256, csr: {subject: \"CN=a\", out: a.csr}}\n" +
		"      - {label: b, id: \"02\", type: aes:128}\n" +
		"      - {label: c, id: \"05\", type: ed25519}\n" // id 05 is taken on the token: fails at apply
	p := writeFileIn(t, dir, "m.yaml", []byte(m))
	r := kw(t, nil, "provision", p)
	fails(t, r, exitFailed, "rolled back")
	var objs []objectJSON
	json.Unmarshal([]byte(ok(t, env, "list", "pkcs11:token=rollb", "--json")), &objs)
	if len(objs) != 2 || objs[0].Label != "other" || objs[1].Label != "other" {
		t.Errorf("after the failed run the token holds %+v, want only the key pair \"other\"", objs)
	}
	if _, err := os.Stat(filepath.Join(dir, "a.csr")); !os.IsNotExist(err) {
		t.Errorf("the failed run left its CSR: %v", err)
	}
	var rep report
	data, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil || json.Unmarshal(data, &rep) != nil {
		t.Fatalf("no report after a failed run: %v %q", err, data)
	}
	if !strings.Contains(rep.Error, `key "c"`) || len(rep.RolledBack) != 3 || rep.Changed {
		t.Errorf("report of the failed run: %+v", rep)
	}
}

// A key whose usages differ from the manifest is reported as drift, not as "nothing changed".
func TestProvisionReportsDrift(t *testing.T) {
	initMu.Lock()
	defer initMu.Unlock()
	dir, head := provisionDir(t, "drift")
	m := head + "      - {label: fw, id: \"01\", type: ec:p256, usage: [sign]}\n"
	p := writeFileIn(t, dir, "m.yaml", []byte(m))
	ok(t, nil, "provision", p)
	ok(t, nil, "provision", p) // unchanged: fine
	p2 := writeFileIn(t, dir, "m2.yaml", []byte(strings.Replace(m, "usage: [sign]", "usage: [sign, derive]", 1)))
	r := kw(t, nil, "provision", p2)
	fails(t, r, exitFailed, "differ from the manifest")
	var rep report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("report: %v in %q", err, r.stdout)
	}
	k := rep.Tokens[0].Keys[0]
	if k.Status != "drift" || len(k.Drift) != 1 || !strings.Contains(k.Drift[0], "private key: usages are sign, the manifest gives derive,sign") {
		t.Errorf("drift report: %+v", k)
	}
}
