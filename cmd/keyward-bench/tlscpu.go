package main

// Where a TLS handshake's time goes: the CPU that s_server (and, for a daemon-backed module, its daemon) spent
// per handshake over the TLS rows, from /proc/<pid>/stat. s_server handles one connection at a time, so the
// wall time per handshake (1 / the rate) minus its CPU per handshake is the time it waited: for the token
// rows, for the module's signature (a round trip and the daemon's work, for Keyward); for all rows, for a core
// the clients or other processes held.

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// clockTick is USER_HZ, 100 on every Linux architecture Keyward builds for.
const clockTick = 10 * time.Millisecond

// procCPU is the user + system CPU time a process has used.
func procCPU(pid int) (time.Duration, bool) {
	if pid <= 0 {
		return 0, false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	// The fields after the command name, which is in parentheses and may hold spaces: state is field 3,
	// utime field 14, stime field 15.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, false
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(u+s) * clockTick, true
}

// cpuMeter counts a server's handshakes and the CPU it and its daemon used from the moment it accepted.
type cpuMeter struct {
	handshakes         atomic.Int64
	serverPID, daemPID int
	server0, daemon0   time.Duration
}

func (c *cpuMeter) start(serverPID, daemonPID int) {
	c.serverPID, c.daemPID = serverPID, daemonPID
	c.server0, _ = procCPU(serverPID)
	c.daemon0, _ = procCPU(daemonPID)
}

// line describes the CPU per handshake, or "" when there were too few handshakes to say.
func (c *cpuMeter) line(name string) string {
	n := c.handshakes.Load()
	if n < 200 {
		return ""
	}
	per := func(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d)/float64(n)/1e3) }
	s, ok := procCPU(c.serverPID)
	if !ok {
		return ""
	}
	out := fmt.Sprintf("tls cpu per handshake, %s: s_server %s", name, per(s-c.server0))
	if d, ok := procCPU(c.daemPID); ok {
		out += ", its daemon " + per(d-c.daemon0)
	}
	return out + fmt.Sprintf(" (%d handshakes)", n)
}
