package engine_test

import (
	"bytes"
	"io"
	"log/slog"
	"testing"

	"github.com/keyward/keyward/internal/engine"
	"github.com/keyward/keyward/internal/engine/enginetest"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/vault"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// TestPINRecordKeepsItsKDF writes the PINs of a token with the 64 MiB Argon2id setting, reopens the store with
// the 16 MiB default of a small machine, and logs in: each PIN record carries the setting it was made with, so
// the store keeps working after the default drops; a PIN set afterwards uses the new setting (and still opens
// once the default changes again).
func TestPINRecordKeepsItsKDF(t *testing.T) {
	dir := t.TempDir()
	open := func(kdf vault.KDFParams) (*engine.Engine, func()) {
		st, err := store.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		e, err := engine.New(st, bytes.Repeat([]byte{5}, 32), engine.Config{KDF: kdf,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		return e, func() { e.Close(); st.Close() }
	}
	type session struct {
		Provider ck.Provider
		Session  ck.SessionHandle
	}
	pid := int32(100)
	login := func(e *engine.Engine, u ck.UserType, pin []byte) session {
		t.Helper()
		pid++ // an application of its own per login
		p := e.Open(engine.Peer{UID: 1, PID: pid})
		slots, _ := p.GetSlotList(true)
		s, err := p.OpenSession(slots[0], ck.CKF_SERIAL_SESSION|ck.CKF_RW_SESSION)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Login(s, u, pin); err != nil {
			t.Fatalf("login %v with a record of an earlier KDF setting: %v", u, err)
		}
		return session{Provider: p, Session: s}
	}

	e, done := open(vault.KDFForMemory(64))
	p := e.Open(engine.Peer{UID: 1, PID: 1})
	slots, _ := p.GetSlotList(true)
	if err := p.InitToken(slots[0], enginetest.SOPIN, enginetest.Label("kdf")); err != nil {
		t.Fatal(err)
	}
	so := login(e, ck.CKU_SO, enginetest.SOPIN)
	if err := so.Provider.InitPIN(so.Session, enginetest.UserPIN); err != nil {
		t.Fatal(err)
	}
	so.Provider.Logout(so.Session)
	done()

	e, done = open(vault.KDFForMemory(16))
	so = login(e, ck.CKU_SO, enginetest.SOPIN)
	so.Provider.Logout(so.Session)
	u := login(e, ck.CKU_USER, enginetest.UserPIN)
	newPIN := []byte("changed-4321")
	if err := u.Provider.SetPIN(u.Session, enginetest.UserPIN, newPIN); err != nil {
		t.Fatal(err)
	}
	done()

	e, done = open(vault.KDFForMemory(64))
	defer done()
	login(e, ck.CKU_USER, newPIN)
}
