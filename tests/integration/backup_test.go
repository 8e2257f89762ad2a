package integration

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// keyward backup takes a consistent snapshot of a live store (objects being created meanwhile); keyward
// restore puts it into a fresh store, and a fresh daemon with the same root key uses the key from it.
func TestBackupRestore(t *testing.T) {
	e := newEnv(t)
	dumpLogOnFailure(t, e)
	d := startDaemon(t, e)
	dir := t.TempDir()
	environ := append(os.Environ(), "KEYWARD_SOCKET="+e.Socket, "KEYWARD_SO_PIN=so-pin-bk", "KEYWARD_PIN=user-bk")
	kw := func(environ []string, args ...string) string {
		t.Helper()
		out, stderr, code := runKeyward(t, environ, args...)
		if code != 0 {
			t.Fatalf("keyward %s: exit %d: %s", strings.Join(args, " "), code, stderr)
		}
		return out
	}
	pinFile := filepath.Join(dir, "pin")
	os.WriteFile(pinFile, []byte("user-bk\n"), 0o600)
	kw(environ, "token", "init", "--label", "bk", "--pin-source", pinFile)
	kw(environ, "key", "generate", "--token", "bk", "--type", "ec:p256", "--label", "fw", "--id", "01")
	pubPEM := kw(environ, "export", "pkcs11:token=bk;object=fw;type=public")

	// writers keep the store busy while the backup runs
	c := dial(t, e)
	slot, _ := tokenSlot(t, c, "bk")
	s := userSession(t, c, slot, "user-bk")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			c.CreateObject(s, []ck.Attribute{ulongAttr(ck.CKA_CLASS, uint64(ck.CKO_DATA)), boolAttr(ck.CKA_TOKEN, true),
				bytesAttr(ck.CKA_LABEL, []byte("busy")), bytesAttr(ck.CKA_VALUE, make([]byte, 512))})
		}
	}()
	time.Sleep(100 * time.Millisecond)
	backup := filepath.Join(dir, "backup.db")
	kw(environ, "backup", backup, "--store", e.Store)
	close(stop)
	wg.Wait()
	c.Close()
	if out, stderr, code := runKeyward(t, environ, "restore", backup, "--store", e.Store, "--force"); code == 0 || !strings.Contains(stderr, "stop it first") {
		t.Errorf("restore into the store a daemon owns: exit %d %q %q", code, out, stderr)
	}
	d.stop()
	if res := integrityCheck(t, e.Store); res != "ok" {
		t.Fatalf("the live store after the backup: %s", res)
	}

	// a fresh store from the backup, the same root key
	e2 := newEnv(t)
	e2.RootKey = e.RootKey
	kw(environ, "restore", backup, "--store", e2.Store)
	if _, stderr, code := runKeyward(t, environ, "restore", backup, "--store", e2.Store); code == 0 || !strings.Contains(stderr, "already holds a store") {
		t.Errorf("restore over a store without --force: exit %d %q", code, stderr)
	}
	if res := integrityCheck(t, e2.Store); res != "ok" {
		t.Fatalf("the restored store: %s", res)
	}
	startDaemon(t, e2)
	env2 := append(os.Environ(), "KEYWARD_SOCKET="+e2.Socket, "KEYWARD_PIN=user-bk")
	data := filepath.Join(dir, "data")
	os.WriteFile(data, []byte("firmware image"), 0o600)
	sig := filepath.Join(dir, "sig")
	kw(env2, "sign", "pkcs11:token=bk;object=fw;type=private", "--in", data, "--out", sig)
	b, _ := pem.Decode([]byte(pubPEM))
	pub, err := x509.ParsePKIXPublicKey(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	sigBytes, _ := os.ReadFile(sig)
	h := sha256.Sum256([]byte("firmware image"))
	if !ecdsa.VerifyASN1(pub.(*ecdsa.PublicKey), h[:], sigBytes) {
		t.Error("the restored key's signature does not verify with the original public key")
	}
	// not a store: refused before the target changes
	junk := filepath.Join(dir, "junk.db")
	os.WriteFile(junk, []byte("not sqlite"), 0o600)
	if _, stderr, code := runKeyward(t, environ, "restore", junk, "--store", filepath.Join(dir, "s3")); code == 0 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Errorf("restore of a junk file: exit %d %q", code, stderr)
	}
}
