package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/asn1"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

func TestKeyGenerateListShowSetDelete(t *testing.T) {
	env := newToken(t, "tkeys")
	uri := strings.TrimSpace(ok(t, env, "key", "generate", "--token", "tkeys", "--type", "ec:p256", "--label", "dev", "--id", "01"))
	if uri != "pkcs11:token=tkeys;object=dev;id=%01" {
		t.Fatalf("key generate printed %q", uri)
	}
	fails(t, kw(t, env, "key", "generate", "--token", "tkeys", "--type", "ec:p256", "--label", "dup", "--id", "01"), exitFailed, "already has an object with id 01")

	types := map[string]string{
		"rsa:2048": "rsa:2048", "ec:p384": "ec:p384", "ed25519": "ed25519", "x25519": "x25519", "aes:256": "aes:256",
		"hmac:256": "hmac:256", "ml-dsa-65": "ml-dsa-65", "ml-kem-768": "ml-kem-768",
	}
	for typ, want := range types {
		var g generatedJSON
		out := ok(t, env, "key", "generate", "--token", "tkeys", "--type", typ, "--label", "k-"+typ, "--json")
		if err := json.Unmarshal([]byte(out), &g); err != nil {
			t.Fatalf("%s: %v in %q", typ, err, out)
		}
		if g.Type != want || !strings.HasPrefix(g.URI, "pkcs11:token=tkeys;object=k-") {
			t.Errorf("%s: %+v", typ, g)
		}
		if strings.HasPrefix(typ, "aes") || strings.HasPrefix(typ, "hmac") {
			if g.SecretURI == "" || !strings.Contains(g.URI, "type=secret-key") {
				t.Errorf("%s: secret key URI %+v", typ, g)
			}
			continue
		}
		if g.PrivateURI == "" || g.PublicURI == "" {
			t.Errorf("%s: pair URIs %+v", typ, g)
		}
		// every exported public key is a SubjectPublicKeyInfo; Go parses the classical ones
		pemOut := ok(t, env, "export", g.URI)
		b, _ := pem.Decode([]byte(pemOut))
		if b == nil || b.Type != "PUBLIC KEY" {
			t.Fatalf("%s: export %q", typ, pemOut)
		}
		var spki struct {
			Algo struct{ Algorithm asn1.ObjectIdentifier }
			Key  asn1.BitString
		}
		if _, err := asn1.Unmarshal(b.Bytes, &spki); err != nil {
			t.Errorf("%s: exported SPKI: %v", typ, err)
		}
		switch typ {
		case "rsa:2048", "ec:p384", "ed25519", "x25519":
			if _, err := x509.ParsePKIXPublicKey(b.Bytes); err != nil {
				t.Errorf("%s: exported public key does not parse: %v", typ, err)
			}
		case "ml-dsa-65":
			if !spki.Algo.Algorithm.Equal(oidMLDSA[2]) || len(spki.Key.Bytes) != 1952 {
				t.Errorf("ml-dsa-65 SPKI: %v, %d bytes", spki.Algo.Algorithm, len(spki.Key.Bytes))
			}
		case "ml-kem-768":
			if !spki.Algo.Algorithm.Equal(oidMLKEM[2]) || len(spki.Key.Bytes) != 1184 {
				t.Errorf("ml-kem-768 SPKI: %v, %d bytes", spki.Algo.Algorithm, len(spki.Key.Bytes))
			}
		}
	}
	fails(t, kw(t, env, "key", "generate", "--token", "tkeys", "--type", "dsa:1024", "--label", "x"), exitUsage, "unknown key type")
	fails(t, kw(t, env, "key", "generate", "--token", "tkeys", "--type", "ec:p256"), exitUsage, "--label is required")

	// export DER of the EC key parses as ECDSA P-256
	der := ok(t, env, "export", uri, "--format", "der")
	pub, err := x509.ParsePKIXPublicKey([]byte(der))
	if err != nil {
		t.Fatal(err)
	}
	if k, ok := pub.(*ecdsa.PublicKey); !ok || k.Curve.Params().Name != "P-256" {
		t.Fatalf("exported %T", pub)
	}
	fails(t, kw(t, env, "export", "pkcs11:token=tkeys;object=k-aes:256;type=secret-key"), exitUsage, "only public keys and certificates")

	// list: with the PIN, private keys show; without, only public objects
	var objs []objectJSON
	if err := json.Unmarshal([]byte(ok(t, env, "list", "pkcs11:token=tkeys;type=private", "--json")), &objs); err != nil {
		t.Fatal(err)
	}
	if len(objs) != 7 {
		t.Errorf("list type=private: %d objects, want 7: %+v", len(objs), objs)
	}
	for _, o := range objs {
		if o.Type != "private" || !strings.Contains(o.URI, "type=private") {
			t.Errorf("list entry %+v", o)
		}
	}
	table := ok(t, nil, "list", "--token", "tkeys")
	if strings.Contains(table, "private") || !strings.Contains(table, "public") || !strings.Contains(table, "pkcs11:token=tkeys;object=dev;type=public;id=%01") {
		t.Errorf("list without PIN:\n%s", table)
	}

	// show
	var shown []objectJSON
	if err := json.Unmarshal([]byte(ok(t, env, "show", uri+";type=private", "--json")), &shown); err != nil {
		t.Fatal(err)
	}
	if len(shown) != 1 || shown[0].KeyType != "ec:p256" || !contains(shown[0].Flags, "sensitive") || contains(shown[0].Flags, "extractable") ||
		!contains(shown[0].Usages, "sign") || len(shown[0].PublicKey) != 64 {
		t.Errorf("show: %+v", shown)
	}
	if out := ok(t, env, "show", uri); !strings.Contains(out, "key type:") || !strings.Contains(out, "ec:p256") {
		t.Errorf("show table: %q", out)
	}
	fails(t, kw(t, env, "show", "pkcs11:token=tkeys;object=nothing"), exitNotFound, "no object on token")

	// set --label renames both halves
	out := ok(t, env, "set", uri, "--label", "renamed")
	if !strings.Contains(out, "object=renamed;type=private") || !strings.Contains(out, "object=renamed;type=public") {
		t.Errorf("set: %q", out)
	}
	fails(t, kw(t, env, "show", uri), exitNotFound, "no object")
	renamed := "pkcs11:token=tkeys;object=renamed"
	fails(t, kw(t, env, "set", renamed), exitUsage, "nothing to change")

	// delete asks, refuses without a terminal, and deletes with --yes
	fails(t, kw(t, env, "delete", renamed), exitUsage, "add --yes")
	fails(t, kw(t, env, "delete", "pkcs11:token=tkeys"), exitUsage, "selects every object")
	out = ok(t, env, "delete", renamed, "--yes")
	if strings.Count(out, "deleted") != 2 {
		t.Errorf("delete: %q", out)
	}
	fails(t, kw(t, env, "show", renamed), exitNotFound, "no object")
	fails(t, kw(t, env, "delete", renamed, "--yes"), exitNotFound, "no object")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Listed usages are exactly a key's usages; a usage the key type cannot have is refused.
func TestKeyUsagesExact(t *testing.T) {
	env := newToken(t, "tusage")
	show := func(uri string) map[string][]string {
		t.Helper()
		var objs []objectJSON
		out := ok(t, env, "show", uri, "--json")
		if err := json.Unmarshal([]byte(out), &objs); err != nil {
			t.Fatalf("show: %v in %q", err, out)
		}
		m := map[string][]string{}
		for _, o := range objs {
			m[o.Type] = o.Usages
		}
		return m
	}
	cases := []struct {
		typ, usage string
		want       map[string]string
	}{
		{"rsa:2048", "sign", map[string]string{"private": "sign", "public": "verify"}},
		{"ec:p256", "derive", map[string]string{"private": "derive", "public": ""}},
		{"ec:p256", "sign", map[string]string{"private": "sign", "public": "verify"}},
		{"aes:128", "encrypt", map[string]string{"secret-key": "encrypt"}},
		{"hmac:256", "sign,verify", map[string]string{"secret-key": "sign,verify"}},
	}
	for i, tc := range cases {
		label := fmt.Sprintf("u%d", i)
		uri := strings.TrimSpace(ok(t, env, "key", "generate", "--token", "tusage", "--type", tc.typ, "--label", label, "--usage", tc.usage))
		got := show(strings.SplitN(uri, ";type=", 2)[0])
		for class, want := range tc.want {
			if strings.Join(got[class], ",") != want {
				t.Errorf("%s --usage %s: %s usages %v, want %q", tc.typ, tc.usage, class, got[class], want)
			}
		}
	}
	// the token refuses what the usages leave out: an RSA sign-only key does not decrypt
	ct := filepath.Join(t.TempDir(), "ct")
	fails(t, kw(t, env, "decrypt", "pkcs11:token=tusage;object=u0;type=private", "--in", writeFile(t, "in", make([]byte, 256)), "--out", ct), exitFailed, "")
	fails(t, kw(t, env, "key", "generate", "--token", "tusage", "--type", "ec:p256", "--label", "bad", "--usage", "encrypt"), exitUsage, "cannot encrypt")
	fails(t, kw(t, env, "key", "generate", "--token", "tusage", "--type", "ed25519", "--label", "bad", "--usage", "derive"), exitUsage, "cannot derive")
	fails(t, kw(t, env, "key", "generate", "--token", "tusage", "--type", "aes:256", "--label", "bad", "--usage", "encapsulate"), exitUsage, "cannot encapsulate")
	if out := strings.TrimSpace(ok(t, env, "list", "pkcs11:token=tusage;object=bad", "--json")); out != "[]" {
		t.Errorf("a refused key was created: %s", out)
	}
}

// Importing the same key or certificate twice reports the object that is there; a different key with the same
// label or id is refused unless --force; set --id refuses another key pair's id.
func TestImportDuplicates(t *testing.T) {
	env := newToken(t, "tdup")
	k1, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pemOf := func(k *ecdsa.PrivateKey) string {
		der, _ := x509.MarshalPKCS8PrivateKey(k)
		return writeFile(t, "k.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	}
	f1 := pemOf(k1)
	first := ok(t, env, "import", f1, "--token", "tdup", "--label", "dev", "--id", "01", "--json")
	r := kw(t, env, "import", f1, "--token", "tdup", "--label", "dev", "--id", "01", "--json")
	var imp importJSON
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &imp) != nil || len(imp.Imported) != 2 ||
		imp.Imported[0].Status != "exists" || imp.Imported[1].Status != "exists" {
		t.Fatalf("second import of the same key: %+v (first: %s)", r, first)
	}
	var objs []objectJSON
	json.Unmarshal([]byte(ok(t, env, "list", "pkcs11:token=tdup", "--json")), &objs)
	if len(objs) != 2 {
		t.Fatalf("after importing one key twice the token holds %d objects, want 2", len(objs))
	}
	f2 := pemOf(k2)
	fails(t, kw(t, env, "import", f2, "--token", "tdup", "--label", "dev", "--id", "02"), exitFailed, `different private key with label "dev"`)
	fails(t, kw(t, env, "import", f2, "--token", "tdup", "--label", "other", "--id", "01"), exitFailed, "different private key with id 01")
	ok(t, env, "import", f2, "--token", "tdup", "--label", "second", "--id", "02")
	fails(t, kw(t, env, "set", "pkcs11:token=tdup;object=second", "--id", "01"), exitFailed, "already has id 01")
	json.Unmarshal([]byte(ok(t, env, "list", "pkcs11:token=tdup;id=%01", "--json")), &objs)
	if len(objs) != 2 {
		t.Fatalf("a refused set changed ids: %d objects with id 01", len(objs))
	}
	ok(t, env, "set", "pkcs11:token=tdup;object=second", "--id", "01", "--force")
}
