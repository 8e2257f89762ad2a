package main

import (
	"strings"
	"testing"
)

// TestCommandLines pins the prologue every command shares (parseArgs, parseURIArgs): a wrong number of
// positional arguments, a flag check and a malformed URI are one line in words, exit 2, in that order.
func TestCommandLines(t *testing.T) {
	const notURI = `keyward: "no-uri" is not a pkcs11: URI (for example pkcs11:token=dev;object=mykey;type=private)`
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"show"}, "keyward: show: missing argument (usage: keyward show URI)"},
		{[]string{"show", "pkcs11:object=a", "extra"}, `keyward: show: unexpected argument "extra" (usage: keyward show URI)`},
		{[]string{"show", "no-uri"}, notURI},
		{[]string{"sign"}, "keyward: sign: missing argument (usage: keyward sign URI)"},
		{[]string{"sign", "no-uri"}, notURI},
		{[]string{"verify", "pkcs11:object=a", "b"}, `keyward: verify: unexpected argument "b" (usage: keyward verify URI --signature FILE)`},
		{[]string{"encrypt"}, "keyward: encrypt: missing argument (usage: keyward encrypt URI)"},
		{[]string{"decrypt", "no-uri"}, notURI},
		{[]string{"digest", "a", "b"}, `keyward: digest: unexpected argument "b" (usage: keyward digest [FILE])`},
		{[]string{"csr"}, "keyward: csr: missing argument (usage: keyward csr URI --subject SUBJECT)"},
		{[]string{"cert", "self-sign", "no-uri"}, notURI},
		{[]string{"cert", "self-sign"}, "keyward: cert self-sign: missing argument (usage: keyward cert self-sign URI --subject SUBJECT)"},
		{[]string{"derive", "no-uri", "--peer", "p.pem", "--label", "x"}, notURI},
		// A flag check comes before the URI.
		{[]string{"derive", "no-uri"}, "keyward: derive: --peer and --label are required"},
		{[]string{"sign", "no-uri", "--format", "pem"}, "keyward: sign: --format must be der or raw"},
		{[]string{"verify", "no-uri"}, "keyward: verify: --signature FILE is required"},
		{[]string{"csr", "no-uri", "--format", "raw"}, "keyward: csr: --format must be pem or der"},
		{[]string{"cert", "self-sign", "no-uri", "--days", "0"}, "keyward: cert self-sign: --days must be between 1 and 36600"},
		{[]string{"wrap", "no-uri"}, "keyward: wrap: --with WRAPPING-URI is required"},
		{[]string{"wrap"}, "keyward: wrap: missing argument (usage: keyward wrap URI --with WRAPPING-URI)"},
		{[]string{"unwrap"}, "keyward: unwrap: missing argument (usage: keyward unwrap FILE --with WRAPPING-URI --label LABEL)"},
		{[]string{"export", "no-uri"}, notURI},
		{[]string{"import"}, "keyward: import: missing argument (usage: keyward import FILE)"},
		{[]string{"delete", "no-uri"}, notURI},
		{[]string{"set"}, "keyward: set: missing argument (usage: keyward set URI --label LABEL)"},
		{[]string{"data", "get", "no-uri"}, notURI},
		{[]string{"data", "put"}, "keyward: data put: missing argument (usage: keyward data put FILE --label LABEL)"},
		{[]string{"random"}, "keyward: random: missing argument (usage: keyward random N)"},
		{[]string{"list", "no-uri"}, notURI},
		{[]string{"list", "pkcs11:", "x"}, `keyward: list: unexpected argument "x" (usage: keyward list [URI])`},
		{[]string{"key", "generate", "no-uri"}, notURI},
		{[]string{"token", "info", "pkcs11:", "x"}, `keyward: token info: unexpected argument "x" (usage: keyward token info [URI])`},
		{[]string{"token", "list", "x"}, `keyward: token list: unexpected argument "x" (usage: keyward token list)`},
		{[]string{"token", "init", "x"}, `keyward: token init: unexpected argument "x" (usage: keyward token init --label LABEL)`},
		{[]string{"pin", "change", "no-uri"}, notURI},
		{[]string{"pin", "init", "pkcs11:", "x"}, `keyward: pin init: unexpected argument "x" (usage: keyward pin init [URI])`},
		{[]string{"slots", "x"}, `keyward: slots: unexpected argument "x" (usage: keyward slots)`},
		{[]string{"mechanisms", "a", "b"}, `keyward: mechanisms: unexpected argument "b" (usage: keyward mechanisms [FILTER])`},
		{[]string{"config", "x"}, `keyward: config: unexpected argument "x" (usage: keyward config)`},
		{[]string{"backup"}, "keyward: backup: missing argument (usage: keyward backup FILE)"},
		{[]string{"restore"}, "keyward: restore: missing argument (usage: keyward restore FILE --store DIR)"},
		{[]string{"provision", "a", "b"}, `keyward: provision: unexpected argument "b" (usage: keyward provision MANIFEST)`},
	} {
		r := kw(t, nil, tc.args...)
		if r.code != exitUsage || r.stderr != tc.want+"\n" {
			t.Errorf("keyward %s: exit %d, stderr %q; want exit %d, %q", strings.Join(tc.args, " "), r.code, r.stderr, exitUsage, tc.want)
		}
		if r.stdout != "" {
			t.Errorf("keyward %s: stdout %q", strings.Join(tc.args, " "), r.stdout)
		}
	}
}
