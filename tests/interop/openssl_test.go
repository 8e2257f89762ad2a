package interop

//lint:file-ignore SA1019 the tests check CKM_RSA_PKCS, a PKCS#11 mechanism, against Go

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// opensslEngineConf writes an OpenSSL configuration that loads libp11's pkcs11 engine with the given module
// (what a user puts in openssl.cnf), and returns its path.
func opensslEngineConf(t *testing.T, dir, module string) string {
	t.Helper()
	openssl := program(t, "openssl")
	r := mustRun(t, runOpts{}, openssl, "version", "-e")
	// ENGINESDIR: "/usr/lib/x86_64-linux-gnu/engines-3"
	_, q, _ := strings.Cut(r.stdout, `"`)
	enginesDir, _, _ := strings.Cut(q, `"`)
	engine := systemFile(t, "libp11's OpenSSL engine pkcs11.so", "libengine-pkcs11-openssl",
		filepath.Join(enginesDir, "pkcs11.so"), "/usr/lib/*/engines-3/pkcs11.so")
	conf := fmt.Sprintf(`openssl_conf = openssl_init

[openssl_init]
engines = engine_section

[engine_section]
pkcs11 = pkcs11_section

[pkcs11_section]
engine_id = pkcs11
dynamic_path = %s
MODULE_PATH = %s
init = 0
`, engine, module)
	return writeFile(t, dir, "openssl.cnf", []byte(conf), 0o644)
}

// Scenario 4: OpenSSL 3 with libp11's pkcs11 engine (Debian libengine-pkcs11-openssl), keys named by pkcs11:
// URIs with the PIN as pin-value: `openssl req -x509` with an RSA and an EC token key; `openssl pkeyutl -sign`
// (RSA PKCS#1 v1.5 and PSS, ECDSA), `-decrypt` (RSA PKCS#1 v1.5 and OAEP) and `-derive` (ECDH, the EC
// counterpart of decryption), each checked against the token's public key in Go; `openssl s_server` with each
// token key and an `s_client` handshake that verifies the server's certificate.
func TestOpenSSL(t *testing.T) {
	const sc = "4 OpenSSL+libp11"
	daemon(t)
	openssl := program(t, "openssl")
	version := func() string {
		v := progVersion("openssl", "version")
		if e := debVersion("libengine-pkcs11-openssl"); e != "" {
			v += " + libp11 (libengine-pkcs11-openssl " + e + ")"
		}
		return v
	}
	tk := newToken(t, "openssl")
	tk.addUnusualKeys(t) // a mixed token: libp11 must still find its RSA and EC keys
	tk.genKey(t, "rsa:2048", "ossl-rsa", "41")
	tk.genKey(t, "EC:prime256v1", "ossl-ec", "42")
	rsaKey := rsaPub(t, tk.public(t, "ossl-rsa"))
	ecKey := ecPub(t, tk.public(t, "ossl-ec"))

	dir := tmpDir(t)
	mod, spyEnv := moduleFor(t, "openssl")
	conf := opensslEngineConf(t, dir, mod)
	env := append([]string{"OPENSSL_CONF=" + conf}, spyEnv...)
	o := runOpts{env: env}
	eng := []string{"-engine", "pkcs11", "-keyform", "engine"}

	step(t, sc, "req -x509 (token RSA, EC)", "openssl", version, func(t *testing.T) {
		for _, k := range []struct {
			label string
			pub   crypto.PublicKey
		}{{"ossl-rsa", rsaKey}, {"ossl-ec", ecKey}} {
			out := filepath.Join(dir, k.label+"-req.pem")
			args := append([]string{"req", "-x509"}, eng...)
			mustRun(t, o, openssl, append(args, "-key", tk.uriPIN(k.label), "-sha256", "-days", "2",
				"-subj", "/CN=localhost/O=Keyward interop test", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
				"-out", out)...)
			checkSelfSigned(t, readCert(t, out), k.pub)
		}
	})

	data := []byte("a message signed with a key that openssl never sees\n")
	digest := sha256.Sum256(data)
	digestFile := writeFile(t, dir, "digest.bin", digest[:], 0o644)

	step(t, sc, "pkeyutl -sign (RSA PKCS#1, RSA-PSS, ECDSA)", "openssl", version, func(t *testing.T) {
		sign := func(label, name string, opts ...string) []byte {
			out := filepath.Join(dir, name+".sig")
			args := append([]string{"pkeyutl", "-sign"}, eng...)
			args = append(args, "-inkey", tk.uriPIN(label), "-in", digestFile, "-out", out, "-pkeyopt", "digest:sha256")
			for _, op := range opts {
				args = append(args, "-pkeyopt", op)
			}
			trace, traced := roundTripTrace(t, dir)
			mustRun(t, runOpts{env: append(o.env[:len(o.env):len(o.env)], trace)}, openssl, args...)
			wantDataTrips(t, "libp11 "+name+" signature", traced(), 1)
			return readFile(t, out)
		}
		if err := rsa.VerifyPKCS1v15(rsaKey, crypto.SHA256, digest[:], sign("ossl-rsa", "pkcs1")); err != nil {
			t.Errorf("RSA PKCS#1 v1.5 signature from openssl does not verify: %v", err)
		}
		pss := sign("ossl-rsa", "pss", "rsa_padding_mode:pss", "rsa_pss_saltlen:32")
		if err := rsa.VerifyPSS(rsaKey, crypto.SHA256, digest[:], pss, &rsa.PSSOptions{SaltLength: 32}); err != nil {
			t.Errorf("RSA-PSS signature from openssl does not verify: %v", err)
		}
		if !ecdsa.VerifyASN1(ecKey, digest[:], sign("ossl-ec", "ecdsa")) {
			t.Errorf("ECDSA signature from openssl does not verify")
		}
	})

	step(t, sc, "pkeyutl -decrypt (RSA PKCS#1, OAEP) / -derive (ECDH)", "openssl", version, func(t *testing.T) {
		secret := make([]byte, 32)
		rand.Read(secret)
		decrypt := func(name string, ct []byte, opts ...string) {
			t.Helper()
			in := writeFile(t, dir, name+".enc", ct, 0o644)
			out := filepath.Join(dir, name+".dec")
			args := append([]string{"pkeyutl", "-decrypt"}, eng...)
			args = append(args, "-inkey", tk.uriPIN("ossl-rsa"), "-in", in, "-out", out)
			for _, op := range opts {
				args = append(args, "-pkeyopt", op)
			}
			mustRun(t, o, openssl, args...)
			if got := readFile(t, out); !bytes.Equal(got, secret) {
				t.Errorf("%s: openssl decrypted %x, want %x", name, got, secret)
			}
		}
		ct, err := rsa.EncryptPKCS1v15(rand.Reader, rsaKey, secret)
		if err != nil {
			t.Fatal(err)
		}
		decrypt("pkcs1", ct)
		ct, err = rsa.EncryptOAEP(sha256.New(), rand.Reader, rsaKey, secret, nil)
		if err != nil {
			t.Fatal(err)
		}
		decrypt("oaep", ct, "rsa_padding_mode:oaep", "rsa_oaep_md:sha256", "rsa_mgf1_md:sha256")

		// ECDH: the token's EC key with a peer key made here.
		peer, err := ecdh.P256().GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		peerPub := pubPEM(t, dir, "peer-pub.pem", mustECDSAPub(t, peer.PublicKey()))
		out := filepath.Join(dir, "ecdh.bin")
		args := append([]string{"pkeyutl", "-derive"}, eng...)
		mustRun(t, o, openssl, append(args, "-inkey", tk.uriPIN("ossl-ec"), "-peerkey", peerPub, "-out", out)...)
		tokenPub, err := ecKey.ECDH()
		if err != nil {
			t.Fatal(err)
		}
		want, err := peer.ECDH(tokenPub)
		if err != nil {
			t.Fatal(err)
		}
		if got := readFile(t, out); !bytes.Equal(got, want) {
			t.Errorf("ECDH: openssl derived %x, want %x", got, want)
		}
	})

	step(t, sc, "s_server with the token key + s_client handshake", "openssl", version, func(t *testing.T) {
		for _, k := range []struct{ label, kind, sig string }{
			{"ossl-rsa", "RSA", "Peer signature type: RSA-PSS"},
			{"ossl-ec", "EC", "Peer signature type: ECDSA"},
		} {
			t.Run(k.kind, func(t *testing.T) {
				cert, _ := tk.tokenCert(t, dir, k.label, "localhost")
				port := freePort(t)
				args := append([]string{"s_server"}, eng...)
				srv := startServer(t, env, openssl, append(args, "-key", tk.uriPIN(k.label), "-cert", cert,
					"-accept", "127.0.0.1:"+strconv.Itoa(port), "-www")...)
				srv.waitTCP(t, port)
				// The client needs no engine: it only checks the server.
				r := execProg(t, runOpts{stdin: []byte("GET / HTTP/1.0\r\n\r\n"), keepStdinOpen: true}, openssl, "s_client",
					"-connect", "127.0.0.1:"+strconv.Itoa(port), "-CAfile", cert, "-verify_return_error",
					"-servername", "localhost", "-verify_hostname", "localhost")
				if r.err != nil {
					t.Fatalf("s_client failed:\n%s\n--- s_server:\n%s", r, srv.output())
				}
				mustContain(t, r, r.stdout, "Verify return code: 0 (ok)", k.sig, "HTTP/1.0 200 ok")
				srv.stop()
			})
		}
	})
}

// mustECDSAPub converts an ECDH public key to the equivalent ECDSA one (for its PKIX encoding).
func mustECDSAPub(t *testing.T, pub *ecdh.PublicKey) *ecdsa.PublicKey {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		t.Fatal(err)
	}
	return k.(*ecdsa.PublicKey)
}
