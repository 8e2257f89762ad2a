package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary serve as the -child-load child of the load and RSS measurement.
func TestMain(m *testing.M) {
	if len(os.Args) == 3 && os.Args[1] == "-child-load" {
		os.Exit(childLoad(os.Args[2], os.Stdout))
	}
	if len(os.Args) == 2 && os.Args[1] == "-child-echo" {
		os.Exit(childEcho())
	}
	os.Exit(m.Run())
}

func repoRoot(t *testing.T) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal(errors.New("no go.mod above the working directory"))
		}
		dir = parent
	}
}

// TestSmoke runs every workload once (or for a millisecond) against libkeyward.so and a private keywardd, and
// checks only that it runs and writes JSON and a PNG: no timing is asserted.
func TestSmoke(t *testing.T) {
	bd := os.Getenv("KEYWARD_BUILD")
	if bd == "" {
		bd = filepath.Join(repoRoot(t), "build")
	}
	daemon, lib := filepath.Join(bd, "keywardd"), filepath.Join(bd, "libkeyward.so")
	for _, p := range []string{daemon, lib} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s is missing (%v): run `make build` or set KEYWARD_BUILD", p, err)
		}
	}
	base, err := os.MkdirTemp("", "kwbt-") // short: a socket path is limited to 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(base)
	sock := filepath.Join(base, "kw.sock")
	cmd := exec.Command(daemon, "--user", "--store", filepath.Join(base, "store"), "--root-key",
		filepath.Join(base, "root.key"), "--socket", sock, "--idle-exit", "0", "--kdf", "fast",
		"--log", filepath.Join(base, "keywardd.log"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("unix", sock)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("keywardd did not serve %s: %v", sock, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Setenv("KEYWARD_SOCKET", sock)
	t.Setenv("KEYWARD_AUTOSTART", "0")

	jsonOut, pngOut := filepath.Join(base, "r.json"), filepath.Join(base, "r.png")
	var stdout, stderr bytes.Buffer
	code := run([]string{"-module", lib + ",keyward", "-daemon-pid", "0", "-duration", "1ms", "-objects", "5,10",
		"-threads", "1,2", "-load-runs", "1", "-rounds", "1", "-json", jsonOut, "-png", pngOut}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	}
	t.Log("\n" + stdout.String())
	var out struct {
		Results []*row `json:"results"`
	}
	data, err := os.ReadFile(jsonOut)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Results) < 30 {
		t.Errorf("only %d result rows", len(out.Results))
	}
	for _, r := range out.Results {
		c := r.Values["keyward"]
		if c == nil {
			t.Errorf("%s: no keyward value", r.Workload)
		} else if c.Value == nil && (len(c.NA) < 3 || c.NA[:3] != "n/a") {
			t.Errorf("%s: %s", r.Workload, c.NA)
		}
	}
	if fi, err := os.Stat(pngOut); err != nil || fi.Size() == 0 {
		t.Errorf("no chart: %v", err)
	}

	// Without libp11's engine the TLS rows through PKCS#11 are n/a with the reason, and the key file's still runs.
	stdout.Reset()
	stderr.Reset()
	code = run([]string{"-module", lib + ",keyward", "-daemon-pid", "0", "-duration", "1ms", "-rounds", "1",
		"-workloads", "tls", "-tls-engine", filepath.Join(base, "no-engine.so"), "-json", jsonOut}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("without the engine: exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), "tls rows through PKCS#11 skipped: n/a: -tls-engine") {
		t.Errorf("without the engine, no reason under the table:\n%s", stdout.String())
	}
	if data, err = os.ReadFile(jsonOut); err != nil {
		t.Fatal(err)
	}
	out.Results = nil
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Results) != 2 {
		t.Fatalf("without the engine: %d rows, want the 2 TLS rows", len(out.Results))
	}
	for _, r := range out.Results {
		if c := r.Values["keyward"]; c == nil || c.Value != nil || !strings.HasPrefix(c.NA, "n/a") {
			t.Errorf("%s without the engine: keyward %+v, want n/a", r.Workload, c)
		}
		if r.Limit == nil || r.Limit.Value == nil {
			t.Errorf("%s without the engine: no key-file value: %+v", r.Workload, r.Limit)
		}
	}
}
