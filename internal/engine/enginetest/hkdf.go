package enginetest

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"testing"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// testHKDFKeyGen makes a CKK_HKDF key with CKM_HKDF_KEY_GEN (PKCS#11 3.0 "HKDF") and derives from it with
// CKM_HKDF_DERIVE; the derived value must be RFC 5869 HKDF-SHA256 of the generated key's value (read back here
// because the test key is made extractable and not sensitive), computed by crypto/hkdf.
func testHKDFKeyGen(t *testing.T, open func() ck.Provider) {
	p := open()
	defer p.Close()
	s := userSession(t, p, token(t, p, "hkdf", true))
	k, err := p.GenerateKey(s, &ck.Mechanism{Type: ck.CKM_HKDF_KEY_GEN}, []ck.Attribute{attr(ck.CKA_VALUE_LEN, 32),
		attr(ck.CKA_DERIVE, true), attr(ck.CKA_SENSITIVE, false), attr(ck.CKA_EXTRACTABLE, true)})
	ok(t, err, "GenerateKey CKM_HKDF_KEY_GEN")
	if v := getValue(t, p, s, k, ck.CKA_KEY_TYPE); !bytes.Equal(v, ck.ULong(uint64(ck.CKK_HKDF))) {
		t.Fatalf("CKM_HKDF_KEY_GEN made key type %x, want CKK_HKDF", v)
	}
	ikm := getValue(t, p, s, k, ck.CKA_VALUE)
	if len(ikm) != 32 {
		t.Fatalf("CKK_HKDF value of %d bytes, want CKA_VALUE_LEN 32", len(ikm))
	}
	salt, info := []byte("keyward salt"), []byte("keyward info")
	m := &ck.Mechanism{Type: ck.CKM_HKDF_DERIVE, Parameter: mustParams(t, ck.CKM_HKDF_DERIVE, map[string]any{
		"bExtract": true, "bExpand": true, "prfHashMechanism": ck.CKM_SHA256, "ulSaltType": ck.CKF_HKDF_SALT_DATA,
		"pSalt": salt, "pInfo": info})}
	d, err := p.DeriveKey(s, m, k, []ck.Attribute{attr(ck.CKA_CLASS, ck.CKO_SECRET_KEY),
		attr(ck.CKA_KEY_TYPE, ck.CKK_GENERIC_SECRET), attr(ck.CKA_VALUE_LEN, 42), attr(ck.CKA_SENSITIVE, false),
		attr(ck.CKA_EXTRACTABLE, true)})
	ok(t, err, "DeriveKey CKM_HKDF_DERIVE from a CKK_HKDF key")
	wantOKM, err := hkdf.Key(sha256.New, ikm, salt, string(info), 42)
	if err != nil {
		t.Fatal(err)
	}
	if got := getValue(t, p, s, d, ck.CKA_VALUE); !bytes.Equal(got, wantOKM) {
		t.Errorf("HKDF-SHA256 from the CKK_HKDF key: %x, want %x", got, wantOKM)
	}
	// A CKK_HKDF key is no AES key.
	if err := p.OperationInit(s, ck.OpEncrypt, &ck.Mechanism{Type: ck.CKM_AES_ECB}, k); ck.ToRV(err) == ck.CKR_OK {
		t.Error("a CKK_HKDF key starts an AES encryption")
	}
}
