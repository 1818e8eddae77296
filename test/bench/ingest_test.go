// Package bench holds the benchmarks and load runs of `make bench`. They print
// figures (b.ReportMetric) and assert nothing about speed.
package bench

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

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
		db := testenv.NewDB(b)
		addr := procs.FreeAddr(b)
		procs.Start(b, procs.Binary(b, "./cmd/auditfn"), addr, map[string]string{
			"AUDITFN_FUNCTION": "collector", "AUDITFN_PG_DSN": db.AppDSN})
		ctx := context.Background()
		url := "http://" + addr

		// Warm up connections and partitions.
		_, err := loadgen.Run(ctx, loadgen.Options{URL: url, Senders: 8, Requests: 20})
		require.NoError(b, err)

		single, err := loadgen.Run(ctx, loadgen.Options{URL: url, Senders: singleSenders, Requests: singleRequests})
		require.NoError(b, err)
		batch, err := loadgen.Run(ctx, loadgen.Options{URL: url, Senders: batchSenders, Requests: batchRequests, BatchSize: batchSize})
		require.NoError(b, err)
		raw := rawCopy(b, db, batchSenders, batchRequests, batchSize)

		b.ReportMetric(single.Rate(), "single_events/s")
		b.ReportMetric(float64(single.Percentile(99).Microseconds())/1000, "single_p99_ack_ms")
		b.ReportMetric(batch.Rate(), "batch_events/s")
		b.ReportMetric(float64(batch.Percentile(99).Microseconds())/1000, "batch_p99_ack_ms")
		b.ReportMetric(raw, "rawcopy_events/s")
		b.ReportMetric(batch.Rate()/raw, "batch/rawcopy")
		b.ReportMetric(single.Rate()/raw, "single/rawcopy")
		b.Logf("single: %d events in %s (%.0f/s, p50 %s, p99 %s); batch: %d events in %s (%.0f/s, p99 %s); raw COPY %.0f/s; batch/raw %.2f",
			single.Events(), single.Elapsed.Round(time.Millisecond), single.Rate(), single.Percentile(50), single.Percentile(99),
			batch.Events(), batch.Elapsed.Round(time.Millisecond), batch.Rate(), batch.Percentile(99), raw, batch.Rate()/raw)
	}
}

// rawCopy copies the same shape of rows straight into audit.audit_events,
// one transaction per batch, from as many connections as the batch senders.
func rawCopy(b *testing.B, db testenv.DB, senders, requests, size int) float64 {
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
	start := time.Now()
	var wg sync.WaitGroup
	for s := range senders {
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
	return float64(senders*requests*size) / time.Since(start).Seconds()
}
