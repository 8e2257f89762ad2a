package main

import (
	"context"
	"os/exec"
	"strings"
	"time"
)

// p11kitListed asks p11-kit which modules it really loads (p11-kit list-modules), since a registration file
// can be ignored (root's user configuration, a module p11-kit cannot load).
func p11kitListed() (status, detail string) {
	bin, err := exec.LookPath("p11-kit")
	if err != nil {
		return "ok", "registered (p11-kit is not installed here to confirm it loads the module)"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "list-modules")
	cmd.Env = append(cmd.Environ(), "KEYWARD_AUTOSTART=0")
	out, err := cmd.Output()
	if err != nil {
		return "warn", "registered, but p11-kit list-modules fails: " + err.Error()
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "module: keyward") || strings.Contains(line, "libkeyward") {
			return "ok", "registered, and p11-kit list-modules shows it"
		}
	}
	return "fail", "a keyward.module file exists but p11-kit list-modules does not show it (as root p11-kit reads only /etc/pkcs11/modules: keyward p11kit install --system)"
}
