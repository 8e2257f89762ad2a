package interop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/pkg/client"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

const (
	soPIN   = "so-12345678"
	userPIN = "1234"
)

// token is a token this test binary initialised on the private daemon.
type token struct {
	label string
	slot  ck.SlotID
}

// newToken initialises the first free slot's token with label, SO PIN soPIN and user PIN userPIN (through
// pkg/client, as `keyward` or `pkcs11-tool --init-token --init-pin` would).
func newToken(t *testing.T, label string) *token {
	t.Helper()
	daemon(t)
	cl, err := client.Dial(daemonSocket)
	if err != nil {
		t.Fatalf("connecting to keywardd: %v", err)
	}
	defer cl.Close()
	slots, err := cl.GetSlotList(false)
	if err != nil {
		t.Fatalf("C_GetSlotList: %v", err)
	}
	var slot ck.SlotID
	found := false
	for _, s := range slots {
		ti, err := cl.GetTokenInfo(s)
		if err != nil {
			continue
		}
		if ti.Flags&ck.CKF_TOKEN_INITIALIZED == 0 {
			slot, found = s, true
			break
		}
	}
	if !found {
		t.Fatalf("keywardd offers no uninitialised slot among %v", slots)
	}
	padded := []byte(fmt.Sprintf("%-32s", label))
	if err := cl.InitToken(slot, []byte(soPIN), padded); err != nil {
		t.Fatalf("C_InitToken(slot %d, %q): %v", slot, label, err)
	}
	s, err := cl.OpenSession(slot, ck.CKF_SERIAL_SESSION|ck.CKF_RW_SESSION)
	if err != nil {
		t.Fatalf("C_OpenSession: %v", err)
	}
	defer cl.CloseSession(s)
	if err := cl.Login(s, ck.CKU_SO, []byte(soPIN)); err != nil {
		t.Fatalf("C_Login(SO): %v", err)
	}
	if err := cl.InitPIN(s, []byte(userPIN)); err != nil {
		t.Fatalf("C_InitPIN: %v", err)
	}
	cl.Logout(s)
	return &token{label: label, slot: slot}
}

// genKey makes a key pair on the token with OpenSC's pkcs11-tool: keyType is pkcs11-tool's --key-type
// ("rsa:2048", "EC:prime256v1"); the key's CKA_LABEL is label and its CKA_ID id (hex).
func (tk *token) genKey(t *testing.T, keyType, label, id string) {
	t.Helper()
	mod, env := moduleFor(t, "pkcs11-tool-keygen-"+label)
	mustRun(t, runOpts{env: env}, program(t, "pkcs11-tool"), "--module", mod, "--token-label", tk.label,
		"--login", "--pin", userPIN, "--keypairgen", "--key-type", keyType, "--label", label, "--id", id)
}

// uri is the RFC 7512 URI of the token's private key with the given label (without the PIN).
func (tk *token) uri(label string) string {
	return "pkcs11:token=" + uriEscape(tk.label) + ";object=" + uriEscape(label) + ";type=private"
}

// uriPIN is uri with the user PIN as pin-value.
func (tk *token) uriPIN(label string) string {
	return tk.uri(label) + "?pin-value=" + userPIN
}

func uriEscape(s string) string { return strings.ReplaceAll(url.PathEscape(s), ";", "%3B") }

// withSigner logs in to the token through pkg/client and calls f with the private key labelled label.
func (tk *token) withSigner(t *testing.T, label string, f func(*client.Signer)) {
	t.Helper()
	cl, err := client.Dial(daemonSocket)
	if err != nil {
		t.Fatalf("connecting to keywardd: %v", err)
	}
	defer cl.Close()
	tok, err := cl.OpenTokenSlot(tk.slot, []byte(userPIN))
	if err != nil {
		t.Fatalf("opening token %q: %v", tk.label, err)
	}
	defer tok.Close()
	s, err := tok.Signer(client.ByLabel(label))
	if err != nil {
		t.Fatalf("key %q on token %q: %v", label, tk.label, err)
	}
	f(s)
}

// public returns the public key of the token's key labelled label.
func (tk *token) public(t *testing.T, label string) crypto.PublicKey {
	t.Helper()
	var pub crypto.PublicKey
	tk.withSigner(t, label, func(s *client.Signer) { pub = s.Public() })
	return pub
}

// certTemplate is a certificate for localhost / 127.0.0.1, usable by TLS servers and clients.
func certTemplate(cn string, ca bool) *x509.Certificate {
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	return &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"Keyward interop test"}},
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(48 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  ca,
	}
}

// tokenCert makes a self-signed certificate for the token's key labelled label, signed on the token through
// pkg/client, and writes it as PEM into dir.
func (tk *token) tokenCert(t *testing.T, dir, label, cn string) (string, *x509.Certificate) {
	t.Helper()
	var der []byte
	tk.withSigner(t, label, func(s *client.Signer) {
		tmpl := certTemplate(cn, true)
		var err error
		der, err = x509.CreateCertificate(rand.Reader, tmpl, tmpl, s.Public(), s)
		if err != nil {
			t.Fatalf("signing a certificate with key %q on the token: %v", label, err)
		}
	})
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, dir, label+"-cert.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644), cert
}

// fileKeyCert makes an ECDSA P-256 key and a self-signed certificate in files (for the peer that does not use
// the token): it returns the certificate and key paths.
func fileKeyCert(t *testing.T, dir, name, cn string) (certPath, keyPath string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := certTemplate(cn, true)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPath = writeFile(t, dir, name+"-cert.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	keyPath = writeFile(t, dir, name+"-key.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk}), 0o600)
	return
}

// readCert reads a PEM certificate file.
func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data := readFile(t, path)
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "CERTIFICATE" {
		t.Fatalf("%s holds no PEM certificate:\n%s", path, data)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatalf("parsing %s: %v", path, err)
	}
	return c
}

// checkSelfSigned checks that a certificate carries the token key's public key and that its self-signature
// (made on the token) verifies.
func checkSelfSigned(t *testing.T, c *x509.Certificate, pub crypto.PublicKey) {
	t.Helper()
	if !samePublic(c.PublicKey, pub) {
		t.Fatalf("the certificate's public key is not the token key's")
	}
	if err := c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature); err != nil {
		t.Fatalf("the certificate's self-signature (%v, made with the token key) does not verify: %v", c.SignatureAlgorithm, err)
	}
}

func samePublic(a, b crypto.PublicKey) bool {
	type eq interface{ Equal(crypto.PublicKey) bool }
	ea, ok := a.(eq)
	return ok && ea.Equal(b)
}

// pubPEM writes a public key as a PEM SubjectPublicKeyInfo file.
func pubPEM(t *testing.T, dir, name string, pub crypto.PublicKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, dir, name, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644)
}

func rsaPub(t *testing.T, pub crypto.PublicKey) *rsa.PublicKey {
	t.Helper()
	k, ok := pub.(*rsa.PublicKey)
	if !ok {
		t.Fatalf("want an RSA public key, got %T", pub)
	}
	return k
}

func ecPub(t *testing.T, pub crypto.PublicKey) *ecdsa.PublicKey {
	t.Helper()
	k, ok := pub.(*ecdsa.PublicKey)
	if !ok {
		t.Fatalf("want an EC public key, got %T", pub)
	}
	return k
}

func tmpDir(t *testing.T) string {
	t.Helper()
	d, err := filepath.Abs(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return d
}
