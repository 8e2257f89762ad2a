package main

import (
	"bytes"
	"strings"
	"testing"
)

func cellOf(v float64, ops int, seconds float64, rounds ...float64) *cell {
	c := valueCell(v)
	c.Ops, c.Seconds, c.Rounds = ops, seconds, rounds
	return c
}

// TestTargets checks each target's verdict: the ratio against SoftHSMv2 or against Go, met only at or above the
// wanted ratio, "not measured" without a number, and the Go floor only for single-threaded rows whose Go limit
// takes 20 µs or more in its fastest round.
func TestTargets(t *testing.T) {
	b := &bench{cfg: &config{}, index: map[string]*row{}, limits: map[string]*cell{}}
	for _, l := range []string{"softhsm2", "keyward"} {
		b.mods = append(b.mods, &module{moduleSpec: moduleSpec{label: l}})
	}
	add := func(name, unit string, threads int, soft, kw *cell, limit *cell) {
		r := b.row(name, unit)
		r.Threads = threads
		r.Values["softhsm2"], r.Values["keyward"] = soft, kw
		if limit != nil {
			r.Limit, r.LimitWhat = limit, "go"
		}
	}
	// 30 µs per op in Go (1,000 ops in 30 ms): the Go floor applies; keyward is 0.4x Go.
	add(rowLenqECDSA, uOps, 0, valueCell(10000), valueCell(12000), cellOf(30000, 1000, 0.03))
	add(rowLenqECDSA2, uOps, 2, valueCell(10000), valueCell(14000), cellOf(60000, 1000, 0.0166))
	add(rowLenqEd25519, uOps, 0, valueCell(5000), valueCell(15000), cellOf(55000, 1000, 0.0182)) // 18 µs: no Go floor
	// The mean is 25 µs but the fastest round is twice the median: 12.5 µs, no Go floor.
	add(rowLenqHMAC, uOps, 0, valueCell(20000), valueCell(9000), cellOf(40000, 1000, 0.025, 20000, 40000, 80000))
	add(rowLenqGCM, uMBs, 0, valueCell(20), valueCell(9.99), cellOf(800, 1000, 0.001)) // 0.4995x prints as 0.50x
	add(rowTLS13, uOps, 4, valueCell(900), naCell("s_server exited"), cellOf(1000, 1000, 1))
	add("rsa2048 sign pkcs1 sha256", uOps, 0, valueCell(1500), valueCell(1000), cellOf(1100, 100, 0.09))
	add("C_GetSessionInfo (round trip)", uUS, 0, valueCell(2), valueCell(35), cellOf(30, 1000, 0.03))
	b.evalTargets()

	want := map[string]string{
		"ECDSA P-256 sign, length query, single-threaded: keyward/softhsm2 >= 1.0x": "met",    // 1.2x
		"ECDSA P-256 sign, length query, 2 threads: keyward/softhsm2 >= 1.5x":       "missed", // 1.4x
		"Ed25519 sign, length query: keyward/softhsm2 >= 3.0x":                      "met",    // exactly 3x
		"HMAC-SHA256 1 KiB, length query: keyward/softhsm2 >= 0.5x":                 "missed", // 0.45x
		"AES-256-GCM 1 KiB, length query: keyward/softhsm2 >= 0.5x":                 "met",    // 0.50x as printed
		"TLS 1.3 handshakes, s_server + libp11: keyward/softhsm2 >= 1.0x":           "not measured",
		"ecdsa p256 sign (raw), length query (Go 30 µs): keyward/Go >= 0.5x":        "missed", // 0.4x
		"rsa2048 sign pkcs1 sha256 (Go 900 µs): keyward/Go >= 0.5x":                 "met",    // 0.91x
	}
	got := map[string]string{}
	for _, r := range b.targets {
		got[r.Target] = r.Status
		if r.Module != "keyward" {
			t.Errorf("%s: module %q", r.Target, r.Module)
		}
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %q, want %q", k, got[k], v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected target %q", k)
		}
	}
	var out bytes.Buffer
	b.printTargets(&out)
	if !strings.Contains(out.String(), "4 of 8 met") || !strings.Contains(out.String(), "not measured") {
		t.Errorf("targets section:\n%s", out.String())
	}
}
