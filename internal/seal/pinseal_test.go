//go:build !notpm2

package seal

import (
	"bytes"
	"errors"
	"testing"

	"github.com/google/go-tpm/tpm2"

	"github.com/keyward/keyward/internal/seal/swtpmtest"
)

// lockoutCounter reads TPM_PT_LOCKOUT_COUNTER: the TPM's count of authorisation failures.
func lockoutCounter(t *testing.T, tp *swtpmtest.TPM) uint32 {
	t.Helper()
	tpm, err := openTPM(tp.Device())
	if err != nil {
		t.Fatal(err)
	}
	defer tpm.Close()
	rsp, err := tpm2.GetCapability{Capability: tpm2.TPMCapTPMProperties, Property: uint32(tpm2.TPMPTLockoutCounter), PropertyCount: 1}.Execute(tpm)
	if err != nil {
		t.Fatal(err)
	}
	props, err := rsp.CapabilityData.Data.TPMProperties()
	if err != nil || len(props.TPMProperty) == 0 || props.TPMProperty[0].Property != tpm2.TPMPTLockoutCounter {
		t.Fatalf("lockout counter: %v %v", props, err)
	}
	return props.TPMProperty[0].Value
}

// TestPINSeal: the PIN-bound seal opens with its authValue; every wrong one is refused and counted by the TPM
// (TPM_PT_LOCKOUT_COUNTER), which locks out at maxTries (then even the right PIN waits, while the noDA root key
// still opens); a PIN change keeps the pepper and retires nothing else; another TPM refuses the blob; neither
// the authValue nor the pepper crosses the bus in clear.
func TestPINSeal(t *testing.T) {
	tp := swtpmtest.Start(t)
	tpm2Tool(t, tp, "tpm2_dictionarylockout", "--setup-parameters", "--max-tries=4", "--recovery-time=600", "--lockout-recovery-time=600")
	proxy, traffic := recordingProxy(t, tp.Socket())
	ps := NewPINSeal(TPM2Options{Device: "swtpm:path=" + proxy})
	auth := bytes.Repeat([]byte{0xa1}, 32)
	blob, pepper, err := ps.Create(auth)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ps.Open(blob, auth)
	if err != nil || !bytes.Equal(got, pepper) {
		t.Fatalf("open with the right auth: %v", err)
	}
	if rec := traffic(); bytes.Contains(rec, auth[:16]) || bytes.Contains(rec, pepper[:16]) || bytes.Contains(rec, pepper[16:]) {
		t.Fatal("the authValue or the pepper crossed the bus in clear")
	}
	ps = NewPINSeal(TPM2Options{Device: tp.Device()})
	if c := lockoutCounter(t, tp); c != 0 {
		t.Fatalf("lockout counter %d after right PINs", c)
	}
	wrong := bytes.Repeat([]byte{0xa2}, 32)
	for i := 1; i <= 3; i++ {
		if _, err := ps.Open(blob, wrong); !errors.Is(err, ErrPINAuth) {
			t.Fatalf("wrong auth %d: %v, want ErrPINAuth", i, err)
		}
		if c := lockoutCounter(t, tp); c != uint32(i) {
			t.Fatalf("after %d wrong PINs the TPM counted %d", i, c)
		}
	}
	// A PIN change with the right old PIN: the pepper stays, the old auth no longer opens the new blob.
	newAuth := bytes.Repeat([]byte{0xa3}, 32)
	blob2, err := ps.ChangeAuth(blob, auth, newAuth)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := ps.Open(blob2, newAuth); err != nil || !bytes.Equal(got, pepper) {
		t.Fatalf("open after the change: %v", err)
	}
	// The fourth failure reaches maxTries: lockout, for the right PIN too; the root key is noDA and opens.
	ps.Open(blob2, auth)
	if _, err := ps.Open(blob2, newAuth); !errors.Is(err, ErrLockout) {
		t.Fatalf("in lockout with the right PIN: %v, want ErrLockout", err)
	}
	o := tpmOptions(t, tp, 7)
	if _, err := Load(o); err != nil {
		t.Fatalf("the root key in lockout: %v", err)
	}
	// Another TPM.
	other := swtpmtest.Start(t)
	if _, err := NewPINSeal(TPM2Options{Device: other.Device()}).Open(blob2, newAuth); !errors.Is(err, ErrOtherDevice) {
		t.Fatalf("another TPM: %v", err)
	}
}

// TestPINSealInnerZero: an authValue with a zero byte inside (about one random 32-byte value in nine) opens the seal
// and changes it. It did not: go-tpm's session HMAC cut the key at its last zero byte, so the TPM refused the
// right value and counted it as an attack.
func TestPINSealInnerZero(t *testing.T) {
	tp := swtpmtest.Start(t)
	ps := NewPINSeal(TPM2Options{Device: tp.Device()})
	auth := bytes.Repeat([]byte{0xb4}, 32)
	auth[7], auth[31] = 0, 0
	blob, pepper, err := ps.Create(auth)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := ps.Open(blob, auth); err != nil || !bytes.Equal(got, pepper) {
		t.Fatalf("open with an authValue with zero bytes: %v", err)
	}
	newAuth := bytes.Repeat([]byte{0x5c}, 32)
	newAuth[0], newAuth[16] = 0, 0
	blob2, err := ps.ChangeAuth(blob, auth, newAuth)
	if err != nil {
		t.Fatalf("change: %v", err)
	}
	if got, err := ps.Open(blob2, newAuth); err != nil || !bytes.Equal(got, pepper) {
		t.Fatalf("open after the change: %v", err)
	}
	if _, err := ps.Open(blob2, auth); !errors.Is(err, ErrPINAuth) {
		t.Fatalf("the old authValue after the change: %v, want ErrPINAuth", err)
	}
	if c := lockoutCounter(t, tp); c != 1 {
		t.Fatalf("the TPM counted %d failures, want 1 (the one wrong value)", c)
	}
}
