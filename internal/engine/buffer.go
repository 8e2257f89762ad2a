package engine

import (
	"github.com/keyward/keyward/internal/mech"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// Multi-part operations whose mechanism keeps its input until Final (mech.Buffering: AES-GCM and AES-CCM,
// whose plaintext must not be released before the tag is checked; pure EdDSA and Ed448ph; ML-DSA) hold what
// their Updates give them in the daemon. Without a bound any application could make the daemon hold memory
// without end, with a public session key and no login. The bounds:
//
//   - one operation holds at most maxOpBuffer bytes: an Update beyond it answers CKR_DATA_LEN_RANGE
//     (CKR_ENCRYPTED_DATA_LEN_RANGE for decryption), the specification's code for input too long for the
//     mechanism;
//   - all operations of one application hold at most maxAppBuffer bytes: an Update beyond it answers
//     CKR_DEVICE_MEMORY ("the token does not have sufficient memory to perform the requested function").
//
// Either error ends the operation (as every error of these calls does) and frees what it held.
var (
	maxOpBuffer  uint64 = 64 << 20
	maxAppBuffer uint64 = 256 << 20
)

// buffers reports whether op's mechanism keeps its Update input.
func (op *operation) buffers() bool {
	var x any = op.run
	if op.verifier != nil {
		x = op.verifier
	}
	b, ok := x.(mech.Buffering)
	return ok && b.Buffers()
}

// hold accounts the n bytes an Update gives op, an operation of s, when op buffers. Called with e.mu held.
func (s *session) hold(op *operation, n int) error {
	if n == 0 || !op.buffers() {
		return nil
	}
	if op.held+uint64(n) > maxOpBuffer {
		if op.kind == ck.OpDecrypt {
			return ck.CKR_ENCRYPTED_DATA_LEN_RANGE
		}
		return ck.CKR_DATA_LEN_RANGE
	}
	if s.app.buffered+uint64(n) > maxAppBuffer {
		return ck.CKR_DEVICE_MEMORY
	}
	op.held += uint64(n)
	s.app.buffered += uint64(n)
	return nil
}

// release gives back what an ending operation of s held. Called with e.mu held.
func (s *session) release(op *operation) {
	s.app.buffered -= op.held
	op.held = 0
}
