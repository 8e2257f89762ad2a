package integration

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/seal/swtpmtest"
)

// The device root key sealed to a TPM (swtpm on a private socket), end to end: keywardd --seal tpm2 serving
// pkcs11-tool, daemon restarts (reboots), TPM power cycles, and every refusal (PCRs changed, another TPM, no
// TPM, corrupt blob) as one log line, an audit record, a `keyward doctor` failure and an untouched store.

const (
	sealLabel  = "sealed"
	sealSOPIN  = "so-1234567"
	sealPIN    = "user-2468"
	sealPCRArg = "7"
)

// sealEnv is a daemon configuration whose root key is sealed to tp, with an audit log and a keywardd.yaml
// (read by the CLI's doctor and seal commands).
type sealEnv struct {
	env
	tp     *swtpmtest.TPM
	audit  string
	config string
}

func newSealEnv(t *testing.T, tp *swtpmtest.TPM) *sealEnv {
	e := &sealEnv{env: newEnv(t), tp: tp}
	e.audit = filepath.Join(filepath.Dir(e.Log), "audit.jsonl")
	e.config = filepath.Join(filepath.Dir(e.Log), "keywardd.yaml")
	e.writeConfig()
	return e
}

func (e *sealEnv) writeConfig() {
	os.WriteFile(e.config, []byte("seal: tpm2\ntpm2:\n  device: "+e.tp.Device()+"\n  pcrs: ["+sealPCRArg+"]\n"), 0o600)
}

func (e *sealEnv) start(t *testing.T) *daemon {
	t.Helper()
	d := startDaemonProcess(t, e.env, "--seal", "tpm2", "--tpm", e.tp.Device(), "--pcrs", sealPCRArg, "--audit", e.audit)
	if err := d.waitReady(10 * time.Second); err != nil {
		t.Fatalf("keywardd --seal tpm2 did not serve: %v\nlog:\n%s", err, tailFile(e.Log, 20))
	}
	return d
}

// refused starts the daemon, requires it to exit with status 1 without serving, and returns the error
// line of its log (there must be exactly one).
func (e *sealEnv) refused(t *testing.T, want string) {
	t.Helper()
	before := storeDigest(t, e.Store)
	logBefore, _ := os.ReadFile(e.Log)
	auditBefore, _ := os.ReadFile(e.audit)
	d := startDaemonProcess(t, e.env, "--seal", "tpm2", "--tpm", e.tp.Device(), "--pcrs", sealPCRArg, "--audit", e.audit)
	if !d.exited(10 * time.Second) {
		t.Fatalf("%s: keywardd did not exit", want)
	}
	if code := d.exitCode(); code != 1 {
		t.Fatalf("%s: exit status %d, want 1", want, code)
	}
	if _, err := os.Stat(e.Socket); err == nil {
		t.Errorf("%s: the socket exists: the daemon served", want)
	}
	logAll, _ := os.ReadFile(e.Log)
	var errs []string
	for _, l := range strings.Split(string(logAll[len(logBefore):]), "\n") {
		if strings.Contains(l, "level=ERROR") {
			errs = append(errs, l)
		}
	}
	if len(errs) != 1 || !strings.Contains(errs[0], want) || !strings.Contains(errs[0], "fix=") || !strings.Contains(errs[0], "not serving") {
		t.Fatalf("%s: want one error line naming the cause and the fix, got:\n%s", want, strings.Join(errs, "\n"))
	}
	auditAll, _ := os.ReadFile(e.audit)
	if rec := string(auditAll[len(auditBefore):]); !strings.Contains(rec, `"msg":"root key unavailable"`) || !strings.Contains(rec, want) {
		t.Fatalf("%s: the audit log does not record it: %q", want, rec)
	}
	if after := storeDigest(t, e.Store); after != before {
		t.Fatalf("%s: the store was modified", want)
	}
	// keyward doctor names it too.
	out, code := e.cli(t, "doctor", "--json")
	if code != 1 || !strings.Contains(out, `"check": "seal"`) || !strings.Contains(out, want) {
		t.Fatalf("%s: keyward doctor (exit %d) does not report it:\n%s", want, code, out)
	}
}

// cli runs the keyward CLI against this configuration (user mode: the root key under XDG_CONFIG_HOME).
func (e *sealEnv) cli(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(buildFile(t, "keyward"), args...)
	cmd.Env = append(e.clientEnv(), "XDG_CONFIG_HOME="+filepath.Dir(filepath.Dir(e.RootKey)), "KEYWARD_KDF=fast")
	if _, err := os.Stat(e.config); err == nil {
		cmd.Env = append(cmd.Env, "KEYWARD_CONF="+e.config)
	}
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

// storeDigest hashes the store's database files (not its lock file).
func storeDigest(t *testing.T, dir string) string {
	t.Helper()
	h := sha256.New()
	ents, _ := os.ReadDir(dir)
	for _, ent := range ents {
		if strings.HasSuffix(ent.Name(), ".lock") || strings.HasSuffix(ent.Name(), "-shm") {
			continue
		}
		b, _ := os.ReadFile(filepath.Join(dir, ent.Name()))
		h.Write([]byte(ent.Name()))
		h.Write(b)
	}
	return string(h.Sum(nil))
}

func TestSealedRootKeyTPM(t *testing.T) {
	tp := swtpmtest.Start(t)
	e := newSealEnv(t, tp)
	// The CLI's root key is the user-mode one: name the files as it does.
	e.RootKey = filepath.Join(filepath.Dir(e.RootKey), "keyward", "root.key")
	dumpLogOnFailure(t, e.env)
	d := e.start(t)
	p := newP11Tool(t, e.env)
	p.ok("--slot", "0", "--init-token", "--label", sealLabel, "--so-pin", sealSOPIN)
	p.ok("--token-label", sealLabel, "--init-pin", "--so-pin", sealSOPIN, "--pin", sealPIN)
	p.ok("--token-label", sealLabel, "--login", "--pin", sealPIN, "--keypairgen", "--key-type", "EC:prime256v1", "--label", "dev", "--id", "01")
	data := filepath.Join(t.TempDir(), "data")
	os.WriteFile(data, []byte("firmware image"), 0o600)
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("a private data object"), 0o600)
	p.ok("--token-label", sealLabel, "--login", "--pin", sealPIN, "--write-object", secret, "--type", "data", "--label", "priv", "--private")
	sign := func(what string) {
		t.Helper()
		sig := filepath.Join(t.TempDir(), "sig")
		p.ok("--token-label", sealLabel, "--login", "--pin", sealPIN, "--sign", "--mechanism", "ECDSA-SHA256", "--label", "dev",
			"--input-file", data, "--output-file", sig)
		if fi, err := os.Stat(sig); err != nil || fi.Size() != 64 {
			t.Fatalf("%s: no signature: %v", what, err)
		}
		out := p.ok("--token-label", sealLabel, "--login", "--pin", sealPIN, "--read-object", "--type", "data", "--label", "priv")
		if !strings.Contains(out, "a private data object") {
			t.Fatalf("%s: the private data object reads %q", what, out)
		}
	}
	sign("first boot")
	if _, err := os.Stat(e.RootKey); !os.IsNotExist(err) {
		t.Fatalf("a clear root key file exists: %v", err)
	}
	blob, err := os.ReadFile(strings.TrimSuffix(e.RootKey, ".key") + ".seal")
	if err != nil || !bytes.HasPrefix(blob, []byte("KWSEAL")) {
		t.Fatalf("no sealed blob: %v", err)
	}
	if !strings.Contains(tailFile(e.Log, 40), `msg="device root key loaded" seal=tpm2 detail="TPM 2.0, PCR policy sha256:7"`) {
		t.Errorf("the log does not say how the root key is sealed:\n%s", tailFile(e.Log, 20))
	}
	out, code := e.cli(t, "seal", "status", "--user", "--json")
	var st struct {
		Backend string `json:"backend"`
		Opens   bool   `json:"opens"`
	}
	if json.Unmarshal([]byte(out), &st); code != 0 || st.Backend != "tpm2" || !st.Opens {
		t.Fatalf("keyward seal status: exit %d: %s", code, out)
	}

	// Reboot: the daemon restarts and unseals the same key.
	d.stop()
	d = e.start(t)
	sign("after a daemon restart")
	// Power cycle: the TPM restarts with its state, PCRs back at their boot values.
	d.stop()
	tp.Restart()
	d = e.start(t)
	sign("after a TPM power cycle")
	out, code = e.cli(t, "doctor", "--json")
	if !strings.Contains(out, `"check": "seal"`) || !strings.Contains(out, "TPM 2.0, PCR policy sha256:7, opens") {
		t.Errorf("keyward doctor does not report the seal (exit %d):\n%s", code, out)
	}
	d.stop()

	// Other firmware measured into PCR 7: refused.
	cmd := exec.Command("tpm2_pcrextend", "7:sha256="+strings.Repeat("ab", 32))
	cmd.Env = append(os.Environ(), tp.ToolsEnv())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tpm2_pcrextend: %v\n%s", err, out)
	}
	e.refused(t, "PCR sha256:7 changed")
	// Booted back into the sealed configuration: serves again.
	tp.Restart()
	d = e.start(t)
	sign("after the PCRs are back")
	d.stop()

	// A corrupt blob.
	sealPath := strings.TrimSuffix(e.RootKey, ".key") + ".seal"
	bad := bytes.Clone(blob)
	bad[len(bad)-20] ^= 1
	os.WriteFile(sealPath, bad, 0o600)
	e.refused(t, "the blob is damaged")
	os.WriteFile(sealPath, blob, 0o600)

	// No TPM.
	tp.Stop()
	e.refused(t, "no TPM at")

	// Another device: the store and its sealed key copied next to another TPM.
	e.tp = swtpmtest.Start(t)
	e.writeConfig()
	e.refused(t, "sealed by another TPM")
}

// TestSealMigrateCLI is the factory flow: an image provisioned offline on the build host with a key file,
// sealed on first boot by `keyward seal migrate` (the key file erased), then served by keywardd --seal tpm2.
func TestSealMigrateCLI(t *testing.T) {
	tp := swtpmtest.Start(t)
	e := newSealEnv(t, tp)
	dumpLogOnFailure(t, e.env)
	// Build host: provision offline with a key file (no keywardd.yaml there).
	os.Remove(e.config)
	if out, code := e.cli(t, "--store", e.Store, "--root-key", e.RootKey, "token", "init", "--label", sealLabel,
		"--so-pin", sealSOPIN); code != 0 {
		t.Fatalf("offline token init: %d\n%s", code, out)
	}
	keyFile, err := os.ReadFile(e.RootKey)
	if err != nil || len(keyFile) != 32 {
		t.Fatalf("the build host made no key file: %v", err)
	}
	// A daemon configured for tpm2 refuses the unsealed image, clearly.
	d := startDaemonProcess(t, e.env, "--seal", "tpm2", "--tpm", tp.Device())
	if !d.exited(10*time.Second) || d.exitCode() != 1 || !strings.Contains(tailFile(e.Log, 5), "keyward seal migrate --to tpm2") {
		t.Fatalf("keywardd --seal tpm2 on a key file did not refuse with the fix:\n%s", tailFile(e.Log, 5))
	}
	e.writeConfig()
	// First boot: seal it (holding the store's lock).
	out, code := e.cli(t, "--store", e.Store, "--root-key", e.RootKey, "seal", "migrate", "--to", "tpm2", "--tpm", tp.Device(), "--pcrs", "7")
	if code != 0 || !strings.Contains(out, "overwrote and removed") {
		t.Fatalf("seal migrate: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(e.RootKey); !os.IsNotExist(err) {
		t.Fatal("the key file survived the migration")
	}
	// Idempotent.
	if out, code := e.cli(t, "seal", "migrate", "--root-key", e.RootKey, "--to", "tpm2", "--tpm", tp.Device(), "--pcrs", "7"); code != 0 || !strings.Contains(out, "already sealed") {
		t.Fatalf("seal migrate again: exit %d\n%s", code, out)
	}
	// keywardd configured by keywardd.yaml alone (seal: tpm2, tpm2.device); refused while it owns the store.
	d = startDaemonProcess(t, e.env, "--config", e.config)
	if err := d.waitReady(10 * time.Second); err != nil || !strings.Contains(tailFile(e.Log, 5), "seal=tpm2") {
		t.Fatalf("keywardd --config (seal: tpm2): %v\n%s", err, tailFile(e.Log, 5))
	}
	if out, code := e.cli(t, "--store", e.Store, "--root-key", e.RootKey, "seal", "migrate", "--to", "file"); code != 1 || !strings.Contains(out, "in use by a running keywardd") {
		t.Fatalf("seal migrate with the daemon running: exit %d\n%s", code, out)
	}
	out = newP11Tool(t, e.env).ok("-L")
	if !strings.Contains(out, sealLabel) {
		t.Fatalf("the sealed store lost its token:\n%s", out)
	}
	d.stop()
	// Usage errors are one line and exit 2.
	for _, args := range [][]string{{"seal"}, {"seal", "migrate"}, {"seal", "migrate", "--to", "tpm3"}, {"seal", "migrate", "--to", "tpm2", "--pcrs", "x"}} {
		if out, code := e.cli(t, args...); code != 2 || strings.Count(strings.TrimSpace(out), "\n") != 0 {
			t.Errorf("keyward %v: exit %d, want 2 and one line:\n%s", args, code, out)
		}
	}
}

// TestServiceUnitSeal checks keywardd.service for a sealed root key: the TPM is visible (DeviceAllow, not
// PrivateDevices) while the device policy stays closed, and the first-start step that creates root.key (run
// here with /etc/keyward replaced by a temporary directory) leaves a sealed key alone: a key file beside
// root.seal would hold another key, and the daemon would refuse both.
func TestServiceUnitSeal(t *testing.T) {
	unit, err := os.ReadFile(filepath.Join(repoRoot(t), "dist", "systemd", "keywardd.service"))
	if err != nil {
		t.Fatal(err)
	}
	var pre string
	settings := map[string][]string{}
	for _, l := range strings.Split(string(unit), "\n") {
		k, v, ok := strings.Cut(l, "=")
		if ok && !strings.HasPrefix(l, "#") {
			settings[k] = append(settings[k], v)
			if k == "ExecStartPre" && strings.Contains(v, "root.key") {
				pre = v
			}
		}
	}
	if !slicesContains(settings["DeviceAllow"], "/dev/tpmrm0 rw") || !slicesContains(settings["DevicePolicy"], "closed") ||
		slicesContains(settings["PrivateDevices"], "yes") {
		t.Fatalf("keywardd.service hides the TPM or opens other devices: DeviceAllow=%v DevicePolicy=%v PrivateDevices=%v",
			settings["DeviceAllow"], settings["DevicePolicy"], settings["PrivateDevices"])
	}
	script, ok := strings.CutPrefix(pre, "+/bin/sh -ec '")
	if !ok {
		t.Fatalf("unexpected ExecStartPre %q", pre)
	}
	script = strings.TrimSuffix(script, "'")
	script = strings.ReplaceAll(script, "$$", "$")
	script = strings.ReplaceAll(script, "chown keyward:keyward", "true")
	run := func(dir string) {
		t.Helper()
		s := strings.ReplaceAll(script, "/etc/keyward", dir)
		if out, err := exec.Command("/bin/sh", "-ec", s).CombinedOutput(); err != nil {
			t.Fatalf("ExecStartPre: %v\n%s", err, out)
		}
	}
	dir := t.TempDir()
	run(dir)
	if k, err := os.ReadFile(filepath.Join(dir, "root.key")); err != nil || len(k) != 32 {
		t.Fatalf("a first start made no 32-byte root.key: %v", err)
	}
	dir = t.TempDir()
	os.WriteFile(filepath.Join(dir, "root.seal"), []byte("KWSEAL"), 0o600)
	run(dir)
	if _, err := os.Stat(filepath.Join(dir, "root.key")); !os.IsNotExist(err) {
		t.Fatal("ExecStartPre made a root.key beside root.seal")
	}
	drop, err := os.ReadFile(filepath.Join(repoRoot(t), "dist", "systemd", "keywardd.service.d", "seal-tpm2.conf"))
	if err != nil || !strings.Contains(string(drop), "seal migrate --root-key /etc/keyward/root.key --to tpm2") {
		t.Fatalf("the seal-tpm2 drop-in is missing or does not seal on first boot: %v", err)
	}
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if strings.TrimSpace(x) == v {
			return true
		}
	}
	return false
}

// TestSealAuthorizedPolicyCLI: a firmware update without re-sealing. The vendor's key is made with openssl;
// keyward seal sign-policy signs the PCR 7 policy of the shipped firmware and keyward seal migrate
// --policy-key seals to it; after the update (PCR 7 extended) keywardd refuses until the new firmware's
// policy is installed, here computed by tpm2_createpolicy and signed by openssl dgst, the format a vendor's
// own tooling produces; then the same root.seal serves again.
func TestSealAuthorizedPolicyCLI(t *testing.T) {
	for _, tool := range []string{"openssl", "tpm2_createpolicy", "tpm2_pcrextend"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed", tool)
		}
	}
	tp := swtpmtest.Start(t)
	e := newSealEnv(t, tp)
	dumpLogOnFailure(t, e.env)
	dir := t.TempDir()
	vendor, vendorPub := filepath.Join(dir, "vendor.pem"), filepath.Join(dir, "vendor.pub")
	run := func(name string, args ...string) string {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Env = append(os.Environ(), tp.ToolsEnv())
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
		return string(out)
	}
	run("openssl", "ecparam", "-genkey", "-name", "prime256v1", "-noout", "-out", vendor)
	run("openssl", "ec", "-in", vendor, "-pubout", "-out", vendorPub)
	policies := filepath.Join(filepath.Dir(e.RootKey), "root.policies")
	os.MkdirAll(policies, 0o700)
	if out, code := e.cli(t, "seal", "sign-policy", "--key", vendor, "--pcrs", "7", "--tpm", tp.Device(), "--out", filepath.Join(policies, "fw1.json")); code != 0 {
		t.Fatalf("sign-policy: exit %d\n%s", code, out)
	}
	os.WriteFile(e.RootKey, bytes.Repeat([]byte{9}, 32), 0o600)
	if out, code := e.cli(t, "seal", "migrate", "--root-key", e.RootKey, "--to", "tpm2", "--tpm", tp.Device(), "--policy-key", vendorPub); code != 0 || !strings.Contains(out, "authorized PCR policy") {
		t.Fatalf("migrate --policy-key: exit %d\n%s", code, out)
	}
	blob, _ := os.ReadFile(strings.TrimSuffix(e.RootKey, ".key") + ".seal")
	start := func() *daemon {
		t.Helper()
		d := startDaemonProcess(t, e.env, "--seal", "tpm2", "--tpm", tp.Device())
		if err := d.waitReady(10 * time.Second); err != nil {
			t.Fatalf("keywardd: %v\n%s", err, tailFile(e.Log, 10))
		}
		return d
	}
	d := start()
	newP11Tool(t, e.env).ok("--slot", "0", "--init-token", "--label", sealLabel, "--so-pin", sealSOPIN)
	d.stop()
	// The update.
	run("tpm2_pcrextend", "7:sha256="+strings.Repeat("5a", 32))
	d = startDaemonProcess(t, e.env, "--seal", "tpm2", "--tpm", tp.Device())
	if !d.exited(10*time.Second) || d.exitCode() != 1 || !strings.Contains(tailFile(e.Log, 3), "matches the current PCR values") {
		t.Fatalf("after the update without its policy:\n%s", tailFile(e.Log, 5))
	}
	// The vendor's policy for the new firmware, made with tpm2-tools and openssl.
	pol := filepath.Join(dir, "fw2.policy")
	run("tpm2_createpolicy", "--policy-pcr", "-l", "sha256:7", "-L", pol)
	digest, _ := os.ReadFile(pol)
	msg := filepath.Join(dir, "fw2.msg")
	os.WriteFile(msg, append(bytes.Clone(digest), "keyward root key"...), 0o600)
	sig := filepath.Join(dir, "fw2.sig")
	run("openssl", "dgst", "-sha256", "-sign", vendor, "-out", sig, msg)
	sigDER, _ := os.ReadFile(sig)
	js, _ := json.Marshal(map[string]any{"version": 1, "bank": "sha256", "pcrs": []int{7},
		"policy": hex.EncodeToString(digest), "signature": hex.EncodeToString(sigDER)})
	os.WriteFile(filepath.Join(policies, "fw2.json"), js, 0o644)
	d = start()
	if out := newP11Tool(t, e.env).ok("-L"); !strings.Contains(out, sealLabel) {
		t.Fatalf("the token is gone after the update:\n%s", out)
	}
	d.stop()
	if after, _ := os.ReadFile(strings.TrimSuffix(e.RootKey, ".key") + ".seal"); !bytes.Equal(after, blob) {
		t.Fatal("root.seal changed across the update")
	}
}

// TestLostRootKey: the root key file of a store with tokens is gone (deleted, or the wrong --root-key): the
// daemon refuses, naming the fix, and does not create a new key that would not open the store (and would
// then stand in the way of the restored one).
func TestLostRootKey(t *testing.T) {
	e := newEnv(t)
	dumpLogOnFailure(t, e)
	d := startDaemon(t, e)
	c := dial(t, e)
	initToken(t, c, 0, "lost", sealSOPIN, sealPIN)
	c.Close()
	d.stop()
	key, _ := os.ReadFile(e.RootKey)
	os.Remove(e.RootKey)
	for _, extra := range [][]string{nil, {"--seal", "file"}} {
		d = startDaemonProcess(t, e, extra...)
		if !d.exited(10*time.Second) || d.exitCode() != 1 || !strings.Contains(tailFile(e.Log, 3), "restore root.seal or root.key from a backup") {
			t.Fatalf("%v: keywardd without the store's root key:\n%s", extra, tailFile(e.Log, 5))
		}
		if _, err := os.Stat(e.RootKey); !os.IsNotExist(err) {
			t.Fatalf("%v: keywardd created a new root key for a store with tokens", extra)
		}
	}
	os.WriteFile(e.RootKey, key, 0o600)
	d = startDaemon(t, e)
	d.stop()
}
