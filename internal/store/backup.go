package store

import (
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
)

// Backup and restore. A backup is one SQLite file: a consistent snapshot of the store's database (VACUUM
// INTO runs in one read transaction, so a live daemon's writes either are in it or are not), holding what the
// store holds: token records and objects, all encrypted and bound to the device root key, which is not in it.
// Opening a restored store needs that root key (and the PINs, for the private objects).

// Backup writes a consistent snapshot of the store in dir to the new file dest. It works while a daemon owns
// the store (it takes no store lock; SQLite's WAL lets a reader run beside the writer).
func Backup(dir, dest string) error {
	dbPath := filepath.Join(dir, DBFile)
	if _, err := os.Stat(dbPath); err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	if _, err := os.Stat(dest); err == nil {
		return fmt.Errorf("store: backup: %s exists", dest)
	}
	u := url.URL{Scheme: "file", Path: dbPath}
	db, err := sql.Open("sqlite", u.String()+fmt.Sprintf("?_pragma=busy_timeout(%d)", busyTimeoutMS))
	if err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if err := checkKeyward(db); err != nil {
		return err
	}
	if _, err := db.Exec("VACUUM INTO ?", dest); err != nil {
		os.Remove(dest)
		return fmt.Errorf("store: backup: %w", err)
	}
	f, err := os.Open(dest)
	if err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("store: backup: fsync: %w", err)
	}
	return syncDir(filepath.Dir(dest))
}

// checkKeyward checks that db is a Keyward store this build reads.
func checkKeyward(db *sql.DB) error {
	var appID, version int
	if err := db.QueryRow("PRAGMA application_id").Scan(&appID); err != nil {
		return fmt.Errorf("store: not a readable SQLite database: %w", err)
	}
	if err := db.QueryRow("PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("store: not a readable SQLite database: %w", err)
	}
	if appID != ApplicationID {
		return errors.New("store: not a Keyward store (another SQLite application's file)")
	}
	if version > len(migrations) {
		return fmt.Errorf("store: schema version %d is newer than this build's %d", version, len(migrations))
	}
	return nil
}

// Restore makes the store in dir a copy of the backup file src. It refuses while a daemon owns the store
// (ErrLocked), and refuses a store that holds a database unless replace is set. The backup is checked
// (a Keyward store, SQLite's integrity check) before anything in dir changes; the database is replaced
// atomically (a temporary file, fsync'd, renamed into place).
func Restore(src, dir string, replace bool) error {
	u := url.URL{Scheme: "file", Path: src}
	db, err := sql.Open("sqlite", u.String()+"?mode=ro")
	if err != nil {
		return fmt.Errorf("store: restore: %w", err)
	}
	err = checkKeyward(db)
	if err == nil {
		var res string
		if qerr := db.QueryRow("PRAGMA integrity_check").Scan(&res); qerr != nil || res != "ok" {
			err = fmt.Errorf("store: restore: the backup fails SQLite's integrity check (%v %s)", qerr, res)
		}
	}
	db.Close()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("store: restore: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, LockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("store: restore: %w", err)
	}
	defer lock.Close()
	if err := flock(lock); err != nil {
		return err
	}
	dbPath := filepath.Join(dir, DBFile)
	if _, err := os.Stat(dbPath); err == nil && !replace {
		return fmt.Errorf("store: restore: %s already holds a store", dir)
	}
	data, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("store: restore: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".restore-*")
	if err != nil {
		return fmt.Errorf("store: restore: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("store: restore: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("store: restore: fsync: %w", err)
	}
	tmp.Close()
	// The old database's log belongs to the old database: it must not be replayed onto the restored one.
	for _, suffix := range []string{"-wal", "-shm"} {
		if err := os.Remove(dbPath + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("store: restore: %w", err)
		}
	}
	if err := os.Rename(tmp.Name(), dbPath); err != nil {
		return fmt.Errorf("store: restore: %w", err)
	}
	return syncDir(dir)
}
