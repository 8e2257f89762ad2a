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
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestProvision(t *testing.T) {
	initMu.Lock() // provisioning initialises a token
	defer initMu.Unlock()
	dir := t.TempDir()
	so := filepath.Join(dir, "so.pin")
	user := filepath.Join(dir, "user.pin")
	os.WriteFile(so, []byte("factory-so-pin\n"), 0o600)
	os.WriteFile(user, []byte("factory-user\n"), 0o600)
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Factory CA"}, IsCA: true, BasicConstraintsValid: true,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageCertSign}
	caDER, _ := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	os.WriteFile(filepath.Join(dir, "ca.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644)
	man := map[string]any{
		"tokens": []any{map[string]any{
			"label": "factory", "so-pin-source": so, "pin-source": user,
			"keys": []any{
				map[string]any{"label": "device-id", "id": "01", "type": "ec:p256",
					"csr": map[string]any{"subject": "CN=device-42,O=Acme", "san": []string{"dns:device-42.acme.example"}, "out": "device.csr"}},
				map[string]any{"label": "storage", "id": "02", "type": "aes:256"},
			},
			"certificates": []any{map[string]any{"file": filepath.Join(dir, "ca.pem")}},
		}},
	}
	b, _ := json.MarshalIndent(man, "", "  ")
	manPath := writeFileIn(t, dir, "factory.json", b)

	r := kw(t, nil, "provision", manPath)
	if r.code != 0 {
		t.Fatalf("provision: %+v", r)
	}
	var rep report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("report: %v in %q", err, r.stdout)
	}
	if !rep.Changed || len(rep.Tokens) != 1 || rep.Tokens[0].Serial == "" || rep.Tokens[0].Status != "created" || len(rep.Tokens[0].Keys) != 2 ||
		len(rep.Tokens[0].Certificates) != 1 {
		t.Fatalf("report: %+v", rep)
	}
	k := rep.Tokens[0].Keys[0]
	if k.URI != "pkcs11:token=factory;object=device-id;id=%01" || k.Status != "created" || !strings.Contains(k.PublicKey, "PUBLIC KEY") {
		t.Errorf("key report: %+v", k)
	}
	csrPEM, err := os.ReadFile(filepath.Join(dir, "device.csr"))
	if err != nil {
		t.Fatal(err)
	}
	cb, _ := pem.Decode(csrPEM)
	req, err := x509.ParseCertificateRequest(cb.Bytes)
	if err != nil || req.CheckSignature() != nil || req.Subject.CommonName != "device-42" {
		t.Fatalf("CSR: %v", err)
	}

	// a re-run changes nothing and says so
	r = kw(t, nil, "provision", manPath)
	if r.code != 0 || !strings.Contains(r.stderr, "nothing changed") {
		t.Fatalf("re-run: %+v", r)
	}
	var rep2 report
	json.Unmarshal([]byte(r.stdout), &rep2)
	if rep2.Changed || rep2.Tokens[0].Status != "exists" || rep2.Tokens[0].Keys[0].Status != "exists" || rep2.Tokens[0].Serial != rep.Tokens[0].Serial ||
		rep2.Tokens[0].Keys[0].PublicKey != k.PublicKey {
		t.Errorf("re-run report: %+v", rep2)
	}
	csr2, _ := os.ReadFile(filepath.Join(dir, "device.csr"))
	if string(csr2) != string(csrPEM) {
		t.Errorf("re-run rewrote the CSR")
	}

	// bad manifests are rejected before anything changes, with the file, line and reason
	bad := writeFileIn(t, dir, "bad.json", []byte("{\n  \"tokens\": [\n    {\"label\": \"x\",, }\n  ]\n}\n"))
	fails(t, kw(t, nil, "provision", bad), exitUsage, "bad.json:3:")
	unknown := writeFileIn(t, dir, "unknown.json", []byte(`{"tokens": [{"label": "x", "colour": "red"}]}`))
	fails(t, kw(t, nil, "provision", unknown), exitUsage, `unknown field "colour"`)
	man["tokens"].([]any)[0].(map[string]any)["label"] = "other"
	man["tokens"].([]any)[0].(map[string]any)["keys"].([]any)[1].(map[string]any)["type"] = "rsa:12"
	b, _ = json.Marshal(man)
	fails(t, kw(t, nil, "provision", writeFileIn(t, dir, "badtype.json", b)), exitUsage, `key "storage": unknown key type`)
	if ts, _ := json.Marshal(ok(t, nil, "token", "list")); strings.Contains(string(ts), "other") {
		t.Errorf("a rejected manifest created a token")
	}
	fails(t, kw(t, nil, "provision", writeFileIn(t, dir, "m.yaml", []byte("tokens: []\n"))), exitUsage, "m.yaml")
}

func writeFileIn(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
