package store

import (
	"errors"
	"strconv"
	"syscall"
	"testing"
)

// TestErrFull fills a real database (SQLite's page limit gives the SQLITE_FULL a full disk gives) and checks
// that every write form answers an error that is ErrFull, that other failures are not, and that the store
// takes writes again once there is room.
func TestErrFull(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Update(func(tx *Tx) error { return tx.PutToken(Token{ID: 1, Blob: []byte("token")}) }); err != nil {
		t.Fatal(err)
	}
	if err := s.PutObject(Object{Token: 2, ID: 1, Blob: []byte("x")}); !errors.Is(err, ErrNotFound) || errors.Is(err, ErrFull) {
		t.Fatalf("an object of a missing token: %v, want ErrNotFound and not ErrFull", err)
	}
	var pages int
	if err := s.db.QueryRow("PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.Exec("PRAGMA max_page_count = " + strconv.Itoa(pages+2)); err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 64<<10)
	err = s.PutObject(Object{Token: 1, ID: 1, Blob: big})
	if !errors.Is(err, ErrFull) {
		t.Fatalf("PutObject on a full database: %v, want ErrFull", err)
	}
	err = s.Update(func(tx *Tx) error { return tx.PutToken(Token{ID: 3, Blob: big}) })
	if !errors.Is(err, ErrFull) {
		t.Fatalf("Update on a full database: %v, want ErrFull", err)
	}
	if _, err := s.db.Exec("PRAGMA max_page_count = 1000000"); err != nil {
		t.Fatal(err)
	}
	if err := s.PutObject(Object{Token: 1, ID: 1, Blob: big}); err != nil {
		t.Fatalf("PutObject once there is room: %v", err)
	}
}

// TestErrFullSync: in the batched mode, an fsync that fails with ENOSPC makes the writes answer ErrFull; one
// that fails otherwise does not.
func TestErrFullSync(t *testing.T) {
	for _, tc := range []struct {
		fsync error
		full  bool
	}{{syscall.ENOSPC, true}, {syscall.EIO, false}} {
		s := openWithT(t, t.TempDir(), Options{Durability: DurabilityBatched})
		var l fsyncLog
		l.hook(s)
		l.fail = tc.fsync
		err := s.Update(func(tx *Tx) error { return tx.PutToken(Token{ID: 1, Blob: []byte("token")}) })
		if !errors.Is(err, ErrSyncFailed) || errors.Is(err, ErrFull) != tc.full {
			t.Errorf("Update whose fsync fails with %v: %v; want ErrSyncFailed, ErrFull %v", tc.fsync, err, tc.full)
		}
		if err := s.PutObject(Object{Token: 1, ID: 1, Blob: []byte("x")}); errors.Is(err, ErrFull) != tc.full {
			t.Errorf("PutObject after an fsync failed with %v: %v; want ErrFull %v", tc.fsync, err, tc.full)
		}
	}
}
