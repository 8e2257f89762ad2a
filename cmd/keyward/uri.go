package main

import (
	"encoding/hex"
	"strings"

	ck "github.com/keyward/keyward/pkg/cryptoki"
	"github.com/keyward/keyward/pkg/p11uri"
)

// pkcs11: URIs (RFC 7512): parsing a user's URI, an object's URI, and the search template a URI means;
// also --id values.

// objectURI is the pkcs11: URI of an object of token t with the label, type and id given (empty ones left out).
func objectURI(t token, label string, typ p11uri.ObjectType, id []byte) string {
	u := p11uri.URI{Token: &t.label, Type: typ}
	if label != "" {
		u.Object = &label
	}
	if len(id) > 0 {
		u.ID = id
	}
	return u.String()
}

// typeOf is the RFC 7512 type of an object class ("" for classes RFC 7512 does not name).
func typeOf(c ck.ObjectClass) p11uri.ObjectType {
	switch c {
	case ck.CKO_CERTIFICATE:
		return p11uri.TypeCert
	case ck.CKO_DATA:
		return p11uri.TypeData
	case ck.CKO_PRIVATE_KEY:
		return p11uri.TypePrivate
	case ck.CKO_PUBLIC_KEY:
		return p11uri.TypePublic
	case ck.CKO_SECRET_KEY:
		return p11uri.TypeSecretKey
	}
	return ""
}

// uriTemplate is the search template of the URI's object attributes.
func uriTemplate(u *p11uri.URI) []ck.Attribute {
	var t []ck.Attribute
	if u == nil {
		return nil
	}
	if u.Object != nil {
		t = append(t, ck.NewAttribute(ck.CKA_LABEL, *u.Object))
	}
	if u.ID != nil {
		t = append(t, ck.NewAttribute(ck.CKA_ID, u.ID))
	}
	if u.Type != "" {
		c, _ := u.Type.Class()
		t = append(t, ck.NewAttribute(ck.CKA_CLASS, ck.ObjectClass(c)))
	}
	return t
}

// parseURI parses a user's pkcs11: URI leniently; a bare label is taken as object=LABEL.
func parseURI(s string) (*p11uri.URI, error) {
	if !strings.HasPrefix(strings.ToLower(s), "pkcs11:") {
		return nil, usagef("%q is not a pkcs11: URI (for example pkcs11:token=dev;object=mykey;type=private)", s)
	}
	u, err := p11uri.ParseLenient(s)
	if err != nil {
		return nil, &cliError{code: exitUsage, msg: "bad URI", err: err}
	}
	if len(u.PathVendor) > 0 {
		return nil, usagef("the URI has attributes keyward does not know (%s)", u.PathVendor[0].Name)
	}
	return u, nil
}

// hasObjectAttrs reports whether the URI selects objects at all (object, id or type).
func hasObjectAttrs(u *p11uri.URI) bool {
	return u != nil && (u.Object != nil || u.ID != nil || u.Type != "")
}

// parseID parses a --id value: hex, optionally with colons.
func parseID(s string) ([]byte, error) {
	s = strings.ReplaceAll(strings.TrimPrefix(strings.ToLower(s), "0x"), ":", "")
	b, err := hex.DecodeString(s)
	if err != nil {
		return nil, usagef("--id must be hexadecimal (for example --id 01 or --id a1:b2)")
	}
	return b, nil
}
