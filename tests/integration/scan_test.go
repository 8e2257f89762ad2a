package integration

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// The store-scanning test: after a token with known PINs and known secret values has been written, no file of
// the store directory holds a PIN or a private value in any common encoding, whether the daemon stopped
// cleanly or was killed with its WAL full; and a copy of the store is useless with another device root key.

const (
	scanSOPIN    = "SoPin-8d1f3a"
	scanUserPIN  = "UsrPin-77c2e9"
	scanWrongPIN = "BadPin-0b3d55"
	scanTokLabel = "ScanTok-e1f7c4"
)

var (
	// scanSecret is the secret key's CKA_VALUE: 32 known bytes.
	scanSecret      = sha256.Sum256([]byte("keyward scan test: the secret key value"))
	scanPrivValue   = []byte("PrivDataValue-5b0c7e-must-never-hit-the-disk")
	scanPrivLabel   = "PrivDataLabel-93ad0f"
	scanSecretLabel = "SecretKeyLabel-2e8b61"
	scanPubValue    = []byte("PubDataValue-a41f08-public-but-encrypted")
	scanPubLabel    = "PubDataLabel-c6d2b9"
)

// needle is something that must not appear in the store.
type needle struct {
	name  string
	value []byte
}

func scanNeedles() []needle {
	return []needle{
		{"SO PIN", []byte(scanSOPIN)},
		{"user PIN", []byte(scanUserPIN)},
		{"wrong PIN tried", []byte(scanWrongPIN)},
		{"secret key value", scanSecret[:]},
		{"private data value", scanPrivValue},
		{"private data label", []byte(scanPrivLabel)},
		{"secret key label", []byte(scanSecretLabel)},
		// Public objects and token records are encrypted too (under a key derived from the device root key):
		// docs/architecture.md, "Key hierarchy at rest".
		{"public data value", scanPubValue},
		{"public data label", []byte(scanPubLabel)},
		{"token label", []byte(scanTokLabel)},
	}
}

// encodings are the forms a needle is searched in.
var encodings = []struct {
	name string
	enc  func([]byte) []byte
}{
	{"raw", func(b []byte) []byte { return b }},
	{"UTF-16LE", func(b []byte) []byte {
		out := make([]byte, 0, 2*len(b))
		for _, c := range b {
			out = append(out, c, 0)
		}
		return out
	}},
	{"UTF-16BE", func(b []byte) []byte {
		out := make([]byte, 0, 2*len(b))
		for _, c := range b {
			out = append(out, 0, c)
		}
		return out
	}},
	{"hex", func(b []byte) []byte { return []byte(hex.EncodeToString(b)) }},
	{"HEX", func(b []byte) []byte { return []byte(strings.ToUpper(hex.EncodeToString(b))) }},
	{"base64", func(b []byte) []byte { return []byte(base64.StdEncoding.EncodeToString(b)) }},
	{"base64url", func(b []byte) []byte { return []byte(base64.RawURLEncoding.EncodeToString(b)) }},
}

// hit is one needle found in one file.
type hit struct {
	file, needle, encoding string
}

func (h hit) String() string { return fmt.Sprintf("%s: %s (%s)", h.file, h.needle, h.encoding) }

// scanFiles reads every regular file under dir (and any extra files) raw and reports every needle found.
// It also returns the files it read, with their sizes.
func scanFiles(t *testing.T, dir string, needles []needle, extra ...string) ([]hit, map[string]int) {
	t.Helper()
	files := map[string]int{}
	var hits []hit
	check := func(path string) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("reading %s: %v", path, err)
		}
		files[path] = len(b)
		for _, n := range needles {
			for _, e := range encodings {
				// base64 of a value starting at another alignment differs; search the three alignments'
				// stable cores for the base64 forms.
				pats := [][]byte{e.enc(n.value)}
				if strings.HasPrefix(e.name, "base64") {
					pats = nil
					for skip := 0; skip < 3 && skip < len(n.value); skip++ {
						enc := e.enc(n.value[skip:])
						if len(enc) > 8 {
							pats = append(pats, enc[:len(enc)-4])
						}
					}
				}
				for _, p := range pats {
					if bytes.Contains(b, p) {
						hits = append(hits, hit{path, n.name, e.name})
						break
					}
				}
			}
		}
	}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			check(path)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walking %s: %v", dir, err)
	}
	for _, f := range extra {
		check(f)
	}
	return hits, files
}

// scanSetup makes the token and objects of the scan test and returns the running daemon and its client.
func scanSetup(t *testing.T, e env) *daemon {
	d := startDaemon(t, e)
	c := dial(t, e)
	initToken(t, c, 0, scanTokLabel, scanSOPIN, scanUserPIN)

	// A wrong PIN is tried once (it must not be logged or stored either).
	s0, err := c.OpenSession(0, ck.CKF_SERIAL_SESSION|ck.CKF_RW_SESSION)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login(s0, ck.CKU_USER, []byte(scanWrongPIN)); ck.ToRV(err) != ck.CKR_PIN_INCORRECT {
		t.Fatalf("C_Login with a wrong PIN: %v, want CKR_PIN_INCORRECT", err)
	}
	c.CloseSession(s0)

	s := userSession(t, c, 0, scanUserPIN)
	create := func(what string, tmpl []ck.Attribute) {
		t.Helper()
		if _, err := c.CreateObject(s, tmpl); err != nil {
			t.Fatalf("C_CreateObject(%s): %v", what, err)
		}
	}
	create("secret key", []ck.Attribute{
		ulongAttr(ck.CKA_CLASS, uint64(ck.CKO_SECRET_KEY)),
		ulongAttr(ck.CKA_KEY_TYPE, uint64(ck.CKK_GENERIC_SECRET)),
		boolAttr(ck.CKA_TOKEN, true),
		boolAttr(ck.CKA_PRIVATE, true),
		bytesAttr(ck.CKA_LABEL, []byte(scanSecretLabel)),
		bytesAttr(ck.CKA_VALUE, scanSecret[:]),
	})
	create("private data", []ck.Attribute{
		ulongAttr(ck.CKA_CLASS, uint64(ck.CKO_DATA)),
		boolAttr(ck.CKA_TOKEN, true),
		boolAttr(ck.CKA_PRIVATE, true),
		bytesAttr(ck.CKA_LABEL, []byte(scanPrivLabel)),
		bytesAttr(ck.CKA_VALUE, scanPrivValue),
	})
	create("public data", []ck.Attribute{
		ulongAttr(ck.CKA_CLASS, uint64(ck.CKO_DATA)),
		boolAttr(ck.CKA_TOKEN, true),
		boolAttr(ck.CKA_PRIVATE, false),
		bytesAttr(ck.CKA_LABEL, []byte(scanPubLabel)),
		bytesAttr(ck.CKA_VALUE, scanPubValue),
	})
	// The client stays open (logged in): the caller stops or kills the daemon under it.
	t.Cleanup(func() { c.Close() })
	return d
}

// checkScanObjects logs in to a daemon on the original store and checks the objects are there, with the
// secret key's value unreadable (sensitive by default) and the data values exact.
func checkScanObjects(t *testing.T, e env) {
	t.Helper()
	c := dial(t, e)
	defer c.Close()
	s := userSession(t, c, 0, scanUserPIN)
	one := func(label string) ck.ObjectHandle {
		t.Helper()
		hs, err := findAll(c, s, []ck.Attribute{bytesAttr(ck.CKA_LABEL, []byte(label))})
		if err != nil || len(hs) != 1 {
			t.Fatalf("finding %s on the original store: %d objects, %v", label, len(hs), err)
		}
		return hs[0]
	}
	a, err := getAttrs(c, s, one(scanSecretLabel), ck.CKA_VALUE, ck.CKA_VALUE_LEN, ck.CKA_SENSITIVE)
	if ck.ToRV(err) != ck.CKR_ATTRIBUTE_SENSITIVE {
		t.Errorf("reading the secret key: %v, want CKR_ATTRIBUTE_SENSITIVE", err)
	}
	if _, has := a[ck.CKA_VALUE]; has {
		t.Errorf("the secret key's CKA_VALUE was revealed")
	}
	if !bytes.Equal(a[ck.CKA_SENSITIVE], []byte{1}) {
		t.Errorf("the secret key's CKA_SENSITIVE is %v, want true (the default)", a[ck.CKA_SENSITIVE])
	}
	if v := a[ck.CKA_VALUE_LEN]; len(v) != 8 || binary.NativeEndian.Uint64(v) != 32 {
		t.Errorf("the secret key's CKA_VALUE_LEN is %v, want 32", v)
	}
	if a, err := getAttrs(c, s, one(scanPrivLabel), ck.CKA_VALUE); err != nil || !bytes.Equal(a[ck.CKA_VALUE], scanPrivValue) {
		t.Errorf("the private data object's value: %q, %v", a[ck.CKA_VALUE], err)
	}
	if a, err := getAttrs(c, s, one(scanPubLabel), ck.CKA_VALUE); err != nil || !bytes.Equal(a[ck.CKA_VALUE], scanPubValue) {
		t.Errorf("the public data object's value: %q, %v", a[ck.CKA_VALUE], err)
	}
}

// copyDir copies the regular files of src (flat: a store directory has no subdirectories) to dst.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o700); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, ent := range ents {
		if !ent.Type().IsRegular() {
			t.Fatalf("unexpected non-regular entry %s in the store directory", ent.Name())
		}
		b, err := os.ReadFile(filepath.Join(src, ent.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, ent.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// checkForeignRootKey starts a daemon on a copy of the store with a different device root key: it must refuse
// to start, or serve without the tokens' secrets (no login with the right PIN, no private value).
func checkForeignRootKey(t *testing.T, orig env) {
	t.Helper()
	e := newEnv(t)
	copyDir(t, orig.Store, e.Store)
	if err := os.MkdirAll(filepath.Dir(e.RootKey), 0o700); err != nil {
		t.Fatal(err)
	}
	other := make([]byte, 32)
	rand.Read(other)
	if err := os.WriteFile(e.RootKey, other, 0o600); err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(e.RootKey) == e.Store || strings.HasPrefix(e.RootKey, e.Store+"/") {
		t.Fatalf("the root key %s is inside the store %s", e.RootKey, e.Store)
	}

	d := startDaemonProcess(t, e)
	if err := d.waitReady(5 * time.Second); err != nil {
		// Refusing to start is a correct answer: it must be a failure exit, with the reason in the log.
		if !d.exited(5 * time.Second) {
			t.Fatalf("daemon on the copy with another root key neither serves nor exits: %v", err)
		}
		code := d.exitCode()
		logText, _ := os.ReadFile(e.Log)
		t.Logf("daemon on the copy with another root key exited with status %d: %s", code, tailFile(e.Log, 3))
		if code == 0 {
			t.Errorf("daemon on a store it cannot decrypt exited with status 0, want a failure status")
		}
		if !strings.Contains(string(logText), "level=ERROR") || !strings.Contains(string(logText), "decrypt") {
			t.Errorf("daemon on a store it cannot decrypt: the log does not say why:\n%s", logText)
		}
	} else {
		// It serves: no token may yield its secrets.
		t.Logf("daemon on the copy with another root key serves; checking it reveals nothing")
		c := dial(t, e)
		slots, err := c.GetSlotList(true)
		if err != nil {
			t.Fatalf("C_GetSlotList: %v", err)
		}
		for _, slot := range slots {
			ti, err := c.GetTokenInfo(slot)
			if err != nil || ti.Flags&ck.CKF_TOKEN_INITIALIZED == 0 {
				continue
			}
			s, err := c.OpenSession(slot, ck.CKF_SERIAL_SESSION|ck.CKF_RW_SESSION)
			if err != nil {
				continue
			}
			if err := c.Login(s, ck.CKU_USER, []byte(scanUserPIN)); err == nil {
				t.Errorf("slot %d (%q): C_Login with the right user PIN succeeds under another device root key", slot, ti.Label)
			}
			if ti.Label == scanTokLabel {
				t.Errorf("slot %d: the token label was readable under another device root key", slot)
			}
			hs, _ := findAll(c, s, nil)
			for _, h := range hs {
				a, _ := getAttrs(c, s, h, ck.CKA_LABEL, ck.CKA_VALUE)
				for _, v := range a {
					if bytes.Contains(v, scanPrivValue) || bytes.Contains(v, scanSecret[:]) || bytes.Contains(v, []byte(scanPrivLabel)) {
						t.Errorf("slot %d: a private value is readable under another device root key", slot)
					}
				}
			}
		}
		c.Close()
		d.stop()
	}
	if hits, _ := scanFiles(t, e.Store, scanNeedles(), e.Log); len(hits) > 0 {
		t.Errorf("after a daemon ran on the copy with another root key, secrets are readable:\n%v", hits)
	}
}

func TestStoreScan(t *testing.T) {
	for _, mode := range []string{"SIGTERM", "SIGKILL"} {
		t.Run(mode, func(t *testing.T) {
			e := newEnv(t)
			dumpLogOnFailure(t, e)
			d := scanSetup(t, e)
			if filepath.Dir(e.RootKey) == e.Store || strings.HasPrefix(e.RootKey, e.Store+"/") {
				t.Fatalf("the root key %s is inside the store %s", e.RootKey, e.Store)
			}
			if mode == "SIGTERM" {
				d.stop()
			} else {
				d.kill()
				fi, err := os.Stat(filepath.Join(e.Store, "keyward.db-wal"))
				if err != nil || fi.Size() == 0 {
					t.Errorf("after SIGKILL the WAL is missing or empty (%v): the scan would not cover the WAL", err)
				}
			}

			// Every file of the store, raw, and the daemon's log.
			needles := scanNeedles()
			hits, files := scanFiles(t, e.Store, needles, e.Log)
			for _, h := range hits {
				t.Errorf("found in plaintext: %v", h)
			}
			var names []string
			for f, n := range files {
				names = append(names, fmt.Sprintf("%s (%d bytes)", filepath.Base(f), n))
			}
			t.Logf("scanned %s", strings.Join(names, ", "))
			for _, want := range []string{"keyward.db", "keyward.lock"} {
				if _, ok := files[filepath.Join(e.Store, want)]; !ok {
					t.Errorf("%s was not scanned", want)
				}
			}
			if mode == "SIGKILL" {
				if _, ok := files[filepath.Join(e.Store, "keyward.db-wal")]; !ok {
					t.Errorf("keyward.db-wal was not scanned")
				}
			}

			// Store files are private to the daemon's user.
			for f := range files {
				if !strings.HasPrefix(f, e.Store) {
					continue
				}
				fi, err := os.Stat(f)
				if err == nil && fi.Mode().Perm()&0o077 != 0 {
					t.Errorf("%s has mode %v: readable by others", f, fi.Mode().Perm())
				}
			}

			// Positive control: the same scanner finds every needle in every encoding when it is there.
			control := filepath.Join(e.Store, "zz-control.bin")
			var buf bytes.Buffer
			for _, n := range needles {
				for _, enc := range encodings {
					junk := make([]byte, 1+len(buf.Bytes())%7)
					rand.Read(junk)
					buf.Write(junk)
					buf.Write(enc.enc(n.value))
				}
			}
			if err := os.WriteFile(control, buf.Bytes(), 0o600); err != nil {
				t.Fatal(err)
			}
			chits, _ := scanFiles(t, e.Store, needles)
			os.Remove(control)
			found := map[string]bool{}
			for _, h := range chits {
				if h.file == control {
					found[h.needle+"/"+h.encoding] = true
				}
			}
			for _, n := range needles {
				for _, enc := range encodings {
					if !found[n.name+"/"+enc.name] {
						t.Errorf("positive control: the scanner misses %s in %s", n.name, enc.name)
					}
				}
			}

			// A copy of the store with another device root key yields nothing.
			checkForeignRootKey(t, e)

			// The original store and root key still work (so the scan looked at a store that holds the values).
			if mode == "SIGKILL" {
				if res := integrityCheck(t, e.Store); res != "ok" {
					t.Errorf("integrity_check after SIGKILL: %s", res)
				}
			}
			d = startDaemon(t, e)
			checkScanObjects(t, e)
			d.stop()
			if hits, _ := scanFiles(t, e.Store, needles, e.Log); len(hits) > 0 {
				t.Errorf("after a restart and login, found in plaintext: %v", hits)
			}
		})
	}
}
