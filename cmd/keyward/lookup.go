package main

import (
	ck "github.com/keyward/keyward/pkg/cryptoki"
	"github.com/keyward/keyward/pkg/p11uri"
)

// Object look-up: the objects of a token that a template or a URI selects, with the attributes the CLI
// reads of each.

// object is an object found on a token, with the attributes the CLI reads.
type object struct {
	h     ck.ObjectHandle
	tok   token
	class ck.ObjectClass
	label string
	id    []byte
	a     map[ck.AttributeType][]byte
}

// commonAttrs are read for every object found.
var commonAttrs = []ck.AttributeType{ck.CKA_CLASS, ck.CKA_LABEL, ck.CKA_ID, ck.CKA_KEY_TYPE, ck.CKA_CERTIFICATE_TYPE,
	ck.CKA_TOKEN, ck.CKA_PRIVATE, ck.CKA_MODIFIABLE}

// keyType is the object's CKA_KEY_TYPE, and whether it has one.
func (o *object) keyType() (ck.KeyType, bool) {
	v, ok := ck.MapULong(o.a, ck.CKA_KEY_TYPE)
	return ck.KeyType(v), ok
}

// bool is the object's CK_BBOOL attribute t (false when absent).
func (o *object) bool(t ck.AttributeType) bool { return ck.MapBBool(o.a, t) }

// uri is the object's pkcs11: URI: token, object label, type and id.
func (o *object) uri() string {
	return objectURI(o.tok, o.label, typeOf(o.class), o.id)
}

// attrs reads the values of the given attributes of object h; sensitive, absent and empty attributes are
// left out.
func (s *session) attrs(h ck.ObjectHandle, types ...ck.AttributeType) (map[ck.AttributeType][]byte, error) {
	lens, err := s.cl.GetAttributeValue(s.h, h, ck.Query(0, types...))
	if rv := ck.ToRV(err); rv != ck.CKR_OK && rv != ck.CKR_ATTRIBUTE_SENSITIVE && rv != ck.CKR_ATTRIBUTE_TYPE_INVALID {
		return nil, ckErr("reading an object's attributes", err)
	}
	var q []ck.Attribute
	for _, a := range lens {
		if a.Kind == ck.AttrLength && a.Len != ck.CK_UNAVAILABLE_INFORMATION && a.Len > 0 {
			q = append(q, ck.Attribute{Type: a.Type, Kind: ck.AttrBuffer, Len: a.Len})
		}
	}
	out := make(map[ck.AttributeType][]byte, len(q))
	if len(q) == 0 {
		return out, nil
	}
	vals, err := s.cl.GetAttributeValue(s.h, h, q)
	if rv := ck.ToRV(err); rv != ck.CKR_OK && rv != ck.CKR_ATTRIBUTE_SENSITIVE && rv != ck.CKR_ATTRIBUTE_TYPE_INVALID {
		return nil, ckErr("reading an object's attributes", err)
	}
	for _, a := range vals {
		if a.Kind == ck.AttrValue && len(a.Value) > 0 {
			out[a.Type] = a.Value
		}
	}
	return out, nil
}

// find returns the objects matching template, with their common attributes.
func (s *session) find(template []ck.Attribute) ([]*object, error) {
	if err := s.cl.FindObjectsInit(s.h, template); err != nil {
		return nil, ckErr("searching the token", err)
	}
	var hs []ck.ObjectHandle
	for {
		more, err := s.cl.FindObjects(s.h, 256)
		if err != nil {
			s.cl.FindObjectsFinal(s.h)
			return nil, ckErr("searching the token", err)
		}
		if len(more) == 0 {
			break
		}
		hs = append(hs, more...)
	}
	s.cl.FindObjectsFinal(s.h)
	out := make([]*object, 0, len(hs))
	for _, h := range hs {
		o, err := s.object(h)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}

// object reads the common attributes of object h.
func (s *session) object(h ck.ObjectHandle) (*object, error) {
	a, err := s.attrs(h, commonAttrs...)
	if err != nil {
		return nil, err
	}
	class, _ := ck.MapULong(a, ck.CKA_CLASS)
	return &object{h: h, tok: s.tok, class: ck.ObjectClass(class), label: string(a[ck.CKA_LABEL]), id: a[ck.CKA_ID], a: a}, nil
}

// findURI returns the objects on the session's token that the URI's object attributes select, limited to
// the classes given (any class if none).
func (s *session) findURI(u *p11uri.URI, classes ...ck.ObjectClass) ([]*object, error) {
	objs, err := s.find(uriTemplate(u))
	if err != nil {
		return nil, err
	}
	if len(classes) == 0 {
		return objs, nil
	}
	var out []*object
	for _, o := range objs {
		for _, c := range classes {
			if o.class == c {
				out = append(out, o)
				break
			}
		}
	}
	return out, nil
}

// openKey opens a session for u as openFor does and finds the one key (or object) of the classes given that
// u selects, what naming it in errors. The caller closes the session.
func (c *cli) openKey(f *flags, u *p11uri.URI, rw bool, mode loginMode, what string, classes ...ck.ObjectClass) (*session, *object, error) {
	s, err := c.openFor(f, u, rw, mode)
	if err != nil {
		return nil, nil, err
	}
	o, err := s.oneKey(u, what, classes...)
	if err != nil {
		s.close()
		return nil, nil, err
	}
	return s, o, nil
}

// openObjects opens a session for u as openFor does and finds the objects u selects: at least one, else a
// not-found error. The caller closes the session.
func (c *cli) openObjects(f *flags, u *p11uri.URI, rw bool, mode loginMode) (*session, []*object, error) {
	s, err := c.openFor(f, u, rw, mode)
	if err != nil {
		return nil, nil, err
	}
	objs, err := s.findURI(u)
	if err != nil {
		s.close()
		return nil, nil, err
	}
	if len(objs) == 0 {
		err := notFound(s, u)
		s.close()
		return nil, nil, err
	}
	return s, objs, nil
}

// oneKey finds the single key of the given classes that the URI selects.
func (s *session) oneKey(u *p11uri.URI, what string, classes ...ck.ObjectClass) (*object, error) {
	objs, err := s.findURI(u, classes...)
	if err != nil {
		return nil, err
	}
	switch len(objs) {
	case 0:
		return nil, notFoundf("no %s on token %q matches %s%s", what, s.tok.label, u.String(), loginHint(s))
	case 1:
		return objs[0], nil
	}
	return nil, usagef("%d %ss match %s; narrow the URI (object=, id=, type=)", len(objs), what, u.String())
}

// loginHint is the hint a not-found error gives when the session is not logged in.
func loginHint(s *session) string {
	if s.loggedIn {
		return ""
	}
	return " (private keys need the PIN: --pin-source FILE or $KEYWARD_PIN)"
}

// notFound is the error for a URI that selects nothing, with a hint about logging in.
func notFound(s *session, u *p11uri.URI) error {
	hint := ""
	if !s.loggedIn {
		hint = " (private objects need the PIN: --pin-source FILE, $KEYWARD_PIN or --login)"
	}
	return notFoundf("no object on token %q matches %s%s", s.tok.label, u.String(), hint)
}
