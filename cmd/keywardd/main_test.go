package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestDurabilityFlag(t *testing.T) {
	base := []string{"--user", "--store", t.TempDir(), "--socket", "/tmp/x.sock", "--root-key", "/tmp/x.key"}
	for _, v := range []string{"full", "batched"} {
		o, err := parse(append(base, "--durability", v), &bytes.Buffer{})
		if err != nil || o.durability != v {
			t.Errorf("--durability %s: %+v, %v", v, o, err)
		}
	}
	if o, err := parse(base, &bytes.Buffer{}); err != nil || o.durability != "" {
		t.Errorf("no --durability: %q, %v; want \"\" (the configuration file's, else full)", o.durability, err)
	}
	for _, v := range []string{"fast", "FULL", ""} {
		_, err := parse(append(base, "--durability="+v), &bytes.Buffer{})
		if v == "" {
			if err != nil {
				t.Errorf("--durability=: %v", err)
			}
			continue
		}
		if err == nil {
			t.Errorf("--durability %s accepted", v)
			continue
		}
		if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, "--durability") || !strings.Contains(msg, "full or batched") {
			t.Errorf("--durability %s: error %q, want one line naming the flag and its values", v, msg)
		}
	}
}

// TestBadDurabilityExits: run prints one line and exits non-zero, before it touches the store.
func TestBadDurabilityExits(t *testing.T) {
	var stderr bytes.Buffer
	dir := t.TempDir()
	code := run([]string{"--user", "--store", dir + "/store", "--socket", dir + "/s", "--root-key", dir + "/k", "--durability", "sometimes"}, &stderr)
	if code == 0 {
		t.Fatalf("exit status 0 for --durability sometimes")
	}
	out := strings.TrimSuffix(stderr.String(), "\n")
	if out == "" || strings.Contains(out, "\n") || !strings.Contains(out, "full or batched") {
		t.Errorf("stderr %q, want one line naming the valid values", stderr.String())
	}
}

func TestGCPercentFor(t *testing.T) {
	for _, c := range []struct {
		live uint64
		want int
	}{{0, 400}, {1 << 20, 400}, {16 << 20, 400}, {32 << 20, 200}, {64 << 20, 100}, {1 << 30, 100}} {
		if got := gcPercentFor(c.live); got != c.want {
			t.Errorf("gcPercentFor(%d MiB) = %d, want %d", c.live>>20, got, c.want)
		}
	}
}

func TestMinRSABitsFlag(t *testing.T) {
	base := []string{"--user", "--store", t.TempDir(), "--socket", "/tmp/x.sock", "--root-key", "/tmp/x.key"}
	if o, err := parse(append(base, "--min-rsa-bits", "1024"), &bytes.Buffer{}); err != nil || o.minRSABits != 1024 {
		t.Errorf("--min-rsa-bits 1024: %+v, %v", o, err)
	}
	if _, err := parse(append(base, "--min-rsa-bits", "1000"), &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "--min-rsa-bits") {
		t.Errorf("--min-rsa-bits 1000: %v, want an error naming the flag", err)
	}
}
