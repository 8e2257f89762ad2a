package engine

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/keyward/keyward/internal/engine/enginetest"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/vault"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// pinEnv is an engine whose PINs lock after three failures, with its audit log.
type pinEnv struct {
	dir   string
	e     *Engine
	st    *store.Store
	audit *bytes.Buffer
	p     ck.Provider
	slot  ck.SlotID
}

func openPINEnv(t *testing.T, dir string) *pinEnv {
	t.Helper()
	st, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	env := &pinEnv{dir: dir, st: st, audit: &bytes.Buffer{}}
	env.e, err = New(st, sealRoot, Config{KDF: vault.FastKDF, MaxPINFailures: 3,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Audit: slog.New(slog.NewJSONHandler(env.audit, nil))})
	if err != nil {
		t.Fatal(err)
	}
	env.p = env.e.Open(Peer{UID: 1, PID: 1})
	slots, _ := env.p.GetSlotList(true)
	env.slot = slots[0]
	t.Cleanup(env.close)
	return env
}

func (env *pinEnv) close() {
	if env.e != nil {
		env.e.Close()
		env.st.Close()
		env.e = nil
	}
}

func (env *pinEnv) session(t *testing.T) ck.SessionHandle {
	t.Helper()
	s, err := env.p.OpenSession(env.slot, ck.CKF_SERIAL_SESSION|ck.CKF_RW_SESSION)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// failures checks the failure counts of the user and SO PINs.
func (env *pinEnv) failures(t *testing.T, what string, user, so int) {
	t.Helper()
	rec := record(env.e)
	if rec.User.Failures != user || rec.SO.Failures != so {
		t.Fatalf("after %s: user PIN failures %d, SO PIN failures %d; want %d and %d", what, rec.User.Failures, rec.SO.Failures, user, so)
	}
}

func wantRV(t *testing.T, err error, rv ck.RV, what string) {
	t.Helper()
	if ck.ToRV(err) != rv {
		t.Fatalf("%s: %v, want %v", what, ck.ToRV(err), rv)
	}
}

// auditCount is the number of audit events named msg.
func (env *pinEnv) auditCount(t *testing.T, msg string) int {
	t.Helper()
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(env.audit.String()), "\n") {
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("audit line is not JSON: %q", line)
		}
		if ev["msg"] == msg {
			n++
		}
	}
	return n
}

// TestUserPINAttempts counts the user PIN's attempts through C_Login and C_SetPIN, which share attemptPIN: a
// wrong PIN counts once in each, durably; a PIN outside the lengths is refused without counting; a right PIN
// resets the count in each; after the limit both answer CKR_PIN_LOCKED to the right PIN and count nothing.
func TestUserPINAttempts(t *testing.T) {
	dir := t.TempDir()
	env := openPINEnv(t, dir)
	if err := env.p.InitToken(env.slot, enginetest.SOPIN, enginetest.Label("pins")); err != nil {
		t.Fatal(err)
	}
	s := env.session(t)
	if err := env.p.Login(s, ck.CKU_SO, enginetest.SOPIN); err != nil {
		t.Fatal(err)
	}
	if err := env.p.InitPIN(s, enginetest.UserPIN); err != nil {
		t.Fatal(err)
	}
	if err := env.p.Logout(s); err != nil {
		t.Fatal(err)
	}
	wrong, short, newPIN := []byte("wrong-pin"), []byte("123"), []byte("user-pin-0002")

	wantRV(t, env.p.Login(s, ck.CKU_USER, wrong), ck.CKR_PIN_INCORRECT, "C_Login, wrong PIN")
	env.failures(t, "a wrong C_Login", 1, 0)
	wantRV(t, env.p.SetPIN(s, wrong, newPIN), ck.CKR_PIN_INCORRECT, "C_SetPIN, wrong old PIN")
	env.failures(t, "a wrong C_SetPIN", 2, 0)
	wantRV(t, env.p.Login(s, ck.CKU_USER, short), ck.CKR_PIN_INCORRECT, "C_Login, PIN too short")
	wantRV(t, env.p.SetPIN(s, short, newPIN), ck.CKR_PIN_INCORRECT, "C_SetPIN, old PIN too short")
	env.failures(t, "PINs outside the lengths", 2, 0)
	if n, m := env.auditCount(t, "login failed"), env.auditCount(t, "PIN change failed"); n != 1 || m != 1 {
		t.Errorf("audit: %d failed logins and %d failed PIN changes, want one of each", n, m)
	}

	// The count is durable: a restarted daemon sees it.
	env.close()
	env = openPINEnv(t, dir)
	s = env.session(t)
	env.failures(t, "a restart", 2, 0)

	if err := env.p.Login(s, ck.CKU_USER, enginetest.UserPIN); err != nil {
		t.Fatal(err)
	}
	env.failures(t, "a right C_Login", 0, 0)
	if err := env.p.Logout(s); err != nil {
		t.Fatal(err)
	}
	wantRV(t, env.p.SetPIN(s, wrong, newPIN), ck.CKR_PIN_INCORRECT, "C_SetPIN, wrong old PIN")
	env.failures(t, "a wrong C_SetPIN", 1, 0)
	if err := env.p.SetPIN(s, enginetest.UserPIN, newPIN); err != nil {
		t.Fatal(err)
	}
	env.failures(t, "a right C_SetPIN", 0, 0)

	// Lockout, reached through both.
	wantRV(t, env.p.Login(s, ck.CKU_USER, wrong), ck.CKR_PIN_INCORRECT, "C_Login, wrong PIN")
	wantRV(t, env.p.SetPIN(s, wrong, enginetest.UserPIN), ck.CKR_PIN_INCORRECT, "C_SetPIN, wrong old PIN")
	wantRV(t, env.p.Login(s, ck.CKU_USER, wrong), ck.CKR_PIN_INCORRECT, "C_Login, third wrong PIN")
	env.failures(t, "three wrong PINs", 3, 0)
	wantRV(t, env.p.Login(s, ck.CKU_USER, newPIN), ck.CKR_PIN_LOCKED, "C_Login, right PIN, locked")
	wantRV(t, env.p.SetPIN(s, newPIN, enginetest.UserPIN), ck.CKR_PIN_LOCKED, "C_SetPIN, right old PIN, locked")
	wantRV(t, env.p.Login(s, ck.CKU_USER, wrong), ck.CKR_PIN_LOCKED, "C_Login, wrong PIN, locked")
	env.failures(t, "attempts on a locked PIN", 3, 0)
	if info, _ := env.p.GetTokenInfo(env.slot); info.Flags&ck.CKF_USER_PIN_LOCKED == 0 {
		t.Error("CKF_USER_PIN_LOCKED is not set")
	}
}

// TestSOPINAttempts counts the SO PIN's attempts through C_Login, C_InitToken (re-initialising) and
// DeleteToken, which share attemptPIN: each wrong one counts once, a right one resets, and after the limit
// each answers CKR_PIN_LOCKED to the right PIN.
func TestSOPINAttempts(t *testing.T) {
	env := openPINEnv(t, t.TempDir())
	label := enginetest.Label("so-pins")
	if err := env.p.InitToken(env.slot, enginetest.SOPIN, label); err != nil {
		t.Fatal(err)
	}
	wrong := []byte("wrong-so-pin")
	login := func(pin []byte) error {
		s := env.session(t)
		defer env.p.CloseSession(s)
		return env.p.Login(s, ck.CKU_SO, pin)
	}
	wantRV(t, login(wrong), ck.CKR_PIN_INCORRECT, "C_Login SO, wrong PIN")
	env.failures(t, "a wrong SO login", 0, 1)
	wantRV(t, env.p.InitToken(env.slot, wrong, label), ck.CKR_PIN_INCORRECT, "C_InitToken, wrong SO PIN")
	env.failures(t, "a wrong C_InitToken", 0, 2)
	if err := login(enginetest.SOPIN); err != nil {
		t.Fatal(err)
	}
	env.failures(t, "a right SO login", 0, 0)
	wantRV(t, env.p.DeleteToken(env.slot, wrong), ck.CKR_PIN_INCORRECT, "DeleteToken, wrong SO PIN")
	env.failures(t, "a wrong DeleteToken", 0, 1)
	if err := env.p.InitToken(env.slot, enginetest.SOPIN, label); err != nil {
		t.Fatal(err)
	}
	env.failures(t, "a right C_InitToken", 0, 0)

	wantRV(t, env.p.DeleteToken(env.slot, wrong), ck.CKR_PIN_INCORRECT, "DeleteToken, wrong SO PIN")
	wantRV(t, env.p.InitToken(env.slot, wrong, label), ck.CKR_PIN_INCORRECT, "C_InitToken, wrong SO PIN")
	wantRV(t, login(wrong), ck.CKR_PIN_INCORRECT, "C_Login SO, wrong PIN")
	env.failures(t, "three wrong SO PINs", 0, 3)
	wantRV(t, login(enginetest.SOPIN), ck.CKR_PIN_LOCKED, "C_Login SO, right PIN, locked")
	wantRV(t, env.p.InitToken(env.slot, enginetest.SOPIN, label), ck.CKR_PIN_LOCKED, "C_InitToken, right SO PIN, locked")
	wantRV(t, env.p.DeleteToken(env.slot, enginetest.SOPIN), ck.CKR_PIN_LOCKED, "DeleteToken, right SO PIN, locked")
	env.failures(t, "attempts on a locked SO PIN", 0, 3)
	for _, ev := range []string{"login failed", "token initialisation failed", "token deletion failed"} {
		if n := env.auditCount(t, ev); n != 2 {
			t.Errorf("audit: %d %q events, want 2", n, ev)
		}
	}
}
