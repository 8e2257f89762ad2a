package client

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	cryptorand "crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"crypto/x509"
	"encoding/asn1"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/big"

	"github.com/keyward/keyward/internal/wire"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// Signer is a private key on a token, usable as a crypto.Signer: with crypto/tls (as the PrivateKey of a
// tls.Certificate), crypto/x509 and the rest of the standard library. It is safe for concurrent use.
//
// Sign picks the mechanism from the key type and the options:
//
//   - RSA with *rsa.PSSOptions: CKM_RSA_PKCS_PSS over the digest, with MGF1 of the same hash;
//     rsa.PSSSaltLengthEqualsHash, rsa.PSSSaltLengthAuto (the largest salt) and explicit salt lengths.
//   - RSA with any other options: PKCS #1 v1.5, CKM_RSA_PKCS over the DigestInfo of opts.HashFunc() (or over
//     the digest as it is when the hash is 0, as rsa.SignPKCS1v15 does).
//   - ECDSA (CKK_EC): CKM_ECDSA over the digest; the token's r||s is returned ASN.1 DER encoded.
//   - Ed25519 (CKK_EC_EDWARDS): CKM_EDDSA over the message, which Sign takes in place of a digest;
//     opts.HashFunc() must be 0. An *ed25519.Options with a Context selects Ed25519ctx; Ed25519ph is not
//     supported (the token hashes the message itself, and Sign gets only the hash).
//   - ML-DSA (CKK_ML_DSA): CKM_ML_DSA over the message; opts.HashFunc() must be 0; *MLDSAOptions sets a
//     context and deterministic signing. Public returns an *MLDSAPublicKey.
//
// The rand argument of Sign is not used: the token draws its own randomness.
type Signer struct{ k *tokenKey }

// Decrypter is an RSA private key on a token, usable as a crypto.Decrypter. It is safe for concurrent use.
//
// Decrypt takes *rsa.OAEPOptions for CKM_RSA_PKCS_OAEP (the Label is the OAEP label; MGFHash 0 means the
// same hash as Hash), and nil or *rsa.PKCS1v15DecryptOptions for CKM_RSA_PKCS. With a non-zero
// SessionKeyLen, a failed PKCS #1 v1.5 decryption or one of another length returns random bytes of that
// length and no error, as crypto/rsa does; note that the round trip to the daemon is not constant-time, so
// this guards only against callers that look at the error.
type Decrypter struct{ k *tokenKey }

var (
	_ crypto.Signer    = (*Signer)(nil)
	_ crypto.Decrypter = (*Decrypter)(nil)
)

// tokenKey is a private key object and its public key.
type tokenKey struct {
	tok  *Token
	ref  KeyRef
	h    ck.ObjectHandle
	typ  ck.KeyType
	pub  crypto.PublicKey
	size int // output size hint: the modulus length of RSA keys, the signature length of others
}

// Signer returns the private key that ref selects as a Signer. The key must have CKA_SIGN set, a key type
// Sign supports, and no CKA_ALWAYS_AUTHENTICATE (the Token keeps no PIN to log in again per operation).
// Its public key comes from the private key's CKA_PUBLIC_KEY_INFO, or its public components, or else the
// public key object with the same CKA_ID (or, without an ID, the same CKA_LABEL).
func (t *Token) Signer(ref KeyRef) (*Signer, error) {
	k, err := t.openKey(ref, ck.CKA_SIGN, "signing")
	if err != nil {
		return nil, err
	}
	switch k.typ {
	case ck.CKK_RSA, ck.CKK_EC, ck.CKK_EC_EDWARDS, ck.CKK_ML_DSA:
	default:
		return nil, fmt.Errorf("client: %v on %v: key type %v cannot sign through a Signer", ref, t, k.typ)
	}
	return &Signer{k}, nil
}

// Decrypter returns the RSA private key that ref selects as a Decrypter. The key must have CKA_DECRYPT set
// and no CKA_ALWAYS_AUTHENTICATE; its public key is found as for Signer.
func (t *Token) Decrypter(ref KeyRef) (*Decrypter, error) {
	k, err := t.openKey(ref, ck.CKA_DECRYPT, "decryption")
	if err != nil {
		return nil, err
	}
	if k.typ != ck.CKK_RSA {
		return nil, fmt.Errorf("client: %v on %v: key type %v cannot decrypt through a Decrypter", ref, t, k.typ)
	}
	return &Decrypter{k}, nil
}

// openKey finds the private key, checks that it allows the usage, and reads its public key.
func (t *Token) openKey(ref KeyRef, usage ck.AttributeType, what string) (*tokenKey, error) {
	var k *tokenKey
	err := t.withSession(func(s ck.SessionHandle) error {
		h, err := t.findOne(s, ck.CKO_PRIVATE_KEY, ref)
		if err != nil {
			return err
		}
		a, err := t.attributes(s, h, ck.CKA_KEY_TYPE, ck.CKA_ID, ck.CKA_LABEL, usage, ck.CKA_ALWAYS_AUTHENTICATE,
			ck.CKA_PUBLIC_KEY_INFO, ck.CKA_MODULUS, ck.CKA_PUBLIC_EXPONENT, ck.CKA_EC_PARAMS, ck.CKA_EC_POINT,
			ck.CKA_PARAMETER_SET)
		if err != nil {
			return fmt.Errorf("client: reading the attributes of %v on %v: %w", ref, t, err)
		}
		typ, ok := ck.MapULong(a, ck.CKA_KEY_TYPE)
		if !ok {
			return fmt.Errorf("client: %v on %v has no readable CKA_KEY_TYPE", ref, t)
		}
		if !ck.MapBBool(a, usage) {
			return fmt.Errorf("client: %v on %v does not allow %s (%v is false)", ref, t, what, usage)
		}
		if ck.MapBBool(a, ck.CKA_ALWAYS_AUTHENTICATE) {
			return fmt.Errorf("client: %v on %v has CKA_ALWAYS_AUTHENTICATE, which a Token does not support", ref, t)
		}
		k = &tokenKey{tok: t, ref: ref, h: h, typ: ck.KeyType(typ)}
		// The private key's own public information first; CKA_VALUE of a private key is secret, never read.
		k.pub, err = publicKeyOf(k.typ, a)
		if err != nil || k.pub == nil {
			k.pub, err = t.publicObjectKey(s, k.typ, a)
			if err != nil {
				return fmt.Errorf("client: the public key of %v on %v: %w", ref, t, err)
			}
		}
		k.size = outputSize(k.pub)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return k, nil
}

// publicObjectKey reads the public key from the public key object that goes with a private key: same key
// type and CKA_ID, or same CKA_LABEL when the private key has no ID.
func (t *Token) publicObjectKey(s ck.SessionHandle, typ ck.KeyType, priv map[ck.AttributeType][]byte) (crypto.PublicKey, error) {
	tmpl := []ck.Attribute{ck.NewAttribute(ck.CKA_CLASS, ck.CKO_PUBLIC_KEY), ck.NewAttribute(ck.CKA_KEY_TYPE, typ)}
	switch {
	case len(priv[ck.CKA_ID]) > 0:
		tmpl = append(tmpl, ck.NewAttribute(ck.CKA_ID, priv[ck.CKA_ID]))
	case len(priv[ck.CKA_LABEL]) > 0:
		tmpl = append(tmpl, ck.NewAttribute(ck.CKA_LABEL, priv[ck.CKA_LABEL]))
	default:
		return nil, errors.New("no public information on the private key, and neither CKA_ID nor CKA_LABEL to find its public key object")
	}
	hs, err := t.findObjects(s, tmpl)
	if err != nil {
		return nil, fmt.Errorf("searching for the public key object: %w", err)
	}
	if len(hs) != 1 {
		return nil, fmt.Errorf("no public information on the private key, and %d public key objects match it", len(hs))
	}
	a, err := t.attributes(s, hs[0], ck.CKA_PUBLIC_KEY_INFO, ck.CKA_MODULUS, ck.CKA_PUBLIC_EXPONENT,
		ck.CKA_EC_PARAMS, ck.CKA_EC_POINT, ck.CKA_VALUE)
	if err != nil {
		return nil, fmt.Errorf("reading the public key object: %w", err)
	}
	if p, ok := ck.MapULong(priv, ck.CKA_PARAMETER_SET); ok && typ == ck.CKK_ML_DSA {
		a[ck.CKA_PARAMETER_SET] = ck.ULong(p)
	}
	pub, err := publicKeyOf(typ, a)
	if err == nil && pub == nil {
		err = errors.New("the public key object has no public key attributes")
	}
	return pub, err
}

// publicKeyOf builds a public key from CKA_PUBLIC_KEY_INFO or the key type's public attributes. It returns
// nil and no error when the attributes are missing.
func publicKeyOf(typ ck.KeyType, a map[ck.AttributeType][]byte) (crypto.PublicKey, error) {
	if spki := a[ck.CKA_PUBLIC_KEY_INFO]; len(spki) > 0 && typ != ck.CKK_ML_DSA {
		pub, err := x509.ParsePKIXPublicKey(spki)
		if err != nil {
			return nil, fmt.Errorf("parsing CKA_PUBLIC_KEY_INFO: %w", err)
		}
		if !publicMatchesType(pub, typ) {
			return nil, fmt.Errorf("CKA_PUBLIC_KEY_INFO holds a %T, not a key of type %v", pub, typ)
		}
		return pub, nil
	}
	switch typ {
	case ck.CKK_RSA:
		n, e := a[ck.CKA_MODULUS], a[ck.CKA_PUBLIC_EXPONENT]
		if len(n) == 0 || len(e) == 0 {
			return nil, nil
		}
		eb := new(big.Int).SetBytes(e)
		if !eb.IsInt64() || eb.Int64() > 1<<31-1 || eb.Int64() < 3 {
			return nil, fmt.Errorf("unsupported RSA public exponent %v", eb)
		}
		return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(eb.Int64())}, nil
	case ck.CKK_EC:
		params, point := a[ck.CKA_EC_PARAMS], a[ck.CKA_EC_POINT]
		if len(params) == 0 || len(point) == 0 {
			return nil, nil
		}
		curve, err := curveOf(params)
		if err != nil {
			return nil, err
		}
		raw := unwrapOctetString(point, 1+2*((curve.Params().BitSize+7)/8))
		pub, err := ecdsa.ParseUncompressedPublicKey(curve, raw)
		if err != nil {
			return nil, fmt.Errorf("parsing CKA_EC_POINT: %w", err)
		}
		return pub, nil
	case ck.CKK_EC_EDWARDS:
		params, point := a[ck.CKA_EC_PARAMS], a[ck.CKA_EC_POINT]
		if len(params) == 0 || len(point) == 0 {
			return nil, nil
		}
		if !isEd25519Params(params) {
			return nil, errors.New("only Ed25519 Edwards keys are supported (Go has no Ed448)")
		}
		raw := unwrapOctetString(point, ed25519.PublicKeySize)
		if len(raw) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("CKA_EC_POINT of %d bytes is no Ed25519 public key", len(raw))
		}
		return ed25519.PublicKey(bytes.Clone(raw)), nil
	case ck.CKK_ML_DSA:
		set, ok := ck.MapULong(a, ck.CKA_PARAMETER_SET)
		value := a[ck.CKA_VALUE]
		if !ok || len(value) == 0 {
			return nil, nil
		}
		size, known := mldsaSizes[set]
		if !known {
			return nil, fmt.Errorf("unknown ML-DSA parameter set %d", set)
		}
		if len(value) != size.pk {
			return nil, fmt.Errorf("ML-DSA public key of %d bytes, want %d", len(value), size.pk)
		}
		return &MLDSAPublicKey{ParameterSet: set, Key: bytes.Clone(value)}, nil
	}
	return nil, fmt.Errorf("unsupported key type %v", typ)
}

func publicMatchesType(pub crypto.PublicKey, typ ck.KeyType) bool {
	switch pub.(type) {
	case *rsa.PublicKey:
		return typ == ck.CKK_RSA
	case *ecdsa.PublicKey:
		return typ == ck.CKK_EC
	case ed25519.PublicKey:
		return typ == ck.CKK_EC_EDWARDS
	}
	return false
}

// outputSize is the length of a signature (or, for RSA, of any private-key output) of the key.
func outputSize(pub crypto.PublicKey) int {
	switch p := pub.(type) {
	case *rsa.PublicKey:
		return p.Size()
	case *ecdsa.PublicKey:
		return 2 * ((p.Curve.Params().N.BitLen() + 7) / 8)
	case ed25519.PublicKey:
		return ed25519.SignatureSize
	case *MLDSAPublicKey:
		return mldsaSizes[p.ParameterSet].sig
	}
	return 0
}

var (
	oidP224    = asn1.ObjectIdentifier{1, 3, 132, 0, 33}
	oidP256    = asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}
	oidP384    = asn1.ObjectIdentifier{1, 3, 132, 0, 34}
	oidP521    = asn1.ObjectIdentifier{1, 3, 132, 0, 35}
	oidEd25519 = asn1.ObjectIdentifier{1, 3, 101, 112}
)

// curveOf decodes CKA_EC_PARAMS: a named curve, as an OID or (PKCS#11 3.0) a PrintableString name.
func curveOf(params []byte) (elliptic.Curve, error) {
	var oid asn1.ObjectIdentifier
	if rest, err := asn1.Unmarshal(params, &oid); err == nil && len(rest) == 0 {
		switch {
		case oid.Equal(oidP224):
			return elliptic.P224(), nil
		case oid.Equal(oidP256):
			return elliptic.P256(), nil
		case oid.Equal(oidP384):
			return elliptic.P384(), nil
		case oid.Equal(oidP521):
			return elliptic.P521(), nil
		}
		return nil, fmt.Errorf("unsupported EC curve %v", oid)
	}
	var name string
	if rest, err := asn1.Unmarshal(params, &name); err == nil && len(rest) == 0 {
		switch name {
		case "prime256v1", "secp256r1", "P-256":
			return elliptic.P256(), nil
		case "secp384r1", "P-384":
			return elliptic.P384(), nil
		case "secp521r1", "P-521":
			return elliptic.P521(), nil
		case "secp224r1", "P-224":
			return elliptic.P224(), nil
		}
		return nil, fmt.Errorf("unsupported EC curve %q", name)
	}
	return nil, errors.New("CKA_EC_PARAMS is neither a curve OID nor a curve name")
}

func isEd25519Params(params []byte) bool {
	var oid asn1.ObjectIdentifier
	if rest, err := asn1.Unmarshal(params, &oid); err == nil && len(rest) == 0 {
		return oid.Equal(oidEd25519)
	}
	var name string
	if rest, err := asn1.Unmarshal(params, &name); err == nil && len(rest) == 0 {
		return name == "edwards25519" || name == "Ed25519"
	}
	return false
}

// unwrapOctetString returns the contents of a DER OCTET STRING (CKA_EC_POINT as the specification has
// it), or v itself when v is already the raw value of length rawLen that some tokens store.
func unwrapOctetString(v []byte, rawLen int) []byte {
	var inner []byte
	if rest, err := asn1.Unmarshal(v, &inner); err == nil && len(rest) == 0 && len(v) != rawLen {
		return inner
	}
	return v
}

// run performs one single-part operation of kind op with mechanism m on its own session.
func (k *tokenKey) run(op ck.Operation, m *ck.Mechanism, in []byte) ([]byte, error) {
	cl := k.tok.cl
	var out []byte
	err := k.tok.withSession(func(s ck.SessionHandle) error {
		if err := cl.OperationInit(s, op, m, k.h); err != nil {
			return err
		}
		size := uint64(k.size)
		if size == 0 {
			size = 16 << 10
		}
		res, n, err := cl.OperationSingle(s, op, in, ck.Out{Present: true, Cap: size})
		if ck.ToRV(err) == ck.CKR_BUFFER_TOO_SMALL && n > size {
			res, _, err = cl.OperationSingle(s, op, in, ck.Out{Present: true, Cap: n})
		}
		if err != nil {
			// The specification ends the operation on any error but CKR_BUFFER_TOO_SMALL; cancel it in any
			// case (a NULL mechanism), so that the session goes back to the pool clean.
			if cerr := cl.OperationInit(s, op, nil, 0); cerr != nil && ck.ToRV(cerr) != ck.CKR_OPERATION_NOT_INITIALIZED {
				return inDoubt{errors.Join(err, cerr)}
			}
			return err
		}
		out = res
		return nil
	})
	return out, err
}

// Public returns the public key: *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey or *MLDSAPublicKey.
func (s *Signer) Public() crypto.PublicKey { return s.k.pub }

// Handle returns the private key's object handle (valid for the Client's application).
func (s *Signer) Handle() ck.ObjectHandle { return s.k.h }

// KeyType returns the private key's CKA_KEY_TYPE.
func (s *Signer) KeyType() ck.KeyType { return s.k.typ }

// Sign signs digest (the message itself for Ed25519 and ML-DSA) with the key on the token; see Signer for
// the mechanisms. ECDSA signatures are ASN.1 DER, as crypto.Signer requires.
func (s *Signer) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts == nil {
		opts = crypto.Hash(0)
	}
	k := s.k
	m, in, err := k.signMechanism(digest, opts)
	if err != nil {
		return nil, fmt.Errorf("client: signing with %v on %v: %w", k.ref, k.tok, err)
	}
	sig, err := k.run(ck.OpSign, m, in)
	if err != nil {
		return nil, fmt.Errorf("client: signing with %v on %v (%v): %w", k.ref, k.tok, m.Type, err)
	}
	if k.typ == ck.CKK_EC {
		if sig, err = ecdsaDER(sig); err != nil {
			return nil, fmt.Errorf("client: signing with %v on %v: %w", k.ref, k.tok, err)
		}
	}
	return sig, nil
}

// signMechanism chooses the mechanism and the data to sign.
func (k *tokenKey) signMechanism(digest []byte, opts crypto.SignerOpts) (*ck.Mechanism, []byte, error) {
	h := opts.HashFunc()
	switch k.typ {
	case ck.CKK_RSA:
		if h != 0 && len(digest) != h.Size() {
			return nil, nil, fmt.Errorf("digest of %d bytes for %v, want %d", len(digest), h, h.Size())
		}
		if pss, ok := opts.(*rsa.PSSOptions); ok {
			param, err := pssParams(k.pub.(*rsa.PublicKey), h, pss.SaltLength)
			if err != nil {
				return nil, nil, err
			}
			return &ck.Mechanism{Type: ck.CKM_RSA_PKCS_PSS, Parameter: param}, digest, nil
		}
		if h == 0 {
			return &ck.Mechanism{Type: ck.CKM_RSA_PKCS}, digest, nil
		}
		prefix, ok := digestInfoPrefixes[h]
		if !ok {
			return nil, nil, fmt.Errorf("no PKCS #1 v1.5 DigestInfo for %v", h)
		}
		return &ck.Mechanism{Type: ck.CKM_RSA_PKCS}, append(bytes.Clone(prefix), digest...), nil
	case ck.CKK_EC:
		return &ck.Mechanism{Type: ck.CKM_ECDSA}, digest, nil
	case ck.CKK_EC_EDWARDS:
		if h != 0 {
			return nil, nil, fmt.Errorf("Ed25519 signs the message itself: opts.HashFunc() is %v, want 0 (Ed25519ph is not supported)", h)
		}
		m := &ck.Mechanism{Type: ck.CKM_EDDSA}
		if o, ok := opts.(*ed25519.Options); ok && o.Context != "" {
			if len(o.Context) > 255 {
				return nil, nil, errors.New("Ed25519ctx context longer than 255 bytes")
			}
			m.Parameter = (&wire.EdDSAParams{PHFlag: false, ContextData: []byte(o.Context)}).Encode()
		}
		return m, digest, nil
	case ck.CKK_ML_DSA:
		if h != 0 {
			return nil, nil, fmt.Errorf("ML-DSA signs the message itself: opts.HashFunc() is %v, want 0", h)
		}
		m := &ck.Mechanism{Type: ck.CKM_ML_DSA}
		if o, ok := opts.(*MLDSAOptions); ok && (len(o.Context) > 0 || o.Deterministic) {
			if len(o.Context) > 255 {
				return nil, nil, errors.New("ML-DSA context longer than 255 bytes")
			}
			hedge := uint64(ck.CKH_HEDGE_PREFERRED)
			if o.Deterministic {
				hedge = ck.CKH_DETERMINISTIC_REQUIRED
			}
			m.Parameter = (&wire.SignAdditionalContext{HedgeVariant: hedge, Context: bytes.Clone(o.Context)}).Encode()
		}
		return m, digest, nil
	}
	return nil, nil, fmt.Errorf("key type %v cannot sign", k.typ)
}

// pssParams encodes CK_RSA_PKCS_PSS_PARAMS (hashAlg, mgf, sLen: three CK_ULONGs in the C ABI's layout).
func pssParams(pub *rsa.PublicKey, h crypto.Hash, saltLength int) ([]byte, error) {
	hm, ok := hashMechs[h]
	if !ok {
		return nil, fmt.Errorf("no PSS hash mechanism for %v", h)
	}
	var salt int
	switch {
	case saltLength == rsa.PSSSaltLengthEqualsHash:
		salt = h.Size()
	case saltLength == rsa.PSSSaltLengthAuto:
		salt = (pub.N.BitLen()-1+7)/8 - 2 - h.Size() // the largest salt, as rsa.SignPSS makes
	case saltLength > 0:
		salt = saltLength
	default:
		return nil, fmt.Errorf("invalid PSS salt length %d", saltLength)
	}
	if salt < 0 {
		return nil, fmt.Errorf("the key is too short for PSS with %v", h)
	}
	p := binary.NativeEndian.AppendUint64(nil, uint64(hm.hash))
	p = binary.NativeEndian.AppendUint64(p, hm.mgf)
	return binary.NativeEndian.AppendUint64(p, uint64(salt)), nil
}

// hashMechs maps Go hashes to the CKM_ digest and the CKG_MGF1_ of PSS and OAEP parameters.
var hashMechs = map[crypto.Hash]struct {
	hash ck.MechanismType
	mgf  uint64
}{
	crypto.SHA1:     {ck.CKM_SHA_1, ck.CKG_MGF1_SHA1},
	crypto.SHA224:   {ck.CKM_SHA224, ck.CKG_MGF1_SHA224},
	crypto.SHA256:   {ck.CKM_SHA256, ck.CKG_MGF1_SHA256},
	crypto.SHA384:   {ck.CKM_SHA384, ck.CKG_MGF1_SHA384},
	crypto.SHA512:   {ck.CKM_SHA512, ck.CKG_MGF1_SHA512},
	crypto.SHA3_224: {ck.CKM_SHA3_224, ck.CKG_MGF1_SHA3_224},
	crypto.SHA3_256: {ck.CKM_SHA3_256, ck.CKG_MGF1_SHA3_256},
	crypto.SHA3_384: {ck.CKM_SHA3_384, ck.CKG_MGF1_SHA3_384},
	crypto.SHA3_512: {ck.CKM_SHA3_512, ck.CKG_MGF1_SHA3_512},
}

// digestInfoPrefixes are the DER prefixes of PKCS #1 v1.5 DigestInfo values (RFC 8017 section 9.2, note 1),
// as crypto/rsa has them; MD5+SHA1 (TLS 1.0 and 1.1) has none.
var digestInfoPrefixes = map[crypto.Hash][]byte{
	crypto.MD5:        {0x30, 0x20, 0x30, 0x0c, 0x06, 0x08, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x05, 0x05, 0x00, 0x04, 0x10},
	crypto.SHA1:       {0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14},
	crypto.SHA224:     {0x30, 0x2d, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x04, 0x05, 0x00, 0x04, 0x1c},
	crypto.SHA256:     {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20},
	crypto.SHA384:     {0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30},
	crypto.SHA512:     {0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40},
	crypto.SHA512_224: {0x30, 0x2d, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x05, 0x05, 0x00, 0x04, 0x1c},
	crypto.SHA512_256: {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x06, 0x05, 0x00, 0x04, 0x20},
	crypto.SHA3_224:   {0x30, 0x2d, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x07, 0x05, 0x00, 0x04, 0x1c},
	crypto.SHA3_256:   {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x08, 0x05, 0x00, 0x04, 0x20},
	crypto.SHA3_384:   {0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x09, 0x05, 0x00, 0x04, 0x30},
	crypto.SHA3_512:   {0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x0a, 0x05, 0x00, 0x04, 0x40},
	crypto.MD5SHA1:    {},
	crypto.RIPEMD160:  {0x30, 0x20, 0x30, 0x08, 0x06, 0x06, 0x28, 0xcf, 0x06, 0x03, 0x00, 0x31, 0x04, 0x14},
}

// ecdsaDER converts a PKCS#11 ECDSA signature (r||s, each half the length) to ASN.1 DER.
func ecdsaDER(raw []byte) ([]byte, error) {
	if len(raw) == 0 || len(raw)%2 != 0 {
		return nil, fmt.Errorf("ECDSA signature of %d bytes from the token is not r||s", len(raw))
	}
	half := len(raw) / 2
	return asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(raw[:half]), new(big.Int).SetBytes(raw[half:])})
}

// Public returns the public key, an *rsa.PublicKey.
func (d *Decrypter) Public() crypto.PublicKey { return d.k.pub }

// Handle returns the private key's object handle (valid for the Client's application).
func (d *Decrypter) Handle() ck.ObjectHandle { return d.k.h }

// Decrypt decrypts ciphertext with the key on the token; see Decrypter for the options. The rand argument
// is used only for the random result of a failed PKCS #1 v1.5 decryption with a SessionKeyLen (crypto/rand
// when nil).
func (d *Decrypter) Decrypt(rand io.Reader, ciphertext []byte, opts crypto.DecrypterOpts) ([]byte, error) {
	k := d.k
	switch o := opts.(type) {
	case nil:
		return d.decryptPKCS1v15(ciphertext)
	case *rsa.PKCS1v15DecryptOptions: //lint:ignore SA1019 CKM_RSA_PKCS decryption is a PKCS#11 mechanism applications use (TLS 1.2 RSA key exchange)
		if o == nil || o.SessionKeyLen == 0 {
			return d.decryptPKCS1v15(ciphertext)
		}
		key := make([]byte, o.SessionKeyLen)
		if rand == nil {
			rand = cryptorand.Reader
		}
		if _, err := io.ReadFull(rand, key); err != nil {
			return nil, fmt.Errorf("client: reading random bytes: %w", err)
		}
		pt, err := d.decryptPKCS1v15(ciphertext)
		if err == nil && len(pt) == len(key) {
			subtle.ConstantTimeCopy(1, key, pt)
		}
		return key, nil
	case *rsa.OAEPOptions:
		if o == nil {
			return nil, fmt.Errorf("client: decrypting with %v on %v: nil *rsa.OAEPOptions", k.ref, k.tok)
		}
		mgfHash := o.MGFHash
		if mgfHash == 0 {
			mgfHash = o.Hash
		}
		hm, ok1 := hashMechs[o.Hash]
		mm, ok2 := hashMechs[mgfHash]
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("client: decrypting with %v on %v: unsupported OAEP hash %v / MGF1 %v", k.ref, k.tok, o.Hash, mgfHash)
		}
		p := &wire.RSAPKCSOAEPParams{HashAlg: uint64(hm.hash), MGF: mm.mgf, Source: ck.CKZ_DATA_SPECIFIED, SourceData: bytes.Clone(o.Label)}
		m := &ck.Mechanism{Type: ck.CKM_RSA_PKCS_OAEP, Parameter: p.Encode()}
		pt, err := k.run(ck.OpDecrypt, m, ciphertext)
		if err != nil {
			return nil, fmt.Errorf("client: decrypting with %v on %v (%v): %w", k.ref, k.tok, m.Type, err)
		}
		return pt, nil
	default:
		return nil, fmt.Errorf("client: decrypting with %v on %v: unsupported options %T", k.ref, k.tok, opts)
	}
}

func (d *Decrypter) decryptPKCS1v15(ciphertext []byte) ([]byte, error) {
	k := d.k
	pt, err := k.run(ck.OpDecrypt, &ck.Mechanism{Type: ck.CKM_RSA_PKCS}, ciphertext)
	if err != nil {
		return nil, fmt.Errorf("client: decrypting with %v on %v (CKM_RSA_PKCS): %w", k.ref, k.tok, err)
	}
	return pt, nil
}

// MLDSAPublicKey is an ML-DSA (FIPS 204) public key, which the Go standard library has no type for yet: the
// Public key of a Signer whose key type is CKK_ML_DSA.
type MLDSAPublicKey struct {
	ParameterSet uint64 // CKP_ML_DSA_44, CKP_ML_DSA_65 or CKP_ML_DSA_87
	Key          []byte // the FIPS 204 encoding of pk
}

// Equal reports whether x is the same ML-DSA public key.
func (k *MLDSAPublicKey) Equal(x crypto.PublicKey) bool {
	o, ok := x.(*MLDSAPublicKey)
	return ok && o.ParameterSet == k.ParameterSet && bytes.Equal(o.Key, k.Key)
}

// MLDSAOptions are signing options for ML-DSA keys: a context string (at most 255 bytes) and deterministic
// rather than hedged signing. HashFunc is always 0: ML-DSA signs the message itself.
type MLDSAOptions struct {
	Context       []byte
	Deterministic bool
}

// HashFunc returns 0: ML-DSA signs messages, not digests.
func (*MLDSAOptions) HashFunc() crypto.Hash { return 0 }

// mldsaSizes are the public key and signature lengths of the ML-DSA parameter sets (FIPS 204 table 2).
var mldsaSizes = map[uint64]struct{ pk, sig int }{
	ck.CKP_ML_DSA_44: {1312, 2420},
	ck.CKP_ML_DSA_65: {1952, 3309},
	ck.CKP_ML_DSA_87: {2592, 4627},
}
