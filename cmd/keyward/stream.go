package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// Streaming: sign, verify, digest, encrypt and decrypt read their input in parts of partSize, so a
// 200 MiB firmware image costs the CLI one part of memory, not the image. An input of at most one part
// goes in one call (single-part mechanisms such as pure EdDSA, ML-DSA and RSA work only that way).

// openInput opens path ("-" or "": standard input) for streaming.
func (c *cli) openInput(path string) (io.ReadCloser, error) {
	if path == "" || path == "-" {
		return io.NopCloser(c.stdin), nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, failf("cannot read %s: %v", path, unwrapPathErr(err))
	}
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		f.Close()
		return nil, failf("cannot read %s: it is a directory", path)
	}
	return f, nil
}

// readPart reads up to n bytes; eof is true when the input ended within them.
func readPart(r io.Reader, buf []byte) (int, bool, error) {
	n, err := io.ReadFull(r, buf)
	switch {
	case err == nil:
		return n, false, nil
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return n, true, nil
	}
	return n, false, failf("reading the input: %v", err)
}

// errMultiPart marks an input too large for a mechanism that works in one part only.
type errMultiPart struct{ size int }

func (e errMultiPart) Error() string { return fmt.Sprintf("more than %d bytes", e.size) }

// stream runs an operation over r: it reads the first part, then initialises the operation (init) and runs
// it. emit receives the output of updates (encrypt, decrypt); the single part's or the final's output is
// returned. singleOnly refuses, before init, an input of more than one part.
func (s *session) stream(op ck.Operation, init func() error, r io.Reader, emit func([]byte) error, singleOnly bool) ([]byte, error) {
	buf := make([]byte, partSize)
	n, eof, err := readPart(r, buf)
	if err != nil {
		return nil, err
	}
	if !eof && singleOnly {
		return nil, errMultiPart{partSize}
	}
	if err := init(); err != nil {
		return nil, err
	}
	if eof {
		out, need, err := s.cl.OperationSingle(s.h, op, buf[:n], ck.Out{Present: true, Cap: uint64(n) + 64<<10})
		if ck.ToRV(err) == ck.CKR_BUFFER_TOO_SMALL {
			out, _, err = s.cl.OperationSingle(s.h, op, buf[:n], ck.Out{Present: true, Cap: need})
		}
		return out, err
	}
	for {
		if n > 0 {
			out, need, err := s.cl.OperationUpdate(s.h, op, buf[:n], ck.Out{Present: true, Cap: uint64(n) + 64<<10})
			if ck.ToRV(err) == ck.CKR_BUFFER_TOO_SMALL {
				out, _, err = s.cl.OperationUpdate(s.h, op, buf[:n], ck.Out{Present: true, Cap: need})
			}
			if err != nil {
				return nil, err
			}
			if len(out) > 0 && emit != nil {
				if err := emit(out); err != nil {
					return nil, err
				}
			}
		}
		if eof {
			break
		}
		if n, eof, err = readPart(r, buf); err != nil {
			return nil, err
		}
	}
	out, need, err := s.cl.OperationFinal(s.h, op, ck.Out{Present: true, Cap: 64 << 10})
	if ck.ToRV(err) == ck.CKR_BUFFER_TOO_SMALL {
		out, _, err = s.cl.OperationFinal(s.h, op, ck.Out{Present: true, Cap: need})
	}
	return out, err
}

// singlePartOnly reports whether a key type's default mechanism signs the whole message in one call.
func singlePartOnly(kt ck.KeyType) bool {
	return kt == ck.CKK_EC_EDWARDS || kt == ck.CKK_ML_DSA
}

// outputFile is an output written as it is produced: a temporary file beside the target, renamed into
// place when the command succeeds (never a half-written file at the target), or standard output.
type outputFile struct {
	c         *cli
	path, tmp string
	f         *os.File
}

func (c *cli) createOutput(path string, secret bool) (*outputFile, error) {
	o := &outputFile{c: c, path: path}
	if path == "" || path == "-" {
		return o, nil
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return nil, failf("cannot write %s: %v", path, unwrapPathErr(err))
	}
	mode := os.FileMode(0o644)
	if secret {
		mode = 0o600
	}
	f.Chmod(mode)
	o.f, o.tmp = f, f.Name()
	return o, nil
}

func (o *outputFile) Write(p []byte) error {
	var err error
	if o.f == nil {
		_, err = o.c.stdout.Write(p)
	} else {
		_, err = o.f.Write(p)
	}
	if err != nil {
		return failf("writing %s: %v", o.path, err)
	}
	return nil
}

// commit puts the output in place; abort drops it.
func (o *outputFile) commit() error {
	if o.f == nil {
		return nil
	}
	if err := o.f.Close(); err != nil {
		os.Remove(o.tmp)
		return failf("writing %s: %v", o.path, err)
	}
	if err := os.Rename(o.tmp, o.path); err != nil {
		os.Remove(o.tmp)
		return failf("cannot write %s: %v", o.path, unwrapPathErr(err))
	}
	return nil
}

func (o *outputFile) abort() {
	if o.f != nil {
		o.f.Close()
		os.Remove(o.tmp)
	}
}
