// Command keywardd is the Keyward daemon: it owns every key and does every operation, serving the Keyward wire
// protocol on a Unix socket to libkeyward.so, pkg/client and the keyward CLI.
//
// System mode (the default) serves /run/keyward/keyward.sock from the store /var/lib/keyward. User mode
// (--user, what libkeyward.so starts by itself when no system daemon runs) serves
// $XDG_RUNTIME_DIR/keyward/keyward.sock from $XDG_DATA_HOME/keyward and exits after an idle period.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/keyward/keyward/internal/daemon"
	"github.com/keyward/keyward/internal/engine"
	"github.com/keyward/keyward/internal/mech"
	"github.com/keyward/keyward/internal/socketdir"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/vault"
)

// exitAlreadyRunning is the exit status when another daemon owns the store.
const exitAlreadyRunning = 3

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

type options struct {
	user        bool
	socket      string
	storeDir    string
	rootKey     string
	idleExit    time.Duration
	legacy      bool
	logLevel    string
	logFile     string
	maxFailures int
	kdf         string
	pidFile     string
	pprof       string
	audit       string
	config      string
	// configDefault: config is the system-mode default, which may be missing.
	configDefault bool
	showVersion   bool
	durability    string // "" (from the configuration file, else full), full or batched
	logOut        *reopenFile
	seal          sealFlags
	minRSABits    int // 0: from the configuration file, else 2048
}

func parse(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("keywardd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &options{}
	fs.BoolVar(&o.user, "user", false, "run as the calling user's daemon (socket under $XDG_RUNTIME_DIR, store under $XDG_DATA_HOME)")
	fs.StringVar(&o.socket, "socket", "", "socket path (default: by mode)")
	fs.StringVar(&o.storeDir, "store", "", "store directory (default: by mode)")
	fs.StringVar(&o.rootKey, "root-key", "", "device root key file (default: by mode; never inside the store)")
	fs.DurationVar(&o.idleExit, "idle-exit", -1, "exit after this long without clients (default: 5m in user mode, never in system mode; 0: never)")
	fs.BoolVar(&o.legacy, "legacy-protocol", false, "answer as a daemon without the fused calls (compatibility tests of newer clients)")
	fs.StringVar(&o.logLevel, "log-level", "", "debug, info, warn or error (default: info, or debug with KEYWARD_DEBUG)")
	fs.StringVar(&o.logFile, "log", "", "append logs to this file instead of stderr (SIGHUP reopens it; default for a user-mode daemon whose stderr is /dev/null, as when a client starts it: $XDG_STATE_HOME/keyward/keywardd.log)")
	fs.IntVar(&o.maxFailures, "max-pin-failures", 10, "consecutive wrong PINs before a PIN locks")
	fs.StringVar(&o.kdf, "kdf", os.Getenv("KEYWARD_KDF"), `PIN derivation cost: "default", or "fast" for tests only`)
	fs.StringVar(&o.pidFile, "pid-file", "", "write the daemon's pid here (default in user mode: keywardd.pid beside the socket)")
	// Flag only, never from the environment: the user-mode daemon inherits the environment of whatever
	// application started it, and no application may switch on a debug endpoint.
	fs.StringVar(&o.pprof, "pprof", "", "debug only: serve net/http/pprof on this loopback address (e.g. 127.0.0.1:6060); off by default")
	fs.StringVar(&o.config, "config", os.Getenv("KEYWARD_CONF"), "configuration file (YAML: token access policies, identity login, audit); default $KEYWARD_CONF, else in system mode "+SystemConfig+" when it exists; SIGHUP reloads its token policies")
	fs.StringVar(&o.durability, "durability", "", fmt.Sprintf(`store durability: "full" (the default: a write is on disk when it returns) or "batched" (object creations and destructions are fsync'd in the background within %v: faster, but a power loss can undo the last %v of them); overrides the configuration file's durability`, store.DefaultSyncInterval, store.DefaultSyncInterval))
	fs.StringVar(&o.audit, "audit", "", "append the audit log (JSON lines: logins, PIN changes, key generation, import, destruction, key use) to this file")
	o.seal.register(fs)
	fs.BoolVar(&o.showVersion, "version", false, "print the version and exit")
	fs.IntVar(&o.minRSABits, "min-rsa-bits", 0, "smallest RSA modulus key generation makes, 1024 to 4096 (default: the configuration file's min_rsa_bits, else 2048)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() != 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	home, _ := os.UserHomeDir()
	xdg := func(env, fallback string) string {
		if v := os.Getenv(env); v != "" {
			return v
		}
		return filepath.Join(home, fallback)
	}
	if o.user {
		if o.socket == "" {
			o.socket = socketdir.UserSocketPath()
		}
		if o.storeDir == "" {
			o.storeDir = filepath.Join(xdg("XDG_DATA_HOME", ".local/share"), "keyward")
		}
		if o.rootKey == "" {
			o.rootKey = filepath.Join(xdg("XDG_CONFIG_HOME", ".config"), "keyward", "root.key")
		}
		if o.idleExit < 0 {
			o.idleExit = 5 * time.Minute
		}
		if o.pidFile == "" {
			o.pidFile = filepath.Join(filepath.Dir(o.socket), "keywardd.pid")
		}
	} else {
		if o.socket == "" {
			o.socket = socketdir.SystemSocket
		}
		if o.storeDir == "" {
			o.storeDir = "/var/lib/keyward"
		}
		if o.rootKey == "" {
			o.rootKey = "/etc/keyward/root.key"
		}
		if o.config == "" {
			o.config, o.configDefault = SystemConfig, true
		}
	}
	if o.idleExit < 0 {
		o.idleExit = 0
	}
	if o.pprof != "" {
		if !pprofBuilt {
			return nil, errors.New("--pprof: this keywardd is built without it (go build -tags pprof)")
		}
		if err := checkLoopback(o.pprof); err != nil {
			return nil, fmt.Errorf("--pprof: %w", err)
		}
	}
	switch o.kdf {
	case "", "default", "fast":
	default:
		return nil, fmt.Errorf("unknown --kdf %q", o.kdf)
	}
	if o.minRSABits != 0 {
		if err := mech.CheckRSAGenMinBits(o.minRSABits); err != nil {
			return nil, fmt.Errorf("--min-rsa-bits: %w", err)
		}
	}
	if o.durability != "" {
		if _, err := store.ParseDurability(o.durability); err != nil {
			return nil, fmt.Errorf("--durability %q: want full or batched", o.durability)
		}
	}
	return o, nil
}

func newLogger(o *options, stderr io.Writer) (*slog.Logger, error) {
	level := slog.LevelInfo
	if d := os.Getenv("KEYWARD_DEBUG"); d != "" && d != "0" {
		level = slog.LevelDebug
	}
	if o.logLevel != "" {
		if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
			return nil, fmt.Errorf("--log-level: %w", err)
		}
	}
	w := stderr
	if o.logFile == "" && o.user {
		o.logFile = autostartLog(stderr)
	}
	if o.logFile != "" {
		f, err := openReopenFile(o.logFile)
		if err != nil {
			return nil, err
		}
		o.logOut = f
		w = f
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})), nil
}

// harden applies the process settings a key-holding daemon wants before it reads any key.
func harden(log *slog.Logger) {
	unix.Umask(0o077)
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		log.Warn("cannot disable core dumps and ptrace attach", "err", err)
	}
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{}); err != nil {
		log.Warn("cannot set the core size limit to zero", "err", err)
	}
	// Keep keys out of swap. Locking future mappings makes every heap arena the Go runtime maps resident, so
	// it is done only where the memlock limit is unlimited (LimitMEMLOCK=infinity in keywardd.service);
	// elsewhere one warning says so.
	var ml unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &ml); err == nil && ml.Cur == unix.RLIM_INFINITY {
		if err := unix.Mlockall(unix.MCL_CURRENT | unix.MCL_FUTURE); err != nil {
			log.Warn("cannot lock memory: keys may reach swap", "err", err)
		}
	} else {
		log.Warn("memory is not locked (the memlock limit is not unlimited): keys may reach swap unless swap is off or encrypted", "memlock_limit", ml.Cur)
	}
}

// tuneGC sets the collector for a daemon whose live heap is often small (tens of MiB) but which allocates
// per request (a 1 MiB payload makes a 1 MiB output): at Go's default (GOGC=100) a small heap is collected
// very often, and on some VMs every page faulted in again is expensive (docs/performance.md). So the
// collector may let garbage grow to gcHeadroom beyond the live heap (GOGC up to 400) while the live heap is
// small, and runs at the default once it is large (a store of 100k objects), where that headroom is already
// there; a soft limit from the cgroup or the RAM (softMemoryLimit) bounds both. GOGC or GOMEMLIMIT in the
// environment turn this off.
func tuneGC() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(softMemoryLimit())
	}
	if os.Getenv("GOGC") != "" {
		return
	}
	debug.SetGCPercent(gcPercentFor(0))
	go func() {
		sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		for range time.Tick(2 * time.Second) {
			metrics.Read(sample)
			if sample[0].Value.Kind() == metrics.KindUint64 {
				debug.SetGCPercent(gcPercentFor(sample[0].Value.Uint64()))
			}
		}
	}()
}

// gcHeadroom is the garbage a small heap may gather between collections.
const gcHeadroom = 64 << 20

// gcPercentFor is the GOGC for a live heap of live bytes: headroom of gcHeadroom, between 100 and 400.
func gcPercentFor(live uint64) int {
	if live == 0 {
		return 400
	}
	return int(min(400, max(100, 100*gcHeadroom/live)))
}

func run(args []string, stderr io.Writer) (code int) {
	o, err := parse(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "keywardd:", err)
		return 2
	}
	if o.showVersion {
		fmt.Println(versionText("keywardd"))
		return 0
	}
	// SIGHUP from here on is a reload (handled once the engine runs), never the default exit; SIGTERM and SIGINT
	// are a clean shutdown, also when they come before the socket is served (the default would leave it behind).
	hups := make(chan os.Signal, 1)
	signal.Notify(hups, syscall.SIGHUP)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	log, err := newLogger(o, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "keywardd:", err)
		return 2
	}
	harden(log)
	tuneGC()

	// The configuration file first: it may choose the store's durability.
	fc, err := loadConfig(o)
	if err != nil {
		log.Error("cannot read the configuration", "err", err)
		return 2
	}
	durability := o.durability
	if durability == "" && fc != nil {
		durability = fc.Durability
	}
	dur, err := store.ParseDurability(durability) // checked by parse and config.Load
	if err != nil {
		log.Error("bad durability", "err", err)
		return 2
	}

	st, err := store.OpenWith(o.storeDir, store.Options{Durability: dur})
	if errors.Is(err, store.ErrLocked) {
		log.Info("another keywardd owns the store; exiting", "store", o.storeDir)
		return exitAlreadyRunning
	}
	if err != nil {
		log.Error("cannot open the store", "store", o.storeDir, "err", err)
		return 1
	}
	defer func() {
		// In the batched mode Close is what makes the last window's writes durable.
		if err := st.Close(); err != nil {
			log.Error("closing the store failed", "store", o.storeDir, "err", err)
			if code == 0 {
				code = 1
			}
		}
	}()
	switch {
	case st.ReadOnly():
		log.Info("store durability", "mode", "read-only")
	case st.Durability() == store.DurabilityBatched:
		log.Info("store durability", "mode", string(st.Durability()), "sync_window", st.SyncInterval().String(),
			"note", "object writes are fsync'd in the background: a power loss can undo the last window of them")
	default:
		log.Info("store durability", "mode", string(st.Durability()), "note", "every write is fsync'd before it returns")
	}
	cfg := engine.Config{MaxPINFailures: o.maxFailures, Logger: log}
	if fc != nil {
		cfg.Policies = fc.Policies()
		fc.Limits.Apply(&cfg)
		cfg.Views = fc.KeyViews()
		if fc.MaxPINFailures > 0 && !flagSet(args, "max-pin-failures") {
			cfg.MaxPINFailures = fc.MaxPINFailures
		}
		if o.audit == "" {
			o.audit = fc.Audit
		}
		log.Info("configuration loaded", "path", o.config, "token_policies", len(cfg.Policies))
	}
	if bits := o.minRSABits; bits != 0 || (fc != nil && fc.MinRSABits != 0) {
		if bits == 0 {
			bits = fc.MinRSABits
		}
		if err := mech.SetRSAGenMinBits(bits); err != nil {
			log.Error("cannot set the RSA key-generation minimum", "err", err)
			return 1
		}
		log.Info("RSA key generation", "min_rsa_bits", bits)
	}
	hup := &reloader{o: o, log: log}
	if o.logOut != nil {
		hup.files = append(hup.files, o.logOut)
	}
	if o.audit != "" {
		f, err := openReopenFile(o.audit)
		if err != nil {
			log.Error("cannot open the audit log", "path", o.audit, "err", err)
			return 1
		}
		defer f.Close()
		hup.files = append(hup.files, f)
		cfg.Audit = slog.New(slog.NewJSONHandler(f, nil))
	}
	if o.kdf == "fast" {
		cfg.KDF = vault.FastKDF
		log.Warn("PIN derivation is set to the fast test setting: do not use this store for real keys")
	}
	applyKDFSettings(&cfg, fc, log) // memory.go
	// After the audit log opens, so that a root key that does not unseal is recorded there.
	root, err := loadRootKey(&o.seal, fc, o.rootKey, st, log, cfg.Audit)
	if err != nil {
		return 1
	}
	if cfg.PINSeal, cfg.BindPINs, err = pinSeal(&o.seal, fc, o.rootKey); err != nil {
		clear(root)
		log.Error("cannot bind PINs to the TPM", "err", err)
		return 1
	}
	if cfg.BindPINs {
		log.Info("PINs set from now on are bound to the TPM (tpm2.pin_binding)")
	}
	eng, err := engine.New(st, root, cfg)
	clear(root)
	if err != nil {
		log.Error("cannot start the engine", "err", err)
		return 1
	}
	defer eng.Close()
	hup.eng = eng

	ln, activated, err := listen(o, log)
	if err != nil {
		log.Error("cannot listen", "socket", o.socket, "err", err)
		return 1
	}
	if o.pidFile != "" {
		if err := os.WriteFile(o.pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err != nil {
			log.Warn("cannot write the pid file", "path", o.pidFile, "err", err)
		}
		defer os.Remove(o.pidFile)
	}
	if o.pprof != "" {
		startPprof(o.pprof, log)
	}
	srv := daemon.NewServer(eng.Open, log)
	srv.IdleExit = o.idleExit
	srv.Legacy = o.legacy
	if fc != nil {
		srv.Limits = fc.Connections.Limits()
	}
	daemon.RaiseFileLimit() // the connection cap is fitted under it

	go func() {
		for range hups {
			hup.reload()
		}
	}()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	log.Info("keywardd serving", "socket", o.socket, "store", o.storeDir, "user_mode", o.user, "pid", os.Getpid(),
		"rsa", mech.RSABackend())
	select {
	case sig := <-sigs:
		log.Info("shutting down", "signal", sig.String())
		srv.Shutdown()
		<-done
	case err := <-done:
		if errors.Is(err, daemon.ErrIdle) {
			log.Info("idle; exiting")
			srv.Shutdown()
		} else if err != nil {
			log.Error("serving failed", "err", err)
			return 1
		}
	}
	if !activated {
		os.Remove(o.socket) // a socket systemd passed us is systemd's to keep
	}
	return 0
}

// listen returns the systemd-activated socket if there is one (activated), else binds the socket path. The store lock is
// already held, so a stale socket file can be removed safely.
func listen(o *options, log *slog.Logger) (ln net.Listener, activated bool, err error) {
	if pid, _ := strconv.Atoi(os.Getenv("LISTEN_PID")); pid == os.Getpid() {
		if n, _ := strconv.Atoi(os.Getenv("LISTEN_FDS")); n >= 1 {
			f := os.NewFile(3, "systemd-socket")
			ln, err := net.FileListener(f)
			f.Close()
			if err != nil {
				return nil, false, fmt.Errorf("systemd socket: %w", err)
			}
			// Go's listener would unlink the path on Close; the socket belongs to systemd.
			if ul, ok := ln.(*net.UnixListener); ok {
				ul.SetUnlinkOnClose(false)
			}
			log.Info("using the socket passed by systemd")
			return ln, true, nil
		}
	}
	dir := filepath.Dir(o.socket)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, err
	}
	if o.user {
		// The user-mode directory may be /tmp/keyward-UID, which another user could have made first: never
		// serve (and receive PINs) in a directory that is not ours alone.
		check := socketdir.CheckOwnDir
		if o.socket == socketdir.UserSocketPath() {
			check = socketdir.CheckPrivateDir // what the clients require of the default path
		}
		if err := check(dir); err != nil {
			return nil, false, err
		}
	}
	if err := os.Remove(o.socket); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, false, err
	}
	ln, err = net.Listen("unix", o.socket)
	if err != nil {
		return nil, false, err
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	mode := os.FileMode(0o600)
	if !o.user {
		mode = 0o660
	}
	if err := os.Chmod(o.socket, mode); err != nil {
		ln.Close()
		return nil, false, err
	}
	return ln, false, nil
}

// checkLoopback accepts only a loopback host: the profiler must never be reachable from another machine.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%q is not a loopback address", addr)
	}
	return nil
}

// flagSet reports whether a flag was given on the command line (flags win over the configuration file).
func flagSet(args []string, name string) bool {
	for _, a := range args {
		if a == "-"+name || a == "--"+name || strings.HasPrefix(a, "-"+name+"=") || strings.HasPrefix(a, "--"+name+"=") {
			return true
		}
	}
	return false
}
