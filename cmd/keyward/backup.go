package main

import (
	"errors"
	"fmt"

	"github.com/keyward/keyward/internal/store"
)

// keyward backup / restore: the store's database as one file (internal/store/backup.go).

const backupHelp = `
A backup holds every token record and object of the store, encrypted as the store keeps them and bound to
the device root key, which is NOT in the backup: keep the root key (/etc/keyward/root.key in system mode,
~/.config/keyward/root.key in user mode) safe and apart. A restored store opens only with that root key, and
its private objects only with the token PINs.`

func (c *cli) storeDir(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	for _, s := range c.settings() {
		if s.Name == "store" {
			return s.Value
		}
	}
	return ""
}

func (c *cli) cmdBackup(args []string) error {
	f := c.newFlags("backup", `usage: keyward backup FILE [--store DIR]

Writes a consistent snapshot of the store to FILE (a new file), also while keywardd runs: SQLite's
VACUUM INTO in one read transaction. Needs read access to the store (root, or the daemon's user).
`+backupHelp+`

examples:
  keyward backup /backup/keyward-$(date +%F).db
  keyward backup store.db --store /var/lib/keyward`)
	dir := f.String("store", "", "the store directory (default: by mode, as keyward config shows)")
	pos, err := f.parseArgs(args, 1, 1, "keyward backup FILE")
	if err != nil {
		return err
	}
	d := c.storeDir(*dir)
	if err := store.Backup(d, pos[0]); err != nil {
		return failf("backup of the store %s: %v", d, trimStoreErr(err))
	}
	fmt.Fprintf(c.stdout, "backed up the store %s to %s; it opens only with the store's root key (not in the backup)\n", d, pos[0])
	return nil
}

func (c *cli) cmdRestore(args []string) error {
	f := c.newFlags("restore", `usage: keyward restore FILE --store DIR [--force]

Makes the store DIR a copy of the backup FILE, after checking that FILE is a Keyward store that passes
SQLite's integrity check. keywardd must not run on DIR (stop it first); a DIR that holds a store needs
--force (its content is replaced). Then start keywardd with the root key of the store the backup came from.
`+backupHelp+`

example:
  systemctl stop keywardd; keyward restore backup.db --store /var/lib/keyward --force; systemctl start keywardd`)
	dir := f.String("store", "", "the store directory to restore into (required)")
	force := f.Bool("force", false, "replace a store that is there")
	pos, err := f.parseArgs(args, 1, 1, "keyward restore FILE --store DIR")
	if err != nil {
		return err
	}
	if *dir == "" {
		return usagef("restore: --store DIR is required (the store to replace is named, never guessed)")
	}
	if err := store.Restore(pos[0], *dir, *force); err != nil {
		if errors.Is(err, store.ErrLocked) {
			return failf("restore: a keywardd owns the store %s: stop it first", *dir)
		}
		return failf("restore into %s: %v", *dir, trimStoreErr(err))
	}
	fmt.Fprintf(c.stdout, "restored %s into the store %s\n", pos[0], *dir)
	return nil
}

// trimStoreErr drops the package prefixes of a store error.
func trimStoreErr(err error) string {
	s := err.Error()
	for _, p := range []string{"store: backup: ", "store: restore: ", "store: "} {
		if len(s) > len(p) && s[:len(p)] == p {
			s = s[len(p):]
		}
	}
	return s
}
