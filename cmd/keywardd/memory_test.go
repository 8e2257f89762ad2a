package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/keyward/keyward/internal/vault"
)

// TestReadLimit reads cgroup limit files: a number is a limit; "max", v1's "no limit" value and garbage are none.
func TestReadLimit(t *testing.T) {
	dir := t.TempDir()
	for content, want := range map[string]int64{"268435456\n": 268435456, "max\n": 0, "9223372036854771712\n": 0,
		"junk": 0, "0\n": 0} {
		p := filepath.Join(dir, "memory.max")
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if got := readLimit(p); got != want {
			t.Errorf("readLimit(%q) = %d, want %d", content, got, want)
		}
	}
	if got := readLimit(filepath.Join(dir, "missing")); got != 0 {
		t.Errorf("readLimit of a missing file = %d, want 0", got)
	}
}

// TestSoftMemoryLimit checks the limit against this machine: at most half its RAM and 3/4 of its cgroup's
// limit, at least 32 MiB.
func TestSoftMemoryLimit(t *testing.T) {
	got := softMemoryLimit()
	if got < 32<<20 {
		t.Fatalf("softMemoryLimit() = %d, below 32 MiB", got)
	}
	if ram := vault.MachineRAM(); ram > 0 && got > max(int64(ram/2), 32<<20) {
		t.Errorf("softMemoryLimit() = %d, above half the RAM (%d)", got, ram)
	}
	if cg := cgroupMemoryLimit(); cg > 0 && got > max(cg/4*3, 32<<20) {
		t.Errorf("softMemoryLimit() = %d, above 3/4 of the cgroup limit %d", got, cg)
	}
}
