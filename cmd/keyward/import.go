package main

import (
	"bytes"
	"cmp"
	"crypto"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"strings"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// keyward import in steps: read the file and detect its format (import_parse.go), build the key-type
// templates (import_templates.go), then create the objects: a raw secret, or a key pair's halves and the
// certificates. An object the token holds already is reported, not made twice (duplicates.go).

// importJSON is import --json: the objects imported, each with its status (created or exists).
type importJSON struct {
	Imported []objectJSON `json:"imported"`
}

// cmdImport is keyward import FILE.
func (c *cli) cmdImport(args []string) error {
	f := c.newFlags("import", `usage: keyward import FILE [--label LABEL] [--id HEX] [--type auto|secret] [flags]

Imports what FILE (or - for standard input) holds:
  - certificates and chains (PEM or DER X.509): the first certificate gets --label and --id; without them,
    those of the private key on the token whose public key it certifies; CA certificates of a chain are
    labelled with their subject's common name
  - private keys: PKCS#8 (also encrypted, PBES2 with AES), PKCS#1 RSA, SEC1 EC, legacy encrypted PEM; the
    public key is stored beside it (unless --no-public). Passphrase: --passphrase-source FILE,
    $KEYWARD_PASSPHRASE or a prompt
  - public keys (PEM/DER SubjectPublicKeyInfo, PKCS#1 RSA)
  - raw secrets with --type secret [--key-type aes|generic] [--hex]
  - PKCS#12 bundles (.p12/.pfx: a private key, its certificate and chain).
    Password: --password-source FILE, $KEYWARD_PASSPHRASE or a prompt
Prints the URIs of the new objects.

examples:
  keyward import device.key.pem --label device-id --id 01
  keyward import device.crt                       # finds its key on the token
  keyward import chain.pem --label tls --id 02
  keyward import bundle.p12 --password-source p12.pass --label device-id --id 01
  keyward import key.bin --type secret --key-type aes --label data-key`).withJSON().withToken().withPIN()
	kind := f.String("type", "auto", "auto, or secret for a raw secret key")
	secretType := f.String("key-type", "generic", "with --type secret: aes or generic (HMAC)")
	hexIn := f.Bool("hex", false, "with --type secret: the file holds the secret in hex")
	noPublic := f.Bool("no-public", false, "do not store the public key beside an imported private key")
	passSource := f.String("passphrase-source", "", "file holding the passphrase of an encrypted private key")
	pwSource := f.String("password-source", "", "file holding the password of a PKCS#12 bundle (same as --passphrase-source)")
	kf := addKeyFlags(f)
	force := f.Bool("force", false, "import even when a different object of the same kind has the label or id")
	pos, err := f.parseArgs(args, 1, 1, "keyward import FILE")
	if err != nil {
		return err
	}
	if *kind != "auto" && *kind != "secret" {
		return usagef("import: --type must be auto or secret")
	}
	var usages []string
	if *kf.usage != "" {
		if usages, err = parseUsages(*kf.usage); err != nil {
			return err
		}
	}
	data, err := c.readInput(pos[0])
	if err != nil {
		return err
	}
	defer clear(data)
	var items *importItems
	if *kind == "auto" {
		if items, err = c.parseImport(data, c.importPassphrase(*passSource, *pwSource)); err != nil {
			return err
		}
	}
	var explicitID []byte
	if *kf.id != "" {
		if explicitID, err = parseID(*kf.id); err != nil {
			return err
		}
	}
	s, err := c.openFor(f, nil, true, loginRequired)
	if err != nil {
		return err
	}
	defer s.close()
	im := &importer{s: s, kf: kf, usages: usages, explicitID: explicitID, force: *force, noPublic: *noPublic,
		existing: map[ck.ObjectHandle]bool{}}
	if *kind == "secret" {
		err = im.secret(data, *hexIn, *secretType)
	} else {
		err = im.keysAndCerts(items)
	}
	if err != nil {
		return err
	}
	return c.printCreated(s, im.objs, im.existing, *f.json)
}

// importPassphrase asks for the passphrase of an encrypted key or the password of a PKCS#12 bundle when
// the file turns out to need one: from --password-source, else --passphrase-source, else
// $KEYWARD_PASSPHRASE, else a prompt.
func (c *cli) importPassphrase(passSource, pwSource string) func() ([]byte, error) {
	src := passSource
	if pwSource != "" {
		src = pwSource
	}
	return func() ([]byte, error) {
		return c.getPIN(pinRequest{what: "passphrase", source: src, env: "KEYWARD_PASSPHRASE", prompt: true})
	}
}

// importer creates the objects of one import on the token and keeps them, in the order it prints them.
type importer struct {
	s          *session
	kf         *keyFlags
	usages     []string // --usage; nil: the key type's default
	explicitID []byte   // --id; nil when not given
	force      bool     // --force: a label or id another object has is no reason to refuse
	noPublic   bool     // --no-public
	objs       []*object
	existing   map[ck.ObjectHandle]bool // the objects of objs that were on the token already
}

// have keeps an object the token holds already.
func (im *importer) have(o *object) {
	im.existing[o.h] = true
	im.objs = append(im.objs, o)
}

// create stores an object (a what, for the error) and keeps it.
func (im *importer) create(t []ck.Attribute, what string) error {
	s := im.s
	h, err := s.cl.CreateObject(s.h, t)
	if err != nil {
		return ckErr(fmt.Sprintf("storing the %s on token %q", what, s.tok.label), err)
	}
	o, err := s.object(h)
	if err != nil {
		return err
	}
	im.objs = append(im.objs, o)
	return nil
}

// storage is the template part every imported object has: a token object, private when private and the
// flags allow (--private=false makes keys public objects).
func (im *importer) storage(private bool) []ck.Attribute {
	return []ck.Attribute{ck.NewAttribute(ck.CKA_TOKEN, true), ck.NewAttribute(ck.CKA_PRIVATE, private && *im.kf.private)}
}

// secret imports a raw secret (--type secret): an AES key or a generic (HMAC) secret.
func (im *importer) secret(data []byte, hexIn bool, secretType string) error {
	secret := data
	if hexIn {
		var err error
		if secret, err = hex.DecodeString(strings.TrimSpace(string(data))); err != nil {
			return failf("import: the file is not hexadecimal")
		}
	}
	kt := ck.CKK_GENERIC_SECRET
	def := []string{"sign", "verify"}
	switch secretType {
	case "aes":
		if n := len(secret); n != 16 && n != 24 && n != 32 {
			return failf("import: an AES key is 16, 24 or 32 bytes; the file has %d", n)
		}
		kt, def = ck.CKK_AES, []string{"encrypt", "decrypt", "wrap", "unwrap"}
	case "generic", "hmac":
		if len(secret) == 0 {
			return failf("import: the secret is empty")
		}
	default:
		return usagef("import: --key-type must be aes or generic")
	}
	usages := im.usagesOr(def)
	if err := checkUsages(map[ck.KeyType]string{ck.CKK_AES: "AES", ck.CKK_GENERIC_SECRET: "generic secret"}[kt], kt, usages); err != nil {
		return err
	}
	id, err := im.keyID()
	if err != nil {
		return err
	}
	kf := im.kf
	t := append(append([]ck.Attribute{ck.NewAttribute(ck.CKA_CLASS, ck.CKO_SECRET_KEY), ck.NewAttribute(ck.CKA_KEY_TYPE, kt),
		ck.NewAttribute(ck.CKA_VALUE, bytes.Clone(secret)), ck.NewAttribute(ck.CKA_SENSITIVE, *kf.sensitive),
		ck.NewAttribute(ck.CKA_EXTRACTABLE, *kf.extractable)}, im.storage(true)...), labelID(*kf.label, id)...)
	t = append(t, usageTemplate(ck.CKO_SECRET_KEY, usages)...)
	if err := im.s.clash(ck.CKO_SECRET_KEY, *kf.label, im.explicitID, "secret key", im.force); err != nil {
		return err
	}
	return im.create(t, "secret key")
}

// usagesOr is --usage, else the key type's default usages def.
func (im *importer) usagesOr(def []string) []string {
	if im.usages == nil {
		return def
	}
	return im.usages
}

// keyID is --id, else a random id.
func (im *importer) keyID() ([]byte, error) {
	if im.explicitID != nil {
		return im.explicitID, nil
	}
	return im.kf.idBytes()
}

// keysAndCerts imports what a file held: its key (the private key and its public half, or a public key),
// then its certificates, the first with the key's label and id.
func (im *importer) keysAndCerts(items *importItems) error {
	label, id := *im.kf.label, im.explicitID
	if items.priv != nil || items.pub != nil {
		var err error
		if label, id, err = im.key(items.priv, items.pub); err != nil {
			return err
		}
	}
	return im.certs(items.certs, label, id)
}

// key imports a private key and its public half (unless --no-public), or a public key, and returns the
// label and id the key's certificate takes: those of the key already on the token when it is there.
func (im *importer) key(priv crypto.PrivateKey, pub crypto.PublicKey) (string, []byte, error) {
	s, kf := im.s, im.kf
	keyLabel, pubGiven := *kf.label, pub != nil
	privT, pubT, def, kt, kind, err := keyTemplates(priv, pub)
	if err != nil {
		return "", nil, err
	}
	usages := im.usagesOr(def)
	if err := checkUsages(kind, kt, usages); err != nil {
		return "", nil, err
	}
	keyID, err := im.keyID()
	if err != nil {
		return "", nil, err
	}
	if pub == nil {
		pub = priv.(interface{ Public() crypto.PublicKey }).Public()
	}
	spki := goSPKI(pub)
	var samePriv, samePub *object
	if priv != nil {
		if samePriv, err = s.sameKey(ck.CKO_PRIVATE_KEY, spki); err != nil {
			return "", nil, err
		}
	}
	if samePub, err = s.sameKey(ck.CKO_PUBLIC_KEY, spki); err != nil {
		return "", nil, err
	}
	if same := cmp.Or(samePriv, samePub); same != nil && im.explicitID == nil {
		keyID = same.id // the new half, and the certificate, pair with the key that is there
		if keyLabel == "" {
			keyLabel = same.label
		}
	}
	if samePriv != nil {
		im.have(samePriv)
	} else if priv != nil {
		if err := s.clash(ck.CKO_PRIVATE_KEY, keyLabel, im.explicitID, "private key", im.force); err != nil {
			return "", nil, err
		}
		t := append(append(append([]ck.Attribute{ck.NewAttribute(ck.CKA_CLASS, ck.CKO_PRIVATE_KEY),
			ck.NewAttribute(ck.CKA_SENSITIVE, *kf.sensitive), ck.NewAttribute(ck.CKA_EXTRACTABLE, *kf.extractable)},
			im.storage(true)...), labelID(keyLabel, keyID)...), privT...)
		t = append(t, usageTemplate(ck.CKO_PRIVATE_KEY, usages)...)
		if err := im.create(t, "private key"); err != nil {
			return "", nil, err
		}
	}
	if samePub != nil && (pubGiven || !im.noPublic) {
		im.have(samePub)
	} else if pubGiven || (priv != nil && !im.noPublic) {
		if err := s.clash(ck.CKO_PUBLIC_KEY, keyLabel, im.explicitID, "public key", im.force); err != nil {
			return "", nil, err
		}
		t := append(append(append([]ck.Attribute{ck.NewAttribute(ck.CKA_CLASS, ck.CKO_PUBLIC_KEY)}, im.storage(false)...),
			labelID(keyLabel, keyID)...), pubT...)
		t = append(t, usageTemplate(ck.CKO_PUBLIC_KEY, usages)...)
		if err := im.create(t, "public key"); err != nil {
			return "", nil, err
		}
	}
	return keyLabel, keyID, nil
}

// certs imports certificates: the first with the key's label and id (else those of the key on the token
// it certifies, else its subject's common name as the label), the others of a chain by their subject.
func (im *importer) certs(certs []*x509.Certificate, keyLabel string, keyID []byte) error {
	s := im.s
	for i, cert := range certs {
		label, id := "", []byte(nil)
		if i == 0 {
			label, id = keyLabel, keyID
			if len(id) == 0 || label == "" {
				if k := s.keyForCert(cert); k != nil {
					if len(id) == 0 {
						id = k.id
					}
					if label == "" {
						label = k.label
					}
				}
			}
			if label == "" {
				label = cert.Subject.CommonName
			}
		} else {
			label, id = cert.Subject.CommonName, cert.SubjectKeyId
			if label == "" {
				label = cert.Subject.String()
			}
		}
		if o, err := s.sameCert(cert.Raw); err != nil {
			return err
		} else if o != nil {
			im.have(o)
			continue
		}
		var clashID []byte
		if i == 0 {
			clashID = im.explicitID
		}
		if err := s.clash(ck.CKO_CERTIFICATE, label, clashID, "certificate", im.force); err != nil {
			return err
		}
		if err := im.create(certTemplate(cert, label, id), "certificate"); err != nil {
			return err
		}
	}
	return nil
}

// printCreated prints the URIs of the imported objects (as JSON with --json); those the token held already
// are named on standard error.
func (c *cli) printCreated(s *session, objs []*object, existing map[ck.ObjectHandle]bool, asJSON bool) error {
	if asJSON {
		out := importJSON{Imported: []objectJSON{}}
		for _, o := range objs {
			j := s.summary(o, false)
			j.Status = "created"
			if existing[o.h] {
				j.Status = "exists"
			}
			out.Imported = append(out.Imported, j)
		}
		return c.printJSON(out)
	}
	for _, o := range objs {
		if existing[o.h] {
			fmt.Fprintln(c.stderr, "keyward: import: already on the token, not imported again:", o.uri())
		}
		fmt.Fprintln(c.stdout, o.uri())
	}
	return nil
}

// keyForCert finds the key on the token whose public key the certificate certifies.
func (s *session) keyForCert(cert *x509.Certificate) *object {
	for _, class := range []ck.ObjectClass{ck.CKO_PRIVATE_KEY, ck.CKO_PUBLIC_KEY} {
		objs, err := s.find([]ck.Attribute{ck.NewAttribute(ck.CKA_CLASS, class)})
		if err != nil {
			continue
		}
		for _, o := range objs {
			if spki, err := s.publicKey(o); err == nil && bytes.Equal(spki, cert.RawSubjectPublicKeyInfo) {
				return o
			}
		}
	}
	return nil
}
