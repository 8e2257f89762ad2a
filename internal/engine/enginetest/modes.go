package enginetest

import (
	"bytes"
	"testing"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// testOperationModes checks that an operation is single-part or multi-part, fixed by its first data call, and
// that a call that does not fit ends it (PKCS#11 3.2: C_Encrypt "must be called after C_EncryptInit without
// intervening C_EncryptUpdate calls", lists CKR_OPERATION_ACTIVE, and every error of these calls but
// CKR_BUFFER_TOO_SMALL ends the active operation).
func testOperationModes(t *testing.T, open func() ck.Provider) {
	p := open()
	defer p.Close()
	slot := token(t, p, "modes", true)
	s := userSession(t, p, slot)
	k, err := p.CreateObject(s, []ck.Attribute{attr(ck.CKA_CLASS, ck.CKO_SECRET_KEY), attr(ck.CKA_KEY_TYPE, ck.CKK_AES),
		attr(ck.CKA_VALUE, bytes.Repeat([]byte{7}, 16)), attr(ck.CKA_SIGN, true), attr(ck.CKA_VERIFY, true)})
	ok(t, err, "CreateObject AES")
	ecb := &ck.Mechanism{Type: ck.CKM_AES_ECB}
	block := make([]byte, 16)
	full := ck.Out{Present: true, Cap: 64}
	ended := func(kind ck.Operation, what string) {
		t.Helper()
		_, _, err := p.OperationFinal(s, kind, full)
		want(t, err, ck.CKR_OPERATION_NOT_INITIALIZED, what+": the operation must have ended")
	}

	// C_Encrypt after C_EncryptUpdate.
	ok(t, p.OperationInit(s, ck.OpEncrypt, ecb, k), "EncryptInit")
	_, _, err = p.OperationUpdate(s, ck.OpEncrypt, block, full)
	ok(t, err, "EncryptUpdate")
	_, _, err = p.OperationSingle(s, ck.OpEncrypt, block, full)
	want(t, err, ck.CKR_OPERATION_ACTIVE, "Encrypt after EncryptUpdate")
	ended(ck.OpEncrypt, "Encrypt after EncryptUpdate")

	// C_EncryptUpdate after C_Encrypt's length query.
	ok(t, p.OperationInit(s, ck.OpEncrypt, ecb, k), "EncryptInit")
	_, n, err := p.OperationSingle(s, ck.OpEncrypt, block, ck.Out{})
	ok(t, err, "Encrypt length query")
	if n != 16 {
		t.Fatalf("Encrypt length %d", n)
	}
	_, _, err = p.OperationUpdate(s, ck.OpEncrypt, block, full)
	want(t, err, ck.CKR_OPERATION_ACTIVE, "EncryptUpdate after an Encrypt length query")
	ended(ck.OpEncrypt, "EncryptUpdate after Encrypt")

	// C_EncryptFinal after C_Encrypt's length query.
	ok(t, p.OperationInit(s, ck.OpEncrypt, ecb, k), "EncryptInit")
	_, _, err = p.OperationSingle(s, ck.OpEncrypt, block, ck.Out{})
	ok(t, err, "Encrypt length query")
	_, _, err = p.OperationFinal(s, ck.OpEncrypt, full)
	want(t, err, ck.CKR_OPERATION_ACTIVE, "EncryptFinal after an Encrypt length query")
	_, _, err = p.OperationSingle(s, ck.OpEncrypt, block, full)
	want(t, err, ck.CKR_OPERATION_NOT_INITIALIZED, "Encrypt after the failed EncryptFinal")

	// An Update's length query followed by Final: the Update's output waits, Final must not run past it.
	ok(t, p.OperationInit(s, ck.OpEncrypt, ecb, k), "EncryptInit")
	_, n, err = p.OperationUpdate(s, ck.OpEncrypt, append(block, block...), ck.Out{})
	ok(t, err, "EncryptUpdate length query")
	if n != 32 {
		t.Fatalf("EncryptUpdate length %d", n)
	}
	_, _, err = p.OperationFinal(s, ck.OpEncrypt, full)
	want(t, err, ck.CKR_OPERATION_ACTIVE, "EncryptFinal while an Update's output waits")
	ended(ck.OpEncrypt, "EncryptFinal while an Update's output waits")
	// ... while repeating the Update gets its output, then Final works.
	ok(t, p.OperationInit(s, ck.OpEncrypt, ecb, k), "EncryptInit")
	_, _, err = p.OperationUpdate(s, ck.OpEncrypt, block, ck.Out{})
	ok(t, err, "EncryptUpdate length query")
	ct, _, err := p.OperationUpdate(s, ck.OpEncrypt, block, full)
	ok(t, err, "EncryptUpdate")
	if len(ct) != 16 {
		t.Fatalf("EncryptUpdate gave %d bytes", len(ct))
	}
	_, _, err = p.OperationFinal(s, ck.OpEncrypt, full)
	ok(t, err, "EncryptFinal")

	// Digest: C_Digest after C_DigestUpdate and C_DigestFinal's length query; C_DigestFinal after C_Digest's.
	sha := &ck.Mechanism{Type: ck.CKM_SHA256}
	ok(t, p.OperationInit(s, ck.OpDigest, sha, 0), "DigestInit")
	_, _, err = p.OperationUpdate(s, ck.OpDigest, []byte("a"), ck.Out{})
	ok(t, err, "DigestUpdate")
	_, _, err = p.OperationFinal(s, ck.OpDigest, ck.Out{})
	ok(t, err, "DigestFinal length query")
	_, _, err = p.OperationSingle(s, ck.OpDigest, []byte("bc"), full)
	want(t, err, ck.CKR_OPERATION_ACTIVE, "Digest after DigestUpdate")
	ended(ck.OpDigest, "Digest after DigestUpdate")
	ok(t, p.OperationInit(s, ck.OpDigest, sha, 0), "DigestInit")
	_, _, err = p.OperationSingle(s, ck.OpDigest, []byte("abc"), ck.Out{})
	ok(t, err, "Digest length query")
	_, _, err = p.OperationFinal(s, ck.OpDigest, full)
	want(t, err, ck.CKR_OPERATION_ACTIVE, "DigestFinal after a Digest length query")
	_, _, err = p.OperationSingle(s, ck.OpDigest, []byte("abc"), full)
	want(t, err, ck.CKR_OPERATION_NOT_INITIALIZED, "Digest after the failed DigestFinal")

	// Verify: C_Verify after C_VerifyUpdate.
	cmac := &ck.Mechanism{Type: ck.CKM_AES_CMAC}
	ok(t, p.OperationInit(s, ck.OpSign, cmac, k), "SignInit")
	mac, _, err := p.OperationSingle(s, ck.OpSign, []byte("abc"), full)
	ok(t, err, "Sign")
	ok(t, p.OperationInit(s, ck.OpVerify, cmac, k), "VerifyInit")
	_, _, err = p.OperationUpdate(s, ck.OpVerify, []byte("a"), ck.Out{})
	ok(t, err, "VerifyUpdate")
	want(t, p.Verify(s, []byte("abc"), mac), ck.CKR_OPERATION_ACTIVE, "Verify after VerifyUpdate")
	want(t, p.VerifyFinal(s, mac), ck.CKR_OPERATION_NOT_INITIALIZED, "VerifyFinal after the failed Verify")
	ok(t, p.OperationInit(s, ck.OpVerify, cmac, k), "VerifyInit")
	ok(t, p.Verify(s, []byte("abc"), mac), "Verify")
}
