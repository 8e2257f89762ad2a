package interop

import (
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// Round trips per application call pattern (issue 15): libkeyward.so with KEYWARD_TRACE=FILE appends a line per
// round trip to FILE, the names of the calls its write carried ("OperationEnd+OperationInitData"). The
// scenarios count the round trips that carried an operation's data call (C_Sign, C_Encrypt ...: OperationSingle
// or OperationInitData) and want one per signature: a length query followed by the call (miekg/pkcs11 under
// crypto11, PyKCS11, GnuTLS) is answered from the output the length query brought (docs/protocol.md, "Kept
// output"), and programs that size their buffer (pkcs11-tool, libp11, NSS) make one call.

var traceCount atomic.Int64

// roundTripTrace returns the environment entry that makes libkeyward.so trace its round trips into a new file
// of dir, and a function that reads the lines written so far.
func roundTripTrace(t *testing.T, dir string) (env string, lines func() []string) {
	t.Helper()
	p := filepath.Join(dir, "trace-"+strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())+"-"+
		string(rune('a'+traceCount.Add(1)%26)))
	os.Remove(p)
	return "KEYWARD_TRACE=" + p, func() []string {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("the round-trip trace %s: %v (KEYWARD_TRACE not honoured?)", p, err)
		}
		return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	}
}

// dataTrips counts the round trips that carried an operation's data call.
func dataTrips(lines []string) int {
	n := 0
	for _, l := range lines {
		for _, c := range strings.Split(l, "+") {
			if c == "OperationSingle" || c == "OperationInitData" {
				n++
				break
			}
		}
	}
	return n
}

// wantDataTrips fails the test unless the trace shows want data round trips (one per signature).
func wantDataTrips(t *testing.T, what string, lines []string, want int) {
	t.Helper()
	if got := dataTrips(lines); got != want {
		t.Errorf("%s: %d round trips carried a data call, want %d (one per signature); the trace:\n%s", what, got,
			want, strings.Join(lines, "\n"))
	} else {
		t.Logf("%s: %d round trips in all, %d with a data call", what, len(lines), got)
	}
}

// TestRoundTripsPkcs11Tool counts the round trips of `pkcs11-tool --sign` (OpenSC), ECDSA and RSA: the
// program sizes its buffer, so the signature is one call and one round trip.
func TestRoundTripsPkcs11Tool(t *testing.T) {
	const sc = "14 pkcs11-tool round trips"
	daemon(t)
	tool := program(t, "pkcs11-tool")
	version := func() string { return "pkcs11-tool (opensc " + debVersion("opensc") + ")" }
	tk := newToken(t, "roundtrips")
	tk.genKey(t, "EC:prime256v1", "rt-ec", "e1")
	tk.genKey(t, "rsa:2048", "rt-rsa", "e2")
	dir := tmpDir(t)
	in := writeFile(t, dir, "data.txt", []byte("signed by pkcs11-tool\n"), 0o644)
	mod, spyEnv := moduleFor(t, "pkcs11-tool-sign")
	step(t, sc, "pkcs11-tool --sign (ECDSA-SHA256, SHA256-RSA-PKCS)", "pkcs11-tool", version, func(t *testing.T) {
		for _, k := range []struct{ label, id, mech string }{{"rt-ec", "e1", "ECDSA-SHA256"}, {"rt-rsa", "e2", "SHA256-RSA-PKCS"}} {
			trace, traced := roundTripTrace(t, dir)
			mustRun(t, runOpts{env: append(spyEnv, trace)}, tool, "--module", mod, "--token-label", tk.label, "--login",
				"--pin", userPIN, "--sign", "--mechanism", k.mech, "--id", k.id, "--input-file", in,
				"--output-file", filepath.Join(dir, k.label+".sig"))
			wantDataTrips(t, "pkcs11-tool --sign "+k.mech, traced(), 1)
		}
	})
}
