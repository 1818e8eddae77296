// Package function is the Knative function project the func CLI builds: one
// image whose New() serves the function named by AUDITFN_FUNCTION. infra/
// deploys that image once per function, each scaled to zero on its own.
//
// The module is named "function" because func v0.44.0's scaffolding imports
// the function root under that name; any other module path cannot resolve
// this repository's own packages in a func build.
package function

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	fhttp "knative.dev/func-go/http"

	"function/functions/actions"
	"function/functions/blockclear"
	"function/functions/catalogsync"
	"function/functions/collector"
	"function/functions/query"
	"function/functions/validate"
	"function/functions/workflow"
	"function/functions/workflows"
	"function/shared/config"
	"function/shared/problem"
)

// SettingFunction names the function an instance serves.
const SettingFunction = config.Function

// Instance is what every function in functions/ implements: func-go's
// instanced contract plus its Prometheus registry.
type Instance interface {
	fhttp.Handler
	fhttp.Starter
	fhttp.Stopper
	fhttp.ReadinessReporter
	fhttp.LivenessReporter
	Registry() *prometheus.Registry
}

// Functions maps each AUDITFN_FUNCTION value to its constructor.
var Functions = map[string]func() Instance{
	"actions":     func() Instance { return actions.New() },
	"workflows":   func() Instance { return workflows.New() },
	"workflow":    func() Instance { return workflow.New() },
	"validate":    func() Instance { return validate.New() },
	"blockclear":  func() Instance { return blockclear.New() },
	"catalogsync": func() Instance { return catalogsync.New() },
	"collector":   func() Instance { return collector.New() },
	"query":       func() Instance { return query.New() },
}

// Names lists the functions in Functions, sorted.
func Names() []string {
	names := make([]string, 0, len(Functions))
	for n := range Functions {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Dispatcher serves the function chosen at Start. func-go runs Start
// concurrently with serving, so requests before it has finished get 503 and
// readiness stays false.
type Dispatcher struct {
	fn      atomic.Pointer[Instance]
	metrics atomic.Pointer[http.Handler]
}

// New is called by the func scaffolding (and cmd/auditfn).
func New() *Dispatcher { return &Dispatcher{} }

// Start selects the function named by AUDITFN_FUNCTION and starts it.
func (d *Dispatcher) Start(ctx context.Context, cfg map[string]string) error {
	name, err := config.Config(cfg).Required(SettingFunction)
	if err != nil {
		return fmt.Errorf("%w (one of: %s)", err, strings.Join(Names(), ", "))
	}
	mk, ok := Functions[name]
	if !ok {
		return fmt.Errorf("setting %s=%q: unknown function (one of: %s)", SettingFunction, name, strings.Join(Names(), ", "))
	}
	fn := mk()
	if err := fn.Start(ctx, cfg); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	metrics := promhttp.HandlerFor(fn.Registry(), promhttp.HandlerOpts{})
	d.metrics.Store(&metrics)
	d.fn.Store(&fn)
	return nil
}

// Stop stops the function, flushing what it holds.
func (d *Dispatcher) Stop(ctx context.Context) error {
	if fn := d.fn.Load(); fn != nil {
		return (*fn).Stop(ctx)
	}
	return nil
}

// Ready is false until Start has finished and while the function is not ready.
func (d *Dispatcher) Ready(ctx context.Context) (bool, error) {
	if fn := d.fn.Load(); fn != nil {
		return (*fn).Ready(ctx)
	}
	return false, nil
}

// Alive reports the function's liveness; a starting process is alive.
func (d *Dispatcher) Alive(ctx context.Context) (bool, error) {
	if fn := d.fn.Load(); fn != nil {
		return (*fn).Alive(ctx)
	}
	return true, nil
}

// Handle serves GET /metrics for every function and hands the rest to it.
func (d *Dispatcher) Handle(w http.ResponseWriter, r *http.Request) {
	fn := d.fn.Load()
	if fn == nil {
		problem.Write(w, http.StatusServiceUnavailable, "function is starting")
		return
	}
	if r.URL.Path == "/metrics" && r.Method == http.MethodGet {
		(*d.metrics.Load()).ServeHTTP(w, r)
		return
	}
	(*fn).Handle(w, r)
}
