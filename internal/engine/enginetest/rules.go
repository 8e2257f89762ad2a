package enginetest

import (
	"testing"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// Security rules that no other test held (issue 11, item 8: found by scripts/mutate-engine.sh, which disables
// the engine's checks one at a time and lists those no test notices).

// testSetPINLocked: a locked PIN cannot be changed, not even with the right old PIN (C_SetPIN answers
// CKR_PIN_LOCKED), so C_SetPIN is no way around the retry counter; only the SO's C_InitPIN unlocks it.
func testSetPINLocked(t *testing.T, open func() ck.Provider) {
	p := open()
	defer p.Close()
	slot := token(t, p, "setpin-locked", true)
	rw := rwSession(t, p, slot)
	locked := false
	for i := 0; i < 100 && !locked; i++ {
		err := p.Login(rw, ck.CKU_USER, []byte("wrong-pin-0000"))
		locked = isRV(err, ck.CKR_PIN_LOCKED)
		if !locked && !isRV(err, ck.CKR_PIN_INCORRECT) {
			t.Fatalf("wrong PIN %d: %v", i, err)
		}
	}
	if !locked {
		t.Fatal("the user PIN never locked")
	}
	want(t, p.SetPIN(rw, UserPIN, []byte("another-pin")), ck.CKR_PIN_LOCKED, "SetPIN of a locked PIN with the right old PIN")
	want(t, p.Login(rw, ck.CKU_USER, []byte("another-pin")), ck.CKR_PIN_LOCKED, "login with the PIN SetPIN was refused")
	want(t, p.Login(rw, ck.CKU_USER, UserPIN), ck.CKR_PIN_LOCKED, "login with the locked PIN")
	ok(t, p.Login(rw, ck.CKU_SO, SOPIN), "SO login")
	ok(t, p.InitPIN(rw, UserPIN), "InitPIN unlocks")
	ok(t, p.Logout(rw), "Logout")
	ok(t, p.Login(rw, ck.CKU_USER, UserPIN), "login after InitPIN")
}
