package engine

// SetBufferLimits sets the multi-part buffering bounds (buffer.go) for a test and returns a function that
// puts the defaults back.
func SetBufferLimits(perOp, perApp uint64) (restore func()) {
	op, app := maxOpBuffer, maxAppBuffer
	maxOpBuffer, maxAppBuffer = perOp, perApp
	return func() { maxOpBuffer, maxAppBuffer = op, app }
}
