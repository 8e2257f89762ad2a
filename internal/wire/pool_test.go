package wire

import (
	"bytes"
	"testing"
)

// TestFramePool reads frames of many sizes through a FramePool: the bodies are right, only the large frames of
// the calls named are pooled, their buffers come back cleared and are reused, and a truncated frame fails.
func TestFramePool(t *testing.T) {
	var p FramePool
	reuse := func(c Call) bool { return c == CallOperationSingle }
	sizes := []int{0, 100, PooledFrame - requestHeader, PooledFrame - requestHeader + 1, 64 << 10,
		1<<20 - requestHeader, 1 << 20, 1<<20 + poolSlack - requestHeader, 1<<20 + poolSlack, readChunk + 1,
		3*readChunk + 7, MaxFrame - requestHeader}
	for _, n := range sizes {
		body := make([]byte, n)
		for i := range body {
			body[i] = byte(i*7 + 1)
		}
		for _, call := range []Call{CallOperationSingle, CallCreateObject} {
			frame := AppendRequest(nil, 9, call, body)
			for round := 0; round < 2; round++ {
				req, pooled, err := p.ReadRequest(iotestHalfReader{bytes.NewReader(frame)}, reuse)
				if err != nil || !bytes.Equal(req.Body, body) || req.ID != 9 || req.Call != call {
					t.Fatalf("frame of %d bytes (%v): %v", n, call, err)
				}
				large := requestHeader+n > PooledFrame && call == CallOperationSingle
				if (pooled != nil) != large {
					t.Fatalf("frame of %d bytes (%v): pooled %v", n, call, pooled != nil)
				}
				if pooled == nil {
					continue
				}
				if len(pooled) != requestHeader+n || cap(pooled) != poolCap(poolClass(len(pooled))) {
					t.Fatalf("frame of %d bytes: pooled buffer of %d/%d bytes", n, len(pooled), cap(pooled))
				}
				p.Put(pooled)
				if !allZero(pooled[:cap(pooled)]) {
					t.Fatalf("frame of %d bytes: Put left data in the buffer", n)
				}
			}
			if _, _, err := p.ReadRequest(bytes.NewReader(frame[:len(frame)-1]), reuse); err == nil {
				t.Fatalf("truncated frame of %d bytes accepted", n)
			}
		}
	}
	p.Put(nil)
}

// TestFramePoolClasses checks that each class's buffers hold every frame the class is chosen for, and that a
// power-of-two payload with its header fits the class of its size.
func TestFramePoolClasses(t *testing.T) {
	for n := PooledFrame + 1; n <= MaxFrame; n += 997 {
		k := poolClass(n)
		if k < 0 || k >= len(FramePool{}.classes) || poolCap(k) < n || (k > 0 && poolCap(k-1) >= n) {
			t.Fatalf("frame of %d bytes: class %d of %d bytes", n, k, poolCap(k))
		}
	}
	if got := poolCap(poolClass(1<<20 + 64)); got != 1<<20+poolSlack {
		t.Fatalf("a 1 MiB payload's frame gets a buffer of %d bytes", got)
	}
}

func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}
