package engine

import (
	"fmt"
	"os"
	"syscall"
	"testing"

	"github.com/keyward/keyward/internal/store"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// TestStoreError maps store errors by what they are, not by their text: a full store is CKR_DEVICE_MEMORY
// whatever its message says; any other failure is CKR_DEVICE_ERROR, even one whose text says "full" (a store
// directory named so, in an fsync's path).
func TestStoreError(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want ck.RV
	}{
		{fmt.Errorf("store: put object 1 of token 2: %w: database or disk is full (13)", store.ErrFull), ck.CKR_DEVICE_MEMORY},
		{fmt.Errorf("store: commit: %w", fmt.Errorf("%w: %w", store.ErrFull, syscall.ENOSPC)), ck.CKR_DEVICE_MEMORY},
		{fmt.Errorf("%w: %w", store.ErrSyncFailed, &os.PathError{Op: "fsync", Path: "/var/lib/keyward-full/keyward.db-wal", Err: syscall.EIO}), ck.CKR_DEVICE_ERROR},
		{fmt.Errorf("store: put token 1: disk I/O error (full sync)"), ck.CKR_DEVICE_ERROR},
		{store.ErrReadOnly, ck.CKR_DEVICE_ERROR},
	} {
		if got := ck.ToRV(storeError(tc.err)); got != tc.want {
			t.Errorf("storeError(%q) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
