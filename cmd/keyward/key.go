package main

import (
	"crypto/rand"
	"encoding/asn1"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	ck "github.com/keyward/keyward/pkg/cryptoki"
	"github.com/keyward/keyward/pkg/p11uri"
)

// keySpec is a key type the CLI generates.
type keySpec struct {
	name    string
	mech    ck.MechanismType
	keyType ck.KeyType
	pair    bool
	pub     []ck.Attribute // type-specific public (or secret) template attributes
	priv    []ck.Attribute // type-specific private template attributes
	usages  []string       // default usages
}

var (
	oidP256    = asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}
	oidP384    = asn1.ObjectIdentifier{1, 3, 132, 0, 34}
	oidP521    = asn1.ObjectIdentifier{1, 3, 132, 0, 35}
	oidX25519  = asn1.ObjectIdentifier{1, 3, 101, 110}
	oidX448    = asn1.ObjectIdentifier{1, 3, 101, 111}
	oidEd25519 = asn1.ObjectIdentifier{1, 3, 101, 112}
	oidEd448   = asn1.ObjectIdentifier{1, 3, 101, 113}
)

func oidParam(oid asn1.ObjectIdentifier) []byte {
	b, err := asn1.Marshal(oid)
	if err != nil {
		panic(err)
	}
	return b
}

const keyTypesHelp = `key types:
  rsa:2048 rsa:3072 rsa:4096           RSA (sign, verify, encrypt, decrypt)
  ec:p256 ec:p384 ec:p521              ECDSA / ECDH on the NIST curves (sign, verify, derive)
  ed25519 ed448                        EdDSA (sign, verify)
  x25519 x448                          ECDH on Montgomery curves (derive)
  aes:128 aes:192 aes:256              AES (encrypt, decrypt, wrap, unwrap)
  hmac:BITS                            a generic secret for HMAC (sign, verify), e.g. hmac:256
  ml-dsa-44 ml-dsa-65 ml-dsa-87        ML-DSA, FIPS 204 (sign, verify)
  ml-kem-512 ml-kem-768 ml-kem-1024    ML-KEM, FIPS 203 (encapsulate, decapsulate)`

// parseKeyType parses a --type value.
func parseKeyType(s string) (*keySpec, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	kind, size, _ := strings.Cut(s, ":")
	bad := func() (*keySpec, error) {
		return nil, usagef("unknown key type %q (try rsa:3072, ec:p256, ed25519, x25519, aes:256, hmac:256, ml-dsa-65, ml-kem-768; see keyward key generate --help)", s)
	}
	switch kind {
	case "rsa":
		bits := 3072
		if size != "" {
			n, err := strconv.Atoi(size)
			if err != nil || n < 1024 || n > 16384 {
				return bad()
			}
			bits = n
		}
		return &keySpec{name: fmt.Sprintf("rsa:%d", bits), mech: ck.CKM_RSA_PKCS_KEY_PAIR_GEN, keyType: ck.CKK_RSA, pair: true,
			pub:    []ck.Attribute{ck.NewAttribute(ck.CKA_MODULUS_BITS, bits), ck.NewAttribute(ck.CKA_PUBLIC_EXPONENT, []byte{1, 0, 1})},
			usages: []string{"sign", "verify", "encrypt", "decrypt"}}, nil
	case "ec", "ecdsa", "p256", "p384", "p521":
		if kind != "ec" && kind != "ecdsa" {
			size = kind
		}
		if size == "" {
			size = "p256"
		}
		var oid asn1.ObjectIdentifier
		switch strings.ReplaceAll(size, "-", "") {
		case "p256", "prime256v1", "secp256r1":
			oid, size = oidP256, "p256"
		case "p384", "secp384r1":
			oid, size = oidP384, "p384"
		case "p521", "secp521r1":
			oid, size = oidP521, "p521"
		default:
			return bad()
		}
		return &keySpec{name: "ec:" + size, mech: ck.CKM_EC_KEY_PAIR_GEN, keyType: ck.CKK_EC, pair: true,
			pub: []ck.Attribute{ck.NewAttribute(ck.CKA_EC_PARAMS, oidParam(oid))}, usages: []string{"sign", "verify"}}, nil
	case "ed25519", "ed448":
		oid := oidEd25519
		if kind == "ed448" {
			oid = oidEd448
		}
		return &keySpec{name: kind, mech: ck.CKM_EC_EDWARDS_KEY_PAIR_GEN, keyType: ck.CKK_EC_EDWARDS, pair: true,
			pub: []ck.Attribute{ck.NewAttribute(ck.CKA_EC_PARAMS, oidParam(oid))}, usages: []string{"sign", "verify"}}, nil
	case "x25519", "x448":
		oid := oidX25519
		if kind == "x448" {
			oid = oidX448
		}
		return &keySpec{name: kind, mech: ck.CKM_EC_MONTGOMERY_KEY_PAIR_GEN, keyType: ck.CKK_EC_MONTGOMERY, pair: true,
			pub: []ck.Attribute{ck.NewAttribute(ck.CKA_EC_PARAMS, oidParam(oid))}, usages: []string{"derive"}}, nil
	case "aes":
		bits := 256
		if size != "" {
			n, err := strconv.Atoi(size)
			if err != nil || (n != 128 && n != 192 && n != 256) {
				return bad()
			}
			bits = n
		}
		return &keySpec{name: fmt.Sprintf("aes:%d", bits), mech: ck.CKM_AES_KEY_GEN, keyType: ck.CKK_AES,
			pub: []ck.Attribute{ck.NewAttribute(ck.CKA_VALUE_LEN, bits/8)}, usages: []string{"encrypt", "decrypt", "wrap", "unwrap"}}, nil
	case "hmac", "generic", "secret":
		bits := 256
		if size != "" {
			n, err := strconv.Atoi(size)
			if err != nil || n < 8 || n%8 != 0 || n > 8*1024 {
				return bad()
			}
			bits = n
		}
		return &keySpec{name: fmt.Sprintf("hmac:%d", bits), mech: ck.CKM_GENERIC_SECRET_KEY_GEN, keyType: ck.CKK_GENERIC_SECRET,
			pub: []ck.Attribute{ck.NewAttribute(ck.CKA_VALUE_LEN, bits/8)}, usages: []string{"sign", "verify"}}, nil
	case "ml-dsa-44", "ml-dsa-65", "ml-dsa-87", "mldsa44", "mldsa65", "mldsa87":
		set := map[string]uint64{"44": ck.CKP_ML_DSA_44, "65": ck.CKP_ML_DSA_65, "87": ck.CKP_ML_DSA_87}[kind[len(kind)-2:]]
		return &keySpec{name: "ml-dsa-" + kind[len(kind)-2:], mech: ck.CKM_ML_DSA_KEY_PAIR_GEN, keyType: ck.CKK_ML_DSA, pair: true,
			pub:    []ck.Attribute{ck.NewAttribute(ck.CKA_PARAMETER_SET, set)},
			usages: []string{"sign", "verify"}}, nil
	case "ml-kem-512", "ml-kem-768", "ml-kem-1024", "mlkem512", "mlkem768", "mlkem1024":
		n := strings.TrimPrefix(strings.TrimPrefix(kind, "ml-kem-"), "mlkem")
		set := map[string]uint64{"512": ck.CKP_ML_KEM_512, "768": ck.CKP_ML_KEM_768, "1024": ck.CKP_ML_KEM_1024}[n]
		return &keySpec{name: "ml-kem-" + n, mech: ck.CKM_ML_KEM_KEY_PAIR_GEN, keyType: ck.CKK_ML_KEM, pair: true,
			pub:    []ck.Attribute{ck.NewAttribute(ck.CKA_PARAMETER_SET, set)},
			usages: []string{"encapsulate", "decapsulate"}}, nil
	}
	return bad()
}

// keyFlags are the attribute flags shared by key generate and import.
type keyFlags struct {
	label, id, usage                *string
	sensitive, extractable, private *bool
}

func addKeyFlags(f *flags) *keyFlags {
	return &keyFlags{
		label:       f.String("label", "", "the key's label (CKA_LABEL)"),
		id:          f.String("id", "", "the key's id in hex (CKA_ID; default: random)"),
		usage:       f.String("usage", "", "comma-separated usages, exactly the key's (default by type): "+strings.ReplaceAll(usageNames, " ", "")),
		sensitive:   f.Bool("sensitive", true, "the private or secret value can never be read (CKA_SENSITIVE)"),
		extractable: f.Bool("extractable", false, "the key may be wrapped out of the token (CKA_EXTRACTABLE)"),
		private:     f.Bool("private", true, "the private or secret key is visible only after login (CKA_PRIVATE)"),
	}
}

func (k *keyFlags) idBytes() ([]byte, error) {
	if *k.id != "" {
		return parseID(*k.id)
	}
	id := make([]byte, 8)
	rand.Read(id)
	return id, nil
}

type generatedJSON struct {
	Type       string `json:"type"`
	Label      string `json:"label"`
	ID         string `json:"id"`
	URI        string `json:"uri"`
	PrivateURI string `json:"private_uri,omitempty"`
	PublicURI  string `json:"public_uri,omitempty"`
	SecretURI  string `json:"secret_uri,omitempty"`
	PublicKey  string `json:"public_key_pem,omitempty"`
}

func (c *cli) cmdKey(args []string) error {
	const help = "usage: keyward key generate --type TYPE --label LABEL [--id HEX] [flags]\n\n" + keyTypesHelp
	return c.subcommand("key", "generate", help, args, map[string]func([]string) error{
		"generate": c.cmdKeyGenerate, "gen": c.cmdKeyGenerate,
	})
}

func (c *cli) cmdKeyGenerate(args []string) error {
	f := c.newFlags("key generate", `usage: keyward key generate --type TYPE --label LABEL [--id HEX] [--token LABEL] [flags]

Generates a key on the token and prints its pkcs11: URI (for a key pair, a URI naming both halves:
add ;type=private or ;type=public to pick one). The private or secret key is sensitive, not extractable
and private unless the flags say otherwise.

`+keyTypesHelp+`

examples:
  keyward key generate --type ec:p256 --label device-id --id 01
  keyward key generate --type rsa:3072 --label tls --usage sign,verify
  keyward key generate --type aes:256 --label data-key --extractable
  uri=$(keyward key generate --type ed25519 --label fw-sign --pin-source user.pin)`).withJSON().withToken().withPIN()
	typ := f.String("type", "", "the key type (see above)")
	kf := addKeyFlags(f)
	u, _, err := f.parseURIArgs(args, 0, 1, "keyward key generate [TOKEN-URI] --type TYPE --label LABEL")
	if err != nil {
		return err
	}
	if *typ == "" {
		return usagef("key generate: --type is required (for example --type ec:p256)")
	}
	spec, err := parseKeyType(*typ)
	if err != nil {
		return err
	}
	if *kf.label == "" {
		return usagef("key generate: --label is required")
	}
	usages := spec.usages
	if *kf.usage != "" {
		if usages, err = parseUsages(*kf.usage); err != nil {
			return err
		}
	}
	if err := checkUsages(spec.name, spec.keyType, usages); err != nil {
		return err
	}
	id, err := kf.idBytes()
	if err != nil {
		return err
	}
	s, err := c.openFor(f, u, true, loginRequired)
	if err != nil {
		return err
	}
	defer s.close()
	if existing, err := s.find([]ck.Attribute{ck.NewAttribute(ck.CKA_ID, id)}); err == nil && len(existing) > 0 && *kf.id != "" {
		return failf("key generate: token %q already has an object with id %x (%s); choose another --id", s.tok.label, id, existing[0].uri())
	}
	common := []ck.Attribute{ck.NewAttribute(ck.CKA_TOKEN, true), ck.NewAttribute(ck.CKA_LABEL, *kf.label), ck.NewAttribute(ck.CKA_ID, id)}
	secretAttrs := []ck.Attribute{ck.NewAttribute(ck.CKA_PRIVATE, *kf.private), ck.NewAttribute(ck.CKA_SENSITIVE, *kf.sensitive),
		ck.NewAttribute(ck.CKA_EXTRACTABLE, *kf.extractable)}
	out := generatedJSON{Type: spec.name, Label: *kf.label, ID: hex.EncodeToString(id)}
	m := &ck.Mechanism{Type: spec.mech}
	if spec.pair {
		pub := append(append([]ck.Attribute{ck.NewAttribute(ck.CKA_PRIVATE, false)}, common...), spec.pub...)
		priv := append(append(append([]ck.Attribute{}, common...), secretAttrs...), spec.priv...)
		pub = append(pub, usageTemplate(ck.CKO_PUBLIC_KEY, usages)...)
		priv = append(priv, usageTemplate(ck.CKO_PRIVATE_KEY, usages)...)
		var prog *progress
		if slowKeyType(spec) {
			prog = c.startProgress(fmt.Sprintf("generating a %s key pair on token %q", spec.name, s.tok.label))
		}
		hpub, _, err := s.cl.GenerateKeyPair(s.h, m, pub, priv)
		prog.stop()
		if err != nil {
			return ckErr(fmt.Sprintf("generating a %s key pair on token %q", spec.name, s.tok.label), err)
		}
		out.URI = objectURI(s.tok, *kf.label, "", id)
		out.PrivateURI = objectURI(s.tok, *kf.label, p11uri.TypePrivate, id)
		out.PublicURI = objectURI(s.tok, *kf.label, p11uri.TypePublic, id)
		if pemText, err := s.publicPEM(hpub); err == nil {
			out.PublicKey = pemText
		}
	} else {
		t := append(append(append([]ck.Attribute{ck.NewAttribute(ck.CKA_CLASS, ck.CKO_SECRET_KEY), ck.NewAttribute(ck.CKA_KEY_TYPE, spec.keyType)}, common...), secretAttrs...), spec.pub...)
		t = append(t, usageTemplate(ck.CKO_SECRET_KEY, usages)...)
		if _, err := s.cl.GenerateKey(s.h, m, t); err != nil {
			return ckErr(fmt.Sprintf("generating a %s key on token %q", spec.name, s.tok.label), err)
		}
		out.URI = objectURI(s.tok, *kf.label, p11uri.TypeSecretKey, id)
		out.SecretURI = out.URI
	}
	if *f.json {
		return c.printJSON(out)
	}
	fmt.Fprintln(c.stdout, out.URI)
	return nil
}
