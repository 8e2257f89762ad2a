package main

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/miekg/pkcs11"
)

// Units. Rates are higher-is-better; times and sizes lower-is-better.
const (
	uOps = "ops/s"
	uMBs = "MB/s" // 10^6 bytes per second
	uUS  = "µs"
	uMS  = "ms"
	uMiB = "MiB"
)

func higherIsBetter(unit string) bool { return unit == uOps || unit == uMBs }

// cell is one measured number, or why there is none.
type cell struct {
	Value   *float64  `json:"value"`
	Ops     int       `json:"ops,omitempty"`
	Seconds float64   `json:"seconds,omitempty"`
	NA      string    `json:"na,omitempty"`
	Rounds  []float64 `json:"rounds,omitempty"`
}

func valueCell(v float64) *cell { return &cell{Value: &v} }

func naCell(why string) *cell { return &cell{NA: why} }

// row is one line of the table.
type row struct {
	Workload       string           `json:"workload"`
	Unit           string           `json:"unit"`
	HigherIsBetter bool             `json:"higher_is_better"`
	Threads        int              `json:"threads,omitempty"`
	Values         map[string]*cell `json:"values"`
	Limit          *cell            `json:"limit,omitempty"`
	LimitWhat      string           `json:"limit_what,omitempty"`
}

type bench struct {
	cfg      *config
	log      io.Writer
	mods     []*module
	rows     []*row
	index    map[string]*row
	limits   map[string]*cell
	machine  machine
	jsonMods []jsonModule
	tlsb     *tlsBench
	notes    []string // printed under the table
	targets  []*targetResult
}

func (b *bench) row(name, unit string) *row {
	if r := b.index[name]; r != nil {
		return r
	}
	r := &row{Workload: name, Unit: unit, HigherIsBetter: higherIsBetter(unit), Values: map[string]*cell{}}
	b.index[name] = r
	b.rows = append(b.rows, r)
	return r
}

func (b *bench) set(name, unit, label string, c *cell) {
	b.row(name, unit).Values[label] = c
}

func (b *bench) logf(format string, a ...any) { fmt.Fprintf(b.log, format, a...) }

// op is one operation; flush, when set, runs after each operation outside the timed window (destroying what the
// operation created).
type op struct {
	run   func() error
	flush func()
}

// measure runs ops (one per thread, in parallel) for about d, at least once each after one untimed warm-up, and
// returns the number of operations and the time they took.
func measure(d time.Duration, ops []op) (int, time.Duration, error) {
	for _, o := range ops {
		if err := o.run(); err != nil {
			return 0, 0, err
		}
		if o.flush != nil {
			o.flush()
		}
	}
	if len(ops) == 1 {
		return measure1(d, ops[0])
	}
	var wg sync.WaitGroup
	counts := make([]int, len(ops))
	errs := make([]error, len(ops))
	start := time.Now()
	deadline := start.Add(d)
	for i, o := range ops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if err := o.run(); err != nil {
					errs[i] = err
					return
				}
				counts[i]++
				if o.flush != nil {
					o.flush()
				}
				if time.Now().After(deadline) {
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	n := 0
	for i := range ops {
		if errs[i] != nil {
			return 0, 0, errs[i]
		}
		n += counts[i]
	}
	return n, elapsed, nil
}

func measure1(d time.Duration, o op) (int, time.Duration, error) {
	n := 0
	var timed time.Duration
	wallLimit := time.Now().Add(4*d + time.Second)
	if o.flush != nil {
		for {
			t := time.Now()
			err := o.run()
			timed += time.Since(t)
			if err != nil {
				return 0, 0, err
			}
			n++
			o.flush()
			if timed >= d || time.Now().After(wallLimit) {
				return n, timed, nil
			}
		}
	}
	// Without a flush, time batches (no clock read per operation), doubling up to a tenth of d.
	batch := 1
	for {
		t := time.Now()
		for i := 0; i < batch; i++ {
			if err := o.run(); err != nil {
				return 0, 0, err
			}
		}
		el := time.Since(t)
		timed += el
		n += batch
		if timed >= d {
			return n, timed, nil
		}
		perOp := float64(el) / float64(batch)
		if el < d/10 {
			batch *= 2
		}
		if left := float64(d - timed); perOp > 0 && float64(batch)*perOp > left {
			batch = max(1, int(left/perOp)+1)
		}
	}
}

func resultValue(unit string, bytes, n int, el time.Duration) float64 {
	s := el.Seconds()
	switch unit {
	case uOps:
		return float64(n) / s
	case uMBs:
		return float64(n) * float64(bytes) / s / 1e6
	case uUS:
		return s / float64(n) * 1e6
	case uMS:
		return s / float64(n) * 1e3
	}
	panic("unit " + unit)
}

func measuredCell(unit string, bytes, n int, el time.Duration) *cell {
	c := valueCell(resultValue(unit, bytes, n, el))
	c.Ops, c.Seconds = n, el.Seconds()
	return c
}

// runWorkload measures w on every module and its Go limit, in -rounds rounds that alternate between them (so a
// burst of load on the machine hits all columns alike); each number is the median of its rounds.
func (b *bench) runWorkload(w *workload) {
	r := b.row(w.name, w.unit)
	r.Threads = w.threads
	r.LimitWhat = w.limitWhat
	rounds := max(1, b.cfg.rounds)
	d := b.cfg.duration / time.Duration(rounds)
	type subject struct {
		label   string
		ops     []op
		cleanup func()
		na      *cell
		got     []*cell
		limit   bool
	}
	var subs []*subject
	for _, m := range b.mods {
		var ops []op
		var cleanup func()
		var na *cell
		if w.prepareAll != nil {
			var err error
			if ops, cleanup, err = w.prepareAll(m); err != nil {
				na = naCell(err.Error())
			}
		} else {
			ops, cleanup, na = b.prepare(w, m)
		}
		subs = append(subs, &subject{label: m.label, ops: ops, cleanup: cleanup, na: na})
	}
	cachedLimit := b.limits[w.limitKey()]
	if w.limitAll != nil && cachedLimit == nil {
		s := &subject{label: "go limit", limit: true}
		var err error
		if s.ops, s.cleanup, err = w.limitAll(); err != nil {
			s.na = naCell(err.Error())
		}
		subs = append(subs, s)
	} else if w.limit != nil && cachedLimit == nil {
		s := &subject{label: "go limit", limit: true}
		s.ops = make([]op, max(1, w.threads))
		for i := range s.ops {
			var err error
			if s.ops[i], err = w.limit(); err != nil {
				s.na = naCell(err.Error())
				break
			}
		}
		subs = append(subs, s)
	}
	for round := 0; round < rounds; round++ {
		for _, s := range subs {
			if s.na != nil {
				continue
			}
			n, el, err := measure(d, s.ops)
			if err != nil {
				s.na = naCell(err.Error())
				continue
			}
			s.got = append(s.got, measuredCell(w.unit, w.bytes, n, el))
		}
	}
	for _, s := range subs {
		if s.cleanup != nil {
			s.cleanup()
		}
		c := s.na
		if c == nil {
			c = medianCell(s.got)
		}
		label := s.label
		if s.limit && w.limitLabel != "" {
			label = w.limitLabel
		}
		b.logf("  %-34s %-10s %s\n", w.name, label, cellText(c, w.unit))
		if s.limit {
			b.limits[w.limitKey()] = c
		} else {
			r.Values[s.label] = c
		}
	}
	for _, m := range b.mods {
		if w.after != nil {
			w.after(m)
		}
	}
	if w.limit != nil || w.limitAll != nil {
		r.Limit = b.limits[w.limitKey()]
		if cachedLimit != nil {
			b.logf("  %-34s %-10s %s (measured above)\n", w.name, "go limit", cellText(cachedLimit, w.unit))
		}
	}
}

// medianCell is the round with the median value; Ops and Seconds are the totals of all rounds.
func medianCell(cs []*cell) *cell {
	sorted := append([]*cell(nil), cs...)
	sort.Slice(sorted, func(i, j int) bool { return *sorted[i].Value < *sorted[j].Value })
	v := *sorted[len(sorted)/2].Value
	c := valueCell(v)
	for _, x := range cs {
		c.Ops += x.Ops
		c.Seconds += x.Seconds
	}
	if len(cs) > 1 {
		for _, x := range cs {
			c.Rounds = append(c.Rounds, *x.Value)
		}
	}
	return c
}

// prepare makes w's operations on m: one per thread, each thread with its own session when w.threads > 0.
func (b *bench) prepare(w *workload, m *module) (ops []op, cleanup func(), na *cell) {
	var sessions []pkcs11.SessionHandle
	closeAll := func() {
		for _, s := range sessions {
			m.ctx.CloseSession(s)
		}
	}
	defer func() {
		if p := recover(); p != nil {
			na = naCell(fmt.Sprint("panic: ", p))
		}
		if na != nil {
			closeAll()
			ops, cleanup = nil, nil
		} else {
			cleanup = closeAll
		}
	}()
	if err := m.has(w.mechs...); err != nil {
		return nil, nil, naCell(err.Error())
	}
	ops = make([]op, max(1, w.threads))
	for i := range ops {
		s := m.sess
		if w.threads > 0 {
			var err error
			if s, err = m.ctx.OpenSession(m.slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION); err != nil {
				return nil, nil, naCell("C_OpenSession: " + err.Error())
			}
			sessions = append(sessions, s)
		}
		var err error
		if ops[i], err = w.mk(m, s); err != nil {
			return nil, nil, naCell(err.Error())
		}
	}
	return ops, nil, nil
}

// ---- formatting ----

func fmtNum(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1000:
		s := strconv.FormatFloat(math.Round(v), 'f', 0, 64)
		var out []byte
		for i := range s {
			if i > 0 && (len(s)-i)%3 == 0 && s[i-1] != '-' {
				out = append(out, ',')
			}
			out = append(out, s[i])
		}
		return string(out)
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	default:
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
}

func cellText(c *cell, unit string) string {
	if c == nil {
		return "-"
	}
	if c.Value == nil {
		if strings.HasPrefix(c.NA, "n/a") {
			return "n/a"
		}
		return "error"
	}
	return fmtNum(*c.Value)
}

// speed turns a value into higher-is-better.
func speed(r *row, c *cell) (float64, bool) {
	if c == nil || c.Value == nil || *c.Value <= 0 {
		return 0, false
	}
	if r.HigherIsBetter {
		return *c.Value, true
	}
	return 1 / *c.Value, true
}

func ratioText(r *row, c, base *cell) string {
	a, ok1 := speed(r, c)
	z, ok2 := speed(r, base)
	if !ok1 || !ok2 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", a/z)
}

func (b *bench) printTable(w io.Writer) {
	hdr := []string{"workload", "unit"}
	for i, m := range b.mods {
		hdr = append(hdr, m.label)
		if i > 0 {
			hdr = append(hdr, m.label+"/"+b.mods[0].label)
		}
	}
	hdr = append(hdr, "go limit")
	for _, m := range b.mods {
		hdr = append(hdr, m.label+"/limit")
	}
	table := [][]string{hdr}
	var notes []string
	for _, r := range b.rows {
		line := []string{r.Workload, r.Unit}
		base := r.Values[b.mods[0].label]
		for i, m := range b.mods {
			c := r.Values[m.label]
			line = append(line, cellText(c, r.Unit))
			if c != nil && c.Value == nil && !strings.HasPrefix(c.NA, "n/a") {
				notes = append(notes, fmt.Sprintf("%s on %s: %s", r.Workload, m.label, c.NA))
			}
			if i > 0 {
				line = append(line, ratioText(r, c, base))
			}
		}
		line = append(line, cellText(r.Limit, r.Unit))
		for _, m := range b.mods {
			line = append(line, ratioText(r, r.Values[m.label], r.Limit))
		}
		table = append(table, line)
	}
	widths := make([]int, len(hdr))
	for _, l := range table {
		for i, s := range l {
			widths[i] = max(widths[i], len([]rune(s)))
		}
	}
	for li, l := range table {
		var sb strings.Builder
		for i, s := range l {
			pad := strings.Repeat(" ", widths[i]-len([]rune(s)))
			if i == 0 {
				sb.WriteString(s + pad)
			} else {
				sb.WriteString("  " + pad + s)
			}
		}
		fmt.Fprintln(w, strings.TrimRight(sb.String(), " "))
		if li == 0 {
			n := 0
			for _, x := range widths {
				n += x + 2
			}
			fmt.Fprintln(w, strings.Repeat("-", n-2))
		}
	}
	fmt.Fprintf(w, "\nratios are speed ratios (higher = faster or smaller), x/%s against the first module and x/limit against Go "+
		"in-process;\n%s per workload per module in %d alternating rounds, median shown; n/a = mechanism not offered.\n",
		b.mods[0].label, b.cfg.duration, max(1, b.cfg.rounds))
	for _, n := range b.notes {
		fmt.Fprintln(w, n)
	}
	for _, n := range notes {
		fmt.Fprintln(w, "error:", n)
	}
}
