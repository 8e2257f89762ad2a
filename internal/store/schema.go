package store

import (
	"database/sql"
	"fmt"
)

// migrations lists the schema migrations in order: migrations[i] takes the
// schema from version i to version i+1 (PRAGMA user_version). Append to the
// list; never change a migration that has been released.
var migrations = [][]string{
	// Version 1: meta, tokens, objects.
	{
		fmt.Sprintf("PRAGMA application_id = %d", ApplicationID),
		`CREATE TABLE meta (
			key   TEXT PRIMARY KEY,
			value BLOB NOT NULL
		)`,
		`CREATE TABLE tokens (
			id   INTEGER PRIMARY KEY,
			blob BLOB NOT NULL
		)`,
		`CREATE TABLE objects (
			token   INTEGER NOT NULL REFERENCES tokens(id) ON DELETE CASCADE,
			id      INTEGER NOT NULL,
			private INTEGER NOT NULL,
			blob    BLOB NOT NULL,
			PRIMARY KEY (token, id)
		)`,
	},
}

// SchemaVersion returns the schema version (PRAGMA user_version) that this
// package writes: the number of migrations it knows.
func SchemaVersion() int { return len(migrations) }

// Statements. Ids are uint64 stored as the int64 with the same bits.
// Puts are upserts rather than INSERT OR REPLACE: REPLACE deletes the old
// row first, which for a token would cascade to its objects.
const (
	sqlGetMeta = `SELECT value FROM meta WHERE key = ?`
	sqlSetMeta = `INSERT INTO meta (key, value) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`
	sqlTokens   = `SELECT id, blob FROM tokens ORDER BY id`
	sqlPutToken = `INSERT INTO tokens (id, blob) VALUES (?, ?)
		ON CONFLICT (id) DO UPDATE SET blob = excluded.blob`
	sqlDeleteToken = `DELETE FROM tokens WHERE id = ?`
	sqlObjects     = `SELECT id, private, blob FROM objects WHERE token = ? ORDER BY id`
	sqlPutObject   = `INSERT INTO objects (token, id, private, blob) VALUES (?, ?, ?, ?)
		ON CONFLICT (token, id) DO UPDATE SET private = excluded.private, blob = excluded.blob`
	sqlDeleteObject  = `DELETE FROM objects WHERE token = ? AND id = ?`
	sqlDeleteObjects = `DELETE FROM objects WHERE token = ?`
)

// migrate brings the database's schema up to SchemaVersion, one migration
// per transaction, or refuses a database from a newer schema or another
// application.
func migrate(db *sql.DB) error {
	for {
		done, err := migrateOne(db)
		if err != nil || done {
			return err
		}
	}
}

// migrateOne applies the next migration, if any, in one write transaction,
// and reports whether the schema was already current.
func migrateOne(db *sql.DB) (done bool, err error) {
	tx, err := db.Begin()
	if err != nil {
		return false, fmt.Errorf("store: migrate: begin: %w", err)
	}
	defer func() {
		if err != nil || done {
			_ = tx.Rollback()
		}
	}()
	var version, appID int64
	if err := tx.QueryRow("PRAGMA user_version").Scan(&version); err != nil {
		return false, fmt.Errorf("store: migrate: read user_version: %w", err)
	}
	if err := tx.QueryRow("PRAGMA application_id").Scan(&appID); err != nil {
		return false, fmt.Errorf("store: migrate: read application_id: %w", err)
	}
	if appID != ApplicationID && (appID != 0 || version != 0) {
		return false, fmt.Errorf("store: migrate: database has application_id %#x and user_version %d: not a Keyward store", appID, version)
	}
	if version > int64(SchemaVersion()) {
		return false, fmt.Errorf("store: migrate: database schema version %d, this program knows up to %d: %w", version, SchemaVersion(), ErrNewerSchema)
	}
	if version < 0 {
		return false, fmt.Errorf("store: migrate: database has invalid schema version %d", version)
	}
	if version == int64(len(migrations)) {
		return true, nil
	}
	for _, stmt := range migrations[version] {
		if _, err := tx.Exec(stmt); err != nil {
			return false, fmt.Errorf("store: migrate to version %d: %w", version+1, err)
		}
	}
	if _, err := tx.Exec(fmt.Sprintf("PRAGMA user_version = %d", version+1)); err != nil {
		return false, fmt.Errorf("store: migrate to version %d: set user_version: %w", version+1, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("store: migrate to version %d: commit: %w", version+1, err)
	}
	return false, nil
}
