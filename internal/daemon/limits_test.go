package daemon

import (
	"testing"
	"time"
)

// TestLimitsEffective: defaults fill in, the connection caps fit under the descriptor limit, the per-uid cap
// never exceeds the global one, and the receive budget holds at least one largest frame.
func TestLimitsEffective(t *testing.T) {
	l := Limits{}.effective(0)
	if l.MaxConnections != DefaultMaxConnections || l.MaxConnectionsPerUID != DefaultMaxConnectionsPerUID ||
		l.HelloTimeout != DefaultHelloTimeout || l.FrameTimeout != DefaultFrameTimeout || l.MaxReceiveBytes != DefaultMaxReceiveBytes ||
		l.MaxReceiveBytesPerUID != DefaultMaxReceiveBytes/2 {
		t.Fatalf("defaults: %+v", l)
	}
	l = Limits{MaxReceiveBytes: 1}.effective(256)
	if l.MaxConnections != 256-fdReserve || l.MaxConnectionsPerUID != 256-fdReserve || l.MaxReceiveBytes != maxFrameBytes ||
		l.MaxReceiveBytesPerUID != maxFrameBytes {
		t.Fatalf("under nofile 256: %+v", l)
	}
	if l := (Limits{MaxConnections: 10}).effective(20); l.MaxConnections != 1 {
		t.Fatalf("under nofile 20: %+v", l)
	}
}

// TestByteBudget: acquisitions beyond the budget wait, in order, and get their bytes when others release them;
// a waiter that times out or is stopped takes nothing.
func TestByteBudget(t *testing.T) {
	b := newByteBudget(10)
	stop := make(chan struct{})
	far := time.Now().Add(time.Minute)
	if !b.acquire(6, far, stop) {
		t.Fatal("first acquire failed")
	}
	if b.acquire(5, time.Now().Add(20*time.Millisecond), stop) {
		t.Fatal("an acquire beyond the budget succeeded")
	}
	got := make(chan bool)
	go func() { got <- b.acquire(8, far, stop) }()
	time.Sleep(20 * time.Millisecond)
	select {
	case <-got:
		t.Fatal("a waiter got bytes that were not free")
	default:
	}
	b.release(6)
	if !<-got {
		t.Fatal("the waiter did not get the released bytes")
	}
	go func() { got <- b.acquire(5, far, stop) }()
	time.Sleep(20 * time.Millisecond)
	close(stop)
	if <-got {
		t.Fatal("a stopped waiter got bytes")
	}
	b.release(8)
	if b.free != 10 || len(b.waiters) != 0 {
		t.Fatalf("budget after everything released: free %d, %d waiters", b.free, len(b.waiters))
	}
}
