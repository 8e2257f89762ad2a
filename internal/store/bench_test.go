package store

import (
	"testing"
)

// benchBlob is the size of a typical encrypted object record (an EC key's
// attributes plus nonce and tag).
var benchBlob = make([]byte, 512)

func benchStore(b *testing.B, opts Options) *Store {
	b.Helper()
	s, err := OpenWith(b.TempDir(), opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	update(b, s, func(tx *Tx) error { return tx.PutToken(Token{ID: 1, Blob: []byte("t")}) })
	return s
}

// benchModes are the durability modes the benchmarks run in.
var benchModes = []Options{{Durability: DurabilityFull}, {Durability: DurabilityBatched}}

// BenchmarkPutObject measures single-object writes: each Store.PutObject is
// its own transaction, fsync'd before it returns (full) or by the
// background syncer (batched).
func BenchmarkPutObject(b *testing.B) {
	for _, opts := range benchModes {
		b.Run(string(opts.Durability), func(b *testing.B) {
			s := benchStore(b, opts)
			var id uint64
			for b.Loop() {
				id++
				if err := s.PutObject(Object{Token: 1, ID: id, Private: true, Blob: benchBlob}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "puts/s")
		})
	}
}

// BenchmarkDeleteObject measures single-object deletions, each its own
// transaction.
func BenchmarkDeleteObject(b *testing.B) {
	for _, opts := range benchModes {
		b.Run(string(opts.Durability), func(b *testing.B) {
			s := benchStore(b, opts)
			// fill inserts the next batch of objects to delete, off the clock.
			const batch = 10000
			var next, id uint64
			fill := func() {
				b.StopTimer()
				if err := s.Update(func(tx *Tx) error {
					for range batch {
						if err := tx.PutObject(Object{Token: 1, ID: next, Private: true, Blob: benchBlob}); err != nil {
							return err
						}
						next++
					}
					return nil
				}); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			for b.Loop() {
				if id == next {
					fill()
				}
				if err := s.DeleteObject(1, id); err != nil {
					b.Fatal(err)
				}
				id++
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deletes/s")
		})
	}
}

// BenchmarkUpdate1000 measures one Update of 1000 Tx.PutObject calls: one
// fsync'd transaction per 1000 objects.
func BenchmarkUpdate1000(b *testing.B) {
	s := benchStore(b, Options{})
	var id uint64
	for b.Loop() {
		if err := s.Update(func(tx *Tx) error {
			for range 1000 {
				id++
				if err := tx.PutObject(Object{Token: 1, ID: id, Private: true, Blob: benchBlob}); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)*1000/b.Elapsed().Seconds(), "puts/s")
}
