package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Inputs larger than one call: sign, verify, digest and AES-GCM stream them (the old 4 MiB AES cap is gone,
// tampering and truncation still fail, nothing is left at --out); Ed25519 says why it cannot; --pss on EC
// and --hash on Ed25519 are refused instead of ignored.
func TestLargeInputs(t *testing.T) {
	env := newToken(t, "tbig")
	dir := t.TempDir()
	ok(t, env, "key", "generate", "--token", "tbig", "--type", "ec:p256", "--label", "fw")
	ok(t, env, "key", "generate", "--token", "tbig", "--type", "aes:256", "--label", "dk")
	ok(t, env, "key", "generate", "--token", "tbig", "--type", "ed25519", "--label", "ed")
	data := make([]byte, 6<<20+123)
	rand.Read(data)
	img := filepath.Join(dir, "img")
	os.WriteFile(img, data, 0o600)

	sig := filepath.Join(dir, "sig")
	ok(t, env, "sign", "pkcs11:token=tbig;object=fw;type=private", "--in", img, "--out", sig)
	b, _ := pem.Decode([]byte(ok(t, env, "export", "pkcs11:token=tbig;object=fw;type=public")))
	pub, _ := x509.ParsePKIXPublicKey(b.Bytes)
	sigBytes, _ := os.ReadFile(sig)
	h := sha256.Sum256(data)
	if !ecdsa.VerifyASN1(pub.(*ecdsa.PublicKey), h[:], sigBytes) {
		t.Error("the streamed signature does not verify")
	}
	ok(t, env, "verify", "pkcs11:token=tbig;object=fw;type=public", "--in", img, "--signature", sig)
	if got := strings.TrimSpace(ok(t, env, "digest", "--in", img)); got != hex.EncodeToString(h[:]) {
		t.Errorf("streamed digest %s, want %x", got, h)
	}

	enc, dec := filepath.Join(dir, "enc"), filepath.Join(dir, "dec")
	ok(t, env, "encrypt", "pkcs11:token=tbig;object=dk", "--in", img, "--out", enc)
	ok(t, env, "decrypt", "pkcs11:token=tbig;object=dk", "--in", enc, "--out", dec)
	if got, _ := os.ReadFile(dec); !bytes.Equal(got, data) {
		t.Fatal("AES-GCM round trip of 6 MiB differs")
	}
	ct, _ := os.ReadFile(enc)
	for name, bad := range map[string][]byte{
		"tampered":           append(append([]byte(nil), ct[:3<<20]...), append([]byte{ct[3<<20] ^ 1}, ct[3<<20+1:]...)...),
		"cut at a segment":   ct[:len(gcmStreamMagic)+gcmPrefixLen+2*(partSize+16)],
		"a segment dropped":  append(append([]byte(nil), ct[:len(gcmStreamMagic)+gcmPrefixLen]...), ct[len(gcmStreamMagic)+gcmPrefixLen+partSize+16:]...),
		"cut inside the end": ct[:len(ct)-5],
	} {
		out := filepath.Join(dir, "out-"+strings.ReplaceAll(name, " ", "-"))
		fails(t, kw(t, env, "decrypt", "pkcs11:token=tbig;object=dk", "--in", writeFile(t, "bad", bad), "--out", out), exitFailed, "")
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Errorf("%s: decrypt left %s behind", name, out)
		}
	}
	// a small message keeps the one-message format IV || ciphertext || tag
	small := writeFile(t, "small", []byte("hello"))
	ok(t, env, "encrypt", "pkcs11:token=tbig;object=dk", "--in", small, "--out", enc)
	if fi, _ := os.Stat(enc); fi.Size() != gcmIVLen+5+16 {
		t.Errorf("a 5-byte message encrypts to %d bytes, want %d", fi.Size(), gcmIVLen+5+16)
	}

	fails(t, kw(t, env, "sign", "pkcs11:token=tbig;object=ed;type=private", "--in", img, "--out", sig), exitFailed, "signs the whole message in one call")
	fails(t, kw(t, env, "sign", "pkcs11:token=tbig;object=ed;type=private", "--in", small, "--hash", "sha512"), exitUsage, "--hash does not apply")
	fails(t, kw(t, env, "sign", "pkcs11:token=tbig;object=fw;type=private", "--in", small, "--pss"), exitUsage, "--pss is for RSA keys")
}

// list without a login says that private objects are hidden; with one, it does not.
func TestListSaysPrivateObjectsHidden(t *testing.T) {
	env := newToken(t, "thide")
	ok(t, env, "key", "generate", "--token", "thide", "--type", "ec:p256", "--label", "k")
	r := kw(t, map[string]string{}, "list", "--token", "thide")
	if r.code != 0 || !strings.Contains(r.stderr, "private objects") || strings.Contains(r.stdout, "private") {
		t.Errorf("list without a PIN: %+v", r)
	}
	r = kw(t, env, "list", "--token", "thide")
	if r.code != 0 || strings.Contains(r.stderr, "not shown") || !strings.Contains(r.stdout, "private") {
		t.Errorf("list with a PIN: %+v", r)
	}
}

// cert self-sign --eku codeSigning and --key-usage give the certificate those extensions.
func TestCertSelfSignUsages(t *testing.T) {
	env := newToken(t, "tcs")
	ok(t, env, "key", "generate", "--token", "tcs", "--type", "ec:p256", "--label", "fw")
	out := ok(t, env, "cert", "self-sign", "pkcs11:token=tcs;object=fw", "--subject", "CN=fw-signer", "--eku", "codeSigning",
		"--key-usage", "digitalSignature,nonRepudiation")
	b, _ := pem.Decode([]byte(out))
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if len(cert.ExtKeyUsage) != 1 || cert.ExtKeyUsage[0] != x509.ExtKeyUsageCodeSigning ||
		cert.KeyUsage != x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment {
		t.Errorf("certificate usages: eku %v, key usage %b", cert.ExtKeyUsage, cert.KeyUsage)
	}
	fails(t, kw(t, env, "cert", "self-sign", "pkcs11:token=tcs;object=fw", "--subject", "CN=x", "--eku", "codesign"), exitUsage, "unknown extended key usage")
}

// Data objects and random bytes from the CLI.
func TestDataAndRandom(t *testing.T) {
	env := newToken(t, "tdata")
	uri := strings.TrimSpace(ok(t, env, "data", "put", writeFile(t, "cfg", []byte("serial=42\n")), "--token", "tdata", "--label", "cfg", "--private"))
	if uri != "pkcs11:token=tdata;object=cfg;type=data" {
		t.Fatalf("data put printed %q", uri)
	}
	if got := ok(t, env, "data", "get", uri); got != "serial=42\n" {
		t.Errorf("data get: %q", got)
	}
	fails(t, kw(t, map[string]string{}, "data", "get", uri), exitNotFound, "")
	fails(t, kw(t, env, "data", "put", writeFile(t, "cfg2", []byte("x")), "--token", "tdata", "--label", "cfg"), exitFailed, "already has a different data object")
	a, b := strings.TrimSpace(ok(t, env, "random", "32", "--hex", "--token", "tdata")), strings.TrimSpace(ok(t, env, "random", "32", "--hex"))
	if len(a) != 64 || len(b) != 64 || a == b {
		t.Errorf("random: %q %q", a, b)
	}
	fails(t, kw(t, env, "random", "0"), exitUsage, "N must be")
}

// CKA_START_DATE and CKA_END_DATE: set and shown.
func TestObjectDates(t *testing.T) {
	env := newToken(t, "tdate")
	ok(t, env, "key", "generate", "--token", "tdate", "--type", "ec:p256", "--label", "k")
	ok(t, env, "set", "pkcs11:token=tdate;object=k", "--start-date", "2026-01-01", "--end-date", "2031-12-31")
	var objs []objectJSON
	json.Unmarshal([]byte(ok(t, env, "show", "pkcs11:token=tdate;object=k", "--json")), &objs)
	if len(objs) != 2 || objs[0].StartDate != "2026-01-01" || objs[1].EndDate != "2031-12-31" {
		t.Errorf("dates after set: %+v", objs)
	}
	fails(t, kw(t, env, "set", "pkcs11:token=tdate;object=k", "--end-date", "31/12/2031"), exitUsage, "not a date")
}

// ECDH between two token keys gives both sides the same AES key; a key wrapped and unwrapped is the same key.
func TestDeriveWrapUnwrap(t *testing.T) {
	env := newToken(t, "tkx")
	dir := t.TempDir()
	for _, l := range []string{"a", "b"} {
		ok(t, env, "key", "generate", "--token", "tkx", "--type", "ec:p256", "--label", l, "--usage", "derive")
		os.WriteFile(filepath.Join(dir, l+".pub"), []byte(ok(t, env, "export", "pkcs11:token=tkx;object="+l+";type=public")), 0o600)
	}
	ok(t, env, "derive", "pkcs11:token=tkx;object=a;type=private", "--peer", filepath.Join(dir, "b.pub"), "--label", "ab", "--type", "aes:256", "--usage", "encrypt,decrypt")
	ok(t, env, "derive", "pkcs11:token=tkx;object=b;type=private", "--peer", filepath.Join(dir, "a.pub"), "--label", "ba", "--type", "aes:256", "--usage", "encrypt,decrypt")
	msg := writeFile(t, "msg", []byte("agreed"))
	ct := filepath.Join(dir, "ct")
	ok(t, env, "encrypt", "pkcs11:token=tkx;object=ab", "--in", msg, "--out", ct)
	if got := ok(t, env, "decrypt", "pkcs11:token=tkx;object=ba", "--in", ct); got != "agreed" {
		t.Errorf("the two sides' ECDH keys differ: %q", got)
	}
	fails(t, kw(t, env, "derive", "pkcs11:token=tkx;object=a;type=private", "--peer", msg, "--label", "x"), exitFailed, "not a PEM or DER public key")

	ok(t, env, "key", "generate", "--token", "tkx", "--type", "aes:256", "--label", "transport", "--usage", "wrap,unwrap")
	ok(t, env, "key", "generate", "--token", "tkx", "--type", "aes:256", "--label", "dk", "--extractable", "--sensitive=false")
	blob := filepath.Join(dir, "dk.wrapped")
	ok(t, env, "wrap", "pkcs11:token=tkx;object=dk", "--with", "pkcs11:token=tkx;object=transport", "--out", blob)
	ok(t, env, "unwrap", blob, "--with", "pkcs11:token=tkx;object=transport", "--label", "dk-copy", "--type", "aes:256")
	ok(t, env, "encrypt", "pkcs11:token=tkx;object=dk", "--in", msg, "--out", ct)
	if got := ok(t, env, "decrypt", "pkcs11:token=tkx;object=dk-copy", "--in", ct); got != "agreed" {
		t.Errorf("the unwrapped key differs from the wrapped one: %q", got)
	}
}
