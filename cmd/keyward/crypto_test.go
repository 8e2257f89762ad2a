package main

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// exportedKey exports the public key of uri and parses it.
func exportedKey(t *testing.T, env map[string]string, uri string) crypto.PublicKey {
	t.Helper()
	b, _ := pem.Decode([]byte(ok(t, env, "export", uri)))
	if b == nil {
		t.Fatalf("export %s: no PEM", uri)
	}
	pub, err := x509.ParsePKIXPublicKey(b.Bytes)
	if err != nil {
		t.Fatalf("export %s: %v", uri, err)
	}
	return pub
}

func TestSignVerify(t *testing.T) {
	env := newToken(t, "tsign")
	msg := []byte("firmware image v1.2.3\n")
	msgFile := writeFile(t, "msg", msg)
	tampered := writeFile(t, "tampered", []byte("firmware image v1.2.4\n"))
	for _, tc := range []struct {
		typ   string
		extra []string
		check func(pub crypto.PublicKey, sig []byte) bool
	}{
		{"ec:p256", nil, func(pub crypto.PublicKey, sig []byte) bool {
			h := sha256.Sum256(msg)
			return ecdsa.VerifyASN1(pub.(*ecdsa.PublicKey), h[:], sig)
		}},
		{"ec:p384", nil, func(pub crypto.PublicKey, sig []byte) bool {
			h := sha512.Sum384(msg)
			return ecdsa.VerifyASN1(pub.(*ecdsa.PublicKey), h[:], sig)
		}},
		{"rsa:2048", nil, func(pub crypto.PublicKey, sig []byte) bool {
			h := sha256.Sum256(msg)
			return rsa.VerifyPKCS1v15(pub.(*rsa.PublicKey), crypto.SHA256, h[:], sig) == nil
		}},
		{"rsa:2048", []string{"--pss"}, func(pub crypto.PublicKey, sig []byte) bool {
			h := sha256.Sum256(msg)
			return rsa.VerifyPSS(pub.(*rsa.PublicKey), crypto.SHA256, h[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}) == nil
		}},
		{"ed25519", nil, func(pub crypto.PublicKey, sig []byte) bool { return ed25519.Verify(pub.(ed25519.PublicKey), msg, sig) }},
		{"ml-dsa-65", nil, nil},
		{"hmac:256", nil, nil},
	} {
		name := tc.typ + strings.Join(tc.extra, "")
		t.Run(name, func(t *testing.T) {
			label := "sig-" + strings.ReplaceAll(name, ":", "-")
			uri := strings.TrimSpace(ok(t, env, "key", "generate", "--token", "tsign", "--type", tc.typ, "--label", label))
			sigFile := filepath.Join(t.TempDir(), "sig")
			ok(t, env, append([]string{"sign", uri, "--in", msgFile, "--out", sigFile}, tc.extra...)...)
			sig, err := os.ReadFile(sigFile)
			if err != nil || len(sig) == 0 {
				t.Fatalf("signature: %v", err)
			}
			if out := ok(t, env, append([]string{"verify", uri, "--in", msgFile, "--signature", sigFile}, tc.extra...)...); out != "signature OK\n" {
				t.Errorf("verify: %q", out)
			}
			fails(t, kw(t, env, append([]string{"verify", uri, "--in", tampered, "--signature", sigFile}, tc.extra...)...), exitFailed, "does not verify")
			if tc.check != nil && !tc.check(exportedKey(t, env, uri), sig) {
				t.Errorf("Go does not verify the %s signature", name)
			}
		})
	}
	// stdin and stdout
	uri := "pkcs11:token=tsign;object=sig-ec-p256"
	r := kwIn(t, env, msg, "sign", uri)
	if r.code != 0 || len(r.stdout) < 64 {
		t.Fatalf("sign from stdin: %+v", r)
	}
	// raw r||s format verifies too
	raw := kwIn(t, env, msg, "sign", uri, "--format", "raw")
	if len(raw.stdout) != 64 {
		t.Fatalf("raw ECDSA signature of %d bytes", len(raw.stdout))
	}
	ok(t, env, "verify", uri, "--in", msgFile, "--signature", writeFile(t, "raw.sig", []byte(raw.stdout)))

	// OpenSSL verifies an ECDSA signature and the exported key
	if _, err := exec.LookPath("openssl"); err == nil {
		dir := t.TempDir()
		pubFile, sigFile := filepath.Join(dir, "pub.pem"), filepath.Join(dir, "sig")
		ok(t, env, "export", uri, "--out", pubFile)
		ok(t, env, "sign", uri, "--in", msgFile, "--out", sigFile)
		out, err := exec.Command("openssl", "dgst", "-sha256", "-verify", pubFile, "-signature", sigFile, msgFile).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Verified OK") {
			t.Errorf("openssl dgst -verify: %v %s", err, out)
		}
	}

	// errors
	fails(t, kw(t, env, "sign", "pkcs11:token=tsign;object=absent", "--in", msgFile), exitNotFound, "no signing key")
	fails(t, kw(t, env, "sign", "pkcs11:token=tsign;type=private", "--in", msgFile), exitUsage, "narrow the URI")
	fails(t, kw(t, env, "sign", uri, "--in", filepath.Join(t.TempDir(), "missing")), exitFailed, "cannot read")
	fails(t, kw(t, env, "sign", uri, "--in", msgFile, "--hash", "md4"), exitUsage, "unknown hash")
	fails(t, kw(t, env, "verify", uri, "--in", msgFile), exitUsage, "--signature FILE is required")
	x := strings.TrimSpace(ok(t, env, "key", "generate", "--token", "tsign", "--type", "x25519", "--label", "xkey"))
	fails(t, kw(t, env, "sign", x, "--in", msgFile), exitFailed, "cannot sign")
}

func TestEncryptDecryptDigest(t *testing.T) {
	env := newToken(t, "tcrypt")
	plain := []byte("the data key is 0123456789abcdef")
	in := writeFile(t, "plain", plain)
	dir := t.TempDir()

	aes := strings.TrimSpace(ok(t, env, "key", "generate", "--token", "tcrypt", "--type", "aes:256", "--label", "data"))
	enc := filepath.Join(dir, "aes.enc")
	ok(t, env, "encrypt", aes, "--in", in, "--out", enc)
	ct, _ := os.ReadFile(enc)
	if len(ct) != 12+len(plain)+16 || bytes.Contains(ct, plain) {
		t.Fatalf("AES-GCM output of %d bytes", len(ct))
	}
	if out := ok(t, env, "decrypt", aes, "--in", enc); out != string(plain) {
		t.Errorf("decrypt: %q", out)
	}
	ct[20] ^= 1
	fails(t, kw(t, env, "decrypt", aes, "--in", writeFile(t, "bad.enc", ct)), exitFailed, "tampered")

	rsaURI := strings.TrimSpace(ok(t, env, "key", "generate", "--token", "tcrypt", "--type", "rsa:2048", "--label", "wrap"))
	// encrypt in Go with the exported key, decrypt on the token
	pub := exportedKey(t, env, rsaURI).(*rsa.PublicKey)
	c, err := rsa.EncryptOAEP(sha256.New(), rand.Reader, pub, plain, nil)
	if err != nil {
		t.Fatal(err)
	}
	if out := ok(t, env, "decrypt", rsaURI, "--in", writeFile(t, "oaep", c)); out != string(plain) {
		t.Errorf("RSA-OAEP decrypt: %q", out)
	}
	// and on the token both ways, with PKCS #1 v1.5 too
	for _, extra := range [][]string{nil, {"--pkcs1"}} {
		enc := filepath.Join(dir, "rsa.enc")
		ok(t, env, append([]string{"encrypt", rsaURI, "--in", in, "--out", enc}, extra...)...)
		if out := ok(t, env, append([]string{"decrypt", rsaURI, "--in", enc}, extra...)...); out != string(plain) {
			t.Errorf("RSA %v round trip: %q", extra, out)
		}
	}
	ed := strings.TrimSpace(ok(t, env, "key", "generate", "--token", "tcrypt", "--type", "ed25519", "--label", "ed"))
	fails(t, kw(t, env, "encrypt", ed, "--in", in), exitFailed, "do not encrypt")

	// digest
	want := sha256.Sum256(plain)
	if out := ok(t, nil, "digest", "--in", in); out != hex.EncodeToString(want[:])+"\n" {
		t.Errorf("digest: %q", out)
	}
	want384 := sha512.Sum384(plain)
	r := kwIn(t, nil, plain, "digest", "--hash", "sha384")
	if r.stdout != hex.EncodeToString(want384[:])+"\n" {
		t.Errorf("digest sha384 from stdin: %+v", r)
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 400_000) // 6.4 MB: in parts
	wantBig := sha256.Sum256(big)
	if out := ok(t, nil, "digest", writeFile(t, "big", big)); out != hex.EncodeToString(wantBig[:])+"\n" {
		t.Errorf("digest of a large file: %q", out)
	}
}

func TestImportExport(t *testing.T) {
	env := newToken(t, "timp")
	dir := t.TempDir()
	msgFile := writeFile(t, "msg", []byte("hello"))
	h := sha256.Sum256([]byte("hello"))

	// SEC1 EC key, then its certificate finds it by public key
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	sec1, _ := x509.MarshalECPrivateKey(ecKey)
	ecFile := writeFile(t, "ec.pem", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}))
	out := ok(t, env, "import", ecFile, "--token", "timp", "--label", "imported-ec", "--id", "0a")
	if !strings.Contains(out, "pkcs11:token=timp;object=imported-ec;type=private;id=%0A") || !strings.Contains(out, "type=public") {
		t.Fatalf("import EC: %q", out)
	}
	sig := kwIn(t, env, []byte("hello"), "sign", "pkcs11:token=timp;object=imported-ec")
	if sig.code != 0 || !ecdsa.VerifyASN1(&ecKey.PublicKey, h[:], []byte(sig.stdout)) {
		t.Fatalf("imported EC key does not sign for its public key: %+v", sig.stderr)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "imported"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	certDER, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &ecKey.PublicKey, ecKey)
	out = ok(t, env, "import", writeFile(t, "c.der", certDER), "--token", "timp")
	if strings.TrimSpace(out) != "pkcs11:token=timp;object=imported-ec;type=cert;id=%0A" {
		t.Errorf("certificate import did not take the key's label and id: %q", out)
	}
	if got := ok(t, env, "export", "pkcs11:token=timp;object=imported-ec;type=cert", "--format", "der"); got != string(certDER) {
		t.Errorf("exported certificate differs")
	}
	if got := ok(t, env, "export", "pkcs11:token=timp;id=%0a;type=cert"); !strings.HasPrefix(got, "-----BEGIN CERTIFICATE-----") {
		t.Errorf("export cert PEM: %q", got)
	}

	// PKCS#1 RSA and PKCS#8 Ed25519
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ok(t, env, "import", writeFile(t, "rsa.pem", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)})),
		"--token", "timp", "--label", "imported-rsa")
	rsig := kwIn(t, env, []byte("hello"), "sign", "pkcs11:token=timp;object=imported-rsa")
	if rsig.code != 0 || rsa.VerifyPKCS1v15(&rsaKey.PublicKey, crypto.SHA256, h[:], []byte(rsig.stdout)) != nil {
		t.Errorf("imported RSA key: %+v", rsig.stderr)
	}
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	p8, _ := x509.MarshalPKCS8PrivateKey(edKey)
	ok(t, env, "import", writeFile(t, "ed.der", p8), "--token", "timp", "--label", "imported-ed")
	esig := kwIn(t, env, []byte("hello"), "sign", "pkcs11:token=timp;object=imported-ed")
	if esig.code != 0 || !ed25519.Verify(edKey.Public().(ed25519.PublicKey), []byte("hello"), []byte(esig.stdout)) {
		t.Errorf("imported Ed25519 key: %+v", esig.stderr)
	}
	if pub := exportedKey(t, env, "pkcs11:token=timp;object=imported-ed;type=private"); !edKey.Public().(ed25519.PublicKey).Equal(pub) {
		t.Errorf("exported Ed25519 key differs")
	}

	// a public key alone, then verify with it
	spki, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	// (the same public key is on the token already, as imported-rsa's public half: import reports that object)
	pubURI := strings.TrimSpace(ok(t, env, "import", writeFile(t, "pub.pem", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki})), "--token", "timp", "--label", "peer"))
	if !strings.Contains(pubURI, "object=imported-rsa") || !strings.Contains(pubURI, "type=public") {
		t.Errorf("importing a public key already on the token gave %q, want the existing imported-rsa public key", pubURI)
	}
	ok(t, env, "verify", pubURI, "--in", msgFile, "--signature", writeFile(t, "rsig", []byte(rsig.stdout)))

	// encrypted PKCS#8 from OpenSSL
	if _, err := exec.LookPath("openssl"); err == nil {
		plainKey := filepath.Join(dir, "p8.pem")
		encKey := filepath.Join(dir, "p8enc.pem")
		if out, err := exec.Command("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384", "-out", plainKey).CombinedOutput(); err != nil {
			t.Fatalf("openssl genpkey: %v %s", err, out)
		}
		if out, err := exec.Command("openssl", "pkcs8", "-topk8", "-v2", "aes-256-cbc", "-in", plainKey, "-out", encKey, "-passout", "pass:s3cret").CombinedOutput(); err != nil {
			t.Fatalf("openssl pkcs8: %v %s", err, out)
		}
		fails(t, kw(t, map[string]string{"KEYWARD_PIN": env["KEYWARD_PIN"], "KEYWARD_PASSPHRASE": "wrong"}, "import", encKey, "--token", "timp", "--label", "enc"), exitAuth, "wrong passphrase")
		ok(t, map[string]string{"KEYWARD_PIN": env["KEYWARD_PIN"], "KEYWARD_PASSPHRASE": "s3cret"}, "import", encKey, "--token", "timp", "--label", "enc")
		pubFile := filepath.Join(dir, "enc.pub")
		ok(t, env, "export", "pkcs11:token=timp;object=enc", "--out", pubFile)
		want, _ := exec.Command("openssl", "pkey", "-in", plainKey, "-pubout").Output()
		got, _ := os.ReadFile(pubFile)
		if !bytes.Equal(want, got) {
			t.Errorf("public key of the imported encrypted key:\n%s\nwant\n%s", got, want)
		}
	}

	// a raw AES secret
	secret := bytes.Repeat([]byte{0x42}, 32)
	out = ok(t, env, "import", writeFile(t, "k.bin", secret), "--type", "secret", "--key-type", "aes", "--token", "timp", "--label", "raw-aes")
	if !strings.Contains(out, "type=secret-key") {
		t.Errorf("secret import: %q", out)
	}
	enc := filepath.Join(dir, "enc")
	ok(t, env, "encrypt", "pkcs11:token=timp;object=raw-aes", "--in", msgFile, "--out", enc)
	if got := ok(t, env, "decrypt", "pkcs11:token=timp;object=raw-aes", "--in", enc); got != "hello" {
		t.Errorf("raw AES round trip: %q", got)
	}
	fails(t, kw(t, env, "import", writeFile(t, "short.bin", []byte("short")), "--type", "secret", "--key-type", "aes", "--label", "x", "--token", "timp"), exitFailed, "16, 24 or 32 bytes")

	// garbage
	fails(t, kw(t, env, "import", writeFile(t, "junk", []byte("not a key")), "--token", "timp"), exitFailed, "neither PEM nor")
	fails(t, kw(t, env, "import", filepath.Join(dir, "missing.pem"), "--token", "timp"), exitFailed, "cannot read")
}
