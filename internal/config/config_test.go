package config

import (
	"os"
	"path/filepath"
	"testing"
)

func TestLoadSaveSetPolicy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keywardd.yaml")
	c := &File{MaxPINFailures: 5}
	if !c.SetPolicy(TokenPolicy{Label: "device", LoginUIDs: []uint32{1000}}) {
		t.Fatal("a new policy did not change the file")
	}
	if c.SetPolicy(TokenPolicy{Label: "device", LoginUIDs: []uint32{1000}}) {
		t.Fatal("the same policy again changed the file")
	}
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode())
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.MaxPINFailures != 5 || len(got.Tokens) != 1 || got.Tokens[0].LoginUIDs[0] != 1000 {
		t.Fatalf("round trip: %+v", got)
	}
	for _, bad := range []string{"tokens:\n  - label: x\n    allow_uid: [1]\n", "tokens:\n  - allow_uids: [1]\n",
		"tokens:\n  - label: a\n    serial: b\n", "max_pin_failure: 3\n"} {
		if _, err := Parse("bad", []byte(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}
