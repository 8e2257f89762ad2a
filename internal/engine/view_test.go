package engine_test

import (
	"testing"

	"github.com/keyward/keyward/internal/engine"
	"github.com/keyward/keyward/internal/engine/enginetest"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// A per-application view: the programs it names find only key pairs of its key types (and cannot use the
// others' handles); other programs, certificates and data objects are not affected.
func TestKeyView(t *testing.T) {
	e := newEngineWith(t, engine.Config{Views: []engine.KeyView{{Programs: []string{"curl"}, KeyTypes: []ck.KeyType{ck.CKK_RSA, ck.CKK_EC}}}})
	admin := e.Open(engine.Peer{UID: 0, PID: 1, Exe: "/usr/bin/keyward"})
	slots, _ := admin.GetSlotList(true)
	if err := admin.InitToken(slots[0], enginetest.SOPIN, enginetest.Label("mixed")); err != nil {
		t.Fatal(err)
	}
	s, _ := admin.OpenSession(slots[0], ck.CKF_SERIAL_SESSION|ck.CKF_RW_SESSION)
	admin.Login(s, ck.CKU_SO, enginetest.SOPIN)
	admin.InitPIN(s, enginetest.UserPIN)
	admin.Logout(s)
	if err := admin.Login(s, ck.CKU_USER, enginetest.UserPIN); err != nil {
		t.Fatal(err)
	}
	gen := func(m ck.MechanismType, params []byte, label string) {
		t.Helper()
		pub := []ck.Attribute{ck.NewAttribute(ck.CKA_TOKEN, true), ck.NewAttribute(ck.CKA_EC_PARAMS, params), ck.NewAttribute(ck.CKA_LABEL, label)}
		priv := []ck.Attribute{ck.NewAttribute(ck.CKA_TOKEN, true), ck.NewAttribute(ck.CKA_LABEL, label)}
		if _, _, err := admin.GenerateKeyPair(s, &ck.Mechanism{Type: m}, pub, priv); err != nil {
			t.Fatalf("%s: %v", label, err)
		}
	}
	gen(ck.CKM_EC_EDWARDS_KEY_PAIR_GEN, []byte{0x06, 0x03, 0x2b, 0x65, 0x70}, "ed")                       // Ed25519
	gen(ck.CKM_EC_KEY_PAIR_GEN, []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}, "ec") // P-256
	count := func(p ck.Provider) (int, []ck.ObjectHandle) {
		t.Helper()
		ss, _ := p.OpenSession(slots[0], ck.CKF_SERIAL_SESSION)
		p.Login(ss, ck.CKU_USER, enginetest.UserPIN)
		p.FindObjectsInit(ss, []ck.Attribute{ck.NewAttribute(ck.CKA_LABEL, "ed")})
		ed, _ := p.FindObjects(ss, 10)
		p.FindObjectsFinal(ss)
		p.FindObjectsInit(ss, nil)
		all, _ := p.FindObjects(ss, 100)
		p.FindObjectsFinal(ss)
		return len(all), ed
	}
	if n, ed := count(admin); n != 4 || len(ed) != 2 {
		t.Fatalf("outside the view: %d objects, %d Ed25519 halves; want 4 and 2", n, len(ed))
	}
	_, edHandles := count(admin)
	curl := e.Open(engine.Peer{UID: 0, PID: 2, Exe: "/usr/bin/curl"})
	if n, ed := count(curl); n != 2 || len(ed) != 0 {
		t.Fatalf("curl's view: %d objects, %d Ed25519 halves; want 2 and 0", n, len(ed))
	}
	cs, _ := curl.OpenSession(slots[0], ck.CKF_SERIAL_SESSION)
	if _, err := curl.GetAttributeValue(cs, edHandles[0], []ck.Attribute{ck.Query(0, ck.CKA_LABEL)[0]}); ck.ToRV(err) != ck.CKR_OBJECT_HANDLE_INVALID {
		t.Errorf("a hidden key's handle: %v, want CKR_OBJECT_HANDLE_INVALID", err)
	}
}
