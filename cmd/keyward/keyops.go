package main

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"

	"github.com/keyward/keyward/internal/wire"
	ck "github.com/keyward/keyward/pkg/cryptoki"
	"github.com/keyward/keyward/pkg/p11uri"
)

// keyward derive (ECDH) and wrap / unwrap (AES key wrap with padding, RFC 5649): key agreement and key
// transport with token keys. Derived and unwrapped keys are made on the token; only wrap writes a blob.

// secretTemplate is the template of a secret key the CLI makes on the token (derive, unwrap).
func secretTemplate(spec *keySpec, kf *keyFlags, id []byte, usages []string) []ck.Attribute {
	t := []ck.Attribute{ck.NewAttribute(ck.CKA_CLASS, ck.CKO_SECRET_KEY), ck.NewAttribute(ck.CKA_KEY_TYPE, spec.keyType),
		ck.NewAttribute(ck.CKA_TOKEN, true), ck.NewAttribute(ck.CKA_LABEL, *kf.label), ck.NewAttribute(ck.CKA_ID, id),
		ck.NewAttribute(ck.CKA_PRIVATE, *kf.private), ck.NewAttribute(ck.CKA_SENSITIVE, *kf.sensitive),
		ck.NewAttribute(ck.CKA_EXTRACTABLE, *kf.extractable)}
	t = append(t, spec.pub...) // CKA_VALUE_LEN
	return append(t, usageTemplate(ck.CKO_SECRET_KEY, usages)...)
}

// secretSpec parses --type of a derived or unwrapped secret key and its usages.
func secretSpec(typ string, kf *keyFlags) (*keySpec, []string, error) {
	spec, err := parseKeyType(typ)
	if err != nil {
		return nil, nil, err
	}
	if spec.pair {
		return nil, nil, usagef("--type must be a secret key type (aes:128|192|256, hmac:BITS), not %s", spec.name)
	}
	usages := spec.usages
	if *kf.usage != "" {
		if usages, err = parseUsages(*kf.usage); err != nil {
			return nil, nil, err
		}
	}
	return spec, usages, checkUsages(spec.name, spec.keyType, usages)
}

// peerPoint reads a peer's public key (PEM or DER SubjectPublicKeyInfo) as the raw point ECDH takes.
func peerPoint(data []byte) ([]byte, error) {
	if b, _ := pem.Decode(data); b != nil {
		data = b.Bytes
	}
	pub, err := x509.ParsePKIXPublicKey(data)
	if err != nil {
		return nil, failf("derive: the peer key is not a PEM or DER public key: %v", err)
	}
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		e, err := k.ECDH()
		if err != nil {
			return nil, failf("derive: %v", err)
		}
		return e.Bytes(), nil
	case *ecdh.PublicKey:
		return k.Bytes(), nil
	}
	return nil, failf("derive: the peer key is a %T; ECDH needs an EC or X25519 public key", pub)
}

func (c *cli) cmdDerive(args []string) error {
	f := c.newFlags("derive", `usage: keyward derive URI --peer PUBKEY --label LABEL [--type aes:256|hmac:256] [flags]

ECDH (CKM_ECDH1_DERIVE, no KDF) between the private EC or X25519 key URI names and a peer's public key
(PEM or DER); the shared secret becomes a secret key on the token, never shown. Prints its URI.

example:
  keyward derive 'pkcs11:token=dev;object=ecdh' --peer server.pub.pem --label session --type aes:256`).withJSON().withToken().withPIN()
	peer := f.String("peer", "", "the peer's public key file (PEM or DER SubjectPublicKeyInfo)")
	typ := f.String("type", "aes:256", "the derived key's type: aes:128|192|256 or hmac:BITS")
	kf := addKeyFlags(f)
	f.check(func() error {
		if *peer == "" || *kf.label == "" {
			return usagef("derive: --peer and --label are required")
		}
		return nil
	})
	u, _, err := f.parseURIArgs(args, 1, 1, "keyward derive URI --peer PUBKEY --label LABEL")
	if err != nil {
		return err
	}
	spec, usages, err := secretSpec(*typ, kf)
	if err != nil {
		return err
	}
	data, err := c.readInput(*peer)
	if err != nil {
		return err
	}
	point, err := peerPoint(data)
	if err != nil {
		return err
	}
	id, err := kf.idBytes()
	if err != nil {
		return err
	}
	s, o, err := c.openKey(f, u, true, loginRequired, "private key", ck.CKO_PRIVATE_KEY)
	if err != nil {
		return err
	}
	defer s.close()
	if err := s.clash(ck.CKO_SECRET_KEY, *kf.label, mustID(*kf.id), "secret key", false); err != nil {
		return err
	}
	p := (&wire.ECDH1DeriveParams{KDF: uint64(ck.CKD_NULL), PublicData: point}).Encode()
	if _, err := s.cl.DeriveKey(s.h, &ck.Mechanism{Type: ck.CKM_ECDH1_DERIVE, Parameter: p}, o.h, secretTemplate(spec, kf, id, usages)); err != nil {
		return ckErr(fmt.Sprintf("deriving with %s", o.uri()), err)
	}
	return c.printURI(f, objectURI(s.tok, *kf.label, p11uri.TypeSecretKey, id))
}

func (c *cli) cmdWrap(args []string) error {
	f := c.newFlags("wrap", `usage: keyward wrap URI --with WRAPPING-URI [--out FILE]

Wraps the key URI names (an extractable secret or private key) under the AES key WRAPPING-URI with AES key
wrap with padding (CKM_AES_KEY_WRAP_KWP, RFC 5649) and writes the blob. A sensitive key may be wrapped only
under a key the SO marked trusted (keywardd's wrapping policy).

example:
  keyward wrap 'pkcs11:token=dev;object=data-key' --with 'pkcs11:token=dev;object=transport' --out data-key.wrapped`).withToken().withPIN()
	with := f.String("with", "", "the wrapping AES key's URI")
	out := f.String("out", "-", "the output file, or - for standard output")
	f.check(func() error {
		if *with == "" {
			return usagef("wrap: --with WRAPPING-URI is required")
		}
		return nil
	})
	u, _, err := f.parseURIArgs(args, 1, 1, "keyward wrap URI --with WRAPPING-URI")
	if err != nil {
		return err
	}
	wu, err := parseURI(*with)
	if err != nil {
		return err
	}
	s, k, err := c.openKey(f, u, false, loginRequired, "key to wrap", ck.CKO_SECRET_KEY, ck.CKO_PRIVATE_KEY)
	if err != nil {
		return err
	}
	defer s.close()
	w, err := s.oneKey(wu, "wrapping key", ck.CKO_SECRET_KEY)
	if err != nil {
		return err
	}
	m := &ck.Mechanism{Type: ck.CKM_AES_KEY_WRAP_KWP}
	blob, need, err := s.cl.WrapKey(s.h, m, w.h, k.h, ck.Out{Present: true, Cap: 16 << 10})
	if ck.ToRV(err) == ck.CKR_BUFFER_TOO_SMALL {
		blob, _, err = s.cl.WrapKey(s.h, m, w.h, k.h, ck.Out{Present: true, Cap: need})
	}
	if err != nil {
		return ckErr(fmt.Sprintf("wrapping %s under %s", k.uri(), w.uri()), err)
	}
	return c.writeOutput(*out, blob, true)
}

func (c *cli) cmdUnwrap(args []string) error {
	f := c.newFlags("unwrap", `usage: keyward unwrap FILE --with WRAPPING-URI --label LABEL [--type aes:256|hmac:BITS] [flags]

Unwraps a secret key that keyward wrap (or any RFC 5649 wrapper) wrote, under the AES key WRAPPING-URI, into
a new secret key on the token. Prints its URI.

example:
  keyward unwrap data-key.wrapped --with 'pkcs11:token=dev;object=transport' --label data-key --type aes:256`).withJSON().withToken().withPIN()
	with := f.String("with", "", "the unwrapping AES key's URI")
	typ := f.String("type", "aes:256", "the unwrapped key's type: aes:128|192|256 or hmac:BITS")
	kf := addKeyFlags(f)
	pos, err := f.parseArgs(args, 1, 1, "keyward unwrap FILE --with WRAPPING-URI --label LABEL")
	if err != nil {
		return err
	}
	if *with == "" || *kf.label == "" {
		return usagef("unwrap: --with and --label are required")
	}
	wu, err := parseURI(*with)
	if err != nil {
		return err
	}
	spec, usages, err := secretSpec(*typ, kf)
	if err != nil {
		return err
	}
	blob, err := c.readInput(pos[0])
	if err != nil {
		return err
	}
	id, err := kf.idBytes()
	if err != nil {
		return err
	}
	s, w, err := c.openKey(f, wu, true, loginRequired, "unwrapping key", ck.CKO_SECRET_KEY)
	if err != nil {
		return err
	}
	defer s.close()
	if err := s.clash(ck.CKO_SECRET_KEY, *kf.label, mustID(*kf.id), "secret key", false); err != nil {
		return err
	}
	t := secretTemplate(spec, kf, id, usages)
	// CKA_VALUE_LEN comes from the blob: leave it out of an unwrap template.
	for i := range t {
		if t[i].Type == ck.CKA_VALUE_LEN {
			t = append(t[:i], t[i+1:]...)
			break
		}
	}
	if _, err := s.cl.UnwrapKey(s.h, &ck.Mechanism{Type: ck.CKM_AES_KEY_WRAP_KWP}, w.h, blob, t); err != nil {
		return ckErr(fmt.Sprintf("unwrapping under %s", w.uri()), err)
	}
	return c.printURI(f, objectURI(s.tok, *kf.label, p11uri.TypeSecretKey, id))
}
