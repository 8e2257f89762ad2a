package vault

import (
	"bytes"
	"errors"
	"sync"
	"testing"
	"time"
)

func testRoot(t *testing.T, b byte) *Root {
	t.Helper()
	r, err := NewRoot(bytes.Repeat([]byte{b}, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestWrapUnwrap(t *testing.T) {
	root := testRoot(t, 1)
	salt := NewSalt()
	tk := NewTokenKey()
	pk, err := root.DerivePIN(7, "user", []byte("1234"), salt, FastKDF)
	if err != nil {
		t.Fatal(err)
	}
	wrapped := pk.Wrap(tk)
	if bytes.Contains(wrapped, tk.raw) {
		t.Fatal("wrapped token key contains the key in clear")
	}
	got, err := pk.Unwrap(wrapped)
	if err != nil || !bytes.Equal(got.raw, tk.raw) {
		t.Fatalf("unwrap with the right PIN: %v", err)
	}
	// Each of these must fail: another PIN, another role, another token, another device, another salt.
	bad := []struct {
		name string
		root *Root
		tok  uint64
		role string
		pin  string
		salt []byte
	}{
		{"wrong PIN", root, 7, "user", "1235", salt},
		{"other role", root, 7, "so", "1234", salt},
		{"other token", root, 8, "user", "1234", salt},
		{"other device", testRoot(t, 2), 7, "user", "1234", salt},
		{"other salt", root, 7, "user", "1234", NewSalt()},
	}
	for _, b := range bad {
		k, err := b.root.DerivePIN(b.tok, b.role, []byte(b.pin), b.salt, FastKDF)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := k.Unwrap(wrapped); !errors.Is(err, ErrAuth) {
			t.Errorf("%s: unwrap gave %v, want ErrAuth", b.name, err)
		}
	}
}

func TestObjectBinding(t *testing.T) {
	root := testRoot(t, 3)
	k := root.PublicKey(1)
	blob := k.Seal([]byte("secret attributes"), ObjectAD(1, 2, false))
	if _, err := k.Open(blob, ObjectAD(1, 2, false)); err != nil {
		t.Fatal(err)
	}
	for _, ad := range [][]byte{ObjectAD(1, 3, false), ObjectAD(2, 2, false), ObjectAD(1, 2, true), TokenAD(1)} {
		if _, err := k.Open(blob, ad); !errors.Is(err, ErrAuth) {
			t.Errorf("blob opened under foreign associated data %x", ad)
		}
	}
	if _, err := root.PublicKey(2).Open(blob, ObjectAD(1, 2, false)); err == nil {
		t.Error("another token's public key opened the blob")
	}
	blob[len(blob)-1] ^= 1
	if _, err := k.Open(blob, ObjectAD(1, 2, false)); err == nil {
		t.Error("a tampered blob opened")
	}
	if _, err := k.Open(blob[:5], nil); err == nil {
		t.Error("a truncated blob opened")
	}
}

func TestKDFParamsBounds(t *testing.T) {
	for _, p := range []KDFParams{{0, 64, 1}, {1, 1 << 30, 1}, {1, 64, 0}, {100, 64, 1}} {
		if p.Validate() == nil {
			t.Errorf("%+v accepted", p)
		}
	}
	if DefaultKDF.Validate() != nil || FastKDF.Validate() != nil {
		t.Error("built-in parameters rejected")
	}
}

// TestKDFForRAM checks the defaults by machine size and that each one validates.
func TestKDFForRAM(t *testing.T) {
	for _, c := range []struct {
		ram uint64
		mib uint32
	}{{0, 64}, {4 << 30, 64}, {1 << 30, 64}, {768 << 20, 32}, {512 << 20, 32}, {256 << 20, 16}, {128 << 20, 16}} {
		p := KDFForRAM(c.ram)
		if p.Memory != c.mib*1024 || p.Validate() != nil {
			t.Errorf("KDFForRAM(%d) = %+v, want %d MiB and valid", c.ram, p, c.mib)
		}
	}
	if KDFForMemory(16).Time <= KDFForMemory(64).Time {
		t.Errorf("less memory must mean more passes: %+v %+v", KDFForMemory(16), KDFForMemory(64))
	}
}

// TestDerivationsAreBounded runs eight derivations at once and checks that no more than the limit ran
// together (one by default, then two).
func TestDerivationsAreBounded(t *testing.T) {
	for _, n := range []int{1, 2} {
		SetMaxDerivations(n)
		var mu sync.Mutex
		running, peak := 0, 0
		probe := func() {
			mu.Lock()
			running++
			peak = max(peak, running)
			mu.Unlock()
		}
		var wg sync.WaitGroup
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				derivations.acquire()
				probe()
				time.Sleep(5 * time.Millisecond)
				mu.Lock()
				running--
				mu.Unlock()
				derivations.release()
			}()
		}
		wg.Wait()
		if peak != n {
			t.Errorf("limit %d: %d derivations ran at once", n, peak)
		}
	}
	SetMaxDerivations(1)
}

// TestDerivePINWaitsForTheLimit holds the only derivation slot and checks that DerivePIN waits for it.
func TestDerivePINWaitsForTheLimit(t *testing.T) {
	r, err := NewRoot(bytes.Repeat([]byte{1}, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	derivations.acquire()
	done := make(chan error, 1)
	go func() {
		_, err := r.DerivePIN(1, "user", []byte("1234"), NewSalt(), FastKDF)
		done <- err
	}()
	select {
	case <-done:
		t.Fatal("DerivePIN ran while the only derivation slot was taken")
	case <-time.After(100 * time.Millisecond):
	}
	derivations.release()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("DerivePIN did not run once the slot was free")
	}
}
