package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/daemon"
	"github.com/keyward/keyward/internal/engine"
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

func TestSeal(t *testing.T) {
	c, err := Parse("t", []byte("seal: tpm2\ntpm2:\n  device: swtpm:path=/run/x.sock\n  pcrs: [0, 7]\n"))
	if err != nil {
		t.Fatal(err)
	}
	o := c.SealOptions("/etc/keyward/root.key")
	if o.Backend != "tpm2" || o.TPM2.Device != "swtpm:path=/run/x.sock" || len(o.TPM2.PCRs) != 2 || o.KeyPath != "/etc/keyward/root.key" {
		t.Fatalf("seal options %+v", o)
	}
	for _, bad := range []string{"seal: tpm\n", "tpm2:\n  pcr: [7]\n", "seal: file\npkcs11:\n  modul: x\n"} {
		if _, err := Parse("bad", []byte(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestLimits(t *testing.T) {
	c, err := Parse("c", []byte("limits:\n  uid_session_bytes: 1000\n  token_objects: 7\n"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := engine.Config{MaxSessionBytes: 5}
	c.Limits.Apply(&cfg)
	if cfg.MaxUIDSessionBytes != 1000 || cfg.MaxTokenObjects != 7 || cfg.MaxSessionBytes != 5 || cfg.MaxTokenBytes != 0 {
		t.Fatalf("limits applied: %+v", cfg)
	}
	if _, err := Parse("bad", []byte("limits:\n  token_object: 7\n")); err == nil {
		t.Error("accepted a misspelt limit")
	}
}

// TestConnections: the connections section becomes the daemon's limits (durations in Go syntax), an absent one
// the defaults, and a negative limit is an error.
func TestConnections(t *testing.T) {
	c, err := Parse("k.yaml", []byte("connections:\n  max: 100\n  max_per_uid: 10\n  hello_timeout: 2s\n  frame_timeout: 1m\n  max_receive_bytes: 16777216\n"))
	if err != nil {
		t.Fatal(err)
	}
	l := c.Connections.Limits()
	if l.MaxConnections != 100 || l.MaxConnectionsPerUID != 10 || l.HelloTimeout.String() != "2s" ||
		l.FrameTimeout.String() != "1m0s" || l.MaxReceiveBytes != 16<<20 {
		t.Fatalf("limits %+v", l)
	}
	if c, err := Parse("k.yaml", []byte("max_pin_failures: 3\n")); err != nil || c.Connections.Limits() != (daemon.Limits{}) {
		t.Fatalf("no section: %+v, %v", c, err)
	}
	for _, bad := range []string{"connections:\n  max: -1\n", "connections:\n  hello_timeout: -1s\n", "connections:\n  maxx: 1\n"} {
		if _, err := Parse("k.yaml", []byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
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

// TestPINBinding: tpm2.pin_binding is read with seal: tpm2 and refused with any other seal (the TPM that seals
// the root key is the one that counts the PIN guesses).
func TestPINBinding(t *testing.T) {
	c, err := Parse("t", []byte("seal: tpm2\ntpm2: {device: /dev/tpmrm0, pin_binding: true}\n"))
	if err != nil || c.TPM2 == nil || !c.TPM2.PINBinding {
		t.Fatalf("pin_binding with seal: tpm2: %+v %v", c, err)
	}
	for _, bad := range []string{"tpm2: {pin_binding: true}\n", "seal: file\ntpm2: {pin_binding: true}\n", "seal: keyring\ntpm2: {pin_binding: true}\n"} {
		if _, err := Parse("bad", []byte(bad)); err == nil || !strings.Contains(err.Error(), "pin_binding needs seal: tpm2") {
			t.Errorf("%q: %v, want the pin_binding error", bad, err)
		}
	}
}
