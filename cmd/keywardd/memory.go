package main

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/keyward/keyward/internal/config"
	"github.com/keyward/keyward/internal/engine"
	"github.com/keyward/keyward/internal/vault"
)

// softMemoryLimit is the Go runtime's soft memory limit when GOMEMLIMIT is not set: three quarters of the
// daemon's cgroup memory limit (cgroup v2 memory.max, or v1 memory.limit_in_bytes) when it has one, and half
// of the machine's RAM otherwise, whichever is lower; 512 MiB when neither can be read.
func softMemoryLimit() int64 {
	limit := int64(512 << 20)
	known := false
	if cg := cgroupMemoryLimit(); cg > 0 {
		limit, known = cg/4*3, true
	}
	if ram := vault.MachineRAM(); ram > 0 && (!known || int64(ram/2) < limit) {
		limit = int64(ram / 2)
	}
	return max(limit, 32<<20)
}

// cgroupMemoryLimit is the memory limit of the cgroup the process runs in, or 0 when it has none.
func cgroupMemoryLimit() int64 {
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 {
			continue
		}
		var path string
		switch {
		case f[0] == "0" && f[1] == "": // cgroup v2
			path = filepath.Join("/sys/fs/cgroup", f[2], "memory.max")
		case strings.Contains(","+f[1]+",", ",memory,"): // cgroup v1
			path = filepath.Join("/sys/fs/cgroup/memory", f[2], "memory.limit_in_bytes")
		default:
			continue
		}
		if v := readLimit(path); v > 0 {
			return v
		}
		if v := readLimit(filepath.Join(filepath.Dir(path), "..", filepath.Base(path))); v > 0 {
			return v // inside a container the cgroup path may not be mounted as seen from the host
		}
	}
	return 0
}

// readLimit reads a cgroup limit file: 0 for "max", an absurd value (no limit in v1), or an unreadable file.
func readLimit(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	v, err := strconv.ParseInt(string(bytes.TrimSpace(b)), 10, 64)
	if err != nil || v <= 0 || v >= 1<<60 {
		return 0
	}
	return v
}

// applyKDFSettings sets the PIN derivation from the configuration file: pin_kdf_memory_mib (the Argon2id
// memory for PINs set from now on; records keep the setting they were made with) and pin_derivations (how
// many run at once). A setting already in cfg (--kdf fast) stays.
func applyKDFSettings(cfg *engine.Config, fc *config.File, log *slog.Logger) {
	if cfg.KDF == (vault.KDFParams{}) && fc != nil && fc.PINKDFMemoryMiB > 0 {
		cfg.KDF = vault.KDFForMemory(fc.PINKDFMemoryMiB)
	}
	n := 1
	if fc != nil && fc.PINDerivations > 0 {
		n = fc.PINDerivations
	}
	vault.SetMaxDerivations(n)
	kdf := cfg.KDF
	if kdf == (vault.KDFParams{}) {
		kdf = vault.DefaultKDF
	}
	log.Info("PIN derivation", "argon2id_mib", kdf.Memory/1024, "passes", kdf.Time, "at_once", n)
}
