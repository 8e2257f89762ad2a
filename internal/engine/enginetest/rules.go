package enginetest

import (
	"bytes"
	"testing"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// Security rules that no other test held (issue 11, item 8: found by scripts/mutate-engine.sh, which disables
// the engine's checks one at a time and lists those no test notices).

// testSetPINLocked: a locked PIN cannot be changed, not even with the right old PIN (C_SetPIN answers
// CKR_PIN_LOCKED), so C_SetPIN is no way around the retry counter; only the SO's C_InitPIN unlocks it.
func testSetPINLocked(t *testing.T, open func() ck.Provider) {
	p := open()
	defer p.Close()
	slot := token(t, p, "setpin-locked", true)
	rw := rwSession(t, p, slot)
	locked := false
	for i := 0; i < 100 && !locked; i++ {
		err := p.Login(rw, ck.CKU_USER, []byte("wrong-pin-0000"))
		locked = isRV(err, ck.CKR_PIN_LOCKED)
		if !locked && !isRV(err, ck.CKR_PIN_INCORRECT) {
			t.Fatalf("wrong PIN %d: %v", i, err)
		}
	}
	if !locked {
		t.Fatal("the user PIN never locked")
	}
	want(t, p.SetPIN(rw, UserPIN, []byte("another-pin")), ck.CKR_PIN_LOCKED, "SetPIN of a locked PIN with the right old PIN")
	want(t, p.Login(rw, ck.CKU_USER, []byte("another-pin")), ck.CKR_PIN_LOCKED, "login with the PIN SetPIN was refused")
	want(t, p.Login(rw, ck.CKU_USER, UserPIN), ck.CKR_PIN_LOCKED, "login with the locked PIN")
	ok(t, p.Login(rw, ck.CKU_SO, SOPIN), "SO login")
	ok(t, p.InitPIN(rw, UserPIN), "InitPIN unlocks")
	ok(t, p.Logout(rw), "Logout")
	ok(t, p.Login(rw, ck.CKU_USER, UserPIN), "login after InitPIN")
}

// testKeyTemplateRules: a key-management call with no mechanism is CKR_ARGUMENTS_BAD (not a crash of the
// daemon), and a template that gives one attribute two values is CKR_TEMPLATE_INCONSISTENT (neither value may
// silently win: {CKA_SENSITIVE TRUE, CKA_SENSITIVE FALSE} must not make an extractable key).
func testKeyTemplateRules(t *testing.T, open func() ck.Provider) {
	p := open()
	defer p.Close()
	slot := token(t, p, "key-templates", true)
	s := userSession(t, p, slot)
	aes := aesKeyGen(t, p, s, attr(ck.CKA_WRAP, true), attr(ck.CKA_DERIVE, true))
	tmpl := []ck.Attribute{attr(ck.CKA_VALUE_LEN, 32)}
	_, err := p.GenerateKey(s, nil, tmpl)
	want(t, err, ck.CKR_ARGUMENTS_BAD, "GenerateKey without a mechanism")
	_, _, err = p.GenerateKeyPair(s, nil, nil, nil)
	want(t, err, ck.CKR_ARGUMENTS_BAD, "GenerateKeyPair without a mechanism")
	_, err = p.DeriveKey(s, nil, aes, tmpl)
	want(t, err, ck.CKR_ARGUMENTS_BAD, "DeriveKey without a mechanism")
	_, err = p.UnwrapKey(s, nil, aes, make([]byte, 40), tmpl)
	want(t, err, ck.CKR_ARGUMENTS_BAD, "UnwrapKey without a mechanism")
	_, err = p.GenerateKey(s, &ck.Mechanism{Type: ck.CKM_AES_KEY_GEN}, []ck.Attribute{attr(ck.CKA_VALUE_LEN, 32),
		attr(ck.CKA_SENSITIVE, true), attr(ck.CKA_EXTRACTABLE, true), attr(ck.CKA_SENSITIVE, false)})
	want(t, err, ck.CKR_TEMPLATE_INCONSISTENT, "GenerateKey with CKA_SENSITIVE both true and false")
	_, err = p.GenerateKey(s, &ck.Mechanism{Type: ck.CKM_AES_KEY_GEN}, []ck.Attribute{attr(ck.CKA_VALUE_LEN, 32),
		attr(ck.CKA_SENSITIVE, false), attr(ck.CKA_SENSITIVE, false)})
	ok(t, err, "GenerateKey with CKA_SENSITIVE twice, the same")
	// Without a login, no private key is made (a key is private by default), by generation or unwrapping.
	ok(t, p.Logout(s), "Logout")
	pub := rwSession(t, p, slot)
	_, err = p.GenerateKey(pub, &ck.Mechanism{Type: ck.CKM_AES_KEY_GEN}, tmpl)
	want(t, err, ck.CKR_USER_NOT_LOGGED_IN, "GenerateKey of a private key without login")
	_, _, err = p.GenerateKeyPair(pub, &ck.Mechanism{Type: ck.CKM_EC_EDWARDS_KEY_PAIR_GEN},
		[]ck.Attribute{attr(ck.CKA_EC_PARAMS, []byte{0x06, 0x03, 0x2b, 0x65, 0x70})}, nil)
	want(t, err, ck.CKR_USER_NOT_LOGGED_IN, "GenerateKeyPair of a private key without login")
	_, err = p.GenerateKey(pub, &ck.Mechanism{Type: ck.CKM_AES_KEY_GEN}, append(tmpl, attr(ck.CKA_PRIVATE, false)))
	ok(t, err, "GenerateKey of a public session key without login")
}

// testTokenRules: C_InitToken and DeleteToken refuse while sessions are open (CKR_SESSION_EXISTS) and once the
// SO PIN is locked (CKR_PIN_LOCKED, even with the right SO PIN: neither is a way around the retry counter); a
// user cannot log in while another application is logged in as the SO (CKR_USER_TOO_MANY_TYPES); C_SetPIN of a
// user PIN never set is CKR_USER_PIN_NOT_INITIALIZED.
func testTokenRules(t *testing.T, open func() ck.Provider) {
	p := open()
	defer p.Close()
	slot := token(t, p, "token-rules", false)
	label := Label("token-rules")
	rw := rwSession(t, p, slot)
	want(t, p.SetPIN(rw, UserPIN, []byte("another-pin")), ck.CKR_USER_PIN_NOT_INITIALIZED, "SetPIN of a user PIN never set")
	ok(t, p.Login(rw, ck.CKU_SO, SOPIN), "SO login")
	ok(t, p.InitPIN(rw, UserPIN), "InitPIN")
	// Another application cannot log in as the user while this one is the SO.
	q := open()
	qs := rwSession(t, q, slot)
	want(t, q.Login(qs, ck.CKU_USER, UserPIN), ck.CKR_USER_TOO_MANY_TYPES, "user login while another application is the SO")
	want(t, p.InitToken(slot, SOPIN, label), ck.CKR_SESSION_EXISTS, "InitToken with sessions open")
	want(t, p.DeleteToken(slot, SOPIN), ck.CKR_SESSION_EXISTS, "DeleteToken with sessions open")
	ok(t, q.CloseSession(qs), "CloseSession")
	q.Close()
	ok(t, p.Logout(rw), "Logout")
	locked := false
	for i := 0; i < 100 && !locked; i++ {
		err := p.Login(rw, ck.CKU_SO, []byte("wrong-so-pin"))
		locked = isRV(err, ck.CKR_PIN_LOCKED)
		if !locked && !isRV(err, ck.CKR_PIN_INCORRECT) {
			t.Fatalf("wrong SO PIN %d: %v", i, err)
		}
	}
	if !locked {
		t.Fatal("the SO PIN never locked")
	}
	ok(t, p.CloseSession(rw), "CloseSession")
	want(t, p.InitToken(slot, SOPIN, label), ck.CKR_PIN_LOCKED, "InitToken with the SO PIN locked, the right SO PIN")
	want(t, p.DeleteToken(slot, SOPIN), ck.CKR_PIN_LOCKED, "DeleteToken with the SO PIN locked, the right SO PIN")
}

// testObjectRules: a key with CKA_EXTRACTABLE false is never wrapped, even when it is not sensitive
// (CKR_KEY_UNEXTRACTABLE); only the SO sets CKA_TRUSTED (CKR_ATTRIBUTE_READ_ONLY for the user, by
// C_SetAttributeValue or C_CopyObject); a token object is not modified from a read-only session
// (CKR_SESSION_READ_ONLY).
func testObjectRules(t *testing.T, open func() ck.Provider) {
	p := open()
	defer p.Close()
	slot := token(t, p, "object-rules", true)
	s := userSession(t, p, slot)
	aes := func(extra ...ck.Attribute) ck.ObjectHandle {
		t.Helper()
		h, err := p.CreateObject(s, append([]ck.Attribute{attr(ck.CKA_CLASS, ck.CKO_SECRET_KEY),
			attr(ck.CKA_KEY_TYPE, ck.CKK_AES), attr(ck.CKA_VALUE, bytes.Repeat([]byte{9}, 16))}, extra...))
		ok(t, err, "CreateObject AES")
		return h
	}
	wrapping := aes(attr(ck.CKA_WRAP, true))
	kept := aes(attr(ck.CKA_SENSITIVE, false), attr(ck.CKA_EXTRACTABLE, false))
	kw := &ck.Mechanism{Type: ck.CKM_AES_KEY_WRAP}
	_, _, err := p.WrapKey(s, kw, wrapping, kept, ck.Out{Present: true, Cap: 64})
	want(t, err, ck.CKR_KEY_UNEXTRACTABLE, "WrapKey of a non-extractable, non-sensitive key")
	loose := aes(attr(ck.CKA_SENSITIVE, false), attr(ck.CKA_EXTRACTABLE, true))
	_, _, err = p.WrapKey(s, kw, wrapping, loose, ck.Out{Present: true, Cap: 64})
	ok(t, err, "WrapKey of an extractable, non-sensitive key")
	want(t, p.SetAttributeValue(s, wrapping, []ck.Attribute{attr(ck.CKA_TRUSTED, true)}), ck.CKR_ATTRIBUTE_READ_ONLY, "the user sets CKA_TRUSTED")
	_, err = p.CopyObject(s, wrapping, []ck.Attribute{attr(ck.CKA_TRUSTED, true)})
	want(t, err, ck.CKR_ATTRIBUTE_READ_ONLY, "the user copies a key with CKA_TRUSTED true")
	if getBool(t, p, s, wrapping, ck.CKA_TRUSTED) {
		t.Fatal("the user made a key trusted")
	}
	d, err := p.CreateObject(s, dataObject("d", "v", attr(ck.CKA_TOKEN, true), attr(ck.CKA_PRIVATE, false)))
	ok(t, err, "CreateObject token data object")
	ro := roSession(t, p, slot)
	want(t, p.SetAttributeValue(ro, d, []ck.Attribute{attr(ck.CKA_LABEL, "changed")}), ck.CKR_SESSION_READ_ONLY, "SetAttributeValue of a token object in an RO session")
	if v := getValue(t, p, ro, d, ck.CKA_LABEL); string(v) != "d" {
		t.Fatalf("label %q after the refused change", v)
	}
}

// testPINOutOfRange: a PIN outside the token's lengths (ulMinPinLen ... ulMaxPinLen of CK_TOKEN_INFO) can never
// be right, so C_Login, C_SetPIN's old PIN and C_InitToken's SO PIN refuse it with CKR_PIN_INCORRECT without
// spending an attempt: a too-long PIN from a broken PIN file must not lock the user out.
func testPINOutOfRange(t *testing.T, open func() ck.Provider) {
	p := open()
	defer p.Close()
	slot := token(t, p, "pin-range", true)
	rw := rwSession(t, p, slot)
	info := tokenInfo(t, p, slot)
	long := bytes.Repeat([]byte{'7'}, int(info.MaxPinLen)+1)
	short := []byte("1")
	for i := 0; i < 12; i++ { // more than the 10 attempts a PIN has
		want(t, p.Login(rw, ck.CKU_USER, long), ck.CKR_PIN_INCORRECT, "login with a PIN longer than the maximum")
		want(t, p.Login(rw, ck.CKU_USER, short), ck.CKR_PIN_INCORRECT, "login with a PIN shorter than the minimum")
		want(t, p.SetPIN(rw, long, []byte("another-pin")), ck.CKR_PIN_INCORRECT, "SetPIN with a too-long old PIN")
		want(t, p.Login(rw, ck.CKU_SO, long), ck.CKR_PIN_INCORRECT, "SO login with a PIN longer than the maximum")
	}
	if f := tokenInfo(t, p, slot).Flags; f&(ck.CKF_USER_PIN_COUNT_LOW|ck.CKF_USER_PIN_LOCKED|ck.CKF_SO_PIN_COUNT_LOW|ck.CKF_SO_PIN_LOCKED) != 0 {
		t.Fatalf("out-of-range PINs were counted as attempts (flags %#x)", f)
	}
	ok(t, p.Login(rw, ck.CKU_USER, UserPIN), "login with the right PIN")
}
