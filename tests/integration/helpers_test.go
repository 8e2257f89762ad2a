// Package integration holds Keyward's end-to-end tests: they run the real keywardd binary, the real
// libkeyward.so under OpenSC's pkcs11-tool, and pkg/client over the socket, against stores in temporary
// directories.
//
// The binaries come from $KEYWARD_BUILD, else <repo root>/build (`make build`). A missing binary or a
// missing pkcs11-tool fails the tests: CI installs them, so a skip would hide a broken setup.
//
// KEYWARD_LONG_TESTS=1 selects the long mode (more crash cycles).
package integration

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
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

	_ "modernc.org/sqlite"

	"github.com/keyward/keyward/pkg/client"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// longTests reports whether the long mode is on.
func longTests() bool {
	v := os.Getenv("KEYWARD_LONG_TESTS")
	return v != "" && v != "0"
}

var (
	rootOnce sync.Once
	rootDir  string
	rootErr  error
)

// repoRoot walks up from the working directory to the directory holding go.mod.
func repoRoot(t testing.TB) string {
	t.Helper()
	rootOnce.Do(func() {
		dir, err := os.Getwd()
		if err != nil {
			rootErr = err
			return
		}
		for {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				rootDir = dir
				return
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				rootErr = errors.New("no go.mod above the working directory")
				return
			}
			dir = parent
		}
	})
	if rootErr != nil {
		t.Fatalf("locating the repository root: %v", rootErr)
	}
	return rootDir
}

// buildDir is $KEYWARD_BUILD or <root>/build.
func buildDir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("KEYWARD_BUILD"); d != "" {
		abs, err := filepath.Abs(d)
		if err != nil {
			t.Fatalf("KEYWARD_BUILD=%q: %v", d, err)
		}
		return abs
	}
	return filepath.Join(repoRoot(t), "build")
}

// buildFile returns the path of a built artefact, failing the test if it is missing.
func buildFile(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(buildDir(t), name)
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatalf("%s is missing (%v): run `make build`, or point KEYWARD_BUILD at the build directory", p, err)
	}
	if fi.IsDir() {
		t.Fatalf("%s is a directory, want the built file", p)
	}
	return p
}

func keywarddPath(t testing.TB) string { return buildFile(t, "keywardd") }
func modulePath(t testing.TB) string   { return buildFile(t, "libkeyward.so") }

// pkcs11ToolPath finds OpenSC's pkcs11-tool on PATH, failing the test if it is not installed.
func pkcs11ToolPath(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("pkcs11-tool")
	if err != nil {
		t.Fatalf("pkcs11-tool (Debian package opensc) is not installed: %v", err)
	}
	return p
}

// shortTempDir returns a fresh directory with a short path: socket paths are limited to 108 bytes, and
// t.TempDir paths (which carry the test name) can exceed that.
func shortTempDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("", "kwit-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// env is one daemon configuration: a store, a root key outside the store, a socket and a log file.
type env struct {
	Store   string
	RootKey string
	Socket  string
	Log     string
}

// newEnv makes the paths of a fresh configuration (nothing is created yet).
func newEnv(t testing.TB) env {
	t.Helper()
	base := t.TempDir()
	sockDir := shortTempDir(t)
	return env{
		Store:   filepath.Join(base, "store"),
		RootKey: filepath.Join(base, "keys", "root.key"),
		Socket:  filepath.Join(sockDir, "kw.sock"),
		Log:     filepath.Join(base, "keywardd.log"),
	}
}

// clientEnv is the environment for client programs (pkcs11-tool with libkeyward.so) of this configuration.
func (e env) clientEnv() []string {
	return append(os.Environ(), "KEYWARD_SOCKET="+e.Socket, "KEYWARD_AUTOSTART=0")
}

// daemon is a running keywardd.
type daemon struct {
	t    testing.TB
	env  env
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited and been reaped
	err  error         // Wait's result, valid after done
}

// startDaemonProcess starts keywardd on e, with extra arguments, without waiting for it to serve.
func startDaemonProcess(t testing.TB, e env, extra ...string) *daemon {
	t.Helper()
	args := append([]string{"--user", "--store", e.Store, "--root-key", e.RootKey, "--socket", e.Socket,
		"--idle-exit", "0", "--log", e.Log}, extra...)
	d, _ := launchDaemon(t, e, exec.Command(keywarddPath(t), args...), "keywardd")
	return d
}

// launchDaemon starts cmd (keywardd, or a wrapper that runs it) for e with the test PIN derivation, keeps its
// output in the returned buffer, and kills it at the end of the test if it is still running.
func launchDaemon(t testing.TB, e env, cmd *exec.Cmd, what string) (*daemon, *bytes.Buffer) {
	t.Helper()
	cmd.Env = append(os.Environ(), "KEYWARD_KDF=fast")
	// If the test binary dies without running its cleanups (go test's -timeout panic), take the daemon along.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Stdout = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", what, err)
	}
	d := &daemon{t: t, env: e, cmd: cmd, done: make(chan struct{})}
	go func() {
		d.err = cmd.Wait()
		close(d.done)
	}()
	t.Cleanup(func() {
		select {
		case <-d.done:
		default:
			cmd.Process.Kill()
			<-d.done
		}
	})
	return d, &stderr
}

// startDaemon starts keywardd on e and waits (at most 5 s) until its socket accepts connections.
func startDaemon(t testing.TB, e env) *daemon {
	t.Helper()
	d := startDaemonProcess(t, e)
	if err := d.waitReady(5 * time.Second); err != nil {
		t.Fatalf("keywardd did not start serving: %v\nlog:\n%s", err, tailFile(e.Log, 40))
	}
	return d
}

// waitReady polls the socket until it accepts a connection, the process exits, or the timeout passes.
func (d *daemon) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	delay := time.Millisecond
	for {
		select {
		case <-d.done:
			return fmt.Errorf("keywardd exited before serving: %v", d.err)
		default:
		}
		c, err := net.DialTimeout("unix", d.env.Socket, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("socket %s not accepting after %v: %v", d.env.Socket, timeout, err)
		}
		time.Sleep(delay)
		if delay < 5*time.Millisecond {
			delay *= 2
		}
	}
}

// exited waits up to timeout for the process to exit and reports whether it did.
func (d *daemon) exited(timeout time.Duration) bool {
	select {
	case <-d.done:
		return true
	case <-time.After(timeout):
		return false
	}
}

// exitCode is the process's exit status once it exited (-1 if it died of a signal).
func (d *daemon) exitCode() int {
	<-d.done
	return d.cmd.ProcessState.ExitCode()
}

// stop sends SIGTERM and requires a clean exit (status 0) within 10 s.
func (d *daemon) stop() {
	d.t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		d.t.Fatalf("SIGTERM: %v", err)
	}
	if !d.exited(10 * time.Second) {
		d.cmd.Process.Kill()
		<-d.done
		d.t.Fatalf("keywardd did not exit within 10 s of SIGTERM\nlog:\n%s", tailFile(d.env.Log, 40))
	}
	if code := d.cmd.ProcessState.ExitCode(); code != 0 {
		d.t.Fatalf("keywardd exited with status %d after SIGTERM, want 0\nlog:\n%s", code, tailFile(d.env.Log, 40))
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (d *daemon) kill() {
	d.t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		d.t.Fatalf("SIGKILL: %v", err)
	}
	if !d.exited(10 * time.Second) {
		d.t.Fatalf("keywardd did not die within 10 s of SIGKILL")
	}
}

// tailFile returns the last n lines of a file, for failure messages.
func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// dumpLogOnFailure logs the daemon log's tail at the end of a failed test.
func dumpLogOnFailure(t testing.TB, e env) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("keywardd log %s (tail):\n%s", e.Log, tailFile(e.Log, 60))
		}
	})
}

// integrityCheck runs PRAGMA integrity_check on a stopped store's database, read-only, and returns its
// result ("ok" when sound).
func integrityCheck(t testing.TB, storeDir string) string {
	t.Helper()
	path := filepath.Join(storeDir, "keyward.db")
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatalf("opening %s read-only: %v", path, err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rows, err := db.QueryContext(ctx, "PRAGMA integrity_check")
	if err != nil {
		return fmt.Sprintf("integrity_check failed to run: %v", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return fmt.Sprintf("integrity_check scan: %v", err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return fmt.Sprintf("integrity_check rows: %v", err)
	}
	return strings.Join(out, "\n")
}

// --- pkg/client helpers -------------------------------------------------------------------------------------

// dial connects a Go client to e's daemon with a 5 s call bound.
func dial(t testing.TB, e env) *client.Client {
	t.Helper()
	c, err := client.Dial(e.Socket)
	if err != nil {
		t.Fatalf("client.Dial(%s): %v", e.Socket, err)
	}
	c.SetTimeout(callTimeout)
	return c
}

// callTimeout is the per-call bound the tests set on clients; a call that takes longer fails the test.
const callTimeout = 5 * time.Second

func ulongAttr(t ck.AttributeType, v uint64) ck.Attribute {
	// CK_ULONG values travel in host byte order (docs/protocol.md).
	return ck.Attribute{Type: t, Kind: ck.AttrValue, Value: binary.NativeEndian.AppendUint64(nil, v)}
}

func boolAttr(t ck.AttributeType, v bool) ck.Attribute {
	b := byte(0)
	if v {
		b = 1
	}
	return ck.Attribute{Type: t, Kind: ck.AttrValue, Value: []byte{b}}
}

func bytesAttr(t ck.AttributeType, v []byte) ck.Attribute {
	return ck.Attribute{Type: t, Kind: ck.AttrValue, Value: append([]byte{}, v...)}
}

// paddedLabel is a 32-byte blank-padded token label.
func paddedLabel(s string) []byte {
	b := bytes.Repeat([]byte{' '}, 32)
	copy(b, s)
	return b
}

// initToken initialises the free slot's token with an SO PIN and sets the user PIN, through c.
func initToken(t testing.TB, c *client.Client, slot ck.SlotID, label, soPIN, userPIN string) {
	t.Helper()
	if err := c.InitToken(slot, []byte(soPIN), paddedLabel(label)); err != nil {
		t.Fatalf("C_InitToken(slot %d): %v", slot, err)
	}
	s, err := c.OpenSession(slot, ck.CKF_SERIAL_SESSION|ck.CKF_RW_SESSION)
	if err != nil {
		t.Fatalf("C_OpenSession: %v", err)
	}
	if err := c.Login(s, ck.CKU_SO, []byte(soPIN)); err != nil {
		t.Fatalf("C_Login(SO): %v", err)
	}
	if err := c.InitPIN(s, []byte(userPIN)); err != nil {
		t.Fatalf("C_InitPIN: %v", err)
	}
	if err := c.Logout(s); err != nil {
		t.Fatalf("C_Logout: %v", err)
	}
	if err := c.CloseSession(s); err != nil {
		t.Fatalf("C_CloseSession: %v", err)
	}
}

// userSession opens a R/W session on slot and logs the application in as the user.
func userSession(t testing.TB, c *client.Client, slot ck.SlotID, pin string) ck.SessionHandle {
	t.Helper()
	s, err := c.OpenSession(slot, ck.CKF_SERIAL_SESSION|ck.CKF_RW_SESSION)
	if err != nil {
		t.Fatalf("C_OpenSession(slot %d): %v", slot, err)
	}
	if err := c.Login(s, ck.CKU_USER, []byte(pin)); err != nil {
		t.Fatalf("C_Login(user): %v", err)
	}
	return s
}

// findAll returns every object matching the template.
func findAll(c *client.Client, s ck.SessionHandle, template []ck.Attribute) ([]ck.ObjectHandle, error) {
	if err := c.FindObjectsInit(s, template); err != nil {
		return nil, fmt.Errorf("C_FindObjectsInit: %w", err)
	}
	var all []ck.ObjectHandle
	for {
		hs, err := c.FindObjects(s, 1024)
		if err != nil {
			c.FindObjectsFinal(s)
			return nil, fmt.Errorf("C_FindObjects: %w", err)
		}
		if len(hs) == 0 {
			break
		}
		all = append(all, hs...)
	}
	if err := c.FindObjectsFinal(s); err != nil {
		return nil, fmt.Errorf("C_FindObjectsFinal: %w", err)
	}
	return all, nil
}

// getAttrs reads attribute values (each with a length query first, as a C caller would) and returns them
// by type. The error is the C_GetAttributeValue code of the value query (or of the length query, if that
// failed with something other than a per-attribute code).
func getAttrs(c *client.Client, s ck.SessionHandle, o ck.ObjectHandle, types ...ck.AttributeType) (map[ck.AttributeType][]byte, error) {
	q := make([]ck.Attribute, len(types))
	for i, ty := range types {
		q[i] = ck.Attribute{Type: ty, Kind: ck.AttrLength}
	}
	lens, err := c.GetAttributeValue(s, o, q)
	rv := ck.ToRV(err)
	if rv != ck.CKR_OK && rv != ck.CKR_ATTRIBUTE_SENSITIVE && rv != ck.CKR_ATTRIBUTE_TYPE_INVALID {
		return nil, err
	}
	out := map[ck.AttributeType][]byte{}
	q = q[:0]
	for _, a := range lens {
		if a.Kind == ck.AttrLength && a.Len != ck.CK_UNAVAILABLE_INFORMATION {
			q = append(q, ck.Attribute{Type: a.Type, Kind: ck.AttrBuffer, Len: a.Len})
		}
	}
	if len(q) > 0 {
		vals, verr := c.GetAttributeValue(s, o, q)
		if r := ck.ToRV(verr); r != ck.CKR_OK {
			return nil, verr
		}
		for _, a := range vals {
			if a.Kind == ck.AttrValue {
				out[a.Type] = append([]byte{}, a.Value...)
			}
		}
	}
	return out, err
}

// storeObjectRows counts the rows of a stopped store's objects table (read-only).
func storeObjectRows(t testing.TB, storeDir string) int {
	t.Helper()
	path := filepath.Join(storeDir, "keyward.db")
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatalf("opening %s read-only: %v", path, err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow("SELECT count(*) FROM objects").Scan(&n); err != nil {
		t.Fatalf("counting the objects of %s: %v", path, err)
	}
	return n
}

// logErrors returns the ERROR lines of a daemon log.
func logErrors(path string) []string {
	b, _ := os.ReadFile(path)
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, "level=ERROR") {
			out = append(out, l)
		}
	}
	return out
}
