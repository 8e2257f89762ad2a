package interop

import (
	"strconv"
	"strings"
	"testing"
)

// Scenario 7 (curl): curl authenticates to an HTTPS server on loopback with a client key in the token, named
// by a pkcs11: URI in --key. Debian's curl is built with OpenSSL, which loads such keys through libp11's
// pkcs11 engine (curl selects the engine by itself for a pkcs11: key). The server is `openssl s_server -Verify`
// with a file key: it requires a client certificate from the token key's self-signed certificate, and its
// -www page shows the certificate it got. RSA and EC client keys; a control run without the client key must
// be refused.
func TestCurl(t *testing.T) {
	const sc = "7 curl"
	daemon(t)
	curl := program(t, "curl")
	openssl := program(t, "openssl")
	version := func() string { return progVersion("curl", "--version") }
	tk := newToken(t, "curl")
	tk.addUnusualKeys(t) // a mixed token
	keys := []struct{ label, id, kind, keyType string }{
		{"curl-rsa", "61", "RSA", "rsa:2048"},
		{"curl-ec", "62", "EC", "EC:prime256v1"},
	}
	dir := tmpDir(t)
	var bundle []byte
	certs := map[string]string{}
	for _, k := range keys {
		tk.genKey(t, k.keyType, k.label, k.id)
		path, _ := tk.tokenCert(t, dir, k.label, "keyward-client-"+k.label)
		certs[k.label] = path
		bundle = append(bundle, readFile(t, path)...)
	}
	clientCAs := writeFile(t, dir, "client-cas.pem", bundle, 0o644)
	srvCert, srvKey := fileKeyCert(t, dir, "server", "localhost")

	mod, spyEnv := moduleFor(t, "curl")
	env := append([]string{"OPENSSL_CONF=" + opensslEngineConf(t, dir, mod)}, spyEnv...)

	port := freePort(t)
	srv := startServer(t, nil, openssl, "s_server", "-accept", "127.0.0.1:"+strconv.Itoa(port), "-cert", srvCert,
		"-key", srvKey, "-Verify", "1", "-verify_return_error", "-CAfile", clientCAs, "-www")
	srv.waitTCP(t, port)
	url := "https://localhost:" + strconv.Itoa(port) + "/"
	base := []string{"--silent", "--show-error", "--fail", "--max-time", "20", "--resolve",
		"localhost:" + strconv.Itoa(port) + ":127.0.0.1", "--cacert", srvCert}

	step(t, sc, "curl --key pkcs11: URI, server requires a client cert (RSA, EC)", "curl", version, func(t *testing.T) {
		for _, k := range keys {
			t.Run(k.kind, func(t *testing.T) {
				r := execProg(t, runOpts{env: env}, curl, append(base, "--cert", certs[k.label], "--key", tk.uriPIN(k.label), url)...)
				if r.err != nil {
					t.Fatalf("curl with the token key failed:\n%s\n--- s_server:\n%s", r, srv.output())
				}
				mustContain(t, r, r.stdout, "Client certificate", "CN=keyward-client-"+k.label)
			})
		}
		// The control: without a client key the server refuses the handshake.
		r := execProg(t, runOpts{env: env}, curl, append(base, url)...)
		if r.err == nil || strings.Contains(r.stdout, "Client certificate") {
			t.Fatalf("control: the server accepted a client without a certificate, so the test proves nothing:\n%s", r)
		}
	})
}
