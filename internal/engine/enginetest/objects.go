package enginetest

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"testing"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

func testCreateObject(t *testing.T, open func() ck.Provider) {
	p := open()
	defer p.Close()
	slot := token(t, p, "create", true)
	ro := roSession(t, p, slot)
	h, err := p.CreateObject(ro, dataObject("session data", "hello"))
	ok(t, err, "CreateObject of a session object in an RO session")
	if v := getValue(t, p, ro, h, ck.CKA_VALUE); string(v) != "hello" {
		t.Fatalf("CKA_VALUE %q", v)
	}
	// Class defaults.
	for typ, wantVal := range map[ck.AttributeType]bool{ck.CKA_TOKEN: false, ck.CKA_PRIVATE: false,
		ck.CKA_MODIFIABLE: true, ck.CKA_COPYABLE: true, ck.CKA_DESTROYABLE: true} {
		if got := getBool(t, p, ro, h, typ); got != wantVal {
			t.Errorf("default %v = %v, want %v", typ, got, wantVal)
		}
	}
	if len(getValue(t, p, ro, h, ck.CKA_UNIQUE_ID)) == 0 {
		t.Error("no CKA_UNIQUE_ID")
	}
	_, err = p.CreateObject(ro, dataObject("token data", "x", attr(ck.CKA_TOKEN, true)))
	want(t, err, ck.CKR_SESSION_READ_ONLY, "token object in an RO session")
	_, err = p.CreateObject(ro, dataObject("private", "x", attr(ck.CKA_PRIVATE, true)))
	want(t, err, ck.CKR_USER_NOT_LOGGED_IN, "private object without login")
	rw := rwSession(t, p, slot)
	th, err := p.CreateObject(rw, dataObject("token data", "x", attr(ck.CKA_TOKEN, true)))
	ok(t, err, "public token object in a RW public session")
	size, err := p.GetObjectSize(rw, th)
	ok(t, err, "GetObjectSize")
	if size == 0 {
		t.Error("object size 0")
	}
	want(t, p.DestroyObject(ro, th), ck.CKR_SESSION_READ_ONLY, "destroy a token object in an RO session")
	ok(t, p.DestroyObject(rw, th), "DestroyObject")
	want(t, p.DestroyObject(rw, th), ck.CKR_OBJECT_HANDLE_INVALID, "destroy twice")
	_, err = p.GetObjectSize(rw, th)
	want(t, err, ck.CKR_OBJECT_HANDLE_INVALID, "GetObjectSize of a destroyed object")

	// Usage defaults follow what the key type can do: an EC public key verifies, it does not encrypt or wrap;
	// an X25519 public key does neither.
	k, err := ecdh.P256().GenerateKey(rand.Reader)
	ok(t, err, "P-256 key")
	point := append([]byte{0x04, 65}, k.PublicKey().Bytes()...)
	p256 := []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}
	ecPub, err := p.CreateObject(rw, []ck.Attribute{attr(ck.CKA_CLASS, ck.CKO_PUBLIC_KEY),
		attr(ck.CKA_KEY_TYPE, ck.CKK_EC), attr(ck.CKA_EC_PARAMS, p256), attr(ck.CKA_EC_POINT, point)})
	ok(t, err, "EC public key")
	xk, err := ecdh.X25519().GenerateKey(rand.Reader)
	ok(t, err, "X25519 key")
	x25519 := []byte{0x06, 0x03, 0x2b, 0x65, 0x6e}
	xPub, err := p.CreateObject(rw, []ck.Attribute{attr(ck.CKA_CLASS, ck.CKO_PUBLIC_KEY),
		attr(ck.CKA_KEY_TYPE, ck.CKK_EC_MONTGOMERY), attr(ck.CKA_EC_PARAMS, x25519),
		attr(ck.CKA_EC_POINT, append([]byte{0x04, 32}, xk.PublicKey().Bytes()...))})
	ok(t, err, "X25519 public key")
	for _, c := range []struct {
		h    ck.ObjectHandle
		typ  ck.AttributeType
		want bool
	}{{ecPub, ck.CKA_VERIFY, true}, {ecPub, ck.CKA_ENCRYPT, false}, {ecPub, ck.CKA_WRAP, false},
		{ecPub, ck.CKA_VERIFY_RECOVER, false}, {ecPub, ck.CKA_ENCAPSULATE, false},
		{xPub, ck.CKA_VERIFY, false}, {xPub, ck.CKA_ENCRYPT, false}} {
		if got := getBool(t, p, rw, c.h, c.typ); got != c.want {
			t.Errorf("public key %d: default %v = %v, want %v", c.h, c.typ, got, c.want)
		}
	}

	// An X.509 certificate needs its subject and value.
	cert := []ck.Attribute{attr(ck.CKA_CLASS, ck.CKO_CERTIFICATE), attr(ck.CKA_CERTIFICATE_TYPE, ck.CKC_X_509),
		attr(ck.CKA_VALUE, []byte{0x30, 0x03, 0x02, 0x01, 0x01})}
	_, err = p.CreateObject(rw, cert)
	want(t, err, ck.CKR_TEMPLATE_INCOMPLETE, "certificate without CKA_SUBJECT")
	ch, err := p.CreateObject(rw, append(cert, attr(ck.CKA_SUBJECT, []byte{0x30, 0})))
	ok(t, err, "certificate")
	if getBool(t, p, rw, ch, ck.CKA_TRUSTED) {
		t.Error("certificate trusted by default")
	}
	_, err = p.CreateObject(rw, append(cert, attr(ck.CKA_SUBJECT, []byte{0x30, 0}), attr(ck.CKA_TRUSTED, true)))
	want(t, err, ck.CKR_ATTRIBUTE_READ_ONLY, "a trusted certificate created by a non-SO")
}

func testAttributeRules(t *testing.T, open func() ck.Provider) {
	p := open()
	defer p.Close()
	slot := token(t, p, "rules", true)
	s := userSession(t, p, slot)
	cases := []struct {
		name     string
		template []ck.Attribute
		rv       ck.RV
	}{
		{"no class", []ck.Attribute{attr(ck.CKA_LABEL, "x")}, ck.CKR_TEMPLATE_INCOMPLETE},
		{"4-byte class", []ck.Attribute{{Type: ck.CKA_CLASS, Kind: ck.AttrValue, Value: []byte{0, 0, 0, 0}}}, ck.CKR_ATTRIBUTE_VALUE_INVALID},
		{"2-byte bool", dataObject("x", "v", ck.Attribute{Type: ck.CKA_TOKEN, Kind: ck.AttrValue, Value: []byte{1, 0}}), ck.CKR_ATTRIBUTE_VALUE_INVALID},
		{"bool of 2", dataObject("x", "v", ck.Attribute{Type: ck.CKA_TOKEN, Kind: ck.AttrValue, Value: []byte{2}}), ck.CKR_ATTRIBUTE_VALUE_INVALID},
		{"unknown attribute", dataObject("x", "v", attr(0x7fff_0001, "?")), ck.CKR_ATTRIBUTE_TYPE_INVALID},
		{"attribute of another class", dataObject("x", "v", attr(ck.CKA_MODULUS, "?")), ck.CKR_ATTRIBUTE_TYPE_INVALID},
		{"conflicting duplicates", dataObject("x", "v", attr(ck.CKA_LABEL, "y")), ck.CKR_TEMPLATE_INCONSISTENT},
		{"CKA_LOCAL given", secretKey("k", make([]byte, 16), attr(ck.CKA_LOCAL, true)), ck.CKR_ATTRIBUTE_READ_ONLY},
		{"CKA_UNIQUE_ID given", dataObject("x", "v", attr(ck.CKA_UNIQUE_ID, "abc")), ck.CKR_ATTRIBUTE_READ_ONLY},
		{"CKA_ALWAYS_SENSITIVE given", secretKey("k", make([]byte, 16), attr(ck.CKA_ALWAYS_SENSITIVE, true)), ck.CKR_ATTRIBUTE_READ_ONLY},
		{"CKA_VALUE_LEN given at import", secretKey("k", make([]byte, 16), attr(ck.CKA_VALUE_LEN, 16)), ck.CKR_ATTRIBUTE_READ_ONLY},
		{"key without a type", []ck.Attribute{attr(ck.CKA_CLASS, ck.CKO_SECRET_KEY), attr(ck.CKA_VALUE, make([]byte, 16))}, ck.CKR_TEMPLATE_INCOMPLETE},
		{"secret key without a value", []ck.Attribute{attr(ck.CKA_CLASS, ck.CKO_SECRET_KEY), attr(ck.CKA_KEY_TYPE, ck.CKK_AES)}, ck.CKR_TEMPLATE_INCOMPLETE},
		{"AES key of 15 bytes", []ck.Attribute{attr(ck.CKA_CLASS, ck.CKO_SECRET_KEY), attr(ck.CKA_KEY_TYPE, ck.CKK_AES), attr(ck.CKA_VALUE, make([]byte, 15))}, ck.CKR_ATTRIBUTE_VALUE_INVALID},
		{"unsupported key type", []ck.Attribute{attr(ck.CKA_CLASS, ck.CKO_SECRET_KEY), attr(ck.CKA_KEY_TYPE, ck.KeyType(0x7fff_0000)), attr(ck.CKA_VALUE, make([]byte, 16))}, ck.CKR_ATTRIBUTE_VALUE_INVALID},
		{"RSA public key without modulus", []ck.Attribute{attr(ck.CKA_CLASS, ck.CKO_PUBLIC_KEY), attr(ck.CKA_KEY_TYPE, ck.CKK_RSA), attr(ck.CKA_PUBLIC_EXPONENT, []byte{1, 0, 1})}, ck.CKR_TEMPLATE_INCOMPLETE},
		{"bad date", dataObject("x", "v"), ck.CKR_OK},
		{"date of letters", secretKey("k", make([]byte, 16), attr(ck.CKA_START_DATE, "2026AB01")), ck.CKR_ATTRIBUTE_VALUE_INVALID},
		{"mechanism list not a multiple of 8", secretKey("k", make([]byte, 16), attr(ck.CKA_ALLOWED_MECHANISMS, make([]byte, 12))), ck.CKR_ATTRIBUTE_VALUE_INVALID},
	}
	for _, c := range cases {
		_, err := p.CreateObject(s, c.template)
		want(t, err, c.rv, c.name)
	}
	// CKA_MODIFIABLE false forbids changes; CKA_DESTROYABLE false forbids destruction.
	h, err := p.CreateObject(s, dataObject("fixed", "v", attr(ck.CKA_MODIFIABLE, false), attr(ck.CKA_DESTROYABLE, false)))
	ok(t, err, "CreateObject")
	want(t, p.SetAttributeValue(s, h, []ck.Attribute{attr(ck.CKA_LABEL, "new")}), ck.CKR_ACTION_PROHIBITED, "set on an unmodifiable object")
	want(t, p.DestroyObject(s, h), ck.CKR_ACTION_PROHIBITED, "destroy an undestroyable object")
	// Set: modifiable attributes change, others are read-only, storage attributes change only by copy.
	h, err = p.CreateObject(s, dataObject("set", "v"))
	ok(t, err, "CreateObject")
	ok(t, p.SetAttributeValue(s, h, []ck.Attribute{attr(ck.CKA_LABEL, "renamed"), attr(ck.CKA_VALUE, "w")}), "SetAttributeValue")
	if got := getValue(t, p, s, h, ck.CKA_LABEL); string(got) != "renamed" {
		t.Fatalf("label after set %q", got)
	}
	want(t, p.SetAttributeValue(s, h, []ck.Attribute{attr(ck.CKA_CLASS, ck.CKO_SECRET_KEY)}), ck.CKR_ATTRIBUTE_READ_ONLY, "set CKA_CLASS")
	want(t, p.SetAttributeValue(s, h, []ck.Attribute{attr(ck.CKA_TOKEN, true)}), ck.CKR_ATTRIBUTE_READ_ONLY, "set CKA_TOKEN")
	want(t, p.SetAttributeValue(s, h, []ck.Attribute{attr(ck.CKA_UNIQUE_ID, "x")}), ck.CKR_ATTRIBUTE_READ_ONLY, "set CKA_UNIQUE_ID")
	want(t, p.SetAttributeValue(s, h, []ck.Attribute{attr(ck.CKA_MODULUS, "x")}), ck.CKR_ATTRIBUTE_TYPE_INVALID, "set an attribute the class lacks")
	// A failed set changes nothing, even for the valid attributes in the same template.
	want(t, p.SetAttributeValue(s, h, []ck.Attribute{attr(ck.CKA_LABEL, "partial"), attr(ck.CKA_CLASS, ck.CKO_SECRET_KEY)}), ck.CKR_ATTRIBUTE_READ_ONLY, "mixed set")
	if got := getValue(t, p, s, h, ck.CKA_LABEL); string(got) != "renamed" {
		t.Fatalf("a failed SetAttributeValue changed the label to %q", got)
	}
	// The index follows a label change.
	if got := find(t, p, s, attr(ck.CKA_LABEL, "renamed")); len(got) != 1 || got[0] != h {
		t.Fatalf("find by the new label: %v", got)
	}
	if got := find(t, p, s, attr(ck.CKA_LABEL, "set")); len(got) != 0 {
		t.Fatalf("find by the old label: %v", got)
	}
}

func testGetAttributeValue(t *testing.T, open func() ck.Provider) {
	p := open()
	defer p.Close()
	slot := token(t, p, "getattr", false)
	s := roSession(t, p, slot)
	h, err := p.CreateObject(s, dataObject("a label", "0123456789"))
	ok(t, err, "CreateObject")
	// Short buffer: CKR_BUFFER_TOO_SMALL, with CK_UNAVAILABLE_INFORMATION for that attribute only.
	res, err := p.GetAttributeValue(s, h, []ck.Attribute{
		{Type: ck.CKA_VALUE, Kind: ck.AttrBuffer, Len: 4},
		{Type: ck.CKA_LABEL, Kind: ck.AttrBuffer, Len: 64},
	})
	want(t, err, ck.CKR_BUFFER_TOO_SMALL, "short buffer")
	if res[0].Kind != ck.AttrLength || res[0].Len != ck.CK_UNAVAILABLE_INFORMATION {
		t.Errorf("short attribute: %+v", res[0])
	}
	if res[1].Kind != ck.AttrValue || string(res[1].Value) != "a label" {
		t.Errorf("the other attribute was not filled: %+v", res[1])
	}
	// Unknown attribute: CKR_ATTRIBUTE_TYPE_INVALID, the rest filled.
	res, err = p.GetAttributeValue(s, h, []ck.Attribute{
		{Type: ck.CKA_MODULUS, Kind: ck.AttrBuffer, Len: 64},
		{Type: ck.CKA_VALUE, Kind: ck.AttrBuffer, Len: 64},
	})
	want(t, err, ck.CKR_ATTRIBUTE_TYPE_INVALID, "attribute the object lacks")
	if res[0].Len != ck.CK_UNAVAILABLE_INFORMATION || string(res[1].Value) != "0123456789" {
		t.Errorf("results %+v", res)
	}
	// Exact size works; lengths only.
	res, err = p.GetAttributeValue(s, h, []ck.Attribute{{Type: ck.CKA_VALUE, Kind: ck.AttrBuffer, Len: 10}, {Type: ck.CKA_CLASS, Kind: ck.AttrLength}})
	ok(t, err, "exact buffer")
	if string(res[0].Value) != "0123456789" || res[1].Len != 8 {
		t.Errorf("results %+v", res)
	}
	_, err = p.GetAttributeValue(s, h+999, ck.Query(0, ck.CKA_VALUE))
	want(t, err, ck.CKR_OBJECT_HANDLE_INVALID, "invalid object")
	_, err = p.GetAttributeValue(s+999, h, ck.Query(0, ck.CKA_VALUE))
	want(t, err, ck.CKR_SESSION_HANDLE_INVALID, "invalid session")
}

func testSensitive(t *testing.T, open func() ck.Provider) {
	p := open()
	defer p.Close()
	slot := token(t, p, "sensitive", true)
	s := userSession(t, p, slot)
	secret := bytes.Repeat([]byte{0x5a}, 32)
	k, err := p.CreateObject(s, secretKey("k", secret, attr(ck.CKA_TOKEN, true)))
	ok(t, err, "CreateObject")
	if !getBool(t, p, s, k, ck.CKA_SENSITIVE) || getBool(t, p, s, k, ck.CKA_EXTRACTABLE) || !getBool(t, p, s, k, ck.CKA_PRIVATE) {
		t.Fatal("secret key defaults are not sensitive, unextractable and private")
	}
	if getBool(t, p, s, k, ck.CKA_ALWAYS_SENSITIVE) || getBool(t, p, s, k, ck.CKA_NEVER_EXTRACTABLE) || getBool(t, p, s, k, ck.CKA_LOCAL) {
		t.Fatal("an imported key claims CKA_ALWAYS_SENSITIVE, CKA_NEVER_EXTRACTABLE or CKA_LOCAL")
	}
	if v := getValue(t, p, s, k, ck.CKA_VALUE_LEN); len(v) != 8 || v[0]|v[7] == 0 {
		t.Errorf("CKA_VALUE_LEN %x", v)
	}
	res, err := p.GetAttributeValue(s, k, []ck.Attribute{{Type: ck.CKA_VALUE, Kind: ck.AttrBuffer, Len: 64}, {Type: ck.CKA_LABEL, Kind: ck.AttrBuffer, Len: 64}})
	want(t, err, ck.CKR_ATTRIBUTE_SENSITIVE, "reading a sensitive value")
	if res[0].Kind != ck.AttrLength || res[0].Len != ck.CK_UNAVAILABLE_INFORMATION || string(res[1].Value) != "k" {
		t.Fatalf("results %+v", res)
	}
	// One-way attributes.
	want(t, p.SetAttributeValue(s, k, []ck.Attribute{attr(ck.CKA_SENSITIVE, false)}), ck.CKR_ATTRIBUTE_READ_ONLY, "CKA_SENSITIVE true to false")
	want(t, p.SetAttributeValue(s, k, []ck.Attribute{attr(ck.CKA_EXTRACTABLE, true)}), ck.CKR_ATTRIBUTE_READ_ONLY, "CKA_EXTRACTABLE false to true")
	// A key that is neither sensitive nor unextractable can be read; making it sensitive is one way.
	open2, err := p.CreateObject(s, secretKey("open", secret, attr(ck.CKA_SENSITIVE, false), attr(ck.CKA_EXTRACTABLE, true)))
	ok(t, err, "CreateObject")
	if v := getValue(t, p, s, open2, ck.CKA_VALUE); !bytes.Equal(v, secret) {
		t.Fatal("an extractable non-sensitive key's value is not readable")
	}
	ok(t, p.SetAttributeValue(s, open2, []ck.Attribute{attr(ck.CKA_SENSITIVE, true)}), "CKA_SENSITIVE false to true")
	_, err = p.GetAttributeValue(s, open2, ck.Query(64, ck.CKA_VALUE))
	want(t, err, ck.CKR_ATTRIBUTE_SENSITIVE, "value after making the key sensitive")
	// A copy cannot undo sensitivity either.
	_, err = p.CopyObject(s, k, []ck.Attribute{attr(ck.CKA_SENSITIVE, false)})
	want(t, err, ck.CKR_ATTRIBUTE_READ_ONLY, "copy with CKA_SENSITIVE false")
	_, err = p.CopyObject(s, k, []ck.Attribute{attr(ck.CKA_EXTRACTABLE, true)})
	want(t, err, ck.CKR_ATTRIBUTE_READ_ONLY, "copy with CKA_EXTRACTABLE true")
	// A search cannot test a sensitive value.
	if got := find(t, p, s, attr(ck.CKA_VALUE, secret)); len(got) != 0 {
		t.Fatalf("find by a sensitive value matched %v", got)
	}
}

func testCopyObject(t *testing.T, open func() ck.Provider) {
	p := open()
	defer p.Close()
	slot := token(t, p, "copy", true)
	s := userSession(t, p, slot)
	h, err := p.CreateObject(s, dataObject("orig", "v"))
	ok(t, err, "CreateObject")
	c, err := p.CopyObject(s, h, []ck.Attribute{attr(ck.CKA_LABEL, "copy"), attr(ck.CKA_TOKEN, true), attr(ck.CKA_PRIVATE, true)})
	ok(t, err, "CopyObject")
	if string(getValue(t, p, s, c, ck.CKA_LABEL)) != "copy" || !getBool(t, p, s, c, ck.CKA_TOKEN) || !getBool(t, p, s, c, ck.CKA_PRIVATE) {
		t.Fatal("copy did not take the template")
	}
	if string(getValue(t, p, s, c, ck.CKA_VALUE)) != "v" {
		t.Fatal("copy lost the value")
	}
	if bytes.Equal(getValue(t, p, s, c, ck.CKA_UNIQUE_ID), getValue(t, p, s, h, ck.CKA_UNIQUE_ID)) {
		t.Fatal("copy has the original's CKA_UNIQUE_ID")
	}
	_, err = p.CopyObject(s, h, []ck.Attribute{attr(ck.CKA_CLASS, ck.CKO_SECRET_KEY)})
	want(t, err, ck.CKR_ATTRIBUTE_READ_ONLY, "copy changing the class")
	nc, err := p.CreateObject(s, dataObject("nocopy", "v", attr(ck.CKA_COPYABLE, false)))
	ok(t, err, "CreateObject")
	_, err = p.CopyObject(s, nc, nil)
	want(t, err, ck.CKR_ACTION_PROHIBITED, "copy an uncopyable object")
	_, err = p.CopyObject(s, h, []ck.Attribute{attr(ck.CKA_COPYABLE, false), attr(ck.CKA_MODIFIABLE, false)})
	ok(t, err, "copy making the copy uncopyable and unmodifiable")
	_, err = p.CopyObject(s, nc, []ck.Attribute{attr(ck.CKA_COPYABLE, true)})
	want(t, err, ck.CKR_ACTION_PROHIBITED, "copy of uncopyable object")
}

func testVisibility(t *testing.T, open func() ck.Provider) {
	p := open()
	defer p.Close()
	slot := token(t, p, "visible", true)
	s := userSession(t, p, slot)
	priv, err := p.CreateObject(s, dataObject("private token", "p", attr(ck.CKA_TOKEN, true), attr(ck.CKA_PRIVATE, true)))
	ok(t, err, "CreateObject private")
	pub, err := p.CreateObject(s, dataObject("public token", "q", attr(ck.CKA_TOKEN, true)))
	ok(t, err, "CreateObject public")
	sess, err := p.CreateObject(s, dataObject("session", "r"))
	ok(t, err, "CreateObject session")

	// Another application sees the public token object only; private objects need its own login.
	q := open()
	defer q.Close()
	qs := roSession(t, q, slot)
	if got := find(t, q, qs); len(got) != 1 || got[0] != pub {
		t.Fatalf("another application, not logged in, finds %v; want only %v", got, pub)
	}
	_, err = q.GetAttributeValue(qs, priv, ck.Query(0, ck.CKA_VALUE))
	want(t, err, ck.CKR_OBJECT_HANDLE_INVALID, "private object before login")
	_, err = q.GetAttributeValue(qs, sess, ck.Query(0, ck.CKA_VALUE))
	want(t, err, ck.CKR_OBJECT_HANDLE_INVALID, "another application's session object")
	ok(t, q.Login(qs, ck.CKU_USER, UserPIN), "login")
	if got := find(t, q, qs); len(got) != 2 {
		t.Fatalf("after login another application finds %v; want the two token objects", got)
	}
	if string(getValue(t, q, qs, priv, ck.CKA_VALUE)) != "p" {
		t.Fatal("private object value")
	}
	ok(t, q.Logout(qs), "logout")
	if got := find(t, q, qs); len(got) != 1 {
		t.Fatalf("after logout another application finds %v", got)
	}
	// Logout hides private objects from the application that made them too.
	ok(t, p.Logout(s), "logout")
	if got := find(t, p, s); len(got) != 2 {
		t.Fatalf("after logout the creator finds %v; want the public and the session object", got)
	}
	ok(t, p.Login(s, ck.CKU_USER, UserPIN), "login again")
	if got := find(t, p, s); len(got) != 3 {
		t.Fatalf("after logging in again the creator finds %v", got)
	}
	// Session objects die with their session; token objects stay.
	ok(t, p.CloseSession(s), "CloseSession")
	s2 := roSession(t, p, slot)
	if got := find(t, p, s2); len(got) != 1 || got[0] != pub {
		t.Fatalf("after closing the session: %v", got)
	}
	// Session objects die with their application.
	r := open()
	rs := roSession(t, r, slot)
	rh, err := r.CreateObject(rs, dataObject("short-lived", "x"))
	ok(t, err, "CreateObject")
	ok(t, r.Close(), "Close")
	s3 := roSession(t, p, slot)
	_, err = p.GetObjectSize(s3, rh)
	want(t, err, ck.CKR_OBJECT_HANDLE_INVALID, "object of a finished application")
}

func testFind(t *testing.T, open func() ck.Provider) {
	p := open()
	defer p.Close()
	slot := token(t, p, "find", true)
	s := userSession(t, p, slot)
	var want3 []ck.ObjectHandle
	for i := 0; i < 5; i++ {
		label := "other"
		if i%2 == 0 {
			label = "target"
		}
		h, err := p.CreateObject(s, dataObject(label, string(rune('a'+i)), attr(ck.CKA_TOKEN, i < 3)))
		ok(t, err, "CreateObject")
		if label == "target" {
			want3 = append(want3, h)
		}
	}
	if got := find(t, p, s, attr(ck.CKA_LABEL, "target")); len(got) != 3 {
		t.Fatalf("find by label: %v, want %v", got, want3)
	}
	if got := find(t, p, s, attr(ck.CKA_LABEL, "target"), attr(ck.CKA_TOKEN, true)); len(got) != 2 {
		t.Fatalf("find by label and CKA_TOKEN: %v", got)
	}
	if got := find(t, p, s, attr(ck.CKA_CLASS, ck.CKO_DATA)); len(got) != 5 {
		t.Fatalf("find by class: %v", got)
	}
	if got := find(t, p, s, attr(ck.CKA_CLASS, ck.CKO_CERTIFICATE)); len(got) != 0 {
		t.Fatalf("find certificates: %v", got)
	}
	if got := find(t, p, s, attr(ck.CKA_LABEL, "nothing")); len(got) != 0 {
		t.Fatalf("find a missing label: %v", got)
	}
	_, err := p.FindObjects(s, 10)
	want(t, err, ck.CKR_OPERATION_NOT_INITIALIZED, "FindObjects without init")
	want(t, p.FindObjectsFinal(s), ck.CKR_OPERATION_NOT_INITIALIZED, "FindObjectsFinal without init")
	ok(t, p.FindObjectsInit(s, nil), "FindObjectsInit")
	want(t, p.FindObjectsInit(s, nil), ck.CKR_OPERATION_ACTIVE, "FindObjectsInit twice")
	// An object destroyed during a search is not returned.
	first, err := p.FindObjects(s, 1)
	ok(t, err, "FindObjects")
	rest := find2(t, p, s, first[0])
	for _, h := range rest {
		if h == first[0] {
			t.Fatal("a handle was returned twice")
		}
	}
	if len(rest) != 4 {
		t.Fatalf("the rest of the search: %v", rest)
	}
}

// find2 destroys an object not yet returned and drains the search.
func find2(t *testing.T, p ck.Provider, s ck.SessionHandle, seen ck.ObjectHandle) []ck.ObjectHandle {
	t.Helper()
	var out []ck.ObjectHandle
	for {
		hs, err := p.FindObjects(s, 100)
		ok(t, err, "FindObjects")
		if len(hs) == 0 {
			break
		}
		out = append(out, hs...)
	}
	ok(t, p.FindObjectsFinal(s), "FindObjectsFinal")
	return out
}

func testAttributeArray(t *testing.T, open func() ck.Provider) {
	p := open()
	defer p.Close()
	slot := token(t, p, "arrays", true)
	s := userSession(t, p, slot)
	tmpl := []ck.Attribute{attr(ck.CKA_CLASS, ck.CKO_SECRET_KEY), attr(ck.CKA_SENSITIVE, true)}
	k, err := p.CreateObject(s, secretKey("wrapper", make([]byte, 32), attr(ck.CKA_WRAP_TEMPLATE, tmpl)))
	ok(t, err, "CreateObject with CKA_WRAP_TEMPLATE")
	res, err := p.GetAttributeValue(s, k, ck.Query(0, ck.CKA_WRAP_TEMPLATE))
	ok(t, err, "length of CKA_WRAP_TEMPLATE")
	if res[0].Len != 2*24 {
		t.Fatalf("CKA_WRAP_TEMPLATE length %d, want 2 attributes of 24 bytes", res[0].Len)
	}
	q := []ck.Attribute{{Type: ck.CKA_WRAP_TEMPLATE, Kind: ck.AttrArray, Array: []ck.Attribute{{Kind: ck.AttrBuffer, Len: 8}, {Kind: ck.AttrBuffer, Len: 8}}}}
	res, err = p.GetAttributeValue(s, k, q)
	ok(t, err, "values of CKA_WRAP_TEMPLATE")
	got := map[ck.AttributeType][]byte{}
	for _, a := range res[0].Array {
		got[a.Type] = a.Value
	}
	if v, _ := ck.NewAttribute(0, ck.CKO_SECRET_KEY).Value, 0; !bytes.Equal(got[ck.CKA_CLASS], v) || !bytes.Equal(got[ck.CKA_SENSITIVE], []byte{1}) {
		t.Fatalf("CKA_WRAP_TEMPLATE read back as %+v", res[0].Array)
	}
	q[0].Array = q[0].Array[:1]
	_, err = p.GetAttributeValue(s, k, q)
	want(t, err, ck.CKR_BUFFER_TOO_SMALL, "CKA_WRAP_TEMPLATE into a one-entry array")
	bad := []ck.Attribute{attr(ck.CKA_CLASS, ck.CKO_SECRET_KEY), {Type: ck.CKA_SENSITIVE, Kind: ck.AttrValue, Value: []byte{1, 1}}}
	_, err = p.CreateObject(s, secretKey("bad", make([]byte, 32), attr(ck.CKA_WRAP_TEMPLATE, bad)))
	want(t, err, ck.CKR_ATTRIBUTE_VALUE_INVALID, "CKA_WRAP_TEMPLATE with a malformed entry")
}
