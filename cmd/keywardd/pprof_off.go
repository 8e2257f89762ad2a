//go:build !pprof

package main

import "log/slog"

// pprofBuilt reports whether --pprof is available: only in builds with the pprof tag (pprof.go).
const pprofBuilt = false

// startPprof is not built in; parse refuses --pprof before it could be called.
func startPprof(string, *slog.Logger) {}
