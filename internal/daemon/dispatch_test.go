package daemon

import (
	"testing"

	"github.com/keyward/keyward/internal/wire"
)

// TestEveryCallHasAHandler: every call of calls.def but Hello, Features and RingSetup (the connection's own:
// server.go) is dispatched, and nothing else is.
func TestEveryCallHasAHandler(t *testing.T) {
	connections := map[wire.Call]bool{wire.CallHello: true, wire.CallFeatures: true, wire.CallRingSetup: true}
	for _, c := range wire.Calls() {
		if _, ok := handlers[c.ID]; ok == connections[c.ID] {
			t.Errorf("%s: handler present %v", c.Name, ok)
		}
	}
	if len(handlers) != len(wire.Calls())-len(connections) {
		t.Errorf("%d handlers for %d calls", len(handlers), len(wire.Calls()))
	}
}
