package main

import (
	"strings"
	"testing"
)

// TestSubcommands pins the command groups' dispatch: a missing or unknown subcommand is one line naming
// the choices (exit 2), and -h, --help and help print the group's usage on stdout (exit 0).
func TestSubcommands(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"token"}, "keyward: token: missing subcommand (list, info, init or delete)"},
		{[]string{"token", "nope"}, `keyward: token: unknown subcommand "nope" (list, info, init or delete)`},
		{[]string{"pin"}, "keyward: pin: missing subcommand (init, change or unlock)"},
		{[]string{"pin", "reset"}, `keyward: pin: unknown subcommand "reset" (init, change or unlock)`},
		{[]string{"key"}, "keyward: key: missing subcommand (generate)"},
		{[]string{"key", "make"}, `keyward: key: unknown subcommand "make" (generate)`},
		{[]string{"data"}, "keyward: data: missing subcommand (put, get)"},
		{[]string{"data", "del"}, `keyward: data: unknown subcommand "del" (put, get)`},
	} {
		r := kw(t, nil, tc.args...)
		if r.code != exitUsage || r.stderr != tc.want+"\n" || r.stdout != "" {
			t.Errorf("keyward %s: exit %d, stdout %q, stderr %q; want exit %d, %q", strings.Join(tc.args, " "), r.code, r.stdout, r.stderr, exitUsage, tc.want)
		}
	}
	for _, tc := range []struct {
		group, want string
	}{
		{"token", "usage: keyward token list|info|init ...\n"},
		{"pin", "usage: keyward pin init|change|unlock [--token LABEL] ...\n"},
		{"key", "usage: keyward key generate --type TYPE --label LABEL [--id HEX] [flags]\n\nkey types:"},
		{"data", "usage: keyward data put FILE --label LABEL [--application A] [--private] | keyward data get URI [--out FILE]\n"},
	} {
		for _, h := range []string{"-h", "--help", "help"} {
			r := kw(t, nil, tc.group, h)
			if r.code != exitOK || !strings.HasPrefix(r.stdout, tc.want) || r.stderr != "" {
				t.Errorf("keyward %s %s: exit %d, stdout %q, stderr %q; want the usage %q", tc.group, h, r.code, r.stdout, r.stderr, tc.want)
			}
		}
	}
	// key generate's alias
	if r := kw(t, nil, "key", "gen", "--help"); r.code != exitOK || !strings.HasPrefix(r.stdout, "usage: keyward key generate") {
		t.Errorf("keyward key gen --help: %+v", r)
	}
}
