package engine

// tokenNames are the audit fields that name a token as its users know it: its label and serial (the
// internal id means nothing outside the store). A token already gone (deleted) is named by its id. Called
// with e.mu held.
func (e *Engine) tokenNames(id uint64) []any {
	for _, t := range e.tokens {
		if t.id == id {
			return t.auditNames()
		}
	}
	return []any{"token_id", id}
}

func (t *token) auditNames() []any {
	return []any{"token", t.rec.Label, "serial", t.rec.Serial}
}
