package enginetest

import (
	"bytes"
	"testing"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

func aesKeyGen(t *testing.T, p ck.Provider, s ck.SessionHandle, extra ...ck.Attribute) ck.ObjectHandle {
	t.Helper()
	tmpl := append([]ck.Attribute{attr(ck.CKA_VALUE_LEN, 32)}, extra...)
	h, err := p.GenerateKey(s, &ck.Mechanism{Type: ck.CKM_AES_KEY_GEN}, tmpl)
	ok(t, err, "GenerateKey AES")
	return h
}

// testKeyGeneration checks the attributes the engine gives generated keys.
func testKeyGeneration(t *testing.T, open func() ck.Provider) {
	p := open()
	defer p.Close()
	slot := token(t, p, "keygen", true)
	s := userSession(t, p, slot)
	k := aesKeyGen(t, p, s)
	for typ, want := range map[ck.AttributeType]bool{ck.CKA_LOCAL: true, ck.CKA_SENSITIVE: true,
		ck.CKA_ALWAYS_SENSITIVE: true, ck.CKA_EXTRACTABLE: false, ck.CKA_NEVER_EXTRACTABLE: true, ck.CKA_PRIVATE: true} {
		if got := getBool(t, p, s, k, typ); got != want {
			t.Errorf("generated AES key: %v = %v, want %v", typ, got, want)
		}
	}
	if v := getValue(t, p, s, k, ck.CKA_KEY_GEN_MECHANISM); !bytes.Equal(v, ck.ULong(uint64(ck.CKM_AES_KEY_GEN))) {
		t.Errorf("CKA_KEY_GEN_MECHANISM %x", v)
	}
	if v := getValue(t, p, s, k, ck.CKA_VALUE_LEN); !bytes.Equal(v, ck.ULong(32)) {
		t.Errorf("CKA_VALUE_LEN %x", v)
	}
	x := aesKeyGen(t, p, s, attr(ck.CKA_EXTRACTABLE, true), attr(ck.CKA_SENSITIVE, false))
	if getBool(t, p, s, x, ck.CKA_ALWAYS_SENSITIVE) || getBool(t, p, s, x, ck.CKA_NEVER_EXTRACTABLE) {
		t.Error("a key generated extractable and not sensitive claims CKA_ALWAYS_SENSITIVE or CKA_NEVER_EXTRACTABLE")
	}
	if len(getValue(t, p, s, x, ck.CKA_VALUE)) != 32 {
		t.Error("an extractable, non-sensitive generated key's value is not readable")
	}
	// Making it sensitive later does not make it always sensitive.
	ok(t, p.SetAttributeValue(s, x, []ck.Attribute{attr(ck.CKA_SENSITIVE, true)}), "set sensitive")
	if getBool(t, p, s, x, ck.CKA_ALWAYS_SENSITIVE) {
		t.Error("CKA_ALWAYS_SENSITIVE became true")
	}
	gen := &ck.Mechanism{Type: ck.CKM_AES_KEY_GEN}
	_, err := p.GenerateKey(s, gen, nil)
	want(t, err, ck.CKR_TEMPLATE_INCOMPLETE, "AES key generation without CKA_VALUE_LEN")
	_, err = p.GenerateKey(s, gen, []ck.Attribute{attr(ck.CKA_VALUE_LEN, 32), attr(ck.CKA_CLASS, ck.CKO_DATA)})
	want(t, err, ck.CKR_TEMPLATE_INCONSISTENT, "AES key generation of a data object")
	_, err = p.GenerateKey(s, gen, []ck.Attribute{attr(ck.CKA_VALUE_LEN, 32), attr(ck.CKA_KEY_TYPE, ck.CKK_GENERIC_SECRET)})
	want(t, err, ck.CKR_TEMPLATE_INCONSISTENT, "AES key generation of a generic secret")
	_, err = p.GenerateKey(s, gen, []ck.Attribute{attr(ck.CKA_VALUE_LEN, 32), attr(ck.CKA_LOCAL, true)})
	want(t, err, ck.CKR_ATTRIBUTE_READ_ONLY, "CKA_LOCAL in a generation template")
	_, err = p.GenerateKey(s, gen, []ck.Attribute{attr(ck.CKA_VALUE_LEN, 32), attr(ck.CKA_VALUE, make([]byte, 32))})
	if ck.ToRV(err) == ck.CKR_OK {
		t.Error("a generation template may not choose the key value")
	}
	ro := roSession(t, p, slot)
	_, err = p.GenerateKey(ro, gen, []ck.Attribute{attr(ck.CKA_VALUE_LEN, 32), attr(ck.CKA_TOKEN, true)})
	want(t, err, ck.CKR_SESSION_READ_ONLY, "token key in an RO session")
	_, err = p.GenerateKey(s, &ck.Mechanism{Type: ck.CKM_SHA256}, []ck.Attribute{attr(ck.CKA_VALUE_LEN, 32)})
	want(t, err, ck.CKR_MECHANISM_INVALID, "GenerateKey with a digest mechanism")
}

// testKeyUse checks the usage attributes, key types and CKA_ALLOWED_MECHANISMS at operation init.
func testKeyUse(t *testing.T, open func() ck.Provider) {
	p := open()
	defer p.Close()
	slot := token(t, p, "keyuse", true)
	s := userSession(t, p, slot)
	ecb := &ck.Mechanism{Type: ck.CKM_AES_ECB}
	noEnc := aesKeyGen(t, p, s, attr(ck.CKA_ENCRYPT, false))
	want(t, p.OperationInit(s, ck.OpEncrypt, ecb, noEnc), ck.CKR_KEY_FUNCTION_NOT_PERMITTED, "encrypt with CKA_ENCRYPT false")
	ok(t, p.OperationInit(s, ck.OpDecrypt, ecb, noEnc), "decrypt with the same key")
	ok(t, p.OperationInit(s, ck.OpDecrypt, nil, 0), "cancel")
	only := aesKeyGen(t, p, s, ck.Attribute{Type: ck.CKA_ALLOWED_MECHANISMS, Kind: ck.AttrValue, Value: ck.ULong(uint64(ck.CKM_AES_CBC_PAD))})
	want(t, p.OperationInit(s, ck.OpEncrypt, ecb, only), ck.CKR_MECHANISM_INVALID, "a mechanism outside CKA_ALLOWED_MECHANISMS")
	ok(t, p.OperationInit(s, ck.OpEncrypt, &ck.Mechanism{Type: ck.CKM_AES_CBC_PAD, Parameter: make([]byte, 16)}, only), "the allowed mechanism")
	ok(t, p.OperationInit(s, ck.OpEncrypt, nil, 0), "cancel")
	d, err := p.CreateObject(s, dataObject("d", "x"))
	ok(t, err, "CreateObject")
	want(t, p.OperationInit(s, ck.OpEncrypt, ecb, d), ck.CKR_KEY_HANDLE_INVALID, "encrypt with a data object")
	want(t, p.OperationInit(s, ck.OpEncrypt, ecb, 0x7ffffff0), ck.CKR_KEY_HANDLE_INVALID, "encrypt with no object")
	g, err := p.CreateObject(s, secretKey("g", make([]byte, 32)))
	ok(t, err, "CreateObject")
	want(t, p.OperationInit(s, ck.OpEncrypt, ecb, g), ck.CKR_KEY_TYPE_INCONSISTENT, "AES-ECB with a generic secret")
	// A working round trip, and the operation's end on success.
	k := aesKeyGen(t, p, s)
	block := bytes.Repeat([]byte{0x42}, 32)
	ok(t, p.OperationInit(s, ck.OpEncrypt, ecb, k), "EncryptInit")
	ct, _, err := p.OperationSingle(s, ck.OpEncrypt, block, ck.Out{Present: true, Cap: 64})
	ok(t, err, "Encrypt")
	if len(ct) != 32 || bytes.Equal(ct, block) {
		t.Fatalf("ciphertext %x", ct)
	}
	ok(t, p.OperationInit(s, ck.OpDecrypt, ecb, k), "DecryptInit")
	pt, _, err := p.OperationSingle(s, ck.OpDecrypt, ct, ck.Out{Present: true, Cap: 64})
	ok(t, err, "Decrypt")
	if !bytes.Equal(pt, block) {
		t.Fatal("AES-ECB round trip failed")
	}
	// An error ends the operation: a partial block.
	ok(t, p.OperationInit(s, ck.OpEncrypt, ecb, k), "EncryptInit")
	_, _, err = p.OperationSingle(s, ck.OpEncrypt, block[:5], ck.Out{Present: true, Cap: 64})
	want(t, err, ck.CKR_DATA_LEN_RANGE, "AES-ECB of 5 bytes")
	_, _, err = p.OperationSingle(s, ck.OpEncrypt, block, ck.Out{Present: true, Cap: 64})
	want(t, err, ck.CKR_OPERATION_NOT_INITIALIZED, "the operation after an error")
}

// testTookan tries the known ways of getting a sensitive key's value out of a token (Bortolozzo, Centenaro,
// Focardi, Steel: "Attacking and fixing PKCS#11 security tokens", the Tookan attacks) and checks that each fails.
func testTookan(t *testing.T, open func() ck.Provider) {
	p := open()
	defer p.Close()
	slot := token(t, p, "tookan", true)
	// The SO provisions a trusted wrapping key (a public token object: the SO cannot make private ones).
	so := open()
	ss := rwSession(t, so, slot)
	ok(t, so.Login(ss, ck.CKU_SO, SOPIN), "SO login")
	trustedTmpl := []ck.Attribute{attr(ck.CKA_CLASS, ck.CKO_SECRET_KEY), attr(ck.CKA_KEY_TYPE, ck.CKK_AES), attr(ck.CKA_TOKEN, true),
		attr(ck.CKA_VALUE, bytes.Repeat([]byte{7}, 32)), attr(ck.CKA_PRIVATE, false), attr(ck.CKA_TRUSTED, true), attr(ck.CKA_WRAP, true)}
	trusted, err := so.CreateObject(ss, trustedTmpl)
	ok(t, err, "SO creates a trusted wrapping key")
	_, err = so.CreateObject(ss, append(trustedTmpl[:len(trustedTmpl):len(trustedTmpl)], attr(ck.CKA_UNWRAP, true)))
	want(t, err, ck.CKR_TEMPLATE_INCONSISTENT, "a trusted key that can unwrap")
	ok(t, so.Logout(ss), "SO logout")
	defer so.Close()
	s := userSession(t, p, slot)
	// The target: a sensitive key, extractable so that wrapping is at least conceivable.
	target := aesKeyGen(t, p, s, attr(ck.CKA_EXTRACTABLE, true))
	kw := &ck.Mechanism{Type: ck.CKM_AES_KEY_WRAP}
	ecb := &ck.Mechanism{Type: ck.CKM_AES_ECB}

	// 1. Wrap with a key that can also decrypt, then decrypt the blob.
	wd := aesKeyGen(t, p, s, attr(ck.CKA_WRAP, true), attr(ck.CKA_DECRYPT, true))
	_, _, err = p.WrapKey(s, kw, wd, target, ck.Out{Present: true, Cap: 64})
	want(t, err, ck.CKR_KEY_NOT_WRAPPABLE, "wrap a sensitive key under a wrap-and-decrypt key")

	// 2. Wrap with a key whose value the attacker chose (imported), then unwrap offline.
	known, err := p.CreateObject(s, []ck.Attribute{attr(ck.CKA_CLASS, ck.CKO_SECRET_KEY), attr(ck.CKA_KEY_TYPE, ck.CKK_AES),
		attr(ck.CKA_VALUE, make([]byte, 32)), attr(ck.CKA_WRAP, true)})
	ok(t, err, "import a known key")
	_, _, err = p.WrapKey(s, kw, known, target, ck.Out{Present: true, Cap: 64})
	want(t, err, ck.CKR_KEY_NOT_WRAPPABLE, "wrap a sensitive key under a known key")

	// 3. Unwrap a chosen value to make a known wrapping key (encrypt, then unwrap), then wrap with it.
	eu := aesKeyGen(t, p, s, attr(ck.CKA_ENCRYPT, true), attr(ck.CKA_UNWRAP, true))
	ok(t, p.OperationInit(s, ck.OpEncrypt, ecb, eu), "EncryptInit")
	blob, _, err := p.OperationSingle(s, ck.OpEncrypt, make([]byte, 32), ck.Out{Present: true, Cap: 64})
	ok(t, err, "Encrypt a chosen key value")
	planted, err := p.UnwrapKey(s, ecb, eu, blob, []ck.Attribute{attr(ck.CKA_CLASS, ck.CKO_SECRET_KEY),
		attr(ck.CKA_KEY_TYPE, ck.CKK_AES), attr(ck.CKA_WRAP, true)})
	ok(t, err, "unwrap the chosen value")
	if getBool(t, p, s, planted, ck.CKA_LOCAL) || getBool(t, p, s, planted, ck.CKA_ALWAYS_SENSITIVE) || getBool(t, p, s, planted, ck.CKA_NEVER_EXTRACTABLE) {
		t.Error("an unwrapped key claims to have been made or always kept in the token")
	}
	_, _, err = p.WrapKey(s, kw, planted, target, ck.Out{Present: true, Cap: 64})
	want(t, err, ck.CKR_KEY_NOT_WRAPPABLE, "wrap a sensitive key under a planted key")

	// 4. A trusted wrapping key (the SO's) wraps; the blob cannot come back in clear: a trusted key can
	//    neither decrypt nor unwrap, not after a change, not in a copy.
	wrapped, _, err := p.WrapKey(s, kw, trusted, target, ck.Out{Present: true, Cap: 64})
	ok(t, err, "wrap a sensitive key under the trusted key")
	want(t, p.SetAttributeValue(s, trusted, []ck.Attribute{attr(ck.CKA_UNWRAP, true)}), ck.CKR_ATTRIBUTE_READ_ONLY, "let the trusted key unwrap")
	want(t, p.SetAttributeValue(s, trusted, []ck.Attribute{attr(ck.CKA_DECRYPT, true)}), ck.CKR_ATTRIBUTE_READ_ONLY, "let the trusted key decrypt")
	want(t, p.SetAttributeValue(s, trusted, []ck.Attribute{attr(ck.CKA_TRUSTED, false)}), ck.CKR_ATTRIBUTE_READ_ONLY, "untrust the key")
	_, err = p.CopyObject(s, trusted, []ck.Attribute{attr(ck.CKA_UNWRAP, true)})
	if ck.ToRV(err) == ck.CKR_OK {
		t.Fatal("a copy of the trusted key can unwrap")
	}
	_, err = p.CopyObject(s, trusted, []ck.Attribute{attr(ck.CKA_TRUSTED, false), attr(ck.CKA_UNWRAP, true)})
	if ck.ToRV(err) == ck.CKR_OK {
		t.Fatal("an untrusted copy of the trusted key can unwrap")
	}
	_, err = p.UnwrapKey(s, kw, trusted, wrapped, []ck.Attribute{attr(ck.CKA_CLASS, ck.CKO_SECRET_KEY), attr(ck.CKA_KEY_TYPE, ck.CKK_AES)})
	want(t, err, ck.CKR_KEY_FUNCTION_NOT_PERMITTED, "unwrap with the trusted key")
	want(t, p.OperationInit(s, ck.OpDecrypt, ecb, trusted), ck.CKR_KEY_FUNCTION_NOT_PERMITTED, "decrypt with the trusted key")

	// 5. Copy or change the target into a readable key.
	_, err = p.CopyObject(s, target, []ck.Attribute{attr(ck.CKA_SENSITIVE, false)})
	want(t, err, ck.CKR_ATTRIBUTE_READ_ONLY, "copy the target as not sensitive")
	want(t, p.SetAttributeValue(s, target, []ck.Attribute{attr(ck.CKA_SENSITIVE, false)}), ck.CKR_ATTRIBUTE_READ_ONLY, "make the target not sensitive")

	// 6. Derive from the target into an extractable key: allowed, but the result is not the target's value
	//    and does not claim the target's history.
	dk, err := p.DeriveKey(s, &ck.Mechanism{Type: ck.CKM_AES_ECB_ENCRYPT_DATA, Parameter: mustParams(t, ck.CKM_AES_ECB_ENCRYPT_DATA, map[string]any{"pData": make([]byte, 32)})},
		target, []ck.Attribute{attr(ck.CKA_CLASS, ck.CKO_SECRET_KEY), attr(ck.CKA_KEY_TYPE, ck.CKK_GENERIC_SECRET),
			attr(ck.CKA_VALUE_LEN, 32), attr(ck.CKA_SENSITIVE, false), attr(ck.CKA_EXTRACTABLE, true)})
	if ck.ToRV(err) == ck.CKR_KEY_FUNCTION_NOT_PERMITTED {
		return // the target cannot derive (CKA_DERIVE false by default): nothing more to try
	}
	ok(t, err, "derive from the target")
	if getBool(t, p, s, dk, ck.CKA_ALWAYS_SENSITIVE) || getBool(t, p, s, dk, ck.CKA_NEVER_EXTRACTABLE) {
		t.Error("a derived extractable key claims the base key's history")
	}
}

// testAlwaysAuthenticate checks CKA_ALWAYS_AUTHENTICATE: every operation with the key needs its own
// CKU_CONTEXT_SPECIFIC login.
func testAlwaysAuthenticate(t *testing.T, open func() ck.Provider) {
	p := open()
	defer p.Close()
	slot := token(t, p, "always-auth", true)
	s := userSession(t, p, slot)
	_, k, err := p.GenerateKeyPair(s, &ck.Mechanism{Type: ck.CKM_EC_KEY_PAIR_GEN},
		[]ck.Attribute{attr(ck.CKA_EC_PARAMS, []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07})},
		[]ck.Attribute{attr(ck.CKA_ALWAYS_AUTHENTICATE, true)})
	ok(t, err, "GenerateKeyPair")
	ecdsa := &ck.Mechanism{Type: ck.CKM_ECDSA}
	digest := make([]byte, 32)
	out := ck.Out{Present: true, Cap: 64}
	ok(t, p.OperationInit(s, ck.OpSign, ecdsa, k), "SignInit")
	_, _, err = p.OperationSingle(s, ck.OpSign, digest, out)
	want(t, err, ck.CKR_USER_NOT_LOGGED_IN, "Sign before the context-specific login")
	want(t, p.Login(s, ck.CKU_CONTEXT_SPECIFIC, []byte("wrong-pin")), ck.CKR_PIN_INCORRECT, "context-specific login, wrong PIN")
	ok(t, p.Login(s, ck.CKU_CONTEXT_SPECIFIC, UserPIN), "context-specific login")
	sig, _, err := p.OperationSingle(s, ck.OpSign, digest, out)
	ok(t, err, "Sign after the context-specific login")
	if len(sig) != 64 {
		t.Fatalf("signature of %d bytes", len(sig))
	}
	// The next operation needs a login of its own.
	ok(t, p.OperationInit(s, ck.OpSign, ecdsa, k), "SignInit")
	_, _, err = p.OperationSingle(s, ck.OpSign, digest, out)
	want(t, err, ck.CKR_USER_NOT_LOGGED_IN, "the second Sign without its own login")
}
