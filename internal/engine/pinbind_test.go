package engine

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/keyward/keyward/internal/engine/enginetest"
	"github.com/keyward/keyward/internal/seal"
	"github.com/keyward/keyward/internal/seal/swtpmtest"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/vault"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// bindEnv is a store in dir with the TPM tp: engines open on it with or without PIN binding.
type bindEnv struct {
	t   *testing.T
	dir string
	tp  *swtpmtest.TPM
	ps  *seal.PINSeal
}

func newBindEnv(t *testing.T) *bindEnv {
	tp := swtpmtest.Start(t)
	tp.Tool("tpm2_dictionarylockout", "--setup-parameters", "--max-tries=8", "--recovery-time=600", "--lockout-recovery-time=600")
	return &bindEnv{t: t, dir: t.TempDir(), tp: tp, ps: seal.NewPINSeal(seal.TPM2Options{Device: tp.Device()})}
}

// open starts an engine; pinSeal false gives it no TPM at all, bind makes new PINs PIN-bound.
func (b *bindEnv) open(pinSeal, bind bool) (*Engine, ck.Provider, ck.SessionHandle, func()) {
	b.t.Helper()
	st, err := store.Open(b.dir)
	if err != nil {
		b.t.Fatal(err)
	}
	cfg := Config{KDF: vault.FastKDF, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), BindPINs: bind}
	if pinSeal {
		cfg.PINSeal = b.ps
	}
	e, err := New(st, sealRoot, cfg)
	if err != nil {
		b.t.Fatal(err)
	}
	p := e.Open(Peer{UID: 1, PID: 1})
	s, err := p.OpenSession(0, ck.CKF_SERIAL_SESSION|ck.CKF_RW_SESSION)
	if err != nil && !errors.Is(err, ck.CKR_TOKEN_NOT_RECOGNIZED) {
		b.t.Fatal(err)
	}
	return e, p, s, func() { e.Close(); st.Close() }
}

// initToken initialises slot 0 with the SO PIN and the user PIN and a private data object "secret".
func (b *bindEnv) initToken(bind bool) {
	b.t.Helper()
	_, p, _, done := b.open(true, bind)
	defer done()
	if err := p.InitToken(0, enginetest.SOPIN, enginetest.Label("bound")); err != nil {
		b.t.Fatal("init token: ", err)
	}
	s, _ := p.OpenSession(0, ck.CKF_SERIAL_SESSION|ck.CKF_RW_SESSION)
	if err := p.Login(s, ck.CKU_SO, enginetest.SOPIN); err != nil {
		b.t.Fatal("SO login: ", err)
	}
	if err := p.InitPIN(s, enginetest.UserPIN); err != nil {
		b.t.Fatal("init PIN: ", err)
	}
	p.Logout(s)
	if err := p.Login(s, ck.CKU_USER, enginetest.UserPIN); err != nil {
		b.t.Fatal("user login: ", err)
	}
	if _, err := p.CreateObject(s, []ck.Attribute{ck.NewAttribute(ck.CKA_CLASS, ck.CKO_DATA), ck.NewAttribute(ck.CKA_TOKEN, true),
		ck.NewAttribute(ck.CKA_PRIVATE, true), ck.NewAttribute(ck.CKA_LABEL, "secret"), ck.NewAttribute(ck.CKA_VALUE, "private value")}); err != nil {
		b.t.Fatal(err)
	}
}

// login logs user in with pin and, on a user's success, checks that the private object opened; then logs out.
func (b *bindEnv) login(p ck.Provider, s ck.SessionHandle, user ck.UserType, pin []byte) error {
	b.t.Helper()
	err := p.Login(s, user, pin)
	if err == nil && user == ck.CKU_USER { // the SO sees no private object
		if hs := findLabel(b.t, p, s, "secret"); len(hs) != 1 {
			b.t.Fatalf("logged in but the private object is not there (%d)", len(hs))
		}
	}
	if err == nil {
		p.Logout(s)
	}
	return err
}

// record is slot 0's token record as the engine holds it.
func record(e *Engine) tokenRecord {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.tokens[0].rec
}

// TestPINBinding: with PIN binding, the SO and user PINs are bound to the TPM; logins work across a daemon
// restart and a TPM power cycle; a wrong PIN is counted by Keyward and by the TPM (TPM_PT_LOCKOUT_COUNTER); an
// attacker with the store and the root key cannot open the token key from the right PIN without the TPM;
// C_SetPIN re-binds; and in the TPM's lockout even the right PIN is CKR_PIN_LOCKED.
func TestPINBinding(t *testing.T) {
	b := newBindEnv(t)
	b.initToken(true)
	b.tp.Restart() // a reboot: the daemon and the TPM restart

	e, p, s, done := b.open(true, true)
	rec := record(e)
	if len(rec.SO.Bound) == 0 || len(rec.User.Bound) == 0 {
		t.Fatalf("PINs set with pin_binding have no PIN-bound seal: SO %d, user %d bytes", len(rec.SO.Bound), len(rec.User.Bound))
	}
	if err := b.login(p, s, ck.CKU_USER, enginetest.UserPIN); err != nil {
		t.Fatalf("user login after a restart: %v", err)
	}
	if err := b.login(p, s, ck.CKU_SO, enginetest.SOPIN); err != nil {
		t.Fatalf("SO login after a restart: %v", err)
	}

	// A wrong PIN: Keyward counts it (durably, before the try) and so does the TPM.
	before := b.tp.LockoutCounter()
	if err := p.Login(s, ck.CKU_USER, []byte("wrong-pin")); !errors.Is(err, ck.CKR_PIN_INCORRECT) {
		t.Fatalf("wrong PIN: %v, want CKR_PIN_INCORRECT", err)
	}
	if c := b.tp.LockoutCounter(); c != before+1 {
		t.Fatalf("the TPM's lockout counter went from %d to %d after a wrong PIN, want +1", before, c)
	}
	if f := record(e).User.Failures; f != 1 {
		t.Fatalf("Keyward counted %d failures, want 1", f)
	}
	done()
	e, p, s, done = b.open(true, true)
	if f := record(e).User.Failures; f != 1 {
		t.Fatalf("after a restart Keyward remembers %d failures, want 1", f)
	}
	if err := b.login(p, s, ck.CKU_USER, enginetest.UserPIN); err != nil {
		t.Fatal(err)
	}
	if f := record(e).User.Failures; f != 0 {
		t.Fatalf("a right PIN leaves %d failures, want 0", f)
	}
	rec = record(e)
	done()

	// The offline attacker: the store, the root key and the right PIN, but no TPM.
	root, _ := vault.NewRoot(sealRoot)
	pk, err := root.DerivePIN(e.tokens[0].id, "user", enginetest.UserPIN, rec.User.Salt, rec.User.KDF)
	if err != nil {
		t.Fatal(err)
	}
	if tk, err := pk.Unwrap(rec.User.Wrapped); !errors.Is(err, vault.ErrAuth) {
		tk.Wipe()
		t.Fatal("the token key opens from Argon2id(PIN) and the root key without the TPM")
	}
	sp, _ := root.StretchPIN(e.tokens[0].id, "user", enginetest.UserPIN, rec.User.Salt, rec.User.KDF)
	other, _ := sp.BoundKey(bytes.Repeat([]byte{1}, vault.PepperSize))
	if _, err := other.Unwrap(rec.User.Wrapped); !errors.Is(err, vault.ErrAuth) {
		t.Fatal("the token key opens with a guessed pepper")
	}
	// ... and what it lacks is the pepper, which only the TPM gives (the control).
	auth := sp.Auth()
	pepper, err := b.ps.Open(rec.User.Bound, auth)
	if err != nil {
		t.Fatal(err)
	}
	right, _ := sp.BoundKey(pepper)
	tk, err := right.Unwrap(rec.User.Wrapped)
	if err != nil {
		t.Fatalf("the TPM's pepper does not open the wrap: %v", err)
	}
	tk.Wipe()
	sp.Wipe()
	if bytes.Contains(rec.User.Bound, pepper) || bytes.Contains(rec.User.Bound, auth) {
		t.Fatal("the PIN-bound blob holds the pepper or the authValue in clear")
	}

	// C_SetPIN re-binds: a new salt and blob; the old PIN is refused, the new one opens.
	e, p, s, done = b.open(true, true)
	if err := p.Login(s, ck.CKU_USER, enginetest.UserPIN); err != nil {
		t.Fatal(err)
	}
	newPIN := []byte("new-user-pin")
	if err := p.SetPIN(s, enginetest.UserPIN, newPIN); err != nil {
		t.Fatal(err)
	}
	p.Logout(s)
	after := record(e)
	if len(after.User.Bound) == 0 || bytes.Equal(after.User.Bound, rec.User.Bound) || bytes.Equal(after.User.Salt, rec.User.Salt) {
		t.Fatal("C_SetPIN did not re-bind the PIN")
	}
	if err := p.Login(s, ck.CKU_USER, enginetest.UserPIN); !errors.Is(err, ck.CKR_PIN_INCORRECT) {
		t.Fatalf("old PIN after C_SetPIN: %v", err)
	}
	if err := b.login(p, s, ck.CKU_USER, newPIN); err != nil {
		t.Fatalf("new PIN after C_SetPIN: %v", err)
	}

	// The TPM's lockout: every PIN-bound PIN waits, the right one too.
	b.tp.Tool("tpm2_dictionarylockout", "--clear-lockout")
	b.tp.Tool("tpm2_dictionarylockout", "--setup-parameters", "--max-tries=2", "--recovery-time=600", "--lockout-recovery-time=600")
	for range 2 {
		if err := p.Login(s, ck.CKU_USER, []byte("wrong-pin")); !errors.Is(err, ck.CKR_PIN_INCORRECT) {
			t.Fatalf("wrong PIN: %v", err)
		}
	}
	if err := p.Login(s, ck.CKU_USER, newPIN); !errors.Is(err, ck.CKR_PIN_LOCKED) {
		t.Fatalf("the right PIN in the TPM's lockout: %v, want CKR_PIN_LOCKED", err)
	}
	b.tp.Tool("tpm2_dictionarylockout", "--clear-lockout")
	if err := b.login(p, s, ck.CKU_USER, newPIN); err != nil {
		t.Fatalf("after the lockout is cleared: %v", err)
	}
	done()

	// Without the TPM a PIN-bound PIN cannot be checked: CKR_DEVICE_ERROR, not a wrong-PIN answer.
	_, p, s, done = b.open(false, false)
	defer done()
	if err := p.Login(s, ck.CKU_USER, newPIN); !errors.Is(err, ck.CKR_DEVICE_ERROR) {
		t.Fatalf("a PIN-bound PIN without the TPM: %v, want CKR_DEVICE_ERROR", err)
	}
}

// TestPINBindingMixed: a store made without PIN binding opens with it on (its records stay as they are until a
// PIN changes, which binds it), and a store made with it opens with it off (the TPM still opens its records;
// a PIN changed then is no longer bound).
func TestPINBindingMixed(t *testing.T) {
	b := newBindEnv(t)
	b.initToken(false)
	e, p, s, done := b.open(true, true)
	if rec := record(e); len(rec.SO.Bound) != 0 || len(rec.User.Bound) != 0 {
		t.Fatal("PINs set without pin_binding are bound")
	}
	if err := b.login(p, s, ck.CKU_USER, enginetest.UserPIN); err != nil {
		t.Fatalf("an old record with pin_binding on: %v", err)
	}
	if err := b.login(p, s, ck.CKU_SO, enginetest.SOPIN); err != nil {
		t.Fatalf("an old SO record with pin_binding on: %v", err)
	}
	if err := p.Login(s, ck.CKU_USER, enginetest.UserPIN); err != nil {
		t.Fatal(err)
	}
	if err := p.SetPIN(s, enginetest.UserPIN, enginetest.UserPIN); err != nil {
		t.Fatal(err)
	}
	p.Logout(s)
	if rec := record(e); len(rec.User.Bound) == 0 || len(rec.SO.Bound) != 0 {
		t.Fatalf("C_SetPIN with pin_binding on: user bound %v, SO bound %v; want true, false", len(rec.User.Bound) != 0, len(rec.SO.Bound) != 0)
	}
	done()

	// Now bound, opened with pin_binding off: it opens; a PIN changed now is not bound.
	e, p, s, done = b.open(true, false)
	defer done()
	if err := b.login(p, s, ck.CKU_USER, enginetest.UserPIN); err != nil {
		t.Fatalf("a PIN-bound record with pin_binding off: %v", err)
	}
	before := b.tp.LockoutCounter()
	if err := p.Login(s, ck.CKU_USER, []byte("wrong-pin")); !errors.Is(err, ck.CKR_PIN_INCORRECT) {
		t.Fatalf("wrong PIN: %v", err)
	}
	if c := b.tp.LockoutCounter(); c != before+1 {
		t.Fatalf("a bound record with pin_binding off: the TPM counted %d, want %d", c, before+1)
	}
	if err := p.Login(s, ck.CKU_USER, enginetest.UserPIN); err != nil {
		t.Fatal(err)
	}
	if err := p.SetPIN(s, enginetest.UserPIN, enginetest.UserPIN); err != nil {
		t.Fatal(err)
	}
	p.Logout(s)
	if rec := record(e); len(rec.User.Bound) != 0 {
		t.Fatal("a PIN changed with pin_binding off is still bound")
	}
	if err := b.login(p, s, ck.CKU_USER, enginetest.UserPIN); err != nil {
		t.Fatal(err)
	}
}
