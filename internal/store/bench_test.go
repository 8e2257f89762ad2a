package store

import (
	"testing"
)

// benchBlob is the size of a typical encrypted object record (an EC key's
// attributes plus nonce and tag).
var benchBlob = make([]byte, 512)

func benchStore(b *testing.B) *Store {
	b.Helper()
	s := openT(b, b.TempDir())
	update(b, s, func(tx *Tx) error { return tx.PutToken(Token{ID: 1, Blob: []byte("t")}) })
	return s
}

// BenchmarkPutObject measures durable single-object writes: each
// Store.PutObject is its own fsync'd transaction.
func BenchmarkPutObject(b *testing.B) {
	s := benchStore(b)
	var id uint64
	for b.Loop() {
		id++
		if err := s.PutObject(Object{Token: 1, ID: id, Private: true, Blob: benchBlob}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "puts/s")
}

// BenchmarkUpdate1000 measures one Update of 1000 Tx.PutObject calls: one
// fsync'd transaction per 1000 objects.
func BenchmarkUpdate1000(b *testing.B) {
	s := benchStore(b)
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
