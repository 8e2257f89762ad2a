package engine

import (
	"slices"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// TokenPolicy is the access policy of one token, from the daemon's configuration (docs/architecture.md, "Access
// control"): which Linux identities may use the token at all, and which are logged in as the user by their
// identity alone, without a PIN (as OP-TEE's PKCS#11 TA does with its ACL login).
type TokenPolicy struct {
	// Label and Serial select the token: the policy applies to a token whose label or serial number is a
	// set one. A serial number stays when the token is initialised again; a label may change then.
	Label, Serial string
	// AllowUIDs and AllowGIDs may open the token; both empty means everyone.
	AllowUIDs, AllowGIDs []uint32
	// LoginUIDs and LoginGIDs are logged in as CKU_USER by C_Login with a NULL PIN (the token then shows
	// CKF_PROTECTED_AUTHENTICATION_PATH to them). They must also be allowed to open the token.
	LoginUIDs, LoginGIDs []uint32
}

func (p *TokenPolicy) matches(t *token) bool {
	return (p.Label != "" && p.Label == t.rec.Label) || (p.Serial != "" && p.Serial == t.rec.Serial)
}

// inGroupList reports whether the peer's uid is in uids or one of its groups in gids.
func (peer Peer) in(uids, gids []uint32) bool {
	if slices.Contains(uids, peer.UID) || slices.Contains(gids, peer.GID) {
		return true
	}
	for _, g := range peer.Groups {
		if slices.Contains(gids, g) {
			return true
		}
	}
	return false
}

// policyOf returns the policy of a token, or nil when it has none.
func (e *Engine) policyOf(t *token) *TokenPolicy {
	for i := range e.cfg.Policies {
		if e.cfg.Policies[i].matches(t) {
			return &e.cfg.Policies[i]
		}
	}
	return nil
}

// mayOpen reports whether the application may see and use token t.
func (a *app) mayOpen(t *token) bool {
	p := a.e.policyOf(t)
	if p == nil || (len(p.AllowUIDs) == 0 && len(p.AllowGIDs) == 0) {
		return true
	}
	return a.peer.in(p.AllowUIDs, p.AllowGIDs)
}

// identityLogin reports whether the application is logged in to t as the user by its Linux identity.
func (a *app) identityLogin(t *token) bool {
	p := a.e.policyOf(t)
	return p != nil && a.mayOpen(t) && a.peer.in(p.LoginUIDs, p.LoginGIDs)
}

// visibleSlot checks that slot names a token the application may open, or the free slot.
func (a *app) visibleSlot(slot ck.SlotID) error {
	if t, ok := a.e.tokens[slot]; ok && !a.mayOpen(t) {
		return ck.CKR_SLOT_ID_INVALID // a token the policy hides does not exist for this application
	}
	return nil
}
