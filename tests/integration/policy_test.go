package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestIdentityPolicy runs a system-mode keywardd with a configuration file naming a token's policy, and real
// pkcs11-tool processes under different uids (setpriv): a uid outside the policy does not see the token, a
// listed uid sees it, and the uid named for identity login lists private objects with --login and no PIN.
func TestIdentityPolicy(t *testing.T) {
	if os.Getuid() != 0 {
		t.Fatal("this test runs processes under other uids: it needs root")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Fatalf("setpriv (util-linux) is not installed: %v", err)
	}
	base := t.TempDir()
	sockDir := shortTempDir(t)
	os.Chmod(sockDir, 0o755) // other uids reach the socket
	e := env{Store: filepath.Join(base, "store"), RootKey: filepath.Join(base, "root.key"),
		Socket: filepath.Join(sockDir, "kw.sock"), Log: filepath.Join(base, "keywardd.log")}
	conf := filepath.Join(base, "keywardd.yaml")
	os.WriteFile(conf, []byte("tokens:\n  - label: device\n    allow_uids: [0, 1000, 1001]\n    allow_gids: [777]\n    login_uids: [1000]\n    login_gids: [777]\n"), 0o600)
	cmd := exec.Command(keywarddPath(t), "--store", e.Store, "--root-key", e.RootKey, "--socket", e.Socket,
		"--log", e.Log, "--config", conf)
	cmd.Env = append(os.Environ(), "KEYWARD_KDF=fast")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(e.Socket); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("keywardd did not start:\n%s", tailFile(e.Log, 20))
		}
		time.Sleep(20 * time.Millisecond)
	}
	os.Chmod(e.Socket, 0o666) // the test's stand-in for the keyward group of a real installation

	p := newP11Tool(t, e)
	p.ok("--init-token", "--slot", "0", "--label", "device", "--so-pin", "so-pin-123")
	p.ok("--init-pin", "--token-label", "device", "--so-pin", "so-pin-123", "--pin", "user-pin-1")
	p.ok("--token-label", "device", "--login", "--pin", "user-pin-1", "--write-object", writeTemp(t, "private value"),
		"--type", "data", "--label", "secret", "--private")

	as := func(uid string, args ...string) (string, int) {
		t.Helper()
		groups := "--clear-groups"
		if uid == "1002" {
			groups = "--groups=777" // a supplementary group the policy allows and logs in
		}
		full := append([]string{"--reuid=" + uid, "--regid=" + uid, groups, p.tool, "--module", p.module}, args...)
		c := exec.Command(setpriv, full...)
		c.Env = append(e.clientEnv(), "HOME=/tmp")
		out, err := c.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), code
	}
	if out, _ := as("2000", "-L"); strings.Contains(out, "device") {
		t.Fatalf("uid 2000, outside the policy, sees the token:\n%s", out)
	}
	out, code := as("1001", "-L")
	if code != 0 || !strings.Contains(out, "device") || strings.Contains(out, "PIN pad present") {
		t.Fatalf("uid 1001 (allowed, PIN login) -L:\n%s", out)
	}
	out, code = as("1000", "-L")
	if code != 0 || !strings.Contains(out, "device") || !strings.Contains(out, "PIN pad present") {
		t.Fatalf("uid 1000 (identity login) -L does not show the protected authentication path:\n%s", out)
	}
	out, code = as("1000", "--token-label", "device", "--login", "-O")
	if code != 0 || !strings.Contains(out, "secret") {
		t.Fatalf("uid 1000 logs in by identity and lists the private object: exit %d\n%s", code, out)
	}
	out, code = as("1002", "--token-label", "device", "--login", "-O")
	if code != 0 || !strings.Contains(out, "secret") {
		t.Fatalf("uid 1002 in login group 777 logs in by identity: exit %d\n%s", code, out)
	}
	if out, _ := as("1001", "--token-label", "device", "-O"); strings.Contains(out, "secret") {
		t.Fatalf("uid 1001 without a PIN sees the private object:\n%s", out)
	}
	out, code = as("1001", "--token-label", "device", "--login", "--pin", "user-pin-1", "-O")
	if code != 0 || !strings.Contains(out, "secret") {
		t.Fatalf("uid 1001 with the PIN: exit %d\n%s", code, out)
	}
}

func writeTemp(t *testing.T, content string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "value")
	if err := os.WriteFile(f, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}
