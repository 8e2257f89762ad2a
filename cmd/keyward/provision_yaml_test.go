package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
