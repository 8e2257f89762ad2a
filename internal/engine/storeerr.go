package engine

import (
	"errors"

	"github.com/keyward/keyward/internal/store"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// storeError maps a failed store write to the code PKCS#11 names for it.
func storeError(err error) error {
	if errors.Is(err, store.ErrFull) {
		return ck.CKR_DEVICE_MEMORY // "the token does not have sufficient memory to perform the requested function"
	}
	return ck.CKR_DEVICE_ERROR // also a read-only store (store.ErrReadOnly)
}
