// Package store is Keyward's persistent object store: a SQLite database
// (modernc.org/sqlite, pure Go) in a directory owned by the daemon.
//
// The store holds opaque blobs that the engine has already encrypted
// (AES-256-GCM bound to the token and object ids), so it never sees a
// plaintext secret. It knows only ids, a private flag (so the engine can skip
// private objects until login) and a small key/value table of store-wide
// values.
//
// Only one process may have a store open at a time: Open takes an exclusive
// flock on dir/keyward.lock and fails with ErrLocked if another process (or
// another Open in this process) holds it.
//
// Every write goes through a SQLite transaction in WAL mode. By default
// (DurabilityFull, synchronous=FULL), when Update or one of the
// single-statement forms returns nil, the change has been fsync'd and
// survives a crash of the process or of the machine. OpenWith can choose
// DurabilityBatched instead: the single-object writes (PutObject,
// DeleteObject) then return before their fsync, which a background syncer
// does within a short window, so that a power loss can undo the last
// window's object writes (never tear one, never corrupt the store); Update
// stays durable on return. See Durability.
package store

import (
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"modernc.org/sqlite"
)

// File names inside the store directory.
const (
	// LockFile is the name of the lock file in the store directory.
	LockFile = "keyward.lock"
	// DBFile is the name of the SQLite database file in the store directory.
	DBFile = "keyward.db"
)

// ApplicationID is the SQLite application_id of a Keyward store ("KYWD").
// Open refuses a database that carries another application's id.
const ApplicationID = 0x4B595744

// busyTimeoutMS is SQLite's busy_timeout. The flock makes contention for the
// database unlikely; the timeout covers anything else that briefly holds a
// SQLite lock (a backup tool reading the file, say).
const busyTimeoutMS = 5000

var (
	// ErrLocked is returned (wrapped) by Open when another process, or
	// another Store in this process, has the store open.
	ErrLocked = errors.New("store: locked by another process")
	// ErrNotFound is returned (wrapped) when a looked-up or deleted
	// record does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrNewerSchema is returned (wrapped) by Open when the database was
	// written by a newer Keyward with a schema this one does not know.
	ErrNewerSchema = errors.New("store: database schema is newer than this program supports")
	// ErrFull is returned (wrapped) by a write that failed for want of
	// space: SQLite's SQLITE_FULL (the disk, or the database's page
	// limit) or ENOSPC from the file system (an fsync of the batched mode
	// among them).
	ErrFull = errors.New("store: the disk or the database is full")
)

// Token is one token's record.
type Token struct {
	// ID is the token's id.
	ID uint64
	// Blob is the opaque token record, encrypted by the engine.
	Blob []byte
}

// Object is one object's record.
type Object struct {
	// Token is the id of the token the object belongs to.
	Token uint64
	// ID is the object's id, unique within its token.
	ID uint64
	// Private reports whether the object is a private object (readable
	// only after login); its blob is then encrypted under the token key.
	Private bool
	// Blob is the opaque object record, encrypted by the engine.
	Blob []byte
}

// Store is an open store. Its methods are safe for concurrent use; they are
// serialised on one SQLite connection.
type Store struct {
	dir      string
	db       *sql.DB
	lock     *os.File
	readOnly bool
	opts     Options

	// syncer fsyncs the write-ahead log (nil for a read-only store). In
	// the batched mode it also runs in the background.
	syncer  *walSyncer
	batched bool

	// Prepared statements (on the single connection).
	putObj *sql.Stmt
	delObj *sql.Stmt

	mu     sync.Mutex
	closed bool
}

// Open opens the store in dir with the default options (DurabilityFull):
// OpenWith(dir, Options{}).
func Open(dir string) (*Store, error) { return OpenWith(dir, Options{}) }

// OpenWith opens the store in dir, creating the directory (mode 0700) and the
// database if needed. It takes an exclusive, non-blocking flock on
// dir/keyward.lock and fails with ErrLocked (wrapped) if another process or
// another Store in this process holds it.
//
// The database dir/keyward.db runs with journal_mode=WAL, synchronous=FULL
// (DurabilityFull) or NORMAL (DurabilityBatched, which also starts the
// background syncer), foreign_keys=ON and a busy timeout. Before returning,
// Open fsyncs the write-ahead log, which makes durable whatever an earlier
// process committed without an fsync (a batched store killed within its
// window). Its schema is versioned with PRAGMA
// user_version: Open applies every missing migration in order, each in its
// own transaction, and refuses (ErrNewerSchema) a database whose version is
// newer than the newest migration it knows. Files it creates have mode 0600.
// Invalid options are an error, before anything is opened. A store that
// cannot be written is opened read-only whatever the options.
func OpenWith(dir string, opts Options) (s *Store, err error) {
	opts, err = opts.normalize()
	if err != nil {
		return nil, err
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: create directory: %w", err)
	}
	lock, created, err := openFile(filepath.Join(dir, LockFile))
	if err != nil && (errors.Is(err, os.ErrPermission) || errors.Is(err, syscall.EROFS)) {
		return openReadOnly(dir)
	}
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			lock.Close() // releases the flock
		}
	}()
	if err := flock(lock); err != nil {
		return nil, err
	}

	// Create the database file ourselves so that it (and the -wal and
	// -shm files, which SQLite creates with the database file's mode) is
	// 0600 whatever the umask.
	dbPath := filepath.Join(dir, DBFile)
	dbf, dbCreated, err := openFile(dbPath)
	if err != nil {
		return nil, err
	}
	if err := dbf.Close(); err != nil {
		return nil, fmt.Errorf("store: close %s: %w", dbPath, err)
	}
	if created || dbCreated {
		if err := syncDir(dir); err != nil {
			return nil, err
		}
	}

	db, err := sql.Open("sqlite", dsn(dbPath, opts.Durability))
	if err != nil {
		return nil, fmt.Errorf("store: open database: %w", err)
	}
	defer func() {
		if err != nil {
			db.Close()
		}
	}()
	// One connection: one writer (the daemon serialises writes), the
	// prepared statements live on it, and reads see every committed write.
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)

	if err := checkSettings(db, opts.Durability); err != nil {
		return nil, err
	}
	if err := migrate(db); err != nil {
		return nil, err
	}

	s = &Store{dir: dir, db: db, lock: lock, opts: opts, batched: opts.Durability == DurabilityBatched,
		syncer: newWALSyncer(dbPath, opts.SyncInterval)}
	if err := s.syncer.syncNow(); err != nil {
		return nil, err
	}
	if s.putObj, err = db.Prepare(sqlPutObject); err != nil {
		return nil, fmt.Errorf("store: prepare put object: %w", err)
	}
	if s.delObj, err = db.Prepare(sqlDeleteObject); err != nil {
		s.putObj.Close()
		return nil, fmt.Errorf("store: prepare delete object: %w", err)
	}
	if s.batched {
		s.syncer.start()
	}
	return s, nil
}

// Durability returns the store's durability mode (DurabilityFull for a
// read-only store, which writes nothing).
func (s *Store) Durability() Durability {
	if s.batched {
		return DurabilityBatched
	}
	return DurabilityFull
}

// SyncInterval returns the batched mode's window (0 in the full mode).
func (s *Store) SyncInterval() time.Duration {
	if !s.batched {
		return 0
	}
	return s.opts.SyncInterval
}

// Sync makes every write that has returned durable now. In the full mode
// they already are and Sync does nothing.
func (s *Store) Sync() error {
	if !s.batched {
		return nil
	}
	return s.syncer.sync()
}

// ErrUnappliedLog is returned when a read-only store holds committed writes still in its write-ahead log:
// reading it without them would serve old data.
var ErrUnappliedLog = errors.New("store: read-only store with an unapplied write-ahead log: open it writable once")

// openReadOnly opens a store that cannot be written (a read-only file system or files): every read works,
// every write fails. It still takes the flock (on a read-only descriptor), so no other process writes
// meanwhile, which is what lets SQLite treat the database as immutable.
func openReadOnly(dir string) (s *Store, err error) {
	lock, err := os.Open(filepath.Join(dir, LockFile))
	if err != nil {
		return nil, fmt.Errorf("store: open %s read-only: %w", dir, err)
	}
	defer func() {
		if err != nil {
			lock.Close()
		}
	}()
	if err := flock(lock); err != nil {
		return nil, err
	}
	dbPath := filepath.Join(dir, DBFile)
	if fi, err := os.Stat(dbPath + "-wal"); err == nil && fi.Size() > 0 {
		return nil, ErrUnappliedLog
	}
	u := url.URL{Scheme: "file", Path: dbPath}
	db, err := sql.Open("sqlite", u.String()+"?mode=ro&immutable=1")
	if err != nil {
		return nil, fmt.Errorf("store: open database read-only: %w", err)
	}
	db.SetMaxOpenConns(1)
	var version int
	if err := db.QueryRow("PRAGMA user_version").Scan(&version); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: read-only database: %w", err)
	}
	if version != len(migrations) {
		db.Close()
		return nil, fmt.Errorf("store: read-only database has schema version %d, this build needs %d", version, len(migrations))
	}
	return &Store{dir: dir, db: db, lock: lock, readOnly: true, opts: Options{Durability: DurabilityFull}}, nil
}

// ReadOnly reports whether the store was opened read-only: reads work, writes fail.
func (s *Store) ReadOnly() bool { return s.readOnly }

// synchronousOf is the PRAGMA synchronous value of a durability mode.
func synchronousOf(d Durability) (name string, value int) {
	if d == DurabilityBatched {
		return "NORMAL", 1
	}
	return "FULL", 2
}

// dsn returns the modernc.org/sqlite data source name for the database file
// at the absolute path path.
func dsn(path string, d Durability) string {
	syncName, _ := synchronousOf(d)
	u := url.URL{Scheme: "file", Path: path}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeoutMS))
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous("+syncName+")")
	q.Set("_txlock", "immediate")
	// u.String() escapes the path (a '?' or '%' in it, say); SQLite's URI
	// parser unescapes it and ignores the driver's parameters.
	return u.String() + "?" + q.Encode()
}

// checkSettings verifies that the connection runs with the settings the
// durability guarantees rely on.
func checkSettings(db *sql.DB, d Durability) error {
	var mode string
	if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("store: read journal_mode: %w", err)
	}
	var sync, fk int
	if err := db.QueryRow("PRAGMA synchronous").Scan(&sync); err != nil {
		return fmt.Errorf("store: read synchronous: %w", err)
	}
	if err := db.QueryRow("PRAGMA foreign_keys").Scan(&fk); err != nil {
		return fmt.Errorf("store: read foreign_keys: %w", err)
	}
	syncName, syncWant := synchronousOf(d)
	if mode != "wal" || sync != syncWant || fk != 1 {
		return fmt.Errorf("store: database settings journal_mode=%s synchronous=%d foreign_keys=%d, want wal, %d (%s), 1", mode, sync, fk, syncWant, syncName)
	}
	return nil
}

// openFile opens (creating with mode 0600 if needed) the file at path for
// reading and writing, and reports whether it created it.
func openFile(path string) (f *os.File, created bool, err error) {
	f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		return f, true, nil
	}
	if !errors.Is(err, os.ErrExist) {
		return nil, false, fmt.Errorf("store: create %s: %w", path, err)
	}
	f, err = os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, false, fmt.Errorf("store: open %s: %w", path, err)
	}
	return f, false, nil
}

// flock takes an exclusive, non-blocking flock on f.
func flock(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EWOULDBLOCK):
			return fmt.Errorf("store: %s: %w", f.Name(), ErrLocked)
		default:
			return fmt.Errorf("store: lock %s: %w", f.Name(), err)
		}
	}
}

// syncDir fsyncs the directory dir so that new entries in it are durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("store: open directory for fsync: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("store: fsync directory %s: %w", dir, err)
	}
	return nil
}

// Dir returns the store's directory (absolute).
func (s *Store) Dir() string { return s.dir }

// Close makes every write durable (in the batched mode it stops the
// background syncer and fsyncs the write-ahead log), checkpoints the WAL into
// the database file (and truncates it), closes the database and releases the
// lock. Closing a closed Store is a no-op. No write may be in progress or
// started afterwards.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	if s.syncer != nil {
		// Before the checkpoint, so that a failing checkpoint leaves
		// nothing undurable behind.
		if err := s.syncer.shutdown(s.batched); err != nil {
			errs = append(errs, err)
		}
	}
	for _, st := range []*sql.Stmt{s.putObj, s.delObj} {
		if st == nil {
			continue // a read-only store prepares no statement
		}
		if err := st.Close(); err != nil {
			errs = append(errs, fmt.Errorf("store: close statement: %w", err))
		}
	}
	var busy, logPages, ckptPages int
	if s.readOnly {
		// nothing to checkpoint
	} else if err := s.db.QueryRow("PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logPages, &ckptPages); err != nil {
		errs = append(errs, fmt.Errorf("store: checkpoint: %w", err))
	}
	if err := s.db.Close(); err != nil {
		errs = append(errs, fmt.Errorf("store: close database: %w", err))
	}
	// Only now that the database is closed may another process open it.
	if err := s.lock.Close(); err != nil {
		errs = append(errs, fmt.Errorf("store: release lock: %w", err))
	}
	return errors.Join(errs...)
}

// GetMeta returns the store-wide value stored under key, or an error
// wrapping ErrNotFound.
func (s *Store) GetMeta(key string) ([]byte, error) {
	return getMeta(s.db.QueryRow(sqlGetMeta, key), key)
}

// Tokens returns every token, ordered by ID.
func (s *Store) Tokens() ([]Token, error) {
	rows, err := s.db.Query(sqlTokens)
	if err != nil {
		return nil, fmt.Errorf("store: list tokens: %w", err)
	}
	defer rows.Close()
	var out []Token
	for rows.Next() {
		var id int64
		var t Token
		if err := rows.Scan(&id, &t.Blob); err != nil {
			return nil, fmt.Errorf("store: list tokens: %w", err)
		}
		t.ID = uint64(id)
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list tokens: %w", err)
	}
	return unsignedOrder(out, func(t Token) uint64 { return t.ID }), nil
}

// Objects returns every object of the token, ordered by ID. Private objects
// are included, with Private set, so that the engine can leave their blobs
// aside until login.
func (s *Store) Objects(token uint64) ([]Object, error) {
	rows, err := s.db.Query(sqlObjects, int64(token))
	if err != nil {
		return nil, fmt.Errorf("store: list objects of token %d: %w", token, err)
	}
	defer rows.Close()
	var out []Object
	for rows.Next() {
		var id int64
		o := Object{Token: token}
		if err := rows.Scan(&id, &o.Private, &o.Blob); err != nil {
			return nil, fmt.Errorf("store: list objects of token %d: %w", token, err)
		}
		o.ID = uint64(id)
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list objects of token %d: %w", token, err)
	}
	return unsignedOrder(out, func(o Object) uint64 { return o.ID }), nil
}

// unsignedOrder turns a slice sorted by the signed (int64) view of its ids,
// as SQLite sorts them, into one sorted by the unsigned ids: the ids of 2^63
// and above, stored as negative integers, come first and move to the end.
func unsignedOrder[T any](s []T, id func(T) uint64) []T {
	k := 0
	for k < len(s) && id(s[k]) >= 1<<63 {
		k++
	}
	if k == 0 || k == len(s) {
		return s
	}
	out := make([]T, 0, len(s))
	out = append(out, s[k:]...)
	return append(out, s[:k]...)
}

// PutObject inserts or replaces one object in its own transaction: durable
// on return in the full mode, within the sync interval in the batched mode.
// The object's token must exist (an error wrapping ErrNotFound otherwise).
func (s *Store) PutObject(o Object) error {
	if err := s.writable(); err != nil {
		return markFull(err)
	}
	err := putObject(s.putObj, o)
	if s.batched {
		s.syncer.committed()
	}
	return markFull(err)
}

// DeleteObject deletes one object in its own transaction (durable on return
// in the full mode, within the sync interval in the batched mode), or
// returns an error wrapping ErrNotFound if it does not exist.
func (s *Store) DeleteObject(token, id uint64) error {
	if err := s.writable(); err != nil {
		return markFull(err)
	}
	err := deleteObject(s.delObj, token, id)
	if s.batched {
		s.syncer.committed()
	}
	return markFull(err)
}

// writable returns nil if the store takes writes: not read-only, and in the
// batched mode no background fsync has failed.
func (s *Store) writable() error {
	if s.readOnly {
		return ErrReadOnly
	}
	if s.batched {
		return s.syncer.failed()
	}
	return nil
}

// ErrReadOnly is returned by every write to a store opened read-only.
var ErrReadOnly = errors.New("store: the store is read-only")

// Update runs fn in one SQLite write transaction (BEGIN IMMEDIATE). It
// commits when fn returns nil and rolls back otherwise (returning fn's error
// as it is), or if fn panics (and then re-panics). When Update returns nil
// the change is durable: it has been fsync'd, in the batched mode too (with
// every write committed before it): token records, PIN failure counters
// among them, must never roll back.
//
// fn must do all its work through tx: calling a method of the Store from fn
// deadlocks, as the Store has one connection and the transaction holds it.
// tx must not be used after fn returns.
func (s *Store) Update(fn func(tx *Tx) error) (err error) {
	defer func() { err = markFull(err) }()
	if err := s.writable(); err != nil {
		return err
	}
	sqlTx, err := s.db.Begin()
	if err != nil {
		return fmt.Errorf("store: begin transaction: %w", err)
	}
	tx := &Tx{s: s, tx: sqlTx}
	done := false
	defer func() {
		if !done {
			// fn panicked.
			_ = sqlTx.Rollback()
		}
	}()
	ferr := fn(tx)
	done = true
	if ferr != nil {
		if rerr := sqlTx.Rollback(); rerr != nil {
			return errors.Join(ferr, fmt.Errorf("store: roll back: %w", rerr))
		}
		return ferr
	}
	if err := sqlTx.Commit(); err != nil {
		// database/sql forgets the transaction whatever happened; make
		// sure SQLite has not kept it open on the connection (the error,
		// "no transaction is active", is expected and ignored).
		_, _ = s.db.Exec("ROLLBACK")
		return fmt.Errorf("store: commit: %w", err)
	}
	if s.batched {
		// synchronous=NORMAL did not fsync the commit: do it now.
		return s.syncer.syncThrough(s.syncer.committed())
	}
	return nil
}

// Tx is a write transaction, valid only inside the function given to Update.
type Tx struct {
	s  *Store
	tx *sql.Tx
	// Transaction-bound forms of the Store's prepared statements, made on
	// first use.
	putObj *sql.Stmt
	delObj *sql.Stmt
}

// SetMeta stores value under key in the store-wide key/value table,
// replacing any previous value.
func (tx *Tx) SetMeta(key string, value []byte) error {
	if _, err := tx.tx.Exec(sqlSetMeta, key, nonNil(value)); err != nil {
		return fmt.Errorf("store: set meta %q: %w", key, err)
	}
	return nil
}

// GetMeta returns the store-wide value stored under key, as seen by this
// transaction, or an error wrapping ErrNotFound.
func (tx *Tx) GetMeta(key string) ([]byte, error) {
	return getMeta(tx.tx.QueryRow(sqlGetMeta, key), key)
}

// PutToken inserts the token, or replaces the blob of an existing token of
// the same ID (its objects are kept).
func (tx *Tx) PutToken(t Token) error {
	if _, err := tx.tx.Exec(sqlPutToken, int64(t.ID), nonNil(t.Blob)); err != nil {
		return fmt.Errorf("store: put token %d: %w", t.ID, err)
	}
	return nil
}

// DeleteToken deletes the token and all its objects, or returns an error
// wrapping ErrNotFound if the token does not exist.
func (tx *Tx) DeleteToken(id uint64) error {
	res, err := tx.tx.Exec(sqlDeleteToken, int64(id))
	if err != nil {
		return fmt.Errorf("store: delete token %d: %w", id, err)
	}
	return affectedOne(res, fmt.Sprintf("token %d", id))
}

// PutObject inserts the object or replaces an existing object of the same
// token and ID. The token must exist (an error wrapping ErrNotFound
// otherwise).
func (tx *Tx) PutObject(o Object) error {
	if tx.putObj == nil {
		tx.putObj = tx.tx.Stmt(tx.s.putObj)
	}
	return putObject(tx.putObj, o)
}

// DeleteObject deletes one object, or returns an error wrapping ErrNotFound
// if it does not exist.
func (tx *Tx) DeleteObject(token, id uint64) error {
	if tx.delObj == nil {
		tx.delObj = tx.tx.Stmt(tx.s.delObj)
	}
	return deleteObject(tx.delObj, token, id)
}

// DeleteObjects deletes every object of the token (for token
// re-initialisation) and keeps the token. A token with no objects, or no
// such token, is not an error.
func (tx *Tx) DeleteObjects(token uint64) error {
	if _, err := tx.tx.Exec(sqlDeleteObjects, int64(token)); err != nil {
		return fmt.Errorf("store: delete objects of token %d: %w", token, err)
	}
	return nil
}

func putObject(st *sql.Stmt, o Object) error {
	_, err := st.Exec(int64(o.Token), int64(o.ID), o.Private, nonNil(o.Blob))
	if err == nil {
		return nil
	}
	if isForeignKeyError(err) {
		return fmt.Errorf("store: put object %d of token %d: token %d: %w", o.ID, o.Token, o.Token, ErrNotFound)
	}
	return fmt.Errorf("store: put object %d of token %d: %w", o.ID, o.Token, err)
}

func deleteObject(st *sql.Stmt, token, id uint64) error {
	res, err := st.Exec(int64(token), int64(id))
	if err != nil {
		return fmt.Errorf("store: delete object %d of token %d: %w", id, token, err)
	}
	return affectedOne(res, fmt.Sprintf("object %d of token %d", id, token))
}

func getMeta(row *sql.Row, key string) ([]byte, error) {
	var v []byte
	err := row.Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: meta %q: %w", key, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: get meta %q: %w", key, err)
	}
	return nonNil(v), nil
}

// affectedOne returns nil if res changed a row and an error wrapping
// ErrNotFound, naming what, otherwise.
func affectedOne(res sql.Result, what string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("store: delete %s: %w", what, err)
	}
	if n == 0 {
		return fmt.Errorf("store: delete %s: %w", what, ErrNotFound)
	}
	return nil
}

// markFull wraps ErrFull around a write error that is for want of space
// (ErrFull); other errors, and nil, it returns as they are.
func markFull(err error) error {
	const sqliteFull = 13 // SQLITE_FULL, a primary result code
	var se *sqlite.Error
	if err == nil || errors.Is(err, ErrFull) {
		return err
	}
	if errors.Is(err, syscall.ENOSPC) || errors.As(err, &se) && se.Code()&0xff == sqliteFull {
		return fmt.Errorf("%w: %w", ErrFull, err)
	}
	return err
}

// isForeignKeyError reports whether err is SQLite's foreign key constraint
// failure.
func isForeignKeyError(err error) bool {
	const sqliteConstraintForeignKey = 787 // SQLITE_CONSTRAINT_FOREIGNKEY
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == sqliteConstraintForeignKey
}

// nonNil returns b, or an empty slice if b is nil: the driver binds a nil
// slice as NULL, which the NOT NULL blob columns refuse.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
