package integration

import (
	"crypto/rand"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// keyward sign streams its input: signing a 100 MiB image costs the CLI a bounded amount of memory, not the
// image (it read files whole before: 418 MB of RSS for a 200 MiB image).
func TestCLISignsLargeFileInBoundedMemory(t *testing.T) {
	e := newEnv(t)
	dumpLogOnFailure(t, e)
	startDaemon(t, e)
	dir := t.TempDir()
	environ := append(os.Environ(), "KEYWARD_SOCKET="+e.Socket, "KEYWARD_SO_PIN=so-pin-big", "KEYWARD_PIN=user-big")
	pin := filepath.Join(dir, "pin")
	os.WriteFile(pin, []byte("user-big\n"), 0o600)
	for _, args := range [][]string{{"token", "init", "--label", "big", "--pin-source", pin},
		{"key", "generate", "--token", "big", "--type", "ec:p256", "--label", "fw"}} {
		if _, stderr, code := runKeyward(t, environ, args...); code != 0 {
			t.Fatalf("keyward %v: %s", args, stderr)
		}
	}
	img := filepath.Join(dir, "img")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(f, rand.Reader, 100<<20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	cmd := exec.Command(buildFile(t, "keyward"), "sign", "pkcs11:token=big;object=fw;type=private", "--in", img, "--out", filepath.Join(dir, "sig"))
	cmd.Env = environ
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sign: %v %s", err, out)
	}
	maxRSS := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss // KiB
	t.Logf("keyward sign of 100 MiB: max RSS %d KiB", maxRSS)
	if maxRSS > 64<<10 {
		t.Errorf("keyward sign of a 100 MiB file used %d KiB of memory: it does not stream", maxRSS)
	}
}
