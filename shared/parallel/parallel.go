// Package parallel spreads independent work over the CPUs.
package parallel

import (
	"runtime"
	"sync"
)

// Each calls fn(i) for every i in [0, n), spread over the CPUs, and returns
// the error of the lowest i that failed, whatever finished first, so the
// same input always reports the same error.
func Each(n int, fn func(i int) error) error {
	errs := make([]error, n)
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	for k := range workers {
		wg.Go(func() {
			for i := k; i < n; i += workers {
				errs[i] = fn(i)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
