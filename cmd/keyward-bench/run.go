package main

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/pkcs11"
)

func (b *bench) want(name string) bool { return b.cfg.filter == nil || b.cfg.filter.MatchString(name) }

func (b *bench) runAll() error {
	b.machine = describeMachine()
	for _, spec := range b.cfg.modules {
		b.logf("loading %s (%s)\n", spec.label, spec.path)
		m, err := openModule(spec, b.cfg.pin, b.cfg.soPIN, b.cfg.daemonPID)
		if err != nil {
			return err
		}
		defer m.close()
		b.mods = append(b.mods, m)
		jm := jsonModule{Label: m.label, Path: m.path, Slot: m.slot, Daemon: m.isDaemon, DaemonPID: m.daemonPID}
		if info, err := m.ctx.GetInfo(); err == nil {
			jm.Library = fmt.Sprintf("%s %s %d.%d", strings.TrimSpace(info.ManufacturerID),
				strings.TrimSpace(info.LibraryDescription), info.LibraryVersion.Major, info.LibraryVersion.Minor)
		}
		b.jsonMods = append(b.jsonMods, jm)
		if m.isDaemon && m.daemonPID == 0 {
			b.logf("  %s: daemon-backed but its pid was not found (give -daemon-pid): no daemon RSS\n", m.label)
		}
	}
	// Load time and RSS first, while the tokens hold only what C_InitToken made (SoftHSMv2 reads every object of
	// its tokens at C_Initialize).
	if b.want("load") || b.want("RSS") {
		for _, m := range b.mods {
			b.loadRSS(m)
		}
	}
	// The application rows first, while each token holds no key but theirs: libp11 0.4.12 cannot enumerate the
	// private keys of a token that holds an Ed25519 key (on SoftHSMv2 and Keyward alike), and SoftHSMv2 reads
	// every object of the token at each s_server's C_Initialize. Their servers stop before the next workload; the
	// rows are moved to the end of the table.
	cleanups = append(cleanups, b.tlsb.stopAll)
	tlsRows := []*workload{b.tlsWL(rowTLS13, tls.VersionTLS13), b.tlsWL(rowTLS12, tls.VersionTLS12)}
	for _, w := range tlsRows {
		if b.want(w.name) {
			b.runWorkload(w)
		}
	}
	b.tlsb.stopAll()
	b.tlsNotes()
	before, after := b.workloads()
	for _, w := range before {
		if b.want(w.name) {
			b.runWorkload(w)
		}
	}
	for _, w := range after {
		if b.want(w.name) {
			b.runWorkload(w)
		}
	}
	// The object workloads come last: SoftHSMv2 cannot destroy 10k objects in reasonable time (its file store
	// rescans the token per C_DestroyObject), so on a fresh token what the destruction measurement leaves stays.
	if b.want("object") || b.want("find-by-label") {
		for _, m := range b.mods {
			b.objects(m)
		}
	}
	b.moveToEnd(rowTLS13, rowTLS12)
	if b.want("daemon") || b.want("RSS") {
		for _, m := range b.mods {
			b.daemonRSS(m, "daemon RSS at end of run", "VmRSS")
			b.daemonRSS(m, "daemon peak RSS (VmHWM)", "VmHWM")
		}
	}
	return nil
}

// moveToEnd moves the named rows, in that order, after all others.
func (b *bench) moveToEnd(names ...string) {
	var keep, moved []*row
	for _, r := range b.rows {
		if !slices.Contains(names, r.Workload) {
			keep = append(keep, r)
		}
	}
	for _, n := range names {
		if r := b.index[n]; r != nil {
			moved = append(moved, r)
		}
	}
	b.rows = append(keep, moved...)
}

func (b *bench) daemonRSS(m *module, name, field string) {
	if !m.isDaemon || m.daemonPID == 0 {
		b.set(name, uMiB, m.label, naCell("n/a: in-process module"))
		return
	}
	kb, err := procStatusKB(strconv.Itoa(m.daemonPID), field)
	if err != nil {
		b.set(name, uMiB, m.label, naCell(err.Error()))
		return
	}
	b.set(name, uMiB, m.label, valueCell(float64(kb)/1024))
}

func countName(n int) string {
	if n > 0 && n%1000 == 0 {
		return strconv.Itoa(n/1000) + "k"
	}
	return strconv.Itoa(n)
}

// objects creates token data objects up to each count, measuring the creation rate and find-by-label among them,
// then the daemon's RSS with the most objects, then destroys them all (the destruction rate).
func (b *bench) objects(m *module) {
	ctx, s := m.ctx, m.sess
	value := msg(32)
	var handles []pkcs11.ObjectHandle
	from := 0
	failed := ""
	defer func() {
		// Destroy for the workload's duration (at least 100 objects), newest first; the rest only on a token
		// the user gave (a fresh token is thrown away with its objects).
		t := time.Now()
		n := 0
		for len(handles) > 0 && (n < 100 || time.Since(t) < b.cfg.duration) {
			h := handles[len(handles)-1]
			if err := ctx.DestroyObject(s, h); err != nil {
				if failed == "" {
					failed = "C_DestroyObject: " + err.Error()
				}
				break
			}
			handles = handles[:len(handles)-1]
			n++
		}
		el := time.Since(t)
		left := len(handles)
		if m.moduleSpec.slot >= 0 {
			for _, h := range handles {
				ctx.DestroyObject(s, h)
			}
		}
		name := "object destroy (from the most objects)"
		if len(b.cfg.objects) > 0 {
			name = fmt.Sprintf("object destroy (from %s objects)", countName(b.cfg.objects[len(b.cfg.objects)-1]))
		}
		if left > 0 {
			b.logf("  %s: %d objects left on the token\n", m.label, left)
		}
		if n == 0 {
			b.set(name, uOps, m.label, naCell("no objects: "+failed))
		} else {
			b.set(name, uOps, m.label, measuredCell(uOps, 0, n, el))
		}
		b.logf("  %-34s %-10s %s\n", name, m.label, cellText(b.index[name].Values[m.label], uOps))
	}()
	label := func(i int) string { return fmt.Sprintf("kwbench-obj-%07d", i) }
	for _, count := range b.cfg.objects {
		name := fmt.Sprintf("object create %s→%s", countName(from), countName(count))
		if failed != "" {
			b.set(name, uOps, m.label, naCell(failed))
			continue
		}
		t := time.Now()
		for i := from; i < count; i++ {
			h, err := ctx.CreateObject(s, []*pkcs11.Attribute{
				attr(pkcs11.CKA_CLASS, pkcs11.CKO_DATA), attr(pkcs11.CKA_TOKEN, true), attr(pkcs11.CKA_PRIVATE, false),
				attr(pkcs11.CKA_LABEL, label(i)), attr(pkcs11.CKA_APPLICATION, "keyward-bench"), attr(pkcs11.CKA_VALUE, value)})
			if err != nil {
				failed = fmt.Sprintf("C_CreateObject #%d: %v", i, err)
				break
			}
			handles = append(handles, h)
		}
		el := time.Since(t)
		if failed != "" {
			b.set(name, uOps, m.label, naCell(failed))
			b.logf("  %-34s %-10s error: %s\n", name, m.label, failed)
			continue
		}
		b.set(name, uOps, m.label, measuredCell(uOps, 0, count-from, el))
		b.logf("  %-34s %-10s %s\n", name, m.label, fmtNum(float64(count-from)/el.Seconds()))
		from = count

		fname := fmt.Sprintf("find-by-label among %s", countName(count))
		rng := rand.New(rand.NewPCG(1, uint64(count)))
		find := func() error {
			want := label(rng.IntN(count))
			if err := ctx.FindObjectsInit(s, []*pkcs11.Attribute{attr(pkcs11.CKA_LABEL, want)}); err != nil {
				return err
			}
			found, _, err := ctx.FindObjects(s, 4)
			ctx.FindObjectsFinal(s)
			if err == nil && len(found) != 1 {
				err = fmt.Errorf("found %d objects labelled %s", len(found), want)
			}
			return err
		}
		if n, el, err := measure(b.cfg.duration, []op{{run: find}}); err != nil {
			b.set(fname, uUS, m.label, naCell(err.Error()))
		} else {
			b.set(fname, uUS, m.label, measuredCell(uUS, 0, n, el))
		}
		b.logf("  %-34s %-10s %s\n", fname, m.label, cellText(b.index[fname].Values[m.label], uUS))
	}
	if len(b.cfg.objects) > 0 {
		b.daemonRSS(m, fmt.Sprintf("daemon RSS with %s objects", countName(b.cfg.objects[len(b.cfg.objects)-1])), "VmRSS")
	}
}

// loadResult is what a child process reports about loading a module.
type loadResult struct {
	LoadInitUS   float64 `json:"load_init_us"`
	RSSBeforeKB  int     `json:"rss_before_kb"`
	RSSInitKB    int     `json:"rss_init_kb"`
	RSSSessionKB int     `json:"rss_session_kb"`
	Err          string  `json:"err,omitempty"`
}

// childLoad runs in a fresh child process: it loads path, calls C_Initialize, and reports the time and the RSS
// the module added to the process, then with a session open and a call made.
func childLoad(path string, w io.Writer) int {
	var r loadResult
	defer func() { json.NewEncoder(w).Encode(r) }()
	r.RSSBeforeKB, _ = procStatusKB("self", "VmRSS")
	t := time.Now()
	ctx := pkcs11.New(path)
	if ctx == nil {
		r.Err = "cannot load"
		return 1
	}
	if err := ctx.Initialize(); err != nil {
		r.Err = "C_Initialize: " + err.Error()
		return 1
	}
	r.LoadInitUS = float64(time.Since(t).Nanoseconds()) / 1e3
	r.RSSInitKB, _ = procStatusKB("self", "VmRSS")
	if slots, err := ctx.GetSlotList(true); err == nil && len(slots) > 0 {
		if s, err := ctx.OpenSession(slots[0], pkcs11.CKF_SERIAL_SESSION); err == nil {
			ctx.GetSessionInfo(s)
			r.RSSSessionKB, _ = procStatusKB("self", "VmRSS")
			ctx.CloseSession(s)
		}
	}
	ctx.Finalize()
	return 0
}

func median(v []float64) float64 {
	sort.Float64s(v)
	return v[len(v)/2]
}

func (b *bench) loadRSS(m *module) {
	self, err := os.Executable()
	nameT, nameI, nameS := "load + C_Initialize (child process)", "host RSS added: load + C_Initialize", "host RSS added: + session and a call"
	if err != nil {
		b.set(nameT, uMS, m.label, naCell(err.Error()))
		return
	}
	var ts, ri, rs []float64
	for i := 0; i < b.cfg.loadRuns; i++ {
		out, err := exec.Command(self, "-child-load", m.path).Output()
		var r loadResult
		if jerr := json.Unmarshal(out, &r); jerr != nil || r.Err != "" {
			why := r.Err
			if why == "" {
				why = fmt.Sprint(err, jerr)
			}
			b.set(nameT, uMS, m.label, naCell(why))
			return
		}
		ts = append(ts, r.LoadInitUS/1e3)
		ri = append(ri, float64(r.RSSInitKB-r.RSSBeforeKB)/1024)
		if r.RSSSessionKB > 0 {
			rs = append(rs, float64(r.RSSSessionKB-r.RSSBeforeKB)/1024)
		}
	}
	tc := valueCell(median(ts))
	tc.Ops = len(ts)
	b.set(nameT, uMS, m.label, tc)
	b.set(nameI, uMiB, m.label, valueCell(median(ri)))
	if len(rs) > 0 {
		b.set(nameS, uMiB, m.label, valueCell(median(rs)))
	} else {
		b.set(nameS, uMiB, m.label, naCell("no session"))
	}
	b.logf("  %-34s %-10s %s ms, +%s MiB, +%s MiB\n", "load/RSS", m.label, fmtNum(median(ts)), fmtNum(median(ri)),
		cellText(b.index[nameS].Values[m.label], uMiB))
}
