package engine_test

import (
	"bytes"
	"encoding/json"
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

func newEngineWith(t *testing.T, cfg engine.Config) *engine.Engine {
	t.Helper()
	return newEngineAt(t, t.TempDir(), cfg)
}

// engineClosers closes the engines newEngineAt opened, by store directory (closeEngineAt).
var engineClosers = map[string]func(){}

// newEngineAt opens an engine on the store in dir, closed at the test's end or by closeEngineAt.
func newEngineAt(t *testing.T, dir string, cfg engine.Config) *engine.Engine {
	t.Helper()
	st, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg.KDF = vault.FastKDF
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	e, err := engine.New(st, bytes.Repeat([]byte{3}, 32), cfg)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	closer := func() {
		if !closed {
			closed = true
			e.Close()
			st.Close()
		}
	}
	engineClosers[dir] = closer
	t.Cleanup(closer)
	return e
}

func closeEngineAt(t *testing.T, dir string) {
	t.Helper()
	engineClosers[dir]()
	delete(engineClosers, dir)
}

// TestPerApplicationLimits checks that one application's sessions and session objects are bounded, and that
// reaching the bounds leaves other applications alone.
func TestPerApplicationLimits(t *testing.T) {
	e := newEngineWith(t, engine.Config{MaxSessions: 3, MaxSessionBytes: 4096})
	p := e.Open(engine.Peer{UID: 1, PID: 1})
	slots, _ := p.GetSlotList(true)
	if err := p.InitToken(slots[0], enginetest.SOPIN, enginetest.Label("limits")); err != nil {
		t.Fatal(err)
	}
	var last ck.SessionHandle
	for i := 0; i < 3; i++ {
		s, err := p.OpenSession(slots[0], ck.CKF_SERIAL_SESSION)
		if err != nil {
			t.Fatal(err)
		}
		last = s
	}
	if _, err := p.OpenSession(slots[0], ck.CKF_SERIAL_SESSION); ck.ToRV(err) != ck.CKR_SESSION_COUNT {
		t.Fatalf("fourth session: %v, want CKR_SESSION_COUNT", err)
	}
	big := ck.NewAttribute(ck.CKA_VALUE, make([]byte, 3000))
	data := func(label string) []ck.Attribute {
		return []ck.Attribute{ck.NewAttribute(ck.CKA_CLASS, ck.CKO_DATA), ck.NewAttribute(ck.CKA_LABEL, label), big}
	}
	h, err := p.CreateObject(last, data("one"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.CreateObject(last, data("two")); ck.ToRV(err) != ck.CKR_DEVICE_MEMORY {
		t.Fatalf("session objects beyond the limit: %v, want CKR_DEVICE_MEMORY", err)
	}
	// Another application is not affected by the first one's use.
	q := e.Open(engine.Peer{UID: 2, PID: 2})
	qs, err := q.OpenSession(slots[0], ck.CKF_SERIAL_SESSION)
	if err != nil {
		t.Fatalf("another application's session: %v", err)
	}
	if _, err := q.CreateObject(qs, data("theirs")); err != nil {
		t.Fatalf("another application's session object: %v", err)
	}
	// Destroying gives the budget back.
	if err := p.DestroyObject(last, h); err != nil {
		t.Fatal(err)
	}
	if _, err := p.CreateObject(last, data("again")); err != nil {
		t.Fatalf("after destroying, a new object: %v", err)
	}
}

// TestAuditLog checks that logins, failures, token initialisation and key use are audited with the
// application's identity, and that no PIN and no key value reaches the log.
func TestAuditLog(t *testing.T) {
	var buf bytes.Buffer
	e := newEngineWith(t, engine.Config{Audit: slog.New(slog.NewJSONHandler(&buf, nil))})
	p := e.Open(engine.Peer{UID: 1234, GID: 99, PID: 4321, Exe: "/usr/bin/app"})
	slots, _ := p.GetSlotList(true)
	if err := p.InitToken(slots[0], enginetest.SOPIN, enginetest.Label("audit")); err != nil {
		t.Fatal(err)
	}
	s, _ := p.OpenSession(slots[0], ck.CKF_SERIAL_SESSION|ck.CKF_RW_SESSION)
	p.Login(s, ck.CKU_SO, []byte("wrong-so-pin"))
	if err := p.Login(s, ck.CKU_SO, enginetest.SOPIN); err != nil {
		t.Fatal(err)
	}
	if err := p.InitPIN(s, enginetest.UserPIN); err != nil {
		t.Fatal(err)
	}
	p.Logout(s)
	if err := p.Login(s, ck.CKU_USER, enginetest.UserPIN); err != nil {
		t.Fatal(err)
	}
	secret := bytes.Repeat([]byte{0xA5}, 32)
	k, err := p.CreateObject(s, []ck.Attribute{ck.NewAttribute(ck.CKA_CLASS, ck.CKO_SECRET_KEY),
		ck.NewAttribute(ck.CKA_KEY_TYPE, ck.CKK_GENERIC_SECRET), ck.NewAttribute(ck.CKA_VALUE, secret),
		ck.NewAttribute(ck.CKA_LABEL, "mac key")})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.OperationInit(s, ck.OpSign, &ck.Mechanism{Type: ck.CKM_SHA256_HMAC}, k); err != nil {
		t.Fatal(err)
	}
	if err := p.DestroyObject(s, k); err != nil {
		t.Fatal(err)
	}
	events := map[string]map[string]any{}
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("audit line is not JSON: %q", line)
		}
		events[ev["msg"].(string)] = ev
	}
	for _, want := range []string{"token initialised", "login failed", "login", "user PIN initialised", "create object", "key use", "destroy object"} {
		ev, ok := events[want]
		if !ok {
			t.Errorf("no %q event in the audit log", want)
			continue
		}
		if ev["uid"] != float64(1234) || ev["pid"] != float64(4321) || ev["exe"] != "/usr/bin/app" {
			t.Errorf("%q event without the application's identity: %v", want, ev)
		}
	}
	if ev := events["key use"]; ev != nil && (ev["mechanism"] != "CKM_SHA256_HMAC" || ev["label"] != "mac key") {
		t.Errorf("key use event: %v", ev)
	}
	log := buf.String()
	for _, secretText := range []string{string(enginetest.SOPIN), string(enginetest.UserPIN), "wrong-so-pin", string(secret), "a5a5a5a5"} {
		if strings.Contains(strings.ToLower(log), strings.ToLower(secretText)) {
			t.Errorf("the audit log contains a secret (%q)", secretText)
		}
	}
}
