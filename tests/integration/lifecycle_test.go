package integration

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/keyward/keyward/pkg/client"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// Day-2 life of the daemon and its clients: autostart by the CLI and the Go client, KEYWARD_TIMEOUT_MS,
// SIGHUP (reload, reopen), --version, the default configuration, socket activation.

// freshUser is the environment of a user on a fresh install: its own HOME and XDG directories, no socket
// variable, the test PIN derivation.
func freshUser(t *testing.T) (dir string, environ []string) {
	t.Helper()
	dir = shortTempDir(t)
	if err := os.Mkdir(filepath.Join(dir, "run"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "KEYWARD_") || strings.HasPrefix(k, "XDG_") || k == "HOME" {
			continue
		}
		environ = append(environ, kv)
	}
	environ = append(environ, "HOME="+dir, "XDG_RUNTIME_DIR="+dir+"/run", "XDG_DATA_HOME="+dir+"/data",
		"XDG_CONFIG_HOME="+dir+"/cfg", "XDG_STATE_HOME="+dir+"/state", "KEYWARD_KDF=fast")
	t.Cleanup(func() { stopUserDaemon(t, dir) })
	return dir, environ
}

// stopUserDaemon ends the daemon that a client started for the fresh user (its pid file is beside the socket).
func stopUserDaemon(t *testing.T, dir string) {
	b, err := os.ReadFile(filepath.Join(dir, "run", "keyward", "keywardd.pid"))
	if err != nil {
		return
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if pid <= 0 || syscall.Kill(pid, syscall.SIGTERM) != nil {
		return
	}
	for i := 0; i < 200 && syscall.Kill(pid, 0) == nil; i++ {
		time.Sleep(25 * time.Millisecond)
	}
}

func runKeyward(t *testing.T, environ []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(buildFile(t, "keyward"), args...)
	cmd.Env = environ
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("keyward %v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	return out.String(), errb.String(), code
}

// On a fresh install the first CLI command starts keywardd --user (found beside keyward) as libkeyward.so
// would, the daemon logs under $XDG_STATE_HOME/keyward/, and keyward doctor passes.
func TestCLIAutostartsDaemon(t *testing.T) {
	if _, err := os.Stat(client.SystemSocket); err == nil {
		t.Skip("a system keywardd runs on this machine: clients use it instead of autostarting")
	}
	dir, environ := freshUser(t)
	pin := filepath.Join(dir, "pin")
	os.WriteFile(pin, []byte("12345678\n"), 0o600)
	out, stderr, code := runKeyward(t, environ, "token", "init", "--label", "fresh", "--so-pin-source", pin, "--pin-source", pin)
	if code != 0 || !strings.Contains(out, `initialised token "fresh"`) {
		t.Fatalf("token init on a fresh install: exit %d, %q %q", code, out, stderr)
	}
	log, err := os.ReadFile(filepath.Join(dir, "state", "keyward", "keywardd.log"))
	if err != nil || !strings.Contains(string(log), "keywardd serving") {
		t.Errorf("the autostarted daemon's log: %v %q", err, log)
	}
	out, stderr, code = runKeyward(t, environ, "doctor")
	if code != 0 || strings.Contains(out, "FAIL") {
		t.Errorf("doctor on a healthy fresh install: exit %d\n%s%s", code, out, stderr)
	}
	// as root, p11-kit reads no user configuration: a user-level registration must not pass as OK
	if _, err := os.Stat("/etc/pkcs11/modules/keyward.module"); os.Getuid() == 0 && os.IsNotExist(err) {
		if _, err := exec.LookPath("p11-kit"); err == nil {
			runKeyward(t, environ, "p11kit", "install", "--dir", filepath.Join(dir, "cfg", "pkcs11", "modules"), "--module", modulePath(t))
			out, _, code := runKeyward(t, environ, "doctor")
			if code == 0 || !strings.Contains(out, "p11-kit list-modules does not show it") {
				t.Errorf("doctor with a registration p11-kit ignores: exit %d\n%s", code, out)
			}
		}
	}
	// the Go client autostarts too: stop the daemon, then Dial("") brings it back
	stopUserDaemon(t, dir)
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	t.Setenv("KEYWARD_DAEMON", keywarddPath(t)) // the test binary has no keywardd beside it
	c, err := client.Dial("")
	if err != nil {
		t.Fatalf("client.Dial with no daemon running: %v", err)
	}
	defer c.Close()
	if _, ok := tokenSlot(t, c, "fresh"); !ok {
		t.Fatal("no token \"fresh\" after the Go client's autostart")
	}
}

// A daemon that accepts and never answers: the CLI and the Go client give up after KEYWARD_TIMEOUT_MS.
func TestClientTimeout(t *testing.T) {
	sock := filepath.Join(shortTempDir(t), "silent.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // hold it open, say nothing
		}
	}()
	environ := append(os.Environ(), "KEYWARD_SOCKET="+sock, "KEYWARD_TIMEOUT_MS=300")
	start := time.Now()
	_, stderr, code := runKeyward(t, environ, "slots")
	if took := time.Since(start); code != 5 || took > 5*time.Second || !strings.Contains(stderr, "does not answer") ||
		strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Errorf("keyward slots against a silent daemon: exit %d after %v, %q", code, took, stderr)
	}
	t.Setenv("KEYWARD_TIMEOUT_MS", "300")
	start = time.Now()
	if _, err := client.Dial(sock); err == nil || time.Since(start) > 5*time.Second {
		t.Errorf("client.Dial against a silent daemon: %v after %v", err, time.Since(start))
	}
}

// SIGHUP reloads the token policies and reopens the log and audit files (logrotate renames them first);
// audit records name the token by label and serial.
func TestSIGHUPReloadsAndReopens(t *testing.T) {
	e := newEnv(t)
	dumpLogOnFailure(t, e)
	conf := filepath.Join(filepath.Dir(e.Log), "keywardd.yaml")
	audit := filepath.Join(filepath.Dir(e.Log), "audit.jsonl")
	os.WriteFile(conf, nil, 0o600)
	d := startDaemonProcess(t, e, "--config", conf, "--audit", audit)
	if err := d.waitReady(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	c := dial(t, e)
	initToken(t, c, 0, "hup", "so-pin-hup", "user-hup")
	c.Close()
	for _, p := range []string{e.Log, audit} {
		if err := os.Rename(p, p+".1"); err != nil {
			t.Fatal(err)
		}
	}
	// a policy that hides the token from this uid
	os.WriteFile(conf, []byte(fmt.Sprintf("tokens:\n  - label: hup\n    allow_uids: [%d]\n", os.Getuid()+4242)), 0o600)
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(readText(e.Log), "configuration reloaded") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if d.exited(0) {
		t.Fatalf("keywardd died of SIGHUP: %v", d.err)
	}
	if !strings.Contains(readText(e.Log), "configuration reloaded") {
		t.Fatalf("no reopened log with the reload in it: %q", readText(e.Log))
	}
	c = dial(t, e)
	if _, ok := tokenSlot(t, c, "hup"); ok {
		t.Error("after the reload the policy should hide the token")
	}
	c.Close()
	// back to no policy: the token is there again, and a login lands in the new audit file
	os.WriteFile(conf, nil, 0o600)
	d.cmd.Process.Signal(syscall.SIGHUP)
	deadline = time.Now().Add(5 * time.Second)
	for strings.Count(readText(e.Log), "configuration reloaded") < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	c = dial(t, e)
	defer c.Close()
	slot, ok := tokenSlot(t, c, "hup")
	if !ok {
		t.Fatal("after the second reload the token is still hidden")
	}
	ti, _ := c.GetTokenInfo(slot)
	s := userSession(t, c, slot, "user-hup")
	c.CloseSession(s)
	var found bool
	for _, line := range strings.Split(strings.TrimSpace(readText(audit)), "\n") {
		var ev map[string]any
		if json.Unmarshal([]byte(line), &ev) == nil && ev["msg"] == "login" {
			found = true
			if ev["token"] != "hup" || ev["serial"] != strings.TrimSpace(string(ti.SerialNumber[:])) {
				t.Errorf("audit login record does not name the token by label and serial: %v", ev)
			}
		}
	}
	if !found {
		t.Errorf("no login in the reopened audit file %s: %q", audit, readText(audit))
	}
	d.stop()
}

// Both programs say their version.
func TestVersionFlags(t *testing.T) {
	for _, prog := range []string{"keyward", "keywardd"} {
		out, err := exec.Command(buildFile(t, prog), "--version").CombinedOutput()
		if err != nil || !strings.HasPrefix(string(out), prog+" 0.") {
			t.Errorf("%s --version: %v %q", prog, err, out)
		}
	}
}

// A system-mode daemon starts without its default configuration file (a fresh install has none) but refuses
// an explicit --config that does not exist.
func TestDefaultConfiguration(t *testing.T) {
	if _, err := os.Stat("/etc/keyward/keywardd.yaml"); err == nil {
		t.Skip("/etc/keyward/keywardd.yaml exists on this machine")
	}
	e := newEnv(t)
	dumpLogOnFailure(t, e)
	cmd := exec.Command(keywarddPath(t), "--store", e.Store, "--root-key", e.RootKey, "--socket", e.Socket, "--log", e.Log)
	d, _ := launchDaemon(t, e, cmd, "keywardd (system mode)")
	if err := d.waitReady(5 * time.Second); err != nil {
		t.Fatalf("system mode without /etc/keyward/keywardd.yaml: %v\n%s", err, tailFile(e.Log, 20))
	}
	d.stop()
	e2 := newEnv(t)
	cmd = exec.Command(keywarddPath(t), "--user", "--store", e2.Store, "--root-key", e2.RootKey, "--socket", e2.Socket, "--log", e2.Log,
		"--config", filepath.Join(t.TempDir(), "missing.yaml"))
	d2, _ := launchDaemon(t, e2, cmd, "keywardd --config missing")
	if !d2.exited(5*time.Second) || d2.exitCode() != 2 || !strings.Contains(readText(e2.Log), "missing.yaml") {
		t.Errorf("a missing explicit --config: exited %v, log %q", d2.cmd.ProcessState, readText(e2.Log))
	}
}

// systemd-socket-activate stands in for systemd: it listens, passes the socket (LISTEN_FDS) to keywardd on
// the first connection, and keywardd serves it and leaves the path alone when it stops.
func TestSocketActivate(t *testing.T) {
	sa, err := exec.LookPath("systemd-socket-activate")
	if err != nil {
		t.Fatal("systemd-socket-activate (package systemd) is missing: scripts/install-test-deps.sh installs it")
	}
	e := newEnv(t)
	dumpLogOnFailure(t, e)
	cmd := exec.Command(sa, "-l", e.Socket, keywarddPath(t), "--user", "--store", e.Store, "--root-key", e.RootKey,
		"--socket", e.Socket, "--idle-exit", "0", "--log", e.Log)
	d, _ := launchDaemon(t, e, cmd, "systemd-socket-activate keywardd")
	if err := d.waitReady(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	c := dial(t, e)
	initToken(t, c, 0, "act", "so-pin-act", "user-act")
	if _, ok := tokenSlot(t, c, "act"); !ok {
		t.Fatal("no token over the activated socket")
	}
	c.Close()
	if !strings.Contains(readText(e.Log), "using the socket passed by systemd") {
		t.Errorf("keywardd did not use the passed socket: %s", tailFile(e.Log, 10))
	}
	d.stop()
	if _, err := os.Lstat(e.Socket); err != nil {
		t.Errorf("the activated socket's path is gone after keywardd stopped: %v", err)
	}
}

// tokenSlot returns the slot of the initialised token with the label, or false.
func tokenSlot(t *testing.T, c *client.Client, label string) (ck.SlotID, bool) {
	t.Helper()
	slots, err := c.GetSlotList(true)
	if err != nil {
		t.Fatalf("C_GetSlotList: %v", err)
	}
	for _, s := range slots {
		if ti, err := c.GetTokenInfo(s); err == nil && strings.TrimRight(string(ti.Label[:]), " \x00") == label {
			return s, true
		}
	}
	return 0, false
}
