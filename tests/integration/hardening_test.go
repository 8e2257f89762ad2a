package integration

//lint:file-ignore SA1019 the memory-disclosure test looks for the private scalar's bytes

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// The hardening tests (issue 6): the daemon process cannot be dumped or ptrace-read by its own uid, has no core
// limit and a 077 umask; what it creates is private to it; an application that imported and used a private key
// through libkeyward.so holds no copy of the key's private values afterwards; socket activation leaves the
// systemd-owned socket alone.

const (
	hardSOPIN   = "hard-so-2718"
	hardUserPIN = "hard-user-3141"
	hardLabel   = "HardTest"
	// nobodyID is the uid and gid the tests run unprivileged processes as (setpriv).
	nobodyID = 65534
)

// --- kwprobe: a small C application linked (dlopen) to libkeyward.so ----------------------------------------------

// kwprobeSource is the client application of the memory-disclosure and client-kill tests. It reads its inputs from
// stdin with read(2) (never argv or stdio, which would leave copies the test cannot attribute):
//
//	u32 n, marker (kept in a heap buffer on purpose: the positive control of the memory scan)
//	u32 n, user PIN
//	u32 count, then count attributes: u64 type, u32 n, n bytes (the private key template, mode "import")
//
// argv: MODULE MODE [MECHANISM]. Modes:
//
//	import  log in, C_CreateObject the template (a session key), wipe the template, sign 16 times with
//	        MECHANISM over a 32-byte input, print "ready", wait.
//	churn   log in, open 4 more sessions, create 16 session data objects of 4 KiB, start a multi-part digest
//	        on one session, print "ready", then digest forever (the test kills it mid-operation).
const kwprobeSource = `
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "keyward/pkcs11.h"

static CK_FUNCTION_LIST_PTR p;

static void die(const char *what, CK_RV rv) {
	printf("error %s 0x%lx\n", what, (unsigned long)rv);
	fflush(stdout);
	_exit(2);
}

static unsigned char *in;
static size_t in_len, in_off;

static void read_all(void) {
	size_t cap = 1 << 16;
	in = malloc(cap);
	for (;;) {
		if (in_len == cap) {
			cap *= 2;
			unsigned char *n = malloc(cap);
			memcpy(n, in, in_len);
			explicit_bzero(in, in_len);
			free(in);
			in = n;
		}
		ssize_t r = read(0, in + in_len, cap - in_len);
		if (r < 0) die("read", 0);
		if (r == 0) break;
		in_len += (size_t)r;
	}
}

static uint32_t get32(void) {
	if (in_off + 4 > in_len) die("short input", 0);
	uint32_t v; memcpy(&v, in + in_off, 4); in_off += 4; return v;
}
static uint64_t get64(void) {
	if (in_off + 8 > in_len) die("short input", 0);
	uint64_t v; memcpy(&v, in + in_off, 8); in_off += 8; return v;
}
static unsigned char *getb(uint32_t *n) {
	*n = get32();
	if (in_off + *n > in_len) die("short input", 0);
	unsigned char *b = in + in_off; in_off += *n; return b;
}

int main(int argc, char **argv) {
	if (argc < 3) { fprintf(stderr, "usage: kwprobe MODULE MODE [MECH]\n"); return 2; }
	void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (!h) { printf("error dlopen %s\n", dlerror()); return 2; }
	CK_C_GetFunctionList gfl = (CK_C_GetFunctionList)dlsym(h, "C_GetFunctionList");
	if (!gfl) die("dlsym", 0);
	CK_RV rv = gfl(&p);
	if (rv != CKR_OK) die("C_GetFunctionList", rv);

	read_all();
	uint32_t mlen, plen;
	unsigned char *m = getb(&mlen);
	unsigned char *marker = malloc(mlen);
	memcpy(marker, m, mlen);
	unsigned char *pin = getb(&plen);

	CK_C_INITIALIZE_ARGS ia;
	memset(&ia, 0, sizeof ia);
	ia.flags = CKF_OS_LOCKING_OK;
	if ((rv = p->C_Initialize(&ia)) != CKR_OK) die("C_Initialize", rv);
	CK_SLOT_ID slots[16];
	CK_ULONG ns = 16;
	if ((rv = p->C_GetSlotList(CK_TRUE, slots, &ns)) != CKR_OK) die("C_GetSlotList", rv);
	if (ns == 0) die("no token", 0);
	CK_SESSION_HANDLE s;
	if ((rv = p->C_OpenSession(slots[0], CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s)) != CKR_OK)
		die("C_OpenSession", rv);
	if ((rv = p->C_Login(s, CKU_USER, pin, plen)) != CKR_OK) die("C_Login", rv);

	if (strcmp(argv[2], "import") == 0) {
		if (argc < 4) die("no mechanism", 0);
		CK_MECHANISM_TYPE mt = strtoul(argv[3], NULL, 0);
		uint32_t count = get32();
		CK_ATTRIBUTE *t = calloc(count, sizeof *t);
		for (uint32_t i = 0; i < count; i++) {
			uint32_t n;
			t[i].type = (CK_ATTRIBUTE_TYPE)get64();
			t[i].pValue = getb(&n);
			t[i].ulValueLen = n;
		}
		CK_OBJECT_HANDLE key;
		if ((rv = p->C_CreateObject(s, t, count, &key)) != CKR_OK) die("C_CreateObject", rv);
		/* The application's own copy of the key is its business: it wipes it, as a careful application does.
		   What remains is whatever libkeyward.so (or libc on its behalf) kept. */
		explicit_bzero(in, in_len);
		free(t);
		if (getenv("KWPROBE_STOP_AFTER_CREATE")) {
			printf("ready\n");
			fflush(stdout);
			for (;;) pause();
		}
		unsigned char data[32], sig[1024];
		for (int i = 0; i < 16; i++) {
			memset(data, i, sizeof data);
			CK_MECHANISM mech = {mt, NULL, 0};
			if ((rv = p->C_SignInit(s, &mech, key)) != CKR_OK) die("C_SignInit", rv);
			CK_ULONG sl = sizeof sig;
			if ((rv = p->C_Sign(s, data, sizeof data, sig, &sl)) != CKR_OK) die("C_Sign", rv);
		}
		printf("ready %lu\n", (unsigned long)marker[0]);
		fflush(stdout);
		for (;;) pause();
	}
	if (strcmp(argv[2], "churn") == 0) {
		CK_SESSION_HANDLE more[4];
		for (int i = 0; i < 4; i++)
			if ((rv = p->C_OpenSession(slots[0], CKF_SERIAL_SESSION | (i % 2 ? CKF_RW_SESSION : 0), NULL, NULL, &more[i])) != CKR_OK)
				die("C_OpenSession", rv);
		static unsigned char value[4096];
		memset(value, 0x5a, sizeof value);
		CK_OBJECT_CLASS cls = CKO_DATA;
		CK_BBOOL no = CK_FALSE, yes = CK_TRUE;
		for (int i = 0; i < 16; i++) {
			CK_ATTRIBUTE t[] = {
				{CKA_CLASS, &cls, sizeof cls}, {CKA_TOKEN, &no, 1}, {CKA_PRIVATE, i % 2 ? &yes : &no, 1},
				{CKA_VALUE, value, sizeof value},
			};
			CK_OBJECT_HANDLE o;
			if ((rv = p->C_CreateObject(i % 2 ? s : more[1], t, 4, &o)) != CKR_OK) die("C_CreateObject", rv);
		}
		CK_MECHANISM dm = {CKM_SHA256, NULL, 0};
		if ((rv = p->C_DigestInit(more[0], &dm)) != CKR_OK) die("C_DigestInit", rv);
		printf("ready\n");
		fflush(stdout);
		for (;;) {
			if ((rv = p->C_DigestUpdate(more[0], value, sizeof value)) != CKR_OK) die("C_DigestUpdate", rv);
		}
	}
	die("unknown mode", 0);
	return 2;
}
`

var (
	probeOnce sync.Once
	probePath string
	probeErr  error
)

// kwprobe compiles kwprobeSource once per test binary with the system C compiler, failing the test if there is
// none.
func kwprobe(t testing.TB) string {
	t.Helper()
	probeOnce.Do(func() {
		cc, err := exec.LookPath("cc")
		if err != nil {
			probeErr = fmt.Errorf("no C compiler (cc) on PATH: %v", err)
			return
		}
		// One build per source version, reused across runs, in the build directory (never a shared /tmp path:
		// root runs it).
		sum := sha256.Sum256([]byte(kwprobeSource + cc))
		dir := filepath.Join(buildDir(t), "tests", "kwprobe-"+hex.EncodeToString(sum[:6]))
		out := filepath.Join(dir, "kwprobe")
		if fi, err := os.Stat(out); err == nil && fi.Mode().IsRegular() {
			probePath = out
			return
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			probeErr = err
			return
		}
		src := filepath.Join(dir, "kwprobe.c")
		if err := os.WriteFile(src, []byte(kwprobeSource), 0o644); err != nil {
			probeErr = err
			return
		}
		tmp := fmt.Sprintf("%s.%d", out, os.Getpid())
		cmd := exec.Command(cc, "-std=c11", "-O1", "-Wall", "-I", filepath.Join(repoRoot(t), "include"), "-Wl,-z,now", "-o", tmp, src, "-ldl")
		if b, err := cmd.CombinedOutput(); err != nil {
			probeErr = fmt.Errorf("compiling kwprobe: %v\n%s", err, b)
			return
		}
		if err := os.Rename(tmp, out); err != nil {
			probeErr = err
			return
		}
		probePath = out
	})
	if probeErr != nil {
		t.Fatal(probeErr)
	}
	return probePath
}

// probeInput builds kwprobe's stdin.
func probeInput(marker []byte, pin string, template []ck.Attribute) []byte {
	var b []byte
	put := func(v []byte) {
		b = binary.NativeEndian.AppendUint32(b, uint32(len(v)))
		b = append(b, v...)
	}
	put(marker)
	put([]byte(pin))
	if template != nil {
		b = binary.NativeEndian.AppendUint32(b, uint32(len(template)))
		for _, a := range template {
			b = binary.NativeEndian.AppendUint64(b, uint64(a.Type))
			put(a.Value)
		}
	}
	return b
}

// probe is a running kwprobe.
type probe struct {
	cmd  *exec.Cmd
	out  *bufio.Reader
	done chan struct{}
}

// startProbe runs kwprobe with input on stdin and waits (at most timeout) for its "ready" line.
func startProbe(t testing.TB, e env, mode string, input []byte, timeout time.Duration, extra ...string) (*probe, error) {
	t.Helper()
	cmd := exec.Command(kwprobe(t), append([]string{modulePath(t), mode}, extra...)...)
	cmd.Env = e.clientEnv()
	cmd.Stdin = bytes.NewReader(input)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting kwprobe: %v", err)
	}
	p := &probe{cmd: cmd, out: bufio.NewReader(stdout), done: make(chan struct{})}
	line := make(chan string, 1)
	go func() {
		l, _ := p.out.ReadString('\n')
		line <- l
	}()
	go func() {
		cmd.Wait()
		close(p.done)
	}()
	select {
	case l := <-line:
		if !strings.HasPrefix(l, "ready") {
			p.kill()
			return nil, fmt.Errorf("kwprobe %s: %q", mode, strings.TrimSpace(l))
		}
		return p, nil
	case <-time.After(timeout):
		p.kill()
		return nil, fmt.Errorf("kwprobe %s: not ready after %v", mode, timeout)
	}
}

// kill SIGKILLs the probe and reaps it.
func (p *probe) kill() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// --- process memory ---------------------------------------------------------------------------------------------

// region is one readable mapping of a process and its bytes.
type region struct {
	desc string
	data []byte
}

// readProcessMemory reads every readable mapping of pid through /proc/PID/maps and /proc/PID/mem (root may).
func readProcessMemory(t testing.TB, pid int) []region {
	t.Helper()
	maps, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		t.Fatalf("reading the maps of %d: %v", pid, err)
	}
	mem, err := os.Open(fmt.Sprintf("/proc/%d/mem", pid))
	if err != nil {
		t.Fatalf("opening the memory of %d: %v", pid, err)
	}
	defer mem.Close()
	var out []region
	for _, line := range strings.Split(strings.TrimSpace(string(maps)), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 || f[1][0] != 'r' {
			continue
		}
		if len(f) >= 6 && (f[5] == "[vvar]" || f[5] == "[vsyscall]" || f[5] == "[vvar_vclock]") {
			continue
		}
		var lo, hi uint64
		if _, err := fmt.Sscanf(f[0], "%x-%x", &lo, &hi); err != nil {
			t.Fatalf("maps line %q: %v", line, err)
		}
		buf := make([]byte, hi-lo)
		n, _ := mem.ReadAt(buf, int64(lo))
		out = append(out, region{desc: line, data: buf[:n]})
	}
	return out
}

// memNeedle is a byte sequence searched for in a memory image.
type memNeedle struct {
	name  string
	value []byte
}

// secretNeedles returns, for a secret value, the whole value and 16-byte windows at its start, middle and end,
// in big-endian (PKCS#11's encoding) and little-endian (bignum limbs) byte order.
func secretNeedles(name string, v []byte) []memNeedle {
	rev := make([]byte, len(v))
	for i := range v {
		rev[len(v)-1-i] = v[i]
	}
	var out []memNeedle
	for _, o := range []struct {
		order string
		b     []byte
	}{{"big-endian", v}, {"little-endian", rev}} {
		out = append(out, memNeedle{name + " (" + o.order + ")", o.b})
		if len(o.b) > 32 {
			mid := len(o.b)/2 - 8
			out = append(out,
				memNeedle{name + " first 16 bytes (" + o.order + ")", o.b[:16]},
				memNeedle{name + " middle 16 bytes (" + o.order + ")", o.b[mid : mid+16]},
				memNeedle{name + " last 16 bytes (" + o.order + ")", o.b[len(o.b)-16:]})
		}
	}
	return out
}

// findIn returns where needle occurs in the regions ("" if nowhere).
func findIn(regs []region, needle []byte) string {
	var hits []string
	for _, r := range regs {
		if i := bytes.Index(r.data, needle); i >= 0 {
			hits = append(hits, fmt.Sprintf("offset %#x of %s", i, r.desc))
		}
	}
	return strings.Join(hits, "; ")
}

// --- setup helpers -----------------------------------------------------------------------------------------------

// freshToken starts a daemon on a new store and initialises the first slot's token.
func freshToken(t *testing.T, e env) (*daemon, ck.SlotID) {
	t.Helper()
	d := startDaemon(t, e)
	c := dial(t, e)
	defer c.Close()
	slots, err := c.GetSlotList(false)
	if err != nil || len(slots) == 0 {
		t.Fatalf("C_GetSlotList: %v %v", slots, err)
	}
	initToken(t, c, slots[0], hardLabel, hardSOPIN, hardUserPIN)
	return d, slots[0]
}

// pad returns b left-padded with zeros to n bytes.
func pad(b []byte, n int) []byte {
	if len(b) >= n {
		return b
	}
	return append(make([]byte, n-len(b)), b...)
}

// procStatusField returns a field of /proc/PID/status.
func procStatusField(t testing.TB, pid int, name string) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("reading /proc/%d/status: %v", pid, err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && k == name {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("/proc/%d/status has no %s", pid, name)
	return ""
}

// coreLimit returns the soft and hard "Max core file size" of /proc/PID/limits.
func coreLimit(t testing.TB, pid int) (string, string) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		t.Fatalf("reading /proc/%d/limits: %v", pid, err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "Max core file size") {
			f := strings.Fields(strings.TrimPrefix(l, "Max core file size"))
			if len(f) >= 2 {
				return f[0], f[1]
			}
		}
	}
	t.Fatalf("/proc/%d/limits has no core size line", pid)
	return "", ""
}

// setprivPath finds setpriv (util-linux), failing the test if it is missing.
func setprivPath(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("setpriv")
	if err != nil {
		t.Fatalf("setpriv (util-linux) is not installed: %v", err)
	}
	return p
}

// requireRoot fails the test unless it runs as root: these tests read other processes' memory and change uids.
func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatalf("this test needs root (it reads /proc/PID/mem and runs processes under other uids); euid=%d", os.Geteuid())
	}
}

// nobodyDir makes a fresh short directory owned by nobodyID, mode 0700.
func nobodyDir(t testing.TB) string {
	t.Helper()
	d := shortTempDir(t)
	if err := os.Chmod(d, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(d, nobodyID, nobodyID); err != nil {
		t.Fatal(err)
	}
	return d
}

// startDaemonAsNobody starts keywardd under uid/gid 65534 (setpriv, no supplementary groups) on e, whose
// directories nobody must be able to create, and waits until it serves.
func startDaemonAsNobody(t testing.TB, e env) *daemon {
	t.Helper()
	cmd := exec.Command(setprivPath(t), "--reuid="+strconv.Itoa(nobodyID), "--regid="+strconv.Itoa(nobodyID), "--clear-groups", "--",
		keywarddPath(t), "--user", "--store", e.Store, "--root-key", e.RootKey,
		"--socket", e.Socket, "--idle-exit", "0", "--log", e.Log)
	d, stderr := launchDaemon(t, e, cmd, "keywardd under setpriv")
	if err := d.waitReady(5 * time.Second); err != nil {
		t.Fatalf("keywardd (uid %d) did not start serving: %v\nstderr: %s\nlog:\n%s", nobodyID, err, stderr.String(), tailFile(e.Log, 40))
	}
	return d
}

// nobodyEnv is an env whose every path lies in directories owned by nobodyID.
func nobodyEnv(t testing.TB) env {
	t.Helper()
	base := nobodyDir(t)
	sock := nobodyDir(t)
	return env{
		Store:   filepath.Join(base, "store"),
		RootKey: filepath.Join(base, "keys", "root.key"),
		Socket:  filepath.Join(sock, "kw.sock"),
		Log:     filepath.Join(base, "keywardd.log"),
	}
}

// --- tests -------------------------------------------------------------------------------------------------------

// TestHardeningProcess: keywardd, run as an ordinary uid, is not dumpable (its /proc files belong to root, and
// another process of the same uid can read neither its environment nor its memory, while it can for an ordinary
// process of that uid: the positive control), its core size limit is 0 (soft and hard) and its umask is 0077.
func TestHardeningProcess(t *testing.T) {
	requireRoot(t)
	e := nobodyEnv(t)
	dumpLogOnFailure(t, e)
	d := startDaemonAsNobody(t, e)
	pid := d.cmd.Process.Pid

	// The positive control: an ordinary process of the same uid.
	ctl := exec.Command(setprivPath(t), "--reuid=65534", "--regid=65534", "--clear-groups", "--", "sleep", "30")
	ctl.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := ctl.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { ctl.Process.Kill(); ctl.Wait() }()
	time.Sleep(100 * time.Millisecond) // let setpriv exec sleep

	owner := func(p int) uint32 {
		fi, err := os.Stat(fmt.Sprintf("/proc/%d/status", p))
		if err != nil {
			t.Fatal(err)
		}
		return fi.Sys().(*syscall.Stat_t).Uid
	}
	if uid := procStatusField(t, pid, "Uid"); !strings.HasPrefix(uid, "65534") {
		t.Fatalf("keywardd runs as Uid %q, want 65534 (setpriv)", uid)
	}
	if got := owner(ctl.Process.Pid); got != nobodyID {
		t.Fatalf("control: /proc/%d/status of a dumpable uid-65534 process is owned by %d, want 65534", ctl.Process.Pid, got)
	}
	if got := owner(pid); got != 0 {
		t.Errorf("/proc/%d/status of keywardd is owned by uid %d: the process is dumpable (PR_SET_DUMPABLE not 0); a non-dumpable process's /proc files belong to root", pid, got)
	}
	// Same-uid reads: environ needs PTRACE_MODE_READ, which a non-dumpable target refuses to its own uid.
	readAs := func(path string) error {
		out, err := exec.Command(setprivPath(t), "--reuid=65534", "--regid=65534", "--clear-groups", "--",
			"head", "-c", "1", path).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v: %s", err, bytes.TrimSpace(out))
		}
		return nil
	}
	if err := readAs(fmt.Sprintf("/proc/%d/environ", ctl.Process.Pid)); err != nil {
		t.Fatalf("control: uid 65534 cannot read the environ of its own dumpable process: %v", err)
	}
	if err := readAs(fmt.Sprintf("/proc/%d/environ", pid)); err == nil {
		t.Errorf("a uid-65534 process read keywardd's /proc/%d/environ: keywardd is readable by its own uid (not dumpable expected)", pid)
	}
	if soft, hard := coreLimit(t, pid); soft != "0" || hard != "0" {
		t.Errorf("keywardd's core size limit is soft %s hard %s, want 0 and 0", soft, hard)
	}
	if um := procStatusField(t, pid, "Umask"); um != "0077" {
		t.Errorf("keywardd's umask is %s, want 0077", um)
	}
	// NoNewPrivs is the service manager's business (keywardd.service sets it); report it for the record.
	t.Logf("keywardd pid %d: NoNewPrivs=%s Seccomp=%s", pid, procStatusField(t, pid, "NoNewPrivs"), procStatusField(t, pid, "Seccomp"))
}

// TestHardeningFileModes: started with umask 000 on paths that do not exist yet, keywardd (user mode) creates its
// store directory, root key directory and socket directory 0700, and every file (database, WAL, shared memory,
// lock, root key, pid file, log) 0600, its socket 0600; nothing is group- or world-accessible after a token with
// objects has been written.
func TestHardeningFileModes(t *testing.T) {
	base := shortTempDir(t)
	e := env{
		Store:   filepath.Join(base, "a", "store"),
		RootKey: filepath.Join(base, "b", "keys", "root.key"),
		Socket:  filepath.Join(base, "c", "kw.sock"),
		Log:     filepath.Join(base, "keywardd.log"),
	}
	dumpLogOnFailure(t, e)
	old := syscall.Umask(0)
	d := startDaemonProcess(t, e)
	syscall.Umask(old)
	if err := d.waitReady(5 * time.Second); err != nil {
		t.Fatalf("keywardd did not start: %v\n%s", err, tailFile(e.Log, 40))
	}
	c := dial(t, e)
	slots, err := c.GetSlotList(false)
	if err != nil || len(slots) == 0 {
		t.Fatalf("C_GetSlotList: %v %v", slots, err)
	}
	initToken(t, c, slots[0], hardLabel, hardSOPIN, hardUserPIN)
	s := userSession(t, c, slots[0], hardUserPIN)
	for i := 0; i < 20; i++ {
		if _, err := c.CreateObject(s, []ck.Attribute{
			ulongAttr(ck.CKA_CLASS, uint64(ck.CKO_DATA)), boolAttr(ck.CKA_TOKEN, true), boolAttr(ck.CKA_PRIVATE, i%2 == 0),
			bytesAttr(ck.CKA_VALUE, bytes.Repeat([]byte{byte(i)}, 100)),
		}); err != nil {
			t.Fatalf("C_CreateObject: %v", err)
		}
	}
	pidFile := filepath.Join(filepath.Dir(e.Socket), "keywardd.pid")
	want := map[string]os.FileMode{
		e.Store:                                os.ModeDir | 0o700,
		filepath.Join(e.Store, "keyward.db"):   0o600,
		filepath.Join(e.Store, "keyward.lock"): 0o600,
		filepath.Dir(e.RootKey):                os.ModeDir | 0o700,
		e.RootKey:                              0o600,
		filepath.Dir(e.Socket):                 os.ModeDir | 0o700,
		e.Socket:                               os.ModeSocket | 0o600,
		pidFile:                                0o600,
		e.Log:                                  0o600,
	}
	for p, m := range want {
		fi, err := os.Lstat(p)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		if fi.Mode() != m {
			t.Errorf("%s has mode %v, want %v", p, fi.Mode(), m)
		}
	}
	// Everything else in the store (WAL, shared memory, whatever a later version adds) is private too.
	for _, dir := range []string{e.Store, filepath.Dir(e.RootKey), filepath.Dir(e.Socket)} {
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, de := range ents {
			fi, err := de.Info()
			if err != nil {
				continue
			}
			if fi.Mode().Perm()&0o077 != 0 {
				t.Errorf("%s has mode %v: group or others have access", filepath.Join(dir, de.Name()), fi.Mode())
			}
		}
	}
	c.Close()
	d.stop()
}

// TestMemoryDisclosure: an application (kwprobe, C, libkeyward.so) imports a sensitive private key of known value
// through C_CreateObject, wipes its own template, signs with the key, and waits. The test then reads the
// application's whole memory (/proc/PID/maps and /proc/PID/mem) and requires that no private value of the key (EC
// scalar; RSA d, p, q, dP, dQ, qInv) appears anywhere, in either byte order, in whole or as a 16-byte window, while
// a random marker that the application keeps in its heap on purpose is found (the scan works). keywardd's own
// memory holds the key by design and is not scanned (issue 6).
func TestMemoryDisclosure(t *testing.T) {
	requireRoot(t)
	e := newEnv(t)
	dumpLogOnFailure(t, e)
	freshToken(t, e)

	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey.Precompute()
	p256OID := []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}
	common := func(kt ck.KeyType) []ck.Attribute {
		return []ck.Attribute{
			ulongAttr(ck.CKA_CLASS, uint64(ck.CKO_PRIVATE_KEY)), ulongAttr(ck.CKA_KEY_TYPE, uint64(kt)),
			boolAttr(ck.CKA_TOKEN, false), boolAttr(ck.CKA_PRIVATE, true), boolAttr(ck.CKA_SENSITIVE, true),
			boolAttr(ck.CKA_EXTRACTABLE, false), boolAttr(ck.CKA_SIGN, true),
		}
	}
	ecScalar := pad(ecKey.D.Bytes(), 32)
	ecTemplate := append(common(ck.CKK_EC), bytesAttr(ck.CKA_EC_PARAMS, p256OID), bytesAttr(ck.CKA_VALUE, ecScalar))
	pr := rsaKey.Primes
	rsaTemplate := append(common(ck.CKK_RSA),
		bytesAttr(ck.CKA_MODULUS, rsaKey.N.Bytes()), bytesAttr(ck.CKA_PUBLIC_EXPONENT, big.NewInt(int64(rsaKey.E)).Bytes()),
		bytesAttr(ck.CKA_PRIVATE_EXPONENT, rsaKey.D.Bytes()), bytesAttr(ck.CKA_PRIME_1, pr[0].Bytes()),
		bytesAttr(ck.CKA_PRIME_2, pr[1].Bytes()), bytesAttr(ck.CKA_EXPONENT_1, rsaKey.Precomputed.Dp.Bytes()),
		bytesAttr(ck.CKA_EXPONENT_2, rsaKey.Precomputed.Dq.Bytes()), bytesAttr(ck.CKA_COEFFICIENT, rsaKey.Precomputed.Qinv.Bytes()))

	cases := []struct {
		name     string
		template []ck.Attribute
		mech     ck.MechanismType
		secrets  []memNeedle
	}{
		{"EC P-256", ecTemplate, ck.CKM_ECDSA, secretNeedles("EC private scalar", ecScalar)},
		{"RSA-2048", rsaTemplate, ck.CKM_SHA256_RSA_PKCS, concat(
			secretNeedles("RSA private exponent d", rsaKey.D.Bytes()),
			secretNeedles("RSA prime p", pr[0].Bytes()),
			secretNeedles("RSA prime q", pr[1].Bytes()),
			secretNeedles("RSA dP", rsaKey.Precomputed.Dp.Bytes()),
			secretNeedles("RSA dQ", rsaKey.Precomputed.Dq.Bytes()),
			secretNeedles("RSA qInv", rsaKey.Precomputed.Qinv.Bytes()))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			marker := make([]byte, 32)
			rand.Read(marker)
			p, err := startProbe(t, e, "import", probeInput(marker, hardUserPIN, tc.template), 20*time.Second,
				strconv.FormatUint(uint64(tc.mech), 10))
			if err != nil {
				t.Fatal(err)
			}
			defer p.kill()
			regs := readProcessMemory(t, p.cmd.Process.Pid)
			total := 0
			for _, r := range regs {
				total += len(r.data)
			}
			if where := findIn(regs, marker); where == "" {
				t.Fatalf("positive control: the marker kwprobe keeps in its heap was not found in %d bytes of its memory (%d regions): the scan does not work", total, len(regs))
			}
			for _, n := range tc.secrets {
				if where := findIn(regs, n.value); where != "" {
					t.Errorf("the application's memory holds the %s after C_CreateObject, the template wiped and 16 signatures: %s", n.name, where)
				}
			}
			t.Logf("%s: scanned %d bytes in %d regions of kwprobe (pid %d); marker found, %d secret patterns absent",
				tc.name, total, len(regs), p.cmd.Process.Pid, len(tc.secrets))
		})
	}
}

func concat(ns ...[]memNeedle) []memNeedle {
	var out []memNeedle
	for _, n := range ns {
		out = append(out, n...)
	}
	return out
}

// TestSocketActivation: keywardd started as systemd starts it from keywardd.socket (the listening socket as fd 3,
// LISTEN_PID and LISTEN_FDS set) serves that socket, and when it stops it leaves the socket file alone: the path
// belongs to the socket unit, which keeps listening and starts the daemon again on the next connection.
func TestSocketActivation(t *testing.T) {
	e := newEnv(t)
	dumpLogOnFailure(t, e)
	ln, err := net.Listen("unix", e.Socket)
	if err != nil {
		t.Fatal(err)
	}
	ul := ln.(*net.UnixListener)
	ul.SetUnlinkOnClose(false)
	defer ul.Close()
	lf, err := ul.File()
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	// A shell sets LISTEN_PID to its own pid, then execs keywardd, which keeps it.
	cmd := exec.Command("/bin/sh", "-c", `LISTEN_PID=$$ LISTEN_FDS=1 LISTEN_FDNAMES=keywardd.socket exec "$@"`, "sh",
		keywarddPath(t), "--user", "--store", e.Store, "--root-key", e.RootKey, "--socket", e.Socket,
		"--idle-exit", "0", "--log", e.Log)
	cmd.Env = append(os.Environ(), "KEYWARD_KDF=fast")
	cmd.ExtraFiles = []*os.File{lf}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &daemon{t: t, env: e, cmd: cmd, done: make(chan struct{})}
	go func() { d.err = cmd.Wait(); close(d.done) }()
	t.Cleanup(func() {
		select {
		case <-d.done:
		default:
			cmd.Process.Kill()
			<-d.done
		}
	})
	c := dial(t, e)
	if _, err := c.GetSlotList(false); err != nil {
		t.Fatalf("C_GetSlotList over the activated socket: %v", err)
	}
	c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(readText(e.Log), "using the socket passed by systemd") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(readText(e.Log), "using the socket passed by systemd") {
		t.Errorf("keywardd did not log that it uses the passed socket")
	}
	d.stop()
	if _, err := os.Lstat(e.Socket); err != nil {
		t.Errorf("after a socket-activated keywardd stopped (SIGTERM), the socket file %s is gone (%v): keywardd removes "+
			"the path of a socket it did not create (cmd/keywardd/main.go run(): os.Remove(o.socket) runs in the socket-"+
			"activated case too). Under systemd, keywardd.socket keeps listening on an unlinked inode and every later "+
			"client gets ENOENT until the socket unit is restarted", e.Socket, err)
	}
}

func readText(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}
