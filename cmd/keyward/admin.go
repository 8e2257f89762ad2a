package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/keyward/keyward/pkg/client"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

const moduleMarker = "# written by keyward p11kit install"

// moduleCandidates are the places libkeyward.so is looked for, in order.
func (c *cli) moduleCandidates() []string {
	var out []string
	if exe, err := os.Executable(); err == nil {
		dir := filepath.Dir(exe)
		out = append(out, filepath.Join(dir, "libkeyward.so"), filepath.Join(dir, "..", "lib", "keyward", "libkeyward.so"),
			filepath.Join(dir, "..", "lib", "libkeyward.so"))
	}
	return append(out, "/usr/lib/x86_64-linux-gnu/pkcs11/libkeyward.so", "/usr/lib/aarch64-linux-gnu/pkcs11/libkeyward.so",
		"/usr/lib/pkcs11/libkeyward.so", "/usr/local/lib/libkeyward.so", "/usr/lib/libkeyward.so")
}

func (c *cli) findModule() (string, bool) {
	for _, p := range c.moduleCandidates() {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			abs, _ := filepath.Abs(p)
			return filepath.Clean(abs), true
		}
	}
	return "", false
}

// moduleDir is where p11-kit reads module registrations: the user's, or with system the system's.
func (c *cli) moduleDir(system bool) string {
	if system {
		return "/etc/pkcs11/modules"
	}
	base := c.getenv("XDG_CONFIG_HOME")
	if base == "" {
		home, _ := os.UserHomeDir()
		base = filepath.Join(home, ".config")
	}
	return filepath.Join(base, "pkcs11", "modules")
}

func (c *cli) cmdP11Kit(args []string) error {
	if len(args) == 0 {
		return usagef("p11kit: missing subcommand (install or uninstall)")
	}
	sub := args[0]
	if sub == "-h" || sub == "--help" || sub == "help" {
		fmt.Fprintln(c.stdout, "usage: keyward p11kit install|uninstall [--system] [--module PATH] [--dir DIR]")
		return nil
	}
	if sub != "install" && sub != "uninstall" {
		return usagef("p11kit: unknown subcommand %q (install or uninstall)", sub)
	}
	f := c.newFlags("p11kit "+sub, `usage: keyward p11kit install|uninstall [--system] [--module PATH] [--dir DIR]

Registers libkeyward.so with p11-kit by writing keyward.module (module: PATH) in the user's
~/.config/pkcs11/modules, or with --system in /etc/pkcs11/modules. Applications that use p11-kit
(GnuTLS, NSS via p11-kit-proxy, the p11tool/trust tools) then see Keyward's tokens. uninstall removes the
file keyward wrote.

examples:
  keyward p11kit install
  sudo keyward p11kit install --system --module /usr/lib/x86_64-linux-gnu/pkcs11/libkeyward.so
  p11-kit list-modules`)
	system := f.Bool("system", false, "register for every user (/etc/pkcs11/modules)")
	module := f.String("module", "", "path of libkeyward.so (default: found beside keyward or in the usual library directories)")
	dir := f.String("dir", "", "write the .module file in this directory instead")
	force := f.Bool("force", false, "uninstall: remove keyward.module even if keyward did not write it")
	if _, err := f.parseArgs(args[1:], 0, 0, "keyward p11kit "+sub); err != nil {
		return err
	}
	d := *dir
	if d == "" && !*system && os.Geteuid() == 0 {
		// p11-kit reads no user configuration for root: a file in root's ~/.config would be ignored.
		*system = true
		fmt.Fprintln(c.stderr, "keyward: p11kit: running as root, so system-wide (p11-kit ignores root's user configuration): /etc/pkcs11/modules")
	}
	if d == "" {
		d = c.moduleDir(*system)
	}
	path := filepath.Join(d, "keyward.module")
	if sub == "uninstall" {
		b, err := os.ReadFile(path)
		if os.IsNotExist(err) {
			fmt.Fprintf(c.stdout, "%s is not there: nothing to do\n", path)
			return nil
		}
		if err != nil {
			return failf("p11kit uninstall: cannot read %s: %v", path, unwrapPathErr(err))
		}
		if !bytes.Contains(b, []byte(moduleMarker)) && !*force {
			return failf("p11kit uninstall: %s was not written by keyward; remove it yourself or add --force", path)
		}
		if err := os.Remove(path); err != nil {
			return failf("p11kit uninstall: cannot remove %s: %v", path, unwrapPathErr(err))
		}
		fmt.Fprintf(c.stdout, "removed %s\n", path)
		return nil
	}
	mod := *module
	if mod == "" {
		var found bool
		if mod, found = c.findModule(); !found {
			return notFoundf("p11kit install: libkeyward.so not found (looked beside keyward and in the usual library directories); give --module PATH")
		}
	} else {
		abs, err := filepath.Abs(mod)
		if err != nil {
			return usagef("p11kit install: bad --module path")
		}
		if fi, err := os.Stat(abs); err != nil || fi.IsDir() {
			return notFoundf("p11kit install: %s is not a file", abs)
		}
		mod = abs
	}
	if err := os.MkdirAll(d, 0o755); err != nil {
		return failf("p11kit install: cannot create %s: %v", d, unwrapPathErr(err))
	}
	content := fmt.Sprintf("%s\nmodule: %s\ncritical: no\n", moduleMarker, mod)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		return failf("p11kit install: cannot write %s: %v", path, unwrapPathErr(err))
	}
	fmt.Fprintf(c.stdout, "wrote %s (module: %s)\n", path, mod)
	return nil
}

// setting is one configuration value and where it comes from.
type setting struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Source string `json:"source"`
}

func (c *cli) settings() []setting {
	var out []setting
	env := func(name, def, defSource string) setting {
		if v, ok := c.lookupEnv(name); ok {
			return setting{name, v, "$" + name}
		}
		return setting{name, def, defSource}
	}
	// socket, as pkg/client chooses it
	sock := setting{Name: "socket"}
	switch {
	case c.getenv("KEYWARD_SOCKET") != "":
		sock.Value, sock.Source = c.getenv("KEYWARD_SOCKET"), "$KEYWARD_SOCKET"
	case isSocket(client.SystemSocket):
		sock.Value, sock.Source = client.SystemSocket, "system daemon (the socket exists)"
	default:
		sock.Value = client.UserSocketPath()
		sock.Source = "user mode default ($XDG_RUNTIME_DIR/keyward/keyward.sock, else /tmp/keyward-UID)"
	}
	mode := "user"
	if sock.Value == client.SystemSocket {
		mode = "system"
	}
	out = append(out, sock, setting{"mode", mode, "from the socket"})
	home, _ := os.UserHomeDir()
	xdg := func(name, fallback string) (string, string) {
		if v := c.getenv(name); v != "" {
			return v, "$" + name
		}
		return filepath.Join(home, fallback), "default (" + name + " unset)"
	}
	if mode == "system" {
		out = append(out, setting{"store", "/var/lib/keyward", "system mode default"}, setting{"root-key", "/etc/keyward/root.key", "system mode default"})
	} else {
		data, src := xdg("XDG_DATA_HOME", ".local/share")
		out = append(out, setting{"store", filepath.Join(data, "keyward"), src})
		conf, src := xdg("XDG_CONFIG_HOME", ".config")
		out = append(out, setting{"root-key", filepath.Join(conf, "keyward", "root.key"), src})
	}
	out = append(out, env("KEYWARD_CONF", "", "unset"), env("KEYWARD_AUTOSTART", "1", "default (libkeyward.so starts a user daemon)"),
		env("KEYWARD_DEBUG", "0", "default"))
	if m, ok := c.findModule(); ok {
		out = append(out, setting{"module", m, "found"})
	} else {
		out = append(out, setting{"module", "", "libkeyward.so not found"})
	}
	for _, sys := range []bool{false, true} {
		p := filepath.Join(c.moduleDir(sys), "keyward.module")
		name := "p11kit-user"
		if sys {
			name = "p11kit-system"
		}
		if _, err := os.Stat(p); err == nil {
			out = append(out, setting{name, p, "registered"})
		} else {
			out = append(out, setting{name, "", "not registered"})
		}
	}
	pinSrc := "prompt"
	if _, ok := c.lookupEnv("KEYWARD_PIN"); ok {
		pinSrc = "$KEYWARD_PIN (value not shown)"
	}
	out = append(out, setting{"user PIN", pinSrc, "--pin-source FILE overrides"})
	return out
}

func isSocket(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode()&os.ModeSocket != 0
}

func (c *cli) cmdConfig(args []string) error {
	f := c.newFlags("config", `usage: keyward config [--json]

Prints the effective configuration (socket, mode, store, root key, environment, p11-kit registration) and
where each value comes from. Never prints a PIN.

example:
  keyward config`).withJSON()
	if _, err := f.parseArgs(args, 0, 0, "keyward config"); err != nil {
		return err
	}
	s := c.settings()
	if *f.json {
		return c.printJSON(s)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	for _, x := range s {
		v := x.Value
		if v == "" {
			v = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t(%s)\n", x.Name, v, x.Source)
	}
	return tw.Flush()
}

type check struct {
	Name   string `json:"check"`
	Status string `json:"status"` // ok, warn, fail
	Detail string `json:"detail"`
}

func (c *cli) cmdDoctor(args []string) error {
	f := c.newFlags("doctor", `usage: keyward doctor [--json]

Checks the daemon, its socket, the tokens, the store's and root key's permissions (when this user can see
them) and the p11-kit registration, and says in plain words what is wrong. Exit 1 when a check fails.

example:
  keyward doctor`).withJSON()
	if _, err := f.parseArgs(args, 0, 0, "keyward doctor"); err != nil {
		return err
	}
	var checks []check
	add := func(name, status, format string, a ...any) {
		checks = append(checks, check{name, status, fmt.Sprintf(format, a...)})
	}
	settings := map[string]setting{}
	for _, s := range c.settings() {
		settings[s.Name] = s
	}
	sock := settings["socket"].Value
	// Connect first: that starts the per-user daemon when nothing listens, as any client would.
	c2 := *c
	c2.conn = nil
	cl, err := c2.dial()
	if !isSocket(sock) {
		if _, err := os.Stat(sock); err == nil {
			add("socket", "fail", "%s exists but is not a socket", sock)
		} else {
			add("socket", "fail", "%s does not exist: keywardd is not running (libkeyward.so starts it on first use unless KEYWARD_AUTOSTART=0; or start keywardd --user)", sock)
		}
	} else {
		add("socket", "ok", "%s (%s)", sock, settings["socket"].Source)
		if fi, err := os.Stat(filepath.Dir(sock)); err == nil && fi.Mode().Perm()&0o002 != 0 && fi.Mode()&os.ModeSticky == 0 {
			add("socket directory", "warn", "%s is world-writable: another user could replace the socket", filepath.Dir(sock))
		}
	}
	if err != nil {
		add("daemon", "fail", "%v", strings.TrimPrefix(err.Error(), "keyward: "))
	} else {
		defer cl.Close()
		if info, err := cl.GetInfo(); err != nil {
			add("daemon", "fail", "keywardd answers but C_GetInfo fails: %v", err)
		} else {
			add("daemon", "ok", "%s %s, library version %s", trimPad(info.ManufacturerID), trimPad(info.LibraryDescription), info.LibraryVersion)
		}
		c3 := c2
		c3.conn = cl
		ts, err := c3.tokens(false)
		switch {
		case err != nil:
			add("tokens", "fail", "cannot list tokens: %v", err)
		case len(ts) == 0:
			add("tokens", "warn", "no initialised token yet: keyward token init --label NAME")
		default:
			for _, t := range ts {
				st, detail := "ok", tokenState(t.info.Flags)
				if t.info.Flags&(ck.CKF_USER_PIN_LOCKED|ck.CKF_SO_PIN_LOCKED) != 0 {
					st = "fail"
					detail += " (the SO resets a locked user PIN with keyward pin unlock)"
				} else if t.info.Flags&ck.CKF_USER_PIN_INITIALIZED == 0 {
					st = "warn"
					detail += " (keyward pin init)"
				}
				add("token "+t.label, st, "%s", detail)
			}
		}
	}
	for _, name := range []string{"store", "root-key"} {
		p := settings[name].Value
		if name == "root-key" && c.doctorSeal(p, add) {
			continue // sealed: root.seal replaces the key file
		}
		fi, err := os.Stat(p)
		switch {
		case os.IsNotExist(err):
			add(name, "warn", "%s does not exist (created when the daemon first starts in this mode)", p)
		case os.IsPermission(err):
			add(name, "ok", "%s is not readable by this user (as it should be for another user's daemon)", p)
		case err != nil:
			add(name, "warn", "%s: %v", p, unwrapPathErr(err))
		case fi.Mode().Perm()&0o077 != 0:
			add(name, "fail", "%s has mode %v: other users can read it; chmod go-rwx %s", p, fi.Mode().Perm(), p)
		default:
			add(name, "ok", "%s (mode %v)", p, fi.Mode().Perm())
		}
	}
	if m := settings["module"]; m.Value != "" {
		add("module", "ok", "%s", m.Value)
	} else {
		add("module", "warn", "libkeyward.so not found beside keyward or in the usual library directories")
	}
	if settings["p11kit-user"].Value == "" && settings["p11kit-system"].Value == "" {
		add("p11-kit", "warn", "Keyward is not registered with p11-kit (keyward p11kit install)")
	} else {
		st, detail := p11kitListed()
		add("p11-kit", st, "%s", detail)
	}
	failures := 0
	for _, ch := range checks {
		if ch.Status == "fail" {
			failures++
		}
	}
	if *f.json {
		if err := c.printJSON(checks); err != nil {
			return err
		}
	} else {
		tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
		for _, ch := range checks {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", strings.ToUpper(ch.Status), ch.Name, ch.Detail)
		}
		tw.Flush()
	}
	if failures > 0 {
		return failf("doctor: %d check(s) failed", failures)
	}
	return nil
}
