package main

import (
	"crypto"
	"crypto/x509"
	"errors"

	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// PKCS#12 decoding with software.sslmate.com/src/go-pkcs12 (OpenSSL 3's PBES2/AES bundles included).

func init() { pkcs12Decode = decodePKCS12 }

// decodePKCS12 decodes a bundle of one private key and its certificate chain, as openssl pkcs12 -export
// writes it (OpenSSL 3: PBES2 with PBKDF2 and AES-256-CBC, HMAC-SHA256 MAC; also the legacy RC2/3DES
// encryption). The certificate whose public key is the private key's comes first.
func decodePKCS12(data, password []byte) (*importItems, error) {
	// go-pkcs12 takes the password as a string, which cannot be cleared after use.
	priv, cert, cas, err := pkcs12.DecodeChain(data, string(password))
	if errors.Is(err, pkcs12.ErrIncorrectPassword) {
		return nil, authf("import: cannot decrypt the PKCS#12 bundle: wrong password or damaged file")
	}
	var nie pkcs12.NotImplementedError
	if errors.As(err, &nie) {
		return nil, failf("import: the PKCS#12 bundle uses what keyward cannot read (%s); re-export it with openssl pkcs12 -export (OpenSSL 3 defaults)", nie.Error())
	}
	if err != nil {
		return nil, failf("import: the PKCS#12 bundle does not decode: %v (a bundle needs one private key and its certificate)", err)
	}
	certs := append([]*x509.Certificate{cert}, cas...)
	if s, ok := priv.(crypto.Signer); ok {
		type equaler interface{ Equal(crypto.PublicKey) bool }
		if pub, ok := s.Public().(equaler); ok {
			for i, c := range certs {
				if pub.Equal(c.PublicKey) {
					certs[0], certs[i] = certs[i], certs[0]
					break
				}
			}
		}
	}
	it := &importItems{certs: certs}
	if err := it.setPriv(priv, "PKCS#12 private key"); err != nil {
		return nil, err
	}
	for range certs {
		it.kinds = append(it.kinds, "certificate")
	}
	return it, nil
}
