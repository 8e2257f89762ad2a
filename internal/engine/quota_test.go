package engine_test

import (
	"testing"

	"github.com/keyward/keyward/internal/engine"
	"github.com/keyward/keyward/internal/engine/enginetest"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// TestUIDSessionQuota checks that many applications of one uid share one budget of session objects (16
// applications in one process held 960 MiB under the per-application limit alone), that growing an object
// with C_SetAttributeValue is counted too, and that another uid keeps its own budget.
func TestUIDSessionQuota(t *testing.T) {
	e := newEngineWith(t, engine.Config{MaxSessionBytes: 8000, MaxUIDSessionBytes: 10000})
	first := e.Open(engine.Peer{UID: 7, PID: 1})
	slots, _ := first.GetSlotList(true)
	slot := slots[0]
	if err := first.InitToken(slot, enginetest.SOPIN, enginetest.Label("uid-quota")); err != nil {
		t.Fatal(err)
	}
	data := func(n int) []ck.Attribute {
		return []ck.Attribute{ck.NewAttribute(ck.CKA_CLASS, ck.CKO_DATA), ck.NewAttribute(ck.CKA_VALUE, make([]byte, n))}
	}
	var made int
	for i := 0; i < 4; i++ { // four applications of uid 7, each well within its own 8000 bytes
		p := e.Open(engine.Peer{UID: 7, PID: int32(10 + i)})
		s, err := p.OpenSession(slot, ck.CKF_SERIAL_SESSION)
		if err != nil {
			t.Fatal(err)
		}
		_, err = p.CreateObject(s, data(3000))
		if err == nil {
			made++
			continue
		}
		if ck.ToRV(err) != ck.CKR_DEVICE_MEMORY {
			t.Fatalf("session object beyond the uid's budget: %v, want CKR_DEVICE_MEMORY", err)
		}
	}
	if made != 3 {
		t.Fatalf("uid 7 made %d objects of 3000 bytes under a 10000-byte budget, want 3", made)
	}
	// Growing an object counts as well.
	s, _ := first.OpenSession(slot, ck.CKF_SERIAL_SESSION)
	h, err := first.CreateObject(s, data(10))
	if err != nil {
		t.Fatalf("a small session object within the uid's budget: %v", err)
	}
	if err := first.SetAttributeValue(s, h, []ck.Attribute{ck.NewAttribute(ck.CKA_VALUE, make([]byte, 5000))}); ck.ToRV(err) != ck.CKR_DEVICE_MEMORY {
		t.Fatalf("growing a session object beyond the budget: %v, want CKR_DEVICE_MEMORY", err)
	}
	other := e.Open(engine.Peer{UID: 8, PID: 99})
	os, err := other.OpenSession(slot, ck.CKF_SERIAL_SESSION)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.CreateObject(os, data(3000)); err != nil {
		t.Fatalf("another uid's session object: %v", err)
	}
}

// TestTokenQuota checks that public token objects, which need no login, are bounded per token in number and
// in bytes; that destroying gives the budget back; and that the count survives a restart.
func TestTokenQuota(t *testing.T) {
	dir := t.TempDir()
	cfg := engine.Config{MaxTokenObjects: 3, MaxTokenBytes: 1 << 20}
	e := newEngineAt(t, dir, cfg)
	p := e.Open(engine.Peer{UID: 1, PID: 1})
	slots, _ := p.GetSlotList(true)
	slot := slots[0]
	if err := p.InitToken(slot, enginetest.SOPIN, enginetest.Label("token-quota")); err != nil {
		t.Fatal(err)
	}
	s, _ := p.OpenSession(slot, ck.CKF_SERIAL_SESSION|ck.CKF_RW_SESSION)
	obj := func(n int) []ck.Attribute {
		return []ck.Attribute{ck.NewAttribute(ck.CKA_CLASS, ck.CKO_DATA), ck.NewAttribute(ck.CKA_TOKEN, true), ck.NewAttribute(ck.CKA_VALUE, make([]byte, n))}
	}
	var hs []ck.ObjectHandle
	for i := 0; i < 3; i++ {
		h, err := p.CreateObject(s, obj(100))
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
	}
	if _, err := p.CreateObject(s, obj(100)); ck.ToRV(err) != ck.CKR_DEVICE_MEMORY {
		t.Fatalf("a token object beyond the count: %v, want CKR_DEVICE_MEMORY", err)
	}
	if _, err := p.CopyObject(s, hs[0], nil); ck.ToRV(err) != ck.CKR_DEVICE_MEMORY {
		t.Fatalf("a token copy beyond the count: %v, want CKR_DEVICE_MEMORY", err)
	}
	if err := p.SetAttributeValue(s, hs[0], []ck.Attribute{ck.NewAttribute(ck.CKA_VALUE, make([]byte, 2<<20))}); ck.ToRV(err) != ck.CKR_DEVICE_MEMORY {
		t.Fatalf("growing a token object beyond the bytes: %v, want CKR_DEVICE_MEMORY", err)
	}
	// A session object is not a token object.
	if _, err := p.CreateObject(s, obj(100)[:1]); err != nil {
		t.Fatalf("a session object with the token full: %v", err)
	}
	if err := p.DestroyObject(s, hs[2]); err != nil {
		t.Fatal(err)
	}
	if _, err := p.CreateObject(s, obj(100)); err != nil {
		t.Fatalf("after a destroy: %v", err)
	}
	p.Close()
	closeEngineAt(t, dir)

	// After a restart the stored objects still count.
	e = newEngineAt(t, dir, cfg)
	p = e.Open(engine.Peer{UID: 1, PID: 2})
	s, _ = p.OpenSession(slot, ck.CKF_SERIAL_SESSION|ck.CKF_RW_SESSION)
	if _, err := p.CreateObject(s, obj(100)); ck.ToRV(err) != ck.CKR_DEVICE_MEMORY {
		t.Fatalf("after a restart, a token object beyond the count: %v, want CKR_DEVICE_MEMORY", err)
	}
	// The bytes bound on its own.
	e2 := newEngineWith(t, engine.Config{MaxTokenBytes: 4096})
	q := e2.Open(engine.Peer{UID: 1, PID: 3})
	qslots, _ := q.GetSlotList(true)
	if err := q.InitToken(qslots[0], enginetest.SOPIN, enginetest.Label("bytes")); err != nil {
		t.Fatal(err)
	}
	qs, _ := q.OpenSession(qslots[0], ck.CKF_SERIAL_SESSION|ck.CKF_RW_SESSION)
	if _, err := q.CreateObject(qs, obj(3000)); err != nil {
		t.Fatal(err)
	}
	if _, err := q.CreateObject(qs, obj(3000)); ck.ToRV(err) != ck.CKR_DEVICE_MEMORY {
		t.Fatalf("token objects beyond the bytes: %v, want CKR_DEVICE_MEMORY", err)
	}
}
