package main

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/keyward/keyward/pkg/client"
	ck "github.com/keyward/keyward/pkg/cryptoki"
	"github.com/keyward/keyward/pkg/p11uri"
)

// listFlag is a repeatable, comma-separated flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

// parseSubject parses "CN=dev,O=Acme,C=DE" or OpenSSL's "/CN=dev/O=Acme/C=DE".
func parseSubject(s string) (pkix.Name, error) {
	var n pkix.Name
	sep := ","
	if strings.HasPrefix(s, "/") {
		sep, s = "/", s[1:]
	}
	if strings.TrimSpace(s) == "" {
		return n, usagef("--subject is empty (for example --subject 'CN=device-42,O=Acme')")
	}
	for _, part := range strings.Split(s, sep) {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || v == "" {
			return n, usagef("--subject: %q is not KEY=VALUE (CN, O, OU, C, ST, L, serialNumber)", part)
		}
		switch strings.ToUpper(k) {
		case "CN":
			n.CommonName = v
		case "O":
			n.Organization = append(n.Organization, v)
		case "OU":
			n.OrganizationalUnit = append(n.OrganizationalUnit, v)
		case "C":
			n.Country = append(n.Country, v)
		case "ST":
			n.Province = append(n.Province, v)
		case "L":
			n.Locality = append(n.Locality, v)
		case "SERIALNUMBER":
			n.SerialNumber = v
		default:
			return n, usagef("--subject: unknown attribute %q (CN, O, OU, C, ST, L, serialNumber)", k)
		}
	}
	return n, nil
}

type sans struct {
	dns    []string
	ips    []net.IP
	emails []string
	uris   []*url.URL
}

func parseSANs(list []string) (sans, error) {
	var out sans
	for _, s := range list {
		kind, v, ok := strings.Cut(s, ":")
		if !ok {
			kind, v = "", s
		}
		switch strings.ToLower(kind) {
		case "dns":
			out.dns = append(out.dns, v)
		case "ip":
			ip := net.ParseIP(v)
			if ip == nil {
				return out, usagef("--san: %q is not an IP address", v)
			}
			out.ips = append(out.ips, ip)
		case "email":
			out.emails = append(out.emails, v)
		case "uri", "url":
			u, err := url.Parse(v)
			if err != nil || u.Scheme == "" {
				return out, usagef("--san: %q is not a URI", v)
			}
			out.uris = append(out.uris, u)
		default:
			if ip := net.ParseIP(s); ip != nil {
				out.ips = append(out.ips, ip)
			} else if strings.Contains(s, "@") {
				out.emails = append(out.emails, s)
			} else if !ok {
				out.dns = append(out.dns, s)
			} else if u, err := url.Parse(s); err == nil && u.Scheme != "" {
				out.uris = append(out.uris, u)
			} else {
				return out, usagef("--san: %q: use dns:, ip:, email: or uri:", s)
			}
		}
	}
	return out, nil
}

// parseNames parses --subject and --san.
func parseNames(subject string, san []string) (pkix.Name, sans, error) {
	name, err := parseSubject(subject)
	if err != nil {
		return pkix.Name{}, sans{}, err
	}
	alt, err := parseSANs(san)
	if err != nil {
		return pkix.Name{}, sans{}, err
	}
	return name, alt, nil
}

// tokenSigner opens the private key the URI selects as a crypto.Signer; the session stays open for
// --import.
func (c *cli) tokenSigner(f *flags, u *p11uri.URI, rw bool) (*session, *object, crypto.Signer, error) {
	t, err := c.oneToken(*f.token, u)
	if err != nil {
		return nil, nil, nil, err
	}
	pin, err := c.userPIN(f, u, true)
	if err != nil {
		return nil, nil, nil, err
	}
	s, err := c.openSession(t, rw)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := s.login(ck.CKU_USER, append([]byte(nil), pin...)); err != nil {
		s.close()
		return nil, nil, nil, err
	}
	o, err := s.oneKey(u, "private key", ck.CKO_PRIVATE_KEY)
	if err != nil {
		s.close()
		return nil, nil, nil, err
	}
	if o.label == "" && len(o.id) == 0 {
		s.close()
		return nil, nil, nil, failf("%s has neither label nor id; give it one with keyward set", o.uri())
	}
	tok, err := s.cl.OpenTokenSlot(t.slot, pin)
	clear(pin)
	if err != nil {
		s.close()
		return nil, nil, nil, ckErr("opening the token", err)
	}
	ref := client.KeyRef{Label: o.label}
	if len(o.id) > 0 {
		ref.ID = o.id
	}
	signer, err := tok.Signer(ref)
	if err != nil {
		s.close()
		return nil, nil, nil, ckErr("opening "+o.uri()+" for signing", err)
	}
	if _, ok := signer.Public().(*client.MLDSAPublicKey); ok {
		s.close()
		return nil, nil, nil, failf("%s is an ML-DSA key: Go's crypto/x509 cannot make ML-DSA certificates or requests yet", o.uri())
	}
	return s, o, signer, nil
}

func sigAlgorithm(pub crypto.PublicKey, pss bool) x509.SignatureAlgorithm {
	if _, ok := pub.(*rsa.PublicKey); ok && pss {
		return x509.SHA256WithRSAPSS
	}
	return x509.UnknownSignatureAlgorithm // crypto/x509's default for the key
}

func certFlags(f *flags) (subject *string, san *listFlag, out, format *string, pss *bool) {
	san = &listFlag{}
	subject = f.String("subject", "", "the subject, e.g. 'CN=device-42,O=Acme,C=DE' or '/CN=device-42/O=Acme'")
	f.Var(san, "san", "subject alternative names, repeatable or comma-separated: dns:NAME ip:ADDR email:ADDR uri:URI")
	out = f.String("out", "-", "the output file, or - for standard output")
	format = f.String("format", "pem", "pem or der")
	pss = f.Bool("pss", false, "RSA keys: sign with RSA-PSS")
	return
}

func (c *cli) cmdCSR(args []string) error {
	f := c.newFlags("csr", `usage: keyward csr URI --subject SUBJECT [--san dns:NAME,ip:ADDR,...] [--out FILE]

Writes a PKCS #10 certificate signing request for a key pair on the token, signed by its private key
(RSA, ECDSA or Ed25519).

examples:
  keyward csr 'pkcs11:token=dev;object=device-id' --subject 'CN=device-42,O=Acme' --san dns:device-42.acme.example --out device.csr
  openssl req -in device.csr -verify -noout`).withToken().withPIN()
	subject, san, out, format, pss := certFlags(f)
	f.check(func() error {
		if *format != "pem" && *format != "der" {
			return usagef("csr: --format must be pem or der")
		}
		return nil
	})
	u, _, err := f.parseURIArgs(args, 1, 1, "keyward csr URI --subject SUBJECT")
	if err != nil {
		return err
	}
	name, alt, err := parseNames(*subject, *san)
	if err != nil {
		return err
	}
	s, _, signer, err := c.tokenSigner(f, u, false)
	if err != nil {
		return err
	}
	defer s.close()
	tmpl := &x509.CertificateRequest{Subject: name, DNSNames: alt.dns, IPAddresses: alt.ips, EmailAddresses: alt.emails, URIs: alt.uris,
		SignatureAlgorithm: sigAlgorithm(signer.Public(), *pss)}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, signer)
	if err != nil {
		return ckErr("creating the request", err)
	}
	return c.writeDER(*out, *format, "CERTIFICATE REQUEST", der)
}

func (c *cli) cmdCert(args []string) error {
	if len(args) == 0 || (args[0] != "self-sign" && args[0] != "selfsign") {
		if len(args) > 0 && (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
			fmt.Fprintln(c.stdout, "usage: keyward cert self-sign URI --subject SUBJECT [--days N] [--san ...] [--import] [--out FILE]")
			return nil
		}
		return usagef("cert: missing or unknown subcommand (self-sign)")
	}
	f := c.newFlags("cert self-sign", `usage: keyward cert self-sign URI --subject SUBJECT [--days N] [--san ...] [--ca] [--import] [--out FILE]

Makes a self-signed X.509 certificate for a key pair on the token, signed by its private key. --import
also stores it on the token with the key's label and id (and prints its URI on standard error).

examples:
  keyward cert self-sign 'pkcs11:token=dev;object=tls' --subject CN=device-42 --san dns:device-42.local --days 825 --import --out tls.crt
  keyward cert self-sign 'pkcs11:token=dev;object=fw-sign' --subject CN=fw-signer --eku codeSigning --out signer.crt
  openssl x509 -in tls.crt -noout -text`).withToken().withPIN()
	subject, san, out, format, pss := certFlags(f)
	days := f.Int("days", 365, "validity in days")
	isCA := f.Bool("ca", false, "a CA certificate (basic constraints CA, key usage cert sign)")
	doImport := f.Bool("import", false, "store the certificate on the token with the key's label and id")
	kuFlag := f.String("key-usage", "", "key usages, comma-separated ("+names(keyUsageNames)+"); default digitalSignature (+keyEncipherment for RSA, +keyCertSign,cRLSign with --ca)")
	ekuFlag := f.String("eku", "", "extended key usages, comma-separated ("+names(extKeyUsageNames)+"), e.g. codeSigning for RAUC and swupdate signers")
	f.check(func() error {
		if *format != "pem" && *format != "der" {
			return usagef("cert self-sign: --format must be pem or der")
		}
		if *days <= 0 || *days > 100*366 {
			return usagef("cert self-sign: --days must be between 1 and 36600")
		}
		return nil
	})
	u, _, err := f.parseURIArgs(args[1:], 1, 1, "keyward cert self-sign URI --subject SUBJECT")
	if err != nil {
		return err
	}
	name, alt, err := parseNames(*subject, *san)
	if err != nil {
		return err
	}
	ku, err := parseKeyUsage(*kuFlag)
	if err != nil {
		return err
	}
	eku, err := parseEKU(*ekuFlag)
	if err != nil {
		return err
	}
	s, o, signer, err := c.tokenSigner(f, u, *doImport)
	if err != nil {
		return err
	}
	defer s.close()
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: name, NotBefore: now.Add(-5 * time.Minute), NotAfter: now.Add(time.Duration(*days) * 24 * time.Hour),
		DNSNames: alt.dns, IPAddresses: alt.ips, EmailAddresses: alt.emails, URIs: alt.uris,
		KeyUsage: x509.KeyUsageDigitalSignature, BasicConstraintsValid: true, IsCA: *isCA,
		SignatureAlgorithm: sigAlgorithm(signer.Public(), *pss),
	}
	if _, ok := signer.Public().(*rsa.PublicKey); ok {
		tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment
	}
	if *isCA {
		tmpl.KeyUsage |= x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	}
	if *kuFlag != "" {
		tmpl.KeyUsage = ku
	}
	tmpl.ExtKeyUsage = eku
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, signer.Public(), signer)
	if err != nil {
		return ckErr("creating the certificate", err)
	}
	if *doImport {
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return failf("cert self-sign: %v", err)
		}
		if _, err := s.cl.CreateObject(s.h, certTemplate(cert, o.label, o.id)); err != nil {
			return ckErr("storing the certificate", err)
		}
		fmt.Fprintf(c.stderr, "keyward: stored %s\n", objectURI(s.tok, o.label, p11uri.TypeCert, o.id))
	}
	return c.writeDER(*out, *format, "CERTIFICATE", der)
}
