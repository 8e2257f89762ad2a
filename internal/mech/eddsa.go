package mech

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha512"
	"crypto/x509"
	"encoding/asn1"
	"hash"
	"math/big"

	"github.com/cloudflare/circl/dh/x448"
	"github.com/cloudflare/circl/ecc/goldilocks"
	"github.com/cloudflare/circl/sign/ed448"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// Edwards and Montgomery curves (PKCS#11 3.0/3.2 mechanisms, "Elliptic Curve"): key types CKK_EC_EDWARDS
// (Ed25519, Ed448) and CKK_EC_MONTGOMERY (X25519, X448), CKM_EC_EDWARDS_KEY_PAIR_GEN, CKM_EDDSA and
// CKM_EC_MONTGOMERY_KEY_PAIR_GEN. Montgomery keys derive with CKM_ECDH1_DERIVE (ec.go, montgomeryShared).
//
// CKA_EC_PARAMS: the RFC 8410 OIDs (id-Ed25519 ...) or the curveName PrintableStrings of PKCS#11 3.0
// ("edwards25519", "edwards448", "curve25519", "curve448"). CKA_VALUE: the RFC 8032 / RFC 7748 private key
// bytes (the seed for EdDSA). CKA_EC_POINT: the specification says the raw little-endian public key bytes,
// but OpenSC, SoftHSM2, libp11 and OpenSSL's pkcs11-provider (before it accepted both) write and expect a DER
// OCTET STRING around them, as for the NIST curves; keys made here carry the DER OCTET STRING, and the
// raw bytes, a DER OCTET STRING or a DER BIT STRING (the 3.0 text's "DER-encoding of the b-bit public key")
// are all accepted on input.

// okpKeys is the parsed form of an Edwards or Montgomery key object.
type okpKeys struct {
	c    *curveInfo
	pub  []byte // raw public key
	priv []byte // raw private key (seed or scalar); nil for a public key object

	ed25519 ed25519.PrivateKey
	ed448   ed448.PrivateKey
	x25519  *ecdh.PrivateKey
}

// Ed25519 point decoding (RFC 8032 section 5.1.3), to reject public keys that are not on the curve.
var (
	ed25519P = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))
	ed25519D = func() *big.Int {
		d := new(big.Int).ModInverse(big.NewInt(121666), ed25519P)
		d.Mul(d, big.NewInt(-121665))
		return d.Mod(d, ed25519P)
	}()
)

func ed25519PointValid(pub []byte) bool {
	if len(pub) != ed25519.PublicKeySize {
		return false
	}
	le := bytes.Clone(pub)
	sign := le[31] >> 7
	le[31] &= 0x7f
	for i, j := 0, len(le)-1; i < j; i, j = i+1, j-1 {
		le[i], le[j] = le[j], le[i]
	}
	y := new(big.Int).SetBytes(le)
	if y.Cmp(ed25519P) >= 0 {
		return false
	}
	y2 := new(big.Int).Mul(y, y)
	y2.Mod(y2, ed25519P)
	u := new(big.Int).Sub(y2, big.NewInt(1))
	u.Mod(u, ed25519P)
	v := new(big.Int).Mul(ed25519D, y2)
	v.Add(v, big.NewInt(1))
	v.Mod(v, ed25519P)
	vInv := new(big.Int).ModInverse(v, ed25519P)
	if vInv == nil {
		return false
	}
	x2 := u.Mul(u, vInv)
	x2.Mod(x2, ed25519P)
	x := new(big.Int).ModSqrt(x2, ed25519P)
	if x == nil {
		return false
	}
	return !(x.Sign() == 0 && sign == 1)
}

// okpPublicValid checks a raw public key of an Edwards or Montgomery curve.
func okpPublicValid(c *curveInfo, pub []byte) bool {
	if len(pub) != c.size {
		return false
	}
	switch c.id {
	case curveEd25519:
		return ed25519PointValid(pub)
	case curveEd448:
		_, err := goldilocks.FromBytes(pub)
		return err == nil
	}
	return true // RFC 7748: every string of the right length is a Montgomery public key
}

// okpPoint decodes an Edwards or Montgomery CKA_EC_POINT (raw, DER OCTET STRING or DER BIT STRING).
func okpPoint(c *curveInfo, v []byte) ([]byte, error) {
	raw, ok := unwrapPoint(v, c.size, true)
	if !ok || !okpPublicValid(c, raw) {
		return nil, ck.CKR_ATTRIBUTE_VALUE_INVALID
	}
	return raw, nil
}

// newOKPPrivate builds the private key of a curve from its raw bytes and computes the public key.
func newOKPPrivate(c *curveInfo, v []byte) (*okpKeys, error) {
	if len(v) != c.size {
		return nil, ck.CKR_ATTRIBUTE_VALUE_INVALID
	}
	k := &okpKeys{c: c, priv: bytes.Clone(v)}
	switch c.id {
	case curveEd25519:
		k.ed25519 = ed25519.NewKeyFromSeed(v)
		k.pub = bytes.Clone(k.ed25519[ed25519.SeedSize:])
	case curveEd448:
		k.ed448 = ed448.NewKeyFromSeed(v)
		k.pub = bytes.Clone(k.ed448[ed448.SeedSize:])
	case curveX25519:
		priv, err := ecdh.X25519().NewPrivateKey(v)
		if err != nil {
			return nil, ck.CKR_ATTRIBUTE_VALUE_INVALID
		}
		k.x25519 = priv
		k.pub = priv.PublicKey().Bytes()
	case curveX448:
		var sk, pk x448.Key
		copy(sk[:], v)
		x448.KeyGen(&pk, &sk)
		clear(sk[:])
		k.pub = pk[:]
	default:
		return nil, ck.CKR_CURVE_NOT_SUPPORTED
	}
	return k, nil
}

// okpSPKI encodes an RFC 8410 SubjectPublicKeyInfo.
func okpSPKI(c *curveInfo, pub []byte) []byte {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(c.oids[0])
		})
		b.AddASN1BitString(pub)
	})
	return b.BytesOrPanic()
}

func checkOKP(t ck.KeyType) func(class ck.ObjectClass, a Attrs) (Attrs, error) {
	return func(class ck.ObjectClass, a Attrs) (Attrs, error) {
		c, err := curveOf(a, t)
		if err != nil {
			return nil, err
		}
		add := Attrs{}
		switch class {
		case ck.CKO_PUBLIC_KEY:
			point, ok := a[ck.CKA_EC_POINT]
			if !ok {
				return nil, ck.CKR_TEMPLATE_INCOMPLETE
			}
			pub, err := okpPoint(c, point)
			if err != nil {
				return nil, err
			}
			if len(a[ck.CKA_PUBLIC_KEY_INFO]) == 0 {
				add[ck.CKA_PUBLIC_KEY_INFO] = okpSPKI(c, pub)
			}
		case ck.CKO_PRIVATE_KEY:
			v, ok := a[ck.CKA_VALUE]
			if !ok {
				return nil, ck.CKR_TEMPLATE_INCOMPLETE
			}
			k, err := newOKPPrivate(c, v)
			if err != nil {
				return nil, err
			}
			k.wipe()
			if given := a[ck.CKA_EC_POINT]; len(given) > 0 {
				pub, err := okpPoint(c, given)
				if err != nil || !bytes.Equal(pub, k.pub) {
					return nil, ck.CKR_TEMPLATE_INCONSISTENT
				}
			} else {
				add[ck.CKA_EC_POINT] = octetString(k.pub)
			}
			if len(a[ck.CKA_PUBLIC_KEY_INFO]) == 0 {
				add[ck.CKA_PUBLIC_KEY_INFO] = okpSPKI(c, k.pub)
			}
		default:
			return nil, ck.CKR_TEMPLATE_INCONSISTENT
		}
		return add, nil
	}
}

// wipe clears the private parts of keys that are not kept.
func (k *okpKeys) wipe() {
	clear(k.priv)
	clear(k.ed25519)
	clear(k.ed448)
}

func pkcs8OKP(t ck.KeyType) func(a Attrs) ([]byte, error) {
	return func(a Attrs) ([]byte, error) {
		c, err := curveOf(a, t)
		if err != nil {
			return nil, err
		}
		k, err := newOKPPrivate(c, a[ck.CKA_VALUE])
		if err != nil {
			return nil, err
		}
		defer k.wipe()
		switch c.id {
		case curveEd25519:
			return x509.MarshalPKCS8PrivateKey(k.ed25519)
		case curveX25519:
			return x509.MarshalPKCS8PrivateKey(k.x25519)
		}
		// RFC 8410 section 7: PrivateKeyInfo whose privateKey is the DER OCTET STRING CurvePrivateKey.
		var b cryptobyte.Builder
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1Int64(0)
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1ObjectIdentifier(c.oids[0])
			})
			b.AddASN1(cbasn1.OCTET_STRING, func(b *cryptobyte.Builder) {
				b.AddASN1OctetString(k.priv)
			})
		})
		return b.Bytes()
	}
}

// parseOKPPKCS8 reads an RFC 8410 PrivateKeyInfo (or an RFC 5958 OneAsymmetricKey, version 1, whose
// public key must then match) of key type t.
func parseOKPPKCS8(t ck.KeyType) func(der []byte) (Attrs, error) {
	return func(der []byte) (Attrs, error) {
		s := cryptobyte.String(der)
		var pki, alg cryptobyte.String
		var version int64
		var oid asn1.ObjectIdentifier
		if !s.ReadASN1(&pki, cbasn1.SEQUENCE) || !s.Empty() ||
			!pki.ReadASN1Integer(&version) || (version != 0 && version != 1) ||
			!pki.ReadASN1(&alg, cbasn1.SEQUENCE) || !alg.ReadASN1ObjectIdentifier(&oid) {
			return nil, ck.CKR_WRAPPED_KEY_INVALID
		}
		var c *curveInfo
		for _, ci := range curves {
			if ci.keyType != ck.CKK_EC && ci.oids[0].Equal(oid) {
				c = ci
			}
		}
		if c == nil || c.keyType != t {
			return nil, ck.CKR_TEMPLATE_INCONSISTENT // another algorithm's key
		}
		var value []byte
		switch c.id {
		case curveEd25519, curveX25519:
			key, err := x509.ParsePKCS8PrivateKey(der)
			if err != nil {
				return nil, ck.CKR_WRAPPED_KEY_INVALID
			}
			switch k := key.(type) {
			case ed25519.PrivateKey:
				value = bytes.Clone(k.Seed())
				clear(k)
			case *ecdh.PrivateKey:
				value = k.Bytes()
			default:
				return nil, ck.CKR_WRAPPED_KEY_INVALID
			}
		default:
			var outer, inner cryptobyte.String
			if !alg.Empty() || !pki.ReadASN1(&outer, cbasn1.OCTET_STRING) ||
				!outer.ReadASN1(&inner, cbasn1.OCTET_STRING) || !outer.Empty() || len(inner) != c.size {
				return nil, ck.CKR_WRAPPED_KEY_INVALID
			}
			value = bytes.Clone(inner)
			// Optional attributes [0], and the public key [1] of a version 1 structure.
			pki.SkipOptionalASN1(cbasn1.Tag(0).Constructed().ContextSpecific())
			var pubField cryptobyte.String
			var hasPub bool
			if !pki.ReadOptionalASN1(&pubField, &hasPub, cbasn1.Tag(1).ContextSpecific()) || !pki.Empty() ||
				(hasPub && version != 1) {
				clear(value)
				return nil, ck.CKR_WRAPPED_KEY_INVALID
			}
			if hasPub {
				// [1] IMPLICIT BIT STRING: the unused-bits octet, then the key.
				if len(pubField) != 1+c.size || pubField[0] != 0 {
					clear(value)
					return nil, ck.CKR_WRAPPED_KEY_INVALID
				}
				k, err := newOKPPrivate(c, value)
				if err != nil {
					clear(value)
					return nil, ck.CKR_WRAPPED_KEY_INVALID
				}
				k.wipe()
				if !bytes.Equal(k.pub, pubField[1:]) {
					clear(value)
					return nil, ck.CKR_WRAPPED_KEY_INVALID
				}
			}
		}
		k, err := newOKPPrivate(c, value)
		if err != nil {
			clear(value)
			return nil, ck.CKR_WRAPPED_KEY_INVALID
		}
		k.wipe()
		return Attrs{
			ck.CKA_EC_PARAMS:       oidDER(c),
			ck.CKA_VALUE:           value,
			ck.CKA_EC_POINT:        octetString(k.pub),
			ck.CKA_PUBLIC_KEY_INFO: okpSPKI(c, k.pub),
		}, nil
	}
}

// okpFlags are the EC flags of the Edwards and Montgomery mechanisms (curves over Fp, named by OID or
// curveName; the point forms do not apply).
const okpFlags = ck.CKF_EC_F_P | ck.CKF_EC_OID | ck.CKF_EC_CURVENAME

func genOKP(t ck.KeyType) func(p Param, public, private Attrs) (Attrs, Attrs, error) {
	return func(p Param, public, private Attrs) (Attrs, Attrs, error) {
		if err := noParam(p); err != nil {
			return nil, nil, err
		}
		c, err := curveOf(public, t)
		if err != nil {
			return nil, nil, err
		}
		value := make([]byte, c.size)
		switch c.id {
		case curveEd25519:
			_, priv, err := ed25519.GenerateKey(rand.Reader)
			if err != nil {
				return nil, nil, err
			}
			copy(value, priv.Seed())
			clear(priv)
		case curveEd448:
			_, priv, err := ed448.GenerateKey(rand.Reader)
			if err != nil {
				return nil, nil, err
			}
			copy(value, priv.Seed())
			clear(priv)
		case curveX25519:
			priv, err := ecdh.X25519().GenerateKey(rand.Reader)
			if err != nil {
				return nil, nil, err
			}
			value = priv.Bytes()
		case curveX448:
			if _, err := rand.Read(value); err != nil {
				return nil, nil, err
			}
		}
		k, err := newOKPPrivate(c, value)
		if err != nil {
			return nil, nil, err
		}
		k.wipe()
		point := octetString(k.pub)
		spki := okpSPKI(c, k.pub)
		pub := Attrs{ck.CKA_EC_POINT: point, ck.CKA_PUBLIC_KEY_INFO: spki}
		prv := Attrs{
			ck.CKA_EC_PARAMS:       bytes.Clone(public[ck.CKA_EC_PARAMS]),
			ck.CKA_VALUE:           value,
			ck.CKA_EC_POINT:        point,
			ck.CKA_PUBLIC_KEY_INFO: spki,
		}
		return pub, prv, nil
	}
}

// loadOKP parses an Edwards or Montgomery key object of type t.
func loadOKP(k *Key, t ck.KeyType) (*okpKeys, error) {
	if k.Type != t {
		return nil, ck.CKR_KEY_TYPE_INCONSISTENT
	}
	v, err := k.Parsed("okp.key", func() (any, error) {
		c, err := curveOf(k.Attrs, t)
		if err != nil {
			return nil, err
		}
		switch k.Class {
		case ck.CKO_PRIVATE_KEY:
			return newOKPPrivate(c, k.Attrs[ck.CKA_VALUE])
		case ck.CKO_PUBLIC_KEY:
			pub, err := okpPoint(c, k.Attrs[ck.CKA_EC_POINT])
			if err != nil {
				return nil, err
			}
			return &okpKeys{c: c, pub: bytes.Clone(pub)}, nil
		}
		return nil, ck.CKR_KEY_TYPE_INCONSISTENT
	})
	if err != nil {
		return nil, err
	}
	return v.(*okpKeys), nil
}

// montgomeryShared is X25519 or X448 (RFC 7748) of a CKK_EC_MONTGOMERY private key and the peer's public
// value (raw little-endian bytes, or a DER OCTET STRING around them). An all-zero result (a low-order peer
// key) is refused.
func montgomeryShared(base *Key, peer []byte) ([]byte, error) {
	k, err := loadOKP(base, ck.CKK_EC_MONTGOMERY)
	if err != nil {
		return nil, err
	}
	raw, ok := unwrapPoint(peer, k.c.size, false)
	if !ok {
		return nil, ck.CKR_MECHANISM_PARAM_INVALID
	}
	switch k.c.id {
	case curveX25519:
		pub, err := ecdh.X25519().NewPublicKey(raw)
		if err != nil {
			return nil, ck.CKR_MECHANISM_PARAM_INVALID
		}
		z, err := k.x25519.ECDH(pub)
		if err != nil {
			return nil, ck.CKR_MECHANISM_PARAM_INVALID
		}
		return z, nil
	case curveX448:
		var sk, pk, z x448.Key
		copy(sk[:], k.priv)
		copy(pk[:], raw)
		ok := x448.Shared(&z, &sk, &pk)
		clear(sk[:])
		if !ok {
			clear(z[:])
			return nil, ck.CKR_MECHANISM_PARAM_INVALID
		}
		out := bytes.Clone(z[:])
		clear(z[:])
		return out, nil
	}
	return nil, ck.CKR_KEY_TYPE_INCONSISTENT
}

// eddsaMode is the RFC 8032 scheme CK_EDDSA_PARAMS selects.
type eddsaMode struct {
	ph  bool
	ctx string
}

// eddsaModeOf reads CK_EDDSA_PARAMS: none selects pure Ed25519 / Ed448; phFlag selects Ed25519ph / Ed448ph;
// a context with phFlag false selects Ed25519ctx (or Ed448 with that context). A context of up to 255 bytes.
// An empty context with phFlag false is pure Ed25519 (Go, like other tokens, has no Ed25519ctx with an
// empty context, which RFC 8032 discourages).
func eddsaModeOf(p Param) (eddsaMode, error) {
	if !p.Present {
		return eddsaMode{}, nil
	}
	if p.S == nil || p.S.EdDSAParams == nil {
		return eddsaMode{}, ck.CKR_MECHANISM_PARAM_INVALID
	}
	ctx := p.S.EdDSAParams.ContextData
	if len(ctx) > 255 {
		return eddsaMode{}, ck.CKR_MECHANISM_PARAM_INVALID
	}
	return eddsaMode{ph: p.S.EdDSAParams.PHFlag, ctx: string(ctx)}, nil
}

// maxEdDSAMessage bounds the message a multi-part pure EdDSA (or Ed448ph) operation buffers.
const maxEdDSAMessage = 64 << 20

// eddsaOp is a running EdDSA signature or verification. The pure schemes (and Ed448ph, whose prehash circl
// does not expose) buffer the message; Ed25519ph hashes it as it comes.
type eddsaOp struct {
	k    *okpKeys
	mode eddsaMode
	buf  []byte
	h    hash.Hash // Ed25519ph
}

func newEdDSAOp(k *okpKeys, mode eddsaMode) *eddsaOp {
	o := &eddsaOp{k: k, mode: mode}
	if mode.ph && k.c.id == curveEd25519 {
		o.h = sha512.New()
	}
	return o
}

func (o *eddsaOp) add(in []byte) error {
	if o.h != nil {
		o.h.Write(in)
		return nil
	}
	if len(o.buf)+len(in) > maxEdDSAMessage {
		return ck.CKR_TOKEN_RESOURCE_EXCEEDED
	}
	o.buf = append(o.buf, in...)
	return nil
}

// message returns what the scheme signs: the message, or the Ed25519ph SHA-512 prehash.
func (o *eddsaOp) message(msg []byte) []byte {
	if o.mode.ph && o.k.c.id == curveEd25519 {
		if o.h != nil && msg == nil {
			return o.h.Sum(nil)
		}
		d := sha512.Sum512(msg)
		return d[:]
	}
	return msg
}

func (o *eddsaOp) ed25519Opts() *ed25519.Options {
	if o.mode.ph {
		return &ed25519.Options{Hash: crypto.SHA512, Context: o.mode.ctx}
	}
	return &ed25519.Options{Context: o.mode.ctx}
}

func (o *eddsaOp) sign(msg []byte) ([]byte, error) {
	switch o.k.c.id {
	case curveEd25519:
		return o.k.ed25519.Sign(nil, o.message(msg), o.ed25519Opts())
	case curveEd448:
		if o.mode.ph {
			return ed448.SignPh(o.k.ed448, msg, o.mode.ctx), nil
		}
		return ed448.Sign(o.k.ed448, msg, o.mode.ctx), nil
	}
	return nil, ck.CKR_KEY_TYPE_INCONSISTENT
}

func (o *eddsaOp) verify(msg, sig []byte) error {
	switch o.k.c.id {
	case curveEd25519:
		if len(sig) != ed25519.SignatureSize {
			return ck.CKR_SIGNATURE_LEN_RANGE
		}
		if ed25519.VerifyWithOptions(ed25519.PublicKey(o.k.pub), o.message(msg), sig, o.ed25519Opts()) != nil {
			return ck.CKR_SIGNATURE_INVALID
		}
		return nil
	case curveEd448:
		if len(sig) != ed448.SignatureSize {
			return ck.CKR_SIGNATURE_LEN_RANGE
		}
		var ok bool
		if o.mode.ph {
			ok = ed448.VerifyPh(ed448.PublicKey(o.k.pub), msg, sig, o.mode.ctx)
		} else {
			ok = ed448.Verify(ed448.PublicKey(o.k.pub), msg, sig, o.mode.ctx)
		}
		if !ok {
			return ck.CKR_SIGNATURE_INVALID
		}
		return nil
	}
	return ck.CKR_KEY_TYPE_INCONSISTENT
}

// buffered returns the message given to Update (nil for Ed25519ph, whose hash holds it).
func (o *eddsaOp) buffered() []byte {
	if o.h != nil {
		return nil
	}
	if o.buf == nil {
		return []byte{}
	}
	return o.buf
}

func (o *eddsaOp) Update(in []byte) ([]byte, error) { return nil, o.add(in) }
func (o *eddsaOp) Final() ([]byte, error)           { return o.sign(o.buffered()) }
func (o *eddsaOp) Single(in []byte) ([]byte, error) { return o.sign(nonNil(in)) }

type eddsaVerifier struct{ *eddsaOp }

func (v eddsaVerifier) Update(in []byte) error { return v.add(in) }

// Buffers implements Buffering: pure EdDSA and Ed448ph keep the message, Ed25519ph hashes it.
func (o *eddsaOp) Buffers() bool                      { return o.h == nil }
func (v eddsaVerifier) Final(sig []byte) error        { return v.verify(v.buffered(), sig) }
func (v eddsaVerifier) Verify(data, sig []byte) error { return v.verify(nonNil(data), sig) }

// nonNil keeps a single-part message distinct from "use the running hash" (nil) in message.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

func init() {
	// Edwards keys sign, Montgomery keys agree on keys (ECDH); both carry the EC value attributes (ec.go).
	okpUsage := map[ck.KeyType]pairUsage{ck.CKK_EC_EDWARDS: signerUsage, ck.CKK_EC_MONTGOMERY: dhUsage}
	for _, t := range []ck.KeyType{ck.CKK_EC_EDWARDS, ck.CKK_EC_MONTGOMERY} {
		RegisterKeyType(&KeyTypeSpec{Type: t, Rules: pairRules(ecPublicRules, ecPrivateRules, okpUsage[t]),
			Check: checkOKP(t), PKCS8: pkcs8OKP(t), ParsePKCS8: parseOKPPKCS8(t)})
	}

	Register(&Spec{
		Type:            ck.CKM_EC_EDWARDS_KEY_PAIR_GEN,
		Info:            ck.MechanismInfo{MinKeySize: 255, MaxKeySize: 448, Flags: ck.CKF_GENERATE_KEY_PAIR | okpFlags},
		GenKeyType:      ck.CKK_EC_EDWARDS,
		GenerateKeyPair: genOKP(ck.CKK_EC_EDWARDS),
	})
	Register(&Spec{
		Type:            ck.CKM_EC_MONTGOMERY_KEY_PAIR_GEN,
		Info:            ck.MechanismInfo{MinKeySize: 255, MaxKeySize: 448, Flags: ck.CKF_GENERATE_KEY_PAIR | okpFlags},
		GenKeyType:      ck.CKK_EC_MONTGOMERY,
		GenerateKeyPair: genOKP(ck.CKK_EC_MONTGOMERY),
	})
	Register(&Spec{
		Type:     ck.CKM_EDDSA,
		Info:     ck.MechanismInfo{MinKeySize: 255, MaxKeySize: 448, Flags: ck.CKF_SIGN | ck.CKF_VERIFY | okpFlags},
		KeyTypes: []ck.KeyType{ck.CKK_EC_EDWARDS},
		Sign: func(p Param, k *Key) (Operation, error) {
			mode, err := eddsaModeOf(p)
			if err != nil {
				return nil, err
			}
			if k.Class != ck.CKO_PRIVATE_KEY {
				return nil, ck.CKR_KEY_FUNCTION_NOT_PERMITTED
			}
			ok, err := loadOKP(k, ck.CKK_EC_EDWARDS)
			if err != nil {
				return nil, err
			}
			return newEdDSAOp(ok, mode), nil
		},
		Verify: func(p Param, k *Key) (Verifier, error) {
			mode, err := eddsaModeOf(p)
			if err != nil {
				return nil, err
			}
			ok, err := loadOKP(k, ck.CKK_EC_EDWARDS)
			if err != nil {
				return nil, err
			}
			return eddsaVerifier{newEdDSAOp(ok, mode)}, nil
		},
	})
}
