// Package lifecycle is the plumbing every function has around its own work:
// a logger naming it, its Prometheus registry, and the state Start sets up
// and Stop tears down, whose presence is readiness. A function embeds
// *State[T] and gets Registry, Ready and Alive from it.
package lifecycle

import (
	"context"
	"log/slog"
	"os"
	"strconv"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// State is one function's plumbing; T is what its Start sets up.
type State[T any] struct {
	// Log writes JSON lines to stderr, each naming the function.
	Log      *slog.Logger
	registry *prometheus.Registry
	running  atomic.Pointer[T]
}

// New returns the plumbing of function name, not started.
func New[T any](name string) *State[T] {
	return &State[T]{
		Log:      slog.New(slog.NewJSONHandler(os.Stderr, nil)).With("function", name),
		registry: prometheus.NewRegistry(),
	}
}

// Registry holds the function's metrics.
func (s *State[T]) Registry() *prometheus.Registry { return s.registry }

// Load is what Start stored: nil before it has finished and after Stop.
func (s *State[T]) Load() *T { return s.running.Load() }

// Store publishes what Start set up; the function is ready from then on.
func (s *State[T]) Store(r *T) { s.running.Store(r) }

// Swap stores r and returns what was stored. Stop swaps in nil, so that
// only one caller gets the state to tear down.
func (s *State[T]) Swap(r *T) *T { return s.running.Swap(r) }

// Ready is true while a state is stored.
func (s *State[T]) Ready(context.Context) (bool, error) { return s.running.Load() != nil, nil }

// Alive is true while the process serves.
func (s *State[T]) Alive(context.Context) (bool, error) { return true, nil }

// codes are 0..599 in decimal, which covers every registered HTTP status,
// made once so that labelling a request allocates nothing.
var codes = func() (c [600]string) {
	for i := range c {
		c[i] = strconv.Itoa(i)
	}
	return c
}()

// Code is the code label of a request counter: the HTTP status in decimal,
// "200" rather than "OK".
func Code(status int) string {
	if status >= 0 && status < len(codes) {
		return codes[status]
	}
	return strconv.Itoa(status)
}
