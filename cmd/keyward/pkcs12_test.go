package main

import (
	"crypto/x509"
	"encoding/pem"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A bundle from openssl pkcs12 -export (OpenSSL 3 defaults: PBES2, PBKDF2, AES-256-CBC) imports as the
// private key, its public key, its certificate (with the key's label and id) and the CA certificate.
func TestImportPKCS12(t *testing.T) {
	const password = "p12-s3cret"
	p12, dir := makeP12(t, password)
	if info, err := exec.Command("openssl", "pkcs12", "-info", "-noout", "-in", p12, "-passin", "pass:"+password).CombinedOutput(); err != nil {
		t.Fatalf("openssl pkcs12 -info: %v %s", err, info)
	} else if !strings.Contains(string(info), "AES-256-CBC") {
		t.Logf("note: the bundle is not AES-encrypted (openssl older than 3?):\n%s", info)
	}
	env := newToken(t, "tp12")

	// a wrong password changes nothing
	bad := writeFile(t, "bad.pass", []byte("wrong\n"))
	fails(t, kw(t, env, "import", p12, "--token", "tp12", "--password-source", bad), exitAuth, "wrong password")

	pwFile := writeFile(t, "p12.pass", []byte(password+"\n"))
	out := ok(t, env, "import", p12, "--token", "tp12", "--password-source", pwFile, "--label", "device-id", "--id", "01")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	want := []string{
		"pkcs11:token=tp12;object=device-id;type=private;id=%01",
		"pkcs11:token=tp12;object=device-id;type=public;id=%01",
		"pkcs11:token=tp12;object=device-id;type=cert;id=%01",
		"pkcs11:token=tp12;object=Test%20CA;type=cert",
	}
	if len(lines) != len(want) {
		t.Fatalf("import printed %q, want %q", lines, want)
	}
	for i := range want {
		if !strings.HasPrefix(lines[i], want[i]) {
			t.Errorf("line %d: %q, want %q", i, lines[i], want[i])
		}
	}

	// the key is the bundle's: its public key is openssl's, and it signs
	pubFile := filepath.Join(t.TempDir(), "leaf.pub")
	ok(t, env, "export", "pkcs11:token=tp12;object=device-id;type=public", "--out", pubFile)
	wantPub, err := exec.Command("openssl", "pkey", "-in", filepath.Join(dir, "leaf.key"), "-pubout").Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, pubFile); string(got) != string(wantPub) {
		t.Errorf("public key of the imported key:\n%s\nwant\n%s", got, wantPub)
	}
	msg := writeFile(t, "msg", []byte("hello"))
	sig := filepath.Join(t.TempDir(), "sig")
	ok(t, env, "sign", "pkcs11:token=tp12;object=device-id;type=private", "--in", msg, "--out", sig)
	if out, err := exec.Command("openssl", "dgst", "-sha256", "-verify", pubFile, "-signature", sig, msg).CombinedOutput(); err != nil {
		t.Errorf("openssl dgst -verify: %v %s", err, out)
	}

	// the certificate is the bundle's leaf
	certFile := filepath.Join(t.TempDir(), "leaf.crt")
	ok(t, env, "export", "pkcs11:token=tp12;object=device-id;type=cert", "--out", certFile)
	got, _ := pem.Decode(readFile(t, certFile))
	leaf, _ := pem.Decode(readFile(t, filepath.Join(dir, "leaf.crt")))
	if got == nil || leaf == nil || string(got.Bytes) != string(leaf.Bytes) {
		t.Fatalf("exported certificate differs from leaf.crt")
	}
	if c, err := x509.ParseCertificate(got.Bytes); err != nil || c.Subject.CommonName != "device-42" {
		t.Errorf("exported certificate: %v %v", c, err)
	}
}
