package main

// The length-query call pattern: the timed calls go through github.com/miekg/pkcs11, the binding crypto11 and
// many Go programs use, which sizes every output by asking first: C_SignInit, C_Sign(NULL) for the length, then
// C_Sign with a buffer of that length (C_Encrypt alike). PyKCS11 and Rust's cryptoki make the same calls. The
// pre-sized rows (direct.go) call C_xxxInit + one C_xxx with a buffer large enough; these rows sit beside them.

import (
	"encoding/binary"
	"fmt"

	"github.com/miekg/pkcs11"
)

// lenqSuffix ends the name of every length-query row.
const lenqSuffix = ", length query"

// Names of the rows the targets (targets.go) name.
const (
	rowLenqECDSA   = "ecdsa p256 sign (raw)" + lenqSuffix
	rowLenqECDSA2  = "ecdsa p256 sign (raw)" + lenqSuffix + ", 2 thread(s)"
	rowLenqEd25519 = "ed25519 sign" + lenqSuffix
	rowLenqHMAC    = "hmac-sha256 1KiB" + lenqSuffix
	rowLenqGCM     = "aes256-gcm encrypt 1KiB" + lenqSuffix
	rowLenqRSA     = "rsa2048 sign pkcs1 sha256" + lenqSuffix
	rowMiekgRandom = "C_GenerateRandom 32B via miekg/pkcs11"
)

// lenqSignWL signs data with the module's key through miekg/pkcs11: C_SignInit, then Ctx.Sign, which is
// C_Sign(NULL) for the length and C_Sign(buf). The signature's length is checked, so a module that answers the
// length query with a wrong length fails the row.
func lenqSignWL(name, key string, mech uint, data []byte, sigLen, threads int) *workload {
	return &workload{name: name, unit: uOps, threads: threads, mechs: []uint{mech},
		mk: func(m *module, s pkcs11.SessionHandle) (op, error) {
			k, err := m.key(key)
			if err != nil {
				return op{}, err
			}
			mm := []*pkcs11.Mechanism{pkcs11.NewMechanism(mech, nil)}
			return simple(func() error {
				if err := m.ctx.SignInit(s, mm, k.priv); err != nil {
					return fmt.Errorf("C_SignInit: %w", err)
				}
				sig, err := m.ctx.Sign(s, data)
				if err != nil {
					return fmt.Errorf("C_Sign: %w", err)
				}
				if sigLen > 0 && len(sig) != sigLen {
					return fmt.Errorf("C_Sign: %d-byte signature, want %d", len(sig), sigLen)
				}
				return nil
			})
		}}
}

// lenqGCMWL encrypts size bytes with AES-256-GCM the way crypto11's Seal does: fresh GCM parameters (a unique
// 12-byte IV, a 128-bit tag) per message, C_EncryptInit, then Ctx.Encrypt (C_Encrypt(NULL), C_Encrypt(buf)).
func lenqGCMWL(name string, size int) *workload {
	return &workload{name: name, unit: uMBs, bytes: size, mechs: []uint{pkcs11.CKM_AES_GCM},
		mk: func(m *module, s pkcs11.SessionHandle) (op, error) {
			k, err := m.key("aes256")
			if err != nil {
				return op{}, err
			}
			in := msg(size)
			iv := make([]byte, 12)
			var ctr uint64
			return simple(func() error {
				ctr++
				binary.BigEndian.PutUint64(iv[4:], ctr)
				params := pkcs11.NewGCMParams(iv, nil, 128)
				defer params.Free()
				mm := []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_GCM, params)}
				if err := m.ctx.EncryptInit(s, mm, k.priv); err != nil {
					return fmt.Errorf("C_EncryptInit: %w", err)
				}
				ct, err := m.ctx.Encrypt(s, in)
				if err != nil {
					return fmt.Errorf("C_Encrypt: %w", err)
				}
				if len(ct) != size+16 {
					return fmt.Errorf("C_Encrypt: %d bytes, want %d", len(ct), size+16)
				}
				return nil
			})
		}}
}

// miekgRandomWL is C_GenerateRandom through miekg/pkcs11 (which has no length query: the caller gives the
// length), so that its cost in the binding shows beside the direct call.
func miekgRandomWL(name string, n int) *workload {
	return &workload{name: name, unit: uOps,
		mk: func(m *module, s pkcs11.SessionHandle) (op, error) {
			return simple(func() error {
				b, err := m.ctx.GenerateRandom(s, n)
				if err == nil && len(b) != n {
					err = fmt.Errorf("%d bytes, want %d", len(b), n)
				}
				return err
			})
		}}
}
