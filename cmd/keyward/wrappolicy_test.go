package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/keyward/keyward/pkg/client"
	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// TestTokenInitWrapPolicy checks that --wrap-policy reaches the token: a sensitive key generated on a spec
// token reports CKA_WRAP_WITH_TRUSTED FALSE, on a default (trusted-only) token TRUE; a bad name is refused.
func TestTokenInitWrapPolicy(t *testing.T) {
	fails(t, kw(t, nil, "token", "init", "--label", "wp-bad", "--wrap-policy", "loose"), 2, "--wrap-policy")
	for _, tc := range []struct {
		label, flag string
		wwt         bool
	}{{"wp-spec", "spec", false}, {"wp-default", "", true}} {
		env := map[string]string{"KEYWARD_SO_PIN": "so-" + tc.label + "-pin"}
		args := []string{"token", "init", "--label", tc.label}
		if tc.flag != "" {
			args = append(args, "--wrap-policy", tc.flag)
		}
		initMu.Lock()
		ok(t, env, args...)
		initMu.Unlock()
		if got := sensitiveKeyWWT(t, tc.label, env["KEYWARD_SO_PIN"]); got != tc.wwt {
			t.Fatalf("%s: CKA_WRAP_WITH_TRUSTED %v, want %v", tc.label, got, tc.wwt)
		}
	}
}

// TestProvisionWrapPolicy checks a manifest's wrap-policy: spec reaches the token it creates, a bad name is
// refused before anything changes.
func TestProvisionWrapPolicy(t *testing.T) {
	dir := t.TempDir()
	so := writeFileIn(t, dir, "so.pin", []byte("prov-wp-so-pin\n"))
	user := writeFileIn(t, dir, "user.pin", []byte("prov-wp-user\n"))
	manifest := func(policy string) string {
		return writeFileIn(t, dir, policy+".json", []byte(`{"tokens": [{"label": "prov-wp-`+policy+`", "so-pin-source": "`+so+
			`", "pin-source": "`+user+`", "wrap-policy": "`+policy+`"}]}`))
	}
	fails(t, kw(t, nil, "provision", manifest("loose")), 2, "wrap-policy")
	initMu.Lock()
	r := kw(t, nil, "provision", manifest("spec"))
	initMu.Unlock()
	if r.code != 0 {
		t.Fatalf("provision: %+v", r)
	}
	if sensitiveKeyWWT(t, "prov-wp-spec", "prov-wp-so-pin") {
		t.Fatal("a token provisioned with wrap-policy spec enforces CKA_WRAP_WITH_TRUSTED on every sensitive key")
	}
}

// sensitiveKeyWWT generates a sensitive AES key on the token labelled label (as its SO) and returns its
// CKA_WRAP_WITH_TRUSTED.
func sensitiveKeyWWT(t *testing.T, label, soPIN string) bool {
	t.Helper()
	cl, err := client.Dial(harness.socket)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	slots, err := cl.GetSlotList(true)
	if err != nil {
		t.Fatal(err)
	}
	var slot ck.SlotID
	found := false
	for _, sl := range slots {
		if ti, err := cl.GetTokenInfo(sl); err == nil && strings.TrimRight(string(ti.Label[:]), " ") == label {
			slot, found = sl, true
		}
	}
	if !found {
		t.Fatalf("token %q not found", label)
	}
	s, err := cl.OpenSession(slot, ck.CKF_SERIAL_SESSION|ck.CKF_RW_SESSION)
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.Login(s, ck.CKU_SO, []byte(soPIN)); err != nil {
		t.Fatal(err)
	}
	// The SO makes public session objects only; a sensitive key shows the policy as well.
	k, err := cl.GenerateKey(s, &ck.Mechanism{Type: ck.CKM_AES_KEY_GEN}, []ck.Attribute{ck.NewAttribute(ck.CKA_VALUE_LEN, 32),
		ck.NewAttribute(ck.CKA_PRIVATE, false), ck.NewAttribute(ck.CKA_SENSITIVE, true)})
	if err != nil {
		t.Fatalf("%s: GenerateKey: %v", label, err)
	}
	res, err := cl.GetAttributeValue(s, k, ck.Query(1, ck.CKA_WRAP_WITH_TRUSTED))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(res[0].Value, []byte{1})
}
