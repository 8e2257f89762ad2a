package config

import (
	"os"
	"path/filepath"
	"strings"
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

func TestDurability(t *testing.T) {
	for in, want := range map[string]string{"": "", "durability: full\n": "full", "durability: batched\n": "batched"} {
		c, err := Parse("c", []byte(in))
		if err != nil || c.Durability != want {
			t.Errorf("Parse(%q) = %+v, %v; want durability %q", in, c, err, want)
		}
	}
	for _, bad := range []string{"durability: fast\n", "durability: FULL\n", "durability: 1\n"} {
		_, err := Parse("bad.yaml", []byte(bad))
		if err == nil {
			t.Errorf("accepted %q", bad)
		} else if msg := err.Error(); strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "bad.yaml: durability: ") ||
			!strings.Contains(msg, "full or batched") {
			t.Errorf("Parse(%q): error %q, want one line naming the file, the key and the values", bad, msg)
		}
	}
	for _, bad := range []string{"durability: [full]\n", "durabilty: full\n"} {
		if _, err := Parse("bad.yaml", []byte(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
	// The key survives a Save and Load (keyward provision rewrites the file), and is left out when unset.
	path := filepath.Join(t.TempDir(), "keywardd.yaml")
	c := &File{Durability: "batched"}
	c.SetPolicy(TokenPolicy{Label: "device"})
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	if got, err := Load(path); err != nil || got.Durability != "batched" {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	c.Durability = ""
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); strings.Contains(string(b), "durability") {
		t.Errorf("an unset durability was written:\n%s", b)
	}
}

func TestMinRSABits(t *testing.T) {
	c, err := Parse("ok", []byte("min_rsa_bits: 1024\n"))
	if err != nil || c.MinRSABits != 1024 {
		t.Fatalf("min_rsa_bits 1024: %+v, %v", c, err)
	}
	for _, bad := range []string{"min_rsa_bits: 512\n", "min_rsa_bits: 1025\n", "min_rsa_bits: 8192\n", "min_rsa_bits: x\n"} {
		if _, err := Parse("bad", []byte(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}
