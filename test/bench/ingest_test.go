// Package bench holds the benchmarks and load runs of `make bench`. They print
// figures (b.ReportMetric) and assert nothing about speed.
package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"function/archive/archivetest"
	"function/shared/auditevent"
	"function/shared/auditstore"
	"function/shared/integrity"
	"function/test/loadgen"
	"function/test/procs"
	"function/test/testenv"
)

// BenchmarkIngest measures events/s through a real collector process for
// single-event POSTs from 64 senders and for batch POSTs, next to raw
// pgx.CopyFrom of the same kind of rows into the same table in the same run.
func BenchmarkIngest(b *testing.B) {
	const (
		singleSenders  = 64
		singleRequests = 300
		batchSenders   = 4
		batchRequests  = 50
		batchSize      = 500
	)
	for range b.N {
		// As deployed: with the archive, so the tree's publisher integrates
		// and checkpoints every 5 s while the load runs.
		e := archivetest.New(b)
		db := e.DB
		addr := procs.FreeAddr(b)
		settings := e.Settings()
		settings["AUDITFN_FUNCTION"] = "collector"
		col := procs.Start(b, procs.Binary(b, "./cmd/auditfn"), addr, settings)
		ctx := context.Background()
		url := "http://" + addr

		// Warm up connections and partitions.
		_, err := loadgen.Run(ctx, loadgen.Options{URL: url, Senders: 8, Requests: 20})
		require.NoError(b, err)

		// The clock and the CPU count cover the sending only: requests are
		// encoded before, as emitters in other pods would have done.
		singleLoad, err := loadgen.Prepare(loadgen.Options{URL: url, Senders: singleSenders, Requests: singleRequests})
		require.NoError(b, err)
		batchLoad, err := loadgen.Prepare(loadgen.Options{URL: url, Senders: batchSenders, Requests: batchRequests, BatchSize: batchSize})
		require.NoError(b, err)
		var single, batch loadgen.Report
		c0 := readCommits(b, url)
		singleCPU := measureCPU(b, col.Pid(), func() { single = singleLoad.Send(ctx) })
		c1 := readCommits(b, url)
		batchCPU := measureCPU(b, col.Pid(), func() { batch = batchLoad.Send(ctx) })
		c2 := readCommits(b, url)
		loaded := time.Now()
		lag := checkpointLag(b, e, loaded)
		raw, rawCPU := rawCopy(b, db, batchSenders, batchRequests, batchSize)

		// Everything runs on this machine's CPUs: a path that costs more CPU
		// per event than raw COPY cannot match it once the CPUs are busy.
		singleUs, batchUs, rawUs := us(singleCPU.busy, single.Events()), us(batchCPU.busy, batch.Events()), us(rawCPU.busy, batch.Events())
		b.ReportMetric(singleUs, "single_cpu_us/event")
		b.ReportMetric(batchUs, "batch_cpu_us/event")
		b.ReportMetric(rawUs, "rawcopy_cpu_us/event")
		b.ReportMetric(rawUs/batchUs, "batch/rawcopy_at_equal_cpu")
		b.ReportMetric(single.Rate(), "single_events/s")
		b.ReportMetric(float64(single.Percentile(99).Microseconds())/1000, "single_p99_ack_ms")
		b.ReportMetric(batch.Rate(), "batch_events/s")
		b.ReportMetric(float64(batch.Percentile(99).Microseconds())/1000, "batch_p99_ack_ms")
		b.ReportMetric(raw, "rawcopy_events/s")
		b.ReportMetric(batch.Rate()/raw, "batch/rawcopy")
		b.ReportMetric(single.Rate()/raw, "single/rawcopy")
		b.ReportMetric(lag.Seconds(), "last_ack_to_checkpoint_s")
		b.Logf("single: %d events in %s (%.0f/s, p50 %s, p99 %s); batch: %d events in %s (%.0f/s, p99 %s); raw COPY %.0f/s; batch/raw %.2f",
			single.Events(), single.Elapsed.Round(time.Millisecond), single.Rate(), single.Percentile(50), single.Percentile(99),
			batch.Events(), batch.Elapsed.Round(time.Millisecond), batch.Rate(), batch.Percentile(99), raw, batch.Rate()/raw)
		b.Logf("machine CPU per event on %d CPUs: single %s; batch %s; raw COPY %s; batch/raw at equal CPU %.2f",
			runtime.NumCPU(), singleCPU.split(single.Events(), "client", "collector"), batchCPU.split(batch.Events(), "client", "collector"),
			rawCPU.split(batch.Events(), "client", ""), rawUs/batchUs)
		b.Logf("group commits: single %s; batch %s; last ack → a checkpoint covering every event %s", c1.since(c0), c2.since(c1), lag.Round(time.Millisecond))
	}
}

// checkpointLag is how long after since the tree's newest checkpoint covers
// every stored event.
func checkpointLag(b *testing.B, e *archivetest.Env, since time.Time) time.Duration {
	ctx := context.Background()
	for {
		var stored, signed int64
		require.NoError(b, e.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM audit.audit_events),
			(SELECT coalesce(max(size), 0) FROM audit.tree_checkpoints)`).Scan(&stored, &signed))
		if signed >= stored {
			return time.Since(since)
		}
		require.Less(b, time.Since(since), time.Minute, "no checkpoint covers the load")
		time.Sleep(10 * time.Millisecond)
	}
}

// rawCopy copies the same shape of rows straight into audit.audit_events,
// one transaction per batch, from as many connections as the batch senders.
func rawCopy(b *testing.B, db testenv.DB, senders, requests, size int) (float64, cpuUse) {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, db.AppDSN)
	require.NoError(b, err)
	defer pool.Close()
	rows := make([][][]any, senders)
	seq := 0
	for s := range rows {
		for range requests {
			for _, ev := range loadgen.Batch(size, &seq) {
				r := auditevent.NewRecord(ev)
				r.ReceivedAt = time.Now()
				r.Hash = integrity.EventHash(&r)
				rows[s] = append(rows[s], auditstore.Values(&r))
			}
		}
	}
	var elapsed time.Duration
	use := measureCPU(b, 0, func() {
		start := time.Now()
		copyAll(b, pool, rows, size)
		elapsed = time.Since(start)
	})
	return float64(senders*requests*size) / elapsed.Seconds(), use
}

// copyAll copies each sender's rows on its own connection, one transaction
// per batch of size rows.
func copyAll(b *testing.B, pool *pgxpool.Pool, rows [][][]any, size int) {
	ctx := context.Background()
	var wg sync.WaitGroup
	for s := range rows {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < len(rows[s]); i += size {
				tx, err := pool.Begin(ctx)
				if err != nil {
					b.Error(err)
					return
				}
				if _, err := tx.CopyFrom(ctx, pgx.Identifier{"audit", "audit_events"}, auditstore.Columns, pgx.CopyFromRows(rows[s][i:i+size])); err != nil {
					b.Error(err)
					return
				}
				if err := tx.Commit(ctx); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// commits is what the collector's commit histograms hold so far.
type commits struct{ count, events, seconds float64 }

var commitMetric = regexp.MustCompile(`(?m)^auditfn_collector_commit_(events|seconds)_(sum|count) (\S+)$`)

func readCommits(b *testing.B, url string) commits {
	b.Helper()
	resp, err := http.Get(url + "/metrics")
	require.NoError(b, err)
	defer resp.Body.Close()
	text, err := io.ReadAll(resp.Body)
	require.NoError(b, err)
	var c commits
	for _, m := range commitMetric.FindAllStringSubmatch(string(text), -1) {
		v, err := strconv.ParseFloat(m[3], 64)
		require.NoError(b, err)
		switch m[1] + "_" + m[2] {
		case "events_count":
			c.count = v
		case "events_sum":
			c.events = v
		case "seconds_sum":
			c.seconds = v
		}
	}
	return c
}

// since describes the commits between then and c.
func (c commits) since(then commits) string {
	n := c.count - then.count
	if n == 0 {
		return "none"
	}
	return fmt.Sprintf("%.0f, %.1f events and %.2f ms each", n, (c.events-then.events)/n, 1000*(c.seconds-then.seconds)/n)
}
