package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	ck "github.com/keyward/keyward/pkg/cryptoki"
)

// A progress line for long work (RSA 3072/4096 key generation, provision): a spinner, what is being done and
// the elapsed time, redrawn on stderr and erased when the work ends. Only when stderr is a terminal: scripts,
// pipes, log files and the tests see no extra output.

const (
	progressDelay    = 250 * time.Millisecond // quick work never shows a line
	progressInterval = 100 * time.Millisecond
	progressClear    = "\r\x1b[K" // carriage return, erase to the end of the line
)

var spinnerFrames = []string{"|", "/", "-", `\`}

// isTerminal reports whether w is a terminal (a file whose descriptor answers TCGETS).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || f == nil {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// renderProgress is one frame of the progress line, starting with progressClear.
func renderProgress(frame int, msg string, elapsed time.Duration) string {
	return fmt.Sprintf("%s%s %s (%ds)", progressClear, spinnerFrames[frame%len(spinnerFrames)], msg, int(elapsed/time.Second))
}

// progress is a running progress line; its methods are safe on nil (no terminal).
type progress struct {
	w         io.Writer
	mu        sync.Mutex
	msg       string
	start     time.Time
	drawn     bool
	stopCh    chan struct{}
	done      chan struct{}
	stopOnce  sync.Once
	delay     time.Duration
	interval  time.Duration
	timeSince func(time.Time) time.Duration
}

// startProgress shows msg with a spinner on stderr if stderr is a terminal; call stop (or defer it) when the
// work ends, before writing anything else to the terminal.
func (c *cli) startProgress(msg string) *progress {
	if !isTerminal(c.stderr) {
		return nil
	}
	return newProgress(c.stderr, msg, progressDelay, progressInterval)
}

func newProgress(w io.Writer, msg string, delay, interval time.Duration) *progress {
	p := &progress{w: w, msg: msg, start: time.Now(), stopCh: make(chan struct{}), done: make(chan struct{}),
		delay: delay, interval: interval, timeSince: time.Since}
	go p.loop()
	return p
}

func (p *progress) loop() {
	defer close(p.done)
	select {
	case <-p.stopCh:
		return
	case <-time.After(p.delay):
	}
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for frame := 0; ; frame++ {
		p.mu.Lock()
		io.WriteString(p.w, renderProgress(frame, p.msg, p.timeSince(p.start)))
		p.drawn = true
		p.mu.Unlock()
		select {
		case <-p.stopCh:
			return
		case <-t.C:
		}
	}
}

// set changes the message (the elapsed time keeps counting).
func (p *progress) set(msg string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.msg = msg
	p.mu.Unlock()
}

// stop ends the progress line and erases it; it may be called more than once.
func (p *progress) stop() {
	if p == nil {
		return
	}
	p.stopOnce.Do(func() {
		close(p.stopCh)
		<-p.done
		if p.drawn {
			io.WriteString(p.w, progressClear)
		}
	})
}

// slowKeyType reports whether generating the key type takes long enough to show progress.
func slowKeyType(spec *keySpec) bool {
	bits, err := strconv.Atoi(strings.TrimPrefix(spec.name, "rsa:"))
	return spec.keyType == ck.CKK_RSA && err == nil && bits >= 3072
}
