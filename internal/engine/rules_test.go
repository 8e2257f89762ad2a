package engine_test

import (
	"testing"

	"github.com/keyward/keyward/internal/engine"
	"github.com/keyward/keyward/internal/engine/enginetest"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// TestEngineRules holds engine rules that scripts/mutate-engine.sh found no test for (issue 11, item 8): a
// closed application can neither use nor open sessions, C_GenerateRandom is bounded, and
// C_WaitForSlotEvent does not block.
func TestEngineRules(t *testing.T) {
	e := newEngineWith(t, engine.Config{})
	p := e.Open(engine.Peer{UID: 1, PID: 1})
	slots, _ := p.GetSlotList(true)
	if err := p.InitToken(slots[0], enginetest.SOPIN, enginetest.Label("rules")); err != nil {
		t.Fatal(err)
	}
	s, err := p.OpenSession(slots[0], ck.CKF_SERIAL_SESSION|ck.CKF_RW_SESSION)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.GenerateRandom(s, engine.MaxRandom+1); ck.ToRV(err) != ck.CKR_DATA_LEN_RANGE {
		t.Errorf("GenerateRandom of MaxRandom+1 bytes: %v, want CKR_DATA_LEN_RANGE", ck.ToRV(err))
	}
	if b, err := p.GenerateRandom(s, 32); err != nil || len(b) != 32 {
		t.Errorf("GenerateRandom of 32 bytes: %d, %v", len(b), err)
	}
	if _, err := p.WaitForSlotEvent(0); ck.ToRV(err) != ck.CKR_FUNCTION_NOT_SUPPORTED {
		t.Errorf("blocking WaitForSlotEvent: %v, want CKR_FUNCTION_NOT_SUPPORTED", ck.ToRV(err))
	}
	for {
		_, err := p.WaitForSlotEvent(ck.CKF_DONT_BLOCK)
		if ck.ToRV(err) == ck.CKR_NO_EVENT {
			break
		}
		if err != nil {
			t.Fatalf("WaitForSlotEvent(CKF_DONT_BLOCK): %v", err)
		}
	}
	// Missing PINs and labels (the C library refuses NULL ones itself; the wire cannot carry every one).
	if err := p.InitToken(slots[0], enginetest.SOPIN, nil); ck.ToRV(err) != ck.CKR_ARGUMENTS_BAD {
		t.Errorf("InitToken without a label: %v", ck.ToRV(err))
	}
	if err := p.InitToken(slots[0], nil, enginetest.Label("rules")); ck.ToRV(err) != ck.CKR_ARGUMENTS_BAD {
		t.Errorf("InitToken without an SO PIN: %v", ck.ToRV(err))
	}
	if err := p.DeleteToken(slots[0], nil); ck.ToRV(err) != ck.CKR_ARGUMENTS_BAD {
		t.Errorf("DeleteToken without an SO PIN: %v", ck.ToRV(err))
	}
	rw := s
	if err := p.Login(rw, ck.CKU_SO, enginetest.SOPIN); err != nil {
		t.Fatal(err)
	}
	if err := p.InitPIN(rw, nil); ck.ToRV(err) != ck.CKR_ARGUMENTS_BAD {
		t.Errorf("InitPIN without a PIN: %v", ck.ToRV(err))
	}
	if err := p.InitPIN(rw, enginetest.UserPIN); err != nil {
		t.Fatal(err)
	}
	if err := p.SetPIN(rw, nil, []byte("another-pin")); ck.ToRV(err) != ck.CKR_ARGUMENTS_BAD {
		t.Errorf("SetPIN without the old PIN: %v", ck.ToRV(err))
	}
	p.Close()
	if _, err := p.GetSessionInfo(s); ck.ToRV(err) != ck.CKR_CRYPTOKI_NOT_INITIALIZED {
		t.Errorf("a closed application's session: %v, want CKR_CRYPTOKI_NOT_INITIALIZED", ck.ToRV(err))
	}
	if _, err := p.OpenSession(slots[0], ck.CKF_SERIAL_SESSION); ck.ToRV(err) != ck.CKR_CRYPTOKI_NOT_INITIALIZED {
		t.Errorf("OpenSession after Close: %v, want CKR_CRYPTOKI_NOT_INITIALIZED", ck.ToRV(err))
	}
}
