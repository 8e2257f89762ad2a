//go:build seal_pkcs11

package seal

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/miekg/pkcs11"
)

// The pkcs11 backend (build tag seal_pkcs11, cgo): the root key encrypted with AES-256-GCM by a
// non-extractable AES key inside another PKCS#11 module: OP-TEE's libckteec (the key then lives in the TEE,
// bound to the SoC's hardware unique key), a secure element's middleware, or tpm2-pkcs11. The wrapping key is
// found by token and key label, and generated inside the module (CKA_SENSITIVE, not CKA_EXTRACTABLE) on the
// first seal if it does not exist. The 12-byte IV is random; the associated data names the purpose, so the
// GCM tag fails for any other ciphertext or key.

const (
	pkcs11PayloadVersion = 1
	pkcs11AAD            = "keyward root key v1"
	gcmIVSize            = 12
)

type pkcs11Backend struct{ opts PKCS11Options }

func newPKCS11(o PKCS11Options) (backend, error) {
	if o.Module == "" || o.Token == "" || o.Key == "" {
		return nil, sealErr(ErrConfig, nil, "pkcs11: module, token and key must be set", "set pkcs11.module, pkcs11.token and pkcs11.key in keywardd.yaml")
	}
	return &pkcs11Backend{opts: o}, nil
}

// pkcs11Session is an open, logged-in session on the token and the wrapping key's handle.
type pkcs11Session struct {
	ctx *pkcs11.Ctx
	sh  pkcs11.SessionHandle
	key pkcs11.ObjectHandle
}

func (s *pkcs11Session) close() {
	s.ctx.Logout(s.sh)
	s.ctx.CloseSession(s.sh)
	s.ctx.Finalize()
	s.ctx.Destroy()
}

func (b *pkcs11Backend) open(create bool) (*pkcs11Session, error) {
	mod := b.opts.Module
	if _, err := os.Stat(mod); err != nil {
		return nil, sealErr(ErrNoDevice, err, fmt.Sprintf("pkcs11: no module %s", mod), "install the module (OP-TEE: libckteec; a secure element's middleware) or fix pkcs11.module")
	}
	ctx := pkcs11.New(mod)
	if ctx == nil {
		return nil, sealErr(ErrNoDevice, nil, fmt.Sprintf("pkcs11: %s is not a loadable PKCS#11 module (dlopen or C_GetFunctionList failed)", mod), "fix pkcs11.module")
	}
	if err := ctx.Initialize(); err != nil && !errors.Is(err, pkcs11.Error(pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED)) {
		ctx.Destroy()
		return nil, sealErr(ErrNoDevice, err, fmt.Sprintf("pkcs11: %s fails C_Initialize", mod), "is its device there (OP-TEE: tee-supplicant running, /dev/tee0 reachable)?")
	}
	fail := func(e error) (*pkcs11Session, error) {
		ctx.Finalize()
		ctx.Destroy()
		return nil, e
	}
	slots, err := ctx.GetSlotList(true)
	if err != nil {
		return fail(sealErr(ErrNoDevice, err, "pkcs11: C_GetSlotList", "check the module"))
	}
	slot, found := uint(0), false
	for _, s := range slots {
		if ti, err := ctx.GetTokenInfo(s); err == nil && strings.TrimRight(ti.Label, " \x00") == b.opts.Token {
			slot, found = s, true
			break
		}
	}
	if !found {
		return fail(sealErr(ErrNoDevice, nil, fmt.Sprintf("pkcs11: no token labelled %q in %s", b.opts.Token, mod), "initialise it, or fix pkcs11.token"))
	}
	sh, err := ctx.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		return fail(sealErr(ErrBusy, err, "pkcs11: C_OpenSession", "retry"))
	}
	s := &pkcs11Session{ctx: ctx, sh: sh}
	if b.opts.PINFile != "" {
		if fi, err := os.Stat(b.opts.PINFile); err == nil && fi.Mode().Perm()&0o077 != 0 {
			s.close()
			return nil, sealErr(ErrConfig, nil, fmt.Sprintf("pkcs11: the PIN file %s has mode %#o: others may read it", b.opts.PINFile, fi.Mode().Perm()), "chmod 600 it")
		}
		pin, err := os.ReadFile(b.opts.PINFile)
		if err != nil {
			s.close()
			return nil, sealErr(ErrConfig, err, "pkcs11: cannot read the token PIN file", "fix pkcs11.pin_file")
		}
		pin = bytes.TrimRight(pin, "\r\n")
		err = ctx.Login(sh, pkcs11.CKU_USER, string(pin))
		clear(pin)
		if err != nil && !errors.Is(err, pkcs11.Error(pkcs11.CKR_USER_ALREADY_LOGGED_IN)) {
			s.close()
			kind := ErrConfig
			if errors.Is(err, pkcs11.Error(pkcs11.CKR_PIN_LOCKED)) {
				kind = ErrLockout
			}
			return nil, sealErr(kind, err, fmt.Sprintf("pkcs11: login to token %q refused", b.opts.Token), "check pkcs11.pin_file")
		}
	}
	tmpl := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_SECRET_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_AES),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, b.opts.Key),
	}
	if err := ctx.FindObjectsInit(sh, tmpl); err != nil {
		s.close()
		return nil, sealErr(ErrNoDevice, err, "pkcs11: C_FindObjectsInit", "check the module")
	}
	objs, _, err := ctx.FindObjects(sh, 2)
	ctx.FindObjectsFinal(sh)
	switch {
	case err != nil:
		s.close()
		return nil, sealErr(ErrNoDevice, err, "pkcs11: C_FindObjects", "check the module")
	case len(objs) > 1:
		s.close()
		return nil, sealErr(ErrConfig, nil, fmt.Sprintf("pkcs11: more than one AES key labelled %q", b.opts.Key), "give the wrapping key a unique label")
	case len(objs) == 1:
		s.key = objs[0]
		return s, nil
	case !create:
		s.close()
		return nil, sealErr(ErrOtherDevice, nil, fmt.Sprintf("pkcs11: token %q has no AES key labelled %q: the root key was sealed by another token or the key was deleted", b.opts.Token, b.opts.Key),
			"restore the token, or re-provision")
	}
	gen := append(tmpl,
		pkcs11.NewAttribute(pkcs11.CKA_VALUE_LEN, 32),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false),
		pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, true),
		pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, true),
	)
	k, err := ctx.GenerateKey(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_KEY_GEN, nil)}, gen)
	if err != nil {
		s.close()
		return nil, sealErr(ErrConfig, err, fmt.Sprintf("pkcs11: cannot generate the wrapping key %q", b.opts.Key), "create a non-extractable AES-256 key with that label on the token")
	}
	s.key = k
	return s, nil
}

func (b *pkcs11Backend) seal(key []byte) ([]byte, error) {
	s, err := b.open(true)
	if err != nil {
		return nil, err
	}
	defer s.close()
	iv := make([]byte, gcmIVSize)
	if _, err := rand.Read(iv); err != nil {
		return nil, fmt.Errorf("seal: random: %w", err)
	}
	params := pkcs11.NewGCMParams(iv, []byte(pkcs11AAD), 128)
	defer params.Free()
	if err := s.ctx.EncryptInit(s.sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_GCM, params)}, s.key); err != nil {
		return nil, sealErr(ErrConfig, err, "pkcs11: C_EncryptInit(CKM_AES_GCM)", "the module must support AES-GCM with the wrapping key")
	}
	ct, err := s.ctx.Encrypt(s.sh, key)
	if err != nil {
		return nil, sealErr(ErrConfig, err, "pkcs11: C_Encrypt(CKM_AES_GCM)", "check the module")
	}
	return pkcs11Payload{token: b.opts.Token, key: b.opts.Key, iv: iv, ct: ct}.encode(), nil
}

// pkcs11Payload is the pkcs11 backend's part of the sealed blob: version, then the token label, the key
// label, the IV and the ciphertext (with its tag), each with a 2-byte length.
type pkcs11Payload struct {
	token, key string
	iv, ct     []byte
}

func (p pkcs11Payload) encode() []byte {
	return appendFields(pkcs11PayloadVersion, []byte(p.token), []byte(p.key), p.iv, p.ct)
}

func decodePKCS11Payload(data []byte) (*pkcs11Payload, error) {
	bad := sealErr(ErrCorrupt, nil, "the sealed root key's PKCS#11 part is malformed", "restore root.seal from a backup")
	f, ok := splitFields(data, pkcs11PayloadVersion, 4)
	if !ok || len(f[2]) != gcmIVSize {
		return nil, bad
	}
	return &pkcs11Payload{token: string(f[0]), key: string(f[1]), iv: f[2], ct: f[3]}, nil
}

func (b *pkcs11Backend) unseal(payload []byte) ([]byte, error) {
	p, err := decodePKCS11Payload(payload)
	if err != nil {
		return nil, err
	}
	if p.token != b.opts.Token || p.key != b.opts.Key {
		return nil, sealErr(ErrConfig, nil, fmt.Sprintf("pkcs11: the root key is sealed with key %q on token %q, but pkcs11.token/key say %q/%q", p.key, p.token, b.opts.Key, b.opts.Token),
			"fix pkcs11.token and pkcs11.key")
	}
	iv, ct := p.iv, p.ct
	s, err := b.open(false)
	if err != nil {
		return nil, err
	}
	defer s.close()
	params := pkcs11.NewGCMParams(iv, []byte(pkcs11AAD), 128)
	defer params.Free()
	if err := s.ctx.DecryptInit(s.sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_AES_GCM, params)}, s.key); err != nil {
		return nil, sealErr(ErrConfig, err, "pkcs11: C_DecryptInit(CKM_AES_GCM)", "check the module")
	}
	key, err := s.ctx.Decrypt(s.sh, ct)
	if err != nil {
		return nil, sealErr(ErrCorrupt, err, "pkcs11: the module's key does not decrypt the sealed root key: the blob is damaged or was sealed by another token's key",
			"restore root.seal from a backup of this device")
	}
	return key, nil
}

func (b *pkcs11Backend) describe(payload []byte) string {
	p, err := decodePKCS11Payload(payload)
	if err != nil {
		return "PKCS#11 (malformed)"
	}
	return fmt.Sprintf("PKCS#11 module %s, token %q, AES-256-GCM key %q", b.opts.Module, p.token, p.key)
}

func (b *pkcs11Backend) sameSeal(payload []byte) bool {
	p, err := decodePKCS11Payload(payload)
	return err == nil && p.token == b.opts.Token && p.key == b.opts.Key
}
