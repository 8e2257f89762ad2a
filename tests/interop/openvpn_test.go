package interop

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

func init() { packageOf["openvpn"] = "openvpn" }

// vpnTimeout bounds an OpenVPN TLS handshake on loopback.
const vpnTimeout = 30 * time.Second

// Scenario 6: OpenVPN 2.6 (pkcs11-helper). A TLS server and a TLS client in point-to-point mode on 127.0.0.1
// (UDP, `--dev null`: no tun device) complete the control-channel handshake with the client's private key in the
// token: `--pkcs11-providers libkeyward.so --pkcs11-id <serialized id>`, the id taken from
// `openvpn --show-pkcs11-ids libkeyward.so`. pkcs11-helper finds identities by their certificate objects, so the
// token key's certificate is stored on the token too (pkcs11-tool --write-object, same CKA_ID).
//
// The token PIN reaches OpenVPN non-interactively through its management interface, as a GUI or NetworkManager
// would give it: `--management 127.0.0.1 <port> --management-query-passwords`, and the test answers the
// ">PASSWORD:Need 'token' password" request with `password "token" <PIN>`. (--askpass is only for a key file's
// passphrase, and the console prompt would read /dev/tty.)
//
// Success: the client logs "Initialization Sequence Completed", and the server logs that it verified the
// client's certificate (its CN) and initiated the connection with it. RSA and EC keys.
func TestOpenVPN(t *testing.T) {
	const sc = "6 OpenVPN"
	daemon(t)
	openvpn := program(t, "openvpn")
	pkcs11Tool := program(t, "pkcs11-tool")
	version := func() string {
		v := progVersion("openvpn", "--version")
		if h := debVersion("libpkcs11-helper1"); h != "" {
			v += " + pkcs11-helper " + h
		}
		return v
	}
	tk := newToken(t, "openvpn")
	keys := []struct{ label, id, kind, keyType string }{
		{"vpn-rsa", "81", "RSA", "rsa:2048"},
		{"vpn-ec", "82", "EC", "EC:prime256v1"},
	}
	dir := tmpDir(t)
	mod, spyEnv := moduleFor(t, "openvpn")
	certs := map[string]string{}
	for _, k := range keys {
		tk.genKey(t, k.keyType, k.label, k.id)
		path, cert := tk.tokenCert(t, dir, k.label, "keyward-vpn-client-"+k.kind)
		certs[k.label] = path
		der := writeFile(t, dir, k.label+"-cert.der", cert.Raw, 0o644)
		mustRun(t, runOpts{env: spyEnv}, pkcs11Tool, "--module", mod, "--token-label", tk.label, "--login", "--pin", userPIN,
			"--write-object", der, "--type", "cert", "--id", k.id, "--label", k.label)
	}
	srvCert, srvKey := fileKeyCert(t, dir, "vpn-server", "keyward-vpn-server")

	// The serialized pkcs11-helper ids, by CKA_ID.
	ids := map[string]string{}
	step(t, sc, "openvpn --show-pkcs11-ids", "openvpn", version, func(t *testing.T) {
		r := mustRun(t, runOpts{env: spyEnv}, openvpn, "--show-pkcs11-ids", mod)
		// Certificate
		//        DN:             O=Keyward interop test, CN=keyward-vpn-client-RSA
		//        Serial:         ...
		//        Serialized id:  Keyward/.../openvpn/81
		var dn string
		for _, line := range strings.Split(r.stdout, "\n") {
			line = strings.TrimSpace(line)
			if v, ok := strings.CutPrefix(line, "DN:"); ok {
				dn = strings.TrimSpace(v)
			}
			if v, ok := strings.CutPrefix(line, "Serialized id:"); ok {
				for _, k := range keys {
					if strings.Contains(dn, "CN=keyward-vpn-client-"+k.kind) {
						ids[k.label] = strings.TrimSpace(v)
					}
				}
			}
		}
		for _, k := range keys {
			if ids[k.label] == "" {
				t.Fatalf("--show-pkcs11-ids does not list the certificate of token key %s:\n%s", k.label, r)
			}
		}
	})

	step(t, sc, "TLS client key in the token (--pkcs11-id), server verifies it (RSA, EC)", "openvpn", version, func(t *testing.T) {
		for _, k := range keys {
			t.Run(k.kind, func(t *testing.T) {
				if ids[k.label] == "" {
					t.Fatal("no pkcs11-id: the --show-pkcs11-ids step failed")
				}
				port := freePort(t)
				common := []string{"--dev", "null", "--proto", "udp4", "--verb", "4", "--data-ciphers", "AES-256-GCM",
					"--script-security", "0", "--connect-retry-max", "1", "--hand-window", "20", "--tls-timeout", "2"}
				srv := startServer(t, nil, openvpn, append(common, "--tls-server", "--dh", "none",
					"--local", "127.0.0.1", "--lport", strconv.Itoa(port),
					"--ca", certs[k.label], "--cert", srvCert, "--key", srvKey)...)
				mport := freePort(t)
				cli := startServer(t, spyEnv, openvpn, append(common, "--tls-client", "--nobind",
					"--remote", "127.0.0.1", strconv.Itoa(port), "--ca", srvCert, "--verify-x509-name", "keyward-vpn-server", "name",
					"--pkcs11-providers", mod, "--pkcs11-id", ids[k.label],
					"--management", "127.0.0.1", strconv.Itoa(mport), "--management-query-passwords")...)
				cli.waitTCP(t, mport)
				answered := make(chan string, 1)
				go answerManagement(fmt.Sprintf("127.0.0.1:%d", mport), userPIN, answered)
				if !waitLog(cli, "Initialization Sequence Completed", vpnTimeout) {
					t.Fatalf("the OpenVPN client did not complete its initialisation within %v (management: %s)\n--- client:\n%s\n--- server:\n%s",
						vpnTimeout, drain(answered), cli.output(), srv.output())
				}
				cn := "CN=keyward-vpn-client-" + k.kind
				if !waitLog(srv, "Peer Connection Initiated with", 10*time.Second) || !strings.Contains(readLog(srv), "VERIFY OK: depth=0, "+cn) &&
					!strings.Contains(readLog(srv), "VERIFY OK: depth=0, O=Keyward interop test, "+cn) {
					t.Fatalf("the OpenVPN server did not verify and accept the client certificate %s\n--- server:\n%s\n--- client:\n%s",
						cn, srv.output(), cli.output())
				}
				for _, line := range strings.Split(readLog(srv), "\n") {
					if strings.Contains(line, "VERIFY OK: depth=0") || strings.Contains(line, "Peer Connection Initiated") {
						t.Logf("server: %s", strings.TrimSpace(line))
					}
				}
				cli.stop()
				srv.stop()
				// The PIN went through the management interface: the key was used after a C_Login.
				select {
				case m := <-answered:
					if !strings.Contains(m, "answered >PASSWORD:Need ") {
						t.Fatalf("the client never asked for the token PIN on its management interface (%s)\n--- client:\n%s", m, cli.output())
					}
					t.Logf("management: %s", m)
				case <-time.After(5 * time.Second):
					t.Fatal("the management connection did not end with the client")
				}
			})
		}
	})
}

// readLog is a server's whole log.
func readLog(s *server) string {
	b, _ := os.ReadFile(s.log)
	return string(b)
}

// waitLog waits until a server's log contains want, or it exits, or the time is up.
func waitLog(s *server, want string, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		if strings.Contains(readLog(s), want) {
			return true
		}
		select {
		case <-s.done:
			return strings.Contains(readLog(s), want)
		default:
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func drain(c chan string) string {
	select {
	case s := <-c:
		return s
	default:
		return "no password request answered yet"
	}
}

var needPassword = regexp.MustCompile(`^>PASSWORD:Need '([^']*)' password`)

// answerManagement connects to an OpenVPN management interface and answers every password request with pin
// until the connection closes (OpenVPN exits) or 60 s pass; it reports what it did on done.
func answerManagement(addr, pin string, done chan<- string) {
	var log []string
	defer func() { done <- strings.Join(log, "; ") }()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		log = append(log, err.Error())
		return
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	sc := bufio.NewScanner(c)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if m := needPassword.FindStringSubmatch(line); m != nil {
			q := strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(m[1])
			fmt.Fprintf(c, "password \"%s\" %s\n", q, pin)
			log = append(log, "answered "+line)
		} else if strings.HasPrefix(line, ">PASSWORD:") || strings.HasPrefix(line, "ERROR") {
			log = append(log, line)
		}
	}
}
