package engine_test

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"testing"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// memObjects is how many token objects TestObjectMemory creates.
const memObjects = 10000

// liveHeap returns the live heap after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// createDataObjects creates n public token data objects shaped like keyward-bench's object workload: a
// distinct label, an application and a small value.
func createDataObjects(tb testing.TB, env benchEnv, n int) {
	tb.Helper()
	value := make([]byte, 32)
	for i := range n {
		if _, err := env.p.CreateObject(env.s, []ck.Attribute{ck.NewAttribute(ck.CKA_CLASS, ck.CKO_DATA),
			ck.NewAttribute(ck.CKA_TOKEN, true), ck.NewAttribute(ck.CKA_PRIVATE, false),
			ck.NewAttribute(ck.CKA_LABEL, fmt.Sprintf("object-%08d", i)),
			ck.NewAttribute(ck.CKA_OBJECT_ID, fmt.Appendf(nil, "id-%08d", i)),
			ck.NewAttribute(ck.CKA_APPLICATION, "keyward-bench"), ck.NewAttribute(ck.CKA_VALUE, value)}); err != nil {
			tb.Fatal(err)
		}
	}
}

// TestObjectMemory reports the live heap an in-memory token object costs (about 550 bytes with the compact
// attribute list and index, 2.1 KB with a map per object). It asserts a bound between the two;
// `go test -run ObjectMemory -v ./internal/engine` prints the number. KEYWARD_MEMPROFILE=file also writes a
// heap profile taken with the objects live.
func TestObjectMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("creates many objects")
	}
	env := newBenchEnv(t)
	createDataObjects(t, env, 10) // warm up the engine's lazily built state
	before := liveHeap()
	createDataObjects(t, env, memObjects)
	after := liveHeap()
	per := float64(after-before) / memObjects
	t.Logf("live heap per token data object: %.0f bytes (%d objects, %d bytes)", per, memObjects, after-before)
	if f := os.Getenv("KEYWARD_MEMPROFILE"); f != "" {
		w, err := os.Create(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := pprof.Lookup("heap").WriteTo(w, 0); err != nil {
			t.Fatal(err)
		}
		w.Close()
	}
	runtime.KeepAlive(env)
	if per > 1200 {
		t.Errorf("a token data object costs %.0f bytes of live heap", per)
	}
}
