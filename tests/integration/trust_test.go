package integration

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/pkg/client"
)

// The trust tests (issue 16, items 3 and 4): a client refuses a socket directory another uid made or anyone may
// write, and a daemon whose uid it does not trust (SO_PEERCRED); keywardd refuses such a directory; a library
// loaded by a setuid program ignores the environment and starts no program.

// runModule runs pkcs11-tool -L on build/libkeyward.so with env (and nothing of the test's KEYWARD_* variables)
// and returns its combined output and exit status.
func runModule(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, pkcs11ToolPath(t), append([]string{"--module", modulePath(t)}, args...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KEYWARD_") && !strings.HasPrefix(kv, "XDG_RUNTIME_DIR=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(out), ee.ExitCode()
	}
	if err != nil {
		t.Fatalf("pkcs11-tool: %v", err)
	}
	return string(out), 0
}

// TestSocketSquatting: a squatter (keywardd as uid 65534) owns or can write the directory of the user-mode
// socket, or answers on a socket whose directory anyone may write. libkeyward.so (pkcs11-tool) and pkg/client
// both refuse it (pkcs11-tool fails, where the squatter would have answered -L), with one line under KEYWARD_DEBUG,
// and never start a daemon there. The same daemon is trusted where its uid owns the private directory the caller named.
func TestSocketSquatting(t *testing.T) {
	requireRoot(t)
	// The squatter: keywardd as nobody on a socket in a directory it owns.
	e := nobodyEnv(t)
	dumpLogOnFailure(t, e)
	startDaemonAsNobody(t, e)

	// 1. XDG_RUNTIME_DIR/keyward owned by another uid (the /tmp/keyward-UID squat, under a runtime directory the
	//    test controls). The squatter's socket is reachable there through a hard link.
	runtime1 := shortTempDir(t)
	squatDir := filepath.Join(runtime1, "keyward")
	mustMkdir(t, squatDir, 0o700)
	if err := os.Link(e.Socket, filepath.Join(squatDir, "keyward.sock")); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(squatDir, nobodyID, nobodyID); err != nil {
		t.Fatal(err)
	}
	// 2. XDG_RUNTIME_DIR/keyward ours but mode 0777.
	runtime2 := shortTempDir(t)
	openDir := filepath.Join(runtime2, "keyward")
	mustMkdir(t, openDir, 0o777)
	if err := os.Link(e.Socket, filepath.Join(openDir, "keyward.sock")); err != nil {
		t.Fatal(err)
	}
	// 3. KEYWARD_SOCKET in a directory anyone may write (sticky, as /tmp): the socket's owner is not trusted, so
	//    the daemon's uid (nobody) must be ours or root, and is not.
	public := shortTempDir(t)
	if err := os.Chmod(public, 0o1777); err != nil {
		t.Fatal(err)
	}
	publicSock := filepath.Join(public, "kw.sock")
	if err := os.Link(e.Socket, publicSock); err != nil {
		t.Fatal(err)
	}

	marker := filepath.Join(shortTempDir(t), "started")
	fakeDaemon := filepath.Join(filepath.Dir(marker), "keywardd")
	if err := os.WriteFile(fakeDaemon, []byte("#!/bin/sh\ntouch "+marker+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, want string
		env        []string
		gopath     string
	}{
		{"directory of another uid", "belongs to uid 65534", []string{"XDG_RUNTIME_DIR=" + runtime1}, filepath.Join(squatDir, "keyward.sock")},
		{"directory of mode 0777", "mode 0777", []string{"XDG_RUNTIME_DIR=" + runtime2}, filepath.Join(openDir, "keyward.sock")},
		{"daemon of another uid in a public directory", "runs as uid 65534", []string{"KEYWARD_SOCKET=" + publicSock}, publicSock},
	}
	for _, c := range cases {
		env := append([]string{"KEYWARD_DEBUG=1", "KEYWARD_DAEMON=" + fakeDaemon}, c.env...)
		out, code := runModule(t, env, "-L")
		if code == 0 || !strings.Contains(out, "keyward: cannot reach keywardd") || !strings.Contains(out, c.want) {
			t.Errorf("%s: pkcs11-tool -L exited %d; want a failure and a KEYWARD_DEBUG line saying %q:\n%s", c.name, code, c.want, out)
		}
		if n := strings.Count(out, "keyward: "); n != 1 {
			t.Errorf("%s: %d keyward: lines on stderr, want 1:\n%s", c.name, n, out)
		}
		if _, err := os.Stat(marker); err == nil {
			t.Errorf("%s: the library started a daemon (KEYWARD_DAEMON) for a refused socket", c.name)
			os.Remove(marker)
		}
		// Quiet without KEYWARD_DEBUG.
		if out, _ := runModule(t, c.env, "-L"); strings.Contains(out, "keyward:") {
			t.Errorf("%s: stderr lines without KEYWARD_DEBUG:\n%s", c.name, out)
		}
		// pkg/client, with the same environment.
		for _, kv := range c.env {
			k, v, _ := strings.Cut(kv, "=")
			t.Setenv(k, v)
		}
		if client.UserSocketPath() != c.gopath && !strings.HasPrefix(c.env[0], "KEYWARD_SOCKET=") {
			t.Fatalf("%s: UserSocketPath %s, want %s", c.name, client.UserSocketPath(), c.gopath)
		}
		cl, err := client.Dial(c.gopath)
		if err == nil {
			cl.Close()
			t.Errorf("%s: pkg/client Dial(%s) succeeded, want a refusal", c.name, c.gopath)
		} else if !errors.Is(err, client.ErrUntrusted) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: pkg/client Dial: %v; want ErrUntrusted saying %q", c.name, err, c.want)
		}
		os.Unsetenv("XDG_RUNTIME_DIR")
		os.Unsetenv("KEYWARD_SOCKET")
	}
	// The control: the same daemon through the private directory of its own uid is trusted by both clients.
	cl, err := client.Dial(e.Socket)
	if err != nil {
		t.Fatalf("pkg/client to the daemon in its owner's private directory: %v", err)
	}
	cl.Close()
	if out, code := runModule(t, []string{"KEYWARD_SOCKET=" + e.Socket, "KEYWARD_AUTOSTART=0"}, "-L"); code != 0 {
		t.Fatalf("pkcs11-tool to the daemon in its owner's private directory: exit %d\n%s", code, out)
	}
}

// TestDaemonRefusesForeignRuntimeDir: keywardd --user refuses a socket directory another uid owns or anyone
// may write (status 1 and a log line naming it), and serves in its own private one.
func TestDaemonRefusesForeignRuntimeDir(t *testing.T) {
	requireRoot(t)
	foreign := shortTempDir(t)
	if err := os.Chown(foreign, nobodyID, nobodyID); err != nil {
		t.Fatal(err)
	}
	open := shortTempDir(t)
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	runtime := shortTempDir(t)
	mustMkdir(t, filepath.Join(runtime, "keyward"), 0o750) // the default path needs 0700, as the clients do
	for _, c := range []struct {
		name string
		dir  string
		xdg  bool
	}{{"directory of uid 65534", foreign, false}, {"directory of mode 0777", open, false},
		{"default directory of mode 0750", filepath.Join(runtime, "keyward"), true}} {
		e := newEnv(t)
		e.Socket = filepath.Join(c.dir, "kw.sock")
		args := []string{"--user", "--store", e.Store, "--root-key", e.RootKey, "--idle-exit", "0", "--log", e.Log}
		if c.xdg {
			e.Socket = filepath.Join(c.dir, "keyward.sock")
			t.Setenv("XDG_RUNTIME_DIR", runtime) // launchDaemon passes the test's environment on
		} else {
			args = append(args, "--socket", e.Socket)
		}
		d, _ := launchDaemon(t, e, exec.Command(keywarddPath(t), args...), "keywardd")
		if !d.exited(10 * time.Second) {
			t.Fatalf("%s: keywardd serves in it", c.name)
		}
		if code := d.exitCode(); code != 1 {
			t.Errorf("%s: exit status %d, want 1", c.name, code)
		}
		if log := readText(e.Log); !strings.Contains(log, "socket directory "+c.dir) {
			t.Errorf("%s: no log line naming the directory:\n%s", c.name, log)
		}
		if _, err := os.Lstat(e.Socket); err == nil {
			t.Errorf("%s: keywardd created its socket there", c.name)
		}
	}
}

// TestPrivilegedHostIgnoresEnvironment: a setuid-root program run by uid 65534 loads libkeyward.so with
// KEYWARD_DAEMON naming a script and KEYWARD_SOCKET naming a socket that does not exist. The library must not
// run the script (the old one ran it with euid 0) and must not use the socket; the same program without its
// setuid bit runs the script (the control: the test does reach autostart).
func TestPrivilegedHostIgnoresEnvironment(t *testing.T) {
	requireRoot(t)
	dir := shortTempDir(t)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(dir, "init.c")
	prog := `#include <dlfcn.h>
#include <stdio.h>
#include "keyward/pkcs11.h"
int main(int argc, char **argv) {
    (void)argc;
    void *h = dlopen(argv[1], RTLD_NOW);
    if (!h) { fprintf(stderr, "dlopen: %s\n", dlerror()); return 2; }
    CK_C_GetFunctionList gfl = (CK_C_GetFunctionList)dlsym(h, "C_GetFunctionList");
    CK_FUNCTION_LIST_PTR f;
    if (!gfl || gfl(&f) != CKR_OK) return 2;
    printf("C_Initialize: 0x%lx\n", (unsigned long)f->C_Initialize(NULL));
    return 0;
}
`
	if err := os.WriteFile(src, []byte(prog), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "kwinit")
	if out, err := exec.Command("cc", "-std=c11", "-I", filepath.Join(repoRoot(t), "include"), "-o", bin, src, "-ldl").CombinedOutput(); err != nil {
		t.Fatalf("cc: %v\n%s", err, out)
	}
	// The library and the script, where uid 65534 can read them.
	lib := filepath.Join(dir, "libkeyward.so")
	data, err := os.ReadFile(modulePath(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(lib, data, 0o755); err != nil {
		t.Fatal(err)
	}
	drop := filepath.Join(dir, "drop")
	mustMkdir(t, drop, 0o777)
	marker := filepath.Join(drop, "ran")
	script := filepath.Join(dir, "keywardd")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nid -u > "+marker+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	run := func(setuid bool) (string, string) {
		t.Helper()
		os.Remove(marker)
		mode := os.FileMode(0o755)
		if setuid {
			mode |= os.ModeSetuid
		}
		if err := os.Chmod(bin, mode); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(setprivPath(t), "--reuid="+strconv.Itoa(nobodyID), "--regid="+strconv.Itoa(nobodyID), "--clear-groups", "--", bin, lib)
		cmd.Env = []string{"PATH=/usr/bin:/bin", "KEYWARD_DAEMON=" + script, "KEYWARD_SOCKET=" + filepath.Join(drop, "none.sock"),
			"KEYWARD_AUTOSTART=1", "KEYWARD_DEBUG=1", "XDG_RUNTIME_DIR=" + drop}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("kwinit (setuid %v): %v\n%s", setuid, err, out)
		}
		time.Sleep(300 * time.Millisecond) // the script runs double-forked
		ran, _ := os.ReadFile(marker)
		return string(out), strings.TrimSpace(string(ran))
	}
	out, ran := run(false)
	if ran != strconv.Itoa(nobodyID) {
		t.Fatalf("control: the unprivileged program did not run KEYWARD_DAEMON (ran as %q)\n%s", ran, out)
	}
	out, ran = run(true)
	if ran != "" {
		t.Errorf("the setuid program ran KEYWARD_DAEMON as uid %s", ran)
	}
	if strings.Contains(out, "keyward:") || !strings.Contains(out, "C_Initialize: 0x") {
		t.Errorf("the setuid program honoured KEYWARD_DEBUG, or did not get through C_Initialize:\n%s", out)
	}
}

// mustMkdir makes dir with mode exactly perm.
func mustMkdir(t *testing.T, dir string, perm os.FileMode) {
	t.Helper()
	if err := os.Mkdir(dir, perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, perm); err != nil {
		t.Fatal(err)
	}
}
