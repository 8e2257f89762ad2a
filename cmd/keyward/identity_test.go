package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startDaemon starts a keywardd of the test's own on dir's store and returns its socket and a stop function.
func startDaemon(t *testing.T, dir string, extra ...string) (string, func()) {
	t.Helper()
	bin, err := keywarddPath()
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "kw.sock")
	args := append([]string{"--user", "--store", filepath.Join(dir, "store"), "--root-key", filepath.Join(dir, "root.key"),
		"--socket", sock, "--idle-exit", "0", "--log", filepath.Join(dir, "keywardd.log")}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "KEYWARD_KDF=fast")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	stop := func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}
	t.Cleanup(stop)
	if err := waitSocket(sock, done); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "keywardd.log"))
		t.Fatalf("%v; log:\n%s", err, log)
	}
	return sock, stop
}

// Access policies written by provisioning take effect (keyward signals the daemon, which reloads its
// configuration), and identity login works from the start, also after a restart before anyone used the PIN;
// the CLI then logs in by identity without asking for a PIN.
func TestProvisionIdentityLogin(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "keywardd.yaml")
	os.WriteFile(conf, nil, 0o600)
	sock, stop := startDaemon(t, dir, "--config", conf)
	os.WriteFile(filepath.Join(dir, "so.pin"), []byte("id-so-pin\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "user.pin"), []byte("id-user\n"), 0o600)
	uid := os.Getuid()
	m := fmt.Sprintf("config: %s\ntokens:\n  - label: idtok\n    so-pin-source: %s/so.pin\n    pin-source: %s/user.pin\n"+
		"    keys:\n      - {label: agent, id: \"01\", type: ec:p256}\n    access:\n      allow_uids: [%d]\n      login_uids: [%d]\n",
		conf, dir, dir, uid, uid)
	env := map[string]string{"KEYWARD_SOCKET": sock}
	r := kwIn(t, env, nil, "provision", writeFileIn(t, dir, "m.yaml", []byte(m)))
	if r.code != 0 || !strings.Contains(r.stderr, "keywardd reloaded them") {
		t.Fatalf("provision: %+v", r)
	}
	private := func(when string) {
		t.Helper()
		r := kwIn(t, env, nil, "list", "pkcs11:token=idtok;type=private", "--json")
		var objs []objectJSON
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &objs) != nil || len(objs) != 1 || objs[0].Label != "agent" {
			t.Fatalf("%s: list of private keys without a PIN: %+v", when, r)
		}
		// a key use logs in too: sign by identity
		r = kwIn(t, env, nil, "sign", "pkcs11:token=idtok;object=agent;type=private", "--in", writeFileIn(t, dir, "data", []byte("hello")),
			"--out", filepath.Join(dir, "sig"))
		if r.code != 0 {
			t.Fatalf("%s: sign by identity: %+v", when, r)
		}
	}
	private("after provisioning")
	stop()
	sock, _ = startDaemon(t, dir, "--config", conf)
	env["KEYWARD_SOCKET"] = sock
	private("after a restart, before any PIN login")
}

// The factory case: provisioning an image offline (keyward --store) with an identity policy; the device's
// first keywardd logs the listed uid in without anyone having used the PIN since.
func TestOfflineProvisionIdentityLogin(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "so.pin"), []byte("off-so-pin\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "user.pin"), []byte("off-user\n"), 0o600)
	conf := filepath.Join(dir, "keywardd.yaml")
	m := fmt.Sprintf("config: %s\ntokens:\n  - label: img\n    so-pin-source: %s/so.pin\n    pin-source: %s/user.pin\n"+
		"    keys:\n      - {label: agent, id: \"01\", type: ec:p256}\n    access:\n      login_uids: [%d]\n", conf, dir, dir, os.Getuid())
	env := map[string]string{"KEYWARD_SOCKET": filepath.Join(dir, "none.sock"), "KEYWARD_KDF": "fast"}
	r := kwIn(t, env, nil, "--store", filepath.Join(dir, "store"), "--root-key", filepath.Join(dir, "root.key"), "provision",
		writeFileIn(t, dir, "m.yaml", []byte(m)))
	if r.code != 0 || !strings.Contains(r.stderr, "identity login is enabled") {
		t.Fatalf("offline provision: %+v", r)
	}
	sock, _ := startDaemon(t, dir, "--config", conf)
	r = kwIn(t, map[string]string{"KEYWARD_SOCKET": sock}, nil, "list", "pkcs11:token=img;type=private", "--json")
	var objs []objectJSON
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &objs) != nil || len(objs) != 1 {
		t.Fatalf("first boot, no PIN: %+v", r)
	}
}
