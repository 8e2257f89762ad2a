package main

import (
	ck "github.com/keyward/keyward/pkg/cryptoki"
	"github.com/keyward/keyward/pkg/p11uri"
)

// keyward export: a public key or a certificate, out of the token.

// cmdExport is keyward export URI.
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
	keys, what := byClass[ck.CKO_PUBLIC_KEY], "public key"
	if len(keys) == 0 {
		keys, what = byClass[ck.CKO_PRIVATE_KEY], "private key" // its public half
	}
	switch {
	case len(keys) > 0:
		o, err := pick(keys, what)
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
	return c.writeDER(*outPath, *format, pemType, der)
}
