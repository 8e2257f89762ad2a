package daemon

import (
	"testing"

	"github.com/keyward/keyward/internal/wire"
)

// TestEveryCallHasAHandler: every call of calls.def but Hello (the connection's own) is dispatched, and
// nothing else is.
func TestEveryCallHasAHandler(t *testing.T) {
	for _, c := range wire.Calls() {
		if _, ok := handlers[c.ID]; ok == (c.ID == wire.CallHello) {
			t.Errorf("%s: handler present %v", c.Name, ok)
		}
	}
	if len(handlers) != len(wire.Calls())-1 {
		t.Errorf("%d handlers for %d calls", len(handlers), len(wire.Calls()))
	}
}
