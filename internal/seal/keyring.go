package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// The keyring backend: a Linux kernel trusted key (security/keys/trusted-keys: sealed by the TPM, OP-TEE,
// NXP CAAM or DCP, whichever the kernel's trusted.source chose, behind one interface). The kernel generates
// the trusted key ("new 32") and gives user space only its hardware-sealed blob; keywardd keeps that blob in
// root.seal and on start loads it back ("load BLOB") into its process keyring. The trusted key's value never
// reaches user space: the kernel computes HMAC-SHA-256(trusted key, "keyward root key wrap v1") through AF_ALG
// with the key given by its serial (ALG_SET_KEY_BY_KEY_SERIAL, Linux 6.2+), and that key-encryption key
// AES-256-GCM-encrypts the root key (so an existing root key can be sealed too). The key is then unlinked.

const (
	keyringPayloadVersion = 1
	keyringKDFInfo        = "keyward root key wrap v1"
	defaultTrustedKey     = "keyward-root"
)

// keyringKeyType is the kernel key type; only tests of the derivation change it (to "user", on kernels
// without trusted keys).
var keyringKeyType = "trusted"

type keyringBackend struct{ desc string }

func newKeyring(o KeyringOptions) (backend, error) {
	desc := o.Trusted
	if desc == "" {
		desc = defaultTrustedKey
	}
	return &keyringBackend{desc: desc}, nil
}

// addKey adds a kernel key of keyringKeyType to the process keyring.
func (k *keyringBackend) addKey(payload []byte) (int, error) {
	id, err := unix.AddKey(keyringKeyType, k.desc, payload, unix.KEY_SPEC_PROCESS_KEYRING)
	switch {
	case err == nil:
		return id, nil
	case errors.Is(err, unix.ENODEV):
		return 0, sealErr(ErrUnsupported, err, "keyring: this kernel has no "+keyringKeyType+" keys (CONFIG_TRUSTED_KEYS, and a TPM, TEE, CAAM or DCP source)",
			"use a kernel with trusted keys, or another seal backend")
	case errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return 0, sealErr(ErrNoDevice, err, "keyring: the kernel refuses add_key (keys disabled, or a sandbox filters the call)",
			"allow the keyring system calls (systemd: KeyringMode=, SystemCallFilter=@keyring)")
	case errors.Is(err, unix.EINVAL), errors.Is(err, unix.EBADMSG):
		return 0, sealErr(ErrCorrupt, err, "keyring: the kernel rejects the sealed trusted key: it is damaged, or was sealed by another device",
			"restore root.seal from a backup of this device")
	default:
		return 0, sealErr(ErrNoDevice, err, "keyring: add_key("+keyringKeyType+") failed", "check the trusted key source (dmesg)")
	}
}

// kek derives the key-encryption key from kernel key id inside the kernel (AF_ALG HMAC keyed by serial).
func kek(id int) ([]byte, error) {
	fd, err := unix.Socket(unix.AF_ALG, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, sealErr(ErrUnsupported, err, "keyring: no AF_ALG sockets (CONFIG_CRYPTO_USER_API_HASH)", "use a kernel with AF_ALG, or another seal backend")
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrALG{Type: "hash", Name: "hmac(sha256)"}); err != nil {
		return nil, sealErr(ErrUnsupported, err, "keyring: AF_ALG has no hmac(sha256)", "use a kernel with CONFIG_CRYPTO_HMAC")
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_ALG, unix.ALG_SET_KEY_BY_KEY_SERIAL, id); err != nil {
		return nil, sealErr(ErrUnsupported, err, "keyring: AF_ALG cannot use a kernel key (ALG_SET_KEY_BY_KEY_SERIAL needs Linux 6.2+)", "use a newer kernel, or another seal backend")
	}
	op, _, err := unix.Accept(fd)
	if err != nil {
		return nil, fmt.Errorf("seal: keyring: AF_ALG accept: %w", err)
	}
	defer unix.Close(op)
	if _, err := unix.Write(op, []byte(keyringKDFInfo)); err != nil {
		return nil, fmt.Errorf("seal: keyring: AF_ALG write: %w", err)
	}
	out := make([]byte, 32)
	if n, err := unix.Read(op, out); err != nil || n != 32 {
		return nil, fmt.Errorf("seal: keyring: AF_ALG read: %d bytes, %v", n, err)
	}
	return out, nil
}

func unlinkKey(id int) {
	_, _ = unix.KeyctlInt(unix.KEYCTL_INVALIDATE, id, 0, 0, 0)
	_, _ = unix.KeyctlInt(unix.KEYCTL_UNLINK, id, unix.KEY_SPEC_PROCESS_KEYRING, 0, 0)
}

func (k *keyringBackend) seal(key []byte) ([]byte, error) {
	newPayload := []byte("new 32")
	if keyringKeyType != "trusted" {
		newPayload = make([]byte, 32)
		rand.Read(newPayload)
	}
	id, err := k.addKey(newPayload)
	if err != nil {
		return nil, err
	}
	defer unlinkKey(id)
	// KEYCTL_READ of a trusted key gives its sealed blob (hex), never its value.
	buf := make([]byte, 16<<10)
	n, err := unix.KeyctlBuffer(unix.KEYCTL_READ, id, buf, 0)
	if err != nil || n > len(buf) {
		return nil, sealErr(ErrNoDevice, err, "keyring: cannot read the trusted key's sealed blob", "check the trusted key source")
	}
	sealedKey := buf[:n]
	kk, err := kek(id)
	if err != nil {
		return nil, err
	}
	defer clear(kk)
	iv := make([]byte, gcmNonce)
	if _, err := rand.Read(iv); err != nil {
		return nil, fmt.Errorf("seal: random: %w", err)
	}
	gcm := newGCM(kk)
	ct := gcm.Seal(nil, iv, key, []byte(keyringKDFInfo))
	return appendFields(keyringPayloadVersion, []byte(k.desc), sealedKey, iv, ct), nil
}

const gcmNonce = 12

func newGCM(key []byte) cipher.AEAD {
	b, _ := aes.NewCipher(key) // 32 bytes: never fails
	g, _ := cipher.NewGCM(b)
	return g
}

type keyringPayload struct {
	desc           string
	sealed, iv, ct []byte
}

func decodeKeyringPayload(data []byte) (*keyringPayload, error) {
	bad := sealErr(ErrCorrupt, nil, "the sealed root key's keyring part is malformed", "restore root.seal from a backup")
	f, ok := splitFields(data, keyringPayloadVersion, 4)
	if !ok || len(f[2]) != gcmNonce {
		return nil, bad
	}
	return &keyringPayload{desc: string(f[0]), sealed: f[1], iv: f[2], ct: f[3]}, nil
}

func (k *keyringBackend) unseal(payload []byte) ([]byte, error) {
	p, err := decodeKeyringPayload(payload)
	if err != nil {
		return nil, err
	}
	load := append([]byte("load "), p.sealed...)
	if keyringKeyType != "trusted" {
		load = p.sealed
	}
	id, err := (&keyringBackend{desc: p.desc}).addKey(load)
	if err != nil {
		return nil, err
	}
	defer unlinkKey(id)
	kk, err := kek(id)
	if err != nil {
		return nil, err
	}
	defer clear(kk)
	key, err := newGCM(kk).Open(nil, p.iv, p.ct, []byte(keyringKDFInfo))
	if err != nil {
		return nil, sealErr(ErrCorrupt, err, "keyring: the trusted key does not decrypt the root key: the blob is damaged",
			"restore root.seal from a backup of this device")
	}
	return key, nil
}

func (k *keyringBackend) describe(payload []byte) string {
	p, err := decodeKeyringPayload(payload)
	if err != nil {
		return "kernel trusted key (malformed)"
	}
	return fmt.Sprintf("kernel %s key %q (source: the kernel's trusted.source)", keyringKeyType, strings.TrimSpace(p.desc))
}

func (k *keyringBackend) sameSeal(payload []byte) bool {
	p, err := decodeKeyringPayload(payload)
	return err == nil && p.desc == k.desc
}
