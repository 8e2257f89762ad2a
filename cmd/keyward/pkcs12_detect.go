package main

import (
	"encoding/asn1"
)

// PKCS#12 import: a bundle is recognised here by its outer structure, and decoded by pkcs12.go.

// pkcs12Decode decodes a PKCS#12 bundle with its password (set by pkcs12.go).
var pkcs12Decode func(data, password []byte) (*importItems, error)

var (
	oidPKCS7Data       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	oidPKCS7SignedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
)

// pfxHeader is the outer structure of a PKCS#12 PFX (RFC 7292): version 3, the authSafe ContentInfo and
// optional MacData.
type pfxHeader struct {
	Version  int
	AuthSafe struct {
		ContentType asn1.ObjectIdentifier
		Content     asn1.RawValue `asn1:"explicit,optional,tag:0"`
	}
	MacData asn1.RawValue `asn1:"optional"`
}

// isPKCS12 reports whether data is a DER PKCS#12 PFX. No certificate or key encoding has this shape: a
// PFX starts with INTEGER 3 followed by a SEQUENCE.
func isPKCS12(data []byte) bool {
	var h pfxHeader
	rest, err := asn1.Unmarshal(data, &h)
	return err == nil && len(rest) == 0 && h.Version == 3 &&
		(h.AuthSafe.ContentType.Equal(oidPKCS7Data) || h.AuthSafe.ContentType.Equal(oidPKCS7SignedData))
}

// parsePKCS12 decodes a PKCS#12 bundle: its private key, its certificate first, then the chain.
func parsePKCS12(data []byte, passphrase func() ([]byte, error)) (*importItems, error) {
	if pkcs12Decode == nil {
		return nil, failf("import: the file is a PKCS#12 bundle, and this keyward was built without PKCS#12 support (build tag keyward_pkcs12); convert it first: openssl pkcs12 -in FILE -nodes -out bundle.pem")
	}
	pw, err := passphrase()
	if err != nil {
		return nil, err
	}
	defer clear(pw)
	return pkcs12Decode(data, pw)
}
