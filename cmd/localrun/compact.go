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
	wait := time.Minute
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = every
		e := cloudevents.NewEvent()
		e.SetID(uuid.NewString())
		e.SetSource("/localrun/compact")
		e.SetType("dev.knative.sources.ping")
		_ = e.SetData(cloudevents.ApplicationJSON, []byte(`{"task":"compact"}`))
		req, err := cehttp.NewHTTPRequestFromEvent(ctx, collector, e)
		if err != nil {
			log.Error("compaction ping", "err", err)
			continue
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Error("compaction ping", "err", err)
			continue
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		log.Info("compaction ping", "status", resp.StatusCode, "report", string(body))
	}
}
