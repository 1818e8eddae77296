package tlog

// ForgetCachedNodes empties the trail node cache, as a new process starts.
func ForgetCachedNodes() {
	cache.mu.Lock()
	cache.cur, cache.old = map[string][]byte{}, nil
	cache.mu.Unlock()
}
