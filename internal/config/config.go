// Package config is keywardd's configuration file (keywardd --config, or $KEYWARD_CONF), YAML:
//
//	max_pin_failures: 10
//	audit: /var/log/keyward/audit.jsonl
//	durability: full                 # or batched (object writes fsync'd within 20 ms)
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

	"gopkg.in/yaml.v3"

	"github.com/keyward/keyward/internal/engine"
	"github.com/keyward/keyward/internal/store"
)

// File is the configuration file's content.
type File struct {
	MaxPINFailures int    `yaml:"max_pin_failures,omitempty"`
	Audit          string `yaml:"audit,omitempty"`
	// Durability is the store's durability mode: "full" (the default, also "") or "batched"
	// (store.Durability).
	Durability string `yaml:"durability,omitempty"`
	// PINKDFMemoryMiB is the Argon2id memory of PINs set from now on (0: the default for the machine's RAM,
	// vault.KDFForRAM); each PIN record keeps the setting it was made with.
	PINKDFMemoryMiB uint32 `yaml:"pin_kdf_memory_mib,omitempty"`
	// PINDerivations is how many PIN derivations may run at once (0: 1).
	PINDerivations int           `yaml:"pin_derivations,omitempty"`
	Tokens         []TokenPolicy `yaml:"tokens,omitempty"`
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

// Policies converts the token policies for the engine.
func (c *File) Policies() []engine.TokenPolicy {
	var out []engine.TokenPolicy
	for _, t := range c.Tokens {
		out = append(out, engine.TokenPolicy{Label: t.Label, Serial: t.Serial, AllowUIDs: t.AllowUIDs,
			AllowGIDs: t.AllowGIDs, LoginUIDs: t.LoginUIDs, LoginGIDs: t.LoginGIDs})
	}
	return out
}
