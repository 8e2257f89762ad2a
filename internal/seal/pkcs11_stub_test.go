//go:build !seal_pkcs11

package seal

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// TestPKCS11NotBuilt: without the seal_pkcs11 build tag a configured pkcs11 seal is a clear error, never a
// key file.
func TestPKCS11NotBuilt(t *testing.T) {
	o := Options{Backend: BackendPKCS11, KeyPath: filepath.Join(t.TempDir(), "root.key")}
	if _, err := Load(o); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "-tags seal_pkcs11") {
		t.Fatalf("err = %v", err)
	}
	if ents := listDir(o.KeyPath); len(ents) != 0 {
		t.Fatalf("files written: %v", ents)
	}
}
