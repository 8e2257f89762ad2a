package vault

import (
	"bufio"
	"bytes"
	"os"
	"runtime/debug"
	"strconv"
	"sync"

	"golang.org/x/crypto/argon2"
)

// The PIN derivation's memory: Argon2id allocates Memory KiB per derivation, so a burst of logins multiplies it.
// At most SetMaxDerivations(n) run at once (the others wait), and the memory goes back to the OS after each one:
// a device with 128-256 MB of RAM then peaks at one derivation's memory above its idle size.

// lowRAM is the machine size under which the default PIN derivation uses less memory.
const lowRAM = 1 << 30

// KDFForMemory is the Argon2id setting that uses mib MiB: the passes grow as the memory shrinks (RFC 9106,
// section 4: t=2 at 64 MiB; 3 at 32 MiB; 4 at 16 MiB or less), so a smaller setting costs about as much time.
func KDFForMemory(mib uint32) KDFParams {
	t := uint32(2)
	switch {
	case mib <= 16:
		t = 4
	case mib <= 32:
		t = 3
	}
	return KDFParams{Time: t, Memory: mib * 1024, Threads: 1}
}

// KDFForRAM is the default PIN derivation for a machine with ram bytes of memory (0: unknown): 64 MiB from
// 1 GiB up, 32 MiB from 512 MiB, 16 MiB below.
func KDFForRAM(ram uint64) KDFParams {
	switch {
	case ram == 0 || ram >= lowRAM:
		return KDFForMemory(64)
	case ram >= lowRAM/2:
		return KDFForMemory(32)
	default:
		return KDFForMemory(16)
	}
}

func init() {
	DefaultKDF = KDFForRAM(MachineRAM())
}

// MachineRAM is the machine's memory in bytes (MemTotal of /proc/meminfo), or 0 when it cannot be read.
func MachineRAM() uint64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		rest, ok := bytes.CutPrefix(s.Bytes(), []byte("MemTotal:"))
		if !ok {
			continue
		}
		kb, err := strconv.ParseUint(string(bytes.TrimSuffix(bytes.TrimSpace(rest), []byte(" kB"))), 10, 64)
		if err != nil {
			return 0
		}
		return kb << 10
	}
	return 0
}

// derivations bounds the PIN derivations that run at once.
var derivations = newLimiter(1)

// SetMaxDerivations sets how many PIN derivations may run at once (at least 1; the default is 1).
func SetMaxDerivations(n int) { derivations.setMax(max(1, n)) }

// stretch is Argon2id under the derivation limit; the memory it used is handed back to the OS before the
// next derivation starts.
func stretch(pin, salt []byte, p KDFParams) []byte {
	derivations.acquire()
	defer derivations.release()
	k := argon2.IDKey(pin, salt, p.Time, p.Memory, p.Threads, KeySize)
	if p.Memory >= 1024 {
		debug.FreeOSMemory() // the Argon2id matrix is garbage now; the GC may not run for a while
	}
	return k
}

// limiter is a counting semaphore whose size may change.
type limiter struct {
	mu        sync.Mutex
	cond      *sync.Cond
	busy, max int
}

func newLimiter(n int) *limiter {
	l := &limiter{max: n}
	l.cond = sync.NewCond(&l.mu)
	return l
}

func (l *limiter) setMax(n int) {
	l.mu.Lock()
	l.max = n
	l.mu.Unlock()
	l.cond.Broadcast()
}

func (l *limiter) acquire() {
	l.mu.Lock()
	for l.busy >= l.max {
		l.cond.Wait()
	}
	l.busy++
	l.mu.Unlock()
}

func (l *limiter) release() {
	l.mu.Lock()
	l.busy--
	l.mu.Unlock()
	l.cond.Signal()
}
