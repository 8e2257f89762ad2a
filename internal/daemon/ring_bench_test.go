package daemon_test

import (
	"sync/atomic"
	"testing"

	"github.com/keyward/keyward/internal/wire"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// BenchmarkRoundTrip times GetInfo through the socket and through a ring, client and daemon in this process
// (allocations are the daemon's path plus the test client's): go test -run X -bench RoundTrip -benchmem
// ./internal/daemon. The C figures, between two processes, are in docs/performance.md ("The round trip").
func BenchmarkRoundTrip(b *testing.B) {
	b.Run("socket", func(b *testing.B) {
		sock, _ := serve(b)
		r, _ := dialRing(b, sock) // asks for a ring, and uses the socket anyway: frames on it are answered on it
		buf := make([]byte, 0, 4096)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := r.c.Write(wire.AppendRequest(buf[:0], uint32(i), wire.CallGetInfo, nil)); err != nil {
				b.Fatal(err)
			}
			resp, _, err := wire.ReadResponse(r.c, buf)
			if err != nil || resp.RV != ck.CKR_OK {
				b.Fatal(err, resp.RV)
			}
		}
	})
	b.Run("ring", func(b *testing.B) {
		sock, _ := serve(b)
		r, _ := dialRing(b, sock)
		frame := wire.AppendRequest(nil, 1, wire.CallGetInfo, nil)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			r.post(frame)
			for atomic.LoadUint32(r.word(128)) == r.seen {
			}
			r.seen = atomic.LoadUint32(r.word(128))
		}
	})
}
