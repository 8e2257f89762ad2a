package mech

import (
	"crypto"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha3"
	"crypto/sha512"
	"hash"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// Digests: CKM_SHA_1, CKM_SHA224, CKM_SHA256, CKM_SHA384, CKM_SHA512, CKM_SHA512_224, CKM_SHA512_256 and
// CKM_SHA3_224 ... CKM_SHA3_512 (PKCS#11 3.0 mechanisms, "SHA-1", "SHA-2" and "SHA-3" sections). They take no
// parameter and no key.

// hashes maps each digest mechanism to its Go hash.
var hashes = map[ck.MechanismType]crypto.Hash{
	ck.CKM_SHA_1:      crypto.SHA1,
	ck.CKM_SHA224:     crypto.SHA224,
	ck.CKM_SHA256:     crypto.SHA256,
	ck.CKM_SHA384:     crypto.SHA384,
	ck.CKM_SHA512:     crypto.SHA512,
	ck.CKM_SHA512_224: crypto.SHA512_224,
	ck.CKM_SHA512_256: crypto.SHA512_256,
	ck.CKM_SHA3_224:   crypto.SHA3_224,
	ck.CKM_SHA3_256:   crypto.SHA3_256,
	ck.CKM_SHA3_384:   crypto.SHA3_384,
	ck.CKM_SHA3_512:   crypto.SHA3_512,
}

// HashOf returns the Go hash of a digest mechanism (also the hashAlg of OAEP, PSS, HKDF parameters).
func HashOf(m ck.MechanismType) (crypto.Hash, bool) {
	h, ok := hashes[m]
	return h, ok
}

// newHash makes a hash.Hash; the constructors are named so that the binary links them.
func newHash(h crypto.Hash) hash.Hash {
	switch h {
	case crypto.SHA1:
		return sha1.New()
	case crypto.SHA224:
		return sha256.New224()
	case crypto.SHA256:
		return sha256.New()
	case crypto.SHA384:
		return sha512.New384()
	case crypto.SHA512:
		return sha512.New()
	case crypto.SHA512_224:
		return sha512.New512_224()
	case crypto.SHA512_256:
		return sha512.New512_256()
	case crypto.SHA3_224:
		return sha3.New224()
	case crypto.SHA3_256:
		return sha3.New256()
	case crypto.SHA3_384:
		return sha3.New384()
	case crypto.SHA3_512:
		return sha3.New512()
	}
	panic("mech: unknown hash")
}

// NewHash returns a new hash of a digest mechanism's algorithm.
func NewHash(h crypto.Hash) hash.Hash { return newHash(h) }

type digestOp struct{ h hash.Hash }

func (d *digestOp) Update(in []byte) ([]byte, error) {
	d.h.Write(in)
	return nil, nil
}

func (d *digestOp) Final() ([]byte, error) { return d.h.Sum(nil), nil }

func init() {
	for m, h := range hashes {
		h := h
		Register(&Spec{
			Type: m,
			Info: ck.MechanismInfo{Flags: ck.CKF_DIGEST},
			Digest: func(p Param) (Operation, error) {
				if p.Present {
					return nil, ck.CKR_MECHANISM_PARAM_INVALID
				}
				return &digestOp{h: newHash(h)}, nil
			},
		})
	}
}
