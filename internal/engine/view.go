package engine

import (
	"path/filepath"
	"slices"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// KeyView is a per-application view of the tokens' keys: the programs it names see only key pairs of the
// listed key types; their other public and private keys are not there for them (not found, and their
// handles invalid), while certificates, data objects and secret keys stay visible.
//
// Why: libp11 0.4.12 (Debian 12's OpenSSL engine, used by curl, nginx, Apache, wpa_supplicant, swupdate ...)
// stops enumerating a token's keys at the first key of a type it does not know (Ed25519, Ed448, X25519,
// ML-DSA, ML-KEM) and then finds none at all, so one such key on a token hides every key from those programs.
type KeyView struct {
	// Programs are executables, by full path (/usr/sbin/nginx) or by file name (nginx), as the kernel
	// reports the peer's /proc/PID/exe.
	Programs []string
	// KeyTypes are the key types those programs see.
	KeyTypes []ck.KeyType
}

// viewOf returns the key types a peer sees (nil: all). Called with e.mu held.
func (e *Engine) viewOf(p Peer) []ck.KeyType {
	if p.Exe == "" {
		return nil
	}
	base := filepath.Base(p.Exe)
	for _, v := range e.cfg.Views {
		for _, prog := range v.Programs {
			if prog == p.Exe || prog == base {
				return v.KeyTypes
			}
		}
	}
	return nil
}

// viewHides reports whether the application's view hides object o.
func (a *app) viewHides(o *object) bool {
	if a.keyTypes == nil || (o.class != ck.CKO_PUBLIC_KEY && o.class != ck.CKO_PRIVATE_KEY) {
		return false
	}
	kt, ok := o.ulong(ck.CKA_KEY_TYPE)
	return ok && !slices.Contains(a.keyTypes, ck.KeyType(kt))
}

// SetViews replaces the per-application key views (keywardd's SIGHUP); applications started afterwards get
// the new ones.
func (e *Engine) SetViews(views []KeyView) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.cfg.Views = append([]KeyView(nil), views...)
}
