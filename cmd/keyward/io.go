package main

import (
	"bytes"
	"cmp"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/pbkdf2"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"hash"
	"math/big"
	"strings"

	ck "github.com/keyward/keyward/pkg/cryptoki"
	"github.com/keyward/keyward/pkg/p11uri"
)

// ---- export ----

func (c *cli) cmdExport(args []string) error {
	f := c.newFlags("export", `usage: keyward export URI [--format pem|der] [--out FILE]

Exports a public key (SubjectPublicKeyInfo) or a certificate. A URI naming a key pair, or only its private
key, exports the public key; add ;type=cert for the certificate with the same label or id. Private and
secret key values never leave the token.

examples:
  keyward export 'pkcs11:token=dev;object=device-id' > device-id.pub.pem
  keyward export 'pkcs11:token=dev;object=device-id;type=cert' --format der --out device.crt`).withToken().withLogin()
	format := f.String("format", "pem", "pem or der")
	outPath := f.String("out", "", "output file (default: standard output)")
	u, _, err := f.parseURIArgs(args, 1, 1, "keyward export URI")
	if err != nil {
		return err
	}
	if *format != "pem" && *format != "der" {
		return usagef("export: --format must be pem or der")
	}
	if u.Type == p11uri.TypeSecretKey || u.Type == p11uri.TypeData {
		return usagef("export: only public keys and certificates can be exported (the URI has type=%s)", u.Type)
	}
	s, err := c.openFor(f, u, false, loginIfPIN)
	if err != nil {
		return err
	}
	defer s.close()
	objs, err := s.findURI(u, ck.CKO_PUBLIC_KEY, ck.CKO_PRIVATE_KEY, ck.CKO_CERTIFICATE)
	if err != nil {
		return err
	}
	byClass := map[ck.ObjectClass][]*object{}
	for _, o := range objs {
		byClass[o.class] = append(byClass[o.class], o)
	}
	var der []byte
	var pemType string
	pick := func(list []*object, what string) (*object, error) {
		if len(list) > 1 {
			return nil, failf("export: %d %ss match %s; narrow the URI (object=, id=)", len(list), what, u.String())
		}
		return list[0], nil
	}
	switch {
	case len(byClass[ck.CKO_PUBLIC_KEY]) > 0:
		o, err := pick(byClass[ck.CKO_PUBLIC_KEY], "public key")
		if err != nil {
			return err
		}
		if der, err = s.publicKey(o); err != nil {
			return failf("export: %v", err)
		}
		pemType = "PUBLIC KEY"
	case len(byClass[ck.CKO_PRIVATE_KEY]) > 0:
		o, err := pick(byClass[ck.CKO_PRIVATE_KEY], "private key")
		if err != nil {
			return err
		}
		if der, err = s.publicKey(o); err != nil {
			return failf("export: %v", err)
		}
		pemType = "PUBLIC KEY"
	case len(byClass[ck.CKO_CERTIFICATE]) > 0:
		o, err := pick(byClass[ck.CKO_CERTIFICATE], "certificate")
		if err != nil {
			return err
		}
		a, err := s.attrs(o.h, ck.CKA_VALUE)
		if err != nil {
			return err
		}
		if der = a[ck.CKA_VALUE]; len(der) == 0 {
			return failf("export: %s has no value", o.uri())
		}
		pemType = "CERTIFICATE"
	default:
		return notFound(s, u)
	}
	if *format == "pem" {
		der = pem.EncodeToMemory(&pem.Block{Type: pemType, Bytes: der})
	}
	return c.writeOutput(*outPath, der, false)
}

// ---- import ----

// importItems is what an input file holds.
type importItems struct {
	certs []*x509.Certificate
	priv  crypto.PrivateKey
	pub   crypto.PublicKey
	kinds []string // what was found, for messages
}

// parseImport reads PEM (any number of blocks) or a single DER value.
func (c *cli) parseImport(data []byte, passphrase func() ([]byte, error)) (*importItems, error) {
	if isPKCS12(data) {
		return parsePKCS12(data, passphrase)
	}
	it := &importItems{}
	if bytes.Contains(data, []byte("-----BEGIN ")) {
		rest := data
		for {
			var b *pem.Block
			b, rest = pem.Decode(rest)
			if b == nil {
				break
			}
			if err := it.addPEM(b, passphrase); err != nil {
				return nil, err
			}
		}
		if len(it.kinds) == 0 {
			return nil, failf("import: the PEM file holds no block keyward can read")
		}
		return it, nil
	}
	if err := it.addDER(data, passphrase); err != nil {
		return nil, err
	}
	return it, nil
}

func (it *importItems) setPriv(k crypto.PrivateKey, kind string) error {
	if it.priv != nil {
		return failf("import: the file holds more than one private key")
	}
	it.priv = k
	it.kinds = append(it.kinds, kind)
	return nil
}

func (it *importItems) addPEM(b *pem.Block, passphrase func() ([]byte, error)) error {
	der := b.Bytes
	//lint:ignore SA1019 legacy encrypted PEM (Proc-Type: 4,ENCRYPTED) is still what many tools write
	//lint:ignore SA1019 importing keys from legacy OpenSSL "Proc-Type: 4,ENCRYPTED" PEM files is a user need
	if x509.IsEncryptedPEMBlock(b) {
		pw, err := passphrase()
		if err != nil {
			return err
		}
		der, err = x509.DecryptPEMBlock(b, pw) //lint:ignore SA1019 as above: the file is the user's own, decrypted locally
		clear(pw)
		if err != nil {
			return authf("import: cannot decrypt the %s: wrong passphrase or damaged file", b.Type)
		}
	}
	switch b.Type {
	case "CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE":
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return failf("import: a CERTIFICATE block does not parse: %v", err)
		}
		it.certs = append(it.certs, cert)
		it.kinds = append(it.kinds, "certificate")
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			return failf("import: the PKCS#8 private key does not parse: %v", err)
		}
		return it.setPriv(k, "PKCS#8 private key")
	case "ENCRYPTED PRIVATE KEY":
		pw, err := passphrase()
		if err != nil {
			return err
		}
		plain, err := decryptPKCS8(der, pw)
		clear(pw)
		if err != nil {
			return err
		}
		k, err := x509.ParsePKCS8PrivateKey(plain)
		clear(plain)
		if err != nil {
			return authf("import: cannot decrypt the private key: wrong passphrase or damaged file")
		}
		return it.setPriv(k, "encrypted PKCS#8 private key")
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(der)
		if err != nil {
			return failf("import: the PKCS#1 RSA private key does not parse: %v", err)
		}
		return it.setPriv(k, "PKCS#1 RSA private key")
	case "EC PRIVATE KEY":
		k, err := x509.ParseECPrivateKey(der)
		if err != nil {
			return failf("import: the SEC1 EC private key does not parse: %v", err)
		}
		return it.setPriv(k, "SEC1 EC private key")
	case "PUBLIC KEY":
		k, err := x509.ParsePKIXPublicKey(der)
		if err != nil {
			return failf("import: the public key does not parse: %v", err)
		}
		it.pub = k
		it.kinds = append(it.kinds, "public key")
	case "RSA PUBLIC KEY":
		k, err := x509.ParsePKCS1PublicKey(der)
		if err != nil {
			return failf("import: the PKCS#1 RSA public key does not parse: %v", err)
		}
		it.pub = k
		it.kinds = append(it.kinds, "public key")
	case "EC PARAMETERS":
		// openssl ecparam -genkey writes these before the key: nothing to import.
	default:
		return failf("import: PEM blocks of type %q are not supported", b.Type)
	}
	return nil
}

func (it *importItems) addDER(der []byte, passphrase func() ([]byte, error)) error {
	if cert, err := x509.ParseCertificate(der); err == nil {
		it.certs = append(it.certs, cert)
		it.kinds = append(it.kinds, "certificate")
		return nil
	}
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		return it.setPriv(k, "PKCS#8 private key")
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return it.setPriv(k, "PKCS#1 RSA private key")
	}
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		return it.setPriv(k, "SEC1 EC private key")
	}
	if k, err := x509.ParsePKIXPublicKey(der); err == nil {
		it.pub = k
		it.kinds = append(it.kinds, "public key")
		return nil
	}
	if k, err := x509.ParsePKCS1PublicKey(der); err == nil {
		it.pub = k
		it.kinds = append(it.kinds, "public key")
		return nil
	}
	var epki encryptedPKI
	if rest, err := asn1.Unmarshal(der, &epki); err == nil && len(rest) == 0 && epki.Algo.Algorithm.Equal(oidPBES2) {
		return it.addPEM(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: der}, passphrase)
	}
	return failf("import: the file is neither PEM nor a DER certificate, private key or public key (for a raw secret use --type secret)")
}

// Encrypted PKCS#8 (RFC 5958, RFC 8018 PBES2 with PBKDF2 and AES-CBC), as openssl pkcs8 -topk8 writes.
var (
	oidPBES2      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBKDF2     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	oidHMACSHA1   = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 7}
	oidHMACSHA256 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9}
	oidHMACSHA384 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 10}
	oidHMACSHA512 = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 11}
	oidAES128CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 2}
	oidAES192CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 22}
	oidAES256CBC  = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
)

type algoID struct {
	Algorithm  asn1.ObjectIdentifier
	Parameters asn1.RawValue `asn1:"optional"`
}

type encryptedPKI struct {
	Algo algoID
	Data []byte
}

type pbes2Params struct {
	KDF algoID
	Enc algoID
}

type pbkdf2Params struct {
	Salt      []byte
	Iter      int
	KeyLength int    `asn1:"optional"`
	PRF       algoID `asn1:"optional"`
}

func decryptPKCS8(der, pw []byte) ([]byte, error) {
	unsupported := func(what string) ([]byte, error) {
		return nil, failf("import: encrypted private key: %s is not supported (re-encrypt with: openssl pkcs8 -topk8 -v2 aes-256-cbc)", what)
	}
	var e encryptedPKI
	if rest, err := asn1.Unmarshal(der, &e); err != nil || len(rest) != 0 {
		return nil, failf("import: the encrypted private key does not parse")
	}
	if !e.Algo.Algorithm.Equal(oidPBES2) {
		return unsupported(fmt.Sprintf("the encryption scheme %v", e.Algo.Algorithm))
	}
	var p pbes2Params
	if _, err := asn1.Unmarshal(e.Algo.Parameters.FullBytes, &p); err != nil {
		return nil, failf("import: the PBES2 parameters do not parse")
	}
	if !p.KDF.Algorithm.Equal(oidPBKDF2) {
		return unsupported(fmt.Sprintf("the key derivation %v (scrypt?)", p.KDF.Algorithm))
	}
	var kp pbkdf2Params
	if _, err := asn1.Unmarshal(p.KDF.Parameters.FullBytes, &kp); err != nil {
		return nil, failf("import: the PBKDF2 parameters do not parse")
	}
	var h func() hash.Hash
	switch prf := kp.PRF.Algorithm; {
	case len(prf) == 0 || prf.Equal(oidHMACSHA1):
		h = sha1.New
	case prf.Equal(oidHMACSHA256):
		h = sha256.New
	case prf.Equal(oidHMACSHA384):
		h = sha512.New384
	case prf.Equal(oidHMACSHA512):
		h = sha512.New
	default:
		return unsupported(fmt.Sprintf("the PBKDF2 PRF %v", prf))
	}
	var keyLen int
	switch {
	case p.Enc.Algorithm.Equal(oidAES128CBC):
		keyLen = 16
	case p.Enc.Algorithm.Equal(oidAES192CBC):
		keyLen = 24
	case p.Enc.Algorithm.Equal(oidAES256CBC):
		keyLen = 32
	default:
		return unsupported(fmt.Sprintf("the cipher %v", p.Enc.Algorithm))
	}
	var iv []byte
	if _, err := asn1.Unmarshal(p.Enc.Parameters.FullBytes, &iv); err != nil || len(iv) != aes.BlockSize {
		return nil, failf("import: the cipher's IV does not parse")
	}
	if kp.Iter <= 0 || kp.Iter > 10_000_000 {
		return nil, failf("import: PBKDF2 iteration count %d out of range", kp.Iter)
	}
	key, err := pbkdf2.Key(h, string(pw), kp.Salt, kp.Iter, keyLen)
	if err != nil {
		return nil, failf("import: deriving the key: %v", err)
	}
	block, _ := aes.NewCipher(key)
	clear(key)
	if len(e.Data) == 0 || len(e.Data)%aes.BlockSize != 0 {
		return nil, failf("import: the encrypted private key has a bad length")
	}
	plain := make([]byte, len(e.Data))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(plain, e.Data)
	n := int(plain[len(plain)-1])
	if n == 0 || n > aes.BlockSize || !bytes.Equal(plain[len(plain)-n:], bytes.Repeat([]byte{byte(n)}, n)) {
		clear(plain)
		return nil, authf("import: cannot decrypt the private key: wrong passphrase or damaged file")
	}
	return plain[:len(plain)-n], nil
}

func octetString(v []byte) []byte {
	b, _ := asn1.Marshal(v)
	return b
}

func curveOID(c elliptic.Curve) (asn1.ObjectIdentifier, error) {
	switch c {
	case elliptic.P256():
		return oidP256, nil
	case elliptic.P384():
		return oidP384, nil
	case elliptic.P521():
		return oidP521, nil
	}
	return nil, fmt.Errorf("the curve %s is not supported", c.Params().Name)
}

// keyTemplates returns the type-specific private and public key attributes of a Go key, and its default
// usages.
func keyTemplates(priv crypto.PrivateKey, pub crypto.PublicKey) (privT, pubT []ck.Attribute, usages []string, kt ck.KeyType, kind string, err error) {
	if priv != nil {
		switch k := priv.(type) {
		case *rsa.PrivateKey:
			k.Precompute()
			if len(k.Primes) != 2 {
				return nil, nil, nil, 0, "", failf("import: multi-prime RSA keys are not supported")
			}
			privT = []ck.Attribute{ck.NewAttribute(ck.CKA_KEY_TYPE, ck.CKK_RSA),
				ck.NewAttribute(ck.CKA_MODULUS, k.N.Bytes()), ck.NewAttribute(ck.CKA_PUBLIC_EXPONENT, big.NewInt(int64(k.E)).Bytes()),
				ck.NewAttribute(ck.CKA_PRIVATE_EXPONENT, k.D.Bytes()), ck.NewAttribute(ck.CKA_PRIME_1, k.Primes[0].Bytes()),
				ck.NewAttribute(ck.CKA_PRIME_2, k.Primes[1].Bytes()), ck.NewAttribute(ck.CKA_EXPONENT_1, k.Precomputed.Dp.Bytes()),
				ck.NewAttribute(ck.CKA_EXPONENT_2, k.Precomputed.Dq.Bytes()), ck.NewAttribute(ck.CKA_COEFFICIENT, k.Precomputed.Qinv.Bytes())}
			pub = &k.PublicKey
		case *ecdsa.PrivateKey:
			oid, err := curveOID(k.Curve)
			if err != nil {
				return nil, nil, nil, 0, "", failf("import: %v", err)
			}
			d := make([]byte, (k.Curve.Params().BitSize+7)/8)
			k.D.FillBytes(d) //lint:ignore SA1019 the scalar goes into CKA_VALUE; PrivateKey.Bytes needs Go 1.25
			privT = []ck.Attribute{ck.NewAttribute(ck.CKA_KEY_TYPE, ck.CKK_EC), ck.NewAttribute(ck.CKA_EC_PARAMS, oidParam(oid)),
				ck.NewAttribute(ck.CKA_VALUE, d)}
			pub = &k.PublicKey
		case ed25519.PrivateKey:
			privT = []ck.Attribute{ck.NewAttribute(ck.CKA_KEY_TYPE, ck.CKK_EC_EDWARDS), ck.NewAttribute(ck.CKA_EC_PARAMS, oidParam(oidEd25519)),
				ck.NewAttribute(ck.CKA_VALUE, bytes.Clone(k.Seed()))}
			pub = k.Public()
		case *ecdh.PrivateKey:
			if k.Curve() != ecdh.X25519() {
				return nil, nil, nil, 0, "", failf("import: ECDH private keys other than X25519 are not supported")
			}
			privT = []ck.Attribute{ck.NewAttribute(ck.CKA_KEY_TYPE, ck.CKK_EC_MONTGOMERY), ck.NewAttribute(ck.CKA_EC_PARAMS, oidParam(oidX25519)),
				ck.NewAttribute(ck.CKA_VALUE, k.Bytes())}
			pub = k.PublicKey()
		default:
			return nil, nil, nil, 0, "", failf("import: private keys of type %T are not supported", priv)
		}
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		pubT = []ck.Attribute{ck.NewAttribute(ck.CKA_KEY_TYPE, ck.CKK_RSA), ck.NewAttribute(ck.CKA_MODULUS, k.N.Bytes()),
			ck.NewAttribute(ck.CKA_PUBLIC_EXPONENT, big.NewInt(int64(k.E)).Bytes())}
		usages, kt, kind = []string{"sign", "verify", "encrypt", "decrypt"}, ck.CKK_RSA, "RSA"
	case *ecdsa.PublicKey:
		oid, err := curveOID(k.Curve)
		if err != nil {
			return nil, nil, nil, 0, "", failf("import: %v", err)
		}
		ek, err := k.ECDH()
		if err != nil {
			return nil, nil, nil, 0, "", failf("import: %v", err)
		}
		pubT = []ck.Attribute{ck.NewAttribute(ck.CKA_KEY_TYPE, ck.CKK_EC), ck.NewAttribute(ck.CKA_EC_PARAMS, oidParam(oid)),
			ck.NewAttribute(ck.CKA_EC_POINT, octetString(ek.Bytes()))}
		usages, kt, kind = []string{"sign", "verify"}, ck.CKK_EC, "EC"
	case ed25519.PublicKey:
		pubT = []ck.Attribute{ck.NewAttribute(ck.CKA_KEY_TYPE, ck.CKK_EC_EDWARDS), ck.NewAttribute(ck.CKA_EC_PARAMS, oidParam(oidEd25519)),
			ck.NewAttribute(ck.CKA_EC_POINT, octetString(k))}
		usages, kt, kind = []string{"sign", "verify"}, ck.CKK_EC_EDWARDS, "Ed25519"
	case *ecdh.PublicKey:
		if k.Curve() != ecdh.X25519() {
			return nil, nil, nil, 0, "", failf("import: ECDH public keys other than X25519 are not supported")
		}
		pubT = []ck.Attribute{ck.NewAttribute(ck.CKA_KEY_TYPE, ck.CKK_EC_MONTGOMERY), ck.NewAttribute(ck.CKA_EC_PARAMS, oidParam(oidX25519)),
			ck.NewAttribute(ck.CKA_EC_POINT, octetString(k.Bytes()))}
		usages, kt, kind = []string{"derive"}, ck.CKK_EC_MONTGOMERY, "X25519"
	default:
		return nil, nil, nil, 0, "", failf("import: public keys of type %T are not supported", pub)
	}
	return privT, pubT, usages, kt, kind, nil
}

type importJSON struct {
	Imported []objectJSON `json:"imported"`
}

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
		src := *passSource
		if *pwSource != "" {
			src = *pwSource
		}
		passphrase := func() ([]byte, error) {
			return c.getPIN(pinRequest{what: "passphrase", source: src, env: "KEYWARD_PASSPHRASE", prompt: true})
		}
		if items, err = c.parseImport(data, passphrase); err != nil {
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
	var created []*object
	existing := map[ck.ObjectHandle]bool{}
	have := func(o *object) {
		existing[o.h] = true
		created = append(created, o)
	}
	create := func(t []ck.Attribute, what string) error {
		h, err := s.cl.CreateObject(s.h, t)
		if err != nil {
			return ckErr(fmt.Sprintf("storing the %s on token %q", what, s.tok.label), err)
		}
		o, err := s.object(h)
		if err != nil {
			return err
		}
		created = append(created, o)
		return nil
	}
	flagsT := func(private bool) []ck.Attribute {
		return []ck.Attribute{ck.NewAttribute(ck.CKA_TOKEN, true), ck.NewAttribute(ck.CKA_PRIVATE, private && *kf.private)}
	}
	labelID := func(label string, id []byte) []ck.Attribute {
		var t []ck.Attribute
		if label != "" {
			t = append(t, ck.NewAttribute(ck.CKA_LABEL, label))
		}
		if len(id) > 0 {
			t = append(t, ck.NewAttribute(ck.CKA_ID, id))
		}
		return t
	}
	if *kind == "secret" {
		secret := data
		if *hexIn {
			if secret, err = hex.DecodeString(strings.TrimSpace(string(data))); err != nil {
				return failf("import: the file is not hexadecimal")
			}
		}
		kt := ck.CKK_GENERIC_SECRET
		def := []string{"sign", "verify"}
		switch *secretType {
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
		if usages == nil {
			usages = def
		}
		if err := checkUsages(map[ck.KeyType]string{ck.CKK_AES: "AES", ck.CKK_GENERIC_SECRET: "generic secret"}[kt], kt, usages); err != nil {
			return err
		}
		id := explicitID
		if id == nil {
			if id, err = kf.idBytes(); err != nil {
				return err
			}
		}
		t := append(append([]ck.Attribute{ck.NewAttribute(ck.CKA_CLASS, ck.CKO_SECRET_KEY), ck.NewAttribute(ck.CKA_KEY_TYPE, kt),
			ck.NewAttribute(ck.CKA_VALUE, bytes.Clone(secret)), ck.NewAttribute(ck.CKA_SENSITIVE, *kf.sensitive),
			ck.NewAttribute(ck.CKA_EXTRACTABLE, *kf.extractable)}, flagsT(true)...), labelID(*kf.label, id)...)
		t = append(t, usageTemplate(ck.CKO_SECRET_KEY, usages)...)
		if err := s.clash(ck.CKO_SECRET_KEY, *kf.label, explicitID, "secret key", *force); err != nil {
			return err
		}
		if err := create(t, "secret key"); err != nil {
			return err
		}
		return c.printCreated(s, created, existing, *f.json)
	}

	// keys
	keyLabel, keyID := *kf.label, explicitID
	if items.priv != nil || items.pub != nil {
		privT, pubT, def, kt, kind, err := keyTemplates(items.priv, items.pub)
		if err != nil {
			return err
		}
		if usages == nil {
			usages = def
		}
		if err := checkUsages(kind, kt, usages); err != nil {
			return err
		}
		if keyID == nil {
			if keyID, err = kf.idBytes(); err != nil {
				return err
			}
		}
		pub := items.pub
		if pub == nil {
			pub = items.priv.(interface{ Public() crypto.PublicKey }).Public()
		}
		spki := goSPKI(pub)
		var samePriv, samePub *object
		if items.priv != nil {
			if samePriv, err = s.sameKey(ck.CKO_PRIVATE_KEY, spki); err != nil {
				return err
			}
		}
		if samePub, err = s.sameKey(ck.CKO_PUBLIC_KEY, spki); err != nil {
			return err
		}
		if same := cmp.Or(samePriv, samePub); same != nil && explicitID == nil {
			keyID = same.id // the new half, and the certificate, pair with the key that is there
			if keyLabel == "" {
				keyLabel = same.label
			}
		}
		if samePriv != nil {
			have(samePriv)
		} else if items.priv != nil {
			if err := s.clash(ck.CKO_PRIVATE_KEY, keyLabel, explicitID, "private key", *force); err != nil {
				return err
			}
			t := append(append(append([]ck.Attribute{ck.NewAttribute(ck.CKA_CLASS, ck.CKO_PRIVATE_KEY),
				ck.NewAttribute(ck.CKA_SENSITIVE, *kf.sensitive), ck.NewAttribute(ck.CKA_EXTRACTABLE, *kf.extractable)},
				flagsT(true)...), labelID(keyLabel, keyID)...), privT...)
			t = append(t, usageTemplate(ck.CKO_PRIVATE_KEY, usages)...)
			if err := create(t, "private key"); err != nil {
				return err
			}
		}
		if samePub != nil && (items.pub != nil || !*noPublic) {
			have(samePub)
		} else if items.pub != nil || (items.priv != nil && !*noPublic) {
			if err := s.clash(ck.CKO_PUBLIC_KEY, keyLabel, explicitID, "public key", *force); err != nil {
				return err
			}
			t := append(append(append([]ck.Attribute{ck.NewAttribute(ck.CKA_CLASS, ck.CKO_PUBLIC_KEY)}, flagsT(false)...),
				labelID(keyLabel, keyID)...), pubT...)
			t = append(t, usageTemplate(ck.CKO_PUBLIC_KEY, usages)...)
			if err := create(t, "public key"); err != nil {
				return err
			}
		}
	}
	// certificates
	for i, cert := range items.certs {
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
			have(o)
			continue
		}
		var clashID []byte
		if i == 0 {
			clashID = explicitID
		}
		if err := s.clash(ck.CKO_CERTIFICATE, label, clashID, "certificate", *force); err != nil {
			return err
		}
		serial, _ := asn1.Marshal(cert.SerialNumber)
		t := append(append([]ck.Attribute{ck.NewAttribute(ck.CKA_CLASS, ck.CKO_CERTIFICATE),
			ck.NewAttribute(ck.CKA_CERTIFICATE_TYPE, ck.CKC_X_509), ck.NewAttribute(ck.CKA_VALUE, cert.Raw),
			ck.NewAttribute(ck.CKA_SUBJECT, cert.RawSubject), ck.NewAttribute(ck.CKA_ISSUER, cert.RawIssuer),
			ck.NewAttribute(ck.CKA_SERIAL_NUMBER, serial)}, flagsT(false)...), labelID(label, id)...)
		if err := create(t, "certificate"); err != nil {
			return err
		}
	}
	return c.printCreated(s, created, existing, *f.json)
}

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
