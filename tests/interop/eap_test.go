package interop

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

func init() {
	packageOf["eapol_test"] = "eapoltest"
	packageOf["hostapd"] = "hostapd"
}

// freeUDPPort returns a UDP port on 127.0.0.1 that was free a moment ago.
func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// Scenario 8: wpa_supplicant. EAP-TLS with `eapol_test` (wpa_supplicant's EAPOL/RADIUS test client, Debian
// package eapoltest) against hostapd's integrated RADIUS/EAP server on 127.0.0.1 (driver=none, eap_server=1, a
// radius_server_clients file, an eap_user_file with the TLS identity, the server's key in a file, and the
// token key's self-signed certificate as the CA it trusts for clients). The supplicant's private key is in the
// token, loaded through libp11's pkcs11 engine as OpenSSL's configuration (OPENSSL_CONF: engine section with
// MODULE_PATH = libkeyward.so) defines it. wpa_supplicant's own pkcs11_engine_path/pkcs11_module_path settings
// are not used: Debian's wpa_supplicant 2.10 loads those only from a realpath under /usr/lib/ ("Not in trusted
// path /usr/lib/"), so they work for an installed libkeyward.so but not for the build tree's. The network block:
//   - the classic form: engine=1, engine_id="pkcs11", key_id="pkcs11:token=..;object=..;type=private", pin="..."
//   - the short form: private_key="pkcs11:...?pin-value=.." (wpa_supplicant selects the engine by itself for a
//     pkcs11: URI; the PIN must be in the URI: private_key_passwd is not handed to the engine as the PIN).
//
// Success: eapol_test reports SUCCESS: hostapd accepted the EAP-TLS authentication (Access-Accept) and both sides
// derived the same keys ("MPPE keys OK: 1  mismatch: 0"). RSA and EC keys.
func TestWPASupplicant(t *testing.T) {
	const sc = "8 wpa_supplicant"
	daemon(t)
	eapolTest := program(t, "eapol_test")
	hostapd := program(t, "hostapd")
	version := func() string {
		v := progVersion("eapol_test")
		if e := debVersion("libengine-pkcs11-openssl"); e != "" {
			v += " + libp11 " + e
		}
		return v + ", " + progVersion("hostapd")
	}
	tk := newToken(t, "wpa")
	keys := []struct{ label, id, kind, keyType string }{
		{"eap-rsa", "91", "RSA", "rsa:2048"},
		{"eap-ec", "92", "EC", "EC:prime256v1"},
	}
	dir := tmpDir(t)
	var bundle []byte
	certs := map[string]string{}
	for _, k := range keys {
		tk.genKey(t, k.keyType, k.label, k.id)
		path, _ := tk.tokenCert(t, dir, k.label, "keyward-eap-"+k.kind)
		certs[k.label] = path
		bundle = append(bundle, readFile(t, path)...)
	}
	clientCAs := writeFile(t, dir, "client-cas.pem", bundle, 0o644)
	srvCert, srvKey := fileKeyCert(t, dir, "radius", "keyward-radius")
	const secret = "keyward-radius-secret"

	mod, spyEnv := moduleFor(t, "wpa_supplicant")
	env := append([]string{"OPENSSL_CONF=" + opensslEngineConf(t, dir, mod)}, spyEnv...)

	// hostapd as a RADIUS/EAP server only.
	port := freeUDPPort(t)
	clients := writeFile(t, dir, "radius_clients", []byte("127.0.0.1/32 "+secret+"\n"), 0o600)
	users := writeFile(t, dir, "eap_users", []byte("\"keyward-eap-RSA\" TLS\n\"keyward-eap-EC\" TLS\n"), 0o600)
	hcfg := writeFile(t, dir, "hostapd.conf", []byte(fmt.Sprintf(`# keyward interop test: hostapd as a RADIUS EAP-TLS server on loopback
driver=none
logger_stdout=-1
logger_stdout_level=1
radius_server_clients=%s
radius_server_auth_port=%d
radius_server_ipv6=0
eap_server=1
eap_user_file=%s
ca_cert=%s
server_cert=%s
private_key=%s
`, clients, port, users, clientCAs, srvCert, srvKey)), 0o644)
	hsrv := startServer(t, nil, hostapd, "-d", hcfg)
	// Its RADIUS socket is UDP: wait for its log to say it is up.
	if !waitLog(hsrv, "Setup of interface done.", readyTimeout) {
		t.Fatalf("hostapd did not finish its setup within %v:\n%s", readyTimeout, hsrv.output())
	}

	run := func(t *testing.T, label, kind string, keyLines string) {
		t.Helper()
		conf := writeFile(t, tmpDir(t), "eapol_test.conf", []byte(fmt.Sprintf(`# keyward interop test: EAP-TLS with the private key in a token
network={
    key_mgmt=WPA-EAP
    eap=TLS
    identity="keyward-eap-%s"
    ca_cert="%s"
    client_cert="%s"
%s
}
`, kind, srvCert, certs[label], keyLines)), 0o600)
		r := execProg(t, runOpts{env: env, timeout: 40 * time.Second}, eapolTest, "-c", conf, "-a", "127.0.0.1",
			"-p", strconv.Itoa(port), "-s", secret, "-t", "20", "-r", "0")
		if r.err != nil || !strings.Contains(r.stdout, "\nSUCCESS") {
			t.Fatalf("eapol_test with the token key did not report SUCCESS:\n%s\n--- hostapd:\n%s", r, hsrv.output())
		}
		mustContain(t, r, r.stdout, "CTRL-EVENT-EAP-SUCCESS", "MPPE keys OK: 1  mismatch: 0")
	}

	step(t, sc, "eapol_test EAP-TLS, engine=1 engine_id=pkcs11 key_id=pkcs11: URI (RSA, EC)", "eapol_test", version, func(t *testing.T) {
		for _, k := range keys {
			t.Run(k.kind, func(t *testing.T) {
				run(t, k.label, k.kind, fmt.Sprintf("    engine=1\n    engine_id=\"pkcs11\"\n    key_id=\"%s\"\n    pin=\"%s\"",
					tk.uri(k.label), userPIN))
			})
		}
	})

	step(t, sc, "eapol_test EAP-TLS, private_key=pkcs11: URI with pin-value (RSA, EC)", "eapol_test", version, func(t *testing.T) {
		for _, k := range keys {
			t.Run(k.kind, func(t *testing.T) {
				run(t, k.label, k.kind, fmt.Sprintf("    private_key=\"%s\"", tk.uriPIN(k.label)))
			})
		}
	})
}
