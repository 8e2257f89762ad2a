// Package swtpmtest starts swtpm, the software TPM 2.0, on a private Unix socket for tests: a TPM whose
// state lives in a directory, so that a test can power-cycle it (Restart keeps the state, as a reboot
// does), or give "another device" (a fresh state directory).
package swtpmtest

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TPM is one running swtpm.
type TPM struct {
	t     testing.TB
	dir   string // socket directory (short, for the sun_path limit)
	State string // the TPM's state directory
	cmd   *exec.Cmd
}

// Start starts swtpm with a new state, or skips the test if swtpm is not installed. The TPM is stopped
// when the test ends.
func Start(t testing.TB) *TPM {
	t.Helper()
	if _, err := exec.LookPath("swtpm"); err != nil {
		t.Skip("swtpm is not installed (scripts/install-test-deps.sh installs it): skipping the TPM tests")
	}
	dir, err := os.MkdirTemp("", "kwtpm")
	if err != nil {
		t.Fatal(err)
	}
	tp := &TPM{t: t, dir: dir, State: filepath.Join(dir, "state")}
	if err := os.Mkdir(tp.State, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		tp.Stop()
		os.RemoveAll(dir)
	})
	tp.start()
	return tp
}

// Device is the TPM's device string for the tpm2 seal backend.
func (tp *TPM) Device() string { return "swtpm:path=" + tp.Socket() }

// ToolsEnv is the environment entry that points tpm2-tools at the TPM.
func (tp *TPM) ToolsEnv() string { return "TPM2TOOLS_TCTI=swtpm:path=" + tp.Socket() }

// Socket is the path of the TPM's command socket.
func (tp *TPM) Socket() string { return filepath.Join(tp.dir, "tpm.sock") }

func (tp *TPM) start() {
	tp.t.Helper()
	// tpm2-tools' swtpm TCTI finds the control socket at the command socket's path + ".ctrl".
	sock, ctrl := tp.Socket(), tp.Socket()+".ctrl"
	os.Remove(sock)
	os.Remove(ctrl)
	cmd := exec.Command("swtpm", "socket", "--tpm2",
		"--server", "type=unixio,path="+sock,
		"--ctrl", "type=unixio,path="+ctrl,
		"--tpmstate", "dir="+tp.State,
		"--flags", "not-need-init,startup-clear")
	// swtpm logs every disconnection on stderr: keep it quiet.
	cmd.Stderr = nil
	if err := cmd.Start(); err != nil {
		tp.t.Fatalf("start swtpm: %v", err)
	}
	tp.cmd = cmd
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("unix", sock)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			tp.t.Fatalf("swtpm did not open %s: %v", sock, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Stop stops swtpm (its state stays, as a TPM's non-volatile memory does).
func (tp *TPM) Stop() {
	if tp.cmd == nil {
		return
	}
	tp.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { tp.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		tp.cmd.Process.Kill()
		<-done
	}
	tp.cmd = nil
}

// Restart power-cycles the TPM: PCRs and loaded objects are reset, the owner seed stays.
func (tp *TPM) Restart() {
	tp.t.Helper()
	tp.Stop()
	tp.start()
}

// Tool runs a tpm2-tools command against the TPM and returns its output; the test is skipped if tpm2-tools
// is not installed, and fails if the command does.
func (tp *TPM) Tool(name string, args ...string) string {
	tp.t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		tp.t.Skipf("%s is not installed (tpm2-tools; scripts/install-test-deps.sh installs it)", name)
	}
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), tp.ToolsEnv())
	out, err := cmd.Output()
	if err != nil {
		tp.t.Fatalf("%s %v: %v", name, args, err)
	}
	return string(out)
}

// LockoutCounter is TPM_PT_LOCKOUT_COUNTER, the TPM's count of dictionary-attack authorisation failures
// (tpm2_getcap properties-variable).
func (tp *TPM) LockoutCounter() uint32 {
	tp.t.Helper()
	out := tp.Tool("tpm2_getcap", "properties-variable")
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "TPM2_PT_LOCKOUT_COUNTER:"); ok {
			n, err := strconv.ParseUint(strings.TrimPrefix(strings.TrimSpace(v), "0x"), 16, 32)
			if err != nil {
				tp.t.Fatalf("TPM2_PT_LOCKOUT_COUNTER: %q: %v", v, err)
			}
			return uint32(n)
		}
	}
	tp.t.Fatalf("tpm2_getcap printed no TPM2_PT_LOCKOUT_COUNTER:\n%s", out)
	return 0
}
