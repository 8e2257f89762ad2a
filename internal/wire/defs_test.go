package wire

import _ "embed" // the .def files, for TestGenerated: the binaries need only what was generated from them

//go:embed calls.def
var callsDef string

//go:embed params.def
var paramsDef string

//go:embed consts.def
var constsDef string
