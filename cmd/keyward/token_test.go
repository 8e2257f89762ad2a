package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestUsageErrors(t *testing.T) {
	fails(t, kw(t, nil, "frobnicate"), exitUsage, `unknown command "frobnicate"`)
	fails(t, kw(t, nil, "list", "--bogus"), exitUsage, "flag provided but not defined")
	fails(t, kw(t, nil, "show"), exitUsage, "missing argument")
	fails(t, kw(t, nil, "show", "not-a-uri"), exitUsage, "is not a pkcs11: URI")
	fails(t, kw(t, nil, "show", "pkcs11:object=%zz"), exitUsage, "bad URI")
	fails(t, kw(t, nil, "key", "generate", "--type", "rsa:77", "--label", "x"), exitUsage, "unknown key type")
	fails(t, kw(t, nil, "token", "nope"), exitUsage, "unknown subcommand")
	r := kw(t, nil)
	if r.code != exitUsage || !strings.Contains(r.stderr, "exit codes") {
		t.Fatalf("no arguments: %+v", r)
	}
	help := ok(t, nil, "help")
	for _, want := range []string{"exit codes", "3  authentication failure", "4  not found", "key generate"} {
		if !strings.Contains(help, want) {
			t.Errorf("help lacks %q", want)
		}
	}
	if out := ok(t, nil, "key", "generate", "--help"); !strings.Contains(out, "examples:") || !strings.Contains(out, "ml-kem-768") {
		t.Errorf("key generate --help: %q", out)
	}
	if out := ok(t, nil, "help", "sign"); !strings.Contains(out, "usage: keyward sign") {
		t.Errorf("help sign: %q", out)
	}
}

func TestDaemonUnreachable(t *testing.T) {
	r := kw(t, map[string]string{"KEYWARD_SOCKET": filepath.Join(t.TempDir(), "none.sock")}, "slots")
	fails(t, r, exitDaemon, "cannot reach keywardd")
}

func TestTokenAndPINs(t *testing.T) {
	env := newToken(t, "tpin")
	// token list / info / slots
	var toks []tokenJSON
	if err := json.Unmarshal([]byte(ok(t, nil, "token", "list", "--json")), &toks); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, tk := range toks {
		if tk.Label == "tpin" {
			found = true
			if !tk.Initialised || !tk.UserPINSet || tk.Serial == "" || !strings.HasPrefix(tk.URI, "pkcs11:token=tpin;serial=") {
				t.Errorf("token list entry %+v", tk)
			}
		}
	}
	if !found {
		t.Fatalf("token tpin not listed: %+v", toks)
	}
	if out := ok(t, nil, "token", "info", "--token", "tpin"); !strings.Contains(out, "label:") || !strings.Contains(out, "tpin") {
		t.Errorf("token info: %q", out)
	}
	if out := ok(t, nil, "token", "info", "pkcs11:token=tpin"); !strings.Contains(out, "initialised") {
		t.Errorf("token info URI: %q", out)
	}
	if out := ok(t, nil, "slots"); !strings.Contains(out, "tpin") || !strings.Contains(out, "uninitialised") {
		t.Errorf("slots: %q", out)
	}
	fails(t, kw(t, nil, "token", "info", "--token", "no-such-token"), exitNotFound, `no token labelled "no-such-token"`)
	fails(t, kw(t, env, "token", "init", "--label", "tpin"), exitFailed, "exists already")

	// mechanisms
	var mechs []mechJSON
	if err := json.Unmarshal([]byte(ok(t, nil, "mechanisms", "--token", "tpin", "--json")), &mechs); err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, m := range mechs {
		names[m.Name] = true
	}
	for _, want := range []string{"CKM_EC_KEY_PAIR_GEN", "CKM_RSA_PKCS", "CKM_AES_GCM", "CKM_ML_DSA"} {
		if !names[want] {
			t.Errorf("mechanisms lack %s", want)
		}
	}
	if out := ok(t, nil, "mechanisms", "--token", "tpin", "ecdsa"); !strings.Contains(out, "CKM_ECDSA") || strings.Contains(out, "CKM_RSA") {
		t.Errorf("mechanisms ecdsa: %q", out)
	}

	// a wrong PIN is an authentication failure
	fails(t, kw(t, map[string]string{"KEYWARD_PIN": "wrong-pin"}, "key", "generate", "--token", "tpin", "--type", "ec:p256", "--label", "k"),
		exitAuth, "wrong PIN")
	// no PIN and no terminal
	fails(t, kw(t, nil, "key", "generate", "--token", "tpin", "--type", "ec:p256", "--label", "k"), exitAuth, "no user PIN given")

	// pin change with files
	dir := t.TempDir()
	newPIN := filepath.Join(dir, "new.pin")
	os.WriteFile(newPIN, []byte("changed-pin\n"), 0o600)
	ok(t, env, "pin", "change", "--token", "tpin", "--new-pin-source", newPIN)
	fails(t, kw(t, env, "list", "--token", "tpin"), exitAuth, "wrong PIN") // the old PIN no longer works
	ok(t, map[string]string{"KEYWARD_PIN": "changed-pin"}, "list", "--token", "tpin")

	// --pin works but warns
	r := kw(t, nil, "list", "--token", "tpin", "--pin", "changed-pin")
	if r.code != 0 || !strings.Contains(r.stderr, "warning") {
		t.Errorf("--pin: %+v", r)
	}

	// lock the user PIN, then the SO unlocks it
	for i := 0; i < 12; i++ {
		r := kw(t, map[string]string{"KEYWARD_PIN": "bad-pin-value"}, "list", "--token", "tpin")
		if r.code != exitAuth {
			t.Fatalf("wrong PIN %d: %+v", i, r)
		}
		if strings.Contains(r.stderr, "locked") {
			break
		}
	}
	fails(t, kw(t, map[string]string{"KEYWARD_PIN": "changed-pin"}, "list", "--token", "tpin"), exitAuth, "locked")
	if out := ok(t, map[string]string{"KEYWARD_SO_PIN": env["KEYWARD_SO_PIN"], "KEYWARD_NEW_PIN": "unlocked-pin"}, "pin", "unlock", "--token", "tpin"); !strings.Contains(out, "reset") {
		t.Errorf("pin unlock: %q", out)
	}
	ok(t, map[string]string{"KEYWARD_PIN": "unlocked-pin"}, "list", "--token", "tpin")
	fails(t, kw(t, map[string]string{"KEYWARD_SO_PIN": "wrong-so", "KEYWARD_NEW_PIN": "x1234567"}, "pin", "init", "--token", "tpin"), exitAuth, "wrong PIN")
}
