package seal

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
)

// Backend names, as in keywardd.yaml's `seal:` and the --seal flag.
const (
	BackendFile    = "file"
	BackendTPM2    = "tpm2"
	BackendPKCS11  = "pkcs11"
	BackendKeyring = "keyring"
)

// Options choose the sealing backend and where the root key lives.
type Options struct {
	// Backend is BackendFile, BackendTPM2, BackendPKCS11, BackendKeyring, or "" (auto: whatever is on
	// disk, a new file key on first use).
	Backend string
	// KeyPath is the root key file (root.key). The sealed blob is SealPath(KeyPath), beside it.
	KeyPath string
	// ForeignOwner, for a process running as root (keyward seal migrate in a
	// first-boot unit), accepts root key files owned by another uid (the
	// daemon's user). The daemon never sets it.
	ForeignOwner bool
	// NoCreate refuses to make a new root key when there is none: the store already holds data made with
	// one, which a new key would not open (restore the key from a backup instead).
	NoCreate bool
	// TPM2, PKCS11 and Keyring are the backends' options.
	TPM2    TPM2Options
	PKCS11  PKCS11Options
	Keyring KeyringOptions
}

// SealPath is the sealed blob's path for the key file keyPath: root.key gives root.seal.
func SealPath(keyPath string) string {
	return strings.TrimSuffix(keyPath, ".key") + ".seal"
}

// backend seals and unseals the root key. payload is the backend's part of the sealed blob.
type backend interface {
	seal(key []byte) (payload []byte, err error)
	unseal(payload []byte) (key []byte, err error)
	// describe says in words how a payload is sealed (e.g. "TPM 2.0, PCR policy sha256:7").
	describe(payload []byte) string
	// sameSeal reports whether payload is sealed as these options would seal (the same policy).
	sameSeal(payload []byte) bool
}

// backends maps the hardware backends' names to their constructors; the file backend has no blob.
var backends = map[string]func(o *Options) (backend, error){
	BackendFile: nil,
	BackendTPM2: func(o *Options) (backend, error) {
		t := o.TPM2
		if t.Policies == "" {
			t.Policies = filepath.Join(filepath.Dir(o.KeyPath), "root.policies")
		}
		return newTPM2(t)
	},
	BackendPKCS11:  func(o *Options) (backend, error) { return newPKCS11(o.PKCS11) },
	BackendKeyring: func(o *Options) (backend, error) { return newKeyring(o.Keyring) },
}

// Backends lists the backend names.
func Backends() []string {
	names := make([]string, 0, len(backends))
	for n := range backends {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// CheckBackend checks a backend name ("" is auto).
func CheckBackend(name string) error {
	if _, ok := backends[name]; ok || name == "" {
		return nil
	}
	return sealErr(ErrConfig, nil, fmt.Sprintf("unknown seal backend %q", name),
		"use one of "+strings.Join(Backends(), ", "))
}

func (o *Options) backend(name string) (backend, error) {
	mk, ok := backends[name]
	if !ok || mk == nil {
		return nil, CheckBackend(name)
	}
	return mk(o)
}
