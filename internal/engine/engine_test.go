package engine_test

import (
	"bytes"
	"io"
	"log/slog"
	"testing"

	"github.com/keyward/keyward/internal/engine"
	"github.com/keyward/keyward/internal/engine/enginetest"
	"github.com/keyward/keyward/internal/store"
	"github.com/keyward/keyward/internal/vault"
	"github.com/keyward/keyward/internal/wire"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// newEngine opens an engine on a fresh store in a temporary directory.
func newEngine(t testing.TB, dir string) *engine.Engine {
	t.Helper()
	st, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.New(st, bytes.Repeat([]byte{7}, 32), engine.Config{
		KDF:    vault.FastKDF,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(); st.Close() })
	return e
}

// TestProviderSuite runs the shared Provider suite against the engine directly.
func TestProviderSuite(t *testing.T) {
	enginetest.Run(t, func(t *testing.T) func() ck.Provider {
		e := newEngine(t, t.TempDir())
		return func() ck.Provider { return e.Open(engine.Peer{UID: 1000, PID: 42}) }
	})
}

func mustParam(t testing.TB, m ck.MechanismType, fields map[string]any) []byte {
	t.Helper()
	b, err := wire.EncodeParams(m, fields)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
