package main

import (
	"fmt"
	"time"
)

// CK_DATE values: eight ASCII digits YYYYMMDD, or empty (no date).

// parseCKDate parses YYYY-MM-DD (or "none") into a CK_DATE.
func parseCKDate(s string) ([]byte, error) {
	if s == "none" {
		return []byte{}, nil
	}
	d, err := time.Parse("2006-01-02", s)
	if err != nil {
		return nil, fmt.Errorf("%q is not a date YYYY-MM-DD", s)
	}
	return []byte(d.Format("20060102")), nil
}

// ckDateText shows a CK_DATE as YYYY-MM-DD ("" when empty or not a date).
func ckDateText(v []byte) string {
	if len(v) != 8 {
		return ""
	}
	d, err := time.Parse("20060102", string(v))
	if err != nil {
		return ""
	}
	return d.Format("2006-01-02")
}
