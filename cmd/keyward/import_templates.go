package main

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"math/big"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// Import, the templates: the key-type attributes of the Go keys that import_parse.go read, and a
// certificate's (also for cert self-sign --import).

// octetString is v DER-encoded as an OCTET STRING (CKA_EC_POINT).
func octetString(v []byte) []byte {
	b, _ := asn1.Marshal(v)
	return b
}

// curveOID is the named-curve OID of a NIST curve.
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

// certTemplate is the template of an X.509 certificate stored on the token: a public token object with the
// certificate's subject, issuer and serial number, and the label and id given (each left out when empty).
func certTemplate(cert *x509.Certificate, label string, id []byte) []ck.Attribute {
	serial, _ := asn1.Marshal(cert.SerialNumber)
	t := []ck.Attribute{ck.NewAttribute(ck.CKA_CLASS, ck.CKO_CERTIFICATE),
		ck.NewAttribute(ck.CKA_CERTIFICATE_TYPE, ck.CKC_X_509), ck.NewAttribute(ck.CKA_VALUE, cert.Raw),
		ck.NewAttribute(ck.CKA_SUBJECT, cert.RawSubject), ck.NewAttribute(ck.CKA_ISSUER, cert.RawIssuer),
		ck.NewAttribute(ck.CKA_SERIAL_NUMBER, serial), ck.NewAttribute(ck.CKA_TOKEN, true), ck.NewAttribute(ck.CKA_PRIVATE, false)}
	return append(t, labelID(label, id)...)
}

// labelID is the template part of a label and an id, each left out when empty.
func labelID(label string, id []byte) []ck.Attribute {
	var t []ck.Attribute
	if label != "" {
		t = append(t, ck.NewAttribute(ck.CKA_LABEL, label))
	}
	if len(id) > 0 {
		t = append(t, ck.NewAttribute(ck.CKA_ID, id))
	}
	return t
}
