package main

import (
	"fmt"
	"os"

	"gopkg.in/yaml.v3"

	"github.com/keyward/keyward/internal/engine"
)

// fileConfig is keywardd's configuration file (--config, or $KEYWARD_CONF), YAML:
//
//	max_pin_failures: 10
//	audit: /var/log/keyward/audit.jsonl
//	tokens:
//	  - label: device            # or serial: 0123456789abcdef
//	    allow_uids: [1000]       # who may see and open the token (empty: everyone)
//	    allow_gids: [120]
//	    login_uids: [1000]       # logged in as CKU_USER by identity, C_Login with a NULL PIN
//	    login_gids: []
//
// Flags given on the command line win over the file.
type fileConfig struct {
	MaxPINFailures int           `yaml:"max_pin_failures"`
	Audit          string        `yaml:"audit"`
	Tokens         []tokenPolicy `yaml:"tokens"`
}

type tokenPolicy struct {
	Label     string   `yaml:"label"`
	Serial    string   `yaml:"serial"`
	AllowUIDs []uint32 `yaml:"allow_uids"`
	AllowGIDs []uint32 `yaml:"allow_gids"`
	LoginUIDs []uint32 `yaml:"login_uids"`
	LoginGIDs []uint32 `yaml:"login_gids"`
}

// loadConfig reads and checks a configuration file. Unknown keys are errors: a typo in a policy must not
// silently open a token to everyone.
func loadConfig(path string) (*fileConfig, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var c fileConfig
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for i, t := range c.Tokens {
		if (t.Label == "") == (t.Serial == "") {
			return nil, fmt.Errorf("%s: tokens[%d]: name the token by exactly one of label and serial", path, i)
		}
	}
	return &c, nil
}

// policies converts the file's token policies for the engine.
func (c *fileConfig) policies() []engine.TokenPolicy {
	var out []engine.TokenPolicy
	for _, t := range c.Tokens {
		out = append(out, engine.TokenPolicy{Label: t.Label, Serial: t.Serial, AllowUIDs: t.AllowUIDs,
			AllowGIDs: t.AllowGIDs, LoginUIDs: t.LoginUIDs, LoginGIDs: t.LoginGIDs})
	}
	return out
}
