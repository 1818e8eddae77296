package tlog

// ForgetCachedNodes empties the trail node cache, as a new process starts.
func ForgetCachedNodes() { cache.mu.Lock(); clear(cache.m); cache.mu.Unlock() }
