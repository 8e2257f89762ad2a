package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"github.com/keyward/keyward/internal/daemon"
	"github.com/keyward/keyward/internal/engine"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/vault"
)

// Offline provisioning (keyward --store DIR [--root-key FILE] COMMAND ...): the CLI opens a store itself,
// to provision an image before first boot, instead of talking to a running keywardd. It serves the store's
// engine on a private socket inside this process for the duration of the command, so every command works the
// same way in both modes. The store's lock refuses this while a daemon owns the store.

// offline holds the global options that select offline mode.
type offline struct {
	store, rootKey string
	stop           func()
	eng            *engine.Engine // the store's engine while a command runs offline
}

// defaultRootKey is where a system-mode daemon finds the device root key.
const defaultRootKey = "/etc/keyward/root.key"

// parseGlobal takes the global options (--store, --root-key) off the front of args.
func (c *cli) parseGlobal(args []string) ([]string, error) {
	for len(args) > 0 {
		name, value, inline := cutFlag(args[0])
		if name != "store" && name != "root-key" {
			break
		}
		if !inline {
			if len(args) < 2 {
				return nil, usagef("--%s needs a value", name)
			}
			value, args = args[1], args[1:]
		}
		args = args[1:]
		if name == "store" {
			c.offline.store = value
		} else {
			c.offline.rootKey = value
		}
	}
	if c.offline.rootKey != "" && c.offline.store == "" {
		return nil, usagef("--root-key goes with --store")
	}
	return args, nil
}

func cutFlag(arg string) (name, value string, inline bool) {
	for _, prefix := range []string{"--", "-"} {
		if len(arg) > len(prefix) && arg[:len(prefix)] == prefix {
			rest := arg[len(prefix):]
			for i := 0; i < len(rest); i++ {
				if rest[i] == '=' {
					return rest[:i], rest[i+1:], true
				}
			}
			return rest, "", false
		}
	}
	return "", "", false
}

// startOffline opens the store and serves it on a private socket; it returns the socket path.
func (c *cli) startOffline() (string, error) {
	st, err := store.Open(c.offline.store)
	if errors.Is(err, store.ErrLocked) {
		return "", &cliError{code: exitFailed, msg: fmt.Sprintf("the store %s is in use by a running keywardd: stop it, or run this command without --store to go through the daemon", c.offline.store)}
	}
	if err != nil {
		return "", &cliError{code: exitFailed, msg: fmt.Sprintf("cannot open the store %s: %v", c.offline.store, err)}
	}
	rootKey := c.offline.rootKey
	if rootKey == "" {
		rootKey = defaultRootKey
	}
	root, err := c.loadRootKey(rootKey, st)
	if err != nil {
		st.Close()
		return "", &cliError{code: exitFailed, msg: fmt.Sprintf("cannot load the device root key %s: %v", rootKey, err)}
	}
	cfg := engine.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if mib, err := strconv.ParseUint(c.getenv("KEYWARD_KDF_MEMORY_MIB"), 10, 32); err == nil && mib >= 8 && mib <= 1024 {
		cfg.KDF = vault.KDFForMemory(uint32(mib)) // the device's setting when provisioning on a build host
	}
	if c.getenv("KEYWARD_KDF") == "fast" {
		cfg.KDF = vault.FastKDF // tests only, as for keywardd
	}
	eng, err := engine.New(st, root, cfg)
	clear(root)
	if err != nil {
		st.Close()
		return "", &cliError{code: exitFailed, msg: fmt.Sprintf("cannot read the store %s: %v", c.offline.store, err)}
	}
	dir, err := os.MkdirTemp("", "keyward-offline-")
	if err != nil {
		eng.Close()
		st.Close()
		return "", err
	}
	sock := filepath.Join(dir, "keyward.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		eng.Close()
		st.Close()
		os.RemoveAll(dir)
		return "", err
	}
	srv := daemon.NewServer(eng.Open, cfg.Logger)
	done := make(chan struct{})
	go func() { srv.Serve(ln); close(done) }()
	c.offline.eng = eng
	c.offline.stop = func() {
		srv.Shutdown()
		<-done
		eng.Close()
		st.Close()
		os.RemoveAll(dir)
	}
	return sock, nil
}
