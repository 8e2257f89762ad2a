package enginetest

import (
	"bytes"
	"testing"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// testRawRSAUnwrap checks CKM_RSA_X_509 unwrapping: the key is the last CKA_VALUE_LEN bytes of the decrypted
// block, whatever precedes them (PKCS#11 3.x; pkcs11test's and OpenSC's wrap tests send a block that is not
// zero before the key).
func testRawRSAUnwrap(t *testing.T, open func() ck.Provider) {
	p := open()
	defer p.Close()
	slot := token(t, p, "raw-rsa", true)
	s := userSession(t, p, slot)
	pub, priv, err := p.GenerateKeyPair(s, &ck.Mechanism{Type: ck.CKM_RSA_PKCS_KEY_PAIR_GEN},
		[]ck.Attribute{attr(ck.CKA_MODULUS_BITS, 2048), attr(ck.CKA_ENCRYPT, true)},
		[]ck.Attribute{attr(ck.CKA_UNWRAP, true), attr(ck.CKA_DECRYPT, false)})
	ok(t, err, "GenerateKeyPair RSA-2048")
	raw := &ck.Mechanism{Type: ck.CKM_RSA_X_509}
	key := []byte("0123456789abcdef")
	block := bytes.Repeat([]byte{0x5a}, 256)
	block[0] = 0 // below the modulus
	copy(block[256-len(key):], key)
	ok(t, p.OperationInit(s, ck.OpEncrypt, raw, pub), "EncryptInit raw RSA")
	blob, _, err := p.OperationSingle(s, ck.OpEncrypt, block, ck.Out{Present: true, Cap: 256})
	ok(t, err, "Encrypt raw RSA")
	k, err := p.UnwrapKey(s, raw, priv, blob, []ck.Attribute{attr(ck.CKA_CLASS, ck.CKO_SECRET_KEY),
		attr(ck.CKA_KEY_TYPE, ck.CKK_AES), attr(ck.CKA_VALUE_LEN, len(key)), attr(ck.CKA_TOKEN, false),
		attr(ck.CKA_SENSITIVE, false), attr(ck.CKA_EXTRACTABLE, true)})
	ok(t, err, "UnwrapKey raw RSA with bytes before the key")
	if v := getValue(t, p, s, k, ck.CKA_VALUE); !bytes.Equal(v, key) {
		t.Fatalf("unwrapped key %x, want the block's last 16 bytes %x", v, key)
	}
}

// testSensitiveDefault checks Keyward's CKA_SENSITIVE default. The specification's default for secret keys is
// CK_FALSE, and its attribute tables also say the default of CKA_SENSITIVE "is token-specific, and may depend
// on the values of other attributes"; Keyward chooses CK_TRUE for secret and private keys (docs/conformance.md),
// says so in the attribute of every key, and an application's explicit CK_FALSE wins.
func testSensitiveDefault(t *testing.T, open func() ck.Provider) {
	p := open()
	defer p.Close()
	slot := token(t, p, "sensitive-default", true)
	s := userSession(t, p, slot)
	aes := func(extra ...ck.Attribute) []ck.Attribute {
		return append([]ck.Attribute{attr(ck.CKA_CLASS, ck.CKO_SECRET_KEY), attr(ck.CKA_KEY_TYPE, ck.CKK_AES),
			attr(ck.CKA_VALUE, bytes.Repeat([]byte{3}, 16))}, extra...)
	}
	d, err := p.CreateObject(s, aes())
	ok(t, err, "CreateObject AES without CKA_SENSITIVE")
	if !getBool(t, p, s, d, ck.CKA_SENSITIVE) {
		t.Error("a created secret key without CKA_SENSITIVE does not say it is sensitive")
	}
	x, err := p.CreateObject(s, aes(attr(ck.CKA_SENSITIVE, false), attr(ck.CKA_EXTRACTABLE, true)))
	ok(t, err, "CreateObject AES with CKA_SENSITIVE false")
	if getBool(t, p, s, x, ck.CKA_SENSITIVE) {
		t.Error("an explicit CKA_SENSITIVE false did not win on C_CreateObject")
	}
	if v := getValue(t, p, s, x, ck.CKA_VALUE); !bytes.Equal(v, bytes.Repeat([]byte{3}, 16)) {
		t.Errorf("value of a non-sensitive extractable key: %x", v)
	}
	g := aesKeyGen(t, p, s)
	if !getBool(t, p, s, g, ck.CKA_SENSITIVE) || !getBool(t, p, s, g, ck.CKA_ALWAYS_SENSITIVE) {
		t.Error("a generated key without CKA_SENSITIVE does not say it is (always) sensitive")
	}
}
