package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/google/uuid"
)

// pingCompaction stands in for the cluster's hourly PingSource: it sends the
// collector a dev.knative.sources.ping event every `every`, starting one
// minute after start-up, until ctx ends.
func pingCompaction(ctx context.Context, log *slog.Logger, collector string, every time.Duration) {
	ping(ctx, log, "compaction ping", collector, "/localrun/compact", []byte(`{"task":"compact"}`), time.Minute, every, true)
}

// ping sends target a dev.knative.sources.ping event after first, then
// every `every`, until ctx ends, as a PingSource does. Answers are logged
// when they fail, and all of them with logAll.
func ping(ctx context.Context, log *slog.Logger, what, target, source string, data []byte, first, every time.Duration, logAll bool) {
	wait := first
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = every
		e := cloudevents.NewEvent()
		e.SetID(uuid.NewString())
		e.SetSource(source)
		e.SetType("dev.knative.sources.ping")
		if data != nil {
			_ = e.SetData(cloudevents.ApplicationJSON, data)
		}
		req, err := cehttp.NewHTTPRequestFromEvent(ctx, target, e)
		if err != nil {
			log.Error(what, "err", err)
			continue
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Error(what, "err", err)
			continue
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		if resp.StatusCode >= 300 || logAll {
			log.Info(what, "status", resp.StatusCode, "report", string(body))
		}
	}
}
