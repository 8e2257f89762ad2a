package main

import (
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/keyward/keyward/internal/wire"
	ck "github.com/keyward/keyward/pkg/cryptoki"
	"github.com/keyward/keyward/pkg/p11uri"
)

// partSize is the part size of streamed inputs (stream.go): an input of at most one part goes in one call.
const partSize = 1 << 20

type hashInfo struct {
	name               string
	digest             ck.MechanismType
	rsa, rsaPSS, ecdsa ck.MechanismType
	hmac               ck.MechanismType
	mgf                uint64
	size               int
}

var hashes = map[string]hashInfo{
	"sha1":     {"sha1", ck.CKM_SHA_1, ck.CKM_SHA1_RSA_PKCS, ck.CKM_SHA1_RSA_PKCS_PSS, ck.CKM_ECDSA_SHA1, ck.CKM_SHA_1_HMAC, ck.CKG_MGF1_SHA1, 20},
	"sha224":   {"sha224", ck.CKM_SHA224, ck.CKM_SHA224_RSA_PKCS, ck.CKM_SHA224_RSA_PKCS_PSS, ck.CKM_ECDSA_SHA224, ck.CKM_SHA224_HMAC, ck.CKG_MGF1_SHA224, 28},
	"sha256":   {"sha256", ck.CKM_SHA256, ck.CKM_SHA256_RSA_PKCS, ck.CKM_SHA256_RSA_PKCS_PSS, ck.CKM_ECDSA_SHA256, ck.CKM_SHA256_HMAC, ck.CKG_MGF1_SHA256, 32},
	"sha384":   {"sha384", ck.CKM_SHA384, ck.CKM_SHA384_RSA_PKCS, ck.CKM_SHA384_RSA_PKCS_PSS, ck.CKM_ECDSA_SHA384, ck.CKM_SHA384_HMAC, ck.CKG_MGF1_SHA384, 48},
	"sha512":   {"sha512", ck.CKM_SHA512, ck.CKM_SHA512_RSA_PKCS, ck.CKM_SHA512_RSA_PKCS_PSS, ck.CKM_ECDSA_SHA512, ck.CKM_SHA512_HMAC, ck.CKG_MGF1_SHA512, 64},
	"sha3-256": {"sha3-256", ck.CKM_SHA3_256, ck.CKM_SHA3_256_RSA_PKCS, ck.CKM_SHA3_256_RSA_PKCS_PSS, ck.CKM_ECDSA_SHA3_256, ck.CKM_SHA3_256_HMAC, ck.CKG_MGF1_SHA3_256, 32},
	"sha3-384": {"sha3-384", ck.CKM_SHA3_384, ck.CKM_SHA3_384_RSA_PKCS, ck.CKM_SHA3_384_RSA_PKCS_PSS, ck.CKM_ECDSA_SHA3_384, ck.CKM_SHA3_384_HMAC, ck.CKG_MGF1_SHA3_384, 48},
	"sha3-512": {"sha3-512", ck.CKM_SHA3_512, ck.CKM_SHA3_512_RSA_PKCS, ck.CKM_SHA3_512_RSA_PKCS_PSS, ck.CKM_ECDSA_SHA3_512, ck.CKM_SHA3_512_HMAC, ck.CKG_MGF1_SHA3_512, 64},
}

func parseHash(name string) (hashInfo, error) {
	h, ok := hashes[strings.ReplaceAll(strings.ToLower(name), "_", "-")]
	if !ok {
		return hashInfo{}, usagef("unknown hash %q (sha1, sha224, sha256, sha384, sha512, sha3-256, sha3-384, sha3-512)", name)
	}
	return h, nil
}

// signMechanism chooses the signing mechanism for a key: the --mechanism, else by key type and hash.
func (s *session) signMechanism(o *object, mechName, hashName string, pss bool) (*ck.Mechanism, error) {
	kt, _ := o.keyType()
	if mechName != "" {
		name := strings.ToUpper(mechName)
		if !strings.HasPrefix(name, "CKM_") {
			name = "CKM_" + name
		}
		mt, ok := ck.MechanismByName(strings.ReplaceAll(name, "-", "_"))
		if !ok {
			return nil, usagef("unknown mechanism %q (keyward mechanisms lists them)", mechName)
		}
		return &ck.Mechanism{Type: mt}, nil
	}
	if pss && kt != ck.CKK_RSA {
		return nil, usagef("--pss is for RSA keys; %s is a %s key", o.uri(), keyTypeName(kt))
	}
	if hashName != "" && (kt == ck.CKK_EC_EDWARDS || kt == ck.CKK_ML_DSA) {
		return nil, usagef("--hash does not apply to %s keys: they sign the message itself", keyTypeName(kt))
	}
	if hashName == "" {
		hashName = "sha256"
		if kt == ck.CKK_EC {
			switch s.describeKey(o) {
			case "ec:p384":
				hashName = "sha384"
			case "ec:p521":
				hashName = "sha512"
			}
		}
	}
	h, err := parseHash(hashName)
	if err != nil {
		return nil, err
	}
	switch kt {
	case ck.CKK_RSA:
		if pss {
			// CK_RSA_PKCS_PSS_PARAMS travels as its C layout: hashAlg, mgf, sLen, each a CK_ULONG.
			p := append(append(ck.ULong(uint64(h.digest)), ck.ULong(h.mgf)...), ck.ULong(uint64(h.size))...)
			return &ck.Mechanism{Type: h.rsaPSS, Parameter: p}, nil
		}
		return &ck.Mechanism{Type: h.rsa}, nil
	case ck.CKK_EC:
		return &ck.Mechanism{Type: h.ecdsa}, nil
	case ck.CKK_EC_EDWARDS:
		return &ck.Mechanism{Type: ck.CKM_EDDSA}, nil
	case ck.CKK_ML_DSA:
		return &ck.Mechanism{Type: ck.CKM_ML_DSA}, nil
	case ck.CKK_GENERIC_SECRET, ck.CKK_SHA256_HMAC, ck.CKK_SHA384_HMAC, ck.CKK_SHA512_HMAC:
		return &ck.Mechanism{Type: h.hmac}, nil
	}
	return nil, failf("keys of type %s cannot sign (give --mechanism to choose one)", keyTypeName(kt))
}

// ecdsaToDER converts r||s to an ASN.1 ECDSA-Sig-Value.
func ecdsaToDER(raw []byte) ([]byte, error) {
	if len(raw) == 0 || len(raw)%2 != 0 {
		return nil, fmt.Errorf("ECDSA signature of %d bytes is not r||s", len(raw))
	}
	half := len(raw) / 2
	return asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(raw[:half]), new(big.Int).SetBytes(raw[half:])})
}

// ecdsaFromDER converts an ASN.1 ECDSA-Sig-Value to r||s of the given half length; ok is false if sig is
// not DER.
func ecdsaFromDER(sig []byte, half int) ([]byte, bool) {
	var v struct{ R, S *big.Int }
	rest, err := asn1.Unmarshal(sig, &v)
	if err != nil || len(rest) != 0 || v.R.Sign() <= 0 || v.S.Sign() <= 0 || v.R.BitLen() > 8*half || v.S.BitLen() > 8*half {
		return nil, false
	}
	out := make([]byte, 2*half)
	v.R.FillBytes(out[:half])
	v.S.FillBytes(out[half:])
	return out, true
}

func ecHalf(desc string) int {
	switch desc {
	case "ec:p384":
		return 48
	case "ec:p521":
		return 66
	}
	return 32
}

func signFlags(f *flags) (in, out, mech, hash *string, pss *bool, format *string) {
	return f.String("in", "-", "the data: a file, or - for standard input"),
		f.String("out", "-", "the output file, or - for standard output"),
		f.String("mechanism", "", "a CKM_ mechanism name without parameters (default: by key type)"),
		f.String("hash", "", "sha256 (default; sha384 for P-384, sha512 for P-521), sha384, sha512, sha1, sha3-256 ..."),
		f.Bool("pss", false, "RSA: RSA-PSS (salt length = hash length) instead of PKCS #1 v1.5"),
		f.String("format", "der", "ECDSA signatures: der (ASN.1, as OpenSSL) or raw (r||s, as PKCS #11)")
}

func (c *cli) cmdSign(args []string) error {
	f := c.newFlags("sign", `usage: keyward sign URI [--in FILE] [--out FILE] [--hash H] [--pss] [--format der|raw]

Signs data with a private key (or an HMAC secret key) on the token and writes the signature (binary).
RSA: PKCS #1 v1.5 with SHA-256 (--pss for PSS); ECDSA: hash by curve, DER output like OpenSSL; Ed25519
and ML-DSA: the message itself; generic secrets: HMAC-SHA-256.

examples:
  keyward sign 'pkcs11:token=dev;object=fw-sign' --in firmware.bin --out firmware.sig
  openssl dgst -sha256 -verify fw.pub.pem -signature firmware.sig firmware.bin`).withToken().withPIN()
	in, out, mech, hash, pss, format := signFlags(f)
	f.check(func() error {
		if *format != "der" && *format != "raw" {
			return usagef("sign: --format must be der or raw")
		}
		return nil
	})
	u, _, err := f.parseURIArgs(args, 1, 1, "keyward sign URI")
	if err != nil {
		return err
	}
	data, err := c.openInput(*in)
	if err != nil {
		return err
	}
	defer data.Close()
	s, o, err := c.openKey(f, u, false, loginRequired, "signing key", ck.CKO_PRIVATE_KEY, ck.CKO_SECRET_KEY)
	if err != nil {
		return err
	}
	defer s.close()
	m, err := s.signMechanism(o, *mech, *hash, *pss)
	if err != nil {
		return err
	}
	kt, _ := o.keyType()
	sig, err := s.stream(ck.OpSign, func() error { return s.cl.OperationInit(s.h, ck.OpSign, m, o.h) }, data, nil, *mech == "" && singlePartOnly(kt))
	if mp, ok := err.(errMultiPart); ok {
		return failf("sign: %s signs the whole message in one call, and keyward sends at most %s in one call: sign a digest of the file instead (for example: keyward digest --hash sha512 --binary FILE, then sign that)", keyTypeName(kt), mibText(mp.size))
	}
	if err != nil {
		return ckErr(fmt.Sprintf("signing with %s (%v)", o.uri(), m.Type), err)
	}
	if kt, _ := o.keyType(); kt == ck.CKK_EC && *format == "der" {
		if sig, err = ecdsaToDER(sig); err != nil {
			return failf("sign: %v", err)
		}
	}
	return c.writeOutput(*out, sig, false)
}

func (c *cli) cmdVerify(args []string) error {
	f := c.newFlags("verify", `usage: keyward verify URI --signature FILE [--in FILE] [--hash H] [--pss]

Verifies a signature with the public key (or HMAC secret key) on the token. Exit 0 and "signature OK" when
it verifies; exit 1 and "the signature does not verify" when not. ECDSA signatures may be DER or r||s.

example:
  keyward verify 'pkcs11:token=dev;object=fw-sign' --in firmware.bin --signature firmware.sig`).withToken().withLogin()
	in, _, mech, hash, pss, _ := signFlags(f)
	sigPath := f.String("signature", "", "the signature file")
	f.check(func() error {
		if *sigPath == "" {
			return usagef("verify: --signature FILE is required")
		}
		return nil
	})
	u, _, err := f.parseURIArgs(args, 1, 1, "keyward verify URI --signature FILE")
	if err != nil {
		return err
	}
	sig, err := c.readInput(*sigPath)
	if err != nil {
		return err
	}
	data, err := c.openInput(*in)
	if err != nil {
		return err
	}
	defer data.Close()
	s, o, err := c.openKey(f, u, false, loginIfPIN, "verification key", ck.CKO_PUBLIC_KEY, ck.CKO_SECRET_KEY)
	if err != nil {
		return err
	}
	defer s.close()
	m, err := s.signMechanism(o, *mech, *hash, *pss)
	if err != nil {
		return err
	}
	if kt, _ := o.keyType(); kt == ck.CKK_EC {
		if raw, ok := ecdsaFromDER(sig, ecHalf(s.describeKey(o))); ok {
			sig = raw
		}
	}
	kt, _ := o.keyType()
	single := false
	buf := make([]byte, partSize)
	n, eof, err := readPart(data, buf)
	if err != nil {
		return err
	}
	if !eof && *mech == "" && singlePartOnly(kt) {
		return failf("verify: %s verifies the whole message in one call, and keyward sends at most %s in one call", keyTypeName(kt), mibText(partSize))
	}
	if err := s.cl.OperationInit(s.h, ck.OpVerify, m, o.h); err != nil {
		return ckErr(fmt.Sprintf("verifying with %s (%v)", o.uri(), m.Type), err)
	}
	if eof {
		single = true
		err = s.cl.Verify(s.h, buf[:n], sig)
	}
	for !single && err == nil {
		if n > 0 {
			_, _, err = s.cl.OperationUpdate(s.h, ck.OpVerify, buf[:n], ck.Out{Present: true})
		}
		if err != nil || eof {
			break
		}
		n, eof, err = readPart(data, buf)
	}
	if !single && err == nil {
		err = s.cl.VerifyFinal(s.h, sig)
	}
	var ce *cliError
	if errors.As(err, &ce) {
		return err
	}
	if err != nil {
		return ckErr(fmt.Sprintf("verifying with %s", o.uri()), err)
	}
	fmt.Fprintln(c.stdout, "signature OK")
	return nil
}

// oaepParams encodes CK_RSA_PKCS_OAEP_PARAMS for a hash, with MGF1 of the same hash and no label.
func oaepParams(h hashInfo) []byte {
	return (&wire.RSAPKCSOAEPParams{HashAlg: uint64(h.digest), MGF: h.mgf, Source: uint64(ck.CKZ_DATA_SPECIFIED)}).Encode()
}

// gcmParams encodes CK_GCM_PARAMS for an IV and additional data, with a 128-bit tag.
func gcmParams(iv, aad []byte) []byte {
	return (&wire.GCMParams{IV: iv, IVBits: uint64(8 * len(iv)), AAD: aad, TagBits: 128}).Encode()
}

const gcmIVLen = 12

func cryptFlags(f *flags) (in, out, hash, aad *string, pkcs1 *bool) {
	return f.String("in", "-", "the input: a file, or - for standard input"),
		f.String("out", "-", "the output file, or - for standard output"),
		f.String("hash", "sha256", "RSA-OAEP: the hash (and MGF1 hash)"),
		f.String("aad", "", "AES-GCM: a file of additional authenticated data"),
		f.Bool("pkcs1", false, "RSA: PKCS #1 v1.5 padding instead of OAEP")
}

func (c *cli) cmdEncrypt(args []string) error {
	f := c.newFlags("encrypt", `usage: keyward encrypt URI [--in FILE] [--out FILE] [--hash H] [--pkcs1] [--aad FILE]

Encrypts with a key on the token: RSA public keys use RSA-OAEP with SHA-256 (as openssl pkeyutl
-pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:sha256); AES keys use AES-256-GCM with a random
96-bit IV, written as IV || ciphertext || 16-byte tag.

examples:
  keyward encrypt 'pkcs11:token=dev;object=data-key' --in secret.txt --out secret.enc
  keyward encrypt 'pkcs11:token=dev;object=rsa-enc' --in session.key --out session.key.enc`).withToken().withLogin()
	in, out, hash, aad, pkcs1 := cryptFlags(f)
	return c.crypt(f, args, true, in, out, hash, aad, pkcs1)
}

func (c *cli) cmdDecrypt(args []string) error {
	f := c.newFlags("decrypt", `usage: keyward decrypt URI [--in FILE] [--out FILE] [--hash H] [--pkcs1] [--aad FILE]

Decrypts what keyward encrypt (or OpenSSL's RSA-OAEP) wrote, with the private or secret key on the token.
A tampered AES-GCM ciphertext fails with exit 1.

example:
  keyward decrypt 'pkcs11:token=dev;object=data-key' --in secret.enc --out secret.txt`).withToken().withPIN()
	in, out, hash, aad, pkcs1 := cryptFlags(f)
	return c.crypt(f, args, false, in, out, hash, aad, pkcs1)
}

func (c *cli) crypt(f *flags, args []string, encrypt bool, in, out, hash, aad *string, pkcs1 *bool) error {
	verb := "decrypt"
	if encrypt {
		verb = "encrypt"
	}
	u, _, err := f.parseURIArgs(args, 1, 1, "keyward "+verb+" URI")
	if err != nil {
		return err
	}
	h, err := parseHash(*hash)
	if err != nil {
		return err
	}
	data, err := c.openInput(*in)
	if err != nil {
		return err
	}
	defer data.Close()
	var aadData []byte
	if *aad != "" {
		if aadData, err = c.readInput(*aad); err != nil {
			return err
		}
	}
	mode, classes := loginRequired, []ck.ObjectClass{ck.CKO_PRIVATE_KEY, ck.CKO_SECRET_KEY}
	if encrypt {
		mode, classes = loginIfPIN, []ck.ObjectClass{ck.CKO_PUBLIC_KEY, ck.CKO_SECRET_KEY}
		if u.Type == "" || u.Type == p11uri.TypeSecretKey {
			mode = loginRequired // secret keys are private objects
		}
	}
	s, o, err := c.openKey(f, u, false, mode, verb+"ion key", classes...)
	if err != nil {
		return err
	}
	defer s.close()
	kt, _ := o.keyType()
	op := ck.OpDecrypt
	if encrypt {
		op = ck.OpEncrypt
	}
	var m *ck.Mechanism
	switch kt {
	case ck.CKK_RSA:
		m = &ck.Mechanism{Type: ck.CKM_RSA_PKCS}
		if !*pkcs1 {
			m = &ck.Mechanism{Type: ck.CKM_RSA_PKCS_OAEP, Parameter: oaepParams(h)}
		}
	case ck.CKK_AES:
		w, err := c.createOutput(*out, !encrypt)
		if err != nil {
			return err
		}
		defer w.abort()
		if encrypt {
			err = s.gcmEncrypt(o.h, aadData, data, w.Write)
		} else {
			err = s.gcmDecrypt(o.h, aadData, data, w.Write)
		}
		var ce *cliError
		if errors.As(err, &ce) {
			return err
		}
		if err != nil {
			return ckErr(fmt.Sprintf("%sing with %s (CKM_AES_GCM)", strings.TrimSuffix(verb, "t")+"t", o.uri()), err)
		}
		return w.commit()
	default:
		return failf("%s: keys of type %s do not %s (RSA and AES do)", verb, keyTypeName(kt), verb)
	}
	w, err := c.createOutput(*out, !encrypt)
	if err != nil {
		return err
	}
	defer w.abort()
	res, err := s.stream(op, func() error { return s.cl.OperationInit(s.h, op, m, o.h) }, data, w.Write, kt == ck.CKK_RSA)
	if mp, ok := err.(errMultiPart); ok {
		return failf("%s: RSA %ss one block (a few hundred bytes), and this input is %s: encrypt it with an AES key, and the AES key with RSA", verb, verb, "larger than "+mibText(mp.size))
	}
	var ce *cliError
	if errors.As(err, &ce) {
		return err
	}
	if err != nil {
		return ckErr(fmt.Sprintf("%sing with %s (%v)", strings.TrimSuffix(verb, "t")+"t", o.uri(), m.Type), err)
	}
	if err := w.Write(res); err != nil {
		return err
	}
	return w.commit()
}

// mibText says a size in MiB.
func mibText(n int) string { return fmt.Sprintf("%d MiB", n>>20) }

func (c *cli) cmdDigest(args []string) error {
	f := c.newFlags("digest", `usage: keyward digest [--hash H] [--in FILE] [--binary] [--token LABEL]

Hashes data on the token and prints the digest in hex (--binary: raw bytes).

example:
  keyward digest --hash sha384 --in firmware.bin`).withToken()
	hash := f.String("hash", "sha256", "sha1, sha224, sha256, sha384, sha512, sha3-256, sha3-384, sha3-512")
	in := f.String("in", "-", "the data: a file, or - for standard input")
	binary := f.Bool("binary", false, "write the digest as raw bytes")
	pos, err := f.parseArgs(args, 0, 1, "keyward digest [FILE]")
	if err != nil {
		return err
	}
	if len(pos) == 1 {
		*in = pos[0]
	}
	h, err := parseHash(*hash)
	if err != nil {
		return err
	}
	data, err := c.openInput(*in)
	if err != nil {
		return err
	}
	defer data.Close()
	s, err := c.openAny(*f.token)
	if err != nil {
		return err
	}
	defer s.close()
	d, err := s.stream(ck.OpDigest, func() error { return s.cl.OperationInit(s.h, ck.OpDigest, &ck.Mechanism{Type: h.digest}, 0) }, data, nil, false)
	if err != nil {
		return ckErr("hashing with "+h.name, err)
	}
	if *binary {
		_, err := c.stdout.Write(d)
		return err
	}
	fmt.Fprintln(c.stdout, hex.EncodeToString(d))
	return nil
}
