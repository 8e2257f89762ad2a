package enginetest

import (
	"testing"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

func testSlots(t *testing.T, open func() ck.Provider) {
	p := open()
	defer p.Close()
	slots, err := p.GetSlotList(false)
	ok(t, err, "GetSlotList")
	if len(slots) != 1 {
		t.Fatalf("a fresh store has slots %v, want one free slot", slots)
	}
	free := slots[0]
	si, err := p.GetSlotInfo(free)
	ok(t, err, "GetSlotInfo")
	if si.Flags&ck.CKF_TOKEN_PRESENT == 0 {
		t.Error("the free slot has no token present")
	}
	ti := tokenInfo(t, p, free)
	if ti.Flags&ck.CKF_TOKEN_INITIALIZED != 0 {
		t.Error("the free slot's token claims to be initialised")
	}
	_, err = p.GetSlotInfo(free + 1000)
	want(t, err, ck.CKR_SLOT_ID_INVALID, "GetSlotInfo of an unknown slot")
	_, err = p.GetTokenInfo(free + 1000)
	want(t, err, ck.CKR_SLOT_ID_INVALID, "GetTokenInfo of an unknown slot")
	_, err = p.OpenSession(free, ck.CKF_SERIAL_SESSION)
	want(t, err, ck.CKR_TOKEN_NOT_RECOGNIZED, "OpenSession on an uninitialised token")
	_, err = p.OpenSession(free+1000, ck.CKF_SERIAL_SESSION)
	want(t, err, ck.CKR_SLOT_ID_INVALID, "OpenSession on an unknown slot")
	_, err = p.GetMechanismList(free + 1000)
	want(t, err, ck.CKR_SLOT_ID_INVALID, "GetMechanismList of an unknown slot")
	info, err := p.GetInfo()
	ok(t, err, "GetInfo")
	if info.ManufacturerID != "Keyward" {
		t.Errorf("manufacturer %q", info.ManufacturerID)
	}
}

func testInitToken(t *testing.T, open func() ck.Provider) {
	p := open()
	defer p.Close()
	slots, _ := p.GetSlotList(true)
	free := slots[0]
	want(t, p.InitToken(free, []byte("123"), Label("short")), ck.CKR_PIN_LEN_RANGE, "InitToken with a 3-byte SO PIN")
	want(t, p.InitToken(free+1000, SOPIN, Label("x")), ck.CKR_SLOT_ID_INVALID, "InitToken on an unknown slot")
	ok(t, p.InitToken(free, SOPIN, Label("first")), "InitToken")
	ti := tokenInfo(t, p, free)
	if ti.Label != "first" || ti.Flags&ck.CKF_TOKEN_INITIALIZED == 0 || ti.Flags&ck.CKF_USER_PIN_INITIALIZED != 0 {
		t.Fatalf("after InitToken: label %q flags %#x", ti.Label, ti.Flags)
	}
	if ti.SerialNumber == "" {
		t.Error("token has no serial number")
	}
	slots2, _ := p.GetSlotList(true)
	if len(slots2) != 2 || slots2[0] != free {
		t.Fatalf("after InitToken slots are %v: want the token's slot and a new free slot", slots2)
	}
	// A stable slot: re-initialising keeps the slot id and wipes every object.
	s := userSessionAfterPIN(t, p, free)
	h, err := p.CreateObject(s, dataObject("keep?", "v", attr(ck.CKA_TOKEN, true)))
	ok(t, err, "CreateObject")
	want(t, p.InitToken(free, SOPIN, Label("again")), ck.CKR_SESSION_EXISTS, "InitToken with a session open")
	ok(t, p.CloseSession(s), "CloseSession")
	want(t, p.InitToken(free, []byte("wrong-so-pin"), Label("again")), ck.CKR_PIN_INCORRECT, "re-InitToken with a wrong SO PIN")
	ok(t, p.InitToken(free, SOPIN, Label("again")), "re-InitToken")
	ti = tokenInfo(t, p, free)
	if ti.Label != "again" || ti.Flags&ck.CKF_USER_PIN_INITIALIZED != 0 {
		t.Fatalf("after re-init: label %q flags %#x", ti.Label, ti.Flags)
	}
	if ti.Flags&ck.CKF_SO_PIN_COUNT_LOW != 0 {
		t.Error("the SO PIN failure count was not reset by the successful re-init")
	}
	ro := roSession(t, p, free)
	if got := find(t, p, ro); len(got) != 0 {
		t.Fatalf("re-initialised token still has objects %v (had %v)", got, h)
	}
	slots3, _ := p.GetSlotList(true)
	if len(slots3) != 2 {
		t.Fatalf("re-init changed the slot list to %v", slots3)
	}
}

// userSessionAfterPIN sets the user PIN of an initialised token and returns a logged-in RW session.
func userSessionAfterPIN(t *testing.T, p ck.Provider, slot ck.SlotID) ck.SessionHandle {
	t.Helper()
	s := rwSession(t, p, slot)
	ok(t, p.Login(s, ck.CKU_SO, SOPIN), "Login SO")
	ok(t, p.InitPIN(s, UserPIN), "InitPIN")
	ok(t, p.Logout(s), "Logout SO")
	ok(t, p.Login(s, ck.CKU_USER, UserPIN), "Login user")
	return s
}

func testSessions(t *testing.T, open func() ck.Provider) {
	p := open()
	defer p.Close()
	slot := token(t, p, "sessions", true)
	_, err := p.OpenSession(slot, 0)
	want(t, err, ck.CKR_SESSION_PARALLEL_NOT_SUPPORTED, "OpenSession without CKF_SERIAL_SESSION")
	ro := roSession(t, p, slot)
	rw := rwSession(t, p, slot)
	if ro == rw {
		t.Fatal("two sessions share a handle")
	}
	si, err := p.GetSessionInfo(ro)
	ok(t, err, "GetSessionInfo")
	if si.State != ck.CKS_RO_PUBLIC_SESSION || si.SlotID != slot || si.Flags&ck.CKF_RW_SESSION != 0 {
		t.Errorf("RO session info %+v", si)
	}
	si, _ = p.GetSessionInfo(rw)
	if si.State != ck.CKS_RW_PUBLIC_SESSION || si.Flags&ck.CKF_RW_SESSION == 0 {
		t.Errorf("RW session info %+v", si)
	}
	ti := tokenInfo(t, p, slot)
	if ti.SessionCount != 2 || ti.RwSessionCount != 1 {
		t.Errorf("token counts %d sessions, %d RW; want 2 and 1", ti.SessionCount, ti.RwSessionCount)
	}
	ok(t, p.CloseSession(ro), "CloseSession")
	want(t, p.CloseSession(ro), ck.CKR_SESSION_HANDLE_INVALID, "CloseSession twice")
	_, err = p.GetSessionInfo(ro)
	want(t, err, ck.CKR_SESSION_HANDLE_INVALID, "GetSessionInfo of a closed session")
	// Another application cannot use this application's session.
	q := open()
	defer q.Close()
	_, err = q.GetSessionInfo(rw)
	want(t, err, ck.CKR_SESSION_HANDLE_INVALID, "GetSessionInfo of another application's session")
	ok(t, p.CloseAllSessions(slot), "CloseAllSessions")
	_, err = p.GetSessionInfo(rw)
	want(t, err, ck.CKR_SESSION_HANDLE_INVALID, "session after CloseAllSessions")
	want(t, p.CloseAllSessions(slot+1000), ck.CKR_SLOT_ID_INVALID, "CloseAllSessions of an unknown slot")
}

func testLogin(t *testing.T, open func() ck.Provider) {
	p := open()
	defer p.Close()
	slot := token(t, p, "login", false)
	rw := rwSession(t, p, slot)
	want(t, p.Login(rw, ck.CKU_USER, UserPIN), ck.CKR_USER_PIN_NOT_INITIALIZED, "user login before InitPIN")
	want(t, p.Login(rw, 7, UserPIN), ck.CKR_USER_TYPE_INVALID, "login with user type 7")
	want(t, p.InitPIN(rw, UserPIN), ck.CKR_USER_NOT_LOGGED_IN, "InitPIN without the SO")
	ro := roSession(t, p, slot)
	want(t, p.Login(rw, ck.CKU_SO, SOPIN), ck.CKR_SESSION_READ_ONLY_EXISTS, "SO login with an RO session open")
	ok(t, p.CloseSession(ro), "CloseSession")
	want(t, p.Login(rw, ck.CKU_SO, []byte("not-the-so-pin")), ck.CKR_PIN_INCORRECT, "SO login, wrong PIN")
	ok(t, p.Login(rw, ck.CKU_SO, SOPIN), "SO login")
	want(t, p.Login(rw, ck.CKU_SO, SOPIN), ck.CKR_USER_ALREADY_LOGGED_IN, "SO login twice")
	want(t, p.Login(rw, ck.CKU_USER, UserPIN), ck.CKR_USER_ANOTHER_ALREADY_LOGGED_IN, "user login while SO")
	_, err := p.OpenSession(slot, ck.CKF_SERIAL_SESSION)
	want(t, err, ck.CKR_SESSION_READ_WRITE_SO_EXISTS, "RO session while SO logged in")
	if si, _ := p.GetSessionInfo(rw); si.State != ck.CKS_RW_SO_FUNCTIONS {
		t.Errorf("SO session state %v", si.State)
	}
	want(t, p.InitPIN(rw, []byte("12")), ck.CKR_PIN_LEN_RANGE, "InitPIN with a short PIN")
	ok(t, p.InitPIN(rw, UserPIN), "InitPIN")
	if tokenInfo(t, p, slot).Flags&ck.CKF_USER_PIN_INITIALIZED == 0 {
		t.Error("CKF_USER_PIN_INITIALIZED not set after InitPIN")
	}
	ok(t, p.Logout(rw), "Logout")
	want(t, p.Logout(rw), ck.CKR_USER_NOT_LOGGED_IN, "Logout twice")

	// The login is the application's: all its sessions with the token share it.
	rw2 := rwSession(t, p, slot)
	ro2 := roSession(t, p, slot)
	ok(t, p.Login(rw2, ck.CKU_USER, UserPIN), "user login")
	for _, s := range []ck.SessionHandle{rw, rw2} {
		if si, _ := p.GetSessionInfo(s); si.State != ck.CKS_RW_USER_FUNCTIONS {
			t.Errorf("session %v state %v after user login, want RW user functions", s, si.State)
		}
	}
	if si, _ := p.GetSessionInfo(ro2); si.State != ck.CKS_RO_USER_FUNCTIONS {
		t.Errorf("RO session state %v after user login", si.State)
	}
	// Another application is not logged in, and cannot log in as the SO while the user is in.
	q := open()
	defer q.Close()
	qs := rwSession(t, q, slot)
	if si, _ := q.GetSessionInfo(qs); si.State != ck.CKS_RW_PUBLIC_SESSION {
		t.Errorf("another application's session state %v", si.State)
	}
	want(t, q.Login(qs, ck.CKU_SO, SOPIN), ck.CKR_USER_TOO_MANY_TYPES, "SO login while another application is logged in as the user")
	ok(t, q.Login(qs, ck.CKU_USER, UserPIN), "second application's user login")
	// Closing the last session of an application logs it out.
	ok(t, p.CloseSession(rw), "CloseSession")
	ok(t, p.CloseSession(rw2), "CloseSession")
	ok(t, p.CloseSession(ro2), "CloseSession")
	s := roSession(t, p, slot)
	if si, _ := p.GetSessionInfo(s); si.State != ck.CKS_RO_PUBLIC_SESSION {
		t.Errorf("after closing every session the application is still logged in: %v", si.State)
	}
	want(t, p.Login(s, ck.CKU_CONTEXT_SPECIFIC, UserPIN), ck.CKR_USER_NOT_LOGGED_IN, "context-specific login without a user login")
	ok(t, p.Login(s, ck.CKU_USER, UserPIN), "user login")
	want(t, p.Login(s, ck.CKU_CONTEXT_SPECIFIC, UserPIN), ck.CKR_OPERATION_NOT_INITIALIZED, "context-specific login without an operation")
}

func testPINLockout(t *testing.T, open func() ck.Provider) {
	p := open()
	defer p.Close()
	slot := token(t, p, "lockout", true)
	s := rwSession(t, p, slot)
	const max = 10 // the engine's default
	for i := 1; i < max; i++ {
		want(t, p.Login(s, ck.CKU_USER, []byte("wrong-pin")), ck.CKR_PIN_INCORRECT, "wrong user PIN")
		flags := tokenInfo(t, p, slot).Flags
		if flags&ck.CKF_USER_PIN_COUNT_LOW == 0 {
			t.Fatalf("after %d failures CKF_USER_PIN_COUNT_LOW is not set (flags %#x)", i, flags)
		}
		if (i == max-1) != (flags&ck.CKF_USER_PIN_FINAL_TRY != 0) {
			t.Fatalf("after %d failures CKF_USER_PIN_FINAL_TRY is %v", i, flags&ck.CKF_USER_PIN_FINAL_TRY != 0)
		}
	}
	want(t, p.Login(s, ck.CKU_USER, []byte("wrong-pin")), ck.CKR_PIN_INCORRECT, "last wrong user PIN")
	if tokenInfo(t, p, slot).Flags&ck.CKF_USER_PIN_LOCKED == 0 {
		t.Fatal("CKF_USER_PIN_LOCKED not set after the limit")
	}
	want(t, p.Login(s, ck.CKU_USER, UserPIN), ck.CKR_PIN_LOCKED, "right user PIN after lockout")
	// The SO resets the user PIN, which unlocks it.
	ok(t, p.Login(s, ck.CKU_SO, SOPIN), "SO login")
	ok(t, p.InitPIN(s, []byte("new-user-pin")), "InitPIN")
	ok(t, p.Logout(s), "Logout")
	if tokenInfo(t, p, slot).Flags&(ck.CKF_USER_PIN_LOCKED|ck.CKF_USER_PIN_COUNT_LOW) != 0 {
		t.Fatal("user PIN still locked or counted after the SO reset it")
	}
	want(t, p.Login(s, ck.CKU_USER, UserPIN), ck.CKR_PIN_INCORRECT, "old user PIN after reset")
	ok(t, p.Login(s, ck.CKU_USER, []byte("new-user-pin")), "new user PIN")
	ok(t, p.Logout(s), "Logout")
	if tokenInfo(t, p, slot).Flags&ck.CKF_USER_PIN_COUNT_LOW != 0 {
		t.Fatal("a successful login did not reset the failure count")
	}
}

func testSetPIN(t *testing.T, open func() ck.Provider) {
	p := open()
	defer p.Close()
	slot := token(t, p, "setpin", true)
	ro := roSession(t, p, slot)
	want(t, p.SetPIN(ro, UserPIN, []byte("another-pin")), ck.CKR_SESSION_READ_ONLY, "SetPIN in an RO session")
	ok(t, p.CloseSession(ro), "CloseSession")
	rw := rwSession(t, p, slot)
	want(t, p.SetPIN(rw, []byte("wrong-old"), []byte("another-pin")), ck.CKR_PIN_INCORRECT, "SetPIN with a wrong old PIN")
	want(t, p.SetPIN(rw, UserPIN, []byte("abc")), ck.CKR_PIN_LEN_RANGE, "SetPIN to a short PIN")
	ok(t, p.SetPIN(rw, UserPIN, []byte("another-pin")), "SetPIN (user, public session)")
	want(t, p.Login(rw, ck.CKU_USER, UserPIN), ck.CKR_PIN_INCORRECT, "old PIN after SetPIN")
	ok(t, p.Login(rw, ck.CKU_USER, []byte("another-pin")), "new PIN after SetPIN")
	ok(t, p.SetPIN(rw, []byte("another-pin"), UserPIN), "SetPIN (user session)")
	ok(t, p.Logout(rw), "Logout")
	ok(t, p.Login(rw, ck.CKU_SO, SOPIN), "SO login")
	ok(t, p.SetPIN(rw, SOPIN, []byte("new-so-pin")), "SetPIN (SO)")
	ok(t, p.Logout(rw), "Logout")
	want(t, p.Login(rw, ck.CKU_SO, SOPIN), ck.CKR_PIN_INCORRECT, "old SO PIN")
	ok(t, p.Login(rw, ck.CKU_SO, []byte("new-so-pin")), "new SO PIN")
	ok(t, p.Logout(rw), "Logout")
	ok(t, p.Login(rw, ck.CKU_USER, UserPIN), "user PIN unchanged by the SO's SetPIN")
}

func testRandom(t *testing.T, open func() ck.Provider) {
	p := open()
	defer p.Close()
	slot := token(t, p, "random", false)
	s := roSession(t, p, slot)
	a, err := p.GenerateRandom(s, 32)
	ok(t, err, "GenerateRandom")
	b, _ := p.GenerateRandom(s, 32)
	if len(a) != 32 || len(b) != 32 || string(a) == string(b) {
		t.Fatalf("GenerateRandom gave %x and %x", a, b)
	}
	z, err := p.GenerateRandom(s, 0)
	ok(t, err, "GenerateRandom 0")
	if len(z) != 0 {
		t.Fatal("GenerateRandom(0) returned bytes")
	}
	_, err = p.GenerateRandom(s+12345, 8)
	want(t, err, ck.CKR_SESSION_HANDLE_INVALID, "GenerateRandom on an invalid session")
	want(t, p.SeedRandom(s, []byte{1}), ck.CKR_RANDOM_SEED_NOT_SUPPORTED, "SeedRandom")
}

func testOperations(t *testing.T, open func() ck.Provider) {
	p := open()
	defer p.Close()
	slot := token(t, p, "ops", true)
	s := userSession(t, p, slot)
	k, err := p.CreateObject(s, secretKey("k", make([]byte, 32)))
	ok(t, err, "CreateObject")
	for _, op := range []ck.Operation{ck.OpEncrypt, ck.OpDecrypt, ck.OpSign, ck.OpVerify, ck.OpDigest} {
		want(t, p.OperationInit(s, op, &ck.Mechanism{Type: 0x7fff_0000}, k), ck.CKR_MECHANISM_INVALID, "init with an unknown mechanism")
		if op != ck.OpVerify {
			_, _, err := p.OperationSingle(s, op, []byte("x"), ck.Out{})
			want(t, err, ck.CKR_OPERATION_NOT_INITIALIZED, "operation without init")
			_, _, err = p.OperationFinal(s, op, ck.Out{})
			want(t, err, ck.CKR_OPERATION_NOT_INITIALIZED, "final without init")
		}
		ok(t, p.OperationInit(s, op, nil, 0), "cancel with a NULL mechanism")
	}
	want(t, p.Verify(s, []byte("x"), []byte("y")), ck.CKR_OPERATION_NOT_INITIALIZED, "Verify without init")
	_, err = p.GenerateKey(s, &ck.Mechanism{Type: ck.CKM_AES_KEY_GEN}, nil)
	if ck.ToRV(err) == ck.CKR_OK {
		t.Fatal("GenerateKey succeeded with no template")
	}
	_, _, err = p.OperationSingle(s+999, ck.OpSign, nil, ck.Out{})
	want(t, err, ck.CKR_SESSION_HANDLE_INVALID, "operation on an invalid session")
}

func testDeleteToken(t *testing.T, open func() ck.Provider) {
	p := open()
	defer p.Close()
	slot := token(t, p, "doomed", true)
	s := userSession(t, p, slot)
	_, err := p.CreateObject(s, dataObject("kept?", "v", attr(ck.CKA_TOKEN, true)))
	ok(t, err, "CreateObject")
	want(t, p.DeleteToken(slot, SOPIN), ck.CKR_SESSION_EXISTS, "DeleteToken with a session open")
	ok(t, p.CloseSession(s), "CloseSession")
	want(t, p.DeleteToken(slot, []byte("wrong-so-pin")), ck.CKR_PIN_INCORRECT, "DeleteToken with a wrong SO PIN")
	slots, _ := p.GetSlotList(true)
	free := slots[len(slots)-1]
	want(t, p.DeleteToken(free, SOPIN), ck.CKR_TOKEN_NOT_RECOGNIZED, "DeleteToken of the free slot")
	want(t, p.DeleteToken(free+1000, SOPIN), ck.CKR_SLOT_ID_INVALID, "DeleteToken of an unknown slot")
	ok(t, p.DeleteToken(slot, SOPIN), "DeleteToken")
	_, err = p.GetTokenInfo(slot)
	want(t, err, ck.CKR_SLOT_ID_INVALID, "the deleted token's slot")
	after, _ := p.GetSlotList(true)
	if len(after) != len(slots)-1 {
		t.Fatalf("slots %v after deleting one of %v", after, slots)
	}
}
