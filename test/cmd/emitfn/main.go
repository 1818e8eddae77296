// Command emitfn is a test fixture: a func-go instanced function that emits
// fixture audit events through the real emitter, to exercise emission and
// scale-to-zero flushing in real processes. GET /emit?type=T&rr=R&n=N emits N
// events and answers their ids.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	fhttp "knative.dev/func-go/http"

	"function/shared/config"
	"function/shared/emitter"
	"function/test/fixtures"
)

type fn struct {
	em atomic.Pointer[emitter.Emitter]
}

func (f *fn) Start(_ context.Context, cfg map[string]string) error {
	em, err := emitter.FromConfig(config.Config(cfg), nil, slog.New(slog.NewJSONHandler(os.Stderr, nil)))
	if err != nil {
		return err
	}
	f.em.Store(em)
	return nil
}

func (f *fn) Stop(ctx context.Context) error { return f.em.Load().Close(ctx) }

func (f *fn) Ready(context.Context) (bool, error) { return f.em.Load() != nil, nil }

func (f *fn) Handle(w http.ResponseWriter, r *http.Request) {
	n, _ := strconv.Atoi(r.URL.Query().Get("n"))
	ids := []string{}
	for range max(n, 1) {
		ev := fixtures.Event(r.URL.Query().Get("type"), r.URL.Query().Get("rr"), time.Now())
		f.em.Load().Emit(ev)
		ids = append(ids, ev.ID.String())
	}
	_ = json.NewEncoder(w).Encode(ids)
}

func main() {
	fhttp.SetLogLevel(fhttp.LogInfo)
	if err := fhttp.Start(&fn{}); err != nil {
		fmt.Fprintln(os.Stderr, "emitfn:", err)
		os.Exit(1)
	}
}
