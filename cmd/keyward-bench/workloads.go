package main

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/cloudflare/circl/sign/mldsa/mldsa65"
	"github.com/miekg/pkcs11"
)

// workload is one line of the table measured the same way on every module.
type workload struct {
	name      string
	unit      string
	bytes     int // bytes per operation, for MB/s
	threads   int // 0: the module's main session; n > 0: n threads, each with its own session
	mechs     []uint
	mk        func(m *module, s pkcs11.SessionHandle) (op, error)
	after     func(m *module)
	limit     func() (op, error) // one per thread
	limitWhat string
	limitID   string // workloads sharing a limit measure it once

	// prepareAll, when set, replaces threads and mk: it makes all of the workload's operations on a module
	// (each runs in its own goroutine) and what releases them; an error starting with "n/a" is not a failure.
	prepareAll func(m *module) (ops []op, cleanup func(), err error)
	// limitAll, when set, replaces limit: all of the limit's operations and what releases them.
	limitAll func() (ops []op, cleanup func(), err error)
	// limitLabel names the limit in the progress log when it is not Go in-process.
	limitLabel string
}

func (w *workload) limitKey() string {
	if w.limitID != "" {
		return w.limitID + "/" + strconv.Itoa(w.threads)
	}
	return w.name
}

// Mechanism and key type numbers not in miekg/pkcs11 v1.1.2's table.
const (
	ckmECDSASHA256        = 0x1044
	ckmECEdwardsKeyGen    = 0x1055
	ckmECMontgomeryKeyGen = 0x1056
	ckmEdDSA              = 0x1057
	ckmMLDSAKeyGen        = 0x1c
	ckmMLDSA              = 0x1d
	ckaParameterSet       = 0x61d
	ckpMLDSA65            = 0x2
)

var (
	oidP256    = []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}
	oidP384    = []byte{0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22}
	oidEd25519 = []byte{0x06, 0x03, 0x2b, 0x65, 0x70}
	oidX25519  = []byte{0x06, 0x03, 0x2b, 0x65, 0x6e}
)

func attr(t uint, v any) *pkcs11.Attribute { return pkcs11.NewAttribute(t, v) }

// key returns the module's token key pair (or secret key, in priv) called name, generating it on first use.
func (m *module) key(name string) (keyPair, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if k, ok := m.keys[name]; ok {
		return k, k.err
	}
	k := m.genKey(name)
	m.keys[name] = k
	return k, k.err
}

func pairTemplates(label string, pub, priv []*pkcs11.Attribute) ([]*pkcs11.Attribute, []*pkcs11.Attribute) {
	pub = append([]*pkcs11.Attribute{attr(pkcs11.CKA_TOKEN, true), attr(pkcs11.CKA_LABEL, label),
		attr(pkcs11.CKA_VERIFY, true)}, pub...)
	priv = append([]*pkcs11.Attribute{attr(pkcs11.CKA_TOKEN, true), attr(pkcs11.CKA_LABEL, label),
		attr(pkcs11.CKA_PRIVATE, true), attr(pkcs11.CKA_SENSITIVE, true)}, priv...)
	return pub, priv
}

func (m *module) genPair(label string, mech uint, pub, priv []*pkcs11.Attribute) keyPair {
	pub, priv = pairTemplates(label, pub, priv)
	if err := m.has(mech); err != nil {
		return keyPair{err: err}
	}
	p, q, err := m.ctx.GenerateKeyPair(m.sess, []*pkcs11.Mechanism{pkcs11.NewMechanism(mech, nil)}, pub, priv)
	if err != nil {
		return keyPair{err: fmt.Errorf("C_GenerateKeyPair %s: %w", label, err)}
	}
	return keyPair{pub: p, priv: q}
}

func (m *module) genKey(name string) keyPair {
	sign := attr(pkcs11.CKA_SIGN, true)
	switch name {
	case "rsa2048", "rsa3072":
		bits, _ := strconv.Atoi(name[3:])
		return m.genPair(name, pkcs11.CKM_RSA_PKCS_KEY_PAIR_GEN, []*pkcs11.Attribute{
			attr(pkcs11.CKA_MODULUS_BITS, bits), attr(pkcs11.CKA_PUBLIC_EXPONENT, []byte{1, 0, 1})},
			[]*pkcs11.Attribute{sign})
	case "p256", "p384":
		oid := oidP256
		if name == "p384" {
			oid = oidP384
		}
		return m.genPair(name, pkcs11.CKM_EC_KEY_PAIR_GEN, []*pkcs11.Attribute{attr(pkcs11.CKA_EC_PARAMS, oid)},
			[]*pkcs11.Attribute{sign, attr(pkcs11.CKA_DERIVE, true)})
	case tlsKeyLabel: // the TLS rows' server key, with a CKA_ID as pkcs11-tool and OpenSSL users give one
		id := attr(pkcs11.CKA_ID, []byte("kwbench-tls"))
		return m.genPair(name, pkcs11.CKM_EC_KEY_PAIR_GEN, []*pkcs11.Attribute{attr(pkcs11.CKA_EC_PARAMS, oidP256), id},
			[]*pkcs11.Attribute{sign, id})
	case "ed25519":
		return m.genPair(name, ckmECEdwardsKeyGen, []*pkcs11.Attribute{attr(pkcs11.CKA_EC_PARAMS, oidEd25519)},
			[]*pkcs11.Attribute{sign})
	case "x25519":
		kp := m.genPair(name, ckmECMontgomeryKeyGen, []*pkcs11.Attribute{attr(pkcs11.CKA_EC_PARAMS, oidX25519)},
			[]*pkcs11.Attribute{attr(pkcs11.CKA_DERIVE, true)})
		return kp
	case "mldsa65":
		return m.genPair(name, ckmMLDSAKeyGen, []*pkcs11.Attribute{attr(ckaParameterSet, ckpMLDSA65)},
			[]*pkcs11.Attribute{sign})
	case "aes256", "hmac":
		mech, kt := uint(pkcs11.CKM_AES_KEY_GEN), uint(pkcs11.CKK_AES)
		use := []*pkcs11.Attribute{attr(pkcs11.CKA_ENCRYPT, true), attr(pkcs11.CKA_DECRYPT, true)}
		if name == "hmac" {
			mech, kt = pkcs11.CKM_GENERIC_SECRET_KEY_GEN, pkcs11.CKK_GENERIC_SECRET
			use = []*pkcs11.Attribute{sign, attr(pkcs11.CKA_VERIFY, true)}
		}
		if err := m.has(mech); err != nil {
			return keyPair{err: err}
		}
		tmpl := append([]*pkcs11.Attribute{attr(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY), attr(pkcs11.CKA_KEY_TYPE, kt),
			attr(pkcs11.CKA_TOKEN, true), attr(pkcs11.CKA_PRIVATE, true), attr(pkcs11.CKA_SENSITIVE, true),
			attr(pkcs11.CKA_LABEL, name), attr(pkcs11.CKA_VALUE_LEN, 32)}, use...)
		h, err := m.ctx.GenerateKey(m.sess, []*pkcs11.Mechanism{pkcs11.NewMechanism(mech, nil)}, tmpl)
		if err != nil {
			return keyPair{err: fmt.Errorf("C_GenerateKey %s: %w", name, err)}
		}
		return keyPair{priv: h}
	}
	return keyPair{err: errors.New("unknown key " + name)}
}

// ---- Go keys for the limits, made once ----

var goKeys = struct {
	sync.Mutex
	rsa   map[int]*rsa.PrivateKey
	ec    map[string]*ecdsa.PrivateKey
	ed    ed25519.PrivateKey
	mldsa *mldsa65.PrivateKey
}{rsa: map[int]*rsa.PrivateKey{}, ec: map[string]*ecdsa.PrivateKey{}}

func goRSA(bits int) *rsa.PrivateKey {
	goKeys.Lock()
	defer goKeys.Unlock()
	if k := goKeys.rsa[bits]; k != nil {
		return k
	}
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		panic(err)
	}
	k.Precompute()
	goKeys.rsa[bits] = k
	return k
}

func goEC(curve elliptic.Curve) *ecdsa.PrivateKey {
	goKeys.Lock()
	defer goKeys.Unlock()
	name := curve.Params().Name
	if k := goKeys.ec[name]; k != nil {
		return k
	}
	k, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		panic(err)
	}
	goKeys.ec[name] = k
	return k
}

func simple(f func() error) (op, error) { return op{run: f}, nil }

// ---- workload builders ----

func msg(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func signWL(name, key string, mech uint, mk func() *mech, data []byte, sigLen int, threads int) *workload {
	return &workload{name: name, unit: uOps, threads: threads, mechs: []uint{mech},
		mk: func(m *module, s pkcs11.SessionHandle) (op, error) {
			k, err := m.key(key)
			if err != nil {
				return op{}, err
			}
			mm := mk()
			out := make([]byte, sigLen)
			return simple(func() error { _, err := m.f.sign(s, mm, k.priv, data, out); return err })
		}}
}

func verifyWL(name, key string, mech uint, mk func() *mech, data []byte, sigLen int) *workload {
	return &workload{name: name, unit: uOps, mechs: []uint{mech},
		mk: func(m *module, s pkcs11.SessionHandle) (op, error) {
			k, err := m.key(key)
			if err != nil {
				return op{}, err
			}
			mm := mk()
			sig := make([]byte, sigLen)
			n, err := m.f.sign(s, mm, k.priv, data, sig)
			if err != nil {
				return op{}, fmt.Errorf("sign for verify: %w", err)
			}
			sig = sig[:n]
			return simple(func() error { return m.f.verify(s, mm, k.pub, data, sig) })
		}}
}

func plainMech(t uint) func() *mech { return func() *mech { return newMech(t, nil) } }

func pssMech() *mech {
	return newPSSMech(pkcs11.CKM_SHA256_RSA_PKCS_PSS, pkcs11.CKM_SHA256, pkcs11.CKG_MGF1_SHA256, 32)
}

func rsaSignLimit(bits int, pss bool, data []byte) func() (op, error) {
	return func() (op, error) {
		k := goRSA(bits)
		return simple(func() error {
			h := sha256.Sum256(data)
			var err error
			if pss {
				_, err = rsa.SignPSS(rand.Reader, k, crypto.SHA256, h[:], &rsa.PSSOptions{SaltLength: 32})
			} else {
				_, err = rsa.SignPKCS1v15(nil, k, crypto.SHA256, h[:])
			}
			return err
		})
	}
}

func ecdsaSignLimit(curve elliptic.Curve, hashFirst bool, data []byte) func() (op, error) {
	return func() (op, error) {
		k := goEC(curve)
		return simple(func() error {
			d := data
			if hashFirst {
				h := sha256.Sum256(data)
				d = h[:]
			}
			_, err := ecdsa.SignASN1(rand.Reader, k, d)
			return err
		})
	}
}

func deriveWL(name, key string, peerPub func() []byte, keyType string) *workload {
	return &workload{name: name, unit: uOps, mechs: []uint{pkcs11.CKM_ECDH1_DERIVE},
		mk: func(m *module, s pkcs11.SessionHandle) (op, error) {
			k, err := m.key(key)
			if err != nil {
				return op{}, err
			}
			tmpl := []*pkcs11.Attribute{attr(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
				attr(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_GENERIC_SECRET), attr(pkcs11.CKA_VALUE_LEN, 32),
				attr(pkcs11.CKA_TOKEN, false), attr(pkcs11.CKA_SENSITIVE, true), attr(pkcs11.CKA_EXTRACTABLE, false)}
			pub := peerPub()
			var last pkcs11.ObjectHandle
			derive := func(p []byte) error {
				mm := []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_ECDH1_DERIVE,
					pkcs11.NewECDH1DeriveParams(pkcs11.CKD_NULL, nil, p))}
				h, err := m.ctx.DeriveKey(s, mm, k.priv, tmpl)
				last = h
				return err
			}
			// The point raw (PKCS#11 3.0) or DER OCTET STRING (older modules): whichever the module takes.
			if err := derive(pub); err != nil {
				der := append([]byte{0x04, byte(len(pub))}, pub...)
				if err2 := derive(der); err2 != nil {
					return op{}, fmt.Errorf("C_DeriveKey: %w", err)
				}
				pub = der
			}
			m.ctx.DestroyObject(s, last)
			return op{run: func() error { return derive(pub) }, flush: func() { m.ctx.DestroyObject(s, last) }}, nil
		}}
}

func ed25519Limit(data []byte) func() (op, error) {
	return func() (op, error) {
		_, k, _ := ed25519.GenerateKey(rand.Reader)
		return simple(func() error { ed25519.Sign(k, data); return nil })
	}
}

func hmacLimit() (op, error) {
	key, in := msg(32), msg(1024)
	return simple(func() error { h := hmac.New(sha256.New, key); h.Write(in); h.Sum(nil); return nil })
}

func randLimit() (op, error) {
	out := make([]byte, 32)
	return simple(func() error { _, err := rand.Read(out); return err })
}

func ecdhLimit(curve ecdh.Curve) func() (op, error) {
	return func() (op, error) {
		a, _ := curve.GenerateKey(rand.Reader)
		b, _ := curve.GenerateKey(rand.Reader)
		pub := b.PublicKey()
		return simple(func() error { _, err := a.ECDH(pub); return err })
	}
}

func encryptWL(name string, mechType uint, size int) *workload {
	return &workload{name: name, unit: uMBs, bytes: size, mechs: []uint{mechType},
		mk: func(m *module, s pkcs11.SessionHandle) (op, error) {
			k, err := m.key("aes256")
			if err != nil {
				return op{}, err
			}
			in := msg(size)
			out := make([]byte, size+32)
			var mm *mech
			if mechType == pkcs11.CKM_AES_GCM {
				mm = newGCMMech()
			} else {
				mm = newMech(mechType, msg(16))
			}
			var ctr uint64
			return simple(func() error {
				if mm.iv != nil {
					ctr++
					mm.nextIV(ctr)
				}
				_, err := m.f.encrypt(s, mm, k.priv, in, out)
				return err
			})
		},
		limit: func() (op, error) {
			key, in, out := msg(32), msg(size), make([]byte, size+32)
			iv := msg(16)
			return simple(func() error {
				blk, err := aes.NewCipher(key)
				if err != nil {
					return err
				}
				if mechType == pkcs11.CKM_AES_GCM {
					g, err := cipher.NewGCM(blk)
					if err != nil {
						return err
					}
					g.Seal(out[:0], iv[:12], in, nil)
					return nil
				}
				pad := 16 - size%16
				n := copy(out, in)
				for i := 0; i < pad; i++ {
					out[n+i] = byte(pad)
				}
				cipher.NewCBCEncrypter(blk, iv).CryptBlocks(out[:n+pad], out[:n+pad])
				return nil
			})
		}}
}

func keygenWL(name string, mech uint, pub, priv func() []*pkcs11.Attribute, limit func() error) *workload {
	return &workload{name: name, unit: uOps, mechs: []uint{mech},
		mk: func(m *module, s pkcs11.SessionHandle) (op, error) {
			var a, b pkcs11.ObjectHandle
			pubT := append([]*pkcs11.Attribute{attr(pkcs11.CKA_TOKEN, false), attr(pkcs11.CKA_VERIFY, true)}, pub()...)
			privT := append([]*pkcs11.Attribute{attr(pkcs11.CKA_TOKEN, false), attr(pkcs11.CKA_PRIVATE, true),
				attr(pkcs11.CKA_SENSITIVE, true), attr(pkcs11.CKA_SIGN, true)}, priv()...)
			mm := []*pkcs11.Mechanism{pkcs11.NewMechanism(mech, nil)}
			return op{
				run: func() (err error) { a, b, err = m.ctx.GenerateKeyPair(s, mm, pubT, privT); return err },
				flush: func() {
					m.ctx.DestroyObject(s, a)
					m.ctx.DestroyObject(s, b)
				}}, nil
		},
		limit: func() (op, error) { return simple(limit) }}
}

// workloads returns the timed workloads, in the table's order. The object, login, load and RSS measurements are
// run by runAll around them.
func (b *bench) workloads() (before, after []*workload) {
	d32, d64 := msg(32), msg(64)
	p256 := func() []byte {
		k, _ := ecdh.P256().GenerateKey(rand.Reader)
		return k.PublicKey().Bytes()
	}
	x25519 := func() []byte {
		k, _ := ecdh.X25519().GenerateKey(rand.Reader)
		return k.PublicKey().Bytes()
	}
	rsaSig, pss := plainMech(pkcs11.CKM_SHA256_RSA_PKCS), pssMech
	lim := func(w *workload, what string, f func() (op, error)) *workload {
		w.limitWhat = what
		if f != nil {
			w.limit = f
		}
		return w
	}
	shared := func(w *workload, id string) *workload { w.limitID = id; return w }

	before = []*workload{
		lim(signWL("rsa2048 sign pkcs1 sha256", "rsa2048", pkcs11.CKM_SHA256_RSA_PKCS, rsaSig, d64, 256, 0),
			"rsa.SignPKCS1v15", rsaSignLimit(2048, false, d64)),
		lim(lenqSignWL(rowLenqRSA, "rsa2048", pkcs11.CKM_SHA256_RSA_PKCS, d64, 256, 0),
			"rsa.SignPKCS1v15", rsaSignLimit(2048, false, d64)),
		lim(signWL("rsa2048 sign pss sha256", "rsa2048", pkcs11.CKM_SHA256_RSA_PKCS_PSS, pss, d64, 256, 0),
			"rsa.SignPSS", rsaSignLimit(2048, true, d64)),
		lim(verifyWL("rsa2048 verify pkcs1 sha256", "rsa2048", pkcs11.CKM_SHA256_RSA_PKCS, rsaSig, d64, 256),
			"rsa.VerifyPKCS1v15", func() (op, error) {
				k := goRSA(2048)
				h := sha256.Sum256(d64)
				sig, _ := rsa.SignPKCS1v15(nil, k, crypto.SHA256, h[:])
				return simple(func() error {
					h := sha256.Sum256(d64)
					return rsa.VerifyPKCS1v15(&k.PublicKey, crypto.SHA256, h[:], sig)
				})
			}),
		lim(signWL("rsa3072 sign pkcs1 sha256", "rsa3072", pkcs11.CKM_SHA256_RSA_PKCS, rsaSig, d64, 384, 0),
			"rsa.SignPKCS1v15", rsaSignLimit(3072, false, d64)),
		lim(signWL("ecdsa p256 sign (raw)", "p256", pkcs11.CKM_ECDSA, plainMech(pkcs11.CKM_ECDSA), d32, 64, 0),
			"ecdsa.SignASN1", ecdsaSignLimit(elliptic.P256(), false, d32)),
		lim(lenqSignWL(rowLenqECDSA, "p256", pkcs11.CKM_ECDSA, d32, 64, 0),
			"ecdsa.SignASN1", ecdsaSignLimit(elliptic.P256(), false, d32)),
		lim(signWL("ecdsa p256 sign sha256", "p256", ckmECDSASHA256, plainMech(ckmECDSASHA256), d64, 64, 0),
			"sha256+ecdsa.SignASN1", ecdsaSignLimit(elliptic.P256(), true, d64)),
		lim(verifyWL("ecdsa p256 verify (raw)", "p256", pkcs11.CKM_ECDSA, plainMech(pkcs11.CKM_ECDSA), d32, 64),
			"ecdsa.VerifyASN1", func() (op, error) {
				k := goEC(elliptic.P256())
				sig, _ := ecdsa.SignASN1(rand.Reader, k, d32)
				return simple(func() error {
					if !ecdsa.VerifyASN1(&k.PublicKey, d32, sig) {
						return errors.New("bad signature")
					}
					return nil
				})
			}),
		lim(signWL("ecdsa p384 sign (raw)", "p384", pkcs11.CKM_ECDSA, plainMech(pkcs11.CKM_ECDSA), msg(48), 96, 0),
			"ecdsa.SignASN1", ecdsaSignLimit(elliptic.P384(), false, msg(48))),
		lim(signWL("ed25519 sign", "ed25519", ckmEdDSA, plainMech(ckmEdDSA), d64, 64, 0),
			"ed25519.Sign", ed25519Limit(d64)),
		lim(lenqSignWL(rowLenqEd25519, "ed25519", ckmEdDSA, d64, 64, 0), "ed25519.Sign", ed25519Limit(d64)),
		lim(deriveWL("ecdh p256 derive", "p256", p256, "ec"), "ecdh.P256 ECDH", ecdhLimit(ecdh.P256())),
		lim(deriveWL("x25519 derive", "x25519", x25519, "x"), "ecdh.X25519 ECDH", ecdhLimit(ecdh.X25519())),
		lim(encryptWL("aes256-gcm encrypt 1KiB", pkcs11.CKM_AES_GCM, 1024), "crypto/cipher GCM Seal", nil),
		lim(lenqGCMWL(rowLenqGCM, 1024), "crypto/cipher GCM Seal", encryptWL("", pkcs11.CKM_AES_GCM, 1024).limit),
		lim(encryptWL("aes256-gcm encrypt 1MiB", pkcs11.CKM_AES_GCM, 1<<20), "crypto/cipher GCM Seal", nil),
		lim(encryptWL("aes256-cbc-pad encrypt 1KiB", pkcs11.CKM_AES_CBC_PAD, 1024), "crypto/cipher CBC+pad", nil),
		lim(encryptWL("aes256-cbc-pad encrypt 1MiB", pkcs11.CKM_AES_CBC_PAD, 1<<20), "crypto/cipher CBC+pad", nil),
		lim(&workload{name: "hmac-sha256 1KiB", unit: uOps, mechs: []uint{pkcs11.CKM_SHA256_HMAC},
			mk: func(m *module, s pkcs11.SessionHandle) (op, error) {
				k, err := m.key("hmac")
				if err != nil {
					return op{}, err
				}
				mm, in, out := newMech(pkcs11.CKM_SHA256_HMAC, nil), msg(1024), make([]byte, 32)
				return simple(func() error { _, err := m.f.sign(s, mm, k.priv, in, out); return err })
			}}, "crypto/hmac", hmacLimit),
		lim(lenqSignWL(rowLenqHMAC, "hmac", pkcs11.CKM_SHA256_HMAC, msg(1024), 32, 0), "crypto/hmac", hmacLimit),
		lim(&workload{name: "sha256 1MiB", unit: uMBs, bytes: 1 << 20, mechs: []uint{pkcs11.CKM_SHA256},
			mk: func(m *module, s pkcs11.SessionHandle) (op, error) {
				mm, in, out := newMech(pkcs11.CKM_SHA256, nil), msg(1<<20), make([]byte, 32)
				return simple(func() error { _, err := m.f.digest(s, mm, in, out); return err })
			}}, "sha256.Sum256", func() (op, error) {
			in := msg(1 << 20)
			return simple(func() error { sha256.Sum256(in); return nil })
		}),
		lim(keygenWL("keygen ec p256 (session key)", pkcs11.CKM_EC_KEY_PAIR_GEN,
			func() []*pkcs11.Attribute { return []*pkcs11.Attribute{attr(pkcs11.CKA_EC_PARAMS, oidP256)} },
			func() []*pkcs11.Attribute { return nil },
			func() error { _, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader); return err }), "ecdsa.GenerateKey", nil),
		lim(keygenWL("keygen rsa2048 (session key)", pkcs11.CKM_RSA_PKCS_KEY_PAIR_GEN,
			func() []*pkcs11.Attribute {
				return []*pkcs11.Attribute{attr(pkcs11.CKA_MODULUS_BITS, 2048), attr(pkcs11.CKA_PUBLIC_EXPONENT, []byte{1, 0, 1})}
			},
			func() []*pkcs11.Attribute { return nil },
			func() error { _, err := rsa.GenerateKey(rand.Reader, 2048); return err }), "rsa.GenerateKey", nil),
		lim(&workload{name: "C_GenerateRandom 32B", unit: uOps,
			mk: func(m *module, s pkcs11.SessionHandle) (op, error) {
				out := make([]byte, 32)
				return simple(func() error { return m.f.random(s, out) })
			}}, "crypto/rand.Read", randLimit),
		lim(miekgRandomWL(rowMiekgRandom, 32), "crypto/rand.Read", randLimit),
		{name: "session open+close", unit: uOps,
			mk: func(m *module, s pkcs11.SessionHandle) (op, error) {
				return simple(func() error { return m.f.openClose(m.slot) })
			}},
		{name: "C_GetSessionInfo (round trip)", unit: uUS,
			mk: func(m *module, s pkcs11.SessionHandle) (op, error) {
				return simple(func() error { return m.f.sessionInfo(s) })
			}, limit: pingPongLimit, limitWhat: "64-byte socketpair ping-pong with a child process"},
	}
	after = []*workload{{name: "C_Login (user PIN)", unit: uMS,
		mk: func(m *module, s pkcs11.SessionHandle) (op, error) {
			if err := m.ctx.Logout(s); err != nil {
				return op{}, fmt.Errorf("C_Logout: %w", err)
			}
			return op{run: func() error { return m.ctx.Login(s, pkcs11.CKU_USER, m.pin) },
				flush: func() { m.ctx.Logout(s) }}, nil
		},
		after: func(m *module) {
			m.ctx.Login(m.sess, pkcs11.CKU_USER, m.pin)
			m.refindKeys() // SoftHSMv2 invalidates private object handles at C_Logout
		}}}
	for _, t := range b.cfg.threads {
		w := shared(lim(signWL(fmt.Sprintf("ecdsa p256 sign, %d thread(s)", t), "p256", pkcs11.CKM_ECDSA,
			plainMech(pkcs11.CKM_ECDSA), d32, 64, t), "ecdsa.SignASN1", ecdsaSignLimit(elliptic.P256(), false, d32)), "ecdsa")
		after = append(after, w)
	}
	after = append(after, lim(lenqSignWL(rowLenqECDSA2, "p256", pkcs11.CKM_ECDSA, d32, 64, 2),
		"ecdsa.SignASN1", ecdsaSignLimit(elliptic.P256(), false, d32)))
	for _, t := range b.cfg.threads {
		w := shared(lim(signWL(fmt.Sprintf("rsa2048 sign pkcs1, %d thread(s)", t), "rsa2048", pkcs11.CKM_SHA256_RSA_PKCS,
			rsaSig, d64, 256, t), "rsa.SignPKCS1v15", rsaSignLimit(2048, false, d64)), "rsa")
		after = append(after, w)
	}
	after = append(after, lim(signWL("ml-dsa-65 sign", "mldsa65", ckmMLDSA, plainMech(ckmMLDSA), d64, mldsa65.SignatureSize, 0),
		"circl mldsa65.SignTo", func() (op, error) {
			_, sk, err := mldsa65.GenerateKey(rand.Reader)
			if err != nil {
				return op{}, err
			}
			sig := make([]byte, mldsa65.SignatureSize)
			return simple(func() error { return mldsa65.SignTo(sk, d64, nil, true, sig) })
		}))
	return before, after
}

// refindKeys looks the generated keys up again by label and class.
func (m *module) refindKeys() {
	m.mu.Lock()
	defer m.mu.Unlock()
	find := func(label string, class uint) pkcs11.ObjectHandle {
		if err := m.ctx.FindObjectsInit(m.sess, []*pkcs11.Attribute{attr(pkcs11.CKA_LABEL, label),
			attr(pkcs11.CKA_CLASS, class)}); err != nil {
			return 0
		}
		defer m.ctx.FindObjectsFinal(m.sess)
		h, _, err := m.ctx.FindObjects(m.sess, 1)
		if err != nil || len(h) == 0 {
			return 0
		}
		return h[0]
	}
	for name, k := range m.keys {
		if k.err != nil {
			continue
		}
		if k.pub != 0 {
			k.pub = find(name, pkcs11.CKO_PUBLIC_KEY)
			k.priv = find(name, pkcs11.CKO_PRIVATE_KEY)
		} else {
			k.priv = find(name, pkcs11.CKO_SECRET_KEY)
		}
		m.keys[name] = k
	}
}
