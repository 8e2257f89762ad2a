package main

import (
	"encoding/pem"
	"errors"
	"io"
	"os"
)

// Files: command input and output (a path, or - for the standard streams) and the errors they report.

// readAtMost reads up to n bytes of a file (a PIN source may be a pipe or a device).
func readAtMost(path string, n int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, n))
}

// unwrapPathErr is the cause of an *os.PathError (the message names the path already).
func unwrapPathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// readInput reads a file, or stdin for "" or "-".
func (c *cli) readInput(path string) ([]byte, error) {
	if path == "" || path == "-" {
		b, err := io.ReadAll(c.stdin)
		if err != nil {
			return nil, failf("reading standard input: %v", err)
		}
		return b, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, failf("cannot read %s: %v", path, unwrapPathErr(err))
	}
	return b, nil
}

// writeOutput writes data to a file (created 0644, or 0600 when secret), or stdout for "" or "-".
func (c *cli) writeOutput(path string, data []byte, secret bool) error {
	if path == "" || path == "-" {
		_, err := c.stdout.Write(data)
		return err
	}
	mode := os.FileMode(0o644)
	if secret {
		mode = 0o600
	}
	if err := os.WriteFile(path, data, mode); err != nil {
		return failf("cannot write %s: %v", path, unwrapPathErr(err))
	}
	return nil
}

// writeDER writes a DER value to a file or stdout as writeOutput does: PEM-armoured as a pemType block when
// format is pem, else as it is.
func (c *cli) writeDER(path, format, pemType string, der []byte) error {
	if format == "pem" {
		der = pem.EncodeToMemory(&pem.Block{Type: pemType, Bytes: der})
	}
	return c.writeOutput(path, der, false)
}
