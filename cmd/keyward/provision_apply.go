package main

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/keyward/keyward/internal/config"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// The manifest's apply step. The manifest has been checked (provision_check.go); the run then applies it and,
// when a step fails, undoes what this run created (keys, certificates, CSR files, the configuration file) in
// reverse order. A token this run initialised stays initialised (PKCS#11 cannot remove a token), emptied of
// what the run put there.

// provisioner is one provisioning run.
type provisioner struct {
	c    *cli
	m    *manifest
	rep  *report
	prog *progress
	undo []undoStep
}

// undoStep removes one thing the run created.
type undoStep struct {
	what string
	do   func() error
}

// provisionRun applies the manifest; on failure it rolls back and returns the failure.
func (c *cli) provisionRun(m *manifest, rep *report) error {
	p := &provisioner{c: c, m: m, rep: rep, prog: c.startProgress("provisioning from " + m.file)}
	err := p.apply()
	p.prog.stop()
	if err == nil {
		return nil
	}
	for i := len(p.undo) - 1; i >= 0; i-- {
		u := p.undo[i]
		if uerr := u.do(); uerr != nil {
			return fmt.Errorf("%w; rolling back %s also failed: %v: the token is left half-provisioned", err, u.what, uerr)
		}
		rep.RolledBack = append(rep.RolledBack, u.what)
	}
	for i := range rep.Tokens {
		for j := range rep.Tokens[i].Keys {
			if rep.Tokens[i].Keys[j].Status == "created" {
				rep.Tokens[i].Keys[j].Status = "rolled-back"
			}
		}
	}
	rep.Changed = false
	return fmt.Errorf("%w (rolled back what this run had created)", err)
}

func (p *provisioner) apply() error {
	for _, mt := range p.m.Tokens {
		if err := p.token(mt); err != nil {
			return err
		}
	}
	p.prog.stop()
	return p.policies()
}

func (p *provisioner) token(mt manifestToken) error {
	c := p.c
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
		rt.Status, p.rep.Changed = "created", true
	}
	t, err := c.oneToken(mt.Label, nil)
	if err != nil {
		return err
	}
	rt.Serial, rt.URI = t.serial, tokenToJSON(t).URI
	p.rep.Tokens = append(p.rep.Tokens, rt)
	rtp := &p.rep.Tokens[len(p.rep.Tokens)-1]
	pinArgs := []string{"--token", mt.Label, "--pin-source", mt.PINSource}
	for _, mk := range mt.Keys {
		rk, err := p.key(t, mt, mk, pinArgs)
		if rk != nil {
			rtp.Keys = append(rtp.Keys, *rk)
		}
		if err != nil {
			return fmt.Errorf("token %q, key %q: %w", mt.Label, mk.Label, err)
		}
	}
	for _, mc := range mt.Certificates {
		uris, err := p.cert(t, mc, pinArgs)
		if err != nil {
			return fmt.Errorf("token %q, certificate %s: %w", mt.Label, mc.File, err)
		}
		rtp.Certificates = append(rtp.Certificates, uris...)
	}
	return nil
}

func (p *provisioner) key(t token, mt manifestToken, mk manifestKey, pinArgs []string) (*reportKey, error) {
	c := p.c
	spec, _ := parseKeyType(mk.Type)
	usages := mk.keyUsages(spec)
	rk := &reportKey{Label: mk.Label, ID: strings.ToLower(strings.ReplaceAll(mk.ID, ":", "")), Type: spec.name, Status: "exists"}
	uri := objectURI(t, mk.Label, "", mustID(mk.ID))
	showOut, err := c.sub(append([]string{"show", uri, "--json"}, pinArgs...)...)
	var found []objectJSON
	if err != nil {
		if exitCode(err) != exitNotFound {
			return nil, err
		}
	} else if err := json.Unmarshal([]byte(showOut), &found); err != nil {
		return nil, fmt.Errorf("reading the key's attributes: %v", err)
	}
	if len(found) == 0 {
		p.prog.set(fmt.Sprintf("provisioning from %s: generating %s key %q on token %q", p.m.file, spec.name, mk.Label, mt.Label))
		args := append([]string{"key", "generate", "--type", mk.Type, "--label", mk.Label, "--json", "--usage", strings.Join(usages, ",")}, pinArgs...)
		if mk.ID != "" {
			args = append(args, "--id", mk.ID)
		}
		if mk.Extractable {
			args = append(args, "--extractable")
		}
		out, err := c.sub(args...)
		if err != nil {
			return nil, err
		}
		var g generatedJSON
		if err := json.Unmarshal([]byte(out), &g); err != nil {
			return nil, fmt.Errorf("reading key generate's answer: %v", err)
		}
		rk.ID, uri = g.ID, g.URI
		rk.Status, p.rep.Changed = "created", true
		p.undo = append(p.undo, undoStep{what: g.URI, do: func() error {
			_, err := c.sub(append([]string{"delete", g.URI, "--yes"}, pinArgs...)...)
			return err
		}})
	} else {
		rk.Drift = keyDrift(found, spec, usages, mk.Extractable)
		if len(rk.Drift) > 0 {
			rk.Status = "drift"
			p.rep.Drift++
		}
		if mk.ID == "" {
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
	if mk.CSR != nil && rk.Status != "drift" {
		out := p.m.csrPath(mk)
		if !csrMatches(out, rk.PublicKey) {
			old, oldErr := os.ReadFile(out)
			args := append([]string{"csr", uri, "--subject", mk.CSR.Subject, "--out", out}, pinArgs...)
			for _, s := range mk.CSR.SAN {
				args = append(args, "--san", s)
			}
			if _, err := c.sub(args...); err != nil {
				return rk, err
			}
			p.undo = append(p.undo, undoStep{what: out, do: func() error {
				if oldErr != nil {
					return os.Remove(out)
				}
				return os.WriteFile(out, old, 0o644)
			}})
			p.rep.Changed = true
		}
		rk.CSR = out
	}
	return rk, nil
}

// keyDrift says how the objects of an existing key differ from the manifest's key.
func keyDrift(found []objectJSON, spec *keySpec, usages []string, extractable bool) []string {
	var drift []string
	for _, o := range found {
		class := map[string]ck.ObjectClass{"private": ck.CKO_PRIVATE_KEY, "public": ck.CKO_PUBLIC_KEY, "secret-key": ck.CKO_SECRET_KEY}
		cl, isKey := class[o.Type]
		if !isKey {
			continue
		}
		if o.KeyType != "" && o.KeyType != spec.name && !strings.HasPrefix(spec.name, o.KeyType) {
			drift = append(drift, fmt.Sprintf("%s key: type is %s, the manifest says %s", o.Type, o.KeyType, spec.name))
			continue
		}
		if d := usageDrift(cl, o.Usages, usages); d != "" {
			drift = append(drift, o.Type+" key: "+d)
		}
		if cl != ck.CKO_PUBLIC_KEY && slices.Contains(o.Flags, "extractable") != extractable {
			drift = append(drift, fmt.Sprintf("%s key: extractable is %t, the manifest says %t", o.Type, !extractable, extractable))
		}
	}
	return drift
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

// cert imports the certificates of a file that are not on the token yet.
func (p *provisioner) cert(t token, mc manifestCert, pinArgs []string) ([]string, error) {
	c := p.c
	data, err := os.ReadFile(mc.File)
	if err != nil {
		return nil, failf("cannot read it: %v", unwrapPathErr(err))
	}
	it, err := c.parseImport(data, noPassphrase)
	if err != nil {
		return nil, err
	}
	s, err := c.openSession(t, false)
	if err != nil {
		return nil, err
	}
	var uris []string
	missing := false
	for _, cert := range it.certs {
		objs, err := s.find([]ck.Attribute{ck.NewAttribute(ck.CKA_CLASS, ck.CKO_CERTIFICATE), ck.NewAttribute(ck.CKA_VALUE, cert.Raw)})
		if err != nil {
			s.close()
			return nil, err
		}
		if len(objs) == 0 {
			missing = true
			break
		}
		uris = append(uris, objs[0].uri())
	}
	s.close()
	if !missing {
		return uris, nil
	}
	args := append([]string{"import", mc.File, "--json"}, pinArgs...)
	if mc.Label != "" {
		args = append(args, "--label", mc.Label)
	}
	if mc.ID != "" {
		args = append(args, "--id", mc.ID)
	}
	out, err := c.sub(args...)
	if err != nil {
		return nil, err
	}
	var imp importJSON
	if err := json.Unmarshal([]byte(out), &imp); err != nil {
		return nil, fmt.Errorf("reading import's answer: %v", err)
	}
	uris = nil
	for _, o := range imp.Imported {
		uris = append(uris, o.URI)
		if o.Status == "exists" {
			continue
		}
		uri := o.URI
		p.undo = append(p.undo, undoStep{what: uri, do: func() error {
			_, err := c.sub(append([]string{"delete", uri, "--yes"}, pinArgs...)...)
			return err
		}})
	}
	p.rep.Changed = true
	return uris, nil
}

// policies writes the manifest's token access policies into the daemon's configuration file, changing it
// only where it differs.
func (p *provisioner) policies() error {
	var policies []config.TokenPolicy
	for _, t := range p.m.Tokens {
		if t.Access != nil {
			policies = append(policies, config.TokenPolicy{Label: t.Label, AllowUIDs: t.Access.AllowUIDs,
				AllowGIDs: t.Access.AllowGIDs, LoginUIDs: t.Access.LoginUIDs, LoginGIDs: t.Access.LoginGIDs})
		}
	}
	if len(policies) == 0 {
		return nil
	}
	path := p.m.configPath()
	file := &config.File{}
	old, readErr := os.ReadFile(path)
	if readErr == nil {
		var err error
		if file, err = config.Load(path); err != nil {
			return failf("the daemon configuration %s: %v", path, err)
		}
	} else if !errors.Is(readErr, os.ErrNotExist) {
		return failf("the daemon configuration %s: %v", path, unwrapPathErr(readErr))
	}
	changed := false
	for _, pol := range policies {
		changed = file.SetPolicy(pol) || changed
	}
	p.rep.Config = path
	if !changed {
		return nil
	}
	if err := file.Save(path); err != nil {
		return failf("writing the daemon configuration %s: %v", path, err)
	}
	p.undo = append(p.undo, undoStep{what: path, do: func() error {
		if readErr != nil {
			return os.Remove(path)
		}
		return os.WriteFile(path, old, 0o644)
	}})
	p.rep.Changed = true
	fmt.Fprintf(p.c.stderr, "keyward: provision: access policies written to %s\n", p.c.applyPolicies(path, file.Policies()))
	return p.enableIdentityLogin()
}

// enableIdentityLogin logs in with the PIN to every token whose policy logs identities in, once the daemon
// has the policy: that unlock wraps the token key for identity login (internal/engine: without it, identity
// login would wait for someone's first PIN login).
func (p *provisioner) enableIdentityLogin() error {
	for _, t := range p.m.Tokens {
		if t.Access == nil || len(t.Access.LoginUIDs)+len(t.Access.LoginGIDs) == 0 {
			continue
		}
		if _, err := p.c.sub("list", "--token", t.Label, "--pin-source", t.PINSource, "--json"); err != nil {
			return fmt.Errorf("token %q: logging in to enable identity login: %w", t.Label, err)
		}
	}
	return nil
}
