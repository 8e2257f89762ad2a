package engine

import (
	"bytes"
	"testing"

	"github.com/keyward/keyward/internal/engine/enginetest"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/vault"
	"github.com/keyward/keyward/internal/wire"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// TestStoredTrustedKeyOnlyWraps checks the point-of-use half of the wrapping policy on a trusted key stored
// by an earlier version with CKA_ENCRYPT, CKA_SIGN and CKA_DERIVE TRUE (the defaults then), and a sensitive
// key stored with CKA_WRAP_WITH_TRUSTED FALSE: after a restart the trusted key still wraps sensitive keys
// with a key-wrap mechanism, does nothing else, cannot be copied into a key that decrypts, and the
// sensitive key reports CKA_WRAP_WITH_TRUSTED TRUE.
func TestStoredTrustedKeyOnlyWraps(t *testing.T) {
	dir := t.TempDir()
	e, done := openSealEngine(t, dir)
	p, slot, s := soSessionOnNewToken(t, e, "old")
	kek, err := p.CreateObject(s, []ck.Attribute{ck.NewAttribute(ck.CKA_CLASS, ck.CKO_SECRET_KEY), ck.NewAttribute(ck.CKA_KEY_TYPE, ck.CKK_AES),
		ck.NewAttribute(ck.CKA_TOKEN, true), ck.NewAttribute(ck.CKA_PRIVATE, false), ck.NewAttribute(ck.CKA_TRUSTED, true),
		ck.NewAttribute(ck.CKA_WRAP, true), ck.NewAttribute(ck.CKA_VALUE, bytes.Repeat([]byte{3}, 32)), ck.NewAttribute(ck.CKA_LABEL, "old-kek")})
	if err != nil {
		t.Fatal(err)
	}
	p.Logout(s)
	if err := p.Login(s, ck.CKU_USER, enginetest.UserPIN); err != nil {
		t.Fatal(err)
	}
	target, err := p.GenerateKey(s, &ck.Mechanism{Type: ck.CKM_AES_KEY_GEN}, []ck.Attribute{ck.NewAttribute(ck.CKA_VALUE_LEN, 32),
		ck.NewAttribute(ck.CKA_EXTRACTABLE, true), ck.NewAttribute(ck.CKA_TOKEN, true), ck.NewAttribute(ck.CKA_LABEL, "old-target")})
	if err != nil {
		t.Fatal(err)
	}
	// Rewrite both records as an earlier version stored them.
	e.mu.Lock()
	for h, change := range map[ck.ObjectHandle]map[ck.AttributeType][]byte{
		kek:    {ck.CKA_ENCRYPT: {1}, ck.CKA_SIGN: {1}, ck.CKA_VERIFY: {1}, ck.CKA_DERIVE: {1}},
		target: {ck.CKA_WRAP_WITH_TRUSTED: {0}},
	} {
		o := e.objects[h]
		m := o.attrs.attrMap()
		for k, v := range change {
			m[k] = v
		}
		o.setAttrs(newAttrList(m))
		key := o.tok.pubKey
		if o.private || o.sealed {
			key = o.tok.tokenKey.Key
		}
		blob := key.Seal(o.attrs.encode(), vault.ObjectAD(o.tok.id, o.id, o.private || o.sealed))
		if err := e.store.PutObject(store.Object{Token: o.tok.id, ID: o.id, Private: o.private || o.sealed, Blob: blob}); err != nil {
			t.Fatal(err)
		}
	}
	e.mu.Unlock()
	done()

	e, done = openSealEngine(t, dir)
	defer done()
	p = e.Open(Peer{UID: 1, PID: 2})
	s, _ = p.OpenSession(slot, ck.CKF_SERIAL_SESSION|ck.CKF_RW_SESSION)
	if err := p.Login(s, ck.CKU_USER, enginetest.UserPIN); err != nil {
		t.Fatal(err)
	}
	kek, target = findLabel(t, p, s, "old-kek")[0], findLabel(t, p, s, "old-target")[0]
	res, err := p.GetAttributeValue(s, kek, ck.Query(1, ck.CKA_ENCRYPT))
	if err != nil || !bytes.Equal(res[0].Value, []byte{1}) {
		t.Fatalf("the forged record did not load: %v %v", res, err)
	}
	res, err = p.GetAttributeValue(s, target, ck.Query(1, ck.CKA_WRAP_WITH_TRUSTED))
	if err != nil || !bytes.Equal(res[0].Value, []byte{1}) {
		t.Fatalf("trusted-only: a stored sensitive key reports CKA_WRAP_WITH_TRUSTED %v (%v)", res, err)
	}
	out := ck.Out{Present: true, Cap: 64}
	if _, _, err := p.WrapKey(s, &ck.Mechanism{Type: ck.CKM_AES_KEY_WRAP}, kek, target, out); err != nil {
		t.Fatalf("the stored trusted key no longer wraps: %v", err)
	}
	for _, c := range []struct {
		kind ck.Operation
		m    *ck.Mechanism
	}{{ck.OpEncrypt, &ck.Mechanism{Type: ck.CKM_AES_ECB}}, {ck.OpEncrypt, &ck.Mechanism{Type: ck.CKM_AES_CBC, Parameter: make([]byte, 16)}},
		{ck.OpSign, &ck.Mechanism{Type: ck.CKM_AES_CMAC}}, {ck.OpVerify, &ck.Mechanism{Type: ck.CKM_AES_CMAC}}} {
		if err := p.OperationInit(s, c.kind, c.m, kek); ck.ToRV(err) != ck.CKR_KEY_FUNCTION_NOT_PERMITTED {
			t.Fatalf("%v %v with the stored trusted key: %v, want CKR_KEY_FUNCTION_NOT_PERMITTED", c.kind, c.m.Type, ck.ToRV(err))
		}
	}
	derive := &ck.Mechanism{Type: ck.CKM_AES_ECB_ENCRYPT_DATA, Parameter: enginetestParams(t, ck.CKM_AES_ECB_ENCRYPT_DATA, map[string]any{"pData": make([]byte, 32)})}
	if _, err := p.DeriveKey(s, derive, kek, []ck.Attribute{ck.NewAttribute(ck.CKA_VALUE_LEN, 32)}); ck.ToRV(err) != ck.CKR_KEY_FUNCTION_NOT_PERMITTED {
		t.Fatalf("derive from the stored trusted key: %v, want CKR_KEY_FUNCTION_NOT_PERMITTED", ck.ToRV(err))
	}
	if _, err := p.CopyObject(s, kek, []ck.Attribute{ck.NewAttribute(ck.CKA_DECRYPT, true)}); ck.ToRV(err) == ck.CKR_OK {
		t.Fatal("a copy of the stored trusted key decrypts")
	}
}

func enginetestParams(t *testing.T, m ck.MechanismType, fields map[string]any) []byte {
	t.Helper()
	b, err := wire.EncodeParams(m, fields)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
