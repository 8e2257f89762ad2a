package cryptoki

//go:generate go run ../../internal/tools/ckgen
