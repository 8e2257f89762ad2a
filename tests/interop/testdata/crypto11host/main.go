// Command crypto11host is the Go host program of interop scenario 12 (tests/interop/crypto11_test.go): it
// loads a PKCS#11 module (libkeyward.so) with github.com/ThalesGroup/crypto11, finds a key pair on a token by
// its label, and serves TLS 1.3 on a loopback address with that key. Each connection gets one line back: the
// protocol version and the line the client sent.
//
// It is built at test time in a temporary module (crypto11 is not a dependency of Keyward), from this file
// and a go.mod that requires github.com/ThalesGroup/crypto11 v1.6.2. It exists to prove that a Go program
// can load libkeyward.so: the module is C, so it brings no second Go runtime into the process.
package main

import (
	"bufio"
	"crypto/tls"
	"encoding/pem"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"

	"github.com/ThalesGroup/crypto11"
)

func main() {
	module := flag.String("module", "", "PKCS#11 module")
	token := flag.String("token", "", "token label")
	pin := flag.String("pin", "", "user PIN")
	key := flag.String("key", "", "CKA_LABEL of the key pair")
	certFile := flag.String("cert", "", "PEM certificate of the key")
	addr := flag.String("addr", "127.0.0.1:0", "listening address")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("crypto11host: ")

	ctx, err := crypto11.Configure(&crypto11.Config{Path: *module, TokenLabel: *token, Pin: *pin})
	if err != nil {
		log.Fatalf("crypto11.Configure(%s, token %q): %v", *module, *token, err)
	}
	signer, err := ctx.FindKeyPair(nil, []byte(*key))
	if err != nil {
		log.Fatalf("FindKeyPair(label %q): %v", *key, err)
	}
	if signer == nil {
		log.Fatalf("FindKeyPair(label %q): no such key pair on token %q", *key, *token)
	}
	data, err := os.ReadFile(*certFile)
	if err != nil {
		log.Fatal(err)
	}
	b, _ := pem.Decode(data)
	if b == nil {
		log.Fatalf("%s: no PEM certificate", *certFile)
	}
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{{Certificate: [][]byte{b.Bytes}, PrivateKey: signer}},
	}
	ln, err := tls.Listen("tcp", *addr, cfg)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("listening on %s with key %q (%T)\n", ln.Addr(), *key, signer.Public())

	var closing atomic.Bool
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sig
		closing.Store(true)
		ln.Close()
		// C_Finalize through crypto11: the module must unload cleanly from a Go process too.
		if err := ctx.Close(); err != nil {
			log.Fatalf("closing the crypto11 context: %v", err)
		}
		fmt.Println("closed")
		os.Exit(0)
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			if closing.Load() {
				select {} // the signal handler exits
			}
			log.Fatalf("accept: %v", err)
		}
		go serve(c.(*tls.Conn))
	}
}

func serve(c *tls.Conn) {
	defer c.Close()
	if err := c.Handshake(); err != nil {
		fmt.Printf("handshake with %s: %v\n", c.RemoteAddr(), err)
		return
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		fmt.Printf("reading from %s: %v\n", c.RemoteAddr(), err)
		return
	}
	st := c.ConnectionState()
	fmt.Fprintf(c, "%s %s %s", tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite), line)
	fmt.Printf("served %s over %s\n", c.RemoteAddr(), tls.VersionName(st.Version))
}
