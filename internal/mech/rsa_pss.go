package mech

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"encoding/binary"
	"math/big"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// CKM_RSA_PKCS_PSS and CKM_<hash>_RSA_PKCS_PSS: CK_RSA_PKCS_PSS_PARAMS arrives raw (hashAlg, mgf, sLen:
// three CK_ULONGs). PKCS #11 bounds sLen only from above (emLen - hLen - 2: 0 is allowed, and is what
// deterministic profiles, TPMs and openssl's rsa_pss_saltlen:0 use) and lets mgf name MGF1 over any hash.
// crypto/rsa's PSS uses the message hash for MGF1 and has no empty salt (SaltLength 0 means "as long as
// possible" when signing and "any length" when verifying). So crypto/rsa does what it can (MGF1 over hashAlg,
// sLen at least 1), and everything else is EMSA-PSS-ENCODE and EMSA-PSS-VERIFY of RFC 8017, section 9.1
// (rsaPSSEncode, rsaPSSCheck), with MGF1 of appendix B.2.1 (rsaMGF1XOR), over the raw private operation
// (rsaPrivate.raw: blinded, and checked against e) and a public exponentiation. Verification is strict: the
// salt must have exactly the length given.

type rsaPSSParams struct {
	hash crypto.Hash // hashAlg: the message's
	mgf  crypto.Hash // MGF1's
	sLen int
}

// rsaPSSHash reports whether hashAlg may name h: one of the hashes of the hash-and-sign mechanisms.
func rsaPSSHash(h crypto.Hash) bool {
	for _, m := range rsaHashMechs {
		if m.h == h {
			return true
		}
	}
	return false
}

// rsaParsePSS reads CK_RSA_PKCS_PSS_PARAMS; want is the mechanism's own hash (0 for CKM_RSA_PKCS_PSS).
func rsaParsePSS(p Param, want crypto.Hash, bits int) (rsaPSSParams, error) {
	if !p.Present || len(p.Raw) != 24 {
		return rsaPSSParams{}, ck.CKR_MECHANISM_PARAM_INVALID
	}
	hashAlg, _ := RawULong(p.Raw, 0)
	mgf, _ := RawULong(p.Raw, 8)
	sLen, _ := RawULong(p.Raw, 16)
	h, ok := HashOf(ck.MechanismType(hashAlg))
	if !ok || !rsaPSSHash(h) || (want != 0 && h != want) {
		return rsaPSSParams{}, ck.CKR_MECHANISM_PARAM_INVALID
	}
	mh, ok := rsaMGFs[mgf]
	if !ok {
		return rsaPSSParams{}, ck.CKR_MECHANISM_PARAM_INVALID
	}
	// sLen <= emLen - hLen - 2, emLen = ceil((modBits-1)/8) (the spec's k*).
	emLen := (bits - 1 + 7) / 8
	if sLen > uint64(emLen) || int(sLen) > emLen-h.Size()-2 {
		return rsaPSSParams{}, ck.CKR_MECHANISM_PARAM_INVALID
	}
	return rsaPSSParams{hash: h, mgf: mh, sLen: int(sLen)}, nil
}

// byGo reports whether crypto/rsa can make and check the signatures of these parameters.
func (pp rsaPSSParams) byGo() bool { return pp.mgf == pp.hash && pp.sLen > 0 }

// sign signs a digest with a private key whose public exponent is known (priv.key is set).
func (pp rsaPSSParams) sign(priv *rsaPrivate, digest []byte) ([]byte, error) {
	if !pp.byGo() {
		return pp.signOwn(priv, digest)
	}
	out, err := priv.ops.signPSS(pp.hash, digest, pp.sLen)
	if err != nil {
		return nil, ck.CKR_FUNCTION_FAILED
	}
	return out, nil
}

// signOwn is RSASSA-PSS-SIGN (RFC 8017, section 8.1.1) without crypto/rsa: EMSA-PSS-ENCODE with a fresh
// salt, then the raw private operation.
func (pp rsaPSSParams) signOwn(priv *rsaPrivate, digest []byte) ([]byte, error) {
	salt := make([]byte, pp.sLen)
	if _, err := rand.Read(salt); err != nil {
		return nil, ck.CKR_FUNCTION_FAILED
	}
	em, err := rsaPSSEncode(digest, priv.pub.N.BitLen()-1, salt, pp.hash, pp.mgf)
	if err != nil {
		return nil, err
	}
	// EM has emBits = modBits-1 bits at most, so m < 2^(modBits-1) < n.
	s, err := priv.ops.raw(new(big.Int).SetBytes(em))
	if err != nil {
		return nil, err
	}
	return rsaBytes(s, priv.size()), nil
}

func (pp rsaPSSParams) verify(pub *rsa.PublicKey, digest, sig []byte) error {
	if len(sig) != pub.Size() {
		return ck.CKR_SIGNATURE_LEN_RANGE
	}
	if !pp.byGo() {
		return pp.verifyOwn(pub, digest, sig)
	}
	if rsa.VerifyPSS(pub, pp.hash, digest, sig, &rsa.PSSOptions{SaltLength: pp.sLen}) != nil {
		return ck.CKR_SIGNATURE_INVALID
	}
	return nil
}

// verifyOwn is RSASSA-PSS-VERIFY (RFC 8017, section 8.1.2) without crypto/rsa.
func (pp rsaPSSParams) verifyOwn(pub *rsa.PublicKey, digest, sig []byte) error {
	k := pub.Size()
	if len(sig) != k {
		return ck.CKR_SIGNATURE_LEN_RANGE
	}
	m, ok := rsaRawPublic(pub, sig) // s < n, m = s^e mod n
	if !ok {
		return ck.CKR_SIGNATURE_INVALID
	}
	// EM = I2OSP(m, emLen): emLen is k-1 when modBits-1 is a multiple of 8, and then m must fit in it.
	emBits := pub.N.BitLen() - 1
	em := rsaBytes(m, k)
	if emLen := (emBits + 7) / 8; emLen < k {
		if em[0] != 0 {
			return ck.CKR_SIGNATURE_INVALID
		}
		em = em[1:]
	}
	if !rsaPSSCheck(digest, em, emBits, pp.sLen, pp.hash, pp.mgf) {
		return ck.CKR_SIGNATURE_INVALID
	}
	return nil
}

// rsaPSSEncode is EMSA-PSS-ENCODE (RFC 8017, section 9.1.1) of the message hash mHash, for an emBits-bit
// encoded message, with the given salt, hash and MGF1 hash.
func rsaPSSEncode(mHash []byte, emBits int, salt []byte, h, mgfHash crypto.Hash) ([]byte, error) {
	hLen, sLen := h.Size(), len(salt)
	emLen := (emBits + 7) / 8
	// 2: mHash is the hash of the message; 3: the parameters fit (rsaParsePSS has checked both).
	if len(mHash) != hLen || emLen < hLen+sLen+2 {
		return nil, ck.CKR_FUNCTION_FAILED
	}
	em := make([]byte, emLen)
	db, hh := em[:emLen-hLen-1], em[emLen-hLen-1:emLen-1]
	// 5, 6: M' = (0x)00 00 00 00 00 00 00 00 || mHash || salt; H = Hash(M').
	copy(hh, rsaPSSHashM(h, mHash, salt))
	// 7, 8: DB = PS || 0x01 || salt, PS being emLen - sLen - hLen - 2 zero octets (em is zeroed).
	psLen := emLen - sLen - hLen - 2
	db[psLen] = 0x01
	copy(db[psLen+1:], salt)
	// 9, 10: maskedDB = DB xor MGF1(H, emLen - hLen - 1).
	rsaMGF1XOR(db, mgfHash, hh)
	// 11: the leftmost 8emLen - emBits bits of maskedDB are zero.
	db[0] &= 0xff >> (8*emLen - emBits)
	// 12: EM = maskedDB || H || 0xbc.
	em[emLen-1] = 0xbc
	return em, nil
}

// rsaPSSCheck is EMSA-PSS-VERIFY (RFC 8017, section 9.1.2): whether em (emLen octets) is the encoding of
// mHash with a salt of exactly sLen octets. Everything it reads is public (the signature and the message's
// hash); H and H' are still compared in constant time.
func rsaPSSCheck(mHash, em []byte, emBits, sLen int, h, mgfHash crypto.Hash) bool {
	hLen := h.Size()
	emLen := (emBits + 7) / 8
	// 2, 3.
	if len(mHash) != hLen || len(em) != emLen || sLen < 0 || emLen < hLen+sLen+2 {
		return false
	}
	// 4: the trailer.
	if em[emLen-1] != 0xbc {
		return false
	}
	// 5: maskedDB and H.
	db := append([]byte{}, em[:emLen-hLen-1]...)
	hh := em[emLen-hLen-1 : emLen-1]
	// 6: the leftmost 8emLen - emBits bits of maskedDB are zero.
	top := byte(0xff >> (8*emLen - emBits))
	if db[0]&^top != 0 {
		return false
	}
	// 7, 8, 9: DB = maskedDB xor MGF1(H, emLen - hLen - 1), its leftmost 8emLen - emBits bits zeroed.
	rsaMGF1XOR(db, mgfHash, hh)
	db[0] &= top
	// 10: emLen - hLen - sLen - 2 zero octets, then 0x01.
	psLen := emLen - hLen - sLen - 2
	for _, b := range db[:psLen] {
		if b != 0 {
			return false
		}
	}
	if db[psLen] != 0x01 {
		return false
	}
	// 11, 12, 13, 14: the salt is the last sLen octets of DB; H' = Hash(M') must equal H.
	return subtle.ConstantTimeCompare(hh, rsaPSSHashM(h, mHash, db[psLen+1:])) == 1
}

// rsaPSSHashM returns Hash(M') for M' = (0x)00 00 00 00 00 00 00 00 || mHash || salt.
func rsaPSSHashM(h crypto.Hash, mHash, salt []byte) []byte {
	d := NewHash(h)
	var zero [8]byte
	d.Write(zero[:])
	d.Write(mHash)
	d.Write(salt)
	return d.Sum(nil)
}

// rsaMGF1XOR xors out with MGF1(seed, len(out)) over hash h (RFC 8017, appendix B.2.1): the
// concatenation of Hash(seed || I2OSP(counter, 4)) for counter = 0, 1, ..., cut to len(out). The length
// bound of step 1 (2^32 hLen) is far above any modulus here.
func rsaMGF1XOR(out []byte, h crypto.Hash, seed []byte) {
	d := NewHash(h)
	var counter [4]byte
	var t []byte
	for i, done := uint32(0), 0; done < len(out); i++ {
		binary.BigEndian.PutUint32(counter[:], i)
		d.Reset()
		d.Write(seed)
		d.Write(counter[:])
		t = d.Sum(t[:0])
		done += subtle.XORBytes(out[done:], out[done:], t)
	}
}

// rsaPSSInit is the prologue of the PSS operations: the key is fetched with of first, as the parameters
// are checked against its modulus (pub gives its public half).
func rsaPSSInit[K any](p Param, k *Key, h crypto.Hash, of func(*Key) (K, error), pub func(K) *rsa.PublicKey) (K, rsaPSSParams, error) {
	var none K
	key, err := of(k)
	if err != nil {
		return none, rsaPSSParams{}, err
	}
	pp, err := rsaParsePSS(p, h, pub(key).N.BitLen())
	if err != nil {
		return none, rsaPSSParams{}, err
	}
	return key, pp, nil
}

func rsaPSSSign(h crypto.Hash) func(p Param, k *Key) (Operation, error) {
	return func(p Param, k *Key) (Operation, error) {
		priv, pp, err := rsaPSSInit(p, k, h, rsaFullPrivateOf, (*rsaPrivate).public)
		if err != nil {
			return nil, err
		}
		if h != 0 {
			return &rsaHashSigner{h: NewHash(h), sign: func(d []byte) ([]byte, error) { return pp.sign(priv, d) }}, nil
		}
		return rsaSingle(func(in []byte) ([]byte, error) {
			if len(in) != pp.hash.Size() {
				return nil, ck.CKR_DATA_LEN_RANGE
			}
			return pp.sign(priv, in)
		}), nil
	}
}

func rsaPSSVerify(h crypto.Hash) func(p Param, k *Key) (Verifier, error) {
	return func(p Param, k *Key) (Verifier, error) {
		pub, pp, err := rsaPSSInit(p, k, h, rsaPublicOf, rsaSelf)
		if err != nil {
			return nil, err
		}
		if h != 0 {
			return &rsaHashVerifier{h: NewHash(h), verify: func(d, sig []byte) error { return pp.verify(pub, d, sig) }}, nil
		}
		return rsaSingleVerifier(func(data, sig []byte) error {
			if len(data) != pp.hash.Size() {
				return ck.CKR_DATA_LEN_RANGE
			}
			return pp.verify(pub, data, sig)
		}), nil
	}
}
