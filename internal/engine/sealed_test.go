package engine

import (
	"bytes"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/keyward/keyward/internal/engine/enginetest"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/vault"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

var sealRoot = bytes.Repeat([]byte{9}, 32)

func openSealEngine(t *testing.T, dir string) (*Engine, func()) {
	t.Helper()
	st, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(st, sealRoot, Config{KDF: vault.FastKDF, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return e, func() { e.Close(); st.Close() }
}

// soSessionOnNewToken initialises a token labelled label in e's free slot, opens a read-write session on it
// with the SO logged in, and sets the user PIN (enginetest.SOPIN and enginetest.UserPIN).
func soSessionOnNewToken(t *testing.T, e *Engine, label string) (ck.Provider, ck.SlotID, ck.SessionHandle) {
	t.Helper()
	p := e.Open(Peer{UID: 1, PID: 1})
	slots, _ := p.GetSlotList(true)
	slot := slots[0]
	if err := p.InitToken(slot, enginetest.SOPIN, enginetest.Label(label)); err != nil {
		t.Fatal(err)
	}
	s, _ := p.OpenSession(slot, ck.CKF_SERIAL_SESSION|ck.CKF_RW_SESSION)
	if err := p.Login(s, ck.CKU_SO, enginetest.SOPIN); err != nil {
		t.Fatal(err)
	}
	if err := p.InitPIN(s, enginetest.UserPIN); err != nil {
		t.Fatal(err)
	}
	return p, slot, s
}

// rootOnlyScan opens every object of the store in dir the way an attacker with the disk and the device root
// key but no PIN can: it returns the plaintexts that decrypt under the root-derived key.
func rootOnlyScan(t *testing.T, dir string) [][]byte {
	t.Helper()
	st, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	root, err := vault.NewRoot(sealRoot)
	if err != nil {
		t.Fatal(err)
	}
	toks, err := st.Tokens()
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, tk := range toks {
		objs, err := st.Objects(tk.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			for _, private := range []bool{false, true} {
				if pt, err := root.PublicKey(tk.ID).Open(o.Blob, vault.ObjectAD(tk.ID, o.ID, private)); err == nil {
					out = append(out, pt)
				}
			}
		}
	}
	return out
}

func findLabel(t *testing.T, p interface {
	FindObjectsInit(ck.SessionHandle, []ck.Attribute) error
	FindObjects(ck.SessionHandle, uint64) ([]ck.ObjectHandle, error)
	FindObjectsFinal(ck.SessionHandle) error
}, s ck.SessionHandle, label string) []ck.ObjectHandle {
	t.Helper()
	if err := p.FindObjectsInit(s, []ck.Attribute{ck.NewAttribute(ck.CKA_LABEL, label)}); err != nil {
		t.Fatal(err)
	}
	hs, _ := p.FindObjects(s, 10)
	p.FindObjectsFinal(s)
	return hs
}

// TestSOKeysSealed checks that the SO's trusted wrapping key does not come out of the store with the device
// root key alone (it did: the SO makes only public objects), while it stays a public object the user and the
// SO use after login; and that a trusted key stored the old way is sealed at the next login.
func TestSOKeysSealed(t *testing.T) {
	dir := t.TempDir()
	value := bytes.Repeat([]byte{0x5a, 0xc3}, 16)
	e, done := openSealEngine(t, dir)
	p, slot, s := soSessionOnNewToken(t, e, "sealed")
	trustedT := []ck.Attribute{ck.NewAttribute(ck.CKA_CLASS, ck.CKO_SECRET_KEY), ck.NewAttribute(ck.CKA_KEY_TYPE, ck.CKK_AES),
		ck.NewAttribute(ck.CKA_TOKEN, true), ck.NewAttribute(ck.CKA_PRIVATE, false), ck.NewAttribute(ck.CKA_TRUSTED, true),
		ck.NewAttribute(ck.CKA_WRAP, true), ck.NewAttribute(ck.CKA_LABEL, "kek"), ck.NewAttribute(ck.CKA_VALUE, value)}
	if _, err := p.CreateObject(s, trustedT); err != nil {
		t.Fatal(err)
	}
	if _, err := p.CreateObject(s, []ck.Attribute{ck.NewAttribute(ck.CKA_CLASS, ck.CKO_DATA), ck.NewAttribute(ck.CKA_TOKEN, true),
		ck.NewAttribute(ck.CKA_LABEL, "public-data"), ck.NewAttribute(ck.CKA_VALUE, "control")}); err != nil {
		t.Fatal(err)
	}
	done()

	scan := func(wantControl bool) {
		t.Helper()
		control := false
		for _, pt := range rootOnlyScan(t, dir) {
			if bytes.Contains(pt, value) {
				t.Fatal("the SO's trusted key decrypts with the device root key alone")
			}
			control = control || bytes.Contains(pt, []byte("control"))
		}
		if control != wantControl {
			t.Fatalf("the public data object decrypts with the root key: %v, want %v (the scan is not what it claims)", control, wantControl)
		}
		filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				if b, _ := os.ReadFile(path); bytes.Contains(b, value) {
					t.Fatalf("%s holds the trusted key in clear", path)
				}
			}
			return nil
		})
	}
	scan(true)

	// Public still: before any login it is not loaded; after a user or SO login it is there and wraps.
	e, done = openSealEngine(t, dir)
	p = e.Open(Peer{UID: 1, PID: 2})
	s, _ = p.OpenSession(slot, ck.CKF_SERIAL_SESSION|ck.CKF_RW_SESSION)
	if hs := findLabel(t, p, s, "kek"); len(hs) != 0 {
		t.Fatal("a sealed key is visible before any login")
	}
	if err := p.Login(s, ck.CKU_USER, enginetest.UserPIN); err != nil {
		t.Fatal(err)
	}
	hs := findLabel(t, p, s, "kek")
	if len(hs) != 1 {
		t.Fatalf("the user sees %d sealed trusted keys, want 1", len(hs))
	}
	kek := hs[0]
	target, err := p.GenerateKey(s, &ck.Mechanism{Type: ck.CKM_AES_KEY_GEN}, []ck.Attribute{ck.NewAttribute(ck.CKA_VALUE_LEN, 32), ck.NewAttribute(ck.CKA_EXTRACTABLE, true)})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.WrapKey(s, &ck.Mechanism{Type: ck.CKM_AES_KEY_WRAP}, kek, target, ck.Out{Present: true, Cap: 64}); err != nil {
		t.Fatalf("wrap under the sealed trusted key: %v", err)
	}
	res, err := p.GetAttributeValue(s, kek, ck.Query(1, ck.CKA_PRIVATE))
	if err != nil || !bytes.Equal(res[0].Value, []byte{0}) {
		t.Fatalf("the sealed key is not a public object: %v %v", res, err)
	}
	p.Logout(s)
	if hs := findLabel(t, p, s, "kek"); len(hs) != 0 {
		t.Fatal("a sealed key stays visible after the last logout")
	}
	if err := p.Login(s, ck.CKU_SO, enginetest.SOPIN); err != nil {
		t.Fatal(err)
	}
	if hs := findLabel(t, p, s, "kek"); len(hs) != 1 {
		t.Fatal("the SO does not see its sealed key")
	}

	// A trusted key stored the old way (a public row under the root-derived key) is read, and sealed at the
	// next login.
	e.mu.Lock()
	o := e.objects[kek]
	old := o.tok.pubKey.Seal(o.attrs.encode(), vault.ObjectAD(o.tok.id, o.id, false))
	err = e.store.PutObject(store.Object{Token: o.tok.id, ID: o.id, Private: false, Blob: old})
	e.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	p.Logout(s)
	done()
	scanOld := false
	for _, pt := range rootOnlyScan(t, dir) {
		scanOld = scanOld || bytes.Contains(pt, value)
	}
	if !scanOld {
		t.Fatal("the forged old-format row does not decrypt with the root key: the migration test tests nothing")
	}
	e, done = openSealEngine(t, dir)
	p = e.Open(Peer{UID: 1, PID: 3})
	s, _ = p.OpenSession(slot, ck.CKF_SERIAL_SESSION|ck.CKF_RW_SESSION)
	if hs := findLabel(t, p, s, "kek"); len(hs) != 1 {
		t.Fatal("an old-format trusted key is not readable")
	}
	if err := p.Login(s, ck.CKU_USER, enginetest.UserPIN); err != nil {
		t.Fatal(err)
	}
	if hs := findLabel(t, p, s, "kek"); len(hs) != 1 {
		t.Fatalf("after the migrating login the user sees %d trusted keys", len(hs))
	}
	done()
	scan(true)
}
