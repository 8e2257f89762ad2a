//go:build seal_pkcs11

package seal

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miekg/pkcs11"
)

const softhsmModule = "/usr/lib/softhsm/libsofthsm2.so"

// softHSM makes a private SoftHSMv2 configuration with one token (label kwseal, user PIN in a file) and
// returns the pkcs11 options for it.
func softHSM(t *testing.T, label string) PKCS11Options {
	t.Helper()
	if _, err := os.Stat(softhsmModule); err != nil {
		t.Skip("SoftHSMv2 is not installed (scripts/install-test-deps.sh installs softhsm2)")
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "softhsm2.conf")
	os.Mkdir(filepath.Join(dir, "tokens"), 0o700)
	os.WriteFile(conf, []byte("directories.tokendir = "+filepath.Join(dir, "tokens")+"\nobjectstore.backend = file\nlog.level = ERROR\n"), 0o600)
	t.Setenv("SOFTHSM2_CONF", conf)
	out, err := exec.Command("softhsm2-util", "--init-token", "--free", "--label", label, "--so-pin", "12345678", "--pin", "87654321").CombinedOutput()
	if err != nil {
		t.Fatalf("softhsm2-util: %v\n%s", err, out)
	}
	pin := filepath.Join(dir, "pin")
	os.WriteFile(pin, []byte("87654321\n"), 0o600)
	return PKCS11Options{Module: softhsmModule, Token: label, Key: "keyward-root-wrap", PINFile: pin}
}

// TestPKCS11SealUnseal seals the root key under an AES key generated inside SoftHSMv2 and unseals it again
// (a restart); the blob never holds the key; the wrapping key is sensitive and not extractable.
func TestPKCS11SealUnseal(t *testing.T) {
	o := Options{Backend: BackendPKCS11, KeyPath: filepath.Join(t.TempDir(), "root.key"), PKCS11: softHSM(t, "kwseal")}
	k1, err := Load(o)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := Load(o)
	if err != nil || !bytes.Equal(k1, k2) {
		t.Fatalf("unseal: %v", err)
	}
	blob, _ := os.ReadFile(SealPath(o.KeyPath))
	if bytes.Contains(blob, k1[:16]) {
		t.Fatal("the blob holds the key in clear")
	}
	if _, err := os.Stat(o.KeyPath); !os.IsNotExist(err) {
		t.Fatal("a key file was written")
	}
	st := GetStatus(o)
	if st.Err != nil || !strings.Contains(st.Detail, `AES-256-GCM key "keyward-root-wrap"`) {
		t.Fatalf("status %+v", st)
	}
	// The wrapping key the first seal generated never leaves the module.
	bk, _ := newPKCS11(o.PKCS11)
	s, err := bk.(*pkcs11Backend).open(false)
	if err != nil {
		t.Fatal(err)
	}
	attrs, err := s.ctx.GetAttributeValue(s.sh, s.key, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, nil), pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, nil), pkcs11.NewAttribute(pkcs11.CKA_TOKEN, nil)})
	s.close()
	if err != nil || len(attrs) != 3 || attrs[0].Value[0] != 1 || attrs[1].Value[0] != 0 || attrs[2].Value[0] != 1 {
		t.Fatalf("wrapping key attributes (sensitive, extractable, token) = %v, %v", attrs, err)
	}
	// Corrupt ciphertext: the GCM tag refuses it.
	bad := bytes.Clone(blob)
	bad[len(bad)-1] ^= 1
	os.WriteFile(SealPath(o.KeyPath), bad, 0o600)
	if _, err := Load(o); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("corrupt blob: %v", err)
	}
	os.WriteFile(SealPath(o.KeyPath), blob, 0o600)
	// A wrong PIN, another token label, another key label: refused, clearly.
	wrong := filepath.Join(t.TempDir(), "pin")
	os.WriteFile(wrong, []byte("00000000"), 0o600)
	o2 := o
	o2.PKCS11.PINFile = wrong
	if _, err := Load(o2); err == nil || !strings.Contains(err.Error(), "login to token") {
		t.Fatalf("wrong PIN: %v", err)
	}
	os.Chmod(wrong, 0o644)
	if _, err := Load(o2); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "others may read it") {
		t.Fatalf("a readable PIN file: %v", err)
	}
	o2 = o
	o2.PKCS11.Key = "other"
	if _, err := Load(o2); !errors.Is(err, ErrConfig) {
		t.Fatalf("other key label: %v", err)
	}
}

// TestPKCS11AnotherToken: the blob next to another token with a key of the same label (another device) is
// refused by the GCM tag.
func TestPKCS11AnotherToken(t *testing.T) {
	o := Options{Backend: BackendPKCS11, KeyPath: filepath.Join(t.TempDir(), "root.key"), PKCS11: softHSM(t, "kwseal")}
	if _, err := Load(o); err != nil {
		t.Fatal(err)
	}
	o.PKCS11 = softHSM(t, "kwseal") // a fresh SoftHSM: another device
	if _, err := Load(o); !errors.Is(err, ErrOtherDevice) {
		t.Fatalf("another token without the key: %v", err)
	}
	// With a wrapping key of the same label there: the tag fails.
	o2 := Options{Backend: BackendPKCS11, KeyPath: filepath.Join(t.TempDir(), "root.key"), PKCS11: o.PKCS11}
	if _, err := Load(o2); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(o); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("another token's key: %v", err)
	}
}

// TestPKCS11BadModule: a missing module, a library that is no PKCS#11 module, a missing token: one clear
// error each, no file written.
func TestPKCS11BadModule(t *testing.T) {
	opts := softHSM(t, "kwseal")
	dir := t.TempDir()
	notModule := filepath.Join(dir, "libnot.so")
	os.WriteFile(notModule, []byte("not an ELF file"), 0o600)
	for _, c := range []struct {
		mod, token, want string
	}{
		{filepath.Join(dir, "libckteec.so.0"), "kwseal", "no module"},
		{notModule, "kwseal", "not a loadable PKCS#11 module"},
		{"/lib/x86_64-linux-gnu/libm.so.6", "kwseal", "not a loadable PKCS#11 module"},
		{softhsmModule, "nosuch", `no token labelled "nosuch"`},
	} {
		o := Options{Backend: BackendPKCS11, KeyPath: filepath.Join(dir, "root.key"), PKCS11: opts}
		o.PKCS11.Module, o.PKCS11.Token = c.mod, c.token
		_, err := Load(o)
		if !errors.Is(err, ErrNoDevice) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s/%s: err = %v, want %q", c.mod, c.token, err, c.want)
		}
		if _, err := os.Stat(SealPath(o.KeyPath)); !os.IsNotExist(err) {
			t.Fatalf("%s: a blob was written", c.mod)
		}
	}
}
