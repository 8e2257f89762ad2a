package store

import (
	"bytes"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

// Environment switches that make the test binary act as a child process
// (see TestMain).
const (
	childModeEnv       = "KEYWARD_STORE_TEST_CHILD"
	childDirEnv        = "KEYWARD_STORE_TEST_DIR"
	childDurabilityEnv = "KEYWARD_STORE_TEST_DURABILITY"
)

func TestMain(m *testing.M) {
	switch mode := os.Getenv(childModeEnv); mode {
	case "":
		os.Exit(m.Run())
	case "writer":
		crashChild(os.Getenv(childDirEnv))
	case "lockprobe":
		lockProbe(os.Getenv(childDirEnv))
	default:
		fmt.Fprintf(os.Stderr, "unknown %s=%q\n", childModeEnv, mode)
		os.Exit(2)
	}
}

// lockProbe tries to open the store in dir and exits 0 if that fails with
// ErrLocked, 1 if it succeeds and 2 on any other error.
func lockProbe(dir string) {
	s, err := Open(dir)
	switch {
	case errors.Is(err, ErrLocked):
		os.Exit(0)
	case err == nil:
		s.Close()
		fmt.Fprintln(os.Stderr, "Open succeeded while the parent holds the store")
		os.Exit(1)
	default:
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
}

// childCommand returns a command running this test binary as a child in
// the given mode on the store in dir.
func childCommand(mode, dir string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childModeEnv+"="+mode, childDirEnv+"="+dir)
	return cmd
}

func openT(t testing.TB, dir string) *Store {
	t.Helper()
	s, err := Open(dir)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func update(t testing.TB, s *Store, fn func(tx *Tx) error) {
	t.Helper()
	if err := s.Update(fn); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

func pragmaInt(t testing.TB, s *Store, name string) int64 {
	t.Helper()
	var v int64
	if err := s.db.QueryRow("PRAGMA " + name).Scan(&v); err != nil {
		t.Fatalf("PRAGMA %s: %v", name, err)
	}
	return v
}

func TestOpenCreatesFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	s := openT(t, dir)
	update(t, s, func(tx *Tx) error { return tx.SetMeta("k", []byte("v")) })

	di, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if di.Mode().Perm()&0o077 != 0 {
		t.Errorf("directory mode %#o, want 0700", di.Mode().Perm())
	}
	for _, name := range []string{LockFile, DBFile, DBFile + "-wal", DBFile + "-shm"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %#o, want 0600", name, fi.Mode().Perm())
		}
	}
	if v := pragmaInt(t, s, "user_version"); v != int64(SchemaVersion()) || v != 1 {
		t.Errorf("user_version %d, want %d (= 1)", v, SchemaVersion())
	}
	if v := pragmaInt(t, s, "application_id"); v != ApplicationID {
		t.Errorf("application_id %#x, want %#x", v, ApplicationID)
	}
	if v := pragmaInt(t, s, "synchronous"); v != 2 {
		t.Errorf("synchronous %d, want 2 (FULL)", v)
	}
	if v := pragmaInt(t, s, "foreign_keys"); v != 1 {
		t.Errorf("foreign_keys %d, want 1", v)
	}
	if v := pragmaInt(t, s, "busy_timeout"); v != busyTimeoutMS {
		t.Errorf("busy_timeout %d, want %d", v, busyTimeoutMS)
	}
	var mode string
	if err := s.db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode %q, %v; want wal", mode, err)
	}
	if s.Dir() != dir {
		t.Errorf("Dir() = %q, want %q", s.Dir(), dir)
	}
}

func TestCloseCheckpointsAndReleases(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	update(t, s, func(tx *Tx) error { return tx.SetMeta("k", []byte("v")) })
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(dir, DBFile+"-wal")); err == nil && fi.Size() != 0 {
		t.Errorf("WAL is %d bytes after Close, want truncated or removed", fi.Size())
	}
	// The lock file stays (removing it would race with another Open).
	if _, err := os.Stat(filepath.Join(dir, LockFile)); err != nil {
		t.Errorf("lock file: %v", err)
	}
	s2 := openT(t, dir)
	v, err := s2.GetMeta("k")
	if err != nil || string(v) != "v" {
		t.Fatalf("after reopen GetMeta = %q, %v", v, err)
	}
}

func TestRoundTripAndOrder(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir)
	const maxU = ^uint64(0)
	tokenIDs := []uint64{maxU, 1 << 63, 0, 7, 1<<63 - 1, 1<<63 + 1}
	objIDs := []uint64{5, maxU, 1<<63 + 42, 0, 1 << 63, 3, 1<<63 - 1, maxU - 1}

	blob := func(tok, id uint64) []byte { return fmt.Appendf(nil, "blob %d/%d", tok, id) }
	update(t, s, func(tx *Tx) error {
		for _, tid := range tokenIDs {
			if err := tx.PutToken(Token{ID: tid, Blob: fmt.Appendf(nil, "token %d", tid)}); err != nil {
				return err
			}
		}
		for _, id := range objIDs {
			o := Object{Token: 1 << 63, ID: id, Private: id%2 == 1, Blob: blob(1<<63, id)}
			if err := tx.PutObject(o); err != nil {
				return err
			}
		}
		return tx.SetMeta("next-slot", []byte{1, 2, 3})
	})
	// Convenience form, on another token.
	for _, id := range objIDs {
		if err := s.PutObject(Object{Token: 7, ID: id, Blob: blob(7, id)}); err != nil {
			t.Fatal(err)
		}
	}

	check := func(s *Store) {
		t.Helper()
		toks, err := s.Tokens()
		if err != nil {
			t.Fatal(err)
		}
		want := slices.Sorted(slices.Values(tokenIDs))
		var got []uint64
		for _, tk := range toks {
			got = append(got, tk.ID)
			if string(tk.Blob) != fmt.Sprintf("token %d", tk.ID) {
				t.Errorf("token %d blob %q", tk.ID, tk.Blob)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("token ids %v, want %v", got, want)
		}
		wantObj := slices.Sorted(slices.Values(objIDs))
		for _, tok := range []uint64{1 << 63, 7} {
			objs, err := s.Objects(tok)
			if err != nil {
				t.Fatal(err)
			}
			got = got[:0]
			for _, o := range objs {
				got = append(got, o.ID)
				if o.Token != tok {
					t.Errorf("object %d: token %d, want %d", o.ID, o.Token, tok)
				}
				if !bytes.Equal(o.Blob, blob(tok, o.ID)) {
					t.Errorf("object %d/%d blob %q", tok, o.ID, o.Blob)
				}
				if wantPriv := tok == 1<<63 && o.ID%2 == 1; o.Private != wantPriv {
					t.Errorf("object %d/%d private %v, want %v", tok, o.ID, o.Private, wantPriv)
				}
			}
			if !slices.Equal(got, wantObj) {
				t.Errorf("token %d object ids %v, want %v", tok, got, wantObj)
			}
		}
		if objs, err := s.Objects(0); err != nil || len(objs) != 0 {
			t.Errorf("Objects(0) = %v, %v; want none", objs, err)
		}
		if objs, err := s.Objects(12345); err != nil || len(objs) != 0 {
			t.Errorf("Objects(missing token) = %v, %v; want none", objs, err)
		}
		v, err := s.GetMeta("next-slot")
		if err != nil || !bytes.Equal(v, []byte{1, 2, 3}) {
			t.Errorf("GetMeta = %v, %v", v, err)
		}
	}
	check(s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	check(openT(t, dir))
}

func TestEmptyBlobs(t *testing.T) {
	s := openT(t, t.TempDir())
	update(t, s, func(tx *Tx) error {
		if err := tx.PutToken(Token{ID: 1}); err != nil {
			return err
		}
		if err := tx.PutObject(Object{Token: 1, ID: 1, Blob: nil}); err != nil {
			return err
		}
		if err := tx.PutObject(Object{Token: 1, ID: 2, Blob: []byte{}}); err != nil {
			return err
		}
		return tx.SetMeta("empty", nil)
	})
	objs, err := s.Objects(1)
	if err != nil || len(objs) != 2 || len(objs[0].Blob) != 0 || len(objs[1].Blob) != 0 {
		t.Fatalf("Objects = %+v, %v", objs, err)
	}
	v, err := s.GetMeta("empty")
	if err != nil || v == nil || len(v) != 0 {
		t.Fatalf("GetMeta(empty) = %#v, %v; want empty non-nil", v, err)
	}
}

func TestReplace(t *testing.T) {
	s := openT(t, t.TempDir())
	update(t, s, func(tx *Tx) error {
		if err := tx.PutToken(Token{ID: 1, Blob: []byte("t1")}); err != nil {
			return err
		}
		if err := tx.PutObject(Object{Token: 1, ID: 9, Private: true, Blob: []byte("old")}); err != nil {
			return err
		}
		return tx.SetMeta("m", []byte("old"))
	})
	update(t, s, func(tx *Tx) error {
		// Replacing a token must keep its objects.
		if err := tx.PutToken(Token{ID: 1, Blob: []byte("t1 new")}); err != nil {
			return err
		}
		if err := tx.PutObject(Object{Token: 1, ID: 9, Private: false, Blob: []byte("new")}); err != nil {
			return err
		}
		return tx.SetMeta("m", []byte("new"))
	})
	toks, err := s.Tokens()
	if err != nil || len(toks) != 1 || string(toks[0].Blob) != "t1 new" {
		t.Fatalf("Tokens = %+v, %v", toks, err)
	}
	objs, err := s.Objects(1)
	if err != nil || len(objs) != 1 || string(objs[0].Blob) != "new" || objs[0].Private {
		t.Fatalf("Objects = %+v, %v; want one public object \"new\"", objs, err)
	}
	if v, err := s.GetMeta("m"); err != nil || string(v) != "new" {
		t.Fatalf("GetMeta = %q, %v", v, err)
	}
	if err := s.PutObject(Object{Token: 1, ID: 9, Private: true, Blob: []byte("newer")}); err != nil {
		t.Fatal(err)
	}
	objs, err = s.Objects(1)
	if err != nil || len(objs) != 1 || string(objs[0].Blob) != "newer" || !objs[0].Private {
		t.Fatalf("Objects = %+v, %v; want one private object \"newer\"", objs, err)
	}
}

func TestDeleteTokenCascades(t *testing.T) {
	s := openT(t, t.TempDir())
	update(t, s, func(tx *Tx) error {
		for tok := uint64(1); tok <= 2; tok++ {
			if err := tx.PutToken(Token{ID: tok, Blob: []byte("t")}); err != nil {
				return err
			}
			for id := range uint64(10) {
				if err := tx.PutObject(Object{Token: tok, ID: id, Blob: []byte("o")}); err != nil {
					return err
				}
			}
		}
		return nil
	})
	update(t, s, func(tx *Tx) error { return tx.DeleteToken(1) })
	if objs, err := s.Objects(1); err != nil || len(objs) != 0 {
		t.Fatalf("objects of deleted token: %d, %v", len(objs), err)
	}
	if objs, err := s.Objects(2); err != nil || len(objs) != 10 {
		t.Fatalf("objects of other token: %d, %v; want 10", len(objs), err)
	}
	var n int
	if err := s.db.QueryRow("SELECT count(*) FROM objects").Scan(&n); err != nil || n != 10 {
		t.Fatalf("objects rows = %d, %v; want 10", n, err)
	}
	if toks, err := s.Tokens(); err != nil || len(toks) != 1 || toks[0].ID != 2 {
		t.Fatalf("Tokens = %+v, %v", toks, err)
	}
}

func TestDeleteObjects(t *testing.T) {
	s := openT(t, t.TempDir())
	update(t, s, func(tx *Tx) error {
		for tok := uint64(1); tok <= 2; tok++ {
			if err := tx.PutToken(Token{ID: tok, Blob: []byte("t")}); err != nil {
				return err
			}
			for id := range uint64(5) {
				if err := tx.PutObject(Object{Token: tok, ID: id, Blob: []byte("o")}); err != nil {
					return err
				}
			}
		}
		return nil
	})
	update(t, s, func(tx *Tx) error {
		if err := tx.DeleteObjects(1); err != nil {
			return err
		}
		if err := tx.DeleteObjects(1); err != nil { // nothing left: not an error
			return err
		}
		return tx.DeleteObjects(99) // no such token: not an error
	})
	if objs, _ := s.Objects(1); len(objs) != 0 {
		t.Errorf("token 1 has %d objects, want 0", len(objs))
	}
	if objs, _ := s.Objects(2); len(objs) != 5 {
		t.Errorf("token 2 has %d objects, want 5", len(objs))
	}
	if toks, _ := s.Tokens(); len(toks) != 2 {
		t.Errorf("%d tokens, want 2 (DeleteObjects keeps the token)", len(toks))
	}
}

func TestDeleteObject(t *testing.T) {
	s := openT(t, t.TempDir())
	update(t, s, func(tx *Tx) error {
		if err := tx.PutToken(Token{ID: 1, Blob: []byte("t")}); err != nil {
			return err
		}
		for id := range uint64(4) {
			if err := tx.PutObject(Object{Token: 1, ID: id, Blob: []byte("o")}); err != nil {
				return err
			}
		}
		return nil
	})
	if err := s.DeleteObject(1, 0); err != nil {
		t.Fatal(err)
	}
	update(t, s, func(tx *Tx) error { return tx.DeleteObject(1, 2) })
	objs, err := s.Objects(1)
	if err != nil {
		t.Fatal(err)
	}
	var ids []uint64
	for _, o := range objs {
		ids = append(ids, o.ID)
	}
	if !slices.Equal(ids, []uint64{1, 3}) {
		t.Fatalf("ids %v, want [1 3]", ids)
	}
}

func TestNotFound(t *testing.T) {
	s := openT(t, t.TempDir())
	update(t, s, func(tx *Tx) error { return tx.PutToken(Token{ID: 1, Blob: []byte("t")}) })

	if _, err := s.GetMeta("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetMeta: %v, want ErrNotFound", err)
	}
	if err := s.DeleteObject(1, 5); !errors.Is(err, ErrNotFound) {
		t.Errorf("DeleteObject: %v, want ErrNotFound", err)
	}
	if err := s.PutObject(Object{Token: 2, ID: 1, Blob: []byte("x")}); !errors.Is(err, ErrNotFound) {
		t.Errorf("PutObject on missing token: %v, want ErrNotFound", err)
	}
	checks := map[string]func(tx *Tx) error{
		"Tx.GetMeta":      func(tx *Tx) error { _, err := tx.GetMeta("nope"); return err },
		"Tx.DeleteObject": func(tx *Tx) error { return tx.DeleteObject(1, 5) },
		"Tx.DeleteToken":  func(tx *Tx) error { return tx.DeleteToken(2) },
		"Tx.PutObject":    func(tx *Tx) error { return tx.PutObject(Object{Token: 2, ID: 1, Blob: []byte("x")}) },
	}
	for name, fn := range checks {
		if err := s.Update(fn); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: %v, want ErrNotFound", name, err)
		}
	}
	// A failed statement does not spoil the transaction.
	update(t, s, func(tx *Tx) error {
		if err := tx.PutObject(Object{Token: 2, ID: 1}); !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("PutObject: %v, want ErrNotFound", err)
		}
		return tx.PutObject(Object{Token: 1, ID: 1, Blob: []byte("ok")})
	})
	if objs, err := s.Objects(1); err != nil || len(objs) != 1 {
		t.Errorf("Objects = %+v, %v", objs, err)
	}
	if objs, err := s.Objects(2); err != nil || len(objs) != 0 {
		t.Errorf("Objects(2) = %+v, %v", objs, err)
	}
}

func TestUpdateRollback(t *testing.T) {
	s := openT(t, t.TempDir())
	update(t, s, func(tx *Tx) error { return tx.PutToken(Token{ID: 1, Blob: []byte("t")}) })

	errBoom := errors.New("boom")
	err := s.Update(func(tx *Tx) error {
		if err := tx.PutObject(Object{Token: 1, ID: 1, Blob: []byte("x")}); err != nil {
			return err
		}
		if err := tx.SetMeta("m", []byte("x")); err != nil {
			return err
		}
		if v, err := tx.GetMeta("m"); err != nil || string(v) != "x" {
			return fmt.Errorf("tx.GetMeta does not see own write: %q, %v", v, err)
		}
		return errBoom
	})
	if err != errBoom {
		t.Fatalf("Update = %v, want fn's error unchanged", err)
	}
	func() {
		defer func() {
			if r := recover(); r != "panic in fn" {
				t.Errorf("recover() = %v", r)
			}
		}()
		_ = s.Update(func(tx *Tx) error {
			if err := tx.PutObject(Object{Token: 1, ID: 2, Blob: []byte("y")}); err != nil {
				return err
			}
			panic("panic in fn")
		})
	}()
	if objs, err := s.Objects(1); err != nil || len(objs) != 0 {
		t.Fatalf("objects after rollbacks: %+v, %v", objs, err)
	}
	if _, err := s.GetMeta("m"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("meta after rollback: %v", err)
	}
	// The store is still usable.
	update(t, s, func(tx *Tx) error { return tx.PutObject(Object{Token: 1, ID: 3, Blob: []byte("z")}) })
	if objs, err := s.Objects(1); err != nil || len(objs) != 1 {
		t.Fatalf("objects: %+v, %v", objs, err)
	}
}

func TestLockedSameProcess(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if s2, err := Open(dir); !errors.Is(err, ErrLocked) {
		if err == nil {
			s2.Close()
		}
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	// The failed Open must not have disturbed the first.
	if err := s.PutObject(Object{Token: 1, ID: 1}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("PutObject after failed Open: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	openT(t, dir)
}

func TestLockedChildProcess(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir)
	out, err := childCommand("lockprobe", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("child Open while the parent holds the store: %v\n%s", err, out)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Released: now the child gets it.
	out, err = childCommand("lockprobe", dir).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("child Open after Close: %v, want exit 1 (opened)\n%s", err, out)
	}
}

// setRaw changes a header field of the database in dir behind the store's
// back.
func setRaw(t *testing.T, dir, pragma string) {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(dir, DBFile))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("PRAGMA " + pragma); err != nil {
		t.Fatal(err)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	setRaw(t, dir, fmt.Sprintf("user_version = %d", SchemaVersion()+1))
	for range 2 { // the failed Open must release the lock
		if s, err := Open(dir); !errors.Is(err, ErrNewerSchema) {
			if err == nil {
				s.Close()
			}
			t.Fatalf("Open: %v, want ErrNewerSchema", err)
		}
	}
}

func TestForeignDatabaseRefused(t *testing.T) {
	dir := t.TempDir()
	setRaw(t, dir, "application_id = 1234")
	if s, err := Open(dir); err == nil {
		s.Close()
		t.Fatal("Open accepted another application's database")
	}
}

// TestMigrations checks that a later migration is applied to an existing
// store in its own transaction, and that a failing migration leaves the
// store at the version before it.
func TestMigrations(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutObject(Object{Token: 1}); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	update(t, s, func(tx *Tx) error { return tx.SetMeta("kept", []byte("yes")) })
	s.Close()

	saved := migrations
	t.Cleanup(func() { migrations = saved })

	// A broken version 2: its first statement succeeds, its second fails.
	migrations = append(slices.Clip(saved), []string{
		`CREATE TABLE extra (x INTEGER)`,
		`THIS IS NOT SQL`,
	})
	if s, err := Open(dir); err == nil {
		s.Close()
		t.Fatal("Open succeeded with a failing migration")
	}
	migrations = saved
	s = openT(t, dir)
	if v := pragmaInt(t, s, "user_version"); v != 1 {
		t.Fatalf("user_version %d after a failed migration, want 1", v)
	}
	var n int
	if err := s.db.QueryRow(`SELECT count(*) FROM sqlite_schema WHERE name = 'extra'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("failed migration left table extra: %d, %v", n, err)
	}
	s.Close()

	// A good version 2.
	migrations = append(slices.Clip(saved), []string{
		`CREATE TABLE extra (x INTEGER)`,
		`INSERT INTO extra VALUES (42)`,
	})
	s = openT(t, dir)
	if v := pragmaInt(t, s, "user_version"); v != 2 {
		t.Fatalf("user_version %d, want 2", v)
	}
	var x int
	if err := s.db.QueryRow(`SELECT x FROM extra`).Scan(&x); err != nil || x != 42 {
		t.Fatalf("extra.x = %d, %v; want 42", x, err)
	}
	if v, err := s.GetMeta("kept"); err != nil || string(v) != "yes" {
		t.Fatalf("GetMeta(kept) = %q, %v", v, err)
	}
}

func TestSpecialCharactersInPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a b?c=d&e%41#f")
	s := openT(t, dir)
	update(t, s, func(tx *Tx) error { return tx.SetMeta("k", []byte("v")) })
	if _, err := os.Stat(filepath.Join(dir, DBFile)); err != nil {
		t.Fatalf("database not at the expected path: %v", err)
	}
	ents, _ := os.ReadDir(filepath.Dir(dir))
	if len(ents) != 1 {
		t.Fatalf("files created outside the store directory: %v", ents)
	}
}

func TestConcurrentUse(t *testing.T) {
	s := openT(t, t.TempDir())
	update(t, s, func(tx *Tx) error { return tx.PutToken(Token{ID: 1, Blob: []byte("t")}) })
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for w := range uint64(4) {
		wg.Go(func() {
			for i := range uint64(25) {
				id := w*1000 + i
				if err := s.PutObject(Object{Token: 1, ID: id, Blob: []byte("x")}); err != nil {
					errs <- err
					return
				}
				if err := s.Update(func(tx *Tx) error {
					return tx.PutObject(Object{Token: 1, ID: id + 500, Blob: []byte("y")})
				}); err != nil {
					errs <- err
					return
				}
				if _, err := s.Objects(1); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if objs, err := s.Objects(1); err != nil || len(objs) != 200 {
		t.Fatalf("%d objects, %v; want 200", len(objs), err)
	}
}
