package mech

import (
	"crypto/cipher"
	"crypto/subtle"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// CKM_AES_CMAC and CKM_AES_CMAC_GENERAL (PKCS#11 3.0 "AES CMAC"): CMAC as NIST SP 800-38B defines it,
// written over crypto/aes's block cipher (no library we may use has it). CMAC_GENERAL's parameter is a
// CK_MAC_GENERAL_PARAMS (one CK_ULONG, the MAC length in bytes, 1 to 16); its MAC is the leading bytes of
// the full one. CKM_AES_CCM, whose tag is a CBC-MAC, is also here (see its section).

// aesCMAC is an incremental CMAC. The last block, complete or not, stays in buf until Sum, which alone knows
// it is the last.
type aesCMAC struct {
	b      cipher.Block
	k1, k2 [aesBS]byte
	x      [aesBS]byte // chaining value
	buf    [aesBS]byte
	n      int // bytes in buf
}

// aesCMACDouble is the doubling in GF(2^128) of SP 800-38B's subkey generation, in constant time.
func aesCMACDouble(dst, src *[aesBS]byte) {
	carry := src[0] >> 7
	for i := 0; i < aesBS-1; i++ {
		dst[i] = src[i]<<1 | src[i+1]>>7
	}
	dst[aesBS-1] = src[aesBS-1]<<1 ^ (0x87 & -carry)
}

func aesNewCMAC(b cipher.Block) *aesCMAC {
	c := &aesCMAC{b: b}
	var l [aesBS]byte
	b.Encrypt(l[:], l[:])
	aesCMACDouble(&c.k1, &l)
	aesCMACDouble(&c.k2, &c.k1)
	clear(l[:])
	return c
}

func (c *aesCMAC) Write(p []byte) {
	for len(p) > 0 {
		if c.n == aesBS {
			subtle.XORBytes(c.x[:], c.x[:], c.buf[:])
			c.b.Encrypt(c.x[:], c.x[:])
			c.n = 0
		}
		m := copy(c.buf[c.n:], p)
		c.n += m
		p = p[m:]
	}
}

// Sum returns the full 16-byte MAC and wipes the state.
func (c *aesCMAC) Sum() []byte {
	last := c.buf
	if c.n == aesBS {
		subtle.XORBytes(last[:], last[:], c.k1[:])
	} else {
		clear(last[c.n:])
		last[c.n] = 0x80
		subtle.XORBytes(last[:], last[:], c.k2[:])
	}
	subtle.XORBytes(c.x[:], c.x[:], last[:])
	c.b.Encrypt(c.x[:], c.x[:])
	out := append([]byte(nil), c.x[:]...)
	clear(last[:])
	clear(c.buf[:])
	clear(c.x[:])
	clear(c.k1[:])
	clear(c.k2[:])
	return out
}

type aesCMACSign struct {
	c   *aesCMAC
	len int
}

func (s *aesCMACSign) Update(in []byte) ([]byte, error) {
	s.c.Write(in)
	return nil, nil
}

func (s *aesCMACSign) Final() ([]byte, error) { return s.c.Sum()[:s.len], nil }

func (s *aesCMACSign) check(sig []byte) error {
	if len(sig) != s.len {
		return ck.CKR_SIGNATURE_LEN_RANGE
	}
	if subtle.ConstantTimeCompare(s.c.Sum()[:s.len], sig) != 1 {
		return ck.CKR_SIGNATURE_INVALID
	}
	return nil
}

type aesCMACVerify struct{ s *aesCMACSign }

func (v aesCMACVerify) Update(in []byte) error {
	v.s.c.Write(in)
	return nil
}

func (v aesCMACVerify) Final(sig []byte) error { return v.s.check(sig) }

// aesCMACLen reads the MAC length: 16 for CMAC (no parameter), the parameter's for CMAC_GENERAL.
func aesCMACLen(m ck.MechanismType, p Param) (int, error) {
	if m == ck.CKM_AES_CMAC {
		if !aesNoParam(p) {
			return 0, ck.CKR_MECHANISM_PARAM_INVALID
		}
		return aesBS, nil
	}
	l, ok := RawULong(p.Raw, 0)
	if !p.Present || !ok || len(p.Raw) != 8 || l == 0 || l > aesBS {
		return 0, ck.CKR_MECHANISM_PARAM_INVALID
	}
	return int(l), nil
}

func aesNewCMACSign(m ck.MechanismType, p Param, k *Key) (*aesCMACSign, error) {
	n, err := aesCMACLen(m, p)
	if err != nil {
		return nil, err
	}
	b, err := aesBlock(k)
	if err != nil {
		return nil, err
	}
	return &aesCMACSign{c: aesNewCMAC(b), len: n}, nil
}

// ---- CCM (NIST SP 800-38C) ----

type aesCCMParams struct {
	dataLen uint64
	nonce   []byte
	aad     []byte
	macLen  int
}

// aesParseCCM reads CK_CCM_PARAMS: a nonce of 7 to 13 bytes, a MAC of 4, 6 ... 16 bytes, and a data length
// (the plaintext's, without the MAC) that the nonce leaves room to encode.
func aesParseCCM(p Param) (aesCCMParams, error) {
	if !p.Present || p.S == nil || p.S.CCMParams == nil {
		return aesCCMParams{}, ck.CKR_MECHANISM_PARAM_INVALID
	}
	c := aesCCMParams{dataLen: p.S.CCMParams.DataLen, nonce: p.S.CCMParams.Nonce, aad: p.S.CCMParams.AAD}
	n := len(c.nonce)
	if n < 7 || n > 13 {
		return c, ck.CKR_MECHANISM_PARAM_INVALID
	}
	m := p.S.CCMParams.MACLen
	if m < 4 || m > 16 || m%2 != 0 {
		return c, ck.CKR_MECHANISM_PARAM_INVALID
	}
	c.macLen = int(m)
	if q := 15 - n; q < 8 && c.dataLen>>(8*q) != 0 {
		return c, ck.CKR_MECHANISM_PARAM_INVALID
	}
	return c, nil
}

// aesCCMMAC computes the CBC-MAC T of SP 800-38C over B0, the encoded associated data and the payload.
func aesCCMMAC(b cipher.Block, c aesCCMParams, plain []byte) []byte {
	q := 15 - len(c.nonce)
	x := make([]byte, aesBS)
	// B0: flags, nonce, payload length in q bytes.
	x[0] = byte((c.macLen-2)/2<<3 | (q - 1))
	if len(c.aad) > 0 {
		x[0] |= 0x40
	}
	copy(x[1:], c.nonce)
	for i, l := 15, uint64(len(plain)); i > len(c.nonce); i, l = i-1, l>>8 {
		x[i] = byte(l)
	}
	b.Encrypt(x, x)
	mac := func(data []byte) {
		for len(data) > 0 {
			n := subtle.XORBytes(x, x, data)
			data = data[n:]
			b.Encrypt(x, x)
		}
	}
	if a := uint64(len(c.aad)); a > 0 {
		var hdr []byte
		switch {
		case a < 1<<16-1<<8:
			hdr = []byte{byte(a >> 8), byte(a)}
		case a < 1<<32:
			hdr = []byte{0xff, 0xfe, byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)}
		default:
			hdr = []byte{0xff, 0xff, byte(a >> 56), byte(a >> 48), byte(a >> 40), byte(a >> 32),
				byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)}
		}
		enc := make([]byte, (len(hdr)+len(c.aad)+aesBS-1)/aesBS*aesBS)
		copy(enc, hdr)
		copy(enc[len(hdr):], c.aad)
		mac(enc)
	}
	padded := make([]byte, (len(plain)+aesBS-1)/aesBS*aesBS)
	copy(padded, plain)
	mac(padded)
	clear(padded)
	return x
}

// aesCCMCTR encrypts or decrypts the payload with counter blocks Ctr_1, Ctr_2 ... and returns it with the
// first block of keystream S_0 (which masks the tag).
func aesCCMCTR(b cipher.Block, c aesCCMParams, in []byte) (out, s0 []byte) {
	ctr := make([]byte, aesBS)
	ctr[0] = byte(14 - len(c.nonce))
	copy(ctr[1:], c.nonce)
	s0 = make([]byte, aesBS)
	b.Encrypt(s0, ctr)
	ctr[15] = 1
	out = make([]byte, len(in))
	// The counter field is q bytes and the payload is shorter than 2^(8q) bytes, so the count never
	// carries into the nonce and the standard 128-bit increment is the spec's q-byte one.
	cipher.NewCTR(b, ctr).XORKeyStream(out, in)
	return out, s0
}

func aesCCMSeal(b cipher.Block, c aesCCMParams, plain []byte) ([]byte, error) {
	if uint64(len(plain)) != c.dataLen {
		return nil, errAESPlainLen
	}
	t := aesCCMMAC(b, c, plain)
	out, s0 := aesCCMCTR(b, c, plain)
	subtle.XORBytes(t, t, s0)
	clear(s0)
	return append(out, t[:c.macLen]...), nil
}

func aesCCMOpen(b cipher.Block, c aesCCMParams, in []byte) ([]byte, error) {
	if uint64(len(in)) != c.dataLen+uint64(c.macLen) || uint64(len(in)) < c.dataLen {
		return nil, errAESCipherLen
	}
	ct, tag := in[:c.dataLen], in[c.dataLen:]
	plain, s0 := aesCCMCTR(b, c, ct)
	t := aesCCMMAC(b, c, plain)
	subtle.XORBytes(t, t, s0)
	clear(s0)
	if subtle.ConstantTimeCompare(t[:c.macLen], tag) != 1 {
		clear(plain)
		return nil, errAESIntegrity
	}
	return plain, nil
}

func aesCCMCrypt(enc bool) func(p Param, k *Key) (Operation, error) {
	return func(p Param, k *Key) (Operation, error) {
		c, err := aesParseCCM(p)
		if err != nil {
			return nil, err
		}
		b, err := aesBlock(k)
		if err != nil {
			return nil, err
		}
		if enc {
			return &aesAEADOp{fin: func(in []byte) ([]byte, error) { return aesCCMSeal(b, c, in) }}, nil
		}
		return &aesAEADOp{fin: func(in []byte) ([]byte, error) { return aesCCMOpen(b, c, in) }}, nil
	}
}

func init() {
	Register(&Spec{
		Type:     ck.CKM_AES_CCM,
		Info:     aesInfo(ck.CKF_ENCRYPT | ck.CKF_DECRYPT),
		KeyTypes: aesKeyTypes,
		Encrypt:  aesCCMCrypt(true),
		Decrypt:  aesCCMCrypt(false),
	})
	for _, m := range []ck.MechanismType{ck.CKM_AES_CMAC, ck.CKM_AES_CMAC_GENERAL} {
		Register(&Spec{
			Type:     m,
			Info:     aesInfo(ck.CKF_SIGN | ck.CKF_VERIFY),
			KeyTypes: aesKeyTypes,
			Sign: func(p Param, k *Key) (Operation, error) {
				s, err := aesNewCMACSign(m, p, k)
				if err != nil {
					return nil, err
				}
				return s, nil
			},
			Verify: func(p Param, k *Key) (Verifier, error) {
				s, err := aesNewCMACSign(m, p, k)
				if err != nil {
					return nil, err
				}
				return aesCMACVerify{s}, nil
			},
		})
	}
}
