package mech

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"math/big"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// AES (PKCS#11 3.0 current mechanisms, "AES", "AES with Counter", "AES GCM and CCM", "AES CMAC", "AES Key
// Wrap", "Key derivation by data encryption"): key type CKK_AES; CKM_AES_KEY_GEN, CKM_AES_ECB, CKM_AES_CBC,
// CKM_AES_CBC_PAD, CKM_AES_CTR, CKM_AES_GCM (this file); CKM_AES_CMAC, CKM_AES_CMAC_GENERAL, CKM_AES_CCM
// (aes_mac.go); CKM_AES_KEY_WRAP, CKM_AES_KEY_WRAP_PAD, CKM_AES_KEY_WRAP_KWP, CKM_AES_ECB_ENCRYPT_DATA,
// CKM_AES_CBC_ENCRYPT_DATA (aes_wrap.go).
//
// The block cipher, CBC, CTR and GCM are Go's (crypto/aes, crypto/cipher). CCM (NIST SP 800-38C), CMAC
// (SP 800-38B) and the key wraps (RFC 3394, RFC 5649) exist in no library we may use; they are written here
// over crypto/aes's block cipher and proven by the Wycheproof vectors.

const aesBS = aes.BlockSize

// aesInfo is CK_MECHANISM_INFO of an AES mechanism: key sizes in bytes, as the spec says for AES.
func aesInfo(flags uint64) ck.MechanismInfo {
	return ck.MechanismInfo{MinKeySize: 16, MaxKeySize: 32, Flags: flags}
}

var aesKeyTypes = []ck.KeyType{ck.CKK_AES}

func validAESKeyLen(n int) bool { return n == 16 || n == 24 || n == 32 }

// aesNoParam reports whether a mechanism that takes no parameter got none (a NULL or empty one).
func aesNoParam(p Param) bool { return !p.Present || len(p.Raw) == 0 }

// aesBlock returns the key's AES block cipher, kept in the key object's cache.
func aesBlock(k *Key) (cipher.Block, error) {
	v, err := k.Parsed("aes.block", func() (any, error) {
		val := k.Attrs[ck.CKA_VALUE]
		if !validAESKeyLen(len(val)) {
			return nil, ck.CKR_KEY_SIZE_RANGE
		}
		return aes.NewCipher(val)
	})
	if err != nil {
		return nil, err
	}
	return v.(cipher.Block), nil
}

// Failures of a mode, mapped to the return code of the function that met them (encryption, decryption,
// wrapping or unwrapping).
var (
	errAESPlainLen  = errors.New("aes: plaintext length")
	errAESCipherLen = errors.New("aes: ciphertext length")
	errAESIntegrity = errors.New("aes: integrity check failed")
)

// aesCryptErr maps a mode failure met by C_Encrypt* / C_Decrypt*.
func aesCryptErr(err error) error {
	switch err {
	case errAESPlainLen:
		return ck.CKR_DATA_LEN_RANGE
	case errAESCipherLen:
		return ck.CKR_ENCRYPTED_DATA_LEN_RANGE
	case errAESIntegrity:
		return ck.CKR_ENCRYPTED_DATA_INVALID
	}
	return err
}

// aesWrapErr maps a mode failure met by C_WrapKey / C_UnwrapKey.
func aesWrapErr(err error) error {
	switch err {
	case errAESPlainLen:
		return ck.CKR_KEY_SIZE_RANGE
	case errAESCipherLen:
		return ck.CKR_WRAPPED_KEY_LEN_RANGE
	case errAESIntegrity:
		return ck.CKR_WRAPPED_KEY_INVALID
	}
	return err
}

// ---- key type and key generation ----

func aesCheckKey(class ck.ObjectClass, a Attrs) (Attrs, error) {
	if class != ck.CKO_SECRET_KEY {
		return nil, ck.CKR_TEMPLATE_INCONSISTENT
	}
	v, ok := a[ck.CKA_VALUE]
	if !ok {
		return nil, ck.CKR_TEMPLATE_INCOMPLETE
	}
	if !validAESKeyLen(len(v)) {
		return nil, ck.CKR_ATTRIBUTE_VALUE_INVALID
	}
	if _, present := a[ck.CKA_VALUE_LEN]; present {
		if n, ok := GetULong(a, ck.CKA_VALUE_LEN); !ok || n != uint64(len(v)) {
			return nil, ck.CKR_TEMPLATE_INCONSISTENT
		}
	}
	return Attrs{ck.CKA_VALUE_LEN: ck.ULong(uint64(len(v)))}, nil
}

func aesGenerateKey(p Param, t Attrs) (Attrs, error) {
	if !aesNoParam(p) {
		return nil, ck.CKR_MECHANISM_PARAM_INVALID
	}
	if _, present := t[ck.CKA_VALUE_LEN]; !present {
		return nil, ck.CKR_TEMPLATE_INCOMPLETE
	}
	n, ok := GetULong(t, ck.CKA_VALUE_LEN)
	if !ok || n > 32 || !validAESKeyLen(int(n)) {
		return nil, ck.CKR_ATTRIBUTE_VALUE_INVALID
	}
	key := make([]byte, n)
	rand.Read(key)
	return Attrs{ck.CKA_VALUE: key}, nil
}

// ---- ECB, CBC, CBC_PAD ----

// aesECB is ECB as a cipher.BlockMode (the standard library has none).
type aesECB struct {
	b   cipher.Block
	enc bool
}

func (e aesECB) BlockSize() int { return aesBS }

func (e aesECB) CryptBlocks(dst, src []byte) {
	for i := 0; i < len(src); i += aesBS {
		if e.enc {
			e.b.Encrypt(dst[i:i+aesBS], src[i:i+aesBS])
		} else {
			e.b.Decrypt(dst[i:i+aesBS], src[i:i+aesBS])
		}
	}
}

// aesBlockMode makes the ECB or CBC mode of a mechanism from its parameter.
func aesBlockMode(m ck.MechanismType, p Param, b cipher.Block, enc bool) (cipher.BlockMode, error) {
	if m == ck.CKM_AES_ECB {
		if !aesNoParam(p) {
			return nil, ck.CKR_MECHANISM_PARAM_INVALID
		}
		return aesECB{b, enc}, nil
	}
	if !p.Present || len(p.Raw) != aesBS {
		return nil, ck.CKR_MECHANISM_PARAM_INVALID
	}
	if enc {
		return cipher.NewCBCEncrypter(b, p.Raw), nil
	}
	return cipher.NewCBCDecrypter(b, p.Raw), nil
}

// aesBlockOp is a multi-part ECB, CBC or CBC_PAD operation: it processes whole blocks as they come and keeps
// the rest; CBC_PAD decryption also keeps back the last whole block, whose padding only Final may remove.
type aesBlockOp struct {
	bm       cipher.BlockMode
	enc, pad bool
	buf      []byte // pending input, at most one block
}

func (o *aesBlockOp) Update(in []byte) ([]byte, error) {
	total := len(o.buf) + len(in)
	n := total - total%aesBS
	if o.pad && !o.enc && n == total && n > 0 {
		n -= aesBS
	}
	if n == 0 {
		o.buf = append(o.buf, in...)
		return nil, nil
	}
	out := make([]byte, n)
	copy(out, o.buf)
	used := n - len(o.buf)
	copy(out[len(o.buf):], in[:used])
	o.bm.CryptBlocks(out, out)
	clear(o.buf)
	o.buf = append(o.buf[:0], in[used:]...)
	return out, nil
}

// Single is Update then Final (C_Encrypt, C_Decrypt) with one output buffer, filled straight from the input.
func (o *aesBlockOp) Single(in []byte) ([]byte, error) {
	if len(o.buf) != 0 {
		// Input held back by an earlier Update: the single-part call finishes the multi-part one.
		return aesUpdateFinal(o, in)
	}
	n := len(in)
	whole := n - n%aesBS
	switch {
	case !o.pad:
		if whole != n {
			if o.enc {
				return nil, ck.CKR_DATA_LEN_RANGE
			}
			return nil, ck.CKR_ENCRYPTED_DATA_LEN_RANGE
		}
		out := make([]byte, n)
		o.bm.CryptBlocks(out, in)
		return out, nil
	case o.enc:
		out := make([]byte, whole+aesBS)
		o.bm.CryptBlocks(out[:whole], in[:whole])
		last := out[whole:]
		copy(last, in[whole:])
		for i := n - whole; i < aesBS; i++ {
			last[i] = byte(aesBS - (n - whole))
		}
		o.bm.CryptBlocks(last, last)
		return out, nil
	}
	if n == 0 || whole != n {
		return nil, ck.CKR_ENCRYPTED_DATA_LEN_RANGE
	}
	out := make([]byte, n)
	o.bm.CryptBlocks(out, in)
	plain, ok := aesPKCS7Unpad(out, aesBS)
	if !ok {
		clear(out)
		return nil, ck.CKR_ENCRYPTED_DATA_INVALID
	}
	return plain, nil
}

// aesUpdateFinal is the single-part call of an operation as its Update then its Final.
func aesUpdateFinal(o Operation, in []byte) ([]byte, error) {
	out, err := o.Update(in)
	if err != nil {
		return nil, err
	}
	rest, err := o.Final()
	if err != nil {
		clear(out)
		return nil, err
	}
	if len(out) == 0 {
		return rest, nil
	}
	joined := append(out, rest...)
	if len(rest) != 0 && &joined[0] != &out[0] {
		clear(out)
	}
	clear(rest)
	return joined, nil
}

func (o *aesBlockOp) Final() ([]byte, error) {
	defer func() { clear(o.buf); o.buf = o.buf[:0] }()
	switch {
	case !o.pad && len(o.buf) != 0:
		if o.enc {
			return nil, ck.CKR_DATA_LEN_RANGE
		}
		return nil, ck.CKR_ENCRYPTED_DATA_LEN_RANGE
	case !o.pad:
		return nil, nil
	case o.enc:
		out := aesPKCS7Pad(o.buf, aesBS)
		o.bm.CryptBlocks(out, out)
		return out, nil
	}
	if len(o.buf) != aesBS {
		return nil, ck.CKR_ENCRYPTED_DATA_LEN_RANGE
	}
	blk := make([]byte, aesBS)
	o.bm.CryptBlocks(blk, o.buf)
	plain, ok := aesPKCS7Unpad(blk, aesBS)
	if !ok {
		clear(blk)
		return nil, ck.CKR_ENCRYPTED_DATA_INVALID
	}
	return plain, nil
}

// aesPKCS7Pad returns a new buffer: b followed by 1..bs bytes of PKCS#7 padding.
func aesPKCS7Pad(b []byte, bs int) []byte {
	p := bs - len(b)%bs
	out := make([]byte, len(b)+p)
	copy(out, b)
	for i := len(b); i < len(out); i++ {
		out[i] = byte(p)
	}
	return out
}

// aesPKCS7Unpad checks and removes PKCS#7 padding in time independent of the padding's value.
func aesPKCS7Unpad(b []byte, bs int) ([]byte, bool) {
	n := len(b)
	if n == 0 || n%bs != 0 {
		return nil, false
	}
	p := int(b[n-1])
	good := subtle.ConstantTimeLessOrEq(1, p) & subtle.ConstantTimeLessOrEq(p, bs)
	for i := 0; i < bs; i++ {
		inPad := subtle.ConstantTimeLessOrEq(i+1, p)
		eq := subtle.ConstantTimeByteEq(b[n-1-i], byte(p))
		good &= subtle.ConstantTimeSelect(inPad, eq, 1)
	}
	if good != 1 {
		return nil, false
	}
	return b[:n-p], true
}

func aesBlockCrypt(m ck.MechanismType, enc bool) func(p Param, k *Key) (Operation, error) {
	return func(p Param, k *Key) (Operation, error) {
		b, err := aesBlock(k)
		if err != nil {
			return nil, err
		}
		bm, err := aesBlockMode(m, p, b, enc)
		if err != nil {
			return nil, err
		}
		return &aesBlockOp{bm: bm, enc: enc, pad: m == ck.CKM_AES_CBC_PAD}, nil
	}
}

// aesBlockWrap wraps with ECB or CBC: the key is padded with zero bytes to a whole number of blocks (the
// spec's rule); unwrapping returns the padded value, which the engine truncates to the template's
// CKA_VALUE_LEN or key type. CBC_PAD pads and unpads with PKCS#7.
func aesBlockWrap(m ck.MechanismType) func(p Param, k *Key, plain []byte) ([]byte, error) {
	return func(p Param, k *Key, plain []byte) ([]byte, error) {
		b, err := aesBlock(k)
		if err != nil {
			return nil, err
		}
		bm, err := aesBlockMode(m, p, b, true)
		if err != nil {
			return nil, err
		}
		if len(plain) == 0 {
			return nil, ck.CKR_KEY_SIZE_RANGE
		}
		var out []byte
		if m == ck.CKM_AES_CBC_PAD {
			out = aesPKCS7Pad(plain, aesBS)
		} else {
			out = make([]byte, (len(plain)+aesBS-1)/aesBS*aesBS)
			copy(out, plain)
		}
		bm.CryptBlocks(out, out)
		return out, nil
	}
}

func aesBlockUnwrap(m ck.MechanismType) func(p Param, k *Key, wrapped []byte) ([]byte, error) {
	return func(p Param, k *Key, wrapped []byte) ([]byte, error) {
		b, err := aesBlock(k)
		if err != nil {
			return nil, err
		}
		bm, err := aesBlockMode(m, p, b, false)
		if err != nil {
			return nil, err
		}
		if len(wrapped) == 0 || len(wrapped)%aesBS != 0 {
			return nil, ck.CKR_WRAPPED_KEY_LEN_RANGE
		}
		out := make([]byte, len(wrapped))
		bm.CryptBlocks(out, wrapped)
		if m != ck.CKM_AES_CBC_PAD {
			return out, nil
		}
		plain, ok := aesPKCS7Unpad(out, aesBS)
		if !ok {
			clear(out)
			return nil, ck.CKR_WRAPPED_KEY_INVALID
		}
		return plain, nil
	}
}

// ---- CTR ----

// aesCTROp is CKM_AES_CTR. left is the number of bytes the counter bits still allow (the spec: an input that
// would make the counter bits overflow gets CKR_DATA_LEN_RANGE; the last post-increment may overflow).
type aesCTROp struct {
	s         cipher.Stream
	left      uint64
	unlimited bool
}

func (o *aesCTROp) Update(in []byte) ([]byte, error) {
	if !o.unlimited {
		if uint64(len(in)) > o.left {
			return nil, ck.CKR_DATA_LEN_RANGE
		}
		o.left -= uint64(len(in))
	}
	out := make([]byte, len(in))
	o.s.XORKeyStream(out, in)
	return out, nil
}

func (o *aesCTROp) Final() ([]byte, error) { return nil, nil }

func aesCTRCrypt(p Param, k *Key) (Operation, error) {
	// CK_AES_CTR_PARAMS: CK_ULONG ulCounterBits; CK_BYTE cb[16].
	bits, ok := RawULong(p.Raw, 0)
	if !p.Present || !ok || len(p.Raw) != 8+aesBS || bits == 0 || bits > 128 {
		return nil, ck.CKR_MECHANISM_PARAM_INVALID
	}
	b, err := aesBlock(k)
	if err != nil {
		return nil, err
	}
	cb := p.Raw[8:]
	ctr := new(big.Int).SetBytes(cb)
	limit := new(big.Int).Lsh(big.NewInt(1), uint(bits))
	ctr.Mod(ctr, limit)
	blocks := limit.Sub(limit, ctr) // counter values left, the current one included
	o := &aesCTROp{s: cipher.NewCTR(b, cb)}
	if blocks.BitLen() > 58 {
		o.unlimited = true
	} else {
		o.left = blocks.Uint64() * aesBS
	}
	return o, nil
}

// ---- GCM ----

type aesGCMParams struct {
	iv, aad []byte
	tagLen  int
}

// aesParseGCM reads CK_GCM_PARAMS. Tag lengths are those of NIST SP 800-38D (128, 120, 112, 104, 96, and 64
// and 32 bits). The IV is pIv and ulIvLen; ulIvBits is ignored: PKCS#11 3.0 (current mechanisms, 2.13.5) says
// "Do no use ulIvBits to specify the length of the initialization vector, but ulIvLen instead" (applications
// set 0, the IV's bits, or other values: OpenSC's p11test sends ulIvLen 16 with ulIvBits 64).
func aesParseGCM(p Param) (aesGCMParams, error) {
	if !p.Present || p.S == nil || p.S.GCMParams == nil {
		return aesGCMParams{}, ck.CKR_MECHANISM_PARAM_INVALID
	}
	g := aesGCMParams{iv: p.S.GCMParams.IV, aad: p.S.GCMParams.AAD}
	if len(g.iv) == 0 || uint64(len(g.iv)) > 1<<32-1 {
		return g, ck.CKR_MECHANISM_PARAM_INVALID
	}
	switch t := p.S.GCMParams.TagBits; t {
	case 32, 64, 96, 104, 112, 120, 128:
		g.tagLen = int(t / 8)
	default:
		return g, ck.CKR_MECHANISM_PARAM_INVALID
	}
	return g, nil
}

// aesGCMSeal encrypts plain and appends the tag truncated to g.tagLen (SP 800-38D: the tag's leading bits).
func aesGCMSeal(b cipher.Block, g aesGCMParams, plain []byte) ([]byte, error) {
	aead, err := cipher.NewGCMWithNonceSize(b, len(g.iv))
	if err != nil {
		return nil, err
	}
	out := aead.Seal(nil, g.iv, plain, g.aad)
	return out[:len(plain)+g.tagLen], nil
}

// aesGCMOpen checks the tag and decrypts. Go's GCM checks tags of 12 to 16 bytes only, with the standard
// nonce or the standard tag; for a shorter tag the full tag is recomputed (the keystream is the encryption
// of zeros; the tag is that of re-encrypting the recovered plaintext) and its leading bytes compared.
func aesGCMOpen(b cipher.Block, g aesGCMParams, in []byte) ([]byte, error) {
	if len(in) < g.tagLen {
		return nil, errAESCipherLen
	}
	aead, err := cipher.NewGCMWithNonceSize(b, len(g.iv))
	if err != nil {
		return nil, err
	}
	if g.tagLen == aead.Overhead() {
		plain, err := aead.Open(nil, g.iv, in, g.aad)
		if err != nil {
			return nil, errAESIntegrity
		}
		return plain, nil
	}
	ct, tag := in[:len(in)-g.tagLen], in[len(in)-g.tagLen:]
	plain := aead.Seal(nil, g.iv, make([]byte, len(ct)), nil)[:len(ct)]
	subtle.XORBytes(plain, plain, ct)
	full := aead.Seal(nil, g.iv, plain, g.aad)
	ok := subtle.ConstantTimeCompare(full[len(ct):len(ct)+g.tagLen], tag) == 1
	clear(full)
	if !ok {
		clear(plain)
		return nil, errAESIntegrity
	}
	return plain, nil
}

// aesAEADOp buffers the whole input and produces everything at Final: a decryption's plaintext must not be
// released before its tag is checked, and Go's GCM has no incremental form. The single-part call seals or
// opens its input where it lies.
type aesAEADOp struct {
	buf []byte
	fin func(in []byte) ([]byte, error)
}

// Buffers implements Buffering.
func (o *aesAEADOp) Buffers() bool { return true }

func (o *aesAEADOp) Update(in []byte) ([]byte, error) {
	if len(in) > cap(o.buf)-len(o.buf) {
		// Grown by hand so that the buffer left behind, which may hold plaintext, is cleared.
		grown := make([]byte, len(o.buf), max(2*cap(o.buf), len(o.buf)+len(in)))
		copy(grown, o.buf)
		clear(o.buf)
		o.buf = grown
	}
	o.buf = append(o.buf, in...)
	return nil, nil
}

func (o *aesAEADOp) Single(in []byte) ([]byte, error) {
	if len(o.buf) != 0 {
		return aesUpdateFinal(o, in) // after an Update: the whole message is the buffered input and in
	}
	out, err := o.fin(in)
	return out, aesCryptErr(err)
}

func (o *aesAEADOp) Final() ([]byte, error) {
	out, err := o.fin(o.buf)
	clear(o.buf)
	o.buf = nil
	return out, aesCryptErr(err)
}

func aesGCMCrypt(enc bool) func(p Param, k *Key) (Operation, error) {
	return func(p Param, k *Key) (Operation, error) {
		g, err := aesParseGCM(p)
		if err != nil {
			return nil, err
		}
		b, err := aesBlock(k)
		if err != nil {
			return nil, err
		}
		if enc {
			return &aesAEADOp{fin: func(in []byte) ([]byte, error) { return aesGCMSeal(b, g, in) }}, nil
		}
		return &aesAEADOp{fin: func(in []byte) ([]byte, error) { return aesGCMOpen(b, g, in) }}, nil
	}
}

func aesGCMWrap(p Param, k *Key, plain []byte) ([]byte, error) {
	g, err := aesParseGCM(p)
	if err != nil {
		return nil, err
	}
	b, err := aesBlock(k)
	if err != nil {
		return nil, err
	}
	return aesGCMSeal(b, g, plain)
}

func aesGCMUnwrap(p Param, k *Key, wrapped []byte) ([]byte, error) {
	g, err := aesParseGCM(p)
	if err != nil {
		return nil, err
	}
	b, err := aesBlock(k)
	if err != nil {
		return nil, err
	}
	plain, err := aesGCMOpen(b, g, wrapped)
	return plain, aesWrapErr(err)
}

func init() {
	RegisterKeyType(&KeyTypeSpec{
		Type:  ck.CKK_AES,
		Rules: secretRules(secretValueRules),
		Check: aesCheckKey,
	})
	Register(&Spec{
		Type:        ck.CKM_AES_KEY_GEN,
		Info:        aesInfo(ck.CKF_GENERATE),
		GenKeyType:  ck.CKK_AES,
		GenerateKey: aesGenerateKey,
	})
	// ECB and CBC wrap a key zero-padded to whole blocks (aesBlockWrap); CBC_PAD pads it (PKCS #7).
	blockUnwrapLen := map[ck.MechanismType]UnwrapLen{ck.CKM_AES_ECB: UnwrapZeroPadded, ck.CKM_AES_CBC: UnwrapZeroPadded,
		ck.CKM_AES_CBC_PAD: UnwrapWhole}
	for m, unwrapLen := range blockUnwrapLen {
		Register(&Spec{
			Type:      m,
			Info:      aesInfo(ck.CKF_ENCRYPT | ck.CKF_DECRYPT | ck.CKF_WRAP | ck.CKF_UNWRAP),
			KeyTypes:  aesKeyTypes,
			Encrypt:   aesBlockCrypt(m, true),
			Decrypt:   aesBlockCrypt(m, false),
			Wrap:      aesBlockWrap(m),
			Unwrap:    aesBlockUnwrap(m),
			UnwrapLen: unwrapLen,
		})
	}
	Register(&Spec{
		Type:     ck.CKM_AES_CTR,
		Info:     aesInfo(ck.CKF_ENCRYPT | ck.CKF_DECRYPT),
		KeyTypes: aesKeyTypes,
		Encrypt:  aesCTRCrypt,
		Decrypt:  aesCTRCrypt,
	})
	Register(&Spec{
		Type:     ck.CKM_AES_GCM,
		Info:     aesInfo(ck.CKF_ENCRYPT | ck.CKF_DECRYPT | ck.CKF_WRAP | ck.CKF_UNWRAP),
		KeyTypes: aesKeyTypes,
		Encrypt:  aesGCMCrypt(true),
		Decrypt:  aesGCMCrypt(false),
		Wrap:     aesGCMWrap,
		Unwrap:   aesGCMUnwrap,
	})
}
