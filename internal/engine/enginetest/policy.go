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
func testTookan(policy ck.WrapPolicy) func(*testing.T, func() ck.Provider) {
	return func(t *testing.T, open func() ck.Provider) { tookan(t, open, policy) }
}

func tookan(t *testing.T, open func() ck.Provider, policy ck.WrapPolicy) {
	p := open()
	defer p.Close()
	slot := policyToken(t, p, "tookan", policy)
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

// policyToken initialises the free slot with SOPIN and UserPIN under a wrap policy and returns its slot.
func policyToken(t *testing.T, p ck.Provider, label string, policy ck.WrapPolicy) ck.SlotID {
	t.Helper()
	slots, err := p.GetSlotList(true)
	ok(t, err, "GetSlotList")
	slot := slots[len(slots)-1]
	ok(t, p.InitTokenPolicy(slot, SOPIN, Label(label), policy), "InitTokenPolicy "+policy.String())
	s := rwSession(t, p, slot)
	ok(t, p.Login(s, ck.CKU_SO, SOPIN), "Login SO")
	ok(t, p.InitPIN(s, UserPIN), "InitPIN")
	ok(t, p.CloseSession(s), "CloseSession")
	return slot
}

// soTrustedKey has the SO make a trusted AES-256 wrapping key (a public token object) and returns it.
func soTrustedKey(t *testing.T, open func() ck.Provider, slot ck.SlotID, extra ...ck.Attribute) ck.ObjectHandle {
	t.Helper()
	so := open()
	t.Cleanup(func() { so.Close() })
	ss := rwSession(t, so, slot)
	ok(t, so.Login(ss, ck.CKU_SO, SOPIN), "SO login")
	tmpl := append([]ck.Attribute{attr(ck.CKA_CLASS, ck.CKO_SECRET_KEY), attr(ck.CKA_KEY_TYPE, ck.CKK_AES), attr(ck.CKA_TOKEN, true),
		attr(ck.CKA_VALUE, bytes.Repeat([]byte{7}, 32)), attr(ck.CKA_PRIVATE, false), attr(ck.CKA_TRUSTED, true), attr(ck.CKA_WRAP, true)}, extra...)
	k, err := so.CreateObject(ss, tmpl)
	if len(extra) > 0 {
		want(t, err, ck.CKR_TEMPLATE_INCONSISTENT, "a trusted key that can do more than wrap")
		ok(t, so.Logout(ss), "SO logout")
		return 0
	}
	ok(t, err, "SO creates a trusted wrapping key")
	ok(t, so.Logout(ss), "SO logout")
	return k
}

// wrapOnlyTemplate is a wrap-only AES key: it wraps (and unwraps) and does nothing else.
func wrapOnlyTemplate(extra ...ck.Attribute) []ck.Attribute {
	return append([]ck.Attribute{attr(ck.CKA_WRAP, true), attr(ck.CKA_UNWRAP, true), attr(ck.CKA_ENCRYPT, false),
		attr(ck.CKA_DECRYPT, false), attr(ck.CKA_SIGN, false), attr(ck.CKA_VERIFY, false), attr(ck.CKA_DERIVE, false)}, extra...)
}

// crossModeAttacks tries to get a sensitive key back in clear through its wrapping key k used for anything
// but wrapping (issue: C_WrapKey(GCM, T, K, iv) then C_Encrypt(GCM, T, iv, blob) gave K): every attempt must
// fail, with the code the specification names.
func crossModeAttacks(t *testing.T, p ck.Provider, s ck.SessionHandle, k, target ck.ObjectHandle, trusted bool) {
	t.Helper()
	iv := bytes.Repeat([]byte{0x11}, 16)
	out := ck.Out{Present: true, Cap: 4096}
	ctr := &ck.Mechanism{Type: ck.CKM_AES_CTR, Parameter: append(ck.ULong(128), iv...)}
	gcm := &ck.Mechanism{Type: ck.CKM_AES_GCM, Parameter: mustParams(t, ck.CKM_AES_GCM, map[string]any{"pIv": iv[:12], "ulIvBits": 96, "pAAD": []byte{}, "ulTagBits": 128})}
	ccm := &ck.Mechanism{Type: ck.CKM_AES_CCM, Parameter: mustParams(t, ck.CKM_AES_CCM, map[string]any{"ulDataLen": 40, "pNonce": iv[:12], "pAAD": []byte{}, "ulMACLen": 16})}
	modes := []*ck.Mechanism{{Type: ck.CKM_AES_ECB}, {Type: ck.CKM_AES_CBC, Parameter: iv}, {Type: ck.CKM_AES_CBC_PAD, Parameter: iv}, ctr, gcm, ccm}

	// 1. Wrapping with a mode not built for keys: refused, so there is no keystream blob to invert.
	for _, m := range modes {
		rv := ck.CKR_KEY_NOT_WRAPPABLE
		if m.Type == ck.CKM_AES_CTR || m.Type == ck.CKM_AES_CCM {
			rv = ck.CKR_MECHANISM_INVALID // no wrapping at all
		}
		_, _, err := p.WrapKey(s, m, k, target, out)
		want(t, err, rv, "wrap a sensitive key with "+m.Type.String())
	}
	_, _, err := p.WrapKey(s, &ck.Mechanism{Type: ck.CKM_AES_KEY_WRAP_KWP}, k, target, out)
	ok(t, err, "wrap a sensitive key with CKM_AES_KEY_WRAP_KWP")
	blob, _, err := p.WrapKey(s, &ck.Mechanism{Type: ck.CKM_AES_KEY_WRAP_PAD}, k, target, out)
	ok(t, err, "wrap a sensitive key with CKM_AES_KEY_WRAP_PAD")

	// 2. Encrypt or decrypt with the wrapping key, in every mode.
	for _, m := range modes {
		want(t, p.OperationInit(s, ck.OpEncrypt, m, k), ck.CKR_KEY_FUNCTION_NOT_PERMITTED, "encrypt with the wrapping key, "+m.Type.String())
		want(t, p.OperationInit(s, ck.OpDecrypt, m, k), ck.CKR_KEY_FUNCTION_NOT_PERMITTED, "decrypt with the wrapping key, "+m.Type.String())
	}
	// 3. MACs under the wrapping key (a one-block CMAC is the block cipher itself).
	for _, m := range []*ck.Mechanism{{Type: ck.CKM_AES_CMAC}, {Type: ck.CKM_AES_CMAC_GENERAL, Parameter: ck.ULong(16)}} {
		want(t, p.OperationInit(s, ck.OpSign, m, k), ck.CKR_KEY_FUNCTION_NOT_PERMITTED, "sign with the wrapping key, "+m.Type.String())
		want(t, p.OperationInit(s, ck.OpVerify, m, k), ck.CKR_KEY_FUNCTION_NOT_PERMITTED, "verify with the wrapping key, "+m.Type.String())
	}
	want(t, p.OperationInit(s, ck.OpSign, &ck.Mechanism{Type: ck.CKM_SHA256_HMAC}, k), ck.CKR_KEY_TYPE_INCONSISTENT, "HMAC with the AES wrapping key")

	// 4. Derive from the wrapping key.
	secretOut := []ck.Attribute{attr(ck.CKA_CLASS, ck.CKO_SECRET_KEY), attr(ck.CKA_KEY_TYPE, ck.CKK_GENERIC_SECRET),
		attr(ck.CKA_VALUE_LEN, 32), attr(ck.CKA_SENSITIVE, false), attr(ck.CKA_EXTRACTABLE, true)}
	kdfCounter := make([]byte, 16)
	kdfCounter[8] = 32 // 32-bit big-endian counter (CK_SP800_108_COUNTER_FORMAT)
	derivations := []*ck.Mechanism{
		{Type: ck.CKM_AES_ECB_ENCRYPT_DATA, Parameter: mustParams(t, ck.CKM_AES_ECB_ENCRYPT_DATA, map[string]any{"pData": blob[:32]})},
		{Type: ck.CKM_AES_CBC_ENCRYPT_DATA, Parameter: mustParams(t, ck.CKM_AES_CBC_ENCRYPT_DATA, map[string]any{"iv": iv, "pData": blob[:32]})},
		{Type: ck.CKM_HKDF_DERIVE, Parameter: mustParams(t, ck.CKM_HKDF_DERIVE, map[string]any{"bExtract": true, "bExpand": true,
			"prfHashMechanism": ck.CKM_SHA256, "ulSaltType": ck.CKF_HKDF_SALT_NULL, "pInfo": []byte("x")})},
		{Type: ck.CKM_SP800_108_COUNTER_KDF, Parameter: mustParams(t, ck.CKM_SP800_108_COUNTER_KDF, map[string]any{"prfType": ck.CKM_AES_CMAC,
			"pDataParams": []ck.Attribute{{Type: ck.AttributeType(ck.CK_SP800_108_ITERATION_VARIABLE), Kind: ck.AttrValue, Value: kdfCounter}}, "pAdditionalDerivedKeys": uint64(0)})},
	}
	for _, m := range derivations {
		rv := ck.CKR_KEY_FUNCTION_NOT_PERMITTED
		if m.Type == ck.CKM_HKDF_DERIVE || m.Type == ck.CKM_SP800_108_COUNTER_KDF {
			rv = ck.CKR_KEY_TYPE_INCONSISTENT // these take generic secrets, which never wrap (KW and KWP need AES)
		}
		_, err := p.DeriveKey(s, m, k, secretOut)
		want(t, err, rv, "derive from the wrapping key with "+m.Type.String())
	}

	// 5. Unwrap the blob with the same key into a readable key.
	readable := []ck.Attribute{{Type: ck.CKA_CLASS, Kind: ck.AttrValue, Value: getValue(t, p, s, target, ck.CKA_CLASS)},
		{Type: ck.CKA_KEY_TYPE, Kind: ck.AttrValue, Value: getValue(t, p, s, target, ck.CKA_KEY_TYPE)},
		attr(ck.CKA_SENSITIVE, false), attr(ck.CKA_EXTRACTABLE, true)}
	_, err = p.UnwrapKey(s, &ck.Mechanism{Type: ck.CKM_AES_KEY_WRAP_PAD}, k, blob, readable)
	if trusted {
		want(t, err, ck.CKR_KEY_FUNCTION_NOT_PERMITTED, "unwrap with the trusted key")
	} else {
		want(t, err, ck.CKR_TEMPLATE_INCONSISTENT, "unwrap into a non-sensitive key with a key that wraps sensitive keys")
		back, err := p.UnwrapKey(s, &ck.Mechanism{Type: ck.CKM_AES_KEY_WRAP_PAD}, k, blob, readable[:2])
		ok(t, err, "unwrap with the wrap-only key")
		if !getBool(t, p, s, back, ck.CKA_SENSITIVE) {
			t.Fatal("a key unwrapped by a key that wraps sensitive keys is not sensitive")
		}
		_, err = p.GetAttributeValue(s, back, ck.Query(4096, ck.CKA_VALUE))
		want(t, err, ck.CKR_ATTRIBUTE_SENSITIVE, "value of the unwrapped key")
	}

	// 6. Give the wrapping key (or a copy of it) another function.
	for _, u := range []ck.AttributeType{ck.CKA_ENCRYPT, ck.CKA_DECRYPT, ck.CKA_SIGN, ck.CKA_VERIFY, ck.CKA_DERIVE} {
		want(t, p.SetAttributeValue(s, k, []ck.Attribute{attr(u, true)}), ck.CKR_ATTRIBUTE_READ_ONLY, "let the wrapping key "+u.String())
		_, err := p.CopyObject(s, k, []ck.Attribute{attr(u, true)})
		want(t, err, ck.CKR_ATTRIBUTE_READ_ONLY, "a copy of the wrapping key with "+u.String())
	}
	want(t, p.SetAttributeValue(s, k, []ck.Attribute{attr(ck.CKA_WRAP, false)}), ck.CKR_ATTRIBUTE_READ_ONLY, "make the wrapping key a plain key")
	_, err = p.CopyObject(s, k, []ck.Attribute{attr(ck.CKA_WRAP, false), attr(ck.CKA_DECRYPT, true)})
	want(t, err, ck.CKR_ATTRIBUTE_READ_ONLY, "a copy of the wrapping key that decrypts instead")
}

// testCrossMode runs the cross-mode attacks under a wrap policy, against the SO's trusted key and (spec) a
// wrap-only key generated in the token, on a generated AES key and a generated P-256 private key; then
// checks the keys that must not wrap a sensitive key at all.
func testCrossMode(policy ck.WrapPolicy) func(*testing.T, func() ck.Provider) {
	return func(t *testing.T, open func() ck.Provider) {
		p := open()
		defer p.Close()
		slot := policyToken(t, p, "cross-mode", policy)
		soTrustedKey(t, open, slot, attr(ck.CKA_ENCRYPT, true))
		soTrustedKey(t, open, slot, attr(ck.CKA_SIGN, true))
		soTrustedKey(t, open, slot, attr(ck.CKA_DERIVE, true))
		soTrustedKey(t, open, slot, attr(ck.CKA_SENSITIVE, false)) // its value could be read, and every blob opened
		trusted := soTrustedKey(t, open, slot)
		s := userSession(t, p, slot)
		target := aesKeyGen(t, p, s, attr(ck.CKA_EXTRACTABLE, true))
		_, ecPriv, err := p.GenerateKeyPair(s, &ck.Mechanism{Type: ck.CKM_EC_KEY_PAIR_GEN},
			[]ck.Attribute{attr(ck.CKA_EC_PARAMS, []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07})},
			[]ck.Attribute{attr(ck.CKA_EXTRACTABLE, true)})
		ok(t, err, "GenerateKeyPair P-256")
		wrapOnly := aesKeyGen(t, p, s, wrapOnlyTemplate()...)
		kwp := &ck.Mechanism{Type: ck.CKM_AES_KEY_WRAP_PAD}
		out := ck.Out{Present: true, Cap: 4096}

		t.Run("trusted", func(t *testing.T) { crossModeAttacks(t, p, s, trusted, target, true) })
		t.Run("trusted/ec", func(t *testing.T) { crossModeAttacks(t, p, s, trusted, ecPriv, true) })
		if policy == ck.WrapPolicySpec {
			t.Run("wrap-only", func(t *testing.T) { crossModeAttacks(t, p, s, wrapOnly, target, false) })
			t.Run("wrap-only/ec", func(t *testing.T) { crossModeAttacks(t, p, s, wrapOnly, ecPriv, false) })
		} else {
			_, _, err := p.WrapKey(s, kwp, wrapOnly, target, out)
			want(t, err, ck.CKR_KEY_NOT_WRAPPABLE, "trusted-only: wrap a sensitive key under an untrusted wrap-only key")
			// A wrap-only key may share its value with a trusted one (an SO's copy): it unwraps only into
			// sensitive keys as well.
			readable := aesKeyGen(t, p, s, attr(ck.CKA_SENSITIVE, false), attr(ck.CKA_EXTRACTABLE, true))
			blob, _, err := p.WrapKey(s, kwp, wrapOnly, readable, out)
			ok(t, err, "trusted-only: wrap a non-sensitive key under a wrap-only key")
			_, err = p.UnwrapKey(s, kwp, wrapOnly, blob, []ck.Attribute{attr(ck.CKA_CLASS, ck.CKO_SECRET_KEY),
				attr(ck.CKA_KEY_TYPE, ck.CKK_AES), attr(ck.CKA_SENSITIVE, false)})
			want(t, err, ck.CKR_TEMPLATE_INCONSISTENT, "trusted-only: unwrap into a non-sensitive key with a wrap-only key")
		}

		// Wrap-only keys whose value is or was known outside the token, and keys that can do more.
		known, err := p.CreateObject(s, append([]ck.Attribute{attr(ck.CKA_CLASS, ck.CKO_SECRET_KEY), attr(ck.CKA_KEY_TYPE, ck.CKK_AES),
			attr(ck.CKA_VALUE, make([]byte, 32))}, wrapOnlyTemplate()...))
		ok(t, err, "import a wrap-only key of known value")
		readable := aesKeyGen(t, p, s, wrapOnlyTemplate(attr(ck.CKA_SENSITIVE, false), attr(ck.CKA_EXTRACTABLE, true))...)
		eu := aesKeyGen(t, p, s, attr(ck.CKA_ENCRYPT, true), attr(ck.CKA_UNWRAP, true), attr(ck.CKA_WRAP, false))
		ecb := &ck.Mechanism{Type: ck.CKM_AES_ECB}
		ok(t, p.OperationInit(s, ck.OpEncrypt, ecb, eu), "EncryptInit")
		chosen, _, err := p.OperationSingle(s, ck.OpEncrypt, make([]byte, 32), out)
		ok(t, err, "encrypt a chosen key value")
		planted, err := p.UnwrapKey(s, ecb, eu, chosen, append([]ck.Attribute{attr(ck.CKA_CLASS, ck.CKO_SECRET_KEY),
			attr(ck.CKA_KEY_TYPE, ck.CKK_AES)}, wrapOnlyTemplate()...))
		ok(t, err, "unwrap a chosen value into a wrap-only key")
		mixed := aesKeyGen(t, p, s, attr(ck.CKA_WRAP, true), attr(ck.CKA_DECRYPT, true))
		// PBKDF2 "generates" a key (CKA_LOCAL TRUE, always sensitive, never extractable) from a password the
		// application knows: it recomputes the key, and the blob, outside the token.
		pbkdf2 := &ck.Mechanism{Type: ck.CKM_PKCS5_PBKD2, Parameter: mustParams(t, ck.CKM_PKCS5_PBKD2, map[string]any{
			"saltSource": uint64(ck.CKZ_SALT_SPECIFIED), "pSaltSourceData": []byte("salt"), "iterations": uint64(1000),
			"prf": uint64(ck.CKP_PKCS5_PBKD2_HMAC_SHA256), "pPassword": []byte("known password")})}
		fromPassword, err := p.GenerateKey(s, pbkdf2, append([]ck.Attribute{attr(ck.CKA_KEY_TYPE, ck.CKK_AES), attr(ck.CKA_VALUE_LEN, 32)}, wrapOnlyTemplate()...))
		ok(t, err, "PBKDF2 makes a wrap-only AES key from a known password")
		if !getBool(t, p, s, fromPassword, ck.CKA_LOCAL) || !getBool(t, p, s, fromPassword, ck.CKA_NEVER_EXTRACTABLE) {
			t.Fatal("the PBKDF2 key does not look generated and never revealed: the case below tests nothing")
		}
		for name, w := range map[string]ck.ObjectHandle{"an imported": known, "a readable": readable, "a planted": planted,
			"a wrap-and-decrypt": mixed, "a password-derived": fromPassword} {
			_, _, err := p.WrapKey(s, kwp, w, target, out)
			want(t, err, ck.CKR_KEY_NOT_WRAPPABLE, "wrap a sensitive key under "+name+" key")
		}
		// The same keys may wrap a key whose value can be read anyway.
		readableKey := aesKeyGen(t, p, s, attr(ck.CKA_SENSITIVE, false), attr(ck.CKA_EXTRACTABLE, true))
		_, _, err = p.WrapKey(s, &ck.Mechanism{Type: ck.CKM_AES_ECB}, mixed, readableKey, out)
		ok(t, err, "wrap a non-sensitive key with AES-ECB under a wrap-and-decrypt key")
		// A sensitive key that can itself wrap leaves only under a trusted key.
		kek := aesKeyGen(t, p, s, wrapOnlyTemplate(attr(ck.CKA_EXTRACTABLE, true))...)
		if policy == ck.WrapPolicySpec {
			_, _, err = p.WrapKey(s, kwp, wrapOnly, kek, out)
			want(t, err, ck.CKR_KEY_NOT_WRAPPABLE, "wrap a wrapping key under a key that can unwrap")
		}
		_, _, err = p.WrapKey(s, kwp, trusted, kek, out)
		ok(t, err, "wrap a wrapping key under the trusted key")
	}
}

// testWrapWithTrusted checks that CKA_WRAP_WITH_TRUSTED says what is enforced and is enforced: under
// trusted-only every sensitive key reports it TRUE; under both policies a key with it TRUE is wrapped only
// under a trusted key.
func testWrapWithTrusted(policy ck.WrapPolicy) func(*testing.T, func() ck.Provider) {
	return func(t *testing.T, open func() ck.Provider) {
		p := open()
		defer p.Close()
		slot := policyToken(t, p, "wwt", policy)
		trusted := soTrustedKey(t, open, slot)
		s := userSession(t, p, slot)
		spec := policy == ck.WrapPolicySpec
		sensitive := aesKeyGen(t, p, s, attr(ck.CKA_EXTRACTABLE, true))
		if got := getBool(t, p, s, sensitive, ck.CKA_WRAP_WITH_TRUSTED); got == spec {
			t.Fatalf("%v: a sensitive key reports CKA_WRAP_WITH_TRUSTED %v", policy, got)
		}
		_, err := p.GenerateKey(s, &ck.Mechanism{Type: ck.CKM_AES_KEY_GEN}, []ck.Attribute{attr(ck.CKA_VALUE_LEN, 32), attr(ck.CKA_WRAP_WITH_TRUSTED, false)})
		if spec {
			ok(t, err, "spec: a sensitive key without CKA_WRAP_WITH_TRUSTED")
		} else {
			want(t, err, ck.CKR_TEMPLATE_INCONSISTENT, "trusted-only: a sensitive key with CKA_WRAP_WITH_TRUSTED FALSE")
		}
		readableKey := aesKeyGen(t, p, s, attr(ck.CKA_SENSITIVE, false), attr(ck.CKA_EXTRACTABLE, true))
		if getBool(t, p, s, readableKey, ck.CKA_WRAP_WITH_TRUSTED) {
			t.Fatal("a non-sensitive key reports CKA_WRAP_WITH_TRUSTED")
		}
		ok(t, p.SetAttributeValue(s, readableKey, []ck.Attribute{attr(ck.CKA_SENSITIVE, true)}), "make the key sensitive")
		if got := getBool(t, p, s, readableKey, ck.CKA_WRAP_WITH_TRUSTED); got == spec {
			t.Fatalf("%v: a key made sensitive reports CKA_WRAP_WITH_TRUSTED %v", policy, got)
		}
		// CKA_WRAP_WITH_TRUSTED on a key that is not sensitive: the attribute alone refuses an untrusted key.
		wwt := aesKeyGen(t, p, s, attr(ck.CKA_SENSITIVE, false), attr(ck.CKA_EXTRACTABLE, true), attr(ck.CKA_WRAP_WITH_TRUSTED, true))
		plain := aesKeyGen(t, p, s, attr(ck.CKA_WRAP, true))
		out := ck.Out{Present: true, Cap: 64}
		kw := &ck.Mechanism{Type: ck.CKM_AES_KEY_WRAP}
		_, _, err = p.WrapKey(s, kw, plain, wwt, out)
		want(t, err, ck.CKR_KEY_NOT_WRAPPABLE, "wrap a CKA_WRAP_WITH_TRUSTED key under an untrusted key")
		_, _, err = p.WrapKey(s, kw, trusted, wwt, out)
		ok(t, err, "wrap a CKA_WRAP_WITH_TRUSTED key under the trusted key")
		if spec {
			wrapOnly := aesKeyGen(t, p, s, wrapOnlyTemplate()...)
			wwtSensitive := aesKeyGen(t, p, s, attr(ck.CKA_EXTRACTABLE, true), attr(ck.CKA_WRAP_WITH_TRUSTED, true))
			_, _, err = p.WrapKey(s, kw, wrapOnly, wwtSensitive, out)
			want(t, err, ck.CKR_KEY_NOT_WRAPPABLE, "spec: wrap a CKA_WRAP_WITH_TRUSTED key under an untrusted wrap-only key")
			_, _, err = p.WrapKey(s, kw, wrapOnly, sensitive, out)
			ok(t, err, "spec: wrap a sensitive key without CKA_WRAP_WITH_TRUSTED under a wrap-only key made in the token")
		}
	}
}

// testUsageChangeEndsOperations checks that taking a usage away from a key ends the operations that use it.
func testUsageChangeEndsOperations(t *testing.T, open func() ck.Provider) {
	p := open()
	defer p.Close()
	slot := token(t, p, "usage-change", true)
	s := userSession(t, p, slot)
	k := aesKeyGen(t, p, s)
	ecb := &ck.Mechanism{Type: ck.CKM_AES_ECB}
	ok(t, p.OperationInit(s, ck.OpDecrypt, ecb, k), "DecryptInit")
	ok(t, p.SetAttributeValue(s, k, []ck.Attribute{attr(ck.CKA_DECRYPT, false)}), "take CKA_DECRYPT away")
	_, _, err := p.OperationUpdate(s, ck.OpDecrypt, make([]byte, 16), ck.Out{Present: true, Cap: 64})
	want(t, err, ck.CKR_OPERATION_NOT_INITIALIZED, "decrypt after CKA_DECRYPT was taken away")
}

// testOneWayAttributes checks that C_CopyObject and C_SetAttributeValue move the protective attributes only
// towards more protection: CKA_PRIVATE FALSE to TRUE (a public copy of a private key would sign without login
// and lie at rest under the root key alone), CKA_SENSITIVE FALSE to TRUE, CKA_EXTRACTABLE TRUE to FALSE,
// CKA_WRAP_WITH_TRUSTED FALSE to TRUE, CKA_MODIFIABLE and CKA_COPYABLE TRUE to FALSE, CKA_TRUSTED by the SO
// only.
func testOneWayAttributes(t *testing.T, open func() ck.Provider) {
	p := open()
	defer p.Close()
	slot := policyToken(t, p, "one-way", ck.WrapPolicySpec) // spec: CKA_WRAP_WITH_TRUSTED may start FALSE
	s := userSession(t, p, slot)
	_, ecPriv, err := p.GenerateKeyPair(s, &ck.Mechanism{Type: ck.CKM_EC_KEY_PAIR_GEN},
		[]ck.Attribute{attr(ck.CKA_EC_PARAMS, []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07})},
		[]ck.Attribute{attr(ck.CKA_EXTRACTABLE, true)})
	ok(t, err, "GenerateKeyPair")
	aes := aesKeyGen(t, p, s, attr(ck.CKA_EXTRACTABLE, false))
	data, err := p.CreateObject(s, dataObject("private data", "secret", attr(ck.CKA_PRIVATE, true)))
	ok(t, err, "CreateObject private data")
	fixed, err := p.CreateObject(s, dataObject("fixed", "v", attr(ck.CKA_MODIFIABLE, false), attr(ck.CKA_PRIVATE, true)))
	ok(t, err, "CreateObject unmodifiable")
	cases := []struct {
		name string
		obj  ck.ObjectHandle
		a    ck.Attribute
	}{
		{"a public copy of a private key", ecPriv, attr(ck.CKA_PRIVATE, false)},
		{"a public copy of a private secret key", aes, attr(ck.CKA_PRIVATE, false)},
		{"a public copy of a private data object", data, attr(ck.CKA_PRIVATE, false)},
		{"a non-sensitive copy", ecPriv, attr(ck.CKA_SENSITIVE, false)},
		{"an extractable copy", aes, attr(ck.CKA_EXTRACTABLE, true)},
		{"a trusted copy made by the user", aes, attr(ck.CKA_TRUSTED, true)},
		{"a modifiable copy of an unmodifiable object", fixed, attr(ck.CKA_MODIFIABLE, true)},
	}
	for _, c := range cases {
		_, err := p.CopyObject(s, c.obj, []ck.Attribute{c.a})
		want(t, err, ck.CKR_ATTRIBUTE_READ_ONLY, c.name)
	}
	want(t, p.SetAttributeValue(s, ecPriv, []ck.Attribute{attr(ck.CKA_PRIVATE, false)}), ck.CKR_ATTRIBUTE_READ_ONLY, "make a private key public")
	want(t, p.SetAttributeValue(s, ecPriv, []ck.Attribute{attr(ck.CKA_SENSITIVE, false)}), ck.CKR_ATTRIBUTE_READ_ONLY, "make a key not sensitive")
	want(t, p.SetAttributeValue(s, aes, []ck.Attribute{attr(ck.CKA_EXTRACTABLE, true)}), ck.CKR_ATTRIBUTE_READ_ONLY, "make a key extractable")
	want(t, p.SetAttributeValue(s, aes, []ck.Attribute{attr(ck.CKA_TRUSTED, true)}), ck.CKR_ATTRIBUTE_READ_ONLY, "trust a key as the user")
	// CKA_WRAP_WITH_TRUSTED only goes from FALSE to TRUE, in a copy as in a change.
	if getBool(t, p, s, ecPriv, ck.CKA_WRAP_WITH_TRUSTED) {
		t.Fatal("spec: a key generated without CKA_WRAP_WITH_TRUSTED has it")
	}
	c, err := p.CopyObject(s, ecPriv, []ck.Attribute{attr(ck.CKA_WRAP_WITH_TRUSTED, true)})
	ok(t, err, "a copy with CKA_WRAP_WITH_TRUSTED")
	_, err = p.CopyObject(s, c, []ck.Attribute{attr(ck.CKA_WRAP_WITH_TRUSTED, false)})
	want(t, err, ck.CKR_ATTRIBUTE_READ_ONLY, "a copy without CKA_WRAP_WITH_TRUSTED of a key with it")
	want(t, p.SetAttributeValue(s, c, []ck.Attribute{attr(ck.CKA_WRAP_WITH_TRUSTED, false)}), ck.CKR_ATTRIBUTE_READ_ONLY, "drop CKA_WRAP_WITH_TRUSTED")
	// The protective direction is allowed, and a token copy of a private key stays private.
	tc, err := p.CopyObject(s, ecPriv, []ck.Attribute{attr(ck.CKA_TOKEN, true), attr(ck.CKA_EXTRACTABLE, false)})
	ok(t, err, "an unextractable token copy")
	if !getBool(t, p, s, tc, ck.CKA_PRIVATE) || getBool(t, p, s, tc, ck.CKA_EXTRACTABLE) {
		t.Fatal("the token copy of a private key is public or extractable")
	}
	ro := roSession(t, p, slot)
	_, err = p.CopyObject(ro, ecPriv, []ck.Attribute{attr(ck.CKA_TOKEN, true)})
	want(t, err, ck.CKR_SESSION_READ_ONLY, "a token copy in a read-only session")
	// Without a login the private key and its copies are out of reach.
	ok(t, p.Logout(s), "Logout")
	_, err = p.CopyObject(ro, ecPriv, []ck.Attribute{attr(ck.CKA_PRIVATE, false)})
	want(t, err, ck.CKR_OBJECT_HANDLE_INVALID, "copy a private key without login")
}
