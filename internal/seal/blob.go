package seal

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
)

// The sealed blob (root.seal) is a small versioned header naming the backend, a check value of the root key
// and the backend's payload:
//
//	magic "KWSEAL" | version 1 | len(backend) (1 byte) | backend name | check (16 bytes) |
//	len(payload) (4 bytes, big endian) | payload
//
// The check value is HMAC-SHA-256(root key, "keyward root key check v1") cut to 16 bytes: after unsealing it
// tells a right key from a wrong one (a backend that derives the key, a damaged blob) and reveals nothing of
// the 256-bit key. The payload is the backend's own (for tpm2: the sealed object's public and private areas
// and the policy; for pkcs11: the wrapped key).
const (
	blobMagic   = "KWSEAL"
	blobVersion = 1
	checkSize   = 16
	// maxBlobSize bounds what is read from disk.
	maxBlobSize = 64 << 10
)

// blob is a decoded sealed blob.
type blob struct {
	backend string
	check   [checkSize]byte
	payload []byte
}

// checkValue is the root key's check value.
func checkValue(key []byte) [checkSize]byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("keyward root key check v1"))
	var c [checkSize]byte
	copy(c[:], m.Sum(nil))
	return c
}

// matches reports in constant time whether key is the key the blob was sealed from.
func (b *blob) matches(key []byte) bool {
	c := checkValue(key)
	return subtle.ConstantTimeCompare(c[:], b.check[:]) == 1
}

func (b *blob) encode() []byte {
	out := make([]byte, 0, len(blobMagic)+2+len(b.backend)+checkSize+4+len(b.payload))
	out = append(out, blobMagic...)
	out = append(out, blobVersion, byte(len(b.backend)))
	out = append(out, b.backend...)
	out = append(out, b.check[:]...)
	out = binary.BigEndian.AppendUint32(out, uint32(len(b.payload)))
	return append(out, b.payload...)
}

// decodeBlob parses a sealed blob; any defect is an ErrCorrupt error.
func decodeBlob(path string, data []byte) (*blob, error) {
	bad := func(what string) error {
		return sealErr(ErrCorrupt, nil, fmt.Sprintf("%s is not a valid sealed root key: %s", path, what),
			"restore it from a backup; without it the store cannot be opened")
	}
	if len(data) < len(blobMagic)+2 || string(data[:len(blobMagic)]) != blobMagic {
		return nil, bad("bad magic")
	}
	data = data[len(blobMagic):]
	if data[0] != blobVersion {
		return nil, bad(fmt.Sprintf("version %d, this keywardd reads version %d", data[0], blobVersion))
	}
	n := int(data[1])
	data = data[2:]
	if len(data) < n+checkSize+4 {
		return nil, bad("truncated header")
	}
	b := &blob{backend: string(data[:n])}
	data = data[n:]
	copy(b.check[:], data)
	data = data[checkSize:]
	size := binary.BigEndian.Uint32(data)
	data = data[4:]
	if uint64(size) != uint64(len(data)) {
		return nil, bad(fmt.Sprintf("payload is %d bytes, header says %d", len(data), size))
	}
	if _, ok := backends[b.backend]; !ok || b.backend == "file" {
		return nil, bad(fmt.Sprintf("unknown backend %q", b.backend))
	}
	b.payload = data
	return b, nil
}

// appendFields is a backend payload: a version byte, then each field as a big-endian u16 length and its bytes
// (the keyring and pkcs11 backends' layout).
func appendFields(version byte, fields ...[]byte) []byte {
	out := []byte{version}
	for _, f := range fields {
		out = binary.BigEndian.AppendUint16(out, uint16(len(f)))
		out = append(out, f...)
	}
	return out
}

// splitFields is appendFields' inverse: exactly n fields after the version byte, nothing after them.
func splitFields(data []byte, version byte, n int) ([][]byte, bool) {
	if len(data) < 1 || data[0] != version {
		return nil, false
	}
	data = data[1:]
	f := make([][]byte, n)
	for i := range f {
		if len(data) < 2 || len(data) < 2+int(binary.BigEndian.Uint16(data)) {
			return nil, false
		}
		l := int(binary.BigEndian.Uint16(data))
		f[i], data = data[2:2+l], data[2+l:]
	}
	return f, len(data) == 0
}
