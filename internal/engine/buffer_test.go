package engine_test

import (
	"bytes"
	"testing"

	"github.com/keyward/keyward/internal/engine"
	"github.com/keyward/keyward/internal/engine/enginetest"
	"github.com/keyward/keyward/internal/wire"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// TestMultiPartBufferLimits: the mechanisms that keep multi-part input until Final (AES-GCM, AES-CCM, pure
// EdDSA, ML-DSA) hold at most a bound per operation (CKR_DATA_LEN_RANGE, CKR_ENCRYPTED_DATA_LEN_RANGE) and per
// application (CKR_DEVICE_MEMORY); the error ends the operation and gives its memory back. All with a public
// session key and no login, as an attacker would.
func TestMultiPartBufferLimits(t *testing.T) {
	defer engine.SetBufferLimits(1000, 2500)()
	e := newEngineWith(t, engine.Config{})
	p := e.Open(engine.Peer{UID: 1, PID: 1})
	defer p.Close()
	slots, _ := p.GetSlotList(true)
	if err := p.InitToken(slots[0], enginetest.SOPIN, enginetest.Label("buffers")); err != nil {
		t.Fatal(err)
	}
	open := func() ck.SessionHandle {
		s, err := p.OpenSession(slots[0], ck.CKF_SERIAL_SESSION|ck.CKF_RW_SESSION)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := open()
	k, err := p.CreateObject(s, []ck.Attribute{ck.NewAttribute(ck.CKA_CLASS, ck.CKO_SECRET_KEY),
		ck.NewAttribute(ck.CKA_KEY_TYPE, ck.CKK_AES), ck.NewAttribute(ck.CKA_PRIVATE, false),
		ck.NewAttribute(ck.CKA_VALUE, bytes.Repeat([]byte{1}, 16))})
	if err != nil {
		t.Fatal(err)
	}
	gcmParam, err := wire.EncodeParams(ck.CKM_AES_GCM, map[string]any{"pIv": make([]byte, 12), "ulTagBits": 128})
	if err != nil {
		t.Fatal(err)
	}
	gcm := &ck.Mechanism{Type: ck.CKM_AES_GCM, Parameter: gcmParam}
	ccmParam, err := wire.EncodeParams(ck.CKM_AES_CCM, map[string]any{"ulDataLen": 2000, "pNonce": make([]byte, 12), "ulMACLen": 16})
	if err != nil {
		t.Fatal(err)
	}
	ccm := &ck.Mechanism{Type: ck.CKM_AES_CCM, Parameter: ccmParam}
	rv := func(err error) ck.RV { return ck.ToRV(err) }
	update := func(s ck.SessionHandle, kind ck.Operation, n int) error {
		_, _, err := p.OperationUpdate(s, kind, make([]byte, n), ck.Out{Present: true, Cap: 4096})
		return err
	}
	ended := func(s ck.SessionHandle, kind ck.Operation, what string) {
		t.Helper()
		if _, _, err := p.OperationFinal(s, kind, ck.Out{Present: true, Cap: 4096}); rv(err) != ck.CKR_OPERATION_NOT_INITIALIZED {
			t.Fatalf("%s: Final after the error: %v, want CKR_OPERATION_NOT_INITIALIZED", what, rv(err))
		}
	}

	// Per operation: encryption, decryption, CCM.
	for _, c := range []struct {
		kind ck.Operation
		m    *ck.Mechanism
		rv   ck.RV
	}{{ck.OpEncrypt, gcm, ck.CKR_DATA_LEN_RANGE}, {ck.OpDecrypt, gcm, ck.CKR_ENCRYPTED_DATA_LEN_RANGE}, {ck.OpEncrypt, ccm, ck.CKR_DATA_LEN_RANGE}} {
		if err := p.OperationInit(s, c.kind, c.m, k); err != nil {
			t.Fatal(err)
		}
		if err := update(s, c.kind, 600); err != nil {
			t.Fatalf("%v %v: 600 bytes: %v", c.kind, c.m.Type, err)
		}
		if err := update(s, c.kind, 401); rv(err) != c.rv {
			t.Fatalf("%v %v: 1001 bytes held: %v, want %v", c.kind, c.m.Type, rv(err), c.rv)
		}
		ended(s, c.kind, "per-operation bound")
	}
	// Exactly the bound is fine.
	if err := p.OperationInit(s, ck.OpEncrypt, gcm, k); err != nil {
		t.Fatal(err)
	}
	if update(s, ck.OpEncrypt, 600) != nil || update(s, ck.OpEncrypt, 400) != nil {
		t.Fatal("1000 bytes (the bound) refused")
	}
	if ct, _, err := p.OperationFinal(s, ck.OpEncrypt, ck.Out{Present: true, Cap: 4096}); err != nil || len(ct) != 1016 {
		t.Fatalf("GCM of 1000 bytes: %d bytes, %v", len(ct), err)
	}

	// Per application: three sessions of 900 bytes exceed 2500; closing one gives its share back.
	ss := []ck.SessionHandle{open(), open(), open()}
	for i, x := range ss {
		if err := p.OperationInit(x, ck.OpEncrypt, gcm, k); err != nil {
			t.Fatal(err)
		}
		err := update(x, ck.OpEncrypt, 900)
		if i < 2 && err != nil {
			t.Fatalf("session %d: %v", i, err)
		}
		if i == 2 && rv(err) != ck.CKR_DEVICE_MEMORY {
			t.Fatalf("the application's third 900 bytes: %v, want CKR_DEVICE_MEMORY", rv(err))
		}
	}
	ended(ss[2], ck.OpEncrypt, "per-application bound")
	if err := p.CloseSession(ss[0]); err != nil {
		t.Fatal(err)
	}
	if err := p.OperationInit(ss[2], ck.OpEncrypt, gcm, k); err != nil {
		t.Fatal(err)
	}
	if err := update(ss[2], ck.OpEncrypt, 900); err != nil {
		t.Fatalf("after a session closed: %v", err)
	}
	// Another application is not affected.
	q := e.Open(engine.Peer{UID: 2, PID: 2})
	defer q.Close()
	qs, _ := q.OpenSession(slots[0], ck.CKF_SERIAL_SESSION)
	if err := q.OperationInit(qs, ck.OpDigest, &ck.Mechanism{Type: ck.CKM_SHA256}, 0); err != nil {
		t.Fatal(err)
	}
	p.OperationInit(ss[1], ck.OpEncrypt, nil, 0) // cancel: 900 bytes back
	p.OperationInit(ss[2], ck.OpEncrypt, nil, 0)

	// ML-DSA and pure Ed25519 multi-part signing buffer too.
	pubML, privML, err := p.GenerateKeyPair(s, &ck.Mechanism{Type: ck.CKM_ML_DSA_KEY_PAIR_GEN},
		[]ck.Attribute{ck.NewAttribute(ck.CKA_PARAMETER_SET, uint64(ck.CKP_ML_DSA_44))}, []ck.Attribute{ck.NewAttribute(ck.CKA_PRIVATE, false)})
	if err != nil {
		t.Fatal(err)
	}
	_, privEd, err := p.GenerateKeyPair(s, &ck.Mechanism{Type: ck.CKM_EC_EDWARDS_KEY_PAIR_GEN},
		[]ck.Attribute{ck.NewAttribute(ck.CKA_EC_PARAMS, []byte{0x06, 0x03, 0x2b, 0x65, 0x70})}, []ck.Attribute{ck.NewAttribute(ck.CKA_PRIVATE, false)})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		kind ck.Operation
		m    ck.MechanismType
		key  ck.ObjectHandle
	}{{ck.OpSign, ck.CKM_ML_DSA, privML}, {ck.OpVerify, ck.CKM_ML_DSA, pubML}, {ck.OpSign, ck.CKM_EDDSA, privEd}} {
		if err := p.OperationInit(s, c.kind, &ck.Mechanism{Type: c.m}, c.key); err != nil {
			t.Fatalf("%v %v init: %v", c.kind, c.m, err)
		}
		if err := update(s, c.kind, 1000); err != nil {
			t.Fatalf("%v %v: %v", c.kind, c.m, err)
		}
		if err := update(s, c.kind, 1); rv(err) != ck.CKR_DATA_LEN_RANGE {
			t.Fatalf("%v %v beyond the bound: %v, want CKR_DATA_LEN_RANGE", c.kind, c.m, rv(err))
		}
		if c.kind == ck.OpVerify {
			if err := p.VerifyFinal(s, make([]byte, 2420)); rv(err) != ck.CKR_OPERATION_NOT_INITIALIZED {
				t.Fatalf("VerifyFinal after the error: %v", rv(err))
			}
			continue
		}
		ended(s, c.kind, "signing bound")
	}
	// Digests and HMACs stream: no bound.
	if err := p.OperationInit(s, ck.OpDigest, &ck.Mechanism{Type: ck.CKM_SHA256}, 0); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if err := update(s, ck.OpDigest, 1000); err != nil {
			t.Fatalf("digest of 5000 bytes: %v", err)
		}
	}
}
