package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"io"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// AES-GCM over large inputs. keywardd's AES-GCM holds the whole message until C_EncryptFinal (a plaintext is
// never released before its tag is checked), so one GCM message is bounded by what one call carries. An
// input of at most one part is one GCM message, IV || ciphertext || tag, as before. A larger one is a
// sequence of segments, each its own GCM message over one part (the STREAM construction of Hoang, Reyhanitabar,
// Rogaway and Vizár, as in age):
//
//	"KWGCMS1\n" || nonce prefix (7 bytes) || segment 0 || segment 1 || ...
//	segment i = AES-GCM(key, IV = prefix || uint32_be(i) || last, AAD = --aad) of the i-th part, || tag
//
// where last is 1 for the final segment and 0 otherwise: segments cannot be reordered, dropped or cut off at
// a segment boundary without the decryption failing.

var gcmStreamMagic = []byte("KWGCMS1\n")

const gcmPrefixLen = 7

// legacyGCMMax is the largest single GCM message earlier keyward versions wrote (their 4 MiB cap).
const legacyGCMMax = 4 << 20

func gcmSegmentIV(prefix []byte, i uint32, last bool) []byte {
	iv := append(append([]byte(nil), prefix...), binary.BigEndian.AppendUint32(nil, i)...)
	if last {
		return append(iv, 1)
	}
	return append(iv, 0)
}

// gcmOnce is one single-part AES-GCM operation.
func (s *session) gcmOnce(op ck.Operation, key ck.ObjectHandle, iv, aad, in []byte) ([]byte, error) {
	if err := s.cl.OperationInit(s.h, op, &ck.Mechanism{Type: ck.CKM_AES_GCM, Parameter: gcmParams(iv, aad)}, key); err != nil {
		return nil, err
	}
	out, need, err := s.cl.OperationSingle(s.h, op, in, ck.Out{Present: true, Cap: uint64(len(in)) + 64})
	if ck.ToRV(err) == ck.CKR_BUFFER_TOO_SMALL {
		out, _, err = s.cl.OperationSingle(s.h, op, in, ck.Out{Present: true, Cap: need})
	}
	return out, err
}

// gcmEncrypt encrypts r to w: one GCM message for one part, segments for more.
func (s *session) gcmEncrypt(key ck.ObjectHandle, aad []byte, r io.Reader, w func([]byte) error) error {
	buf := make([]byte, partSize)
	n, eof, err := readPart(r, buf)
	if err != nil {
		return err
	}
	if eof {
		iv := make([]byte, gcmIVLen)
		rand.Read(iv)
		out, err := s.gcmOnce(ck.OpEncrypt, key, iv, aad, buf[:n])
		if err != nil {
			return err
		}
		return w(append(iv, out...))
	}
	prefix := make([]byte, gcmPrefixLen)
	rand.Read(prefix)
	if err := w(append(append([]byte(nil), gcmStreamMagic...), prefix...)); err != nil {
		return err
	}
	br := bufio.NewReader(r)
	for i := uint32(0); ; i++ {
		if i == ^uint32(0) {
			return failf("encrypt: the input is too large (more than 2^32 parts)")
		}
		_, peekErr := br.Peek(1)
		last := eof || peekErr == io.EOF
		out, err := s.gcmOnce(ck.OpEncrypt, key, gcmSegmentIV(prefix, i, last), aad, buf[:n])
		if err != nil {
			return err
		}
		if err := w(out); err != nil {
			return err
		}
		if last {
			return nil
		}
		if n, eof, err = readPart(br, buf); err != nil {
			return err
		}
	}
}

// gcmDecrypt decrypts what gcmEncrypt wrote. Each segment is written once its tag checks.
func (s *session) gcmDecrypt(key ck.ObjectHandle, aad []byte, r io.Reader, w func([]byte) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	head := make([]byte, len(gcmStreamMagic))
	n, eof, err := readPart(br, head)
	if err != nil {
		return err
	}
	if !bytes.Equal(head[:n], gcmStreamMagic) {
		// one GCM message: IV || ciphertext || tag
		rest, err := io.ReadAll(io.LimitReader(br, legacyGCMMax+64))
		if err != nil {
			return failf("reading the input: %v", err)
		}
		msg := append(head[:n], rest...)
		if eof || len(msg) < gcmIVLen+16 {
			return failf("decrypt: the input is too short for IV || ciphertext || tag")
		}
		if len(msg) > legacyGCMMax+gcmIVLen+16 {
			return failf("decrypt: the input is not what keyward encrypt writes (too long for one GCM message, and no segment header)")
		}
		out, err := s.gcmOnce(ck.OpDecrypt, key, msg[:gcmIVLen], aad, msg[gcmIVLen:])
		if err != nil {
			return err
		}
		return w(out)
	}
	prefix := make([]byte, gcmPrefixLen)
	if n, _, err := readPart(br, prefix); err != nil || n != gcmPrefixLen {
		return failf("decrypt: the input ends inside its segment header")
	}
	seg := make([]byte, partSize+16)
	for i := uint32(0); ; i++ {
		n, eof, err := readPart(br, seg)
		if err != nil {
			return err
		}
		if !eof {
			_, peekErr := br.Peek(1)
			eof = peekErr == io.EOF
		}
		if n < 16 {
			return failf("decrypt: the input is cut off (segment %d)", i)
		}
		out, err := s.gcmOnce(ck.OpDecrypt, key, gcmSegmentIV(prefix, i, eof), aad, seg[:n])
		if err != nil {
			return err
		}
		if err := w(out); err != nil {
			return err
		}
		if eof {
			return nil
		}
	}
}
