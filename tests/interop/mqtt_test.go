package interop

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/pkg/client"
	"github.com/keyward/keyward/pkg/p11uri"
)

func init() {
	packageOf["mosquitto"] = "mosquitto"
	packageOf["mosquitto_pub"] = "mosquitto-clients"
	packageOf["mosquitto_sub"] = "mosquitto-clients"
}

// Scenario 9: the cloud IoT pattern (AWS IoT Core / Azure IoT Hub style): an MQTT broker (mosquitto, with its
// own configuration) on 127.0.0.1 that requires a client certificate and takes the client's identity from it,
// and a device that publishes over mutual TLS with its identity key in the token, referenced by the seed's URI
// form `pkcs11:token=iot;object=device%20id?pin-value=...` (the key's label has a space). mosquitto_sub, with
// a file key and its own client certificate, must receive the message.
//
// Two device clients. mosquitto_pub with `--keyform engine --tls-engine pkcs11` would load the key through
// libp11's pkcs11 engine (configured with libkeyward.so as its MODULE_PATH in an openssl.cnf named by
// OPENSSL_CONF, as for scenario 4), but Debian 12's mosquitto_pub (2.0.11) refuses a --key that is not a
// file before it gets that far: that step is an expected failure while it does so. The second device is a Go
// client as an IoT SDK would be: pkg/client's Signer for the key named by the seed URI (parsed with
// p11uri.ParseLenient, the label's space unencoded), crypto/tls, and MQTT 3.1.1 CONNECT/PUBLISH by hand.
func TestMQTT(t *testing.T) {
	const sc = "9 IoT MQTT"
	daemon(t)
	broker := program(t, "mosquitto")
	pub := program(t, "mosquitto_pub")
	sub := program(t, "mosquitto_sub")
	version := func() string {
		v := "mosquitto " + debVersion("mosquitto") + ", mosquitto_pub (mosquitto-clients " + debVersion("mosquitto-clients") + ")"
		if e := debVersion("libengine-pkcs11-openssl"); e != "" {
			v += " + libp11 (libengine-pkcs11-openssl " + e + ")"
		}
		return v
	}
	goDeviceVersion := func() string {
		return "Go " + runtime.Version() + " pkg/client + mosquitto " + debVersion("mosquitto") + " (broker, _sub)"
	}
	const deviceLabel = "device id"
	tk := newToken(t, "iot")
	tk.genKey(t, "EC:prime256v1", deviceLabel, "91")
	dir := tmpDir(t)
	deviceCert, _ := tk.tokenCert(t, dir, deviceLabel, "keyward-device")
	subCert, subKey := fileKeyCert(t, dir, "subscriber", "keyward-subscriber")
	brokerCert, brokerKey := fileKeyCert(t, dir, "broker", "localhost")
	// The broker trusts the two client certificates (self-signed: each is its own CA).
	clientCAs := writeFile(t, dir, "client-cas.pem", append(readFile(t, deviceCert), readFile(t, subCert)...), 0o644)

	port := freePort(t)
	brokerLog := filepath.Join(dir, "mosquitto.log") // its stdout is block-buffered
	brokerOutput := func() string { b, _ := os.ReadFile(brokerLog); return trimOut(string(b)) }
	user := ""
	if os.Geteuid() == 0 {
		user = "user root\n" // else mosquitto drops to the mosquitto user, who cannot read the test's files
	}
	conf := writeFile(t, dir, "mosquitto.conf", []byte(fmt.Sprintf(`# Keyward interop test broker: loopback only, client certificates required
%spersistence false
log_dest file %s
log_type all
per_listener_settings false
allow_anonymous false
listener %d 127.0.0.1
cafile %s
certfile %s
keyfile %s
require_certificate true
use_identity_as_username true
tls_version tlsv1.2
`, user, brokerLog, port, clientCAs, brokerCert, brokerKey)), 0o644)
	srv := startServer(t, nil, broker, "-c", conf)
	srv.waitTCP(t, port)

	mod, spyEnv := moduleFor(t, "mqtt")
	env := append([]string{"OPENSSL_CONF=" + opensslEngineConf(t, dir, mod)}, spyEnv...)
	// The seed's URI form: token and object, the object's space percent-encoded, the PIN as pin-value.
	deviceURI := "pkcs11:token=" + tk.label + ";object=device%20id?pin-value=" + userPIN
	tlsArgs := []string{"-h", "localhost", "-p", strconv.Itoa(port), "--cafile", brokerCert, "-V", "mqttv311"}
	topic := "devices/keyward-device/telemetry"

	// publish runs one device client under a subscriber: mosquitto_sub (file key) subscribes first, then
	// publish sends msg to topic as client id device; the subscriber must receive it and the broker must have
	// taken the device's identity from the certificate made for the token key.
	deliver := func(t *testing.T, device string, publish func(t *testing.T, msg string)) {
		t.Helper()
		s := startServer(t, nil, sub, append(tlsArgs, "--cert", subCert, "--key", subKey, "-i", "keyward-subscriber",
			"-t", topic, "-C", "1", "-W", "20", "-v")...)
		mark := len(brokerOutput())
		deadline := time.Now().Add(readyTimeout)
		for !strings.Contains(brokerOutput()[mark:], "Received SUBSCRIBE from keyward-subscriber") {
			if time.Now().After(deadline) {
				t.Fatalf("mosquitto_sub did not subscribe within %v\n--- mosquitto_sub:\n%s\n--- mosquitto:\n%s",
					readyTimeout, s.output(), brokerOutput())
			}
			time.Sleep(20 * time.Millisecond)
		}
		msg := fmt.Sprintf(`{"device":%q,"t":%d}`, device, time.Now().UnixNano())
		publish(t, msg)
		select {
		case <-s.done:
		case <-time.After(cmdTimeout):
			t.Fatalf("mosquitto_sub got no message\n--- mosquitto_sub:\n%s\n--- mosquitto:\n%s", s.output(), brokerOutput())
		}
		if got := s.output(); !strings.Contains(got, topic+" "+msg) {
			t.Fatalf("mosquitto_sub did not receive %q (%v):\n%s\n--- mosquitto:\n%s", msg, s.cmd.ProcessState, got, brokerOutput())
		}
		if log := brokerOutput(); !strings.Contains(log, "as "+device+" (") || !strings.Contains(log, "u'keyward-device'") {
			t.Fatalf("the broker did not log the device %s with its certificate identity:\n%s", device, log)
		}
	}

	step(t, sc, "mosquitto_pub --keyform engine --key pkcs11: URI -> broker -> mosquitto_sub", "mosquitto_pub", version, func(t *testing.T) {
		deliver(t, "keyward-device-pub", func(t *testing.T, msg string) {
			r := execProg(t, runOpts{env: env}, pub, append(tlsArgs, "--cert", deviceCert, "--key", deviceURI,
				"--keyform", "engine", "--tls-engine", "pkcs11", "-i", "keyward-device-pub", "-q", "1", "-t", topic, "-m", msg)...)
			if r.err != nil && strings.Contains(r.stderr, "Problem setting TLS options: File not found") {
				expectedFailure(t, "mosquitto_pub "+debVersion("mosquitto-clients")+" refuses the pkcs11: URI before it "+
					"loads the engine (\"Problem setting TLS options: File not found\"): it opens --key as a file before "+
					"it applies --keyform engine; the Go device client (next step) publishes instead")
			}
			if r.err != nil {
				t.Fatalf("mosquitto_pub with the token key failed:\n%s\n--- mosquitto:\n%s", r, brokerOutput())
			}
		})
	})

	step(t, sc, "Go device client (pkg/client, seed URI) -> broker -> mosquitto_sub", "", goDeviceVersion, func(t *testing.T) {
		// The seed's form as a device configuration holds it: a literal space in the label, hence ParseLenient.
		seed := "pkcs11:token=" + tk.label + ";object=" + deviceLabel + "?pin-value=" + userPIN
		deliver(t, "keyward-device-go", func(t *testing.T, msg string) {
			if err := mqttDevicePublish(seed, deviceCert, brokerCert, "127.0.0.1:"+strconv.Itoa(port),
				"keyward-device-go", topic, msg); err != nil {
				t.Fatalf("the Go device client: %v\n--- mosquitto:\n%s", err, brokerOutput())
			}
		})
	})
}

// mqttDevicePublish is a device client as an IoT SDK would be written in Go: its identity key is on the
// token named by a pkcs11: URI, it connects to the broker over mutual TLS with that key (crypto/tls with a
// pkg/client Signer) and publishes one message with QoS 1 in MQTT 3.1.1 (CONNECT, PUBLISH, DISCONNECT,
// written by hand: a few bytes).
func mqttDevicePublish(uri, certFile, caFile, addr, clientID, topic, msg string) error {
	u, err := p11uri.ParseLenient(uri)
	if err != nil {
		return err
	}
	if u.Token == nil || u.Object == nil || u.PinValue == nil {
		return fmt.Errorf("the URI lacks token, object or pin-value")
	}
	cl, err := client.Dial(daemonSocket)
	if err != nil {
		return err
	}
	defer cl.Close()
	tok, err := cl.OpenToken(*u.Token, []byte(*u.PinValue))
	if err != nil {
		return err
	}
	defer tok.Close()
	signer, err := tok.Signer(client.KeyRef{Label: *u.Object, ID: u.ID})
	if err != nil {
		return err
	}
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return err
	}
	b, _ := pem.Decode(certPEM)
	if b == nil {
		return fmt.Errorf("%s: no PEM certificate", certFile)
	}
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: cmdTimeout}, "tcp", addr, &tls.Config{
		RootCAs: roots, ServerName: "localhost", MinVersion: tls.VersionTLS12,
		Certificates: []tls.Certificate{{Certificate: [][]byte{b.Bytes}, PrivateKey: signer}},
	})
	if err != nil {
		return fmt.Errorf("TLS handshake with the broker: %w", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(cmdTimeout))

	str := func(s string) []byte { return append([]byte{byte(len(s) >> 8), byte(len(s))}, s...) }
	packet := func(typ byte, body ...[]byte) []byte {
		var rest []byte
		for _, p := range body {
			rest = append(rest, p...)
		}
		out := []byte{typ}
		for n := len(rest); ; { // the remaining length, 7 bits a byte
			c := byte(n % 128)
			if n /= 128; n > 0 {
				c |= 0x80
			}
			out = append(out, c)
			if n == 0 {
				break
			}
		}
		return append(out, rest...)
	}
	expect := func(what string, want []byte) error {
		got := make([]byte, len(want))
		if _, err := io.ReadFull(conn, got); err != nil {
			return fmt.Errorf("reading %s: %w", what, err)
		}
		if !bytes.Equal(got, want) {
			return fmt.Errorf("%s: got % x, want % x", what, got, want)
		}
		return nil
	}
	// CONNECT: protocol "MQTT" level 4, clean session, keep-alive 30 s, the client id.
	if _, err := conn.Write(packet(0x10, str("MQTT"), []byte{4, 0x02, 0, 30}, str(clientID))); err != nil {
		return err
	}
	if err := expect("CONNACK", []byte{0x20, 2, 0, 0}); err != nil {
		return err
	}
	// PUBLISH QoS 1, packet id 1.
	if _, err := conn.Write(packet(0x32, str(topic), []byte{0, 1}, []byte(msg))); err != nil {
		return err
	}
	if err := expect("PUBACK", []byte{0x40, 2, 0, 1}); err != nil {
		return err
	}
	_, err = conn.Write(packet(0xe0))
	return err
}
