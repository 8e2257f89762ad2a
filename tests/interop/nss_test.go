package interop

import (
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func init() {
	packageOf["modutil"] = "libnss3-tools"
	packageOf["certutil"] = "libnss3-tools"
}

// Scenario 11: NSS (Debian libnss3-tools). Keyward is added with `modutil -add` to a fresh NSS database of
// its own (sql: format) and `modutil -list` shows it with its token; `certutil -L -h <token>` lists the
// certificate stored on the token and `certutil -K -h <token>` its private keys (NSS logs in with the PIN from
// a -f password file); `certutil -R` makes a certificate request signed by each token key (RSA, EC), which
// `openssl req -verify` checks, and whose public key must be the token key's. certutil -R names the key by its
// CKA_ID (`-k 71`): by the certificate's nickname NSS would look for the key under a CKA_ID of its own making.
//
// The certificates are put on the token (CKO_CERTIFICATE, same CKA_ID and CKA_LABEL as the key) with
// `pkcs11-tool --write-object --type cert`, as a user would; NSS names them "<token>:<label>".
func TestNSS(t *testing.T) {
	const sc = "11 NSS"
	daemon(t)
	modutil := program(t, "modutil")
	certutil := program(t, "certutil")
	openssl := program(t, "openssl")
	version := func() string {
		// "2:3.87.1-1+deb12u4": the upstream version without the epoch and the Debian revision.
		v := debVersion("libnss3")
		if _, after, ok := strings.Cut(v, ":"); ok {
			v = after
		}
		v, _, _ = strings.Cut(v, "-")
		return "NSS " + v + " (libnss3-tools " + debVersion("libnss3-tools") + ")"
	}
	tk := newToken(t, "nss")
	keys := []struct{ label, id, keyType, kind string }{
		{"nss-rsa", "71", "rsa:2048", "rsa"},
		{"nss-ec", "72", "EC:prime256v1", "ec"},
	}
	dir := tmpDir(t)
	mod, spyEnv := moduleFor(t, "nss")
	o := runOpts{env: spyEnv}
	for _, k := range keys {
		tk.genKey(t, k.keyType, k.label, k.id)
		certPath, _ := tk.tokenCert(t, dir, k.label, "keyward-nss-"+k.label)
		b, _ := pem.Decode(readFile(t, certPath))
		der := writeFile(t, dir, k.label+"-cert.der", b.Bytes, 0o644)
		mustRun(t, runOpts{env: spyEnv}, program(t, "pkcs11-tool"), "--module", mod, "--token-label", tk.label, "--login",
			"--pin", userPIN, "--write-object", der, "--type", "cert", "--label", k.label, "--id", k.id)
	}
	db := "sql:" + filepath.Join(dir, "nssdb")
	pwfile := writeFile(t, dir, "pin.txt", []byte(userPIN+"\n"), 0o600)
	emptyPW := writeFile(t, dir, "empty.txt", []byte("\n"), 0o600)

	added := step(t, sc, "modutil -add (fresh sql: database) / -list", "modutil", version, func(t *testing.T) {
		// A fresh database; its own (internal) token gets an empty password, as a new browser profile's has.
		if err := os.Mkdir(filepath.Join(dir, "nssdb"), 0o700); err != nil {
			t.Fatal(err)
		}
		mustRun(t, o, certutil, "-N", "-d", db, "-f", emptyPW)
		mustRun(t, o, modutil, "-dbdir", db, "-add", "keyward", "-libfile", mod, "-force")
		r := mustRun(t, o, modutil, "-dbdir", db, "-list")
		mustContain(t, r, r.stdout, "keyward", "library name: "+mod, "token: "+tk.label)
		r = mustRun(t, o, modutil, "-dbdir", db, "-list", "keyward")
		mustContain(t, r, r.stdout, "Keyward", "Token Name: "+tk.label)
	})
	needAdded := func(t *testing.T) {
		if !added {
			t.Fatalf("needs the module added by the modutil step, which failed")
		}
	}

	step(t, sc, "certutil -L -h <token> (token's certificates)", "certutil", version, func(t *testing.T) {
		needAdded(t)
		r := mustRun(t, o, certutil, "-L", "-d", db, "-h", tk.label, "-f", pwfile)
		for _, k := range keys {
			mustContain(t, r, r.stdout, tk.label+":"+k.label)
		}
		// One certificate in detail: NSS read the right DER from the token.
		r = mustRun(t, o, certutil, "-L", "-d", db, "-h", tk.label, "-f", pwfile, "-n", tk.label+":nss-rsa", "-a")
		b, _ := pem.Decode([]byte(r.stdout))
		if b == nil {
			t.Fatalf("certutil -L -a printed no PEM certificate:\n%s", r)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatalf("the certificate certutil printed: %v", err)
		}
		checkSelfSigned(t, c, tk.public(t, "nss-rsa"))
	})

	step(t, sc, "certutil -K -h <token> (token's keys, PIN from -f)", "certutil", version, func(t *testing.T) {
		needAdded(t)
		r := mustRun(t, o, certutil, "-K", "-d", db, "-h", tk.label, "-f", pwfile)
		// "< 0> rsa      "q"      nss-rsa": index, key type, CKA_ID (quoted when printable, else hex), label.
		for _, k := range keys {
			id, _ := hex.DecodeString(k.id)
			found := false
			for _, line := range strings.Split(r.stdout, "\n") {
				_, rest, ok := strings.Cut(line, ">")
				f := strings.Fields(rest)
				if ok && len(f) >= 3 && f[0] == k.kind && (f[1] == `"`+string(id)+`"` || strings.EqualFold(f[1], k.id)) &&
					f[len(f)-1] == k.label {
					found = true
				}
			}
			if !found {
				t.Fatalf("certutil -K does not list the %s key %s (CKA_ID %s):\n%s", k.kind, k.label, k.id, r)
			}
		}
	})

	step(t, sc, "certutil -R (CSR signed by the token key) + openssl req -verify", "certutil", version, func(t *testing.T) {
		needAdded(t)
		for _, k := range keys {
			out := filepath.Join(dir, k.label+".csr")
			// -k names the key by its CKA_ID (what certutil -K shows). Its certificate's nickname would not do:
			// NSS finds the key of a certificate by a CKA_ID of its own making (the SHA-1 of the public key),
			// not by the certificate's CKA_ID.
			trace, traced := roundTripTrace(t, dir)
			mustRun(t, runOpts{env: append(o.env[:len(o.env):len(o.env)], trace)}, certutil, "-R", "-d", db, "-h", tk.label,
				"-f", pwfile, "-k", k.id, "-s", "CN=keyward-nss-csr-"+k.kind+",O=Keyward interop test", "-Z", "SHA256",
				"-a", "-o", out)
			wantDataTrips(t, "NSS certutil -R, "+k.kind, traced(), 1)
			r := mustRun(t, runOpts{}, openssl, "req", "-verify", "-noout", "-in", out)
			mustContain(t, r, r.stdout+r.stderr, "verify OK")
			data := readFile(t, out)
			b, _ := pem.Decode(data)
			if b == nil {
				t.Fatalf("certutil wrote no PEM request:\n%s", data)
			}
			csr, err := x509.ParseCertificateRequest(b.Bytes)
			if err != nil {
				t.Fatalf("parsing the request of %s: %v", k.label, err)
			}
			if err := csr.CheckSignature(); err != nil {
				t.Fatalf("the request's signature (made with %s on the token) does not verify: %v", k.label, err)
			}
			if !samePublic(csr.PublicKey, tk.public(t, k.label)) {
				t.Fatalf("the request of %s carries another public key than the token key's", k.label)
			}
		}
	})
}
