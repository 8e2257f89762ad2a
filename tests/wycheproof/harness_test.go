package wycheproof

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/pkcs11"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// The harness: a private keywardd per test binary, libkeyward.so loaded through miekg/pkcs11, an initialised
// token with the user logged in, and per-file tallies of the vectors' outcomes.

const (
	soPIN   = "wycheproof-so"
	userPIN = "wycheproof-user"
)

// env is the loaded library with its token.
type env struct {
	ctx  *pkcs11.Ctx
	lib  string
	slot uint
}

var (
	setupOnce sync.Once
	setupEnv  *env
	setupErr  error

	// daemon state, cleaned up by TestMain.
	daemonCmd  *exec.Cmd
	daemonDone chan struct{}
	daemonLog  string
	tmpDirs    []string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if setupEnv != nil {
		setupEnv.ctx.Finalize()
		setupEnv.ctx.Destroy()
	}
	if daemonCmd != nil && daemonCmd.Process != nil {
		daemonCmd.Process.Kill()
		<-daemonDone
	}
	for _, d := range tmpDirs {
		os.RemoveAll(d)
	}
	os.Exit(code)
}

// repoRoot walks up from the working directory to the directory holding go.mod.
func repoRoot() (string, error) {
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

// buildDir is $KEYWARD_BUILD or <root>/build.
func buildDir(root string) (string, error) {
	if d := os.Getenv("KEYWARD_BUILD"); d != "" {
		return filepath.Abs(d)
	}
	return filepath.Join(root, "build"), nil
}

// vectorDir is $KEYWARD_WYCHEPROOF or <root>/../shared/testdata/wycheproof.
func vectorDir(root string) string {
	if d := os.Getenv("KEYWARD_WYCHEPROOF"); d != "" {
		return d
	}
	return filepath.Join(root, "..", "shared", "testdata", "wycheproof")
}

// setup starts the daemon, loads the library and prepares the token, once per test binary. Any failure is
// fatal: a missing binary is a broken build, never a reason to skip.
func setup(t *testing.T) *env {
	t.Helper()
	setupOnce.Do(func() { setupEnv, setupErr = doSetup() })
	if setupErr != nil {
		t.Fatalf("setup: %v", setupErr)
	}
	return setupEnv
}

func doSetup() (*env, error) {
	root, err := repoRoot()
	if err != nil {
		return nil, err
	}
	bd, err := buildDir(root)
	if err != nil {
		return nil, err
	}
	daemon := filepath.Join(bd, "keywardd")
	lib := filepath.Join(bd, "libkeyward.so")
	for _, p := range []string{daemon, lib} {
		if fi, err := os.Stat(p); err != nil || fi.IsDir() {
			return nil, fmt.Errorf("%s is missing (%v): run `make build`, or point KEYWARD_BUILD at the build directory", p, err)
		}
	}
	base, err := os.MkdirTemp("", "kwwp-") // short: a socket path is limited to 108 bytes
	if err != nil {
		return nil, err
	}
	tmpDirs = append(tmpDirs, base)
	sock := filepath.Join(base, "kw.sock")
	daemonLog = filepath.Join(base, "keywardd.log")
	cmd := exec.Command(daemon, "--user", "--store", filepath.Join(base, "store"), "--root-key",
		filepath.Join(base, "root.key"), "--socket", sock, "--idle-exit", "0", "--log", daemonLog)
	cmd.Env = append(os.Environ(), "KEYWARD_KDF=fast")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting keywardd: %v", err)
	}
	daemonCmd, daemonDone = cmd, make(chan struct{})
	go func() { cmd.Wait(); close(daemonDone) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("unix", sock)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-daemonDone:
			return nil, fmt.Errorf("keywardd exited: %s\n%s", out.String(), tail(daemonLog))
		default:
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("keywardd did not serve %s within 10 s\n%s", sock, tail(daemonLog))
		}
		time.Sleep(20 * time.Millisecond)
	}
	os.Setenv("KEYWARD_SOCKET", sock)
	os.Setenv("KEYWARD_AUTOSTART", "0")

	ctx := pkcs11.New(lib)
	if ctx == nil {
		return nil, fmt.Errorf("cannot load %s", lib)
	}
	if err := ctx.Initialize(); err != nil {
		return nil, fmt.Errorf("C_Initialize: %v", err)
	}
	e := &env{ctx: ctx, lib: lib}
	if err := load32(lib); err != nil {
		return e, err
	}
	slots, err := ctx.GetSlotList(true)
	if err != nil || len(slots) == 0 {
		return e, fmt.Errorf("C_GetSlotList: %v (%d slots)", err, len(slots))
	}
	e.slot = slots[0]
	if err := ctx.InitToken(e.slot, soPIN, "wycheproof"); err != nil {
		return e, fmt.Errorf("C_InitToken: %v", err)
	}
	s, err := ctx.OpenSession(e.slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		return e, fmt.Errorf("C_OpenSession: %v", err)
	}
	if err := ctx.Login(s, pkcs11.CKU_SO, soPIN); err != nil {
		return e, fmt.Errorf("C_Login(SO): %v", err)
	}
	if err := ctx.InitPIN(s, userPIN); err != nil {
		return e, fmt.Errorf("C_InitPIN: %v", err)
	}
	if err := ctx.Logout(s); err != nil {
		return e, fmt.Errorf("C_Logout: %v", err)
	}
	if err := ctx.Login(s, pkcs11.CKU_USER, userPIN); err != nil {
		return e, fmt.Errorf("C_Login(USER): %v", err)
	}
	// This session stays open: the login lasts while the application has a session.
	return e, nil
}

// tail returns a log's warnings and errors and its last lines.
func tail(path string) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	var out []string
	for i, l := range lines {
		if i >= len(lines)-15 || strings.Contains(l, "level=WARN") || strings.Contains(l, "level=ERROR") {
			out = append(out, l)
		}
	}
	if len(out) > 60 {
		out = append(out[:30:30], append([]string{"..."}, out[len(out)-30:]...)...)
	}
	return strings.Join(out, "\n")
}

// ---------------------------------------------------------------------------------------------------------
// Vector files.

// hexBytes is a hex-encoded JSON string.
type hexBytes []byte

func (h *hexBytes) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := hex.DecodeString(s)
	if err != nil {
		return err
	}
	*h = v
	return nil
}

type vectorFile struct {
	Algorithm     string  `json:"algorithm"`
	Schema        string  `json:"schema"`
	NumberOfTests int     `json:"numberOfTests"`
	TestGroups    []group `json:"testGroups"`
}

type group struct {
	Type         string          `json:"type"`
	KeySize      int             `json:"keySize"`
	IVSize       int             `json:"ivSize"`
	TagSize      int             `json:"tagSize"`
	Curve        string          `json:"curve"`
	Encoding     string          `json:"encoding"`
	SHA          string          `json:"sha"`
	MGF          string          `json:"mgf"`
	MGFSHA       string          `json:"mgfSha"`
	SLen         int             `json:"sLen"`
	PublicKey    json.RawMessage `json:"publicKey"`
	PrivateKey   json.RawMessage `json:"privateKey"`
	PKCS8        hexBytes        `json:"privateKeyPkcs8"`
	ParameterSet string          `json:"parameterSet"`
	Tests        []vector        `json:"tests"`
}

type vector struct {
	TcID    json.RawMessage `json:"tcId"`
	Comment string          `json:"comment"`
	Flags   json.RawMessage `json:"flags"`
	Result  string          `json:"result"`

	Key   hexBytes  `json:"key"`
	IV    hexBytes  `json:"iv"`
	Msg   hexBytes  `json:"msg"`
	CT    hexBytes  `json:"ct"`
	AAD   hexBytes  `json:"aad"`
	Tag   hexBytes  `json:"tag"`
	Sig   hexBytes  `json:"sig"`
	Label hexBytes  `json:"label"`
	Ctx   *hexBytes `json:"ctx"`

	Public  hexBytes `json:"public"`
	Private hexBytes `json:"private"`
	Shared  hexBytes `json:"shared"`

	IKM  hexBytes `json:"ikm"`
	Salt hexBytes `json:"salt"`
	Info hexBytes `json:"info"`
	OKM  hexBytes `json:"okm"`
	Size int      `json:"size"`

	Password       hexBytes `json:"password"`
	IterationCount int      `json:"iterationCount"`
	DKLen          int      `json:"dkLen"`
	DK             hexBytes `json:"dk"`

	Seed hexBytes `json:"seed"`
	EK   hexBytes `json:"ek"`
	C    hexBytes `json:"c"`
	K    hexBytes `json:"K"`
}

// id is the vector's tcId (a number, or a string in some files).
func (v *vector) id() string {
	var s string
	if json.Unmarshal(v.TcID, &s) == nil {
		return s
	}
	return string(v.TcID)
}

// flags are the vector's flags (a list, or a string in some files).
func (v *vector) flags() []string {
	var l []string
	if json.Unmarshal(v.Flags, &l) == nil {
		return l
	}
	var s string
	json.Unmarshal(v.Flags, &s)
	s = strings.Trim(s, "[]")
	for _, f := range strings.Split(s, ",") {
		if f = strings.Trim(strings.TrimSpace(f), "'\""); f != "" {
			l = append(l, f)
		}
	}
	return l
}

// ---------------------------------------------------------------------------------------------------------
// Outcomes and tallies.

type outcomeKind int

const (
	accepted outcomeKind = iota // the operation succeeded and its output is the vector's
	mismatch                    // the operation succeeded with another output
	rejected                    // a CKR_* error, or a verification failure
	skipped                     // PKCS#11 cannot express the vector
)

type outcome struct {
	kind   outcomeKind
	detail string // mismatch: what differed; rejected: the CKR code and where; skipped: the reason
	rv     uint   // rejected by the token: the code (0 when rejected by the application's own decoding)
	appRej bool   // rejected by the application before the token saw it (unparsable DER ...)
}

func ok() outcome { return outcome{kind: accepted} }

func differ(format string, args ...any) outcome {
	return outcome{kind: mismatch, detail: fmt.Sprintf(format, args...)}
}

func skip(reason string) outcome { return outcome{kind: skipped, detail: reason} }

// appReject is a vector the application itself refuses (an unparsable encoding); the token never sees it.
func appReject(reason string) outcome {
	return outcome{kind: rejected, detail: reason, appRej: true}
}

// reject is a Cryptoki error from call.
func reject(call string, err error) outcome {
	rv := rvOf(err)
	return outcome{kind: rejected, rv: rv, detail: call + ": " + rvName(rv)}
}

// compare checks an output against the expected bytes.
func compare(what string, got, want []byte) outcome {
	if bytes.Equal(got, want) {
		return ok()
	}
	return differ("%s: got %x, want %x", what, short(got), short(want))
}

func short(b []byte) []byte {
	if len(b) > 48 {
		return b[:48]
	}
	return b
}

func rvOf(err error) uint {
	var pe pkcs11.Error
	if errors.As(err, &pe) {
		return uint(pe)
	}
	var re rvError
	if errors.As(err, &re) {
		return uint(re)
	}
	return uint(ck.CKR_GENERAL_ERROR)
}

func rvName(rv uint) string { return ck.RV(rv).String() }

// suspicious are return codes that do not reject a vector: they say the harness, the engine or the
// client went wrong (or the mechanism is missing), so they fail even an invalid vector.
var suspicious = map[uint]bool{
	uint(ck.CKR_GENERAL_ERROR):              true,
	uint(ck.CKR_HOST_MEMORY):                true,
	uint(ck.CKR_DEVICE_ERROR):               true,
	uint(ck.CKR_DEVICE_MEMORY):              true,
	uint(ck.CKR_DEVICE_REMOVED):             true,
	uint(ck.CKR_OPERATION_ACTIVE):           true,
	uint(ck.CKR_OPERATION_NOT_INITIALIZED):  true,
	uint(ck.CKR_SESSION_HANDLE_INVALID):     true,
	uint(ck.CKR_SESSION_CLOSED):             true,
	uint(ck.CKR_CRYPTOKI_NOT_INITIALIZED):   true,
	uint(ck.CKR_USER_NOT_LOGGED_IN):         true,
	uint(ck.CKR_MECHANISM_INVALID):          true,
	uint(ck.CKR_FUNCTION_NOT_SUPPORTED):     true,
	uint(ck.CKR_OBJECT_HANDLE_INVALID):      true,
	uint(ck.CKR_KEY_HANDLE_INVALID):         true,
	uint(ck.CKR_ARGUMENTS_BAD):              true,
	uint(ck.CKR_TEMPLATE_INCOMPLETE):        true,
	uint(ck.CKR_ATTRIBUTE_TYPE_INVALID):     true,
	uint(ck.CKR_KEY_FUNCTION_NOT_PERMITTED): true,
	uint(ck.CKR_ATTRIBUTE_SENSITIVE):        true,
	uint(ck.CKR_BUFFER_TOO_SMALL):           true,
}

// tally counts one file's outcomes.
type tally struct {
	file string
	ran  bool

	mu             sync.Mutex
	vectors        int // every vector of the file
	passed         int
	failed         int
	acceptable     int            // "acceptable" vectors, either way
	accAccepted    int            // ... of which the token accepted
	skips          map[string]int // reason -> count
	appRejected    int            // invalid vectors rejected by the application's decoding, not the token
	accAppRejected int            // acceptable vectors rejected by the application's decoding
	rejectCodes    map[string]int // how invalid vectors were rejected
	failures       []string       // the first failures, in detail
	failReasons    map[string]int // failure kinds, for the summary
	notes          []string
}

func newTally(file string) *tally {
	return &tally{file: file, skips: map[string]int{}, rejectCodes: map[string]int{}, failReasons: map[string]int{}}
}

const maxFailureLines = 12

// record files one vector's outcome against its expected result.
func (c *tally) record(v *vector, o outcome) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.vectors++
	fail := func(kind, why string) {
		c.failed++
		c.failReasons[kind]++
		if len(c.failures) < maxFailureLines {
			c.failures = append(c.failures, fmt.Sprintf("tcId %s (%s, %s %v): %s", v.id(), v.Result, v.Comment, v.flags(), why))
		}
	}
	if o.kind == skipped {
		c.skips[o.detail]++
		return
	}
	if o.kind == rejected && suspicious[o.rv] {
		fail("rejected with "+rvName(o.rv), o.detail)
		return
	}
	switch v.Result {
	case "valid":
		switch o.kind {
		case accepted:
			c.passed++
		case mismatch:
			fail("wrong output", o.detail)
		case rejected:
			fail("valid vector rejected: "+o.detail[strings.LastIndex(o.detail, ": ")+2:], o.detail)
		}
	case "invalid":
		switch o.kind {
		case rejected:
			c.passed++
			if o.appRej {
				c.appRejected++
			} else {
				c.rejectCodes[o.detail]++
			}
		case accepted, mismatch:
			fail("invalid vector accepted", "not rejected "+o.detail)
		}
	case "acceptable":
		switch o.kind {
		case accepted:
			c.acceptable++
			c.accAccepted++
		case rejected:
			c.acceptable++
			if o.appRej {
				c.accAppRejected++
			}
		case mismatch:
			fail("wrong output", o.detail)
		}
	default:
		fail("unknown result", v.Result)
	}
}

// failAll fails every vector of the file for one reason (a missing mechanism).
func (c *tally) failAll(f *vectorFile, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, g := range f.TestGroups {
		c.vectors += len(g.Tests)
		c.failed += len(g.Tests)
	}
	c.failReasons[reason] += c.failed
	c.failures = append(c.failures, reason)
}

func (c *tally) note(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.notes = append(c.notes, fmt.Sprintf(format, args...))
}

func (c *tally) skippedTotal() int {
	n := 0
	for _, v := range c.skips {
		n += v
	}
	return n
}

func sortedKeys(m map[string]int) []string {
	k := make([]string, 0, len(m))
	for s := range m {
		k = append(k, s)
	}
	sort.Strings(k)
	return k
}

// summary is the per-file report.
func (c *tally) summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d vectors, %d passed, %d failed, %d acceptable (%d accepted, %d rejected), %d skipped",
		c.file, c.vectors, c.passed, c.failed, c.acceptable, c.accAccepted, c.acceptable-c.accAccepted, c.skippedTotal())
	for _, r := range sortedKeys(c.skips) {
		fmt.Fprintf(&b, "\n    skipped %d: %s", c.skips[r], r)
	}
	if c.appRejected > 0 || c.accAppRejected > 0 {
		fmt.Fprintf(&b, "\n    rejected by the application's own decoding (never reached the token): %d invalid, %d acceptable",
			c.appRejected, c.accAppRejected)
	}
	if len(c.rejectCodes) > 0 {
		b.WriteString("\n    invalid vectors rejected with:")
		for _, r := range sortedKeys(c.rejectCodes) {
			fmt.Fprintf(&b, " %s (%d);", r, c.rejectCodes[r])
		}
	}
	for _, r := range sortedKeys(c.failReasons) {
		fmt.Fprintf(&b, "\n    FAILED %d: %s", c.failReasons[r], r)
	}
	for _, f := range c.failures {
		fmt.Fprintf(&b, "\n      %s", f)
	}
	for _, n := range c.notes {
		fmt.Fprintf(&b, "\n    note: %s", n)
	}
	return b.String()
}

// ---------------------------------------------------------------------------------------------------------
// Cryptoki helpers.

// session is one file's session.
type session struct {
	e *env
	h pkcs11.SessionHandle
	c *tally
}

func (e *env) open(t *testing.T, c *tally) *session {
	h, err := e.ctx.OpenSession(e.slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		t.Fatalf("C_OpenSession: %v", err)
	}
	t.Cleanup(func() { e.ctx.CloseSession(h) })
	return &session{e: e, h: h, c: c}
}

// mechFlags returns a mechanism's CK_MECHANISM_INFO flags, or an error if the token does not have it.
func (s *session) mechFlags(m ck.MechanismType) (uint, error) {
	info, err := s.e.ctx.GetMechanismInfo(s.e.slot, []*pkcs11.Mechanism{pkcs11.NewMechanism(uint(m), nil)})
	if err != nil {
		return 0, err
	}
	return info.Flags, nil
}

// requireMechs checks that the token has each mechanism with the flags the file needs. On a miss it fails
// every vector of the file with the reason and returns false.
func (s *session) requireMechs(f *vectorFile, need map[ck.MechanismType]uint) bool {
	var missing []string
	ms := make([]ck.MechanismType, 0, len(need))
	for m := range need {
		ms = append(ms, m)
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i] < ms[j] })
	for _, m := range ms {
		flags, err := s.mechFlags(m)
		switch {
		case err != nil && rvOf(err) == uint(ck.CKR_MECHANISM_INVALID):
			missing = append(missing, fmt.Sprintf("mechanism %v not registered", m))
		case err != nil:
			missing = append(missing, fmt.Sprintf("C_GetMechanismInfo(%v): %v", m, err))
		case flags&need[m] != need[m]:
			missing = append(missing, fmt.Sprintf("mechanism %v lacks flags %#x (has %#x)", m, need[m]&^flags, flags))
		}
	}
	if len(missing) > 0 {
		s.c.failAll(f, strings.Join(missing, "; "))
		return false
	}
	return true
}

func attr(t ck.AttributeType, v any) *pkcs11.Attribute {
	if h, isHex := v.(hexBytes); isHex {
		v = []byte(h)
	}
	return pkcs11.NewAttribute(uint(t), v)
}

func (s *session) create(template ...*pkcs11.Attribute) (pkcs11.ObjectHandle, error) {
	return s.e.ctx.CreateObject(s.h, template)
}

func (s *session) destroy(h pkcs11.ObjectHandle) {
	if h != 0 {
		s.e.ctx.DestroyObject(s.h, h)
	}
}

// key imports a session key of class and key type kt with the attributes that follow.
func (s *session) key(class ck.ObjectClass, kt ck.KeyType, attrs ...*pkcs11.Attribute) (pkcs11.ObjectHandle, error) {
	t := []*pkcs11.Attribute{
		attr(ck.CKA_CLASS, uint(class)),
		attr(ck.CKA_KEY_TYPE, uint(kt)),
		attr(ck.CKA_TOKEN, false),
	}
	return s.create(append(t, attrs...)...)
}

// secretKey imports a session secret key with the given usage attributes set.
func (s *session) secretKey(kt ck.KeyType, value []byte, usage ...ck.AttributeType) (pkcs11.ObjectHandle, error) {
	t := []*pkcs11.Attribute{attr(ck.CKA_VALUE, value)}
	for _, u := range usage {
		t = append(t, attr(u, true))
	}
	return s.key(ck.CKO_SECRET_KEY, kt, t...)
}

// value reads an object's CKA_VALUE.
func (s *session) value(h pkcs11.ObjectHandle) ([]byte, error) {
	a, err := s.e.ctx.GetAttributeValue(s.h, h, []*pkcs11.Attribute{attr(ck.CKA_VALUE, nil)})
	if err != nil {
		return nil, err
	}
	return a[0].Value, nil
}

// readableSecret is the template of a derived or generated secret whose value the test reads.
func readableSecret(extra ...*pkcs11.Attribute) []*pkcs11.Attribute {
	return append([]*pkcs11.Attribute{
		attr(ck.CKA_CLASS, uint(ck.CKO_SECRET_KEY)),
		attr(ck.CKA_KEY_TYPE, uint(ck.CKK_GENERIC_SECRET)),
		attr(ck.CKA_TOKEN, false),
		attr(ck.CKA_EXTRACTABLE, true),
		attr(ck.CKA_SENSITIVE, false),
	}, extra...)
}

func mechanism(m ck.MechanismType, param any) []*pkcs11.Mechanism {
	return []*pkcs11.Mechanism{pkcs11.NewMechanism(uint(m), param)}
}

// initThen is an operation's C_<call>Init, whose error is initErr, and then (when it succeeded) its
// single-part C_<call>; an error names the call that returned it.
func initThen(call string, initErr error, run func() ([]byte, error)) ([]byte, error) {
	if initErr != nil {
		return nil, fmt.Errorf("%sInit: %w", call, initErr)
	}
	out, err := run()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", call, err)
	}
	return out, nil
}

// encrypt is C_EncryptInit + C_Encrypt.
func (s *session) encrypt(m []*pkcs11.Mechanism, key pkcs11.ObjectHandle, in []byte) ([]byte, error) {
	return initThen("C_Encrypt", s.e.ctx.EncryptInit(s.h, m, key), func() ([]byte, error) { return s.e.ctx.Encrypt(s.h, in) })
}

// decrypt is C_DecryptInit + C_Decrypt.
func (s *session) decrypt(m []*pkcs11.Mechanism, key pkcs11.ObjectHandle, in []byte) ([]byte, error) {
	return initThen("C_Decrypt", s.e.ctx.DecryptInit(s.h, m, key), func() ([]byte, error) { return s.e.ctx.Decrypt(s.h, in) })
}

// sign is C_SignInit + C_Sign.
func (s *session) sign(m []*pkcs11.Mechanism, key pkcs11.ObjectHandle, in []byte) ([]byte, error) {
	return initThen("C_Sign", s.e.ctx.SignInit(s.h, m, key), func() ([]byte, error) { return s.e.ctx.Sign(s.h, in) })
}

// verify is C_VerifyInit + C_Verify.
func (s *session) verify(m []*pkcs11.Mechanism, key pkcs11.ObjectHandle, data, sig []byte) error {
	_, err := initThen("C_Verify", s.e.ctx.VerifyInit(s.h, m, key), func() ([]byte, error) {
		return nil, s.e.ctx.Verify(s.h, data, sig)
	})
	return err
}

// rejectErr turns an error of the helpers above (which name their call) into a rejection.
func rejectErr(err error) outcome {
	call := err.Error()
	if i := strings.Index(call, ":"); i > 0 {
		call = call[:i]
	}
	return reject(call, err)
}

// checked is the outcome of a call that returned got and err: an error is a rejection (err names its
// call, as the helpers above do), else got must be want.
func checked(call string, got []byte, err error, want []byte) outcome {
	if err != nil {
		return rejectErr(err)
	}
	return compare(call, got, want)
}

// verifyOutcome runs a verification: success is acceptance, an error a rejection.
func (s *session) verifyOutcome(m []*pkcs11.Mechanism, key pkcs11.ObjectHandle, data, sig []byte) outcome {
	if err := s.verify(m, key, data, sig); err != nil {
		return rejectErr(err)
	}
	return ok()
}
