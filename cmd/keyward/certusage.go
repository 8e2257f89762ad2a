package main

import (
	"crypto/x509"
	"sort"
	"strings"
)

// Certificate key usage and extended key usage options (cert self-sign --key-usage, --eku), by their
// RFC 5280 names as OpenSSL spells them: RAUC and swupdate want a codeSigning signer.

var keyUsageNames = map[string]x509.KeyUsage{
	"digitalSignature": x509.KeyUsageDigitalSignature, "nonRepudiation": x509.KeyUsageContentCommitment,
	"contentCommitment": x509.KeyUsageContentCommitment, "keyEncipherment": x509.KeyUsageKeyEncipherment,
	"dataEncipherment": x509.KeyUsageDataEncipherment, "keyAgreement": x509.KeyUsageKeyAgreement,
	"keyCertSign": x509.KeyUsageCertSign, "cRLSign": x509.KeyUsageCRLSign,
}

var extKeyUsageNames = map[string]x509.ExtKeyUsage{
	"serverAuth": x509.ExtKeyUsageServerAuth, "clientAuth": x509.ExtKeyUsageClientAuth,
	"codeSigning": x509.ExtKeyUsageCodeSigning, "emailProtection": x509.ExtKeyUsageEmailProtection,
	"timeStamping": x509.ExtKeyUsageTimeStamping, "OCSPSigning": x509.ExtKeyUsageOCSPSigning,
}

func names[V any](m map[string]V) string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

// lookupFold finds a name case-insensitively.
func lookupFold[V any](m map[string]V, name string) (V, bool) {
	for k, v := range m {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	var zero V
	return zero, false
}

// parseKeyUsage parses a comma-separated --key-usage list.
func parseKeyUsage(s string) (x509.KeyUsage, error) {
	var ku x509.KeyUsage
	for _, n := range strings.Split(s, ",") {
		if n = strings.TrimSpace(n); n == "" {
			continue
		}
		v, ok := lookupFold(keyUsageNames, n)
		if !ok {
			return 0, usagef("unknown key usage %q (%s)", n, names(keyUsageNames))
		}
		ku |= v
	}
	return ku, nil
}

// parseEKU parses a comma-separated --eku list.
func parseEKU(s string) ([]x509.ExtKeyUsage, error) {
	var out []x509.ExtKeyUsage
	for _, n := range strings.Split(s, ",") {
		if n = strings.TrimSpace(n); n == "" {
			continue
		}
		v, ok := lookupFold(extKeyUsageNames, n)
		if !ok {
			return nil, usagef("unknown extended key usage %q (%s)", n, names(extKeyUsageNames))
		}
		out = append(out, v)
	}
	return out, nil
}
