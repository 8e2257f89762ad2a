package engine

// SetPolicies replaces the tokens' access policies (keywardd reloads its configuration on SIGHUP). Sessions
// already open keep their logins; new opens and logins follow the new policies. A token whose policy no
// longer logs anyone in by identity loses its identity wrap; one whose policy now does gets it at once when
// its token key is in memory (a PIN login is active, as during `keyward provision`), else at the next PIN
// login.
func (e *Engine) SetPolicies(policies []TokenPolicy) {
	e.pinMu.Lock()
	defer e.pinMu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	e.cfg.Policies = append([]TokenPolicy(nil), policies...)
	e.dropStaleIdentityWraps()
	for _, t := range e.tokens {
		if t.tokenKey != nil {
			e.ensureIdentityWrap(t, t.tokenKey)
		}
	}
}
