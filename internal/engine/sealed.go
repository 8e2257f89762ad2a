package engine

import (
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// Sealed objects. The SO can create only public objects (PKCS#11: "only public objects can be created unless
// the normal user is logged in"), and public token objects are stored under a key derived from the device root
// key alone, so that they are visible before any login. For the SO's keys that is too little: the trusted
// wrapping keys would come out of a copied store with the root key and no PIN. So a key the SO stores on
// the token (a secret or private key made in an SO session) and every trusted secret key is sealed: still a
// public object (CKA_PRIVATE FALSE, visible to the SO and the user), but stored under the token key, which
// only the SO and user PINs (or identity login) unwrap. A sealed object is loaded, like the private ones,
// when someone first logs in to the token, and forgotten when the last login ends: before any login it is
// not visible. The store marks it as under the token key; its attributes say it is public.
//
// Stores written before sealing existed keep their SO keys as public rows, which still load; a trusted
// secret key among them is sealed (rewritten under the token key) at the first login.

// sealAtRest reports whether a new token object is to be sealed: a public key object the SO stores on the
// token, or a trusted secret key.
func sealAtRest(o *object, bySO bool) bool {
	if !o.onToken || o.private {
		return false
	}
	key := o.class == ck.CKO_SECRET_KEY || o.class == ck.CKO_PRIVATE_KEY
	return key && (bySO || (o.class == ck.CKO_SECRET_KEY && o.bool(ck.CKA_TRUSTED)))
}

// sealTrusted rewrites a token's trusted secret keys still stored as public rows under the token key.
// Called with e.mu held and the token key present.
func (e *Engine) sealTrusted(t *token) {
	if t.tokenKey == nil {
		return
	}
	for _, o := range t.index.all() {
		if !o.onToken || o.private || o.sealed || !sealAtRest(o, false) {
			continue
		}
		o.sealed = true
		if err := e.persist(o); err != nil {
			o.sealed = false
			e.log.Error("sealing a trusted key failed; it stays under the root key", "token", t.id, "object", o.id, "err", err)
			continue
		}
		// persist replaced the row: loaded again later it is under the token key, so it must be dropped
		// with the private objects too (dropTokenKey), and loaded with them.
	}
}
