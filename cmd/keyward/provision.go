package main

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"github.com/keyward/keyward/internal/config"
	"os"
	"path/filepath"
	"strings"

	ck "github.com/keyward/keyward/pkg/cryptoki"
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
			}
			return nil, manifestErr(path, line, "%v", err)
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
		return nil, manifestErr(path, 0, "%v", err)
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

// validate checks the whole manifest before anything changes.
func (m *manifest) validate() error {
	if len(m.Tokens) == 0 {
		return manifestErr(m.file, 0, "no tokens: the manifest needs a tokens: list")
	}
	labels := map[string]bool{}
	for _, t := range m.Tokens {
		if t.Label == "" || len(t.Label) > 32 {
			return manifestErr(m.file, t.Line, "a token needs a label of 1 to 32 bytes")
		}
		if labels[t.Label] {
			return manifestErr(m.file, t.Line, "token %q is listed twice", t.Label)
		}
		if _, known := ck.ParseWrapPolicy(t.WrapPolicy); !known {
			return manifestErr(m.file, t.Line, "token %q: wrap-policy is trusted-only or spec, not %q", t.Label, t.WrapPolicy)
		}
		labels[t.Label] = true
		for _, src := range []struct{ name, path string }{{"so-pin-source", t.SOPINSource}, {"pin-source", t.PINSource}} {
			if src.path == "" {
				return manifestErr(m.file, t.Line, "token %q: %s is required", t.Label, src.name)
			}
			if _, err := os.Stat(strings.TrimPrefix(src.path, "file:")); err != nil {
				return manifestErr(m.file, t.Line, "token %q: %s %s: %v", t.Label, src.name, src.path, unwrapPathErr(err))
			}
		}
		keyLabels := map[string]bool{}
		for _, k := range t.Keys {
			if k.Label == "" {
				return manifestErr(m.file, k.Line, "token %q: a key needs a label", t.Label)
			}
			if keyLabels[k.Label] {
				return manifestErr(m.file, k.Line, "token %q: key %q is listed twice", t.Label, k.Label)
			}
			keyLabels[k.Label] = true
			if _, err := parseKeyType(k.Type); err != nil {
				return manifestErr(m.file, k.Line, "key %q: %v", k.Label, err)
			}
			if k.ID != "" {
				if _, err := parseID(k.ID); err != nil {
					return manifestErr(m.file, k.Line, "key %q: id must be hexadecimal", k.Label)
				}
			}
			if _, err := parseUsages(strings.Join(k.Usage, ",")); err != nil {
				return manifestErr(m.file, k.Line, "key %q: %v", k.Label, err)
			}
			if k.CSR != nil {
				if _, err := parseSubject(k.CSR.Subject); err != nil {
					return manifestErr(m.file, k.Line, "key %q: csr: %v", k.Label, err)
				}
				if _, err := parseSANs(k.CSR.SAN); err != nil {
					return manifestErr(m.file, k.Line, "key %q: csr: %v", k.Label, err)
				}
				if k.CSR.Out == "" {
					return manifestErr(m.file, k.Line, "key %q: csr needs out: (the file to write)", k.Label)
				}
			}
		}
		for _, cf := range t.Certificates {
			data, err := os.ReadFile(cf.File)
			if err != nil {
				return manifestErr(m.file, cf.Line, "certificate %s: %v", cf.File, unwrapPathErr(err))
			}
			it := &importItems{}
			var perr error
			if bytes.Contains(data, []byte("-----BEGIN ")) {
				for rest := data; ; {
					var b *pem.Block
					if b, rest = pem.Decode(rest); b == nil {
						break
					}
					if perr = it.addPEM(b, noPassphrase); perr != nil {
						break
					}
				}
			} else {
				perr = it.addDER(data, noPassphrase)
			}
			if perr != nil || len(it.certs) == 0 || it.priv != nil {
				return manifestErr(m.file, cf.Line, "certificate %s: not a certificate or chain", cf.File)
			}
		}
	}
	return nil
}

type reportKey struct {
	Label     string `json:"label"`
	ID        string `json:"id"`
	Type      string `json:"type"`
	URI       string `json:"uri"`
	PublicKey string `json:"public_key_pem,omitempty"`
	CSR       string `json:"csr,omitempty"`
	Status    string `json:"status"` // created, exists
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
	dry := f.Bool("dry-run", false, "check the manifest only")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if err := f.nargs(pos, 1, 1, "keyward provision MANIFEST"); err != nil {
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
	if err := m.validate(); err != nil {
		return err
	}
	if *dry {
		fmt.Fprintf(c.stdout, "%s: valid (%d token(s))\n", pos[0], len(m.Tokens))
		return nil
	}
	prog := c.startProgress("provisioning from " + pos[0])
	defer prog.stop()
	rep := report{Manifest: pos[0], Tokens: []reportToken{}}
	for _, mt := range m.Tokens {
		rt := reportToken{Label: mt.Label, Status: "exists", Keys: []reportKey{}, Certificates: []string{}}
		existing, err := c.selectTokens(mt.Label, nil)
		if err != nil {
			return err
		}
		if len(existing) == 0 {
			args := []string{"token", "init", "--label", mt.Label, "--so-pin-source", mt.SOPINSource, "--pin-source", mt.PINSource}
			if mt.WrapPolicy != "" {
				args = append(args, "--wrap-policy", mt.WrapPolicy)
			}
			if _, err := c.sub(args...); err != nil {
				return fmt.Errorf("token %q: %w", mt.Label, err)
			}
			rt.Status, rep.Changed = "created", true
		}
		t, err := c.oneToken(mt.Label, nil)
		if err != nil {
			return err
		}
		rt.Serial, rt.URI = t.serial, tokenToJSON(t).URI
		pinArgs := []string{"--token", mt.Label, "--pin-source", mt.PINSource}
		for _, mk := range m.tokenKeys(mt) {
			spec, _ := parseKeyType(mk.Type)
			rk := reportKey{Label: mk.Label, ID: strings.ToLower(strings.ReplaceAll(mk.ID, ":", "")), Type: spec.name, Status: "exists"}
			uri := objectURI(t, mk.Label, "", mustID(mk.ID))
			listOut, err := c.sub(append([]string{"list", uri, "--json"}, pinArgs...)...)
			if err != nil {
				return fmt.Errorf("token %q, key %q: %w", mt.Label, mk.Label, err)
			}
			var found []objectJSON
			json.Unmarshal([]byte(listOut), &found)
			if len(found) == 0 {
				prog.set(fmt.Sprintf("provisioning from %s: generating %s key %q on token %q", pos[0], spec.name, mk.Label, mt.Label))
				args := append([]string{"key", "generate", "--type", mk.Type, "--label", mk.Label, "--json"}, pinArgs...)
				if mk.ID != "" {
					args = append(args, "--id", mk.ID)
				}
				if len(mk.Usage) > 0 {
					args = append(args, "--usage", strings.Join(mk.Usage, ","))
				}
				if mk.Extractable {
					args = append(args, "--extractable")
				}
				out, err := c.sub(args...)
				if err != nil {
					return fmt.Errorf("token %q, key %q: %w", mt.Label, mk.Label, err)
				}
				var g generatedJSON
				json.Unmarshal([]byte(out), &g)
				rk.ID, uri = g.ID, g.URI
				rk.Status, rep.Changed = "created", true
			} else {
				for _, o := range found {
					if o.KeyType != "" && o.KeyType != spec.name && !strings.HasPrefix(spec.name, o.KeyType) {
						return failf("token %q, key %q: exists with type %s, the manifest says %s; delete it or change the manifest", mt.Label, mk.Label, o.KeyType, spec.name)
					}
				}
				if mk.ID == "" && len(found) > 0 {
					rk.ID = found[0].ID
					uri = objectURI(t, mk.Label, "", mustID(rk.ID))
				}
			}
			rk.URI = uri
			if spec.pair {
				if pub, err := c.sub(append([]string{"export", uri}, pinArgs...)...); err == nil {
					rk.PublicKey = pub
				}
			}
			if mk.CSR != nil {
				out := mk.CSR.Out
				if !filepath.IsAbs(out) && m.file != "-" {
					out = filepath.Join(filepath.Dir(m.file), out)
				}
				if !csrMatches(out, rk.PublicKey) {
					args := append([]string{"csr", uri, "--subject", mk.CSR.Subject, "--out", out}, pinArgs...)
					for _, s := range mk.CSR.SAN {
						args = append(args, "--san", s)
					}
					if _, err := c.sub(args...); err != nil {
						return fmt.Errorf("token %q, key %q: %w", mt.Label, mk.Label, err)
					}
					rep.Changed = true
				}
				rk.CSR = out
			}
			rt.Keys = append(rt.Keys, rk)
		}
		for _, mc := range mt.Certificates {
			uris, changed, err := c.provisionCert(t, mc, pinArgs)
			if err != nil {
				return fmt.Errorf("token %q, certificate %s: %w", mt.Label, mc.File, err)
			}
			rep.Changed = rep.Changed || changed
			rt.Certificates = append(rt.Certificates, uris...)
		}
		rep.Tokens = append(rep.Tokens, rt)
	}
	prog.stop() // before anything else goes to the terminal
	if err := c.provisionPolicies(m, &rep); err != nil {
		return err
	}
	if !rep.Changed {
		fmt.Fprintln(c.stderr, "keyward: provision: everything is already as the manifest says; nothing changed")
	}
	if m.Report != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		return c.writeOutput(m.Report, append(b, '\n'), false)
	}
	return c.printJSON(rep)
}

func (m *manifest) tokenKeys(t manifestToken) []manifestKey { return t.Keys }

func mustID(s string) []byte {
	if s == "" {
		return nil
	}
	b, _ := parseID(s)
	return b
}

// csrMatches reports whether the CSR file exists and is for the public key.
func csrMatches(path, pubPEM string) bool {
	data, err := os.ReadFile(path)
	if err != nil || pubPEM == "" {
		return false
	}
	b, _ := pem.Decode(data)
	pb, _ := pem.Decode([]byte(pubPEM))
	if b == nil || pb == nil {
		return false
	}
	req, err := x509.ParseCertificateRequest(b.Bytes)
	return err == nil && req.CheckSignature() == nil && bytes.Equal(req.RawSubjectPublicKeyInfo, pb.Bytes)
}

// provisionCert imports a certificate file unless every certificate in it is on the token already.
func (c *cli) provisionCert(t token, mc manifestCert, pinArgs []string) ([]string, bool, error) {
	data, err := os.ReadFile(mc.File)
	if err != nil {
		return nil, false, failf("cannot read it: %v", unwrapPathErr(err))
	}
	it, err := c.parseImport(data, noPassphrase)
	if err != nil {
		return nil, false, err
	}
	s, err := c.openSession(t, false)
	if err != nil {
		return nil, false, err
	}
	var uris []string
	missing := false
	for _, cert := range it.certs {
		objs, err := s.find([]ck.Attribute{ck.NewAttribute(ck.CKA_CLASS, ck.CKO_CERTIFICATE), ck.NewAttribute(ck.CKA_VALUE, cert.Raw)})
		if err != nil {
			s.close()
			return nil, false, err
		}
		if len(objs) == 0 {
			missing = true
			break
		}
		uris = append(uris, objs[0].uri())
	}
	s.close()
	if !missing {
		return uris, false, nil
	}
	args := append([]string{"import", mc.File}, pinArgs...)
	if mc.Label != "" {
		args = append(args, "--label", mc.Label)
	}
	if mc.ID != "" {
		args = append(args, "--id", mc.ID)
	}
	out, err := c.sub(args...)
	if err != nil {
		return nil, false, err
	}
	return strings.Fields(out), true, nil
}

func noPassphrase() ([]byte, error) {
	return nil, failf("encrypted blocks are not allowed in a certificate file")
}

// defaultDaemonConfig is where a system-mode keywardd reads its configuration.
const defaultDaemonConfig = "/etc/keyward/keywardd.yaml"

// provisionPolicies writes the manifest's token access policies into the daemon's configuration file,
// changing it only where it differs; keywardd applies them when it restarts.
func (c *cli) provisionPolicies(m *manifest, rep *report) error {
	var policies []config.TokenPolicy
	for _, t := range m.Tokens {
		if t.Access != nil {
			policies = append(policies, config.TokenPolicy{Label: t.Label, AllowUIDs: t.Access.AllowUIDs,
				AllowGIDs: t.Access.AllowGIDs, LoginUIDs: t.Access.LoginUIDs, LoginGIDs: t.Access.LoginGIDs})
		}
	}
	if len(policies) == 0 {
		return nil
	}
	path := m.Config
	if path == "" {
		path = defaultDaemonConfig
	}
	file := &config.File{}
	if _, err := os.Stat(path); err == nil {
		if file, err = config.Load(path); err != nil {
			return failf("provision: the daemon configuration %s: %v", path, err)
		}
	}
	changed := false
	for _, p := range policies {
		changed = file.SetPolicy(p) || changed
	}
	rep.Config = path
	if !changed {
		return nil
	}
	if err := file.Save(path); err != nil {
		return failf("provision: writing the daemon configuration %s: %v", path, err)
	}
	rep.Changed = true
	fmt.Fprintf(c.stderr, "keyward: provision: access policies written to %s; restart keywardd to apply them\n", path)
	return nil
}
