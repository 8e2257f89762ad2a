// Package swtpmtest starts swtpm, the software TPM 2.0, on a private Unix socket for tests: a TPM whose
// state lives in a directory, so that a test can power-cycle it (Restart keeps the state, as a reboot
// does), or give "another device" (a fresh state directory).
package swtpmtest

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
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
