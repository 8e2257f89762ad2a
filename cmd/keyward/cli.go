package main

import (
	"io"
	"os"

	"github.com/keyward/keyward/pkg/client"
)

// cli is one run of the command line: its streams, its environment and its connection to keywardd.
type cli struct {
	stdout, stderr io.Writer
	stdin          io.Reader
	getenv         func(string) string
	lookupEnv      func(string) (string, bool)
	openTTY        func() (*os.File, error) // the terminal for PIN prompts and confirmations
	conn           *client.Client
	offline        offline // --store: the CLI serves a store itself (offline.go)
}

// newCLI is a run on the given output streams, with the process's standard input, environment and terminal.
func newCLI(stdout, stderr io.Writer) *cli {
	return &cli{
		stdout: stdout, stderr: stderr, stdin: os.Stdin,
		getenv: os.Getenv, lookupEnv: os.LookupEnv,
		openTTY: func() (*os.File, error) { return os.OpenFile("/dev/tty", os.O_RDWR, 0) },
	}
}
