package main

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
)

// Import, reading the input: the format of the file (PKCS#12, PEM blocks, or one DER value) and the
// certificates and keys it holds.

// importItems is what an input file holds.
type importItems struct {
	certs []*x509.Certificate
	priv  crypto.PrivateKey
	pub   crypto.PublicKey
	kinds []string // what was found, for messages
}

// parseImport reads PEM (any number of blocks) or a single DER value.
func (c *cli) parseImport(data []byte, passphrase func() ([]byte, error)) (*importItems, error) {
	if isPKCS12(data) {
		return parsePKCS12(data, passphrase)
	}
	it := &importItems{}
	if bytes.Contains(data, []byte("-----BEGIN ")) {
		rest := data
		for {
			var b *pem.Block
			b, rest = pem.Decode(rest)
			if b == nil {
				break
			}
			if err := it.addPEM(b, passphrase); err != nil {
				return nil, err
			}
		}
		if len(it.kinds) == 0 {
			return nil, failf("import: the PEM file holds no block keyward can read")
		}
		return it, nil
	}
	if err := it.addDER(data, passphrase); err != nil {
		return nil, err
	}
	return it, nil
}

// setPriv keeps the file's private key; a second one is refused.
func (it *importItems) setPriv(k crypto.PrivateKey, kind string) error {
	if it.priv != nil {
		return failf("import: the file holds more than one private key")
	}
	it.priv = k
	it.kinds = append(it.kinds, kind)
	return nil
}

// addPEM reads one PEM block, decrypting a legacy encrypted PEM or an encrypted PKCS#8 block with the
// passphrase.
func (it *importItems) addPEM(b *pem.Block, passphrase func() ([]byte, error)) error {
	der := b.Bytes
	//lint:ignore SA1019 legacy encrypted PEM (Proc-Type: 4,ENCRYPTED) is still what many tools write
	//lint:ignore SA1019 importing keys from legacy OpenSSL "Proc-Type: 4,ENCRYPTED" PEM files is a user need
	if x509.IsEncryptedPEMBlock(b) {
		pw, err := passphrase()
		if err != nil {
			return err
		}
		der, err = x509.DecryptPEMBlock(b, pw) //lint:ignore SA1019 as above: the file is the user's own, decrypted locally
		clear(pw)
		if err != nil {
			return authf("import: cannot decrypt the %s: wrong passphrase or damaged file", b.Type)
		}
	}
	switch b.Type {
	case "CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE":
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return failf("import: a CERTIFICATE block does not parse: %v", err)
		}
		it.certs = append(it.certs, cert)
		it.kinds = append(it.kinds, "certificate")
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			return failf("import: the PKCS#8 private key does not parse: %v", err)
		}
		return it.setPriv(k, "PKCS#8 private key")
	case "ENCRYPTED PRIVATE KEY":
		pw, err := passphrase()
		if err != nil {
			return err
		}
		plain, err := decryptPKCS8(der, pw)
		clear(pw)
		if err != nil {
			return err
		}
		k, err := x509.ParsePKCS8PrivateKey(plain)
		clear(plain)
		if err != nil {
			return authf("import: cannot decrypt the private key: wrong passphrase or damaged file")
		}
		return it.setPriv(k, "encrypted PKCS#8 private key")
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(der)
		if err != nil {
			return failf("import: the PKCS#1 RSA private key does not parse: %v", err)
		}
		return it.setPriv(k, "PKCS#1 RSA private key")
	case "EC PRIVATE KEY":
		k, err := x509.ParseECPrivateKey(der)
		if err != nil {
			return failf("import: the SEC1 EC private key does not parse: %v", err)
		}
		return it.setPriv(k, "SEC1 EC private key")
	case "PUBLIC KEY":
		k, err := x509.ParsePKIXPublicKey(der)
		if err != nil {
			return failf("import: the public key does not parse: %v", err)
		}
		it.pub = k
		it.kinds = append(it.kinds, "public key")
	case "RSA PUBLIC KEY":
		k, err := x509.ParsePKCS1PublicKey(der)
		if err != nil {
			return failf("import: the PKCS#1 RSA public key does not parse: %v", err)
		}
		it.pub = k
		it.kinds = append(it.kinds, "public key")
	case "EC PARAMETERS":
		// openssl ecparam -genkey writes these before the key: nothing to import.
	default:
		return failf("import: PEM blocks of type %q are not supported", b.Type)
	}
	return nil
}

// addDER reads a DER file: a certificate, a private key (PKCS#8, encrypted PKCS#8, PKCS#1, SEC1) or a
// public key (SubjectPublicKeyInfo, PKCS#1), tried in that order.
func (it *importItems) addDER(der []byte, passphrase func() ([]byte, error)) error {
	if cert, err := x509.ParseCertificate(der); err == nil {
		it.certs = append(it.certs, cert)
		it.kinds = append(it.kinds, "certificate")
		return nil
	}
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		return it.setPriv(k, "PKCS#8 private key")
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return it.setPriv(k, "PKCS#1 RSA private key")
	}
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		return it.setPriv(k, "SEC1 EC private key")
	}
	if k, err := x509.ParsePKIXPublicKey(der); err == nil {
		it.pub = k
		it.kinds = append(it.kinds, "public key")
		return nil
	}
	if k, err := x509.ParsePKCS1PublicKey(der); err == nil {
		it.pub = k
		it.kinds = append(it.kinds, "public key")
		return nil
	}
	var epki encryptedPKI
	if rest, err := asn1.Unmarshal(der, &epki); err == nil && len(rest) == 0 && epki.Algo.Algorithm.Equal(oidPBES2) {
		return it.addPEM(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: der}, passphrase)
	}
	return failf("import: the file is neither PEM nor a DER certificate, private key or public key (for a raw secret use --type secret)")
}
