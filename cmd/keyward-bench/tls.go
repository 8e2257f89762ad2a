package main

// The application rows: full TLS handshakes per second of `openssl s_server` whose ECDSA P-256 key is on each
// module's token, used through libp11's pkcs11 engine (Debian libengine-pkcs11-openssl), and with the key in a
// PEM file (the limit column of these rows). The load generator is this process: -tls-clients goroutines that
// each dial, make a full handshake (no session resumption: no session cache, no tickets) and close, so that the
// single-threaded s_server always has a connection waiting and the machine's cores are busy (s_server on one,
// the clients and, for Keyward, keywardd on the other). Each handshake checks that the server's certificate
// holds the token's public key and the server's signature of the handshake with it, so a row only counts
// handshakes that the token's key signed.

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/miekg/pkcs11"
)

// Names of the TLS rows and the subject of their limit column.
const (
	rowTLS13      = "tls1.3 handshakes ecdsa p256 (s_server)"
	rowTLS12      = "tls1.2 handshakes ecdsa p256 (s_server)"
	tlsKeyFile    = "key file"
	tlsKeyLabel   = "kwbench-tls-p256"
	tlsServerWait = 30 * time.Second // s_server's start, including the token login (Argon2id on Keyward)
)

// tlsBench is what the TLS rows share: the openssl program, libp11's engine, a private CA that certifies each
// server key, a private directory, and one running s_server per subject (module label, or tlsKeyFile).
type tlsBench struct {
	enginePath string // -tls-engine: libp11's pkcs11.so, "" to find it
	once       sync.Once
	setupErr   error
	openssl    string
	engine     string // libp11's pkcs11.so; "" when it is missing
	noEngine   string // why there is no engine
	dir        string
	caCert     *x509.Certificate
	caKey      *ecdsa.PrivateKey

	mu      sync.Mutex
	servers map[string]*tlsServer
	profile []string // CPU per handshake of each stopped server
}

func (t *tlsBench) setup() error {
	t.once.Do(func() { t.setupErr = t.doSetup() })
	return t.setupErr
}

func (t *tlsBench) doSetup() error {
	var err error
	if t.openssl, err = exec.LookPath("openssl"); err != nil {
		return errors.New("n/a: no openssl program (Debian: apt-get install openssl)")
	}
	switch {
	case t.enginePath == "":
		t.engine, t.noEngine = findEngine(t.openssl)
	case fileExists(t.enginePath):
		t.engine = t.enginePath
	default:
		t.noEngine = "n/a: -tls-engine " + t.enginePath + " does not exist"
	}
	if t.dir, err = os.MkdirTemp("", "kwbench-tls-"); err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	if t.caKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		return fmt.Errorf("tls: CA key: %w", err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "keyward-bench CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(48 * time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &t.caKey.PublicKey, t.caKey)
	if err != nil {
		return fmt.Errorf("tls: CA certificate: %w", err)
	}
	if t.caCert, err = x509.ParseCertificate(der); err != nil {
		return fmt.Errorf("tls: CA certificate: %w", err)
	}
	t.servers = map[string]*tlsServer{}
	return nil
}

// findEngine returns the path of libp11's pkcs11 engine in openssl's ENGINESDIR, or why there is none.
func findEngine(openssl string) (path, why string) {
	out, err := exec.Command(openssl, "version", "-e").Output()
	if err == nil {
		// ENGINESDIR: "/usr/lib/x86_64-linux-gnu/engines-3"
		if _, q, ok := strings.Cut(string(out), `"`); ok {
			dir, _, _ := strings.Cut(q, `"`)
			if p := filepath.Join(dir, "pkcs11.so"); fileExists(p) {
				return p, ""
			}
		}
	}
	if m, _ := filepath.Glob("/usr/lib/*/engines-3/pkcs11.so"); len(m) > 0 {
		return m[0], ""
	}
	return "", "n/a: libp11's OpenSSL pkcs11 engine is not installed (Debian: apt-get install libengine-pkcs11-openssl)"
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// cert issues a server certificate for localhost to pub, signed by the private CA, and writes it as PEM.
func (t *tlsBench) cert(name string, pub *ecdsa.PublicKey) (string, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return "", err
	}
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(48 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, t.caCert, pub, t.caKey)
	if err != nil {
		return "", fmt.Errorf("tls: certificate for %s: %w", name, err)
	}
	path := filepath.Join(t.dir, safeName(name)+".crt")
	return path, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9_.-]`)

func safeName(s string) string { return unsafeChars.ReplaceAllString(s, "_") }

// server returns the running s_server of subject name, starting it with start on first use.
func (t *tlsBench) server(name string, start func() (*tlsServer, error)) (*tlsServer, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s := t.servers[name]; s != nil {
		return s, s.startErr
	}
	s, err := start()
	if s == nil {
		s = &tlsServer{}
	}
	s.startErr = err
	t.servers[name] = s
	return s, err
}

// stopAll stops every s_server and removes the private directory.
func (t *tlsBench) stopAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	names := make([]string, 0, len(t.servers))
	for name := range t.servers {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		s := t.servers[name]
		if l := s.cpu.line(name); l != "" {
			t.profile = append(t.profile, l)
		}
		s.stop()
		delete(t.servers, name)
	}
	if t.dir != "" {
		os.RemoveAll(t.dir)
		t.dir = ""
	}
}

// keyFileServer starts s_server with a P-256 key made here in a PEM file.
func (t *tlsBench) keyFileServer() (*tlsServer, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, err
	}
	keyPath := filepath.Join(t.dir, "keyfile.key")
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, err
	}
	crt, err := t.cert(tlsKeyFile, &k.PublicKey)
	if err != nil {
		return nil, err
	}
	s, err := startSServer(t.openssl, tlsKeyFile, nil, "-key", keyPath, "-cert", crt)
	if err != nil {
		return nil, err
	}
	s.pub = &k.PublicKey
	s.cpu.start(s.cmd.Process.Pid, 0)
	return s, nil
}

// tokenServer starts s_server with m's P-256 token key through libp11's engine: an openssl.cnf that loads the
// engine with m's path and the user PIN (in a private file, not on the command line), and a pkcs11: URI.
func (t *tlsBench) tokenServer(m *module) (*tlsServer, error) {
	if t.engine == "" {
		return nil, errors.New(t.noEngine)
	}
	k, err := m.key(tlsKeyLabel)
	if err != nil {
		return nil, err
	}
	pub, err := m.ecPublic(k.pub)
	if err != nil {
		return nil, err
	}
	crt, err := t.cert(m.label, pub)
	if err != nil {
		return nil, err
	}
	ti, err := m.ctx.GetTokenInfo(m.slot)
	if err != nil {
		return nil, fmt.Errorf("C_GetTokenInfo: %w", err)
	}
	conf := fmt.Sprintf("openssl_conf = openssl_init\n\n[openssl_init]\nengines = engine_section\n\n"+
		"[engine_section]\npkcs11 = pkcs11_section\n\n[pkcs11_section]\nengine_id = pkcs11\ndynamic_path = %s\n"+
		"MODULE_PATH = %s\nPIN = %s\ninit = 0\n", t.engine, m.path, m.pin)
	confPath := filepath.Join(t.dir, safeName(m.label)+".cnf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	// The token by its label and serial number: a daemon that served an earlier run has several "kwbench".
	uri := "pkcs11:token=" + pctEncode(strings.TrimRight(ti.Label, " \x00")) + ";serial=" +
		pctEncode(strings.TrimRight(ti.SerialNumber, " \x00")) + ";object=" + pctEncode(tlsKeyLabel) + ";type=private"
	s, err := startSServer(t.openssl, m.label, []string{"OPENSSL_CONF=" + confPath},
		"-engine", "pkcs11", "-keyform", "engine", "-key", uri, "-cert", crt)
	if err != nil {
		return nil, err
	}
	s.pub = pub
	s.cpu.start(s.cmd.Process.Pid, m.daemonPID)
	return s, nil
}

// pctEncode percent-encodes a pkcs11: URI path attribute value (RFC 7512): what a URI path segment may not
// hold, and ';', which separates the attributes.
func pctEncode(s string) string {
	return strings.ReplaceAll(url.PathEscape(s), ";", "%3B")
}

// ecPublic reads an EC public key object's point (DER OCTET STRING, or raw from a module that omits it).
func (m *module) ecPublic(h pkcs11.ObjectHandle) (*ecdsa.PublicKey, error) {
	attrs, err := m.ctx.GetAttributeValue(m.sess, h, []*pkcs11.Attribute{attr(pkcs11.CKA_EC_POINT, nil)})
	if err != nil {
		return nil, fmt.Errorf("C_GetAttributeValue(CKA_EC_POINT): %w", err)
	}
	point := attrs[0].Value
	var inner []byte
	if rest, err := asn1.Unmarshal(point, &inner); err == nil && len(rest) == 0 {
		point = inner
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
	if err != nil {
		return nil, fmt.Errorf("CKA_EC_POINT is not a P-256 point (%d bytes): %w", len(point), err)
	}
	return pub, nil
}

// tlsServer is one running `openssl s_server -www`.
type tlsServer struct {
	cmd      *exec.Cmd
	addr     string
	pub      *ecdsa.PublicKey // the key its certificate holds
	cpu      cpuMeter
	out      *tailBuffer // its standard output and error, the last few KiB
	done     chan struct{}
	startErr error
}

var acceptLine = regexp.MustCompile(`^ACCEPT (\S+:\d+)`)

// startSServer runs `openssl s_server` on a port the kernel picks (it prints "ACCEPT host:port") and waits
// until it accepts.
func startSServer(openssl, name string, env []string, args ...string) (*tlsServer, error) {
	args = append([]string{"s_server"}, args...)
	// -www: one HTTP page per connection, no reading of standard input; no session tickets (TLS 1.3 would send
	// them after the handshake, to a client that has gone).
	args = append(args, "-accept", "127.0.0.1:0", "-www", "-num_tickets", "0", "-no_ticket")
	cmd := exec.Command(openssl, args...)
	cmd.Env = append(withoutEnv(os.Environ(), "OPENSSL_CONF="), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlives a killed benchmark
	s := &tlsServer{cmd: cmd, out: &tailBuffer{max: 4096}, done: make(chan struct{})}
	cmd.Stderr = s.out
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("openssl s_server: %w", err)
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := acceptLine.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
			s.out.Write(append(sc.Bytes(), '\n'))
		}
	}()
	go func() { cmd.Wait(); close(s.done) }()
	select {
	case s.addr = <-addr:
		return s, nil
	case <-s.done:
		return nil, fmt.Errorf("openssl s_server for %s exited: %s", name, s.out.oneLine())
	case <-time.After(tlsServerWait):
		s.stop()
		return nil, fmt.Errorf("openssl s_server for %s did not accept within %s: %s", name, tlsServerWait, s.out.oneLine())
	}
}

func (s *tlsServer) stop() {
	if s == nil || s.cmd == nil || s.cmd.Process == nil {
		return
	}
	select {
	case <-s.done:
		return
	default:
	}
	s.cmd.Process.Kill()
	<-s.done
}

func withoutEnv(env []string, prefix string) []string {
	var out []string
	for _, e := range env {
		if !strings.HasPrefix(e, prefix) {
			out = append(out, e)
		}
	}
	return out
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	b   []byte
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append([]byte(nil), t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

// oneLine is the last lines of output on one line, for an error message.
func (t *tailBuffer) oneLine() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := strings.Split(strings.TrimSpace(string(t.b)), "\n")
	if len(lines) > 4 {
		lines = lines[len(lines)-4:]
	}
	s := strings.Join(lines, " | ")
	if s == "" {
		return "(no output)"
	}
	return s
}

// clientConfig is a full handshake of one TLS version with ECDHE over X25519 (P-256 is offered too: in TLS 1.2
// the client's groups also bound the curve of the server's ECDSA certificate); nothing is kept for resumption.
// The client checks that the server's certificate holds the key it expects (the token's), and crypto/tls checks
// the server's signature of the handshake with that key; it does not verify the certificate's chain, a cost of
// the client only, so that the load generator leaves more of the machine to the server.
func clientConfig(version uint16, want *ecdsa.PublicKey) *tls.Config {
	c := &tls.Config{ServerName: "localhost", MinVersion: version, MaxVersion: version,
		CurvePreferences: []tls.CurveID{tls.X25519, tls.CurveP256}, SessionTicketsDisabled: true,
		InsecureSkipVerify: true, // the VerifyConnection below pins the key instead
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("no server certificate")
			}
			if pub, ok := cs.PeerCertificates[0].PublicKey.(*ecdsa.PublicKey); !ok || !pub.Equal(want) {
				return errors.New("the server's certificate does not hold the expected key")
			}
			return nil
		}}
	if version == tls.VersionTLS12 {
		c.CipherSuites = []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}
	}
	return c
}

// handshakes is one op per client: dial the server, make a full handshake, check its version, close.
func (t *tlsBench) handshakes(s *tlsServer, name string, version uint16, clients int) []op {
	cfg := clientConfig(version, s.pub)
	ops := make([]op, max(1, clients))
	for i := range ops {
		ops[i] = op{run: func() error {
			d := &net.Dialer{Timeout: 20 * time.Second}
			c, err := tls.DialWithDialer(d, "tcp", s.addr, cfg)
			if err != nil {
				return fmt.Errorf("TLS handshake with s_server (%s): %w; s_server: %s", name, err, s.out.oneLine())
			}
			defer c.Close()
			if v := c.ConnectionState().Version; v != version {
				return fmt.Errorf("TLS handshake with s_server (%s): version %#x, want %#x", name, v, version)
			}
			s.cpu.handshakes.Add(1)
			return nil
		}}
	}
	return ops
}

// tlsWL is the handshake row of one TLS version: each module's s_server through the engine, and the key file
// as the limit.
func (b *bench) tlsWL(name string, version uint16) *workload {
	t := b.tlsb
	clients := b.cfg.tlsClients
	return &workload{name: name, unit: uOps, threads: clients, limitLabel: tlsKeyFile,
		limitWhat: "openssl s_server with the key in a PEM file",
		prepareAll: func(m *module) ([]op, func(), error) {
			if err := t.setup(); err != nil {
				return nil, nil, err
			}
			s, err := t.server(m.label, func() (*tlsServer, error) { return t.tokenServer(m) })
			if err != nil {
				return nil, nil, err
			}
			return t.handshakes(s, m.label, version, clients), nil, nil
		},
		limitAll: func() ([]op, func(), error) {
			if err := t.setup(); err != nil {
				return nil, nil, err
			}
			s, err := t.server(tlsKeyFile, t.keyFileServer)
			if err != nil {
				return nil, nil, err
			}
			return t.handshakes(s, tlsKeyFile, version, clients), nil, nil
		}}
}

// tlsNotes says under the table how the TLS rows were made, and why they were skipped if they were.
func (b *bench) tlsNotes() {
	if !b.want(rowTLS13) && !b.want(rowTLS12) {
		return
	}
	t := b.tlsb
	switch {
	case t.setupErr != nil:
		b.notes = append(b.notes, "tls rows skipped: "+t.setupErr.Error())
	case t.engine == "":
		b.notes = append(b.notes, "tls rows through PKCS#11 skipped: "+t.noEngine)
	}
	b.notes = append(b.notes, fmt.Sprintf("tls rows: openssl s_server -www with each token's P-256 key through "+
		"libp11's pkcs11 engine; their limit column is s_server with the key in a PEM file; %d client goroutines "+
		"in this process make full handshakes (X25519, no resumption) and check the server's key and signature",
		max(1, b.cfg.tlsClients)))
	b.notes = append(b.notes, t.profile...)
}
