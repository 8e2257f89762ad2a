package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// makeP12 makes, with the openssl command, a P-256 device key, its certificate issued by a test CA, and a
// PKCS#12 bundle of the three with OpenSSL's default encryption (OpenSSL 3: PBES2/AES-256-CBC). It returns
// the bundle's path and the directory holding leaf.key, leaf.crt and ca.crt. It skips the test if openssl
// is missing.
func makeP12(t *testing.T, password string) (p12, dir string) {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl is not installed")
	}
	dir = t.TempDir()
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("openssl", args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key",
		"-out", "ca.crt", "-subj", "/CN=Test CA", "-days", "2")
	run("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "leaf.key")
	run("req", "-new", "-key", "leaf.key", "-subj", "/CN=device-42", "-out", "leaf.csr")
	run("x509", "-req", "-in", "leaf.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "leaf.crt", "-days", "2")
	run("pkcs12", "-export", "-inkey", "leaf.key", "-in", "leaf.crt", "-certfile", "ca.crt", "-out", "bundle.p12",
		"-passout", "pass:"+password)
	return filepath.Join(dir, "bundle.p12"), dir
}

func TestIsPKCS12(t *testing.T) {
	p12, dir := makeP12(t, "pw")
	for name, want := range map[string]bool{p12: true, filepath.Join(dir, "leaf.crt"): false} {
		data := readFile(t, name)
		if got := isPKCS12(data); got != want {
			t.Errorf("isPKCS12(%s) = %v, want %v", filepath.Base(name), got, want)
		}
	}
	for _, der := range [][]byte{nil, {0x30, 0x03, 0x02, 0x01, 0x03}, []byte("not DER")} {
		if isPKCS12(der) {
			t.Errorf("isPKCS12(%x) = true", der)
		}
	}
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
