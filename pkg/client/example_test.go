package client_test

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"time"

	"github.com/keyward/keyward/pkg/client"
)

// A TLS 1.3 server whose private key never leaves keywardd: the certificate's key is an ECDSA P-256 key on
// the token "example", found by its label "tls". (The test harness, TestMain, started a daemon on
// exampleSocket and set the token and key up; a real program would Dial("") for the default socket.)
func Example_tlsServer() {
	if exampleErr != nil {
		fmt.Println("setting up the example token:", exampleErr)
		return
	}
	cl, err := client.Dial(exampleSocket)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cl.Close()
	tok, err := cl.OpenToken("example", []byte("example-pin"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer tok.Close()
	signer, err := tok.Signer(client.ByLabel("tls"))
	if err != nil {
		fmt.Println(err)
		return
	}

	// A self-signed certificate, signed on the token.
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "keyward.example"},
		DNSNames:     []string{"keyward.example"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, signer.Public(), signer)
	if err != nil {
		fmt.Println(err)
		return
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		fmt.Println(err)
		return
	}

	// The server: the token signs every handshake's CertificateVerify.
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: signer, Leaf: cert}},
		MinVersion:   tls.VersionTLS13,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.WriteString(c, "hello from a key in keywardd\n")
	}()

	// A client that trusts only that certificate.
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{
		RootCAs:    roots,
		ServerName: "keyward.example",
		MinVersion: tls.VersionTLS13,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()
	msg, err := io.ReadAll(conn)
	if err != nil {
		fmt.Println(err)
		return
	}
	st := conn.ConnectionState()
	fmt.Println(tls.VersionName(st.Version), "with", st.PeerCertificates[0].Subject.CommonName)
	fmt.Print(string(msg))
	// Output:
	// TLS 1.3 with keyward.example
	// hello from a key in keywardd
}
