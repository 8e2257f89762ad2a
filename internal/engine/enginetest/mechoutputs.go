package enginetest

import (
	"bytes"
	"testing"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// testMechanismOutputs checks, through the calls, what a mechanism's Spec says about the object it makes:
// the zero-padded wrapping mechanisms (AES-ECB, AES-CBC, RFC 3394 key wrap) unwrap a key shorter than their
// block to its CKA_VALUE_LEN and refuse a non-zero pad (CKR_WRAPPED_KEY_INVALID); CKM_HKDF_DATA makes a data
// object (from a data object's value, as CKM_HKDF_DERIVE does) holding what CKM_HKDF_DERIVE makes as a key;
// a derived or decapsulated secret whose template names no key type is a generic secret.
func testMechanismOutputs(t *testing.T, open func() ck.Provider) {
	p := open()
	defer p.Close()
	s := userSession(t, p, token(t, p, "mech-outputs", true))
	readable := []ck.Attribute{attr(ck.CKA_TOKEN, false), attr(ck.CKA_SENSITIVE, false), attr(ck.CKA_EXTRACTABLE, true)}
	kek, err := p.CreateObject(s, append([]ck.Attribute{attr(ck.CKA_CLASS, ck.CKO_SECRET_KEY),
		attr(ck.CKA_KEY_TYPE, ck.CKK_AES), attr(ck.CKA_VALUE, bytes.Repeat([]byte{7}, 16)), attr(ck.CKA_ENCRYPT, true),
		attr(ck.CKA_WRAP, true), attr(ck.CKA_UNWRAP, true)}, readable...))
	ok(t, err, "CreateObject AES KEK")
	value := []byte("twenty-byte secret!!")
	target, err := p.CreateObject(s, secretKey("target", value, readable...))
	ok(t, err, "CreateObject generic secret")
	unwrapT := append([]ck.Attribute{attr(ck.CKA_CLASS, ck.CKO_SECRET_KEY), attr(ck.CKA_KEY_TYPE, ck.CKK_GENERIC_SECRET),
		attr(ck.CKA_VALUE_LEN, len(value))}, readable...)
	for _, c := range []struct {
		m     *ck.Mechanism
		block int
	}{
		{&ck.Mechanism{Type: ck.CKM_AES_ECB}, 16},
		{&ck.Mechanism{Type: ck.CKM_AES_CBC, Parameter: make([]byte, 16)}, 16},
		{&ck.Mechanism{Type: ck.CKM_AES_KEY_WRAP}, 8},
	} {
		blob, _, err := p.WrapKey(s, c.m, kek, target, ck.Out{Present: true, Cap: 64})
		ok(t, err, "WrapKey "+c.m.Type.String())
		k, err := p.UnwrapKey(s, c.m, kek, blob, unwrapT)
		ok(t, err, "UnwrapKey "+c.m.Type.String())
		if v := getValue(t, p, s, k, ck.CKA_VALUE); !bytes.Equal(v, value) {
			t.Errorf("%v: unwrapped %x, want the %d-byte key %x", c.m.Type, v, len(value), value)
		}
		// The same key followed by a non-zero pad byte, encrypted as the wrap would be.
		plain := make([]byte, (len(value)+c.block-1)/c.block*c.block)
		copy(plain, value)
		plain[len(plain)-1] = 1
		ok(t, p.OperationInit(s, ck.OpEncrypt, c.m, kek), "EncryptInit "+c.m.Type.String())
		bad, _, err := p.OperationSingle(s, ck.OpEncrypt, plain, ck.Out{Present: true, Cap: 64})
		ok(t, err, "Encrypt "+c.m.Type.String())
		_, err = p.UnwrapKey(s, c.m, kek, bad, unwrapT)
		want(t, err, ck.CKR_WRAPPED_KEY_INVALID, "UnwrapKey of a non-zero pad with "+c.m.Type.String())
	}

	// A data object is HKDF's input when it has the hash's length and is extracted with a salt.
	ikm, err := p.CreateObject(s, dataObject("ikm", "thirty-two bytes of key material"))
	ok(t, err, "CreateObject data")
	params := mustParams(t, ck.CKM_HKDF_DERIVE, map[string]any{"bExtract": true, "bExpand": true,
		"prfHashMechanism": ck.CKM_SHA256, "ulSaltType": ck.CKF_HKDF_SALT_DATA, "pSalt": []byte("salt"),
		"pInfo": []byte("info")})
	asKey, err := p.DeriveKey(s, &ck.Mechanism{Type: ck.CKM_HKDF_DERIVE, Parameter: params}, ikm,
		append([]ck.Attribute{attr(ck.CKA_VALUE_LEN, 24)}, readable...))
	ok(t, err, "DeriveKey CKM_HKDF_DERIVE from a data object")
	if v := getValue(t, p, s, asKey, ck.CKA_CLASS); !bytes.Equal(v, ck.ULong(uint64(ck.CKO_SECRET_KEY))) {
		t.Errorf("CKM_HKDF_DERIVE made class %x, want CKO_SECRET_KEY", v)
	}
	if v := getValue(t, p, s, asKey, ck.CKA_KEY_TYPE); !bytes.Equal(v, ck.ULong(uint64(ck.CKK_GENERIC_SECRET))) {
		t.Errorf("CKM_HKDF_DERIVE without CKA_KEY_TYPE made key type %x, want CKK_GENERIC_SECRET", v)
	}
	asData, err := p.DeriveKey(s, &ck.Mechanism{Type: ck.CKM_HKDF_DATA, Parameter: params}, ikm,
		[]ck.Attribute{attr(ck.CKA_VALUE_LEN, 24), attr(ck.CKA_TOKEN, false)})
	ok(t, err, "DeriveKey CKM_HKDF_DATA from a data object")
	if v := getValue(t, p, s, asData, ck.CKA_CLASS); !bytes.Equal(v, ck.ULong(uint64(ck.CKO_DATA))) {
		t.Errorf("CKM_HKDF_DATA made class %x, want CKO_DATA", v)
	}
	if got, key := getValue(t, p, s, asData, ck.CKA_VALUE), getValue(t, p, s, asKey, ck.CKA_VALUE); !bytes.Equal(got, key) || len(got) != 24 {
		t.Errorf("CKM_HKDF_DATA made %x, want CKM_HKDF_DERIVE's %x", got, key)
	}

	pub, priv, err := p.GenerateKeyPair(s, &ck.Mechanism{Type: ck.CKM_ML_KEM_KEY_PAIR_GEN},
		[]ck.Attribute{attr(ck.CKA_PARAMETER_SET, ck.CKP_ML_KEM_768), attr(ck.CKA_ENCAPSULATE, true)},
		[]ck.Attribute{attr(ck.CKA_DECAPSULATE, true)})
	ok(t, err, "GenerateKeyPair ML-KEM-768")
	kem := &ck.Mechanism{Type: ck.CKM_ML_KEM}
	ct, _, enc, err := p.EncapsulateKey(s, kem, pub, nil, ck.Out{Present: true, Cap: 4096})
	ok(t, err, "EncapsulateKey without a template")
	dec, err := p.DecapsulateKey(s, kem, priv, nil, ct)
	ok(t, err, "DecapsulateKey without a template")
	for name, k := range map[string]ck.ObjectHandle{"encapsulated": enc, "decapsulated": dec} {
		if v := getValue(t, p, s, k, ck.CKA_KEY_TYPE); !bytes.Equal(v, ck.ULong(uint64(ck.CKK_GENERIC_SECRET))) {
			t.Errorf("the %s secret has key type %x, want CKK_GENERIC_SECRET", name, v)
		}
	}
}
