// Package config is keywardd's configuration file (keywardd --config, or $KEYWARD_CONF), YAML:
//
//	max_pin_failures: 10
//	audit: /var/log/keyward/audit.jsonl
//	durability: full                 # or batched (object writes fsync'd within 20 ms)
//	seal: tpm2                       # the device root key's seal: file (default), tpm2, pkcs11, keyring
//	tpm2: {device: /dev/tpmrm0, pcrs: [7], pin_binding: true}
//	connections:                     # limits of the socket (daemon.Limits)
//	  max: 4096
//	  max_per_uid: 1024
//	  hello_timeout: 5s
//	  frame_timeout: 30s
//	  max_receive_bytes: 268435456
//	  max_receive_bytes_per_uid: 134217728
//	limits: {session_bytes: 67108864, uid_session_bytes: 268435456, token_bytes: 268435456, token_objects: 100000}
//	min_rsa_bits: 2048               # smallest RSA modulus key generation makes (1024 ... 4096)
//	pin_kdf_memory_mib: 16           # Argon2id memory of PINs set from now on (default by RAM: 64, 32 or 16)
//	pin_derivations: 1               # PIN derivations at once (each holds that memory)
//	tokens:
//	  - label: device            # or serial: 0123456789abcdef
//	    allow_uids: [1000]       # who may see and open the token (empty: everyone)
//	    allow_gids: [120]
//	    login_uids: [1000]       # logged in as CKU_USER by identity, C_Login with a NULL PIN
//	    login_gids: []
//
// keywardd reads it; `keyward provision` writes token policies into it.
package config

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/keyward/keyward/internal/daemon"
	"github.com/keyward/keyward/internal/engine"
	"github.com/keyward/keyward/internal/mech"
	"github.com/keyward/keyward/internal/seal"
	"github.com/keyward/keyward/internal/store"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// File is the configuration file's content.
type File struct {
	MaxPINFailures int    `yaml:"max_pin_failures,omitempty"`
	Audit          string `yaml:"audit,omitempty"`
	// Durability is the store's durability mode: "full" (the default, also "") or "batched"
	// (store.Durability).
	Durability string        `yaml:"durability,omitempty"`
	Tokens     []TokenPolicy `yaml:"tokens,omitempty"`
	// PINKDFMemoryMiB is the Argon2id memory of PINs set from now on (0: the default for the machine's RAM,
	// vault.KDFForRAM); each PIN record keeps the setting it was made with.
	PINKDFMemoryMiB uint32 `yaml:"pin_kdf_memory_mib,omitempty"`
	// PINDerivations is how many PIN derivations may run at once (0: 1).
	PINDerivations int `yaml:"pin_derivations,omitempty"`
	// Seal is the device root key's seal backend and its options (internal/seal, docs/sealing.md).
	Seal    string               `yaml:"seal,omitempty"`
	TPM2    *seal.TPM2Options    `yaml:"tpm2,omitempty"`
	PKCS11  *seal.PKCS11Options  `yaml:"pkcs11,omitempty"`
	Keyring *seal.KeyringOptions `yaml:"keyring,omitempty"`
	// Connections bounds the socket's connections and the frames they send (daemon.Limits).
	Connections *Connections `yaml:"connections,omitempty"`
	// Limits bound the objects applications may make (engine.Config); zero keeps the default.
	Limits Limits `yaml:"limits,omitempty"`
	// MinRSABits is the smallest RSA modulus key generation makes (0: the default, 2048).
	MinRSABits int `yaml:"min_rsa_bits,omitempty"`
	// Views are per-application key views (engine.KeyView): the programs named see only key pairs of the
	// listed key types.
	Views []View `yaml:"views,omitempty"`
}

// Connections is the connection limits' section (daemon.Limits; 0 or absent: the default).
type Connections struct {
	Max                   int           `yaml:"max,omitempty"`
	MaxPerUID             int           `yaml:"max_per_uid,omitempty"`
	HelloTimeout          time.Duration `yaml:"hello_timeout,omitempty"`
	FrameTimeout          time.Duration `yaml:"frame_timeout,omitempty"`
	MaxReceiveBytes       int64         `yaml:"max_receive_bytes,omitempty"`
	MaxReceiveBytesPerUID int64         `yaml:"max_receive_bytes_per_uid,omitempty"`
}

// Limits converts the section for the daemon (the defaults when c is nil).
func (c *Connections) Limits() daemon.Limits {
	if c == nil {
		return daemon.Limits{}
	}
	return daemon.Limits{MaxConnections: c.Max, MaxConnectionsPerUID: c.MaxPerUID, HelloTimeout: c.HelloTimeout,
		FrameTimeout: c.FrameTimeout, MaxReceiveBytes: c.MaxReceiveBytes, MaxReceiveBytesPerUID: c.MaxReceiveBytesPerUID}
}

// Limits are the object quotas: session object bytes per application and per uid, and token objects per
// token (bytes of their records and their number). Beyond them CKR_DEVICE_MEMORY.
type Limits struct {
	SessionBytes    uint64 `yaml:"session_bytes,omitempty"`
	UIDSessionBytes uint64 `yaml:"uid_session_bytes,omitempty"`
	TokenBytes      uint64 `yaml:"token_bytes,omitempty"`
	TokenObjects    uint64 `yaml:"token_objects,omitempty"`
}

// Apply sets the limits the file gives in cfg.
func (l Limits) Apply(cfg *engine.Config) {
	for _, x := range []struct {
		v   uint64
		dst *uint64
	}{{l.SessionBytes, &cfg.MaxSessionBytes}, {l.UIDSessionBytes, &cfg.MaxUIDSessionBytes},
		{l.TokenBytes, &cfg.MaxTokenBytes}, {l.TokenObjects, &cfg.MaxTokenObjects}} {
		if x.v != 0 {
			*x.dst = x.v
		}
	}
}

// View is one per-application key view.
type View struct {
	Programs []string `yaml:"programs,flow"`
	KeyTypes []string `yaml:"key_types,flow"`
}

// TokenPolicy is one token's access policy.
type TokenPolicy struct {
	Label     string   `yaml:"label,omitempty"`
	Serial    string   `yaml:"serial,omitempty"`
	AllowUIDs []uint32 `yaml:"allow_uids,omitempty,flow"`
	AllowGIDs []uint32 `yaml:"allow_gids,omitempty,flow"`
	LoginUIDs []uint32 `yaml:"login_uids,omitempty,flow"`
	LoginGIDs []uint32 `yaml:"login_gids,omitempty,flow"`
}

// Load reads and checks a configuration file. Unknown keys are errors: a typo in a policy must not silently
// open a token to everyone.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse is Load for a file's content; path is only for messages.
func Parse(path string, data []byte) (*File, error) {
	var c File
	if len(bytes.TrimSpace(data)) == 0 {
		return &c, nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if _, err := store.ParseDurability(c.Durability); err != nil {
		return nil, fmt.Errorf("%s: durability: %q is not full or batched", path, c.Durability)
	}
	if err := seal.CheckBackend(c.Seal); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if c.TPM2 != nil && c.TPM2.PINBinding && c.Seal != seal.BackendTPM2 {
		return nil, fmt.Errorf("%s: tpm2.pin_binding needs seal: tpm2 (the TPM that seals the root key counts the PIN guesses)", path)
	}
	if n := c.Connections; n != nil && (n.Max < 0 || n.MaxPerUID < 0 || n.HelloTimeout < 0 || n.FrameTimeout < 0 || n.MaxReceiveBytes < 0 || n.MaxReceiveBytesPerUID < 0) {
		return nil, fmt.Errorf("%s: connections: limits must not be negative", path)
	}
	if c.MinRSABits != 0 {
		if err := mech.CheckRSAGenMinBits(c.MinRSABits); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	if c.PINKDFMemoryMiB != 0 && (c.PINKDFMemoryMiB < 8 || c.PINKDFMemoryMiB > 1024) {
		return nil, fmt.Errorf("%s: pin_kdf_memory_mib: %d is not between 8 and 1024", path, c.PINKDFMemoryMiB)
	}
	if c.PINDerivations < 0 || c.PINDerivations > 64 {
		return nil, fmt.Errorf("%s: pin_derivations: %d is not between 1 and 64", path, c.PINDerivations)
	}
	for i, t := range c.Tokens {
		if (t.Label == "") == (t.Serial == "") {
			return nil, fmt.Errorf("%s: tokens[%d]: name the token by exactly one of label and serial", path, i)
		}
	}
	for i, v := range c.Views {
		if len(v.Programs) == 0 || len(v.KeyTypes) == 0 {
			return nil, fmt.Errorf("%s: views[%d]: a view needs programs and key_types", path, i)
		}
		for _, n := range v.KeyTypes {
			if _, ok := viewKeyTypes[n]; !ok {
				return nil, fmt.Errorf("%s: views[%d]: unknown key type %q (rsa, ec, ec-edwards, ec-montgomery, ml-dsa, ml-kem)", path, i, n)
			}
		}
	}
	return &c, nil
}

// Save writes the file atomically (a temporary file renamed into place), mode 0600.
func (c *File) Save(path string) error {
	data, err := yaml.Marshal(c)
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".keywardd-config-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// SetPolicy replaces (or adds) the policy of the token with p's label or serial; it reports whether the
// file changed.
func (c *File) SetPolicy(p TokenPolicy) bool {
	for i, t := range c.Tokens {
		if t.Label == p.Label && t.Serial == p.Serial {
			if fmt.Sprint(t) == fmt.Sprint(p) {
				return false
			}
			c.Tokens[i] = p
			return true
		}
	}
	c.Tokens = append(c.Tokens, p)
	return true
}

// SealOptions are the configuration's seal settings for the root key file keyPath.
func (c *File) SealOptions(keyPath string) seal.Options {
	o := seal.Options{Backend: c.Seal, KeyPath: keyPath}
	if c.TPM2 != nil {
		o.TPM2 = *c.TPM2
	}
	if c.PKCS11 != nil {
		o.PKCS11 = *c.PKCS11
	}
	if c.Keyring != nil {
		o.Keyring = *c.Keyring
	}
	return o
}

// Policies converts the token policies for the engine.
func (c *File) Policies() []engine.TokenPolicy {
	var out []engine.TokenPolicy
	for _, t := range c.Tokens {
		out = append(out, engine.TokenPolicy{Label: t.Label, Serial: t.Serial, AllowUIDs: t.AllowUIDs,
			AllowGIDs: t.AllowGIDs, LoginUIDs: t.LoginUIDs, LoginGIDs: t.LoginGIDs})
	}
	return out
}

// viewKeyTypes are the key type names of views.
var viewKeyTypes = map[string]ck.KeyType{"rsa": ck.CKK_RSA, "ec": ck.CKK_EC, "ec-edwards": ck.CKK_EC_EDWARDS,
	"ec-montgomery": ck.CKK_EC_MONTGOMERY, "ml-dsa": ck.CKK_ML_DSA, "ml-kem": ck.CKK_ML_KEM}

// KeyViews converts the views for the engine.
func (c *File) KeyViews() []engine.KeyView {
	var out []engine.KeyView
	for _, v := range c.Views {
		kv := engine.KeyView{Programs: v.Programs}
		for _, n := range v.KeyTypes {
			kv.KeyTypes = append(kv.KeyTypes, viewKeyTypes[n])
		}
		out = append(out, kv)
	}
	return out
}
