package engine_test

import (
	"bytes"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/engine"
	"github.com/keyward/keyward/internal/engine/enginetest"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/vault"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// TestTokenPolicy checks per-token access and identity login: an application outside the policy does not
// see the token; a listed identity logs in with a NULL PIN (and sees CKF_PROTECTED_AUTHENTICATION_PATH);
// others still log in with the PIN; and the identity-login key exists only while the policy asks for it.
func TestTokenPolicy(t *testing.T) {
	dir := t.TempDir()
	root := bytes.Repeat([]byte{5}, 32)
	policy := []engine.TokenPolicy{{Label: "device", AllowUIDs: []uint32{1000, 1001}, AllowGIDs: []uint32{50},
		LoginUIDs: []uint32{1000}, LoginGIDs: []uint32{60}}}
	open := func(policies []engine.TokenPolicy) (*engine.Engine, func()) {
		st, err := store.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		e, err := engine.New(st, root, engine.Config{KDF: vault.FastKDF, Policies: policies,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		return e, func() { e.Close(); st.Close() }
	}
	e, done := open(policy)
	admin := e.Open(engine.Peer{UID: 1001, PID: 1})
	slots, _ := admin.GetSlotList(true)
	slot := slots[0]
	if err := admin.InitToken(slot, enginetest.SOPIN, enginetest.Label("device")); err != nil {
		t.Fatal(err)
	}
	s, _ := admin.OpenSession(slot, ck.CKF_SERIAL_SESSION|ck.CKF_RW_SESSION)
	if err := admin.Login(s, ck.CKU_SO, enginetest.SOPIN); err != nil {
		t.Fatal(err)
	}
	if err := admin.InitPIN(s, enginetest.UserPIN); err != nil {
		t.Fatal(err)
	}
	admin.Logout(s)
	if err := admin.Login(s, ck.CKU_USER, enginetest.UserPIN); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CreateObject(s, []ck.Attribute{ck.NewAttribute(ck.CKA_CLASS, ck.CKO_DATA), ck.NewAttribute(ck.CKA_TOKEN, true),
		ck.NewAttribute(ck.CKA_PRIVATE, true), ck.NewAttribute(ck.CKA_LABEL, "secret"), ck.NewAttribute(ck.CKA_VALUE, "v")}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.GetTokenInfo(slot); err != nil {
		t.Fatal(err)
	}
	admin.Close()

	// An identity outside AllowUIDs/AllowGIDs does not see the token at all.
	stranger := e.Open(engine.Peer{UID: 2000, GID: 2000, PID: 2})
	list, _ := stranger.GetSlotList(true)
	for _, sl := range list {
		if sl == slot {
			t.Fatal("a stranger sees the token")
		}
	}
	if _, err := stranger.OpenSession(slot, ck.CKF_SERIAL_SESSION); ck.ToRV(err) != ck.CKR_SLOT_ID_INVALID {
		t.Fatalf("a stranger opens a session: %v", err)
	}
	if _, err := stranger.GetTokenInfo(slot); ck.ToRV(err) != ck.CKR_SLOT_ID_INVALID {
		t.Fatalf("a stranger reads the token info: %v", err)
	}
	// Allowed by a supplementary group.
	grouped := e.Open(engine.Peer{UID: 3000, GID: 3000, Groups: []uint32{50}, PID: 3})
	if _, err := grouped.OpenSession(slot, ck.CKF_SERIAL_SESSION); err != nil {
		t.Fatalf("an identity allowed by its group: %v", err)
	}

	// uid 1000 logs in by identity; uid 1001 must use the PIN.
	check := func(p ck.Provider, wantIdentity bool) {
		t.Helper()
		ti, err := p.GetTokenInfo(slot)
		if err != nil {
			t.Fatal(err)
		}
		if (ti.Flags&ck.CKF_PROTECTED_AUTHENTICATION_PATH != 0) != wantIdentity {
			t.Fatalf("CKF_PROTECTED_AUTHENTICATION_PATH = %v, want %v", !wantIdentity, wantIdentity)
		}
		s, _ := p.OpenSession(slot, ck.CKF_SERIAL_SESSION)
		err = p.Login(s, ck.CKU_USER, nil)
		if wantIdentity {
			if err != nil {
				t.Fatalf("identity login: %v", err)
			}
			if err := p.FindObjectsInit(s, []ck.Attribute{ck.NewAttribute(ck.CKA_LABEL, "secret")}); err != nil {
				t.Fatal(err)
			}
			hs, _ := p.FindObjects(s, 10)
			p.FindObjectsFinal(s)
			if len(hs) != 1 {
				t.Fatalf("after identity login the private object is not visible: %v", hs)
			}
			if err := p.Login(s, ck.CKU_SO, enginetest.SOPIN); ck.ToRV(err) != ck.CKR_USER_ANOTHER_ALREADY_LOGGED_IN {
				t.Fatalf("SO login after identity login: %v", err)
			}
		} else if ck.ToRV(err) != ck.CKR_ARGUMENTS_BAD {
			t.Fatalf("NULL-PIN login of an identity the policy does not name: %v", err)
		}
	}
	check(e.Open(engine.Peer{UID: 1000, PID: 4}), true)
	check(e.Open(engine.Peer{UID: 1001, PID: 5}), false)
	check(e.Open(engine.Peer{UID: 1001, GID: 60, PID: 6}), true) // by the login group
	done()

	// After a restart, identity login works without anyone having typed a PIN.
	e, done = open(policy)
	check(e.Open(engine.Peer{UID: 1000, PID: 7}), true)
	done()

	// Without the policy, the identity-login wrap is dropped: the root key alone no longer opens the token.
	e, done = open(nil)
	p := e.Open(engine.Peer{UID: 1000, PID: 8})
	check(p, false)
	done()
	e, done = open(policy)
	q := e.Open(engine.Peer{UID: 1000, PID: 9})
	qs, _ := q.OpenSession(slot, ck.CKF_SERIAL_SESSION)
	if err := q.Login(qs, ck.CKU_USER, nil); ck.ToRV(err) != ck.CKR_USER_PIN_NOT_INITIALIZED {
		t.Fatalf("identity login after the policy came back, before any PIN login: %v", err)
	}
	if err := q.Login(qs, ck.CKU_USER, enginetest.UserPIN); err != nil {
		t.Fatal(err)
	}
	q.Logout(qs)
	if err := q.Login(qs, ck.CKU_USER, nil); err != nil {
		t.Fatalf("identity login after a PIN login re-enabled it: %v", err)
	}
	done()
}

// TestHiddenTokenSlotCalls checks that every call naming a slot answers CKR_SLOT_ID_INVALID for a token the
// policy hides, C_InitToken above all: a stranger can neither learn that the token exists nor guess, lock or
// use its SO PIN, even the right one. A policy naming the token by serial keeps holding after the token is
// initialised again under another label.
func TestHiddenTokenSlotCalls(t *testing.T) {
	for _, byLabel := range []bool{true, false} {
		dir := t.TempDir()
		st, err := store.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		e, err := engine.New(st, bytes.Repeat([]byte{5}, 32), engine.Config{KDF: vault.FastKDF, MaxPINFailures: 3,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		admin := e.Open(engine.Peer{UID: 1001, PID: 1})
		slots, _ := admin.GetSlotList(true)
		slot := slots[0]
		if err := admin.InitToken(slot, enginetest.SOPIN, enginetest.Label("hidden")); err != nil {
			t.Fatal(err)
		}
		ti, _ := admin.GetTokenInfo(slot)
		admin.Close()
		e.Close()
		st.Close()

		policy := engine.TokenPolicy{Label: "hidden", AllowUIDs: []uint32{1001}}
		if !byLabel {
			policy = engine.TokenPolicy{Serial: ti.SerialNumber, AllowUIDs: []uint32{1001}}
		}
		if st, err = store.Open(dir); err != nil {
			t.Fatal(err)
		}
		e, err = engine.New(st, bytes.Repeat([]byte{5}, 32), engine.Config{KDF: vault.FastKDF, MaxPINFailures: 3,
			Policies: []engine.TokenPolicy{policy}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		stranger := e.Open(engine.Peer{UID: 2000, GID: 2000, PID: 2})
		hidden := func(what string, err error) {
			t.Helper()
			if ck.ToRV(err) != ck.CKR_SLOT_ID_INVALID {
				t.Fatalf("by label %v: %s on a hidden token: %v, want CKR_SLOT_ID_INVALID", byLabel, what, ck.ToRV(err))
			}
		}
		_, err = stranger.GetSlotInfo(slot)
		hidden("C_GetSlotInfo", err)
		_, err = stranger.GetTokenInfo(slot)
		hidden("C_GetTokenInfo", err)
		_, err = stranger.GetMechanismList(slot)
		hidden("C_GetMechanismList", err)
		_, err = stranger.GetMechanismInfo(slot, ck.CKM_AES_KEY_GEN)
		hidden("C_GetMechanismInfo", err)
		_, err = stranger.OpenSession(slot, ck.CKF_SERIAL_SESSION)
		hidden("C_OpenSession", err)
		hidden("C_CloseAllSessions", stranger.CloseAllSessions(slot))
		for i := 0; i < 5; i++ { // more than MaxPINFailures wrong guesses
			hidden("C_InitToken with a wrong SO PIN", stranger.InitToken(slot, []byte("guess-000"+string(rune('0'+i))), enginetest.Label("mine")))
		}
		hidden("C_InitToken with the SO PIN", stranger.InitToken(slot, enginetest.SOPIN, enginetest.Label("mine")))
		hidden("DeleteToken", stranger.DeleteToken(slot, enginetest.SOPIN))
		if got, err := stranger.WaitForSlotEvent(ck.CKF_DONT_BLOCK); err == nil && got == slot {
			t.Fatal("C_WaitForSlotEvent reports a hidden token's slot")
		}

		// The owner's SO PIN is neither counted nor locked, and the token is unchanged.
		owner := e.Open(engine.Peer{UID: 1001, PID: 3})
		info, err := owner.GetTokenInfo(slot)
		if err != nil {
			t.Fatal(err)
		}
		if info.Flags&(ck.CKF_SO_PIN_COUNT_LOW|ck.CKF_SO_PIN_LOCKED|ck.CKF_SO_PIN_FINAL_TRY) != 0 || strings.TrimRight(info.Label, " ") != "hidden" {
			t.Fatalf("by label %v: the stranger's attempts reached the token: flags %#x label %q", byLabel, info.Flags, info.Label)
		}
		// Re-initialised under another label by its owner, it keeps its serial number: a serial policy still hides it.
		if err := owner.InitToken(slot, enginetest.SOPIN, enginetest.Label("renamed")); err != nil {
			t.Fatal(err)
		}
		after, _ := owner.GetTokenInfo(slot)
		if after.SerialNumber != ti.SerialNumber {
			t.Fatalf("re-initialisation changed the serial number %q -> %q", ti.SerialNumber, after.SerialNumber)
		}
		_, err = stranger.GetTokenInfo(slot)
		if !byLabel {
			hidden("C_GetTokenInfo after the token was renamed (policy by serial)", err)
		}
		e.Close()
		st.Close()
	}
}
