package seal

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestKeyringTrusted seals with a kernel trusted key where the kernel has them; elsewhere (this CI's kernel
// has no trusted-keys support) it checks that the refusal is ErrUnsupported naming the cause, writes nothing,
// and skips with that reason.
func TestKeyringTrusted(t *testing.T) {
	o := Options{Backend: BackendKeyring, KeyPath: filepath.Join(t.TempDir(), "root.key")}
	k1, err := Load(o)
	if err != nil {
		if ents := listDir(o.KeyPath); len(ents) != 0 {
			t.Fatalf("a refused keyring seal wrote %v", ents)
		}
		if errors.Is(err, ErrUnsupported) || errors.Is(err, ErrNoDevice) {
			t.Skipf("kernel trusted keys unavailable here: %v", err)
		}
		t.Fatal(err)
	}
	k2, err := Load(o)
	if err != nil || !bytes.Equal(k1, k2) {
		t.Fatalf("unseal: %v", err)
	}
}

// TestKeyringDerivation runs the keyring backend's kernel derivation (AF_ALG HMAC keyed by a kernel key's
// serial, then AES-GCM) with a "user" key standing in for the trusted key, which this kernel lacks: seal,
// unseal, a corrupt blob refused. The stand-in keeps its value in the blob, so it is for tests only.
func TestKeyringDerivation(t *testing.T) {
	keyringKeyType = "user"
	defer func() { keyringKeyType = "trusted" }()
	o := Options{Backend: BackendKeyring, KeyPath: filepath.Join(t.TempDir(), "root.key"), Keyring: KeyringOptions{Trusted: "kw-test"}}
	k1, err := Load(o)
	if errors.Is(err, ErrUnsupported) || errors.Is(err, ErrNoDevice) {
		t.Skipf("the kernel cannot derive from a kernel key here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	k2, err := Load(o)
	if err != nil || !bytes.Equal(k1, k2) {
		t.Fatalf("unseal: %v", err)
	}
	if st := GetStatus(o); st.Err != nil || st.Backend != BackendKeyring {
		t.Fatalf("status %+v", st)
	}
	path := SealPath(o.KeyPath)
	blob, _ := os.ReadFile(path)
	bad := bytes.Clone(blob)
	bad[len(bad)-1] ^= 1
	os.WriteFile(path, bad, 0o600)
	if _, err := Load(o); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("corrupt blob: %v", err)
	}
	// Migrating an existing key file into the keyring keeps the key.
	o2 := Options{KeyPath: filepath.Join(t.TempDir(), "root.key"), Keyring: o.Keyring}
	fileKey, err := Load(o2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Migrate(o2, BackendKeyring); err != nil {
		t.Fatal(err)
	}
	o2.Backend = BackendKeyring
	if k, err := Load(o2); err != nil || !bytes.Equal(k, fileKey) {
		t.Fatalf("after migration: %v", err)
	}
}
