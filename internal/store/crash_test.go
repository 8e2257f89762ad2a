package store

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The crash test's two tokens. Counted objects live in crashTokA, their
// number kept in the meta key crashNextKey and updated in the same
// transaction; loose objects (written with the single-statement
// Store.PutObject) live in crashTokB, whose id is above 2^63.
const (
	crashTokA    uint64 = 1
	crashTokB    uint64 = 1<<63 + 5
	crashNextKey        = "crash-next"
)

// crashObjID is the id of the n-th counted object; every other one is
// above 2^63.
func crashObjID(n uint64) uint64 { return n | (n&1)<<63 }

// crashPrivate is the private flag of the counted object with id id.
func crashPrivate(id uint64) bool { return id%3 == 0 }

// crashBlob is the blob of object id of token tok: pseudo-random bytes
// seeded by both ids, mostly under a page but sometimes several pages long
// (overflow pages).
func crashBlob(tok, id uint64) []byte {
	var seed [32]byte
	binary.LittleEndian.PutUint64(seed[0:], tok)
	binary.LittleEndian.PutUint64(seed[8:], id)
	r := rand.NewChaCha8(seed)
	n := 1 + r.Uint64()%1500
	if r.Uint64()%8 == 0 {
		n = 4000 + r.Uint64()%12000
	}
	b := make([]byte, n)
	_, _ = r.Read(b)
	return b
}

func getCounter(tx *Tx) (uint64, error) {
	v, err := tx.GetMeta(crashNextKey)
	if errors.Is(err, ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("counter is %d bytes", len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

// crashChild opens the store in dir (with the durability in
// $KEYWARD_STORE_TEST_DURABILITY) and writes objects until it is killed,
// printing "token id" on stdout for each object after the write that made
// it has been acknowledged (the Update or PutObject returned nil).
func crashChild(dir string) {
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		os.Exit(3)
	}
	s, err := OpenWith(dir, Options{Durability: Durability(os.Getenv(childDurabilityEnv))})
	if err != nil {
		fail(err)
	}
	r := rand.New(rand.NewPCG(uint64(os.Getpid()), uint64(time.Now().UnixNano())))
	var line []byte
	for {
		line = line[:0]
		if r.IntN(4) == 0 {
			// A loose object through the single-statement form.
			id := r.Uint64()
			if err := s.PutObject(Object{Token: crashTokB, ID: id, Blob: crashBlob(crashTokB, id)}); err != nil {
				fail(err)
			}
			line = fmt.Appendf(line, "%d %d\n", crashTokB, id)
		} else {
			// 1 or up to 32 counted objects and the counter, in one
			// transaction.
			k := uint64(1)
			if r.IntN(3) == 0 {
				k += r.Uint64N(32)
			}
			var acked []uint64
			err := s.Update(func(tx *Tx) error {
				acked = acked[:0]
				next, err := getCounter(tx)
				if err != nil {
					return err
				}
				for n := next; n < next+k; n++ {
					id := crashObjID(n)
					o := Object{Token: crashTokA, ID: id, Private: crashPrivate(id), Blob: crashBlob(crashTokA, id)}
					if err := tx.PutObject(o); err != nil {
						return err
					}
					acked = append(acked, id)
				}
				return tx.SetMeta(crashNextKey, binary.BigEndian.AppendUint64(nil, next+k))
			})
			if err != nil {
				fail(err)
			}
			for _, id := range acked {
				line = fmt.Appendf(line, "%d %d\n", crashTokA, id)
			}
		}
		// One write: a reader never sees half of an acknowledgement
		// (and ignores an unterminated last line anyway).
		if _, err := os.Stdout.Write(line); err != nil {
			fail(err)
		}
	}
}

type crashKey struct{ tok, id uint64 }

// runCrashChild starts a writer child on dir, SIGKILLs it after a random
// delay and returns the objects it acknowledged.
func runCrashChild(t *testing.T, dir string, d Durability, r *rand.Rand) []crashKey {
	t.Helper()
	cmd := childCommand("writer", dir)
	cmd.Env = append(cmd.Env, childDurabilityEnv+"="+string(d))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1024)
	readDone := make(chan error, 1)
	go func() {
		br := bufio.NewReader(stdout)
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				// An unterminated last line is not an
				// acknowledgement.
				if err == io.EOF {
					err = nil
				}
				close(lines)
				readDone <- err
				return
			}
			lines <- l
		}
	}()

	var acked []crashKey
	record := func(l string) {
		f := strings.Fields(l)
		if len(f) != 2 {
			t.Fatalf("bad line from child: %q", l)
		}
		tok, err1 := strconv.ParseUint(f[0], 10, 64)
		id, err2 := strconv.ParseUint(f[1], 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("bad line from child: %q", l)
		}
		acked = append(acked, crashKey{tok, id})
	}

	// One run in five is killed at a random moment from its start, which
	// may be during Open (recovery, migration); the others a random short
	// time after their first acknowledgement, in the middle of writing.
	var delay time.Duration
	if r.IntN(5) == 0 {
		delay = time.Duration(r.Int64N(int64(40 * time.Millisecond)))
	} else {
		select {
		case l, ok := <-lines:
			if ok {
				record(l)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("child wrote nothing in 20s; stderr:\n%s", stderr.String())
		}
		delay = time.Duration(r.Int64N(int64(25 * time.Millisecond)))
	}
	time.Sleep(delay)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill: %v", err)
	}
	for l := range lines {
		record(l)
	}
	if err := <-readDone; err != nil {
		t.Fatalf("read child stdout: %v", err)
	}
	err = cmd.Wait()
	var ee interface{ Sys() any }
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			return acked
		}
	}
	t.Fatalf("child ended by itself (%v) instead of being killed; stderr:\n%s", err, stderr.String())
	return nil
}

// checkCrashStore opens the store in dir and checks it against every
// acknowledged object.
func checkCrashStore(t *testing.T, dir string, d Durability, acked map[crashKey]bool) {
	t.Helper()
	s, err := OpenWith(dir, Options{Durability: d})
	if err != nil {
		t.Fatalf("Open after crash: %v", err)
	}
	defer func() {
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}()

	rows, err := s.db.Query("PRAGMA integrity_check")
	if err != nil {
		t.Fatal(err)
	}
	var msgs []string
	for rows.Next() {
		var m string
		if err := rows.Scan(&m); err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	rows.Close()
	if len(msgs) != 1 || msgs[0] != "ok" {
		t.Fatalf("integrity_check: %v", msgs)
	}
	var fkErrors int
	if err := s.db.QueryRow("SELECT count(*) FROM pragma_foreign_key_check").Scan(&fkErrors); err != nil || fkErrors != 0 {
		t.Fatalf("foreign_key_check: %d rows, %v", fkErrors, err)
	}

	var next uint64
	if err := s.Update(func(tx *Tx) (err error) { next, err = getCounter(tx); return err }); err != nil {
		t.Fatal(err)
	}
	present := map[crashKey]bool{}

	// Counted objects: exactly objects 0..next-1, each intact: the
	// counter and the objects were written in the same transactions.
	objsA, err := s.Objects(crashTokA)
	if err != nil {
		t.Fatal(err)
	}
	if uint64(len(objsA)) != next {
		t.Fatalf("token A has %d objects, the counter says %d", len(objsA), next)
	}
	for n := range next {
		id := crashObjID(n)
		present[crashKey{crashTokA, id}] = true
	}
	for i, o := range objsA {
		if !present[crashKey{crashTokA, o.ID}] {
			t.Fatalf("token A has object %d, beyond the counter %d", o.ID, next)
		}
		if i > 0 && objsA[i-1].ID >= o.ID {
			t.Fatalf("token A objects out of order: %d then %d", objsA[i-1].ID, o.ID)
		}
		if !bytes.Equal(o.Blob, crashBlob(crashTokA, o.ID)) {
			t.Fatalf("object %d of token A: corrupt blob (%d bytes)", o.ID, len(o.Blob))
		}
		if o.Private != crashPrivate(o.ID) {
			t.Fatalf("object %d of token A: private %v", o.ID, o.Private)
		}
	}
	// Loose objects: each intact.
	objsB, err := s.Objects(crashTokB)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objsB {
		if !bytes.Equal(o.Blob, crashBlob(crashTokB, o.ID)) {
			t.Fatalf("object %d of token B: corrupt blob (%d bytes)", o.ID, len(o.Blob))
		}
		present[crashKey{crashTokB, o.ID}] = true
	}
	for k := range acked {
		if !present[k] {
			t.Fatalf("acknowledged object %d of token %d is missing", k.id, k.tok)
		}
	}
	t.Logf("store: %d counted + %d loose objects, %d acknowledged", len(objsA), len(objsB), len(acked))
}

// TestCrashSafety SIGKILLs a child process writing to the store at random
// moments and checks that every acknowledged write survived intact and that
// the database is consistent, in both durability modes: the batched mode
// defers only the fsync, so a killed process loses nothing either.
// KEYWARD_LONG_TESTS=1 runs 500 rounds instead of 50 (full) and 200 instead
// of 20 (batched).
func TestCrashSafety(t *testing.T) {
	long := os.Getenv("KEYWARD_LONG_TESTS") == "1"
	for _, m := range []struct {
		d      Durability
		rounds int
	}{{DurabilityFull, 50}, {DurabilityBatched, 20}} {
		t.Run(string(m.d), func(t *testing.T) {
			rounds := m.rounds
			if long {
				rounds *= 10
			}
			if testing.Short() {
				rounds = min(rounds, 10)
			}
			testCrashSafety(t, m.d, rounds)
		})
	}
}

func testCrashSafety(t *testing.T, d Durability, rounds int) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	update(t, s, func(tx *Tx) error {
		if err := tx.PutToken(Token{ID: crashTokA, Blob: []byte("A")}); err != nil {
			return err
		}
		return tx.PutToken(Token{ID: crashTokB, Blob: []byte("B")})
	})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 0))
	acked := map[crashKey]bool{}
	withAcks := 0
	for round := range rounds {
		keys := runCrashChild(t, dir, d, r)
		if len(keys) > 0 {
			withAcks++
		}
		for _, k := range keys {
			acked[k] = true
		}
		// Sometimes check (and so recover and checkpoint) between
		// crashes, as a restarted daemon would.
		if round%10 == 9 {
			checkCrashStore(t, dir, d, acked)
		}
	}
	checkCrashStore(t, dir, d, acked)
	if withAcks < rounds/2 {
		t.Fatalf("only %d of %d rounds acknowledged a write: the test is not exercising the store", withAcks, rounds)
	}
	t.Logf("%d rounds, %d with acknowledged writes, %d objects acknowledged", rounds, withAcks, len(acked))
}
