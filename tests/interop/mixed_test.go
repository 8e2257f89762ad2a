package interop

import (
	"os"
	"path/filepath"
	"testing"
)

// The typical factory layout puts a device's keys of every kind on one token: RSA and EC for TLS next to an
// Ed25519 firmware-signing key, an X25519 key and post-quantum keys. libp11 0.4.12 (Debian 12's OpenSSL
// engine) stops at the first key type it does not know and then finds no key at all, so the shared daemon
// runs with the per-application view of daemonConfig: the programs that load libp11 see only RSA and EC key
// pairs. The OpenSSL, curl and web-server scenarios run on such mixed tokens (addUnusualKeys).

// daemonConfig is the interop daemon's configuration: the recommended view (dist/keywardd.yaml).
const daemonConfig = `views:
  - programs: [openssl, curl, nginx, apache2, wpa_supplicant, eapol_test, hostapd, swupdate, rauc]
    key_types: [rsa, ec]
`

func writeDaemonConfig(dir string) (string, error) {
	p := filepath.Join(dir, "keywardd.yaml")
	return p, os.WriteFile(p, []byte(daemonConfig), 0o600)
}

// addUnusualKeys generates an Ed25519, an X25519, an ML-DSA-65 and an ML-KEM-768 key pair on the token
// with the keyward CLI.
func (tk *token) addUnusualKeys(t *testing.T) {
	t.Helper()
	env := []string{"KEYWARD_SOCKET=" + daemonSocket, "KEYWARD_AUTOSTART=0", "KEYWARD_PIN=" + userPIN}
	for i, typ := range []string{"ed25519", "x25519", "ml-dsa-65", "ml-kem-768"} {
		mustRun(t, runOpts{env: env}, filepath.Join(buildPath, "keyward"), "key", "generate", "--token", tk.label,
			"--type", typ, "--label", "mixed-"+typ, "--id", "e"+string(rune('0'+i)))
	}
}
