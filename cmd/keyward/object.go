package main

import (
	"crypto/x509"
	"encoding/hex"
	"flag"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

type objectJSON struct {
	URI       string            `json:"uri"`
	Token     string            `json:"token"`
	Type      string            `json:"type"`
	Label     string            `json:"label"`
	ID        string            `json:"id"`
	KeyType   string            `json:"key_type,omitempty"`
	Flags     []string          `json:"flags,omitempty"`
	Usages    []string          `json:"usages,omitempty"`
	PublicKey string            `json:"public_key_sha256,omitempty"`
	Cert      *certJSON         `json:"certificate,omitempty"`
	Extra     map[string]string `json:"attributes,omitempty"`
	Status    string            `json:"status,omitempty"`     // import: created, or exists (the same object was there)
	StartDate string            `json:"start_date,omitempty"` // CKA_START_DATE, YYYY-MM-DD
	EndDate   string            `json:"end_date,omitempty"`   // CKA_END_DATE, YYYY-MM-DD
}

type certJSON struct {
	Subject   string    `json:"subject"`
	Issuer    string    `json:"issuer"`
	Serial    string    `json:"serial"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	DNSNames  []string  `json:"dns_names,omitempty"`
	SHA256    string    `json:"sha256"`
}

func typeName(c ck.ObjectClass) string {
	if t := typeOf(c); t != "" {
		return string(t)
	}
	return c.String()
}

func (c *cli) cmdList(args []string) error {
	f := c.newFlags("list", `usage: keyward list [URI] [--token LABEL] [--json] [--pin-source FILE | --login]

Lists objects with their pkcs11: URIs. A URI filters: by token (token=, serial=), label (object=),
id and type. Private objects show only when logged in: give a PIN (--pin-source FILE, $KEYWARD_PIN)
or --login to be asked for one. Without a token selection, every initialised token is listed.

examples:
  keyward list
  keyward list 'pkcs11:token=dev;type=private' --pin-source user.pin
  keyward list 'pkcs11:object=tls' --json`).withJSON().withToken().withLogin()
	u, _, err := f.parseURIArgs(args, 0, 1, "keyward list [URI]")
	if err != nil {
		return err
	}
	ts, err := c.selectTokens(*f.token, u)
	if err != nil {
		return err
	}
	if len(ts) == 0 {
		if *f.token != "" || (u != nil && (u.Token != nil || u.Serial != nil)) {
			return notFoundf("no token matches")
		}
		if !*f.json {
			fmt.Fprintln(c.stdout, "no initialised token (create one with: keyward token init --label NAME)")
			return nil
		}
	}
	var out []objectJSON
	var hidden []string // tokens listed without a login: their private objects are not shown
	for _, t := range ts {
		mode := loginIfPIN
		if t.info.Flags&ck.CKF_USER_PIN_INITIALIZED == 0 {
			mode = loginNever
		}
		s, err := c.openOn(f, t, u, false, mode)
		if err != nil {
			return err
		}
		objs, err := s.findURI(u)
		if err != nil {
			s.close()
			return err
		}
		var listed []objectJSON
		for _, o := range objs {
			listed = append(listed, s.summary(o, false))
		}
		if !s.loggedIn && mode != loginNever {
			hidden = append(hidden, t.label)
		}
		s.close()
		// A stable order whatever the handles are: by label, then id, then type.
		sort.SliceStable(listed, func(i, j int) bool {
			a, b := listed[i], listed[j]
			if a.Label != b.Label {
				return a.Label < b.Label
			}
			if a.ID != b.ID {
				return a.ID < b.ID
			}
			return a.Type < b.Type
		})
		out = append(out, listed...)
	}
	if *f.json {
		if out == nil {
			out = []objectJSON{}
		}
		return c.printJSON(out)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TYPE\tKEY\tLABEL\tID\tURI")
	for _, o := range out {
		kt := o.KeyType
		if kt == "" {
			kt = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", o.Type, kt, o.Label, o.ID, o.URI)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(hidden) > 0 {
		fmt.Fprintf(c.stderr, "keyward: note: not logged in to %s: private objects (private and secret keys) are not shown; give the PIN (--pin-source FILE, $KEYWARD_PIN) or --login\n", quoteList(hidden))
	}
	return nil
}

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("token %q", n)
	}
	return strings.Join(q, ", ")
}

var flagAttrs = []struct {
	attr ck.AttributeType
	name string
}{
	{ck.CKA_TOKEN, "token"}, {ck.CKA_PRIVATE, "private"}, {ck.CKA_MODIFIABLE, "modifiable"},
	{ck.CKA_SENSITIVE, "sensitive"}, {ck.CKA_ALWAYS_SENSITIVE, "always-sensitive"}, {ck.CKA_EXTRACTABLE, "extractable"},
	{ck.CKA_NEVER_EXTRACTABLE, "never-extractable"}, {ck.CKA_LOCAL, "local"}, {ck.CKA_TRUSTED, "trusted"},
	{ck.CKA_ALWAYS_AUTHENTICATE, "always-authenticate"},
}

var usageList = []struct {
	attr ck.AttributeType
	name string
}{
	{ck.CKA_SIGN, "sign"}, {ck.CKA_VERIFY, "verify"}, {ck.CKA_ENCRYPT, "encrypt"}, {ck.CKA_DECRYPT, "decrypt"},
	{ck.CKA_WRAP, "wrap"}, {ck.CKA_UNWRAP, "unwrap"}, {ck.CKA_DERIVE, "derive"}, {ck.CKA_SIGN_RECOVER, "sign-recover"},
	{ck.CKA_VERIFY_RECOVER, "verify-recover"}, {ck.CKA_ENCAPSULATE, "encapsulate"}, {ck.CKA_DECAPSULATE, "decapsulate"},
}

// summary describes an object; with detail, also its flags, usages, public key and certificate.
func (s *session) summary(o *object, detail bool) objectJSON {
	j := objectJSON{URI: o.uri(), Token: o.tok.label, Type: typeName(o.class), Label: o.label, ID: hex.EncodeToString(o.id)}
	if _, ok := o.keyType(); ok {
		j.KeyType = s.describeKey(o)
	}
	if !detail {
		return j
	}
	var types []ck.AttributeType
	for _, fa := range flagAttrs {
		types = append(types, fa.attr)
	}
	for _, ua := range usageList {
		types = append(types, ua.attr)
	}
	types = append(types, ck.CKA_START_DATE, ck.CKA_END_DATE)
	a, err := s.attrs(o.h, types...)
	if err == nil {
		j.StartDate, j.EndDate = ckDateText(a[ck.CKA_START_DATE]), ckDateText(a[ck.CKA_END_DATE])
		for _, fa := range flagAttrs {
			if ck.MapBBool(a, fa.attr) {
				j.Flags = append(j.Flags, fa.name)
			}
		}
		for _, ua := range usageList {
			if ck.MapBBool(a, ua.attr) {
				j.Usages = append(j.Usages, ua.name)
			}
		}
	}
	switch o.class {
	case ck.CKO_PUBLIC_KEY, ck.CKO_PRIVATE_KEY:
		if spki, err := s.publicKey(o); err == nil {
			j.PublicKey = fingerprint(spki)
		}
	case ck.CKO_CERTIFICATE:
		if a, err := s.attrs(o.h, ck.CKA_VALUE); err == nil {
			if cert, err := x509.ParseCertificate(a[ck.CKA_VALUE]); err == nil {
				j.Cert = &certJSON{Subject: cert.Subject.String(), Issuer: cert.Issuer.String(), Serial: cert.SerialNumber.Text(16),
					NotBefore: cert.NotBefore.UTC(), NotAfter: cert.NotAfter.UTC(), DNSNames: cert.DNSNames, SHA256: fingerprint(cert.Raw)}
				if spki := cert.RawSubjectPublicKeyInfo; len(spki) > 0 {
					j.PublicKey = fingerprint(spki)
				}
			}
		}
	}
	return j
}

func (c *cli) cmdShow(args []string) error {
	f := c.newFlags("show", `usage: keyward show URI [--json] [--pin-source FILE | --login]

Shows the objects a URI selects: type, key type and size, label, id, flags, usages, the SHA-256 of the
public key, and a certificate's subject, issuer and validity. Never a secret value.

examples:
  keyward show 'pkcs11:token=dev;object=tls'
  keyward show 'pkcs11:token=dev;object=tls;type=cert' --json`).withJSON().withToken().withLogin()
	u, _, err := f.parseURIArgs(args, 1, 1, "keyward show URI")
	if err != nil {
		return err
	}
	s, objs, err := c.openObjects(f, u, false, loginIfPIN)
	if err != nil {
		return err
	}
	defer s.close()
	out := make([]objectJSON, len(objs))
	for i, o := range objs {
		out[i] = s.summary(o, true)
	}
	if *f.json {
		return c.printJSON(out)
	}
	for i, j := range out {
		if i > 0 {
			fmt.Fprintln(c.stdout)
		}
		tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
		row := func(k, v string) {
			if v != "" {
				fmt.Fprintf(tw, "%s:\t%s\n", k, v)
			}
		}
		row("uri", j.URI)
		row("type", j.Type)
		row("key type", j.KeyType)
		row("label", j.Label)
		row("id", j.ID)
		row("flags", strings.Join(j.Flags, " "))
		row("usages", strings.Join(j.Usages, " "))
		row("public key sha256", j.PublicKey)
		if j.Cert != nil {
			row("subject", j.Cert.Subject)
			row("issuer", j.Cert.Issuer)
			row("serial", j.Cert.Serial)
			row("valid", j.Cert.NotBefore.Format(time.RFC3339)+" to "+j.Cert.NotAfter.Format(time.RFC3339))
			row("dns names", strings.Join(j.Cert.DNSNames, " "))
			row("cert sha256", j.Cert.SHA256)
		}
		tw.Flush()
	}
	return nil
}

func (c *cli) cmdDelete(args []string) error {
	f := c.newFlags("delete", `usage: keyward delete URI [--yes] [--pin-source FILE]

Deletes the objects the URI selects, after listing them and asking (unless --yes). A URI without
object=, id= or type= would select every object: that needs --all as well.

examples:
  keyward delete 'pkcs11:token=dev;object=old-key'
  keyward delete 'pkcs11:token=dev;id=%01;type=cert' --yes`).withJSON().withToken().withPIN()
	yes := f.Bool("yes", false, "do not ask for confirmation")
	all := f.Bool("all", false, "allow a URI that selects every object of the token")
	u, _, err := f.parseURIArgs(args, 1, 1, "keyward delete URI")
	if err != nil {
		return err
	}
	if !hasObjectAttrs(u) && !*all {
		return usagef("delete: %s selects every object of the token; name the objects (object=, id=, type=) or add --all", u.String())
	}
	s, objs, err := c.openObjects(f, u, true, loginRequired)
	if err != nil {
		return err
	}
	defer s.close()
	names := make([]string, len(objs))
	for i, o := range objs {
		names[i] = o.uri()
	}
	question := fmt.Sprintf("Delete %d object(s):\n  %s\n?", len(objs), strings.Join(names, "\n  "))
	if err := c.confirmOr(*yes, question, "delete: not confirmed; nothing deleted"); err != nil {
		return err
	}
	var deleted []string
	for _, o := range objs {
		if err := s.cl.DestroyObject(s.h, o.h); err != nil {
			return ckErr(fmt.Sprintf("deleting %s (after deleting %d)", o.uri(), len(deleted)), err)
		}
		deleted = append(deleted, o.uri())
	}
	if *f.json {
		return c.printJSON(map[string][]string{"deleted": deleted})
	}
	for _, d := range deleted {
		fmt.Fprintln(c.stdout, "deleted", d)
	}
	return nil
}

func (c *cli) cmdSet(args []string) error {
	f := c.newFlags("set", `usage: keyward set URI [--label LABEL] [--id HEX] [--start-date D] [--end-date D] [--pin-source FILE]

Changes the label, id and validity dates (CKA_START_DATE, CKA_END_DATE: informational, the token does not
enforce them) of the objects the URI selects (both halves of a key pair when the URI has
no type=). Prints the objects' new URIs.

examples:
  keyward set 'pkcs11:token=dev;object=tmp' --label device-id
  keyward set 'pkcs11:token=dev;object=device-id;type=cert' --id 01`).withJSON().withToken().withPIN()
	label := f.String("label", "", "the new label")
	id := f.String("id", "", "the new id, in hex")
	startDate := f.String("start-date", "", "CKA_START_DATE, YYYY-MM-DD (\"none\" clears it)")
	endDate := f.String("end-date", "", "CKA_END_DATE, YYYY-MM-DD (\"none\" clears it)")
	force := f.Bool("force", false, "give the id even when another object of the same kind has it")
	u, _, err := f.parseURIArgs(args, 1, 1, "keyward set URI --label LABEL")
	if err != nil {
		return err
	}
	if !hasObjectAttrs(u) {
		return usagef("set: name the objects to change (object=, id=, type=)")
	}
	var t []ck.Attribute
	labelSet, idSet := false, false
	f.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "label":
			labelSet = true
		case "id":
			idSet = true
		}
	})
	if labelSet {
		t = append(t, ck.NewAttribute(ck.CKA_LABEL, *label))
	}
	var newID []byte
	if idSet {
		if newID, err = parseID(*id); err != nil {
			return err
		}
		t = append(t, ck.NewAttribute(ck.CKA_ID, newID))
	}
	for _, d := range []struct {
		value *string
		attr  ck.AttributeType
		name  string
	}{{startDate, ck.CKA_START_DATE, "start-date"}, {endDate, ck.CKA_END_DATE, "end-date"}} {
		if *d.value == "" {
			continue
		}
		v, err := parseCKDate(*d.value)
		if err != nil {
			return usagef("set: --%s: %v", d.name, err)
		}
		t = append(t, ck.NewAttribute(d.attr, v))
	}
	if len(t) == 0 {
		return usagef("set: nothing to change (give --label, --id, --start-date or --end-date)")
	}
	s, objs, err := c.openObjects(f, u, true, loginRequired)
	if err != nil {
		return err
	}
	defer s.close()
	if idSet {
		if err := s.idClash(objs, newID, *force); err != nil {
			return err
		}
	}
	var uris []string
	for _, o := range objs {
		if err := s.cl.SetAttributeValue(s.h, o.h, t); err != nil {
			return ckErr("changing "+o.uri(), err)
		}
		if labelSet {
			o.label = *label
		}
		if idSet {
			o.id = newID
		}
		uris = append(uris, o.uri())
	}
	sort.Strings(uris)
	if *f.json {
		return c.printJSON(map[string][]string{"changed": uris})
	}
	for _, u := range uris {
		fmt.Fprintln(c.stdout, u)
	}
	return nil
}
