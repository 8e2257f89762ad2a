package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The tests run the CLI in-process (cli.run) against a real keywardd that TestMain starts on a temporary
// store: <repo root>/build/keywardd, or $KEYWARD_BUILD/keywardd (`make build`). A missing binary fails.

var harness struct {
	socket string
	dir    string
}

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	bin, err := keywarddPath()
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	base, err := os.MkdirTemp("", "kwcli-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	defer os.RemoveAll(base)
	sock := filepath.Join(base, "kw.sock")
	logPath := filepath.Join(base, "keywardd.log")
	cmd := exec.Command(bin, "--user", "--store", filepath.Join(base, "store"), "--root-key", filepath.Join(base, "root.key"),
		"--socket", sock, "--idle-exit", "0", "--log", logPath)
	cmd.Env = append(os.Environ(), "KEYWARD_KDF=fast")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: starting keywardd:", err)
		return 1
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}()
	if err := waitSocket(sock, done); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	harness.socket, harness.dir = sock, base
	code := m.Run()
	if code != 0 {
		log, _ := os.ReadFile(logPath)
		if len(log) > 4000 {
			log = log[len(log)-4000:]
		}
		fmt.Fprintf(os.Stderr, "keywardd log (tail):\n%s", log)
	}
	return code
}

func keywarddPath() (string, error) {
	dir := os.Getenv("KEYWARD_BUILD")
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return "", err
		}
		for {
			if _, err := os.Stat(filepath.Join(wd, "go.mod")); err == nil {
				break
			}
			parent := filepath.Dir(wd)
			if parent == wd {
				return "", errors.New("no go.mod above the working directory")
			}
			wd = parent
		}
		dir = filepath.Join(wd, "build")
	}
	p, err := filepath.Abs(filepath.Join(dir, "keywardd"))
	if err != nil {
		return "", err
	}
	if fi, err := os.Stat(p); err != nil || fi.IsDir() {
		return "", fmt.Errorf("%s is missing: run `make build`, or point KEYWARD_BUILD at the build directory", p)
	}
	return p, nil
}

func waitSocket(sock string, done <-chan struct{}) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case <-done:
			return errors.New("keywardd exited before serving")
		default:
		}
		if c, err := net.DialTimeout("unix", sock, time.Second); err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("keywardd socket %s not accepting", sock)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// result is one CLI run's outputs.
type result struct {
	stdout, stderr string
	code           int
}

// kw runs the CLI in-process with env (on top of KEYWARD_SOCKET) and stdin; there is no terminal.
func kwIn(t *testing.T, env map[string]string, stdin []byte, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	c := newCLI(&out, &errb)
	c.stdin = bytes.NewReader(stdin)
	full := map[string]string{"KEYWARD_SOCKET": harness.socket}
	for k, v := range env {
		full[k] = v
	}
	c.lookupEnv = func(k string) (string, bool) { v, ok := full[k]; return v, ok }
	c.getenv = func(k string) string { return full[k] }
	c.openTTY = func() (*os.File, error) { return nil, errors.New("no terminal in tests") }
	code := c.run(args)
	return result{out.String(), errb.String(), code}
}

func kw(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	return kwIn(t, env, nil, args...)
}

// ok runs the CLI and fails the test unless it exits 0.
func ok(t *testing.T, env map[string]string, args ...string) string {
	t.Helper()
	r := kw(t, env, args...)
	if r.code != 0 {
		t.Fatalf("keyward %s: exit %d, stderr %q", strings.Join(args, " "), r.code, r.stderr)
	}
	return r.stdout
}

// fails checks a run's exit code and that stderr is one line containing want.
func fails(t *testing.T, r result, code int, want string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d; stderr %q", r.code, code, r.stderr)
	}
	lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
	var errLines []string
	for _, l := range lines {
		if !strings.HasPrefix(l, "keyward: warning:") {
			errLines = append(errLines, l)
		}
	}
	if len(errLines) != 1 || !strings.HasPrefix(errLines[0], "keyward: ") {
		t.Fatalf("stderr is not one keyward: line: %q", r.stderr)
	}
	if !strings.Contains(r.stderr, want) {
		t.Fatalf("stderr %q does not contain %q", r.stderr, want)
	}
	if strings.Contains(r.stderr, "goroutine") || strings.Contains(r.stderr, "panic") {
		t.Fatalf("stderr has a Go panic: %q", r.stderr)
	}
}

var initMu sync.Mutex // token init takes the one free slot

// newToken initialises a token with the label (unique per test) and returns the environment that gives its
// user and SO PINs.
func newToken(t *testing.T, label string) map[string]string {
	t.Helper()
	initMu.Lock()
	defer initMu.Unlock()
	env := map[string]string{"KEYWARD_SO_PIN": "so-" + label + "-pin", "KEYWARD_PIN": "user-" + label}
	dir := t.TempDir()
	pinFile := filepath.Join(dir, "user.pin")
	os.WriteFile(pinFile, []byte(env["KEYWARD_PIN"]+"\n"), 0o600)
	out := ok(t, env, "token", "init", "--label", label, "--pin-source", pinFile)
	if !strings.Contains(out, fmt.Sprintf("initialised token %q", label)) {
		t.Fatalf("token init output %q", out)
	}
	return env
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
