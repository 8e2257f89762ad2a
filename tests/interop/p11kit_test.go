package interop

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// Scenario 2: p11-kit. Keyward is registered by a .module file in a private configuration (a user
// configuration under a private $HOME/.config/pkcs11/modules); `p11-kit list-modules` shows it and its token,
// `p11-kit list-objects` its objects, and pkcs11-tool loads it through p11-kit-proxy.so.
//
// p11-kit ignores the user configuration in a process whose real uid is 0 ("skipping user config in program
// running as root"). When the tests run as root (CI), the p11-kit programs therefore run in a new user
// namespace without uid mapping: inside it they are uid 65534 and read the private configuration; to the
// kernel (and to keywardd's SO_PEERCRED) they are still root.
func TestP11Kit(t *testing.T) {
	const sc = "2 p11-kit"
	daemon(t)
	p11kit := program(t, "p11-kit")
	version := func() string { return progVersion("p11-kit") }
	tk := newToken(t, "p11kit")
	tk.genKey(t, "EC:prime256v1", "p11kit-ec", "21")
	pub := ecPub(t, tk.public(t, "p11kit-ec"))

	home := tmpDir(t)
	mod, spyEnv := moduleFor(t, "p11-kit")
	modDir := filepath.Join(home, ".config", "pkcs11", "modules")
	if err := os.MkdirAll(modDir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, modDir, "keyward.module", []byte("# Keyward, registered for this test only\nmodule: "+mod+"\n"), 0o644)
	env := append([]string{"HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, ".config")}, spyEnv...)
	opts := func() runOpts {
		o := runOpts{env: env}
		if os.Geteuid() == 0 || os.Getuid() == 0 {
			o.sys = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUSER}
		}
		return o
	}
	run := func(t *testing.T, name string, args ...string) result {
		t.Helper()
		r := execProg(t, opts(), name, args...)
		if r.err != nil && strings.Contains(r.err.Error(), "operation not permitted") && opts().sys != nil {
			t.Fatalf("p11-kit skips the user configuration when run as root, so the test runs it in an unprivileged user "+
				"namespace, which this system refuses (%v): allow user namespaces (sysctl kernel.unprivileged_userns_clone=1, "+
				"or the container's seccomp profile) or run the tests as a non-root user", r.err)
		}
		if r.err != nil {
			t.Fatalf("%s failed:\n%s", filepath.Base(name), r)
		}
		return r
	}

	step(t, sc, "list-modules (.module in a private config)", "p11-kit", version, func(t *testing.T) {
		r := run(t, p11kit, "list-modules")
		mustContain(t, r, r.stdout, "keyward: "+mod, "library-manufacturer: Keyward", "token: "+tk.label)
	})

	step(t, sc, "list-objects", "p11-kit", version, func(t *testing.T) {
		help := execProg(t, opts(), p11kit, "--help")
		if !strings.Contains(help.stdout+help.stderr, "list-objects") {
			expectedFailure(t, fmt.Sprintf("p11-kit %s has no list-objects command (added in p11-kit 0.25.0); "+
				"the objects are listed through p11-kit-proxy.so instead (next step)", debVersion("p11-kit")))
		}
		r := run(t, p11kit, "list-objects", "pkcs11:token="+tk.label)
		mustContain(t, r, r.stdout, "p11kit-ec")
	})

	step(t, sc, "pkcs11-tool --module p11-kit-proxy.so", "pkcs11-tool", func() string { return progVersion("pkcs11-tool") }, func(t *testing.T) {
		proxy := systemFile(t, "p11-kit-proxy.so", "p11-kit-modules", "/usr/lib/*/p11-kit-proxy.so", "/usr/lib/p11-kit-proxy.so",
			"/usr/lib64/p11-kit-proxy.so")
		tool := program(t, "pkcs11-tool")
		r := run(t, tool, "--module", proxy, "--list-token-slots")
		mustContain(t, r, r.stdout, "token label        : "+tk.label, "token manufacturer : Keyward")
		r = run(t, tool, "--module", proxy, "--token-label", tk.label, "--login", "--pin", userPIN, "--list-objects")
		mustContain(t, r, r.stdout, "Private Key Object; EC", "label:      p11kit-ec", "ID:         21")

		dir := tmpDir(t)
		data := []byte("signed through p11-kit-proxy.so\n")
		in := writeFile(t, dir, "data", data, 0o644)
		sigPath := filepath.Join(dir, "sig")
		run(t, tool, "--module", proxy, "--token-label", tk.label, "--login", "--pin", userPIN, "--sign",
			"--mechanism", "ECDSA-SHA256", "--id", "21", "--signature-format", "openssl", "-i", in, "-o", sigPath)
		digest := sha256.Sum256(data)
		if !ecdsa.VerifyASN1(pub, digest[:], readFile(t, sigPath)) {
			t.Fatalf("the ECDSA-SHA256 signature made through p11-kit-proxy.so does not verify with the token's public key")
		}
	})
}
