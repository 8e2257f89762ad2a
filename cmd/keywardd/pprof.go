//go:build pprof

package main

import (
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
)

// pprofBuilt reports whether --pprof is available: net/http/pprof costs about 2.4 MB of the binary, so only
// builds with the pprof tag have it (benchmarks and debugging; docs/embedded.md).
const pprofBuilt = true

// startPprof serves the runtime profiles (debug builds and benchmarks only) on a loopback address.
func startPprof(addr string, log *slog.Logger) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Error("cannot serve pprof", "addr", addr, "err", err)
		return
	}
	log.Warn("serving pprof: a debug setting, do not leave it on", "addr", ln.Addr().String())
	go http.Serve(ln, mux)
}
