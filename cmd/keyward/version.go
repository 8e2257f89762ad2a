package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is the release of keyward (the Makefile's VERSION).
const version = "0.1.0"

// versionText is what keyward --version prints: the release, the source revision when the build recorded
// it, and the Go toolchain.
func versionText() string {
	rev := ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				rev = " " + s.Value[:12]
			}
		}
	}
	return fmt.Sprintf("keyward %s%s (%s %s/%s)", version, rev, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
