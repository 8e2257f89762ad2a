package engine

import (
	"crypto/rand"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// Random number generation: C_SeedRandom, C_GenerateRandom.

// MaxRandom is the most bytes one C_GenerateRandom returns; larger requests get CKR_DATA_LEN_RANGE.
const MaxRandom = 1 << 20

func (a *app) SeedRandom(h ck.SessionHandle, seed []byte) error {
	if err := a.checkSession(h); err != nil {
		return err
	}
	// The operating system's generator needs no seed and takes none from applications.
	return ck.CKR_RANDOM_SEED_NOT_SUPPORTED
}

func (a *app) GenerateRandom(h ck.SessionHandle, n uint64) ([]byte, error) {
	if err := a.checkSession(h); err != nil {
		return nil, err
	}
	if n > MaxRandom {
		return nil, ck.CKR_DATA_LEN_RANGE
	}
	out := make([]byte, n)
	if _, err := rand.Read(out); err != nil {
		return nil, ck.CKR_FUNCTION_FAILED
	}
	return out, nil
}
