package engine

import (
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// Quotas on objects (Config): session objects per application and per uid (across the uid's applications),
// token objects per token (the bytes of their store records and their number). Each refusal is
// CKR_DEVICE_MEMORY, which the specification lists for the calls that make or grow objects ("the token does
// not have sufficient memory to perform the requested function"); other applications, uids and tokens are
// not affected.

// sessionQuota checks that an application's session object may go from old to grown bytes. Called with
// e.mu held.
func (e *Engine) sessionQuota(a *app, old, grown uint64) error {
	if grown <= old {
		return nil
	}
	more := grown - old
	if a.sessionBytes+more > e.cfg.MaxSessionBytes {
		return ck.CKR_DEVICE_MEMORY // this application's session objects are at their limit
	}
	if e.uidBytes[a.peer.UID]+more > e.cfg.MaxUIDSessionBytes {
		return ck.CKR_DEVICE_MEMORY // this uid's applications together are at their limit
	}
	return nil
}

// tokenQuota checks that token object o may be stored as a record of n bytes. Called with e.mu held.
func (e *Engine) tokenQuota(o *object, n uint64) error {
	t := o.tok
	if o.stored == 0 && t.storedCount+1 > e.cfg.MaxTokenObjects {
		return ck.CKR_DEVICE_MEMORY
	}
	if n > o.stored && t.storedBytes-o.stored+n > e.cfg.MaxTokenBytes {
		return ck.CKR_DEVICE_MEMORY
	}
	return nil
}

// recordStored counts token object o's record as n bytes (0: deleted). Called with e.mu held.
func (t *token) recordStored(o *object, n uint64) {
	switch {
	case o.stored == 0 && n != 0:
		t.storedCount++
	case o.stored != 0 && n == 0:
		t.storedCount--
	}
	t.storedBytes = t.storedBytes - o.stored + n
	o.stored = n
}

// mapSize is what object.size would be for an object with these attributes.
func mapSize(attrs map[ck.AttributeType][]byte) uint64 {
	var n uint64
	for _, v := range attrs {
		n += 12 + uint64(len(v))
	}
	return n
}
