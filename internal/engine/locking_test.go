package engine

import (
	"bytes"
	"crypto/sha256"
	"testing"

	"github.com/keyward/keyward/internal/engine/enginetest"
	"github.com/keyward/keyward/internal/wire"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// lockEnv is a token with the user logged in, for the tests of what a call's commit makes of a change made
// between its check and its computation (locking.go).
type lockEnv struct {
	e *Engine
	p ck.Provider
	s ck.SessionHandle
}

func newLockEnv(t *testing.T) lockEnv {
	t.Helper()
	e, done := openSealEngine(t, t.TempDir())
	t.Cleanup(done)
	p, _, s := soSessionOnNewToken(t, e, "locking")
	if err := p.Logout(s); err != nil {
		t.Fatal(err)
	}
	if err := p.Login(s, ck.CKU_USER, enginetest.UserPIN); err != nil {
		t.Fatal(err)
	}
	return lockEnv{e: e, p: p, s: s}
}

// aes makes an AES key with a known value.
func (env lockEnv) aes(t *testing.T, label string, value []byte, extra ...ck.Attribute) ck.ObjectHandle {
	t.Helper()
	tmpl := append([]ck.Attribute{
		ck.NewAttribute(ck.CKA_CLASS, ck.CKO_SECRET_KEY), ck.NewAttribute(ck.CKA_KEY_TYPE, ck.CKK_AES),
		ck.NewAttribute(ck.CKA_LABEL, label), ck.NewAttribute(ck.CKA_VALUE, value),
	}, extra...)
	h, err := env.p.CreateObject(env.s, tmpl)
	if err != nil {
		t.Fatalf("creating %s: %v", label, err)
	}
	return h
}

// between runs change once, between the check and the computation of the next call named call.
func (env lockEnv) between(t *testing.T, call string, change func()) {
	t.Helper()
	ran := false
	env.e.checkedHook = func(c string) {
		if c == call && !ran {
			ran = true
			change()
		}
	}
	t.Cleanup(func() {
		env.e.checkedHook = nil
		if !ran {
			t.Errorf("the change planned between the check and the computation of %q did not run", call)
		}
	})
}

// settled checks that no computation holds a key and no wipe is pending.
func (env lockEnv) settled(t *testing.T) {
	t.Helper()
	env.e.mu.Lock()
	defer env.e.mu.Unlock()
	if len(env.e.held) != 0 || len(env.e.heldWipes) != 0 {
		t.Errorf("after the call %d keys are still held and %d wipes pending", len(env.e.held), len(env.e.heldWipes))
	}
}

func (env lockEnv) count(t *testing.T, label string) int {
	t.Helper()
	if err := env.p.FindObjectsInit(env.s, []ck.Attribute{ck.NewAttribute(ck.CKA_LABEL, label)}); err != nil {
		t.Fatal(err)
	}
	found, err := env.p.FindObjects(env.s, 100)
	if err != nil {
		t.Fatal(err)
	}
	if err := env.p.FindObjectsFinal(env.s); err != nil {
		t.Fatal(err)
	}
	return len(found)
}

var (
	kw         = &ck.Mechanism{Type: ck.CKM_AES_KEY_WRAP}
	wrapKeyVal = bytes.Repeat([]byte{0x11}, 32)
	plainVal   = bytes.Repeat([]byte{0x22}, 16)
)

// plainKey is a non-sensitive extractable key, which any wrapping key may wrap.
func (env lockEnv) plainKey(t *testing.T, label string) ck.ObjectHandle {
	return env.aes(t, label, plainVal, ck.NewAttribute(ck.CKA_SENSITIVE, false), ck.NewAttribute(ck.CKA_EXTRACTABLE, true))
}

func unwrapTemplate(label string) []ck.Attribute {
	return []ck.Attribute{ck.NewAttribute(ck.CKA_CLASS, ck.CKO_SECRET_KEY), ck.NewAttribute(ck.CKA_KEY_TYPE, ck.CKK_AES),
		ck.NewAttribute(ck.CKA_LABEL, label), ck.NewAttribute(ck.CKA_SENSITIVE, false), ck.NewAttribute(ck.CKA_EXTRACTABLE, true)}
}

// TestWrapCommitRechecks changes the keys of C_WrapKey between its check and its computation: the commit
// answers the code the specification names for the state at the commit, returns no wrapped key, and the
// engine goes on wrapping and unwrapping correctly.
func TestWrapCommitRechecks(t *testing.T) {
	out := ck.Out{Present: true, Cap: 64}
	cases := []struct {
		name   string
		change func(env lockEnv, w, k ck.ObjectHandle) error
		want   ck.RV
	}{
		{"wrapping key destroyed", func(env lockEnv, w, k ck.ObjectHandle) error { return env.p.DestroyObject(env.s, w) }, ck.CKR_WRAPPING_KEY_HANDLE_INVALID},
		{"key destroyed", func(env lockEnv, w, k ck.ObjectHandle) error { return env.p.DestroyObject(env.s, k) }, ck.CKR_KEY_HANDLE_INVALID},
		{"key made unextractable", func(env lockEnv, w, k ck.ObjectHandle) error {
			return env.p.SetAttributeValue(env.s, k, []ck.Attribute{ck.NewAttribute(ck.CKA_EXTRACTABLE, false)})
		}, ck.CKR_KEY_UNEXTRACTABLE},
		{"wrapping key's CKA_WRAP off", func(env lockEnv, w, k ck.ObjectHandle) error {
			return env.p.SetAttributeValue(env.s, w, []ck.Attribute{ck.NewAttribute(ck.CKA_WRAP, false)})
		}, ck.CKR_KEY_FUNCTION_NOT_PERMITTED},
		{"user logged out", func(env lockEnv, w, k ck.ObjectHandle) error { return env.p.Logout(env.s) }, ck.CKR_WRAPPING_KEY_HANDLE_INVALID},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := newLockEnv(t)
			w := env.aes(t, "wrapping", wrapKeyVal, ck.NewAttribute(ck.CKA_WRAP, true), ck.NewAttribute(ck.CKA_UNWRAP, true),
				ck.NewAttribute(ck.CKA_TOKEN, true))
			k := env.plainKey(t, "plain")
			var changeErr error
			env.between(t, "wrap key", func() { changeErr = tc.change(env, w, k) })
			wrapped, _, err := env.p.WrapKey(env.s, kw, w, k, out)
			if changeErr != nil {
				t.Fatalf("the change: %v", changeErr)
			}
			if ck.ToRV(err) != tc.want || wrapped != nil {
				t.Fatalf("C_WrapKey after %s: %v and %d bytes, want %v and none", tc.name, ck.ToRV(err), len(wrapped), tc.want)
			}
			env.settled(t)
			// The engine is sound: a wrap with fresh keys round-trips.
			if tc.name == "user logged out" {
				if err := env.p.Login(env.s, ck.CKU_USER, enginetest.UserPIN); err != nil {
					t.Fatal(err)
				}
			}
			w2 := env.aes(t, "wrapping2", wrapKeyVal, ck.NewAttribute(ck.CKA_WRAP, true), ck.NewAttribute(ck.CKA_UNWRAP, true))
			k2 := env.plainKey(t, "plain2")
			wrapped, _, err = env.p.WrapKey(env.s, kw, w2, k2, out)
			if err != nil {
				t.Fatalf("C_WrapKey afterwards: %v", err)
			}
			u, err := env.p.UnwrapKey(env.s, kw, w2, wrapped, unwrapTemplate("back"))
			if err != nil {
				t.Fatalf("C_UnwrapKey afterwards: %v", err)
			}
			got, err := env.p.GetAttributeValue(env.s, u, ck.Query(uint64(len(plainVal)), ck.CKA_VALUE))
			if err != nil || len(got) != 1 || !bytes.Equal(got[0].Value, plainVal) {
				t.Fatalf("the unwrapped value: %+v %v, want %x", got, err, plainVal)
			}
		})
	}
}

// TestMadeKeyCommitRechecks changes the key of C_UnwrapKey, C_DeriveKey and C_DecapsulateKey between the
// check and the computation: the commit answers the specification's code, makes no object and leaves the
// session's object quota as it was; a private token key dropped by a logout meanwhile is wiped once the
// computation is done, not under it.
func TestMadeKeyCommitRechecks(t *testing.T) {
	t.Run("unwrapping key destroyed", func(t *testing.T) {
		env := newLockEnv(t)
		u := env.aes(t, "unwrapping", wrapKeyVal, ck.NewAttribute(ck.CKA_WRAP, true), ck.NewAttribute(ck.CKA_UNWRAP, true))
		wrapped, _, err := env.p.WrapKey(env.s, kw, u, env.plainKey(t, "plain"), ck.Out{Present: true, Cap: 64})
		if err != nil {
			t.Fatal(err)
		}
		env.checkUnwrap(t, u, wrapped, func() error { return env.p.DestroyObject(env.s, u) }, ck.CKR_UNWRAPPING_KEY_HANDLE_INVALID)
	})
	t.Run("unwrapping key's CKA_UNWRAP off", func(t *testing.T) {
		env := newLockEnv(t)
		u := env.aes(t, "unwrapping", wrapKeyVal, ck.NewAttribute(ck.CKA_WRAP, true), ck.NewAttribute(ck.CKA_UNWRAP, true))
		wrapped, _, err := env.p.WrapKey(env.s, kw, u, env.plainKey(t, "plain"), ck.Out{Present: true, Cap: 64})
		if err != nil {
			t.Fatal(err)
		}
		env.checkUnwrap(t, u, wrapped, func() error {
			return env.p.SetAttributeValue(env.s, u, []ck.Attribute{ck.NewAttribute(ck.CKA_UNWRAP, false)})
		}, ck.CKR_KEY_FUNCTION_NOT_PERMITTED)
	})
	t.Run("private token unwrapping key dropped by a logout", func(t *testing.T) {
		env := newLockEnv(t)
		u := env.aes(t, "unwrapping", wrapKeyVal, ck.NewAttribute(ck.CKA_WRAP, true), ck.NewAttribute(ck.CKA_UNWRAP, true),
			ck.NewAttribute(ck.CKA_TOKEN, true))
		wrapped, _, err := env.p.WrapKey(env.s, kw, u, env.plainKey(t, "plain"), ck.Out{Present: true, Cap: 64})
		if err != nil {
			t.Fatal(err)
		}
		env.e.mu.Lock()
		mem := env.e.objects[u].attrs // the memory the logout drops
		env.e.mu.Unlock()
		var wipedUnder bool
		env.checkUnwrap(t, u, wrapped, func() error {
			err := env.p.Logout(env.s)
			wipedUnder = !bytes.Contains(mem.b, wrapKeyVal) // still readable while the unwrap holds the key
			return err
		}, ck.CKR_UNWRAPPING_KEY_HANDLE_INVALID)
		if wipedUnder {
			t.Error("the logout wiped the key while the unwrap was using it")
		}
		if bytes.Contains(mem.b, wrapKeyVal) || len(bytes.Trim(mem.b, "\x00")) != 0 {
			t.Error("the dropped key's memory is not wiped after the unwrap")
		}
	})
	t.Run("derivation base destroyed", func(t *testing.T) {
		env := newLockEnv(t)
		b := env.aes(t, "base", wrapKeyVal, ck.NewAttribute(ck.CKA_DERIVE, true))
		param, err := wire.EncodeParams(ck.CKM_AES_ECB_ENCRYPT_DATA, map[string]any{"pData": make([]byte, 32)})
		if err != nil {
			t.Fatal(err)
		}
		m := &ck.Mechanism{Type: ck.CKM_AES_ECB_ENCRYPT_DATA, Parameter: param}
		tmpl := []ck.Attribute{ck.NewAttribute(ck.CKA_LABEL, "derived"), ck.NewAttribute(ck.CKA_VALUE_LEN, 32)}
		var before uint64
		env.between(t, "derive key", func() {
			if err := env.p.DestroyObject(env.s, b); err != nil {
				t.Error(err)
			}
			before = env.sessionBytes()
		})
		_, err = env.p.DeriveKey(env.s, m, b, tmpl)
		env.madeNothing(t, "C_DeriveKey", err, ck.CKR_KEY_HANDLE_INVALID, "derived", before)
		if _, err := env.p.DeriveKey(env.s, m, env.aes(t, "base2", wrapKeyVal, ck.NewAttribute(ck.CKA_DERIVE, true)), tmpl); err != nil {
			t.Fatalf("C_DeriveKey afterwards: %v", err)
		}
	})
	t.Run("decapsulation key destroyed", func(t *testing.T) {
		env := newLockEnv(t)
		pub, priv, err := env.p.GenerateKeyPair(env.s, &ck.Mechanism{Type: ck.CKM_ML_KEM_KEY_PAIR_GEN},
			[]ck.Attribute{ck.NewAttribute(ck.CKA_PARAMETER_SET, ck.CKP_ML_KEM_768), ck.NewAttribute(ck.CKA_ENCAPSULATE, true)},
			[]ck.Attribute{ck.NewAttribute(ck.CKA_DECAPSULATE, true)})
		if err != nil {
			t.Fatal(err)
		}
		kem := &ck.Mechanism{Type: ck.CKM_ML_KEM}
		ct, _, _, err := env.p.EncapsulateKey(env.s, kem, pub, nil, ck.Out{Present: true, Cap: 4096})
		if err != nil {
			t.Fatal(err)
		}
		var before uint64
		env.between(t, "decapsulate key", func() {
			if err := env.p.DestroyObject(env.s, priv); err != nil {
				t.Error(err)
			}
			before = env.sessionBytes()
		})
		_, err = env.p.DecapsulateKey(env.s, kem, priv, []ck.Attribute{ck.NewAttribute(ck.CKA_LABEL, "secret")}, ct)
		env.madeNothing(t, "C_DecapsulateKey", err, ck.CKR_KEY_HANDLE_INVALID, "secret", before)
	})
}

func (env lockEnv) checkUnwrap(t *testing.T, u ck.ObjectHandle, wrapped []byte, change func() error, want ck.RV) {
	t.Helper()
	var before uint64
	env.between(t, "unwrap key", func() {
		if err := change(); err != nil {
			t.Error(err)
		}
		before = env.sessionBytes()
	})
	_, err := env.p.UnwrapKey(env.s, kw, u, wrapped, unwrapTemplate("unwrapped"))
	if env.loggedOut() {
		if err := env.p.Login(env.s, ck.CKU_USER, enginetest.UserPIN); err != nil {
			t.Fatal(err)
		}
	}
	env.madeNothing(t, "C_UnwrapKey", err, want, "unwrapped", before)
}

func (env lockEnv) loggedOut() bool {
	info, _ := env.p.GetSessionInfo(env.s)
	return info.State == ck.CKS_RW_PUBLIC_SESSION
}

func (env lockEnv) sessionBytes() uint64 {
	env.e.mu.Lock()
	defer env.e.mu.Unlock()
	return env.e.sessions[env.s].app.sessionBytes
}

// madeNothing checks a failed key-making call: its code, no object labelled label, the session's object
// bytes as they were after the change, nothing held.
func (env lockEnv) madeNothing(t *testing.T, call string, err error, want ck.RV, label string, before uint64) {
	t.Helper()
	if ck.ToRV(err) != want {
		t.Fatalf("%s: %v, want %v", call, ck.ToRV(err), want)
	}
	if n := env.count(t, label); n != 0 {
		t.Errorf("%s failed but made %d objects", call, n)
	}
	if got := env.sessionBytes(); got != before {
		t.Errorf("%s failed but the session objects' bytes went from %d to %d", call, before, got)
	}
	env.settled(t)
}

// TestPINCommitRechecks changes the state between the check and the computation of PIN calls: a session closed
// during a login's KDF answers CKR_SESSION_HANDLE_INVALID and logs nobody in (the right PIN still resets the
// count); an SO who logs out during C_InitPIN's KDF answers CKR_USER_NOT_LOGGED_IN and the user PIN stays as
// it was, the token key the logout wiped never having been under the computation.
func TestPINCommitRechecks(t *testing.T) {
	t.Run("session closed during login", func(t *testing.T) {
		env := newLockEnv(t)
		if err := env.p.Logout(env.s); err != nil {
			t.Fatal(err)
		}
		s2, err := env.p.OpenSession(0, ck.CKF_SERIAL_SESSION|ck.CKF_RW_SESSION)
		if err != nil {
			t.Fatal(err)
		}
		env.between(t, "pin attempt", func() {
			if err := env.p.CloseSession(s2); err != nil {
				t.Error(err)
			}
		})
		wantRV(t, env.p.Login(s2, ck.CKU_USER, enginetest.UserPIN), ck.CKR_SESSION_HANDLE_INVALID, "C_Login whose session closed")
		if !env.loggedOut() {
			t.Error("the application is logged in after its login's session closed")
		}
		env.e.mu.Lock()
		tok := env.e.sessions[env.s].tok
		holders, key, failures := tok.keyHolders, tok.tokenKey, tok.rec.User.Failures
		env.e.mu.Unlock()
		if holders != 0 || key != nil || failures != 0 {
			t.Errorf("after the failed commit: %d key holders, token key kept %v, %d failures; want 0, false, 0", holders, key != nil, failures)
		}
		if err := env.p.Login(env.s, ck.CKU_USER, enginetest.UserPIN); err != nil {
			t.Fatalf("C_Login afterwards: %v", err)
		}
	})
	t.Run("SO logged out during C_InitPIN", func(t *testing.T) {
		env := newLockEnv(t)
		if err := env.p.Logout(env.s); err != nil {
			t.Fatal(err)
		}
		if err := env.p.Login(env.s, ck.CKU_SO, enginetest.SOPIN); err != nil {
			t.Fatal(err)
		}
		before := record(env.e).User
		env.between(t, "init pin", func() {
			if err := env.p.Logout(env.s); err != nil {
				t.Error(err)
			}
		})
		wantRV(t, env.p.InitPIN(env.s, []byte("another-user-pin")), ck.CKR_USER_NOT_LOGGED_IN, "C_InitPIN whose SO logged out")
		if after := record(env.e).User; !bytes.Equal(after.Wrapped, before.Wrapped) {
			t.Error("the user PIN changed although C_InitPIN failed")
		}
		if err := env.p.Login(env.s, ck.CKU_USER, enginetest.UserPIN); err != nil {
			t.Fatalf("the user PIN afterwards: %v", err)
		}
	})
}

// TestDigestKeyHoldsItsKey destroys the key C_DigestKey digests between its check and the digest: the digest
// is the key's value as the check found it, not the zeros the destroy wipes the key's memory with.
func TestDigestKeyHoldsItsKey(t *testing.T) {
	env := newLockEnv(t)
	k := env.aes(t, "digested", wrapKeyVal)
	if err := env.p.OperationInit(env.s, ck.OpDigest, &ck.Mechanism{Type: ck.CKM_SHA256}, 0); err != nil {
		t.Fatal(err)
	}
	env.between(t, "digest key", func() {
		if err := env.p.DestroyObject(env.s, k); err != nil {
			t.Error(err)
		}
	})
	if err := env.p.DigestKey(env.s, k); err != nil {
		t.Fatalf("C_DigestKey: %v", err)
	}
	got, _, err := env.p.OperationFinal(env.s, ck.OpDigest, ck.Out{Present: true, Cap: 32})
	if err != nil {
		t.Fatal(err)
	}
	if want := sha256.Sum256(wrapKeyVal); !bytes.Equal(got, want[:]) {
		t.Errorf("C_DigestKey of a key destroyed meanwhile digested %x, want SHA-256 of the key %x", got, want)
	}
	env.settled(t)
}

// TestGenerateCommitRechecks ends the login or the session between the check and the computation of
// C_GenerateKey and C_GenerateKeyPair: the commit answers for the state at the commit, and no object (or half
// of a pair) is left behind.
func TestGenerateCommitRechecks(t *testing.T) {
	ecParams := []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07} // P-256
	genKey := func(env lockEnv) error {
		_, err := env.p.GenerateKey(env.s, &ck.Mechanism{Type: ck.CKM_AES_KEY_GEN}, []ck.Attribute{
			ck.NewAttribute(ck.CKA_LABEL, "made"), ck.NewAttribute(ck.CKA_VALUE_LEN, 32), ck.NewAttribute(ck.CKA_TOKEN, true)})
		return err
	}
	genPair := func(env lockEnv) error {
		_, _, err := env.p.GenerateKeyPair(env.s, &ck.Mechanism{Type: ck.CKM_EC_KEY_PAIR_GEN},
			[]ck.Attribute{ck.NewAttribute(ck.CKA_LABEL, "made"), ck.NewAttribute(ck.CKA_EC_PARAMS, ecParams),
				ck.NewAttribute(ck.CKA_TOKEN, true)},
			[]ck.Attribute{ck.NewAttribute(ck.CKA_LABEL, "made"), ck.NewAttribute(ck.CKA_TOKEN, true)})
		return err
	}
	for _, gen := range []struct {
		call string
		run  func(lockEnv) error
	}{{"generate key", genKey}, {"generate key pair", genPair}} {
		for _, change := range []struct {
			name string
			do   func(env lockEnv) error
			want ck.RV
		}{
			{"logged out", func(env lockEnv) error { return env.p.Logout(env.s) }, ck.CKR_USER_NOT_LOGGED_IN},
			{"session closed", func(env lockEnv) error { return env.p.CloseSession(env.s) }, ck.CKR_SESSION_HANDLE_INVALID},
		} {
			t.Run(gen.call+"/"+change.name, func(t *testing.T) {
				env := newLockEnv(t)
				info, err := env.p.GetSessionInfo(env.s)
				if err != nil {
					t.Fatal(err)
				}
				var changeErr error
				env.between(t, gen.call, func() { changeErr = change.do(env) })
				err = gen.run(env)
				if changeErr != nil {
					t.Fatalf("the change: %v", changeErr)
				}
				if ck.ToRV(err) != change.want {
					t.Fatalf("%s after the change: %v, want %v", gen.call, err, change.want)
				}
				env.e.checkedHook = func(string) {}
				if change.name == "session closed" {
					if env.s, err = env.p.OpenSession(info.SlotID, ck.CKF_SERIAL_SESSION|ck.CKF_RW_SESSION); err != nil {
						t.Fatal(err)
					}
				}
				if err := env.p.Login(env.s, ck.CKU_USER, enginetest.UserPIN); err != nil {
					t.Fatal(err)
				}
				if n := env.count(t, "made"); n != 0 {
					t.Errorf("%d objects made by the refused %s", n, gen.call)
				}
				if err := gen.run(env); err != nil {
					t.Errorf("%s afterwards: %v", gen.call, err)
				}
				env.settled(t)
			})
		}
	}
}
