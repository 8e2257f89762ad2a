package interop

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/pkg/client"
)

func init() {
	packageOf["rauc"] = "rauc"
	packageOf["mksquashfs"] = "squashfs-tools"
	packageOf["swupdate"] = "swupdate"
	packageOf["mender-artifact"] = "mender-artifact"
}

// codeSigningCert makes a self-signed code-signing certificate (extended key usages codeSigning and
// emailProtection, which OTA verifiers check for) for the token key labelled label, signed on the token, and
// writes it as PEM into dir.
func codeSigningCert(t *testing.T, tk *token, dir, label, cn string) string {
	t.Helper()
	var der []byte
	tk.withSigner(t, label, func(s *client.Signer) {
		tmpl := certTemplate(cn, true)
		tmpl.DNSNames, tmpl.IPAddresses = nil, nil
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning, x509.ExtKeyUsageEmailProtection}
		var err error
		if der, err = x509.CreateCertificate(rand.Reader, tmpl, tmpl, s.Public(), s); err != nil {
			t.Fatalf("signing a certificate with key %q on the token: %v", label, err)
		}
	})
	return writeFile(t, dir, label+"-codesign.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

// cpioNewc writes a cpio archive in the "newc" format (what swupdate reads) with the files in order.
func cpioNewc(files []string, data map[string][]byte) []byte {
	var b bytes.Buffer
	pad := func() {
		for b.Len()%4 != 0 {
			b.WriteByte(0)
		}
	}
	entry := func(ino int, name string, mode int, content []byte) {
		fmt.Fprintf(&b, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
			ino, mode, 0, 0, 1, 0, len(content), 0, 0, 0, 0, len(name)+1, 0)
		b.WriteString(name)
		b.WriteByte(0)
		pad()
		b.Write(content)
		pad()
	}
	for i, f := range files {
		entry(i+1, f, 0o100644, data[f])
	}
	entry(0, "TRAILER!!!", 0, nil)
	return b.Bytes()
}

// Scenario 10: OTA update signing with a token key.
//   - RAUC: `rauc bundle --cert <cert.pem> --key 'pkcs11:token=..;object=..'` with RAUC_PKCS11_MODULE=libkeyward.so
//     and RAUC_PKCS11_PIN (RAUC loads libp11's engine itself), then `rauc info --keyring <cert.pem>` verifies the
//     bundle's CMS signature. RSA and EC keys.
//   - swupdate: Debian's swupdate verifies CMS-signed images (-k/--ca-path, --cert-purpose) but signs nothing:
//     its documented signing step is `openssl cms -sign` on sw-description, run here with the token key through
//     libp11's engine; the .swu (cpio) is then checked by `swupdate -c -i image.swu -k <cert.pem>
//     --cert-purpose codeSigning`.
//   - Mender: `mender-artifact sign --key-pkcs11 <pkcs11: URI>` (mender-artifact 3.9 signs through OpenSSL's
//     pkcs11 engine, configured by OPENSSL_CONF), then `mender-artifact validate --key <public key>`. The Mender
//     client (mender-client) only uses a client TLS key against a Mender server, which cannot run here.
func TestOTASigning(t *testing.T) {
	const sc = "10 OTA signing"
	daemon(t)
	tk := newToken(t, "ota")
	keys := []struct{ label, id, kind, keyType string }{
		{"ota-rsa", "a1", "RSA", "rsa:2048"},
		{"ota-ec", "a2", "EC", "EC:prime256v1"},
	}
	dir := tmpDir(t)
	certs := map[string]string{}
	for _, k := range keys {
		tk.genKey(t, k.keyType, k.label, k.id)
		certs[k.label] = codeSigningCert(t, tk, dir, k.label, "keyward-ota-"+k.kind)
	}
	mod, spyEnv := moduleFor(t, "ota")
	engineEnv := append([]string{"OPENSSL_CONF=" + opensslEngineConf(t, dir, mod)}, spyEnv...)
	// Incompressible: RAUC's verity format needs a squashfs larger than 4 KiB.
	payload := make([]byte, 64<<10)
	rand.Read(payload)

	step(t, sc, "rauc bundle --key pkcs11: URI, rauc info --keyring (RSA, EC)", "rauc",
		func() string { return progVersion("rauc", "--version") }, func(t *testing.T) {
			rauc := program(t, "rauc")
			program(t, "mksquashfs")
			env := []string{"RAUC_PKCS11_MODULE=" + mod, "RAUC_PKCS11_PIN=" + userPIN}
			env = append(env, spyEnv...)
			for _, k := range keys {
				t.Run(k.kind, func(t *testing.T) {
					d := tmpDir(t)
					content := filepath.Join(d, "content")
					os.MkdirAll(content, 0o755)
					writeFile(t, content, "rootfs.img", payload, 0o644)
					writeFile(t, content, "manifest.raucm", []byte(`[update]
compatible=keyward-interop
version=1.0.`+k.kind+`

[bundle]
format=verity

[image.rootfs]
filename=rootfs.img
`), 0o644)
					bundle := filepath.Join(d, "update.raucb")
					r := execProg(t, runOpts{env: env, timeout: 60 * time.Second}, rauc, "bundle", "--cert", certs[k.label],
						"--key", tk.uri(k.label), content, bundle)
					if r.err != nil {
						t.Fatalf("rauc bundle with the token key failed:\n%s", r)
					}
					// The verification needs no token.
					r = mustRun(t, runOpts{}, rauc, "info", "--keyring", certs[k.label], "--output-format", "shell", bundle)
					mustContain(t, r, r.stdout, "RAUC_MF_COMPATIBLE='keyward-interop'", "RAUC_MF_VERSION='1.0."+k.kind+"'")
					mustContain(t, r, r.stderr+r.stdout, "signature by 'O = Keyward interop test, CN = keyward-ota-"+k.kind+"'")
					// A keyring without the signer must refuse the bundle.
					other, _ := fileKeyCert(t, d, "other", "not the signer")
					if r := execProg(t, runOpts{}, rauc, "info", "--keyring", other, bundle); r.err == nil {
						t.Fatalf("control: rauc info accepted the bundle with a keyring that lacks its signer:\n%s", r)
					}
				})
			}
		})

	step(t, sc, "swupdate: openssl cms -sign (token key) sw-description, swupdate -c -k verifies (RSA, EC)", "swupdate",
		func() string { return progVersion("swupdate") }, func(t *testing.T) {
			swupdate := program(t, "swupdate")
			openssl := program(t, "openssl")
			sum := sha256.Sum256(payload)
			for _, k := range keys {
				t.Run(k.kind, func(t *testing.T) {
					d := tmpDir(t)
					desc := []byte(fmt.Sprintf(`software =
{
	version = "1.0.%s";
	description = "keyward interop test";
	hardware-compatibility: [ "1.0" ];
	images: (
		{
			filename = "payload.img";
			device = "/dev/null";
			type = "raw";
			sha256 = "%s";
		}
	);
}
`, k.kind, hex.EncodeToString(sum[:])))
					descFile := writeFile(t, d, "sw-description", desc, 0o644)
					sig := filepath.Join(d, "sw-description.sig")
					mustRun(t, runOpts{env: engineEnv}, openssl, "cms", "-sign", "-engine", "pkcs11", "-keyform", "engine",
						"-in", descFile, "-out", sig, "-signer", certs[k.label], "-inkey", tk.uriPIN(k.label),
						"-outform", "DER", "-nosmimecap", "-binary")
					swu := writeFile(t, d, "image.swu", cpioNewc([]string{"sw-description", "sw-description.sig", "payload.img"},
						map[string][]byte{"sw-description": desc, "sw-description.sig": readFile(t, sig), "payload.img": payload}), 0o644)
					check := func(ca string) result {
						// TMPDIR: swupdate's sockets and scratch files go there (/tmp by default).
						return execProg(t, runOpts{env: []string{"TMPDIR=" + d}}, swupdate, "-v", "-c", "-i", swu, "-k", ca,
							"--cert-purpose", "codeSigning", "-H", "keyward-board:1.0")
					}
					// swupdate 2022.12's exit status after -c is unreliable: with identical output (and with a file
					// key as well) it exits 1 in about a third of the runs, racing its subprocesses. So the verdict is
					// read from its log: the CMS verification and the end of the (dummy-handler) check.
					r := check(certs[k.label])
					out := r.stdout + r.stderr
					if !strings.Contains(out, "[swupdate_verify_file] : Verified OK") || !strings.Contains(out, "SWUpdate was successful") ||
						strings.Contains(out, "SWUpdate *failed*") {
						t.Fatalf("swupdate -c rejects the image signed with the token key:\n%s", r)
					}
					other, _ := fileKeyCert(t, d, "other", "not the signer")
					r = check(other)
					// The same race can cut its log short before the verdict: run it again (at most twice more) only
					// when the log says neither way.
					for i := 0; i < 2 && !strings.Contains(r.stdout+r.stderr, "Verified OK") &&
						!strings.Contains(r.stdout+r.stderr, "Authentication of all signatures failed"); i++ {
						r = check(other)
					}
					if out := r.stdout + r.stderr; strings.Contains(out, "Verified OK") || !strings.Contains(out, "Authentication of all signatures failed") {
						t.Fatalf("control: swupdate -c did not refuse the image with a CA that is not its signer:\n%s", r)
					}
				})
			}
		})

	for _, k := range keys {
		step(t, sc, "mender-artifact sign --key-pkcs11 URI, validate --key ("+k.kind+")", "mender-artifact",
			func() string { return progVersion("mender-artifact") }, func(t *testing.T) {
				ma := program(t, "mender-artifact")
				d := tmpDir(t)
				img := writeFile(t, d, "rootfs.ext4", payload, 0o644)
				art := filepath.Join(d, "update.mender")
				mustRun(t, runOpts{}, ma, "write", "rootfs-image", "-t", "keyward-interop", "-n", "keyward-"+k.kind,
					"-f", img, "-o", art)
				signed := filepath.Join(d, "signed.mender")
				r := execProg(t, runOpts{env: engineEnv}, ma, "sign", "--key-pkcs11", tk.uriPIN(k.label), "-o", signed, art)
				if r.err != nil {
					t.Fatalf("mender-artifact sign with the token key failed:\n%s", r)
				}
				pub := pubPEM(t, d, "pub.pem", tk.public(t, k.label))
				r = execProg(t, runOpts{}, ma, "validate", "--key", pub, signed)
				if k.kind == "EC" && r.err != nil && strings.Contains(r.stderr, "invalid ecdsa key size") {
					// mender-artifact's PKCS#11 signer (artifact/signer_linux.go) signs through OpenSSL's EVP
					// interface for every key type, which gives the DER (ASN.1 SEQUENCE{r, s}) form of an ECDSA
					// signature, and stores it as it is; Mender's ECDSA verification wants the raw 64-byte r||s
					// form its file-key signer writes. Keyward's signature is valid (the file signer and OpenSSL
					// verify it in scenario 4); mender-artifact's --key-pkcs11 is RSA-only in practice.
					expectedFailure(t, "mender-artifact 3.9 --key-pkcs11 stores OpenSSL's DER ECDSA signature where its verifier expects raw r||s ("+
						"\"signer: invalid ecdsa key size\"): EC keys cannot sign Mender artifacts through PKCS#11; RSA works")
				}
				if r.err != nil {
					t.Fatalf("mender-artifact validate rejects the artifact signed with the token key:\n%s", r)
				}
				mustContain(t, r, r.stdout+r.stderr, "validated successfully")
				_, otherKey := fileKeyCert(t, d, "other", "not the signer")
				otherPub := pubPEM(t, d, "other-pub.pem", publicOfKeyFile(t, otherKey))
				if r := execProg(t, runOpts{}, ma, "validate", "--key", otherPub, signed); r.err == nil {
					t.Fatalf("control: mender-artifact validated the artifact with a key that did not sign it:\n%s", r)
				}
			})
	}
}

// publicOfKeyFile reads a PEM PKCS#8 private key file and returns its public key.
func publicOfKeyFile(t *testing.T, path string) crypto.PublicKey {
	t.Helper()
	b, _ := pem.Decode(readFile(t, path))
	if b == nil {
		t.Fatalf("%s holds no PEM key", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(crypto.Signer).Public()
}
