package enginetest

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/hex"
	"testing"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// FIPS 180-2 appendix B.1: SHA-256("abc").
const sha256abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

func testDigest(t *testing.T, open func() ck.Provider) {
	p := open()
	defer p.Close()
	slot := token(t, p, "digest", true)
	s := roSession(t, p, slot)
	sha := &ck.Mechanism{Type: ck.CKM_SHA256}
	ok(t, p.OperationInit(s, ck.OpDigest, sha, 0), "DigestInit")
	want(t, p.OperationInit(s, ck.OpDigest, sha, 0), ck.CKR_OPERATION_ACTIVE, "DigestInit twice")
	// The length convention: a NULL buffer and a short one leave the operation active.
	_, n, err := p.OperationSingle(s, ck.OpDigest, []byte("abc"), ck.Out{})
	ok(t, err, "Digest length query")
	if n != 32 {
		t.Fatalf("digest length %d", n)
	}
	_, n, err = p.OperationSingle(s, ck.OpDigest, []byte("abc"), ck.Out{Present: true, Cap: 31})
	want(t, err, ck.CKR_BUFFER_TOO_SMALL, "Digest into 31 bytes")
	if n != 32 {
		t.Fatalf("length with a short buffer %d", n)
	}
	out, n, err := p.OperationSingle(s, ck.OpDigest, []byte("abc"), ck.Out{Present: true, Cap: 64})
	ok(t, err, "Digest")
	if hex.EncodeToString(out) != sha256abc || n != 32 {
		t.Fatalf("SHA-256(abc) = %x", out)
	}
	_, _, err = p.OperationSingle(s, ck.OpDigest, []byte("abc"), ck.Out{Present: true, Cap: 64})
	want(t, err, ck.CKR_OPERATION_NOT_INITIALIZED, "Digest after the operation ended")
	// Multi-part equals single-part.
	ok(t, p.OperationInit(s, ck.OpDigest, sha, 0), "DigestInit")
	for _, part := range []string{"a", "", "bc"} {
		_, _, err := p.OperationUpdate(s, ck.OpDigest, []byte(part), ck.Out{})
		ok(t, err, "DigestUpdate")
	}
	out, _, err = p.OperationFinal(s, ck.OpDigest, ck.Out{Present: true, Cap: 32})
	ok(t, err, "DigestFinal")
	if hex.EncodeToString(out) != sha256abc {
		t.Fatalf("multi-part SHA-256(abc) = %x", out)
	}
	// A NULL mechanism cancels.
	ok(t, p.OperationInit(s, ck.OpDigest, sha, 0), "DigestInit")
	ok(t, p.OperationInit(s, ck.OpDigest, nil, 0), "cancel")
	_, _, err = p.OperationFinal(s, ck.OpDigest, ck.Out{Present: true, Cap: 32})
	want(t, err, ck.CKR_OPERATION_NOT_INITIALIZED, "DigestFinal after cancel")
	want(t, p.OperationInit(s, ck.OpDigest, &ck.Mechanism{Type: ck.CKM_SHA256, Parameter: []byte{1}}, 0), ck.CKR_MECHANISM_PARAM_INVALID, "SHA-256 with a parameter")
	// C_DigestKey digests a secret key's value; other objects are indigestible.
	us := userSession(t, p, slot)
	k, err := p.CreateObject(us, secretKey("k", []byte("abc")))
	ok(t, err, "CreateObject")
	d, err := p.CreateObject(us, dataObject("d", "abc"))
	ok(t, err, "CreateObject")
	ok(t, p.OperationInit(us, ck.OpDigest, sha, 0), "DigestInit")
	want(t, p.DigestKey(us, d), ck.CKR_KEY_INDIGESTIBLE, "DigestKey of a data object")
	ok(t, p.OperationInit(us, ck.OpDigest, sha, 0), "DigestInit after an error ended the operation")
	ok(t, p.DigestKey(us, k), "DigestKey")
	out, _, err = p.OperationFinal(us, ck.OpDigest, ck.Out{Present: true, Cap: 32})
	ok(t, err, "DigestFinal")
	if hex.EncodeToString(out) != sha256abc {
		t.Fatalf("DigestKey gave %x", out)
	}
	// Mechanism list and info.
	list, err := p.GetMechanismList(slot)
	ok(t, err, "GetMechanismList")
	if !bytes.Contains(u64bytes(list), u64bytes([]ck.MechanismType{ck.CKM_SHA256})) {
		t.Fatal("CKM_SHA256 is not in the mechanism list")
	}
	mi, err := p.GetMechanismInfo(slot, ck.CKM_SHA256)
	ok(t, err, "GetMechanismInfo")
	if mi.Flags&ck.CKF_DIGEST == 0 {
		t.Fatalf("CKM_SHA256 info %+v", mi)
	}
	_, err = p.GetMechanismInfo(slot, 0x7fff_0000)
	want(t, err, ck.CKR_MECHANISM_INVALID, "GetMechanismInfo of an unknown mechanism")
}

func u64bytes(v []ck.MechanismType) []byte {
	var b []byte
	for _, m := range v {
		b = append(b, ck.ULong(uint64(m))...)
	}
	return b
}

// testLengthConvention checks the length convention where it is easy to get wrong: an empty output (a
// length query must not end the operation), and a parameter the operation keeps (the GCM IV must be the one
// given, not whatever the daemon read next).
func testLengthConvention(t *testing.T, open func() ck.Provider) {
	p := open()
	defer p.Close()
	slot := token(t, p, "lengths", true)
	s := userSession(t, p, slot)
	key := bytes.Repeat([]byte{0x11}, 32)
	k, err := p.CreateObject(s, []ck.Attribute{attr(ck.CKA_CLASS, ck.CKO_SECRET_KEY), attr(ck.CKA_KEY_TYPE, ck.CKK_AES), attr(ck.CKA_VALUE, key)})
	ok(t, err, "CreateObject AES")
	iv := make([]byte, 16)
	cbcPad := &ck.Mechanism{Type: ck.CKM_AES_CBC_PAD, Parameter: iv}
	// Encrypt nothing: one block of padding.
	ok(t, p.OperationInit(s, ck.OpEncrypt, cbcPad, k), "EncryptInit")
	ct, _, err := p.OperationSingle(s, ck.OpEncrypt, nil, ck.Out{Present: true, Cap: 16})
	ok(t, err, "Encrypt of nothing")
	if len(ct) != 16 {
		t.Fatalf("CBC-PAD of nothing is %d bytes", len(ct))
	}
	ok(t, p.OperationInit(s, ck.OpDecrypt, cbcPad, k), "DecryptInit")
	_, n, err := p.OperationSingle(s, ck.OpDecrypt, ct, ck.Out{})
	ok(t, err, "Decrypt length query")
	if n > 16 {
		t.Fatalf("length %d", n)
	}
	pt, n, err := p.OperationSingle(s, ck.OpDecrypt, ct, ck.Out{Present: true, Cap: 16})
	ok(t, err, "Decrypt after a length query of an empty result")
	if len(pt) != 0 || n != 0 {
		t.Fatalf("decrypted %x (%d)", pt, n)
	}
	// GCM with a 12-byte IV and AAD: the result must be AES-GCM of exactly these inputs.
	gcmIV := []byte("twelve bytes")
	aad := []byte("header")
	param := mustParams(t, ck.CKM_AES_GCM, map[string]any{"pIv": gcmIV, "ulIvBits": 96, "pAAD": aad, "ulTagBits": 128})
	ok(t, p.OperationInit(s, ck.OpEncrypt, &ck.Mechanism{Type: ck.CKM_AES_GCM, Parameter: param}, k), "EncryptInit GCM")
	_, n, err = p.OperationSingle(s, ck.OpEncrypt, []byte("secret message"), ck.Out{})
	ok(t, err, "GCM length query")
	got, _, err := p.OperationSingle(s, ck.OpEncrypt, []byte("secret message"), ck.Out{Present: true, Cap: n + 100})
	ok(t, err, "GCM encrypt")
	block, _ := aes.NewCipher(key)
	gcm, _ := cipher.NewGCM(block)
	if wantCT := gcm.Seal(nil, gcmIV, []byte("secret message"), aad); !bytes.Equal(got, wantCT) {
		t.Fatalf("GCM through the token:\n got %x\nwant %x", got, wantCT)
	}
}
