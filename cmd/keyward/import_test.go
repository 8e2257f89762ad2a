package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"
)

// TestImportSteps runs each branch of import's object step: which halves of a key pair it stores (a public
// key the file holds is stored even with --no-public), the id and label a re-imported key keeps, and the
// certificate that takes its key's label and id.
func TestImportSteps(t *testing.T) {
	env := newToken(t, "tsteps")
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	privDER, _ := x509.MarshalPKCS8PrivateKey(key)
	pubDER, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	privPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER})
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "steps-cn"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	certDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	imported := func(args ...string) []string {
		t.Helper()
		var imp importJSON
		out := ok(t, env, append(append([]string{"import"}, args...), "--token", "tsteps", "--json")...)
		if err := json.Unmarshal([]byte(out), &imp); err != nil {
			t.Fatalf("import %v: %v in %q", args, err, out)
		}
		var got []string
		for _, o := range imp.Imported {
			got = append(got, o.Type+" "+o.Label+" "+o.ID+" "+o.Status)
		}
		return got
	}
	check := func(what string, got []string, want ...string) {
		t.Helper()
		if strings.Join(got, "; ") != strings.Join(want, "; ") {
			t.Errorf("%s: imported %q, want %q", what, got, want)
		}
	}
	check("a private key with --no-public",
		imported(writeFile(t, "k.pem", privPEM), "--label", "k", "--id", "0a", "--no-public"),
		"private k 0a created")
	check("the same key again, with its public key and no label or id",
		imported(writeFile(t, "kp.pem", append(append([]byte{}, privPEM...), pubPEM...)), "--no-public"),
		"private k 0a exists", "public k 0a created")
	check("the public key alone with --no-public",
		imported(writeFile(t, "p.pem", pubPEM), "--no-public"),
		"public k 0a exists")
	check("the certificate, which takes its key's label and id",
		imported(writeFile(t, "c.der", certDER)),
		"cert k 0a created")
	check("a raw secret with --usage",
		imported(writeFile(t, "s.hex", []byte("00112233445566778899aabbccddeeff\n")), "--type", "secret", "--key-type", "aes", "--hex", "--label", "s", "--id", "0b", "--usage", "encrypt"),
		"secret-key s 0b created")
	fails(t, kw(t, env, "import", writeFile(t, "s.bin", []byte("x")), "--type", "secret", "--key-type", "des", "--token", "tsteps"), exitUsage, "import: --key-type must be aes or generic")
	fails(t, kw(t, env, "import", writeFile(t, "s.bin", []byte("x")), "--type", "raw", "--token", "tsteps"), exitUsage, "import: --type must be auto or secret")
}
