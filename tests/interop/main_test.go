// Package interop drives real PKCS#11 applications from Debian's packages against Keyward (issue 5): p11-kit,
// GnuTLS (p11tool, certtool, gnutls-serv/-cli), OpenSSL 3 with libp11's pkcs11 engine, OpenSSH (ssh-keygen,
// ssh-agent, ssh-add, ssh, sshd) and curl. Each test creates its own token and keys on one private keywardd
// (started once per test binary), runs the programs with os/exec on loopback only, and fails when a program
// fails.
//
// The binaries come from $KEYWARD_BUILD, else <repo root>/build (`make build`). A missing binary or program
// fails the tests with the Debian package to install (scripts/install-interop-deps.sh installs them all): CI
// installs them, so a skip would hide a broken setup.
//
// At the end the suite prints a table (scenario, program and version, result), and writes it to
// $KEYWARD_INTEROP_REPORT (default <build>/interop-report.txt), because `go test` hides a passing package's
// output.
//
// KEYWARD_INTEROP_SPY=DIR loads OpenSC's pkcs11-spy.so in front of libkeyward.so in every program and writes the
// call traces into DIR, one file per scenario (or key generation) that all its programs append to: the tool for
// reporting what a client asked and what Keyward answered. (Observed with OpenSC 0.23: in a pkcs11-tool run
// the spy logs C_GetInterface and none of the calls after it.)
package interop

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

const (
	cmdTimeout   = 30 * time.Second // any one client program run
	readyTimeout = 10 * time.Second // a server starting to listen
)

// The private daemon shared by every test of this binary (started by TestMain).
var (
	daemonSocket string
	daemonLog    string
	homeDir      string // HOME of every client program: keeps ~/.rnd, ~/.gnutls and the like out of the real home
	rootDir      string
	buildPath    string
	setupErr     error
)

func TestMain(m *testing.M) {
	code := func() int {
		tmp, err := os.MkdirTemp("", "kwio-") // short: socket paths are limited to 108 bytes
		if err != nil {
			fmt.Fprintln(os.Stderr, "interop:", err)
			return 1
		}
		defer os.RemoveAll(tmp)
		stop, err := startDaemon(tmp)
		if err != nil {
			// Tests still run, and each fails with this message (see daemon()).
			setupErr = err
		} else {
			defer stop()
		}
		homeDir = filepath.Join(tmp, "home")
		os.MkdirAll(homeDir, 0o700)
		rc := m.Run()
		printReport()
		return rc
	}()
	os.Exit(code)
}

// startDaemon starts `keywardd --user` on a store, root key and socket under dir and waits until it serves.
func startDaemon(dir string) (stop func(), err error) {
	root, err := findRoot()
	if err != nil {
		return nil, err
	}
	rootDir = root
	buildPath = os.Getenv("KEYWARD_BUILD")
	if buildPath == "" {
		buildPath = filepath.Join(root, "build")
	}
	if buildPath, err = filepath.Abs(buildPath); err != nil {
		return nil, err
	}
	for _, f := range []string{"keywardd", "libkeyward.so"} {
		if _, err := os.Stat(filepath.Join(buildPath, f)); err != nil {
			return nil, fmt.Errorf("%s is missing (%v): run `make build`, or point KEYWARD_BUILD at the build directory",
				filepath.Join(buildPath, f), err)
		}
	}
	daemonSocket = filepath.Join(dir, "kw.sock")
	daemonLog = filepath.Join(dir, "keywardd.log")
	conf, err := writeDaemonConfig(dir)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(filepath.Join(buildPath, "keywardd"), "--user", "--store", filepath.Join(dir, "store"),
		"--root-key", filepath.Join(dir, "root.key"), "--socket", daemonSocket, "--idle-exit", "0", "--log", daemonLog,
		"--config", conf)
	cmd.Env = append(os.Environ(), "KEYWARD_KDF=fast")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting keywardd: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	stop = func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}
	deadline := time.Now().Add(readyTimeout)
	for {
		select {
		case <-done:
			log, _ := os.ReadFile(daemonLog)
			return nil, fmt.Errorf("keywardd exited before serving: %s\n%s%s", cmd.ProcessState, out.String(), log)
		default:
		}
		if c, err := net.DialTimeout("unix", daemonSocket, time.Second); err == nil {
			c.Close()
			return stop, nil
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("keywardd not serving on %s after %v", daemonSocket, readyTimeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// daemon fails the test if the shared keywardd could not be started.
func daemon(t *testing.T) {
	t.Helper()
	if setupErr != nil {
		t.Fatalf("setting up the private keywardd: %v", setupErr)
	}
}

func findRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// modulePath is build/libkeyward.so.
func modulePath(t *testing.T) string {
	t.Helper()
	daemon(t)
	return filepath.Join(buildPath, "libkeyward.so")
}

// ---- the programs ----

// packageOf names the Debian package of each program the tests run, for the failure message.
var packageOf = map[string]string{
	"pkcs11-tool": "opensc", "p11-kit": "p11-kit", "p11tool": "gnutls-bin", "certtool": "gnutls-bin",
	"gnutls-serv": "gnutls-bin", "gnutls-cli": "gnutls-bin", "openssl": "openssl", "ssh": "openssh-client",
	"ssh-keygen": "openssh-client", "ssh-agent": "openssh-client", "ssh-add": "openssh-client",
	"sshd": "openssh-server", "curl": "curl", "unshare": "util-linux",
}

// program finds a program on PATH (or in /usr/sbin and /sbin), failing the test if it is not installed.
func program(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		if abs, err := filepath.Abs(p); err == nil {
			return abs
		}
		return p
	}
	for _, d := range []string{"/usr/sbin", "/sbin", "/usr/bin"} {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	t.Fatalf("%s is not installed (Debian package %s): run scripts/install-interop-deps.sh as root", name, packageOf[name])
	return ""
}

// systemFile returns the first existing path matching one of the glob patterns, failing the test otherwise.
func systemFile(t *testing.T, what, pkg string, patterns ...string) string {
	t.Helper()
	for _, p := range patterns {
		m, _ := filepath.Glob(p)
		if len(m) > 0 {
			return m[0]
		}
	}
	t.Fatalf("%s is not installed (Debian package %s; looked for %s): run scripts/install-interop-deps.sh as root",
		what, pkg, strings.Join(patterns, ", "))
	return ""
}

// debVersion is the installed version of a Debian package, or "".
func debVersion(pkg string) string {
	out, err := exec.Command("dpkg-query", "-W", "-f=${Version}", pkg).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

var (
	versionMu    sync.Mutex
	versionCache = map[string]string{}
)

// progVersion describes a program's version: the first line of `name args...` (if args are given) and its
// Debian package's version.
func progVersion(name string, args ...string) string {
	key := name + " " + strings.Join(args, " ")
	versionMu.Lock()
	defer versionMu.Unlock()
	if v, ok := versionCache[key]; ok {
		return v
	}
	var parts []string
	if len(args) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		out, _ := exec.CommandContext(ctx, name, args...).CombinedOutput()
		cancel()
		line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
		// The name and version: the first two words ("OpenSSL 3.0.22", "OpenSSH_9.2p1 Debian-2+deb12u10").
		if f := strings.Fields(line); len(f) > 0 && !strings.Contains(line, "not found") {
			parts = append(parts, strings.TrimRight(strings.Join(f[:min(2, len(f))], " "), ",;"))
		}
	}
	if len(parts) == 0 {
		parts = append(parts, name)
	}
	pkg := packageOf[name]
	if pkg == "" {
		pkg = name
	}
	if v := debVersion(pkg); v != "" {
		parts = append(parts, fmt.Sprintf("(%s %s)", pkg, v))
	}
	v := strings.Join(parts, " ")
	versionCache[key] = v
	return v
}

// ---- running programs ----

// baseEnv is the environment of client programs: the test's own, without variables that would point the
// programs elsewhere, plus the private daemon's socket, no autostart, and a private HOME.
func baseEnv(extra ...string) []string {
	drop := []string{"KEYWARD_", "SSH_AUTH_SOCK=", "SSH_AGENT_PID=", "OPENSSL_CONF=", "OPENSSL_ENGINES=",
		"GNUTLS_PIN=", "GNUTLS_SO_PIN=", "P11_KIT_", "PKCS11SPY", "HOME=", "XDG_CONFIG_HOME=", "XDG_RUNTIME_DIR=",
		"XDG_DATA_HOME=", "SSH_ASKPASS", "DISPLAY=", "SSL_CERT_", "CURL_", "http_proxy=", "https_proxy=",
		"HTTP_PROXY=", "HTTPS_PROXY=", "ALL_PROXY=", "all_proxy="}
	var env []string
outer:
	for _, kv := range os.Environ() {
		for _, d := range drop {
			if strings.HasPrefix(kv, d) {
				continue outer
			}
		}
		env = append(env, kv)
	}
	env = append(env, "KEYWARD_SOCKET="+daemonSocket, "KEYWARD_AUTOSTART=0", "HOME="+homeDir, "NO_PROXY=*", "no_proxy=*")
	return append(env, extra...)
}

var spyCount atomic.Int64

// moduleFor returns the PKCS#11 module a program should load and the environment entries it needs: normally
// libkeyward.so; with KEYWARD_INTEROP_SPY=DIR, OpenSC's pkcs11-spy.so in front of it, tracing into DIR.
func moduleFor(t *testing.T, tag string) (string, []string) {
	t.Helper()
	mod := modulePath(t)
	dir := os.Getenv("KEYWARD_INTEROP_SPY")
	if dir == "" {
		return mod, nil
	}
	spy := systemFile(t, "pkcs11-spy.so", "opensc-pkcs11", "/usr/lib/*/pkcs11/pkcs11-spy.so", "/usr/lib/pkcs11/pkcs11-spy.so")
	os.MkdirAll(dir, 0o755)
	name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()) + "-" + tag
	out := filepath.Join(dir, fmt.Sprintf("%03d-%s.log", spyCount.Add(1), name))
	t.Logf("pkcs11-spy trace of %s: %s", tag, out)
	return spy, []string{"PKCS11SPY=" + mod, "PKCS11SPY_OUTPUT=" + out}
}

// command makes an exec.Cmd with the client environment plus extra, in its own process group, killed with the
// test binary.
func command(ctx context.Context, extraEnv []string, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = baseEnv(extraEnv...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	return cmd
}

// result is the outcome of one program run.
type result struct {
	cmdline string
	stdout  string
	stderr  string
	err     error
}

func (r result) String() string {
	return fmt.Sprintf("$ %s\n-> %v\n--- stdout:\n%s\n--- stderr:\n%s", r.cmdline, r.errText(), trimOut(r.stdout), trimOut(r.stderr))
}

func (r result) errText() string {
	if r.err == nil {
		return "exit status 0"
	}
	return r.err.Error()
}

func trimOut(s string) string {
	const max = 6000
	if len(s) > max {
		return s[:max/2] + "\n[...]\n" + s[len(s)-max/2:]
	}
	return s
}

// runOpts are the options of one run.
type runOpts struct {
	env   []string
	stdin []byte
	// keepStdinOpen leaves the program's stdin open (after stdin was written) until it exits: for TLS clients
	// that would otherwise close the connection at the end of their input, before the answer arrived.
	keepStdinOpen bool
	sys           *syscall.SysProcAttr // replaces the default attributes (which are kept for Setpgid/Pdeathsig)
	timeout       time.Duration
}

// exec runs a program with a bounded time and returns what it did.
func execProg(t *testing.T, o runOpts, name string, args ...string) result {
	t.Helper()
	timeout := o.timeout
	if timeout == 0 {
		timeout = cmdTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := command(ctx, o.env, name, args...)
	if o.sys != nil {
		o.sys.Setpgid, o.sys.Pdeathsig = true, syscall.SIGKILL
		cmd.SysProcAttr = o.sys
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	var stdinW *os.File
	if o.keepStdinOpen {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		cmd.Stdin = r
		stdinW = w
	} else if o.stdin != nil {
		cmd.Stdin = bytes.NewReader(o.stdin)
	}
	start := time.Now()
	err := cmd.Start()
	if err == nil && stdinW != nil {
		// The pipe's buffer takes the few bytes without blocking.
		stdinW.Write(o.stdin)
	}
	if err == nil {
		err = cmd.Wait()
	}
	if stdinW != nil {
		stdinW.Close()
	}
	if ctx.Err() == context.DeadlineExceeded {
		err = fmt.Errorf("timed out after %v (killed): %v", timeout, err)
	}
	res := result{cmdline: shellQuote(name, args), stdout: stdout.String(), stderr: stderr.String(), err: err}
	t.Logf("$ %s  (%v, %s)", res.cmdline, time.Since(start).Round(time.Millisecond), res.errText())
	return res
}

// mustRun runs a program and fails the test unless it exits with status 0.
func mustRun(t *testing.T, o runOpts, name string, args ...string) result {
	t.Helper()
	r := execProg(t, o, name, args...)
	if r.err != nil {
		t.Fatalf("%s failed:\n%s", filepath.Base(name), r)
	}
	return r
}

func shellQuote(name string, args []string) string {
	var b strings.Builder
	b.WriteString(name)
	for _, a := range args {
		b.WriteByte(' ')
		if a == "" || strings.ContainsAny(a, " \t\n'\"$;&|<>*?()\\") {
			b.WriteString("'" + strings.ReplaceAll(a, "'", `'\''`) + "'")
		} else {
			b.WriteString(a)
		}
	}
	return b.String()
}

// server is a background program (a TLS server, sshd, ssh-agent) stopped at the end of the test.
type server struct {
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// startServer starts a long-running program with its output in a log file; the test's cleanup stops it
// (SIGTERM to its process group, SIGKILL after 3 s).
func startServer(t *testing.T, env []string, name string, args ...string) *server {
	t.Helper()
	logf := filepath.Join(t.TempDir(), filepath.Base(name)+".log")
	f, err := os.Create(logf)
	if err != nil {
		t.Fatal(err)
	}
	cmd := command(context.Background(), env, name, args...)
	cmd.Stdout, cmd.Stderr = f, f
	t.Logf("$ %s &  (log %s)", shellQuote(name, args), logf)
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("starting %s: %v", name, err)
	}
	s := &server{cmd: cmd, log: logf, done: make(chan struct{})}
	go func() { cmd.Wait(); f.Close(); close(s.done) }()
	t.Cleanup(func() { s.stop() })
	return s
}

func (s *server) stop() {
	select {
	case <-s.done:
		return
	default:
	}
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(3 * time.Second):
		syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
	}
}

// waitOutput waits until the server's log holds want (a line it writes after the test's client has gone), for
// at most readyTimeout; it reports whether it appeared.
func (s *server) waitOutput(want string) bool {
	for deadline := time.Now().Add(readyTimeout); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if strings.Contains(s.output(), want) {
			return true
		}
	}
	return false
}

func (s *server) output() string {
	b, _ := os.ReadFile(s.log)
	return trimOut(string(b))
}

// waitTCP waits until the server listens on 127.0.0.1:port, failing the test if it exits or times out.
func (s *server) waitTCP(t *testing.T, port int) {
	t.Helper()
	s.waitDial(t, "tcp", fmt.Sprintf("127.0.0.1:%d", port))
}

// waitDial waits until addr accepts connections.
func (s *server) waitDial(t *testing.T, network, addr string) {
	t.Helper()
	deadline := time.Now().Add(readyTimeout)
	for {
		select {
		case <-s.done:
			t.Fatalf("%s exited before listening on %s (%v); its output:\n%s", filepath.Base(s.cmd.Path), addr,
				s.cmd.ProcessState, s.output())
		default:
		}
		if c, err := net.DialTimeout(network, addr, time.Second); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not listening on %s after %v; its output:\n%s", filepath.Base(s.cmd.Path), addr, readyTimeout, s.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// writeFile writes a file in the test's temporary directory and returns its path.
func writeFile(t *testing.T, dir, name string, data []byte, perm os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, perm); err != nil {
		t.Fatal(err)
	}
	return p
}

// mustContain fails the test unless out contains every want.
func mustContain(t *testing.T, r result, out string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Fatalf("the output lacks %q:\n%s", w, r)
		}
	}
}

// ---- the report ----

type row struct {
	scenario, step, program, result string
}

var (
	reportMu sync.Mutex
	report   []row
	xfails   = map[string]string{} // test name -> reason, for steps that are expected failures
)

// step runs one step of a scenario as a subtest and records its outcome in the report. version is computed
// once per program.
func step(t *testing.T, scenario, name, prog string, version func() string, f func(t *testing.T)) bool {
	t.Helper()
	var full string
	ok := t.Run(name, func(t *testing.T) {
		full = t.Name()
		f(t)
	})
	res := "PASS"
	reportMu.Lock()
	reason, isX := xfails[full]
	reportMu.Unlock()
	switch {
	case isX:
		res = "XFAIL: " + reason
	case !ok:
		res = "FAIL"
	}
	v := prog
	if version != nil {
		v = version()
	}
	reportMu.Lock()
	report = append(report, row{scenario, name, v, res})
	reportMu.Unlock()
	return ok
}

// expectedFailure ends a step as an expected failure (a limitation of the client, not of Keyward), with the
// reason shown in the report.
func expectedFailure(t *testing.T, reason string) {
	t.Helper()
	reportMu.Lock()
	xfails[t.Name()] = reason
	reportMu.Unlock()
	t.Skip("expected failure: " + reason)
}

func scenarioNumber(s string) int {
	n, _ := strconv.Atoi(strings.Fields(s + " 0")[0])
	return n
}

func printReport() {
	reportMu.Lock()
	defer reportMu.Unlock()
	if len(report) == 0 {
		return
	}
	// By scenario number (the tests run in file order), then in the order the steps ran.
	sort.SliceStable(report, func(i, j int) bool { return scenarioNumber(report[i].scenario) < scenarioNumber(report[j].scenario) })
	w := [3]int{len("scenario"), len("program and version"), len("result")}
	for _, r := range report {
		w[0] = max(w[0], len(r.scenario+" / "+r.step))
		w[1] = max(w[1], len(r.program))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nKeyward application interoperability (tests/interop)\n")
	fmt.Fprintf(&b, "%-*s  %-*s  %s\n", w[0], "scenario", w[1], "program and version", "result")
	fmt.Fprintf(&b, "%s  %s  %s\n", strings.Repeat("-", w[0]), strings.Repeat("-", w[1]), strings.Repeat("-", 6))
	pass, fail, xfail := 0, 0, 0
	for _, r := range report {
		fmt.Fprintf(&b, "%-*s  %-*s  %s\n", w[0], r.scenario+" / "+r.step, w[1], r.program, r.result)
		switch {
		case r.result == "PASS":
			pass++
		case strings.HasPrefix(r.result, "XFAIL"):
			xfail++
		default:
			fail++
		}
	}
	fmt.Fprintf(&b, "%d passed, %d failed, %d expected failures\n", pass, fail, xfail)
	os.Stdout.WriteString(b.String())
	path := os.Getenv("KEYWARD_INTEROP_REPORT")
	if path == "" && buildPath != "" {
		path = filepath.Join(buildPath, "interop-report.txt")
	}
	if path != "" {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "interop: writing the report: %v\n", err)
		}
	}
}

// readFile reads a file, failing the test if it cannot.
func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
