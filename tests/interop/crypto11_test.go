package interop

//lint:file-ignore SA1019 the go command is looked up on PATH first; GOROOT is only the fallback of a test

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

func init() {
	packageOf["go"] = "golang-go"
}

const crypto11Version = "v1.6.2"

// goTool is the go command that runs these tests (the one on PATH, else the one of this test binary's GOROOT).
func goTool(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("no go command on PATH or in %s: the crypto11 scenario builds a Go program", runtime.GOROOT())
	}
	return p
}

// goEnv is the environment of `go build` in a temporary module: the module cache, build cache, proxy and
// checksum database of the go command that runs the tests (read with `go env`, because the client programs
// get a private HOME), modules resolved and go.sum written as needed (-mod=mod), no toolchain switch.
func goEnv(t *testing.T, gocmd string) []string {
	t.Helper()
	names := []string{"GOPATH", "GOMODCACHE", "GOCACHE", "GOPROXY", "GOSUMDB", "GONOSUMDB", "GONOPROXY", "GOPRIVATE",
		"GOINSECURE", "GOROOT"}
	out, err := exec.Command(gocmd, append([]string{"env", "-json"}, names...)...).Output()
	if err != nil {
		t.Fatalf("go env: %v", err)
	}
	vals := map[string]string{}
	if err := json.Unmarshal(out, &vals); err != nil {
		t.Fatalf("go env -json: %v\n%s", err, out)
	}
	env := []string{"GOFLAGS=-mod=mod -buildvcs=false", "GOTOOLCHAIN=local", "CGO_ENABLED=1", "GOENV=off", "GOWORK=off"}
	for _, n := range names {
		if vals[n] != "" {
			env = append(env, n+"="+vals[n])
		}
	}
	return env
}

// Scenario 12: Go crypto11 (github.com/ThalesGroup/crypto11 v1.6.2, over miekg/pkcs11 and cgo). A small Go
// host program (testdata/crypto11host), built at test time in a temporary module because crypto11 is not a
// dependency of Keyward, loads libkeyward.so with crypto11.Configure, finds a token key pair by label with
// FindKeyPair and serves TLS 1.3 on 127.0.0.1 with it as the tls.Certificate's PrivateKey; a crypto/tls
// client that trusts only the key's certificate completes the handshake (RSA-PSS and ECDSA
// CertificateVerify made on the token) and gets an answer. This shows a Go program can load libkeyward.so: the
// module is C and brings no Go runtime of its own.
func TestCrypto11(t *testing.T) {
	const sc = "12 Go crypto11"
	daemon(t)
	gocmd := goTool(t)
	var pkcs11Version string
	version := func() string {
		v := "crypto11 " + crypto11Version
		if pkcs11Version != "" {
			v += " + miekg/pkcs11 " + pkcs11Version
		}
		return v + " (" + runtime.Version() + ")"
	}
	tk := newToken(t, "crypto11")
	keys := []struct{ label, id, keyType, kind string }{
		{"c11-rsa", "b1", "rsa:2048", "RSA"},
		{"c11-ec", "b2", "EC:prime256v1", "EC"},
	}
	dir := tmpDir(t)
	pool := x509.NewCertPool()
	certs := map[string]string{}
	for _, k := range keys {
		tk.genKey(t, k.keyType, k.label, k.id)
		path, c := tk.tokenCert(t, dir, k.label, "localhost")
		certs[k.label] = path
		pool.AddCert(c)
	}
	host := filepath.Join(dir, "crypto11host")

	built := step(t, sc, "go build a host program with crypto11 "+crypto11Version, "go build", version, func(t *testing.T) {
		src := filepath.Join(dir, "src")
		if err := os.Mkdir(src, 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, src, "main.go", readFile(t, filepath.Join("testdata", "crypto11host", "main.go")), 0o644)
		writeFile(t, src, "go.mod", []byte("module x\n\ngo 1.21\n\nrequire github.com/ThalesGroup/crypto11 "+crypto11Version+"\n"), 0o644)
		// The first build downloads crypto11 and its dependencies through the module proxy and compiles cgo.
		r := execProg(t, runOpts{env: goEnv(t, gocmd), timeout: 3 * time.Minute}, gocmd, "-C", src, "build", "-o", host, ".")
		if r.err != nil {
			t.Fatalf("building the crypto11 host program failed (the module proxy must be reachable, or the modules in "+
				"the module cache; cgo needs gcc):\n%s", r)
		}
		if m := regexp.MustCompile(`github.com/miekg/pkcs11 (v\S+)`).FindSubmatch(readFile(t, filepath.Join(src, "go.mod"))); m != nil {
			pkcs11Version = string(m[1])
		}
	})

	step(t, sc, "TLS 1.3 server with the token key (RSA, EC) + crypto/tls client", "crypto11", version, func(t *testing.T) {
		if !built {
			t.Fatalf("needs the program of the build step, which failed")
		}
		mod, spyEnv := moduleFor(t, "crypto11")
		for _, k := range keys {
			t.Run(k.kind, func(t *testing.T) {
				port := freePort(t)
				trace, traced := roundTripTrace(t, dir)
				srv := startServer(t, append(spyEnv, trace), host, "-module", mod, "-token", tk.label, "-pin", userPIN, "-key", k.label,
					"-cert", certs[k.label], "-addr", "127.0.0.1:"+strconv.Itoa(port))
				srv.waitTCP(t, port)
				conn, err := tls.DialWithDialer(&net.Dialer{Timeout: cmdTimeout}, "tcp", "127.0.0.1:"+strconv.Itoa(port),
					&tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS13})
				if err != nil {
					t.Fatalf("TLS handshake with the crypto11 server failed: %v\n--- server:\n%s", err, srv.output())
				}
				defer conn.Close()
				conn.SetDeadline(time.Now().Add(cmdTimeout))
				st := conn.ConnectionState()
				if st.Version != tls.VersionTLS13 {
					t.Fatalf("negotiated %s, want TLS 1.3", tls.VersionName(st.Version))
				}
				if !samePublic(st.PeerCertificates[0].PublicKey, tk.public(t, k.label)) {
					t.Fatalf("the server presented another key's certificate")
				}
				if _, err := conn.Write([]byte("hello " + k.label + "\n")); err != nil {
					t.Fatal(err)
				}
				line, err := bufio.NewReader(conn).ReadString('\n')
				if err != nil {
					t.Fatalf("reading the server's answer: %v\n--- server:\n%s", err, srv.output())
				}
				if !strings.HasPrefix(line, "TLS 1.3 ") || !strings.HasSuffix(line, "hello "+k.label+"\n") {
					t.Fatalf("unexpected answer %q\n--- server:\n%s", line, srv.output())
				}
				conn.Close()
				srv.waitOutput("served ") // it logs the connection once it has seen the close: not before SIGTERM
				// SIGTERM: the program closes its crypto11 context (C_Finalize) and must exit cleanly.
				srv.stop()
				if !srv.cmd.ProcessState.Success() {
					t.Fatalf("the crypto11 host program did not exit cleanly (%v):\n%s", srv.cmd.ProcessState, srv.output())
				}
				if out := srv.output(); !strings.Contains(out, "served ") || !strings.Contains(out, "closed") {
					t.Fatalf("the crypto11 host program's log lacks the connection or the close:\n%s", out)
				}
				// One handshake, one CertificateVerify: crypto11's Sign is miekg/pkcs11's C_SignInit, C_Sign(NULL)
				// for the length, then C_Sign, and the two C_Sign are one round trip.
				wantDataTrips(t, "crypto11 Signer.Sign in a TLS 1.3 handshake", traced(), 1)
			})
		}
	})
}
