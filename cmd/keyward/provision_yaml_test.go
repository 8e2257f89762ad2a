package main

import (
	"os"

	"path/filepath"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/config"
)

func TestProvisionYAML(t *testing.T) {
	initMu.Lock()
	defer initMu.Unlock()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "so.pin"), []byte("yaml-so-pin\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "user.pin"), []byte("yaml-user\n"), 0o600)
	good := "tokens:\n  - label: yamltok\n    so-pin-source: " + dir + "/so.pin\n    pin-source: " + dir + "/user.pin\n    keys:\n      - label: k1\n        id: \"01\"\n        type: ed25519\n"
	p := writeFileIn(t, dir, "m.yaml", []byte(good))
	r := kw(t, nil, "provision", p)
	if r.code != 0 || !strings.Contains(r.stdout, "pkcs11:token=yamltok;object=k1;id=%01") {
		t.Fatalf("%+v", r)
	}
	bad := strings.Replace(good, "type: ed25519", "type: rsa:1", 1)
	fails(t, kw(t, nil, "provision", writeFileIn(t, dir, "bad.yaml", []byte(bad))), exitUsage, "bad.yaml:6: key \"k1\": unknown key type")
	unk := good + "    colour: red\n"
	fails(t, kw(t, nil, "provision", writeFileIn(t, dir, "unk.yaml", []byte(unk))), exitUsage, "unk.yaml:9:")
}

// TestProvisionAccessPolicy writes a token's identity-login policy into the daemon's configuration, which
// keywardd's own loader accepts, and a second run changes nothing.
func TestProvisionAccessPolicy(t *testing.T) {
	initMu.Lock()
	defer initMu.Unlock()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "so.pin"), []byte("acl-so-pin\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "user.pin"), []byte("acl-user\n"), 0o600)
	conf := filepath.Join(dir, "etc", "keywardd.yaml")
	os.MkdirAll(filepath.Dir(conf), 0o700)
	os.WriteFile(conf, []byte("audit: /var/log/keyward/audit.jsonl\n"), 0o600)
	m := "config: " + conf + "\ntokens:\n  - label: acltok\n    so-pin-source: " + dir + "/so.pin\n    pin-source: " + dir +
		"/user.pin\n    access:\n      allow_uids: [0, 1000]\n      login_uids: [1000]\n      login_gids: [120]\n"
	p := writeFileIn(t, dir, "m.yaml", []byte(m))
	r := kw(t, nil, "provision", p)
	if r.code != 0 || !strings.Contains(r.stdout, `"config": "`+conf+`"`) || !strings.Contains(r.stderr, "keywardd reloaded them") {
		t.Fatalf("%+v", r)
	}
	f, err := config.Load(conf)
	if err != nil {
		t.Fatal(err)
	}
	if f.Audit != "/var/log/keyward/audit.jsonl" || len(f.Tokens) != 1 || f.Tokens[0].Label != "acltok" ||
		len(f.Tokens[0].LoginUIDs) != 1 || f.Tokens[0].LoginUIDs[0] != 1000 || f.Tokens[0].LoginGIDs[0] != 120 {
		t.Fatalf("configuration after provisioning: %+v", f)
	}
	before, _ := os.ReadFile(conf)
	r = kw(t, nil, "provision", p)
	if r.code != 0 || !strings.Contains(r.stderr, "nothing changed") {
		t.Fatalf("second run: %+v", r)
	}
	if after, _ := os.ReadFile(conf); string(after) != string(before) {
		t.Fatal("the second run rewrote the configuration")
	}
}
