package main

import (
	"bytes"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// The manifest check: everything a run needs is checked before the token changes, and every problem is
// reported at once, each with the manifest's file and line.

// manifestProblems collects the problems of a manifest.
type manifestProblems struct {
	file string
	list []string
}

func (p *manifestProblems) add(line int, format string, a ...any) {
	where := p.file
	if line > 0 {
		where = fmt.Sprintf("%s:%d", p.file, line)
	}
	p.list = append(p.list, where+": "+fmt.Sprintf(format, a...))
}

// err returns the problems as one usage error (nil when there are none).
func (p *manifestProblems) err() error {
	switch len(p.list) {
	case 0:
		return nil
	case 1:
		return &cliError{code: exitUsage, msg: p.list[0]}
	}
	return &cliError{code: exitUsage, msg: fmt.Sprintf("%d problems: %s", len(p.list), strings.Join(p.list, "; "))}
}

// keyUsages returns a manifest key's usages: the listed ones, else its type's defaults.
func (k manifestKey) keyUsages(spec *keySpec) []string {
	if len(k.Usage) == 0 {
		return spec.usages
	}
	u, _ := parseUsages(strings.Join(k.Usage, ","))
	return u
}

// csrPath is where a key's CSR goes: relative paths are relative to the manifest.
func (m *manifest) csrPath(k manifestKey) string {
	out := k.CSR.Out
	if !filepath.IsAbs(out) && m.file != "-" {
		out = filepath.Join(filepath.Dir(m.file), out)
	}
	return out
}

// validate checks the whole manifest before anything changes and returns every problem it finds.
func (m *manifest) validate() error {
	p := &manifestProblems{file: m.file}
	if len(m.Tokens) == 0 {
		p.add(0, "no tokens: the manifest needs a tokens: list")
	}
	labels, configChecked := map[string]bool{}, false
	for _, t := range m.Tokens {
		if t.Label == "" || len(t.Label) > 32 {
			p.add(t.Line, "a token needs a label of 1 to 32 bytes")
		}
		if labels[t.Label] {
			p.add(t.Line, "token %q is listed twice", t.Label)
		}
		if _, known := ck.ParseWrapPolicy(t.WrapPolicy); !known {
			p.add(t.Line, "token %q: wrap-policy is trusted-only or spec, not %q", t.Label, t.WrapPolicy)
		}
		labels[t.Label] = true
		for _, src := range []struct{ name, path string }{{"so-pin-source", t.SOPINSource}, {"pin-source", t.PINSource}} {
			if src.path == "" {
				p.add(t.Line, "token %q: %s is required", t.Label, src.name)
				continue
			}
			if err := checkPINFile(strings.TrimPrefix(src.path, "file:")); err != nil {
				p.add(t.Line, "token %q: %s %s: %v", t.Label, src.name, src.path, err)
			}
		}
		keyLabels, ids := map[string]bool{}, map[string]string{}
		for _, k := range t.Keys {
			if k.Label == "" {
				p.add(k.Line, "token %q: a key needs a label", t.Label)
			}
			if keyLabels[k.Label] {
				p.add(k.Line, "token %q: key %q is listed twice", t.Label, k.Label)
			}
			keyLabels[k.Label] = true
			if k.ID != "" {
				id, err := parseID(k.ID)
				if err != nil {
					p.add(k.Line, "key %q: id must be hexadecimal", k.Label)
				} else if other, dup := ids[string(id)]; dup {
					p.add(k.Line, "key %q: id %s is key %q's too", k.Label, k.ID, other)
				} else {
					ids[string(id)] = k.Label
				}
			}
			spec, err := parseKeyType(k.Type)
			if err != nil {
				p.add(k.Line, "key %q: %v", k.Label, err)
				continue
			}
			if _, err := parseUsages(strings.Join(k.Usage, ",")); err != nil {
				p.add(k.Line, "key %q: %v", k.Label, err)
				continue
			}
			usages := k.keyUsages(spec)
			if err := checkUsages(spec.name, spec.keyType, usages); err != nil {
				p.add(k.Line, "key %q: %v", k.Label, err)
			}
			if k.CSR != nil {
				m.validateCSR(p, k, spec, usages)
			}
		}
		for _, cf := range t.Certificates {
			if err := checkCertFile(cf.File); err != nil {
				p.add(cf.Line, "certificate %s: %v", cf.File, err)
			}
		}
		if t.Access != nil && !configChecked {
			configChecked = true
			if err := checkWritable(m.configPath()); err != nil {
				p.add(t.Line, "token %q: access: the daemon configuration %s: %v", t.Label, m.configPath(), err)
			}
		}
	}
	if m.Report != "" {
		if err := checkWritable(m.Report); err != nil {
			p.add(0, "report %s: %v", m.Report, err)
		}
	}
	return p.err()
}

func (m *manifest) validateCSR(p *manifestProblems, k manifestKey, spec *keySpec, usages []string) {
	if !spec.pair || !strings.Contains(","+strings.Join(possibleUsages(spec.keyType), ",")+",", ",sign,") {
		p.add(k.Line, "key %q: a CSR needs a key pair that signs; key type %s cannot", k.Label, spec.name)
	} else if !strings.Contains(","+strings.Join(usages, ",")+",", ",sign,") {
		p.add(k.Line, "key %q: a CSR needs a key that signs: add sign to its usage", k.Label)
	}
	if _, err := parseSubject(k.CSR.Subject); err != nil {
		p.add(k.Line, "key %q: csr: %v", k.Label, err)
	}
	if _, err := parseSANs(k.CSR.SAN); err != nil {
		p.add(k.Line, "key %q: csr: %v", k.Label, err)
	}
	if k.CSR.Out == "" {
		p.add(k.Line, "key %q: csr needs out: (the file to write)", k.Label)
	} else if err := checkWritable(m.csrPath(k)); err != nil {
		p.add(k.Line, "key %q: csr out %s: %v", k.Label, m.csrPath(k), err)
	}
}

// configPath is the keywardd configuration file that receives the access policies.
func (m *manifest) configPath() string {
	if m.Config != "" {
		return m.Config
	}
	return defaultDaemonConfig
}

// checkPINFile checks that a PIN file can be read and holds a PIN of an acceptable length.
func checkPINFile(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return unwrapPathErr(err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("not a regular file")
	}
	if fi.Size() > maxPINFile {
		return fmt.Errorf("%d bytes is too long for a PIN file", fi.Size())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return unwrapPathErr(err)
	}
	defer clear(data)
	if len(bytes.TrimRight(data, "\r\n")) == 0 {
		return fmt.Errorf("the file is empty")
	}
	return nil
}

// maxPINFile bounds a PIN file: the longest PIN the token takes and a line end.
const maxPINFile = 4096

func checkCertFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return unwrapPathErr(err)
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
		return fmt.Errorf("not a certificate or chain")
	}
	return nil
}

// checkWritable checks that path can be written: an existing file is opened for writing (not truncated),
// otherwise a scratch file is created and removed in its directory.
func checkWritable(path string) error {
	if fi, err := os.Stat(path); err == nil {
		if fi.IsDir() {
			return fmt.Errorf("is a directory")
		}
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return fmt.Errorf("cannot be written: %v", unwrapPathErr(err))
		}
		return f.Close()
	}
	dir := filepath.Dir(path)
	if fi, err := os.Stat(dir); err != nil {
		return fmt.Errorf("its directory %s: %v", dir, unwrapPathErr(err))
	} else if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	f, err := os.CreateTemp(dir, ".keyward-check-*")
	if err != nil {
		return fmt.Errorf("its directory %s cannot be written: %v", dir, unwrapPathErr(err))
	}
	f.Close()
	return os.Remove(f.Name())
}

var goTypeName = regexp.MustCompile(`(\[\])?(\*?main\.manifest\w+|\[\]string|string|bool|u?int\d*|map\[string\]\w+)`)

// friendlyType names a Go type of the manifest in the manifest's words.
func friendlyType(t string) string {
	switch {
	case strings.HasPrefix(t, "[]"):
		return "a list"
	case strings.Contains(t, "main.manifest"), strings.HasPrefix(t, "map["):
		return "a mapping"
	case t == "string":
		return "a string"
	case t == "bool":
		return "true or false"
	}
	return "a number"
}

var (
	yamlInto     = regexp.MustCompile("cannot unmarshal !!(\\w+) (`[^`]*` )?into (\\S+)")
	yamlNotFound = regexp.MustCompile(`field (\S+) not found in type \S+`)
)

// cleanDecodeError rewrites a YAML or JSON decoder message in the manifest's words (no Go type names).
func cleanDecodeError(msg string) string {
	msg = yamlInto.ReplaceAllStringFunc(msg, func(s string) string {
		sm := yamlInto.FindStringSubmatch(s)
		found := map[string]string{"str": "a string", "seq": "a list", "map": "a mapping", "int": "a number", "bool": "true or false", "float": "a number"}[sm[1]]
		if found == "" {
			found = sm[1]
		}
		return "expected " + friendlyType(sm[3]) + ", found " + found + " " + strings.TrimSpace(sm[2])
	})
	msg = yamlNotFound.ReplaceAllString(msg, `unknown field "$1"`)
	msg = strings.TrimPrefix(msg, "yaml: ")
	msg = strings.TrimPrefix(msg, "json: ")
	return strings.TrimSpace(goTypeName.ReplaceAllStringFunc(msg, func(s string) string {
		if strings.Contains(s, "main.") {
			return friendlyType(s)
		}
		return s
	}))
}
