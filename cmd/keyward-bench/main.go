// Command keyward-bench runs the same PKCS#11 workloads on a list of modules (libkeyward.so, SoftHSMv2, any other)
// in one process and one run, and prints one table: each module's rate, its ratio to the first module, and a
// "limit" column that measures the same primitive in-process with Go's crypto in the same run. It writes every
// number as JSON and a bar chart as PNG.
//
//	keyward-bench -module /usr/lib/softhsm/libsofthsm2.so -module build/libkeyward.so \
//	    -duration 2s -json results.json -png results.png
//
// Each -module is path[,label[,slot]]: without a slot a fresh token is initialised in the first slot holding an
// uninitialised token (SO PIN -so-pin, user PIN -pin); with a slot that token is used and the user logs in with
// -pin. The timed calls are C_xxxInit + C_xxx with the output buffer sized in advance (no length query), and for
// the single-part workloads also through miekg/pkcs11, which asks for the length first (the ", length query"
// rows, lenq.go). The TLS rows time full handshakes of `openssl s_server` with the token's key through libp11's
// engine (tls.go). Under the table come the targets of issue 15 item 5, each met or missed in this run.
// libkeyward.so is found to be daemon-backed and its keywardd's RSS is read from /proc (the pid from the socket's
// peer credentials, or -daemon-pid).
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, " ") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

type config struct {
	modules    []moduleSpec
	pin        string
	soPIN      string
	duration   time.Duration
	filter     *regexp.Regexp
	jsonOut    string
	pngOut     string
	threads    []int
	objects    []int
	daemonPID  int
	loadRuns   int
	rounds     int
	quiet      bool
	tlsClients int
	tlsEngine  string
}

func main() {
	if len(os.Args) == 3 && os.Args[1] == "-child-load" {
		os.Exit(childLoad(os.Args[2], os.Stdout))
	}
	if len(os.Args) == 2 && os.Args[1] == "-child-echo" {
		os.Exit(childEcho())
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSuffix(f, "k"), "K"))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("bad number %q", f)
		}
		if strings.HasSuffix(f, "k") || strings.HasSuffix(f, "K") {
			n *= 1000
		}
		out = append(out, n)
	}
	return out, nil
}

func parseArgs(args []string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("keyward-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var mods listFlag
	fs.Var(&mods, "module", "PKCS#11 module: path[,label[,slot]] (repeat; the first is the baseline of the ratios)")
	c := &config{}
	fs.StringVar(&c.pin, "pin", "kwbench-user-1234", "user PIN (set on a fresh token, or used to log in to a given slot)")
	fs.StringVar(&c.soPIN, "so-pin", "kwbench-so-12345", "SO PIN for a fresh token")
	fs.DurationVar(&c.duration, "duration", 2*time.Second, "time per workload per module (every workload runs at least once)")
	filter := fs.String("workloads", "", "regular expression: run only the workloads whose name matches")
	fs.StringVar(&c.jsonOut, "json", "", "write every number as JSON here")
	fs.StringVar(&c.pngOut, "png", "", "write a bar chart here")
	threads := fs.String("threads", "1,2,4", "thread counts for the concurrency workloads (ECDSA P-256 and RSA-2048 sign)")
	objects := fs.String("objects", "1k,10k", "object counts for the creation and find-by-label workloads")
	big := fs.Bool("big", false, "also create and search 100k objects")
	fs.IntVar(&c.daemonPID, "daemon-pid", 0, "keywardd's pid (default: the peer of $KEYWARD_SOCKET)")
	fs.IntVar(&c.loadRuns, "load-runs", 5, "child processes per module for the load and RSS measurement (median)")
	fs.IntVar(&c.rounds, "rounds", 3, "rounds per workload, alternating modules and the limit; the median is reported")
	fs.BoolVar(&c.quiet, "q", false, "no progress on stderr")
	fs.StringVar(&c.tlsEngine, "tls-engine", "", "libp11's OpenSSL pkcs11 engine for the TLS rows (default: pkcs11.so in openssl's ENGINESDIR)")
	fs.IntVar(&c.tlsClients, "tls-clients", 4, "concurrent clients of the TLS handshake rows (each a goroutine doing full handshakes)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() != 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if len(mods) == 0 {
		return nil, errors.New("give at least one -module")
	}
	seen := map[string]bool{}
	for _, s := range mods {
		ms, err := parseModuleSpec(s)
		if err != nil {
			return nil, err
		}
		if seen[ms.label] {
			return nil, fmt.Errorf("two modules labelled %q: give labels (-module path,label)", ms.label)
		}
		seen[ms.label] = true
		c.modules = append(c.modules, ms)
	}
	if *filter != "" {
		re, err := regexp.Compile(*filter)
		if err != nil {
			return nil, fmt.Errorf("-workloads: %w", err)
		}
		c.filter = re
	}
	var err error
	if c.threads, err = parseInts(*threads); err != nil {
		return nil, fmt.Errorf("-threads: %w", err)
	}
	if c.objects, err = parseInts(*objects); err != nil {
		return nil, fmt.Errorf("-objects: %w", err)
	}
	if *big && (len(c.objects) == 0 || c.objects[len(c.objects)-1] < 100000) {
		c.objects = append(c.objects, 100000)
	}
	for i := 1; i < len(c.objects); i++ {
		if c.objects[i] <= c.objects[i-1] {
			return nil, errors.New("-objects: counts must increase")
		}
	}
	if c.loadRuns < 1 {
		c.loadRuns = 1
	}
	return c, nil
}

func run(args []string, stdout, stderr io.Writer) int {
	c, err := parseArgs(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "keyward-bench:", err)
		return 2
	}
	b := &bench{cfg: c, log: stderr, index: map[string]*row{}, limits: map[string]*cell{}, tlsb: &tlsBench{enginePath: c.tlsEngine}}
	if c.quiet {
		b.log = io.Discard
	}
	err = b.runAll()
	runCleanups()
	if err != nil {
		fmt.Fprintln(stderr, "keyward-bench:", err)
		return 1
	}
	b.evalTargets()
	b.printTable(stdout)
	b.printTargets(stdout)
	if c.jsonOut != "" {
		if err := b.writeJSON(c.jsonOut); err != nil {
			fmt.Fprintln(stderr, "keyward-bench:", err)
			return 1
		}
	}
	if c.pngOut != "" {
		if err := b.writePNG(c.pngOut); err != nil {
			fmt.Fprintln(stderr, "keyward-bench:", err)
			return 1
		}
	}
	return 0
}

// machine describes where the run happened.
type machine struct {
	CPU        string `json:"cpu"`
	CPUs       int    `json:"cpus"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	Go         string `json:"go"`
	Kernel     string `json:"kernel"`
	Started    string `json:"started"`
}

func describeMachine() machine {
	m := machine{CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), Go: runtime.Version(),
		Started: time.Now().UTC().Format(time.RFC3339)}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				m.CPU = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	if out, err := exec.Command("uname", "-sr").Output(); err == nil {
		m.Kernel = strings.TrimSpace(string(out))
	}
	return m
}

type jsonModule struct {
	Label     string `json:"label"`
	Path      string `json:"path"`
	Slot      uint   `json:"slot"`
	Library   string `json:"library,omitempty"`
	Daemon    bool   `json:"daemon"`
	DaemonPID int    `json:"daemon_pid,omitempty"`
}

func (b *bench) writeJSON(path string) error {
	out := struct {
		Machine  machine         `json:"machine"`
		Command  []string        `json:"command"`
		Duration string          `json:"duration_per_workload"`
		Rounds   int             `json:"rounds"`
		Modules  []jsonModule    `json:"modules"`
		Results  []*row          `json:"results"`
		Targets  []*targetResult `json:"targets,omitempty"`
		Notes    []string        `json:"notes,omitempty"`
	}{Machine: b.machine, Command: os.Args, Duration: b.cfg.duration.String(), Rounds: b.cfg.rounds, Modules: b.jsonMods,
		Results: b.rows, Targets: b.targets, Notes: b.notes}
	data, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}
