package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/seal/swtpmtest"
)

// TestSealPINBinding runs keywardd with keywardd.yaml's tpm2.pin_binding against swtpm through pkcs11-tool:
// the PINs set then open after a daemon restart and a TPM power cycle; a wrong PIN is refused and the TPM
// counts it (TPM_PT_LOCKOUT_COUNTER), and so does Keyward (the token's PIN-count-low flag); the right PIN then
// logs in again.
func TestSealPINBinding(t *testing.T) {
	tp := swtpmtest.Start(t)
	tp.Tool("tpm2_dictionarylockout", "--setup-parameters", "--max-tries=32", "--recovery-time=600", "--lockout-recovery-time=600")
	e := newSealEnv(t, tp)
	e.RootKey = filepath.Join(filepath.Dir(e.RootKey), "keyward", "root.key")
	os.WriteFile(e.config, []byte("seal: tpm2\ntpm2:\n  device: "+tp.Device()+"\n  pin_binding: true\n"), 0o600)
	dumpLogOnFailure(t, e.env)
	start := func() *daemon {
		t.Helper()
		d := startDaemonProcess(t, e.env, "--config", e.config)
		if err := d.waitReady(10 * time.Second); err != nil {
			t.Fatalf("keywardd with pin_binding did not serve: %v\nlog:\n%s", err, tailFile(e.Log, 20))
		}
		return d
	}
	d := start()
	if !strings.Contains(tailFile(e.Log, 40), "PINs set from now on are bound to the TPM") {
		t.Errorf("the log does not say that PINs are bound:\n%s", tailFile(e.Log, 20))
	}
	p := newP11Tool(t, e.env)
	p.ok("--slot", "0", "--init-token", "--label", sealLabel, "--so-pin", sealSOPIN)
	p.ok("--token-label", sealLabel, "--init-pin", "--so-pin", sealSOPIN, "--pin", sealPIN)
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("a private data object"), 0o600)
	p.ok("--token-label", sealLabel, "--login", "--pin", sealPIN, "--write-object", secret, "--type", "data", "--label", "priv", "--private")
	read := func(what string) {
		t.Helper()
		if out := p.ok("--token-label", sealLabel, "--login", "--pin", sealPIN, "--read-object", "--type", "data", "--label", "priv"); !strings.Contains(out, "a private data object") {
			t.Fatalf("%s: the private data object reads %q", what, out)
		}
	}
	d.stop()
	tp.Restart()
	d = start()
	read("after a daemon restart and a TPM power cycle")

	before := tp.LockoutCounter()
	out, code := p.run("--token-label", sealLabel, "--login", "--pin", "wrong-pin", "--read-object", "--type", "data", "--label", "priv")
	if code == 0 || !strings.Contains(out, "CKR_PIN_INCORRECT") {
		t.Fatalf("a wrong PIN: exit %d\n%s", code, out)
	}
	if c := tp.LockoutCounter(); c != before+1 {
		t.Fatalf("the TPM's lockout counter went from %d to %d after a wrong PIN, want +1", before, c)
	}
	if out := p.ok("--list-token-slots"); !strings.Contains(out, "user PIN count low") {
		t.Errorf("Keyward did not count the wrong PIN:\n%s", out)
	}
	read("the right PIN after a wrong one")
	d.stop()
}
