package engine

import (
	"bytes"
	"unsafe"

	"github.com/keyward/keyward/internal/mech"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// The running part of cryptographic operations. A call computes without holding the engine lock (other
// sessions keep working while this one signs), then delivers its output under the length convention: a
// length query or a short buffer keeps the computed output for the next call of the same kind, which
// returns it without computing again; the operation ends when the final output is delivered or on error.

// noOutput is the output buffer of calls that produce none (C_SignUpdate, C_VerifyFinal ...): they are never
// length queries, so their (empty) result is delivered at once.
var noOutput = ck.Out{Present: true}

// stage names the call that computed an operation's pending output.
type stage int

const (
	stageNone stage = iota
	stageSingle
	stageUpdate
	stageFinal
)

// step runs one call of the operation of kind on session h. in is the call's input: output kept for a later
// call never aliases it (the daemon reuses the buffers of large requests once the call is done).
//
// Locking (locking.go): the check (under e.mu) finds the operation and fits the call to its progress; output
// computed earlier is delivered there and then. Otherwise the operation is marked busy and its key held, the
// output is computed without e.mu, and the commit (under e.mu) keeps it only if the operation is still the
// session's (a logout, C_SessionCancel or closing the session meanwhile ends it: CKR_OPERATION_NOT_INITIALIZED)
// and delivers it.
func (a *app) step(h ck.SessionHandle, kind ck.Operation, st stage, out ck.Out, ends bool, in []byte, compute func(*operation) ([]byte, error)) ([]byte, uint64, error) {
	e := a.e
	var s *session
	var op *operation
	var fresh bool
	var res []byte
	var n uint64
	err := a.withSession(h, func(s0 *session) error {
		s = s0
		var err error
		if op, err = s.activeOp(kind); err != nil {
			return err
		}
		if err := op.enter(st); err != nil {
			s.endOp(kind)
			return err
		}
		fresh = op.pending == nil
		if fresh && st == stageUpdate {
			if err := s.hold(op, len(in)); err != nil {
				s.endOp(kind)
				return err
			}
		}
		if !fresh {
			res, n, err = s.deliver(kind, st, op, out, ends, in, false)
			return err
		}
		op.busy = true
		e.holdKeys(op.key)
		return nil
	})
	if err != nil || !fresh {
		return res, n, err
	}

	computed, cerr := compute(op)

	err = e.locked(func() error {
		op.busy = false
		e.releaseKeysLocked(op.key)
		if s.ops[kind] != op {
			clear(computed)
			return ck.CKR_OPERATION_NOT_INITIALIZED // cancelled meanwhile (logout, session closed)
		}
		if cerr != nil {
			s.endOp(kind)
			return mechError(cerr)
		}
		if computed == nil {
			computed = []byte{}
		}
		op.pending, op.stage = computed, st
		var err error
		res, n, err = s.deliver(kind, st, op, out, ends, in, true)
		return err
	})
	return res, n, err
}

// deliver hands out op's pending output under the length convention to a call of stage st; fresh says it
// was computed by this call, from in. Called with e.mu held.
func (s *session) deliver(kind ck.Operation, st stage, op *operation, out ck.Out, ends bool, in []byte, fresh bool) ([]byte, uint64, error) {
	n := uint64(len(op.pending))
	if !out.Present || out.Cap < n {
		// A length query or a short buffer: the output waits for the next call (even an empty one), so it
		// must not lie in the caller's input.
		if fresh && overlaps(op.pending, in) {
			op.pending = bytes.Clone(op.pending)
		}
		var peek []byte
		if out.Peek && st == stageSingle && n <= ck.MaxPeek {
			// The answer carries a copy (the operation keeps its own, which a cancel may clear meanwhile):
			// the client answers the call that delivers it, and ends the operation (OperationEnd).
			peek = bytes.Clone(op.pending)
			if peek == nil {
				peek = []byte{}
			}
		}
		if !out.Present {
			return peek, n, nil
		}
		return peek, n, ck.CKR_BUFFER_TOO_SMALL
	}
	res := op.pending
	op.pending, op.stage = nil, stageNone
	if ends {
		s.endOp(kind)
	}
	return res, n, nil
}

// activeOp returns the session's operation of kind, checking that it may run now.
func (s *session) activeOp(kind ck.Operation) (*operation, error) {
	op, ok := s.ops[kind]
	if !ok {
		return nil, ck.CKR_OPERATION_NOT_INITIALIZED
	}
	if op.busy {
		return nil, ck.CKR_OPERATION_ACTIVE // another thread is inside a call of this session's operation
	}
	if op.needsAuth && !op.authenticated {
		return nil, ck.CKR_USER_NOT_LOGGED_IN // CKA_ALWAYS_AUTHENTICATE: C_Login(CKU_CONTEXT_SPECIFIC) first
	}
	return op, nil
}

// mechError maps what a mechanism returned to a CK_RV error.
func mechError(err error) error {
	if rv := ck.ToRV(err); rv != ck.CKR_GENERAL_ERROR {
		return rv
	}
	return ck.CKR_FUNCTION_FAILED
}

// overlaps reports whether a and b share bytes.
func overlaps(a, b []byte) bool {
	if len(a) == 0 || len(b) == 0 {
		return false
	}
	pa, pb := uintptr(unsafe.Pointer(unsafe.SliceData(a))), uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	return pa < pb+uintptr(len(b)) && pb < pa+uintptr(len(a))
}

func single(op *operation, in []byte) ([]byte, error) {
	if op.single != nil {
		return op.single.Single(in)
	}
	if s, ok := op.run.(mech.Single); ok {
		return s.Single(in)
	}
	out, err := op.run.Update(in)
	if err != nil {
		return nil, err
	}
	rest, err := op.run.Final()
	if err != nil {
		clear(out)
		return nil, err
	}
	return joinOutput(out, rest, in), nil
}

// joinOutput returns a followed by b, copying only when both have bytes. What it copied from is cleared,
// unless it is the caller's input.
func joinOutput(a, b, in []byte) []byte {
	switch {
	case len(b) == 0:
		return a
	case len(a) == 0:
		return b
	}
	out := append(a, b...)
	if unsafe.SliceData(out) != unsafe.SliceData(a) && !overlaps(a, in) {
		clear(a)
	}
	if !overlaps(b, in) {
		clear(b)
	}
	return out
}

func (a *app) OperationSingle(h ck.SessionHandle, kind ck.Operation, in []byte, out ck.Out) ([]byte, uint64, error) {
	switch kind {
	case ck.OpEncrypt, ck.OpDecrypt, ck.OpDigest, ck.OpSign, ck.OpSignRecover, ck.OpVerifyRecover:
	default:
		return a.badKind(h)
	}
	return a.step(h, kind, stageSingle, out, true, in, func(op *operation) ([]byte, error) {
		return single(op, in)
	})
}

func (a *app) OperationUpdate(h ck.SessionHandle, kind ck.Operation, in []byte, out ck.Out) ([]byte, uint64, error) {
	switch kind {
	case ck.OpEncrypt, ck.OpDecrypt, ck.OpDigest, ck.OpSign:
		if kind == ck.OpDigest || kind == ck.OpSign {
			out = noOutput // C_DigestUpdate and C_SignUpdate return nothing
		}
		return a.step(h, kind, stageUpdate, out, false, in, func(op *operation) ([]byte, error) {
			if op.run == nil {
				return nil, ck.CKR_FUNCTION_NOT_SUPPORTED
			}
			return op.run.Update(in)
		})
	case ck.OpVerify, ck.OpVerifySignature:
		_, _, err := a.step(h, kind, stageUpdate, noOutput, false, in, func(op *operation) ([]byte, error) {
			return nil, op.verifier.Update(in)
		})
		return nil, 0, err
	case ck.OpDigestEncrypt, ck.OpDecryptDigest, ck.OpSignEncrypt, ck.OpDecryptVerify:
		return a.dualUpdate(h, kind, in, out)
	}
	return a.badKind(h)
}

func (a *app) OperationFinal(h ck.SessionHandle, kind ck.Operation, out ck.Out) ([]byte, uint64, error) {
	switch kind {
	case ck.OpEncrypt, ck.OpDecrypt, ck.OpDigest, ck.OpSign:
		return a.step(h, kind, stageFinal, out, true, nil, func(op *operation) ([]byte, error) {
			if op.run == nil {
				return nil, ck.CKR_FUNCTION_NOT_SUPPORTED
			}
			return op.run.Final()
		})
	case ck.OpVerifySignature:
		_, _, err := a.step(h, kind, stageFinal, noOutput, true, nil, func(op *operation) ([]byte, error) {
			return nil, op.verifier.Final(op.sig)
		})
		return nil, 0, err
	}
	return a.badKind(h)
}

// badKind answers a call with an operation kind it does not take, after checking the session.
func (a *app) badKind(h ck.SessionHandle) ([]byte, uint64, error) {
	if err := a.checkSession(h); err != nil {
		return nil, 0, err
	}
	return nil, 0, ck.CKR_ARGUMENTS_BAD
}

func verifyAll(op *operation, data, sig []byte) error {
	if sv, ok := op.verifier.(mech.SingleVerifier); ok {
		return sv.Verify(data, sig)
	}
	if err := op.verifier.Update(data); err != nil {
		return err
	}
	return op.verifier.Final(sig)
}

func (a *app) Verify(h ck.SessionHandle, data, sig []byte) error {
	_, _, err := a.step(h, ck.OpVerify, stageSingle, noOutput, true, data, func(op *operation) ([]byte, error) {
		return nil, verifyAll(op, data, sig)
	})
	return err
}

func (a *app) VerifyFinal(h ck.SessionHandle, sig []byte) error {
	_, _, err := a.step(h, ck.OpVerify, stageFinal, noOutput, true, sig, func(op *operation) ([]byte, error) {
		return nil, op.verifier.Final(sig)
	})
	return err
}

func (a *app) VerifySignature(h ck.SessionHandle, data []byte) error {
	_, _, err := a.step(h, ck.OpVerifySignature, stageSingle, noOutput, true, data, func(op *operation) ([]byte, error) {
		return nil, verifyAll(op, data, op.sig)
	})
	return err
}

// dualUpdate runs a dual-function update: both operations must be active; the output is the second one's
// (or, for decrypt-then-digest and decrypt-then-verify, the decrypted data). Locking: the check (under e.mu)
// finds both operations and holds their keys until the end; step computes and commits.
func (a *app) dualUpdate(h ck.SessionHandle, kind ck.Operation, in []byte, out ck.Out) ([]byte, uint64, error) {
	parts := dualParts[kind]
	var first, second *operation
	err := a.withSession(h, func(s *session) error {
		var err error
		first, err = s.activeOp(parts[0])
		if err == nil {
			second, err = s.activeOp(parts[1])
		}
		// Both operations are multi-part from now on; the producer's own check is step's.
		fed := first
		if kind == ck.OpDecryptDigest || kind == ck.OpDecryptVerify {
			fed = second
		}
		if err == nil {
			err = fed.enter(stageUpdate)
		}
		if err == nil {
			a.e.holdKeys(first.key, second.key)
		}
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	defer a.e.releaseKeys(first.key, second.key)
	// The output comes from the operation that produces it; the other one is fed alongside.
	producer := parts[1]
	if kind == ck.OpDecryptDigest || kind == ck.OpDecryptVerify {
		producer = parts[0]
	}
	return a.step(h, producer, stageUpdate, out, false, in, func(op *operation) ([]byte, error) {
		var res []byte
		var err error
		switch kind {
		case ck.OpDigestEncrypt, ck.OpSignEncrypt:
			if _, err = first.run.Update(in); err == nil {
				res, err = op.run.Update(in)
			}
		case ck.OpDecryptDigest:
			if res, err = op.run.Update(in); err == nil {
				_, err = second.run.Update(res)
			}
		case ck.OpDecryptVerify:
			if res, err = op.run.Update(in); err == nil {
				err = second.verifier.Update(res)
			}
		}
		return res, err
	})
}

// DigestKey is C_DigestKey. Locking: the check (under e.mu) finds the digest operation and the key, and holds
// the key, whose value the digest reads without e.mu (step), until the end: a C_DestroyObject meanwhile does
// not wipe what is being digested.
func (a *app) DigestKey(h ck.SessionHandle, key ck.ObjectHandle) error {
	var o *object
	var value []byte
	err := a.withSession(h, func(s *session) error {
		if _, err := s.activeOp(ck.OpDigest); err != nil {
			return err
		}
		// An error ends the digest operation (PKCS#11, C_DigestKey).
		var err error
		if o, err = s.object(key); err != nil {
			s.endOp(ck.OpDigest)
			return ck.CKR_KEY_HANDLE_INVALID
		}
		if o.class != ck.CKO_SECRET_KEY {
			s.endOp(ck.OpDigest)
			return ck.CKR_KEY_INDIGESTIBLE
		}
		value = o.attrs.value(ck.CKA_VALUE)
		a.e.holdKeys(o)
		return nil
	})
	if err != nil {
		return err
	}
	defer a.e.releaseKeys(o)
	a.e.checked("digest key")
	_, _, err = a.step(h, ck.OpDigest, stageUpdate, noOutput, false, nil, func(op *operation) ([]byte, error) {
		return op.run.Update(value)
	})
	return err
}
