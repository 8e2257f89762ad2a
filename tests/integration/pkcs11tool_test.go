package integration

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// p11tool runs pkcs11-tool with libkeyward.so against one daemon configuration.
type p11tool struct {
	t      *testing.T
	tool   string
	module string
	env    env
}

func newP11Tool(t *testing.T, e env) *p11tool {
	t.Helper()
	return &p11tool{t: t, tool: pkcs11ToolPath(t), module: modulePath(t), env: e}
}

// run runs pkcs11-tool --module <lib> args... and returns its combined output and exit status. It fails the
// test if the tool cannot be run or runs longer than 30 s (a hang).
func (p *p11tool) run(args ...string) (string, int) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, p.tool, append([]string{"--module", p.module}, args...)...)
	cmd.Env = p.env.clientEnv()
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		p.t.Fatalf("pkcs11-tool %s: hung for 30 s\n%s", strings.Join(args, " "), out)
	}
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			p.t.Fatalf("pkcs11-tool %s: %v", strings.Join(args, " "), err)
		}
		code = ee.ExitCode()
	}
	return string(out), code
}

// ok runs pkcs11-tool and requires exit status 0.
func (p *p11tool) ok(args ...string) string {
	p.t.Helper()
	out, code := p.run(args...)
	if code != 0 {
		p.t.Fatalf("pkcs11-tool %s: exit status %d, want 0\n%s", strings.Join(args, " "), code, out)
	}
	return out
}

// slotInfo is one slot of `pkcs11-tool -L` output.
type slotInfo struct {
	id     string            // the decimal slot id
	desc   string            // slot description
	fields map[string]string // "token label", "token flags", "token state", ...
}

var slotLine = regexp.MustCompile(`^Slot (\d+) \((0x[0-9a-f]+)\): (.*)$`)

// parseSlots parses `pkcs11-tool -L` (or -T) output.
func parseSlots(out string) []slotInfo {
	var slots []slotInfo
	for _, line := range strings.Split(out, "\n") {
		if m := slotLine.FindStringSubmatch(line); m != nil {
			slots = append(slots, slotInfo{id: m[1], desc: strings.TrimSpace(m[3]), fields: map[string]string{}})
			continue
		}
		if len(slots) == 0 || !strings.HasPrefix(line, "  ") {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		slots[len(slots)-1].fields[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return slots
}

func findSlot(slots []slotInfo, id string) (slotInfo, bool) {
	for _, s := range slots {
		if s.id == id {
			return s, true
		}
	}
	return slotInfo{}, false
}

func flagList(s string) map[string]bool {
	m := map[string]bool{}
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			m[f] = true
		}
	}
	return m
}

// listedObject is one object of `pkcs11-tool -O` output.
type listedObject struct {
	kind   string // "cert", "data", ...
	label  string
	id     string
	fields map[string]string
}

// parseObjects parses `pkcs11-tool -O` output: objects start at a non-indented header line, their
// attributes follow indented.
func parseObjects(out string) []listedObject {
	var objs []listedObject
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(line, "Certificate Object"):
			objs = append(objs, listedObject{kind: "cert", fields: map[string]string{}})
			continue
		case strings.HasPrefix(line, "Data object"):
			objs = append(objs, listedObject{kind: "data", fields: map[string]string{}})
			continue
		case strings.HasPrefix(line, "Private Key Object"), strings.HasPrefix(line, "Public Key Object"),
			strings.HasPrefix(line, "Secret Key Object"), strings.HasPrefix(line, "Profile object"):
			objs = append(objs, listedObject{kind: "other", fields: map[string]string{}})
			continue
		}
		if len(objs) == 0 || !strings.HasPrefix(line, "  ") {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		o := &objs[len(objs)-1]
		o.fields[k] = v
		switch k {
		case "label":
			o.label = strings.Trim(v, "'")
		case "ID":
			o.id = v
		}
	}
	return objs
}

func objectByLabel(objs []listedObject, kind, label string) (listedObject, int) {
	var found listedObject
	n := 0
	for _, o := range objs {
		if o.kind == kind && o.label == label {
			found = o
			n++
		}
	}
	return found, n
}

// testCertificate makes a self-signed DER certificate.
func testCertificate(t *testing.T, cn string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(0x4b5957),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"Keyward integration test"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPkcs11Tool drives OpenSC's pkcs11-tool through libkeyward.so and keywardd: token and PIN
// administration, objects written, listed, read back and deleted, and persistence across a clean restart
// and a SIGKILL.
func TestPkcs11Tool(t *testing.T) {
	e := newEnv(t)
	dumpLogOnFailure(t, e)
	d := startDaemon(t, e)
	p := newP11Tool(t, e)
	dir := t.TempDir()

	const (
		label   = "KwIntegration"
		soPIN   = "so-1234567"
		userPIN = "user-2468"
		newPIN  = "user-1357"
	)

	// -I: library information. pkcs11-tool takes the library's default interface (C_GetInterface): a
	// PKCS#11 3.x one, 3.0 or (since the client offers it) 3.2, never the 2.40 C_GetFunctionList.
	out := p.ok("-I")
	if !regexp.MustCompile(`(?m)^Cryptoki version 3\.[02]\s*$`).MatchString(out) {
		t.Errorf("-I: want Cryptoki version 3.0 or 3.2:\n%s", out)
	}
	if !regexp.MustCompile(`(?m)^Manufacturer\s+Keyward\s*$`).MatchString(out) {
		t.Errorf("-I: want manufacturer Keyward:\n%s", out)
	}

	// -L on a fresh store: one uninitialised slot.
	out = p.ok("-L")
	slots := parseSlots(out)
	if len(slots) != 1 {
		t.Fatalf("-L on a fresh store: %d slots, want 1:\n%s", len(slots), out)
	}
	if slots[0].id != "0" || slots[0].fields["token state"] != "uninitialized" {
		t.Fatalf("-L on a fresh store: want slot 0 uninitialized, got %+v:\n%s", slots[0], out)
	}
	// -T lists slots with a token present: the free slot's token is present (uninitialised).
	out = p.ok("-T")
	if s, ok := findSlot(parseSlots(out), "0"); !ok || s.fields["token state"] != "uninitialized" {
		t.Errorf("-T on a fresh store: want slot 0 uninitialized:\n%s", out)
	}

	// --init-token.
	out = p.ok("--slot", "0", "--init-token", "--label", label, "--so-pin", soPIN)
	if !strings.Contains(out, "Token successfully initialized") {
		t.Errorf("--init-token: unexpected output:\n%s", out)
	}
	out = p.ok("-L")
	slots = parseSlots(out)
	s0, ok := findSlot(slots, "0")
	if !ok {
		t.Fatalf("-L after init: no slot 0:\n%s", out)
	}
	if s0.fields["token label"] != label {
		t.Errorf("-L after init: label %q, want %q", s0.fields["token label"], label)
	}
	if s0.fields["token manufacturer"] != "Keyward" {
		t.Errorf("-L after init: manufacturer %q, want Keyward", s0.fields["token manufacturer"])
	}
	flags := flagList(s0.fields["token flags"])
	if !flags["token initialized"] || !flags["login required"] {
		t.Errorf("-L after init: flags %q, want token initialized and login required", s0.fields["token flags"])
	}
	if flags["PIN initialized"] {
		t.Errorf("-L after init: flags %q say PIN initialized before --init-pin", s0.fields["token flags"])
	}
	if s1, ok := findSlot(slots, "1"); !ok || s1.fields["token state"] != "uninitialized" {
		t.Errorf("-L after init: want the next free slot 1, uninitialized:\n%s", out)
	}
	serial := s0.fields["serial num"]
	if serial == "" {
		t.Errorf("-L after init: no serial number:\n%s", out)
	}

	// --init-pin.
	out = p.ok("--token-label", label, "--init-pin", "--so-pin", soPIN, "--pin", userPIN)
	if !strings.Contains(out, "User PIN successfully initialized") {
		t.Errorf("--init-pin: unexpected output:\n%s", out)
	}
	out = p.ok("-L")
	s0, _ = findSlot(parseSlots(out), "0")
	if !flagList(s0.fields["token flags"])["PIN initialized"] {
		t.Errorf("-L after --init-pin: flags %q, want PIN initialized", s0.fields["token flags"])
	}

	// An empty token lists no objects.
	out = p.ok("--token-label", label, "--login", "--pin", userPIN, "-O")
	if objs := parseObjects(out); len(objs) != 0 {
		t.Errorf("-O on a new token: %d objects, want none:\n%s", len(objs), out)
	}

	// --write-object: a certificate, a public data object, a scratch public data object, a private one.
	certDER := testCertificate(t, "keyward-it")
	pubData := append([]byte("public data \x00\xff "), randomBytes(t, 200)...)
	scratchData := randomBytes(t, 33)
	privData := append([]byte("private data "), randomBytes(t, 300)...)
	write := func(name string, data []byte) string {
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	certFile, pubFile := write("cert.der", certDER), write("pub.bin", pubData)
	scratchFile, privFile := write("scratch.bin", scratchData), write("priv.bin", privData)

	out = p.ok("--token-label", label, "--login", "--pin", userPIN,
		"--write-object", certFile, "--type", "cert", "--id", "01", "--label", "it-cert")
	if !strings.Contains(out, "Created certificate") {
		t.Errorf("--write-object cert: unexpected output:\n%s", out)
	}
	for _, w := range []struct{ file, label string }{{pubFile, "it-pub"}, {scratchFile, "it-scratch"}} {
		out = p.ok("--token-label", label, "--login", "--pin", userPIN,
			"--write-object", w.file, "--type", "data", "--label", w.label)
		if !strings.Contains(out, "Created Data Object") {
			t.Errorf("--write-object data %s: unexpected output:\n%s", w.label, out)
		}
	}
	out = p.ok("--token-label", label, "--login", "--pin", userPIN,
		"--write-object", privFile, "--type", "data", "--label", "it-priv", "--private")
	if o, n := objectByLabel(parseObjects(out), "data", "it-priv"); n != 1 || !strings.Contains(o.fields["flags"], "private") {
		t.Errorf("--write-object --private: want a private data object:\n%s", out)
	}

	// -O without login: the certificate and the public data objects, not the private one. Data objects keep
	// CKA_MODIFIABLE's default (true), which pkcs11-tool shows as "modifiable".
	checkPublicListing := func(when string) {
		t.Helper()
		out := p.ok("--token-label", label, "-O")
		objs := parseObjects(out)
		if c, n := objectByLabel(objs, "cert", "it-cert"); n != 1 || c.id != "01" {
			t.Errorf("-O %s: want one certificate it-cert with ID 01:\n%s", when, out)
		}
		if o, n := objectByLabel(objs, "data", "it-pub"); n != 1 {
			t.Errorf("-O %s: want one data object it-pub:\n%s", when, out)
		} else if !strings.Contains(o.fields["flags"], "modifiable") {
			t.Errorf("-O %s: data object it-pub has flags %q, want modifiable (CKA_MODIFIABLE defaults to true)", when, o.fields["flags"])
		}
		if _, n := objectByLabel(objs, "data", "it-priv"); n != 0 {
			t.Errorf("-O %s: the private data object is visible without login:\n%s", when, out)
		}
	}
	checkPublicListing("without login")

	// -O with login: all of them.
	out = p.ok("--token-label", label, "--login", "--pin", userPIN, "-O")
	objs := parseObjects(out)
	for _, want := range []struct{ kind, label string }{{"cert", "it-cert"}, {"data", "it-pub"}, {"data", "it-scratch"}, {"data", "it-priv"}} {
		if _, n := objectByLabel(objs, want.kind, want.label); n != 1 {
			t.Errorf("-O with login: %d %s objects labelled %s, want 1:\n%s", n, want.kind, want.label, out)
		}
	}
	if len(objs) != 4 {
		t.Errorf("-O with login: %d objects, want 4:\n%s", len(objs), out)
	}

	// --read-object: identical bytes.
	readBack := func(name string, args ...string) ([]byte, string, int) {
		t.Helper()
		f := filepath.Join(dir, name)
		os.Remove(f)
		out, code := p.run(append(append([]string{"--token-label", label}, args...), "--read-object", "-o", f)...)
		b, _ := os.ReadFile(f)
		return b, out, code
	}
	checkReads := func(when string) {
		t.Helper()
		if b, out, code := readBack("cert.out", "--type", "cert", "--id", "01"); code != 0 || !bytes.Equal(b, certDER) {
			t.Errorf("--read-object cert %s: exit %d, %d bytes, identical=%v\n%s", when, code, len(b), bytes.Equal(b, certDER), out)
		}
		if b, out, code := readBack("pub.out", "--type", "data", "--label", "it-pub"); code != 0 || !bytes.Equal(b, pubData) {
			t.Errorf("--read-object data it-pub %s: exit %d, %d bytes, identical=%v\n%s", when, code, len(b), bytes.Equal(b, pubData), out)
		}
		// The private data object is not found without login, and read exactly with it.
		if b, out, code := readBack("priv.out", "--type", "data", "--label", "it-priv"); code == 0 || len(b) != 0 {
			t.Errorf("--read-object of the private data object without login %s: exit %d, %d bytes; want failure\n%s", when, code, len(b), out)
		} else if !strings.Contains(out, "object not found") {
			t.Errorf("--read-object of the private data object without login %s: want 'object not found':\n%s", when, out)
		}
		if b, out, code := readBack("priv.out", "--login", "--pin", userPIN, "--type", "data", "--label", "it-priv"); code != 0 || !bytes.Equal(b, privData) {
			t.Errorf("--read-object of the private data object with login %s: exit %d, %d bytes, identical=%v\n%s", when, code, len(b), bytes.Equal(b, privData), out)
		}
	}
	checkReads("after writing")

	// The listing again, now that pkcs11-tool has logged in, written a private object and logged out (each
	// run ends its application): nothing about the public objects may have changed.
	checkPublicListing("after a private object was written and the user logged out")

	// --delete-object of a public data object, in the same daemon life as the writes.
	out, code := p.run("--token-label", label, "--login", "--pin", userPIN, "--delete-object", "--type", "data", "--label", "it-scratch")
	if code != 0 {
		t.Errorf("--delete-object data it-scratch: exit %d, want 0 (CKA_DESTROYABLE defaults to true)\n%s", code, out)
	} else {
		out = p.ok("--token-label", label, "--login", "--pin", userPIN, "-O")
		if _, n := objectByLabel(parseObjects(out), "data", "it-scratch"); n != 0 {
			t.Errorf("-O after --delete-object: it-scratch still listed:\n%s", out)
		}
	}

	// A wrong PIN: CKR_PIN_INCORRECT and a non-zero exit.
	out, code = p.run("--token-label", label, "--login", "--pin", "wrong-0000", "-O")
	if code == 0 || !strings.Contains(out, "CKR_PIN_INCORRECT") {
		t.Errorf("wrong PIN: exit %d, want non-zero with CKR_PIN_INCORRECT:\n%s", code, out)
	}
	if objs := parseObjects(out); len(objs) != 0 {
		t.Errorf("wrong PIN: objects listed:\n%s", out)
	}
	// The failure shows as a lowered retry count until a good login resets it.
	out = p.ok("-L")
	s0, _ = findSlot(parseSlots(out), "0")
	if !flagList(s0.fields["token flags"])["user PIN count low"] {
		t.Errorf("-L after a wrong PIN: flags %q, want user PIN count low", s0.fields["token flags"])
	}

	// --change-pin: the old PIN then fails, the new one works.
	out = p.ok("--token-label", label, "--login", "--pin", userPIN, "--change-pin", "--new-pin", newPIN)
	if !strings.Contains(out, "PIN successfully changed") {
		t.Errorf("--change-pin: unexpected output:\n%s", out)
	}
	out, code = p.run("--token-label", label, "--login", "--pin", userPIN, "-O")
	if code == 0 || !strings.Contains(out, "CKR_PIN_INCORRECT") {
		t.Errorf("old PIN after --change-pin: exit %d, want non-zero with CKR_PIN_INCORRECT:\n%s", code, out)
	}
	out = p.ok("--token-label", label, "--login", "--pin", newPIN, "-O")
	if _, n := objectByLabel(parseObjects(out), "data", "it-priv"); n != 1 {
		t.Errorf("new PIN after --change-pin: private object not listed:\n%s", out)
	}
	out = p.ok("-L")
	s0, _ = findSlot(parseSlots(out), "0")
	if flagList(s0.fields["token flags"])["user PIN count low"] {
		t.Errorf("-L after a good login: flags %q still say user PIN count low", s0.fields["token flags"])
	}

	// Persistence across a clean restart (SIGTERM).
	d.stop()
	if res := integrityCheck(t, e.Store); res != "ok" {
		t.Errorf("integrity_check after SIGTERM: %s", res)
	}
	d = startDaemon(t, e)
	out = p.ok("-L")
	s0, _ = findSlot(parseSlots(out), "0")
	if s0.fields["token label"] != label || s0.fields["serial num"] != serial {
		t.Errorf("-L after restart: label %q serial %q, want %q %q", s0.fields["token label"], s0.fields["serial num"], label, serial)
	}
	if f := flagList(s0.fields["token flags"]); !f["token initialized"] || !f["PIN initialized"] {
		t.Errorf("-L after restart: flags %q", s0.fields["token flags"])
	}
	userPINNow := newPIN
	if out, code := p.run("--token-label", label, "--login", "--pin", userPIN, "-O"); code == 0 {
		t.Errorf("the old PIN works again after a restart:\n%s", out)
	}
	checkReadsWith := func(when string) {
		t.Helper()
		if b, out, code := readBack("cert.out", "--type", "cert", "--id", "01"); code != 0 || !bytes.Equal(b, certDER) {
			t.Errorf("--read-object cert %s: exit %d, identical=%v\n%s", when, code, bytes.Equal(b, certDER), out)
		}
		if b, out, code := readBack("pub.out", "--type", "data", "--label", "it-pub"); code != 0 || !bytes.Equal(b, pubData) {
			t.Errorf("--read-object it-pub %s: exit %d, identical=%v\n%s", when, code, bytes.Equal(b, pubData), out)
		}
		if b, out, code := readBack("priv.out", "--login", "--pin", userPINNow, "--type", "data", "--label", "it-priv"); code != 0 || !bytes.Equal(b, privData) {
			t.Errorf("--read-object it-priv %s: exit %d, identical=%v\n%s", when, code, bytes.Equal(b, privData), out)
		}
		if _, out, code := readBack("priv.out", "--type", "data", "--label", "it-priv"); code == 0 {
			t.Errorf("--read-object it-priv without login %s succeeded:\n%s", when, out)
		}
	}
	checkReadsWith("after SIGTERM and restart")

	// Persistence of acknowledged writes across SIGKILL: two more objects (one private), acknowledged by
	// pkcs11-tool's exit status 0, then the daemon is killed.
	late := randomBytes(t, 64)
	latePriv := randomBytes(t, 48)
	lateFile, latePrivFile := write("late.bin", late), write("latepriv.bin", latePriv)
	p.ok("--token-label", label, "--login", "--pin", userPINNow, "--write-object", lateFile, "--type", "data", "--label", "it-late")
	p.ok("--token-label", label, "--login", "--pin", userPINNow, "--write-object", latePrivFile, "--type", "data", "--label", "it-late-priv", "--private")
	// And an acknowledged deletion.
	out, code = p.run("--token-label", label, "--login", "--pin", userPINNow, "--delete-object", "--type", "data", "--label", "it-pub")
	deletedPub := code == 0
	if !deletedPub {
		t.Errorf("--delete-object it-pub after a restart: exit %d\n%s", code, out)
	}
	d.kill()
	if res := integrityCheck(t, e.Store); res != "ok" {
		t.Errorf("integrity_check after SIGKILL: %s", res)
	}
	d = startDaemon(t, e)
	if b, out, code := readBack("late.out", "--type", "data", "--label", "it-late"); code != 0 || !bytes.Equal(b, late) {
		t.Errorf("--read-object it-late after SIGKILL: exit %d, identical=%v\n%s", code, bytes.Equal(b, late), out)
	}
	if b, out, code := readBack("latepriv.out", "--login", "--pin", userPINNow, "--type", "data", "--label", "it-late-priv"); code != 0 || !bytes.Equal(b, latePriv) {
		t.Errorf("--read-object it-late-priv after SIGKILL: exit %d, identical=%v\n%s", code, bytes.Equal(b, latePriv), out)
	}
	if b, out, code := readBack("cert.out", "--type", "cert", "--id", "01"); code != 0 || !bytes.Equal(b, certDER) {
		t.Errorf("--read-object cert after SIGKILL: exit %d, identical=%v\n%s", code, bytes.Equal(b, certDER), out)
	}
	if b, out, code := readBack("priv.out", "--login", "--pin", userPINNow, "--type", "data", "--label", "it-priv"); code != 0 || !bytes.Equal(b, privData) {
		t.Errorf("--read-object it-priv after SIGKILL: exit %d, identical=%v\n%s", code, bytes.Equal(b, privData), out)
	}
	out = p.ok("--token-label", label, "--login", "--pin", userPINNow, "-O")
	objs = parseObjects(out)
	if deletedPub {
		if _, n := objectByLabel(objs, "data", "it-pub"); n != 0 {
			t.Errorf("it-pub, deleted before the SIGKILL, is back:\n%s", out)
		}
	}
	if _, n := objectByLabel(objs, "data", "it-scratch"); n != 0 && !t.Failed() {
		t.Errorf("it-scratch, deleted before the restarts, is back:\n%s", out)
	}

	// --delete-object of the certificate and the private data object; they stay deleted after a restart.
	p.ok("--token-label", label, "--login", "--pin", userPINNow, "--delete-object", "--type", "cert", "--id", "01")
	p.ok("--token-label", label, "--login", "--pin", userPINNow, "--delete-object", "--type", "data", "--label", "it-priv")
	out = p.ok("--token-label", label, "--login", "--pin", userPINNow, "-O")
	objs = parseObjects(out)
	if _, n := objectByLabel(objs, "cert", "it-cert"); n != 0 {
		t.Errorf("-O after deleting the certificate: still listed:\n%s", out)
	}
	if _, n := objectByLabel(objs, "data", "it-priv"); n != 0 {
		t.Errorf("-O after deleting it-priv: still listed:\n%s", out)
	}
	d.stop()
	d = startDaemon(t, e)
	out = p.ok("--token-label", label, "--login", "--pin", userPINNow, "-O")
	objs = parseObjects(out)
	if _, n := objectByLabel(objs, "cert", "it-cert"); n != 0 {
		t.Errorf("the deleted certificate is back after a restart:\n%s", out)
	}
	if _, n := objectByLabel(objs, "data", "it-priv"); n != 0 {
		t.Errorf("the deleted private data object is back after a restart:\n%s", out)
	}
	if _, n := objectByLabel(objs, "data", "it-late"); n != 1 {
		t.Errorf("it-late missing after the last restart:\n%s", out)
	}
	d.stop()
}
