package interop

import (
	"crypto/x509"
	"encoding/pem"
	"path/filepath"
	"strconv"
	"testing"
)

// Scenario 3: GnuTLS. p11tool lists the token, generates RSA and ECDSA keys on it and lists them; certtool
// makes a self-signed certificate with each token key; gnutls-serv serves TLS with each token key and
// gnutls-cli completes a handshake that verifies the server's certificate (and so the token's signature in
// the handshake). Every GnuTLS program names the module with --provider; the PIN comes from GNUTLS_PIN.
//
// gnutls-serv has no option for its listening address: it listens on all addresses on a random free port for
// the second the handshake takes; the client connects over 127.0.0.1.
func TestGnuTLS(t *testing.T) {
	const sc = "3 GnuTLS"
	daemon(t)
	p11tool := program(t, "p11tool")
	certtool := program(t, "certtool")
	tk := newToken(t, "gnutls")
	mod, spyEnv := moduleFor(t, "gnutls")
	env := append([]string{"GNUTLS_PIN=" + userPIN}, spyEnv...)
	o := runOpts{env: env}
	dir := tmpDir(t)
	tokenURI := "pkcs11:token=" + tk.label
	keys := []struct{ label, id, alg, kind, listed string }{
		{"gnutls-rsa", "31", "rsa", "RSA", "Private key (RSA-2048)"},
		{"gnutls-ec", "32", "ecdsa", "ECDSA", "Private key (EC/ECDSA-SECP256R1)"},
	}
	ver := func(p string) func() string { return func() string { return progVersion(p, "--version") } }

	step(t, sc, "p11tool --list-tokens", "p11tool", ver("p11tool"), func(t *testing.T) {
		r := mustRun(t, o, p11tool, "--provider", mod, "--list-tokens")
		mustContain(t, r, r.stdout, "Label: "+tk.label, "Manufacturer: Keyward", ";token="+tk.label)
	})

	generated := step(t, sc, "p11tool --generate-privkey (RSA 2048, ECDSA P-256)", "p11tool", ver("p11tool"), func(t *testing.T) {
		for _, k := range keys {
			args := []string{"--provider", mod, "--login", "--generate-privkey", k.alg, "--label", k.label, "--id", k.id}
			if k.alg == "rsa" {
				args = append(args, "--bits", "2048")
			} else {
				args = append(args, "--curve", "secp256r1")
			}
			pubFile := filepath.Join(dir, k.label+"-pub.pem")
			mustRun(t, o, p11tool, append(args, "--outfile", pubFile, tokenURI)...)
			// The public key p11tool printed is the one on the token.
			b, _ := pem.Decode(readFile(t, pubFile))
			if b == nil {
				t.Fatalf("p11tool wrote no PEM public key for %s", k.label)
			}
			pub, err := x509.ParsePKIXPublicKey(b.Bytes)
			if err != nil {
				t.Fatalf("p11tool's public key for %s: %v", k.label, err)
			}
			if !samePublic(pub, tk.public(t, k.label)) {
				t.Fatalf("p11tool's public key for %s is not the token's", k.label)
			}
		}
	})
	needKeys := func(t *testing.T) {
		if !generated {
			t.Fatalf("needs the keys of the --generate-privkey step, which failed")
		}
	}

	step(t, sc, "p11tool --list-all", "p11tool", ver("p11tool"), func(t *testing.T) {
		needKeys(t)
		r := mustRun(t, o, p11tool, "--provider", mod, "--login", "--list-all", tokenURI)
		for _, k := range keys {
			mustContain(t, r, r.stdout, k.listed, "Label: "+k.label, ";object="+k.label+";type=private",
				";object="+k.label+";type=public")
		}
	})

	certs := map[string]string{}
	certified := step(t, sc, "certtool --generate-self-signed (token RSA, ECDSA)", "certtool", ver("certtool"), func(t *testing.T) {
		needKeys(t)
		tmpl := writeFile(t, dir, "template", []byte(`cn = "localhost"
organization = "Keyward interop test"
dns_name = "localhost"
ip_address = "127.0.0.1"
serial = 1
expiration_days = 2
ca
tls_www_server
tls_www_client
signing_key
encryption_key
cert_signing_key
`), 0o644)
		for _, k := range keys {
			out := filepath.Join(dir, k.label+"-cert.pem")
			trace, traced := roundTripTrace(t, dir)
			mustRun(t, runOpts{env: append(o.env[:len(o.env):len(o.env)], trace)}, certtool, "--provider", mod,
				"--generate-self-signed", "--load-privkey", tk.uri(k.label), "--template", tmpl, "--outfile", out)
			// GnuTLS asks the signature's length (C_Sign with NULL), then signs: one round trip.
			wantDataTrips(t, "certtool self-signed certificate, "+k.kind, traced(), 1)
			checkSelfSigned(t, readCert(t, out), tk.public(t, k.label))
			certs[k.label] = out
		}
	})

	step(t, sc, "gnutls-serv with the token key + gnutls-cli handshake", "gnutls-serv/-cli",
		ver("gnutls-cli"),
		func(t *testing.T) {
			if !certified {
				t.Fatalf("needs the certificates of the certtool step, which failed")
			}
			serv := program(t, "gnutls-serv")
			cli := program(t, "gnutls-cli")
			for _, k := range keys {
				t.Run(k.kind, func(t *testing.T) {
					port := freePort(t)
					srv := startServer(t, env, serv, "--provider", mod, "--port", strconv.Itoa(port),
						"--x509certfile", certs[k.label], "--x509keyfile", tk.uri(k.label))
					srv.waitTCP(t, port)
					r := execProg(t, runOpts{env: env, stdin: []byte("GET / HTTP/1.0\r\n\r\n"), keepStdinOpen: true},
						cli, "--x509cafile", certs[k.label], "--port", strconv.Itoa(port), "localhost")
					if r.err != nil {
						t.Fatalf("gnutls-cli failed:\n%s\n--- gnutls-serv:\n%s", r, srv.output())
					}
					sig := map[string]string{"RSA": "(RSA-PSS-RSAE-SHA256)", "ECDSA": "(ECDSA-SECP256R1-SHA256)"}[k.kind]
					mustContain(t, r, r.stdout, "The certificate is trusted", "Handshake was completed", sig, "HTTP/1.0 200 OK")
					srv.stop()
				})
			}
		})
}
