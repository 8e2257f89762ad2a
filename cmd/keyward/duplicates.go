package main

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"fmt"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// Duplicates, as softhsm2-util refuses them: an import of what the token already holds reports the object
// that is there instead of making a second one no URI could tell apart; a different object of the same class
// with the same label or id is refused unless --force. set --id likewise refuses an id that another object of
// the same class has (a certificate may take its key's id: that is how they pair).

// sameKey finds a key of class on the token whose public key is spki.
func (s *session) sameKey(class ck.ObjectClass, spki []byte) (*object, error) {
	objs, err := s.find([]ck.Attribute{ck.NewAttribute(ck.CKA_CLASS, class)})
	if err != nil {
		return nil, err
	}
	for _, o := range objs {
		if got, err := s.publicKey(o); err == nil && bytes.Equal(got, spki) {
			return o, nil
		}
	}
	return nil, nil
}

// sameCert finds the certificate on the token with this DER value.
func (s *session) sameCert(der []byte) (*object, error) {
	objs, err := s.find([]ck.Attribute{ck.NewAttribute(ck.CKA_CLASS, ck.CKO_CERTIFICATE), ck.NewAttribute(ck.CKA_VALUE, der)})
	if err != nil || len(objs) == 0 {
		return nil, err
	}
	return objs[0], nil
}

// clash refuses (unless force) a new object of class whose label or id another object of that class has.
func (s *session) clash(class ck.ObjectClass, label string, id []byte, what string, force bool) error {
	if force {
		return nil
	}
	var templates [][]ck.Attribute
	if label != "" {
		templates = append(templates, []ck.Attribute{ck.NewAttribute(ck.CKA_CLASS, class), ck.NewAttribute(ck.CKA_LABEL, label)})
	}
	if len(id) > 0 {
		templates = append(templates, []ck.Attribute{ck.NewAttribute(ck.CKA_CLASS, class), ck.NewAttribute(ck.CKA_ID, id)})
	}
	for i, t := range templates {
		objs, err := s.find(t)
		if err != nil {
			return err
		}
		if len(objs) > 0 {
			by := fmt.Sprintf("label %q", label)
			if i == len(templates)-1 && len(id) > 0 {
				by = fmt.Sprintf("id %x", id)
			}
			return failf("token %q already has a different %s with %s (%s): choose another --label/--id, or add --force", s.tok.label, what, by, objs[0].uri())
		}
	}
	return nil
}

// goSPKI is the DER SubjectPublicKeyInfo of a Go public key.
func goSPKI(pub crypto.PublicKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil
	}
	return der
}

// idClash refuses (unless force) a new id for objs that another object of the same class has.
func (s *session) idClash(objs []*object, id []byte, force bool) error {
	if force {
		return nil
	}
	mine := map[ck.ObjectHandle]bool{}
	for _, o := range objs {
		mine[o.h] = true
	}
	for _, o := range objs {
		others, err := s.find([]ck.Attribute{ck.NewAttribute(ck.CKA_CLASS, o.class), ck.NewAttribute(ck.CKA_ID, id)})
		if err != nil {
			return err
		}
		for _, x := range others {
			if !mine[x.h] {
				return failf("set: %s already has id %x: two %s objects with one id cannot be told apart; choose another --id, or add --force", x.uri(), id, typeName(o.class))
			}
		}
	}
	return nil
}
