package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// The provisioning manifest: the factory flow in one file. decodeManifest reads it; the YAML reader is in
// provision_yaml.go; JSON manifests (which YAML parsers read too) work as well.

type manifest struct {
	Tokens []manifestToken `json:"tokens" yaml:"tokens"`
	// Config is the keywardd configuration file that receives the tokens' access policies (default
	// /etc/keyward/keywardd.yaml); the daemon applies them when it restarts.
	Config string `json:"config,omitempty" yaml:"config,omitempty"`
	Report string `json:"report,omitempty" yaml:"report,omitempty"` // where to write the JSON report (default: stdout)
	file   string
}

type manifestToken struct {
	Label       string `json:"label" yaml:"label"`
	SOPINSource string `json:"so-pin-source" yaml:"so-pin-source"`
	PINSource   string `json:"pin-source" yaml:"pin-source"`
	// WrapPolicy is the token's wrap policy when the manifest creates it: trusted-only (default) or spec.
	WrapPolicy   string         `json:"wrap-policy,omitempty" yaml:"wrap-policy,omitempty"`
	Keys         []manifestKey  `json:"keys,omitempty" yaml:"keys,omitempty"`
	Certificates []manifestCert `json:"certificates,omitempty" yaml:"certificates,omitempty"`
	// Access is the token's policy: who may open it, who is logged in by identity (keywardd --config).
	Access *manifestAccess `json:"access,omitempty" yaml:"access,omitempty"`
	Line   int             `json:"-" yaml:"-"`
}

// manifestAccess is a token's access policy in a manifest.
type manifestAccess struct {
	AllowUIDs []uint32 `json:"allow_uids,omitempty" yaml:"allow_uids,omitempty"`
	AllowGIDs []uint32 `json:"allow_gids,omitempty" yaml:"allow_gids,omitempty"`
	LoginUIDs []uint32 `json:"login_uids,omitempty" yaml:"login_uids,omitempty"`
	LoginGIDs []uint32 `json:"login_gids,omitempty" yaml:"login_gids,omitempty"`
}

type manifestKey struct {
	Label       string       `json:"label" yaml:"label"`
	ID          string       `json:"id" yaml:"id"`
	Type        string       `json:"type" yaml:"type"`
	Usage       []string     `json:"usage,omitempty" yaml:"usage,omitempty"`
	Extractable bool         `json:"extractable,omitempty" yaml:"extractable,omitempty"`
	CSR         *manifestCSR `json:"csr,omitempty" yaml:"csr,omitempty"`
	Line        int          `json:"-" yaml:"-"`
}

type manifestCSR struct {
	Subject string   `json:"subject" yaml:"subject"`
	SAN     []string `json:"san,omitempty" yaml:"san,omitempty"`
	Out     string   `json:"out" yaml:"out"`
}

type manifestCert struct {
	File  string `json:"file" yaml:"file"`
	Label string `json:"label,omitempty" yaml:"label,omitempty"`
	ID    string `json:"id,omitempty" yaml:"id,omitempty"`
	Line  int    `json:"-" yaml:"-"`
}

// yamlDecoder is set by provision_yaml.go when it is built in.
var yamlDecoder func(data []byte, m *manifest) error

func decodeManifest(path string, data []byte) (*manifest, error) {
	m := &manifest{file: path}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) > 0 && trimmed[0] == '{' {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(m); err != nil {
			var se *json.SyntaxError
			var te *json.UnmarshalTypeError
			line := 0
			switch {
			case errors.As(err, &se):
				line = 1 + bytes.Count(data[:se.Offset], []byte("\n"))
			case errors.As(err, &te):
				line = 1 + bytes.Count(data[:te.Offset], []byte("\n"))
				return nil, manifestErr(path, line, "%s: expected %s, found %s", te.Field, friendlyType(te.Type.String()), te.Value)
			}
			return nil, manifestErr(path, line, "%s", cleanDecodeError(err.Error()))
		}
		return m, nil
	}
	if yamlDecoder == nil {
		return nil, manifestErr(path, 0, "this keyward is built without YAML support: write the manifest as JSON (or build with gopkg.in/yaml.v3, tag keyward_yaml)")
	}
	if err := yamlDecoder(data, m); err != nil {
		var ce *cliError
		if errors.As(err, &ce) {
			return nil, err
		}
		return nil, manifestErr(path, 0, "%s", cleanDecodeError(err.Error()))
	}
	return m, nil
}

func manifestErr(path string, line int, format string, a ...any) error {
	where := path
	if line > 0 {
		where = fmt.Sprintf("%s:%d", path, line)
	}
	return &cliError{code: exitUsage, msg: fmt.Sprintf("%s: %s", where, fmt.Sprintf(format, a...))}
}

type reportKey struct {
	Label     string `json:"label"`
	ID        string `json:"id"`
	Type      string `json:"type"`
	URI       string `json:"uri"`
	PublicKey string `json:"public_key_pem,omitempty"`
	CSR       string `json:"csr,omitempty"`
	Status    string `json:"status"` // created, exists, drift, rolled-back
	// Drift says how an existing key differs from the manifest (status drift): keyward does not change it.
	Drift []string `json:"drift,omitempty"`
}

type reportToken struct {
	Label        string      `json:"label"`
	Serial       string      `json:"serial"`
	URI          string      `json:"uri"`
	Status       string      `json:"status"`
	Keys         []reportKey `json:"keys"`
	Certificates []string    `json:"certificates"`
}

type report struct {
	Manifest string        `json:"manifest"`
	Config   string        `json:"config,omitempty"` // the configuration file that holds the access policies
	Changed  bool          `json:"changed"`
	Tokens   []reportToken `json:"tokens"`
	// Error is why the run failed; RolledBack lists what it had created and then removed again.
	Error      string   `json:"error,omitempty"`
	RolledBack []string `json:"rolled_back,omitempty"`
	Drift      int      `json:"-"`
}

// sub runs a keyward command line inside this run (same connection and environment), capturing stdout.
func (c *cli) sub(args ...string) (string, error) {
	var out, errb bytes.Buffer
	sc := *c
	sc.stdout, sc.stderr = &out, &errb
	cmd := commands[args[0]]
	err := cmd.run(&sc, args[1:])
	c.conn = sc.conn
	return out.String(), err
}

func (c *cli) cmdProvision(args []string) error {
	f := c.newFlags("provision", `usage: keyward provision MANIFEST [--dry-run]

Provisions a device from a manifest: tokens to create (with SO and user PIN sources), keys to generate,
CSRs to write, certificates and chains to import. The whole manifest is checked before anything changes
(errors name the file, line and reason). A re-run changes nothing and says so. Ends with a JSON report
(token serials, object URIs, public keys, CSR paths) on standard output or in the report: file.

manifest (YAML, or the same structure in JSON):
  tokens:
    - label: dev
      so-pin-source: /factory/so.pin
      pin-source: /factory/user.pin
      keys:
        - {label: device-id, id: "01", type: "ec:p256",
           csr: {subject: "CN=device-42,O=Acme", san: ["dns:device-42.acme.example"], out: device.csr}}
      certificates:
        - {file: chain.pem}
  report: report.json

example:
  keyward provision factory.yaml`)
	dry := f.Bool("dry-run", false, "check the manifest only (everything the run needs but the token's state)")
	pos, err := f.parseArgs(args, 1, 1, "keyward provision MANIFEST")
	if err != nil {
		return err
	}
	data, err := c.readInput(pos[0])
	if err != nil {
		return err
	}
	m, err := decodeManifest(pos[0], data)
	if err != nil {
		return err
	}
	if *dry {
		if err := m.validate(); err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "%s: valid (%d token(s))\n", pos[0], len(m.Tokens))
		return nil
	}
	rep := report{Manifest: pos[0], Tokens: []reportToken{}}
	if err := m.validate(); err != nil {
		// The report says so too, when the manifest names one that can be written: nothing was changed.
		if m.Report != "" && checkWritable(m.Report) == nil {
			rep.Error = strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", "; ")
			b, _ := json.MarshalIndent(rep, "", "  ")
			c.writeOutput(m.Report, append(b, '\n'), false)
		}
		return err
	}
	runErr := c.provisionRun(m, &rep)
	if runErr == nil && !rep.Changed && rep.Drift == 0 {
		fmt.Fprintln(c.stderr, "keyward: provision: everything is already as the manifest says; nothing changed")
	}
	if runErr == nil && rep.Drift > 0 {
		runErr = failf("provision: %d key(s) differ from the manifest (status \"drift\" in the report): change them or the manifest", rep.Drift)
	}
	if runErr != nil {
		rep.Error = strings.ReplaceAll(strings.TrimSpace(runErr.Error()), "\n", "; ")
	}
	b, _ := json.MarshalIndent(rep, "", "  ")
	if m.Report != "" {
		if err := c.writeOutput(m.Report, append(b, '\n'), false); err != nil && runErr == nil {
			return err
		}
	} else {
		c.stdout.Write(append(b, '\n'))
	}
	return runErr
}

func mustID(s string) []byte {
	if s == "" {
		return nil
	}
	b, _ := parseID(s)
	return b
}

func noPassphrase() ([]byte, error) {
	return nil, failf("encrypted blocks are not allowed in a certificate file")
}

// defaultDaemonConfig is where a system-mode keywardd reads its configuration.
const defaultDaemonConfig = "/etc/keyward/keywardd.yaml"
