package wire

// The generated files (consts_gen.go, params_gen.go, calls_gen.go here, pkg/cryptoki/consts_gen.go and
// client/wire_gen.h) come from calls.def, params.def and consts.def; TestGenerated checks they are current.
//go:generate go run ./gen/cmd/wiregen
