package main

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestCSRAndSelfSigned(t *testing.T) {
	env := newToken(t, "tcsr")
	for _, typ := range []string{"ec:p256", "rsa:2048", "ed25519"} {
		t.Run(typ, func(t *testing.T) {
			label := "csr-" + strings.ReplaceAll(typ, ":", "-")
			uri := strings.TrimSpace(ok(t, env, "key", "generate", "--token", "tcsr", "--type", typ, "--label", label))
			out := ok(t, env, "csr", uri, "--subject", "CN=device-42,O=Acme,C=DE", "--san", "dns:device-42.acme.example,ip:10.0.0.7", "--san", "email:ops@acme.example")
			b, _ := pem.Decode([]byte(out))
			if b == nil || b.Type != "CERTIFICATE REQUEST" {
				t.Fatalf("csr output %q", out)
			}
			req, err := x509.ParseCertificateRequest(b.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			if err := req.CheckSignature(); err != nil {
				t.Fatalf("CSR signature: %v", err)
			}
			if req.Subject.CommonName != "device-42" || req.Subject.Organization[0] != "Acme" || len(req.DNSNames) != 1 ||
				!req.IPAddresses[0].Equal(net.ParseIP("10.0.0.7")) || req.EmailAddresses[0] != "ops@acme.example" {
				t.Errorf("CSR contents: %+v", req)
			}
			pub := exportedKey(t, env, uri)
			if !pub.(interface{ Equal(crypto.PublicKey) bool }).Equal(req.PublicKey) {
				t.Errorf("CSR public key is not the token key")
			}
			if _, err := exec.LookPath("openssl"); err == nil {
				f := filepath.Join(t.TempDir(), "req.pem")
				os.WriteFile(f, []byte(out), 0o644)
				if o, err := exec.Command("openssl", "req", "-in", f, "-verify", "-noout").CombinedOutput(); err != nil {
					t.Errorf("openssl req -verify: %v %s", err, o)
				}
			}

			// self-signed, stored on the token beside the key
			certFile := filepath.Join(t.TempDir(), "c.pem")
			r := kw(t, env, "cert", "self-sign", uri, "--subject", "/CN=device-42/O=Acme", "--san", "device-42.local", "--days", "30", "--import", "--out", certFile)
			if r.code != 0 || !strings.Contains(r.stderr, "type=cert") {
				t.Fatalf("cert self-sign: %+v", r)
			}
			pemCert, _ := os.ReadFile(certFile)
			cb, _ := pem.Decode(pemCert)
			cert, err := x509.ParseCertificate(cb.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			if err := cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature); err != nil {
				t.Errorf("self-signed certificate: %v", err)
			}
			if cert.DNSNames[0] != "device-42.local" || cert.Subject.CommonName != "device-42" {
				t.Errorf("certificate contents: %v %v", cert.Subject, cert.DNSNames)
			}
			stored := ok(t, env, "export", "pkcs11:token=tcsr;object="+label+";type=cert")
			if stored != string(pemCert) {
				t.Errorf("stored certificate differs from the one written")
			}
		})
	}
	ok(t, env, "key", "generate", "--token", "tcsr", "--type", "ml-dsa-44", "--label", "pq")
	fails(t, kw(t, env, "csr", "pkcs11:token=tcsr;object=pq", "--subject", "CN=x"), exitFailed, "ML-DSA")
	fails(t, kw(t, env, "csr", "pkcs11:token=tcsr;object=csr-ec-p256", "--subject", "XX=1"), exitUsage, "unknown attribute")
	fails(t, kw(t, env, "csr", "pkcs11:token=tcsr;object=csr-ec-p256", "--subject", "CN=x", "--san", "ip:999.1.1.1"), exitUsage, "not an IP address")
	fails(t, kw(t, env, "csr", "pkcs11:token=tcsr;object=none", "--subject", "CN=x"), exitNotFound, "no private key")
	fails(t, kw(t, map[string]string{"KEYWARD_PIN": "nope-nope"}, "csr", "pkcs11:token=tcsr;object=csr-ec-p256", "--subject", "CN=x"), exitAuth, "wrong PIN")
}
