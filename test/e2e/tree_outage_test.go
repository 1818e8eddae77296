package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/stretchr/testify/require"

	"function/archive/archivetest"
	"function/shared/auditevent"
	"function/shared/auditlog"
	"function/shared/verify"
	"function/test/fixtures"
	"function/test/procs"
)

// gate is a TCP forwarder to target that can be shut, cutting every
// connection through it, and opened again: a bucket outage for one process
// while the shared MinIO keeps serving everyone else.
type gate struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	open   bool
	conns  []net.Conn
}

func newGate(t *testing.T, target string) *gate {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	g := &gate{ln: ln, target: target, open: true}
	t.Cleanup(func() { ln.Close(); g.shut() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			g.mu.Lock()
			if !g.open {
				g.mu.Unlock()
				c.Close()
				continue
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				g.mu.Unlock()
				c.Close()
				continue
			}
			g.conns = append(g.conns, c, up)
			g.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
	return g
}

func (g *gate) addr() string { return g.ln.Addr().String() }

func (g *gate) shut() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.open = false
	for _, c := range g.conns {
		c.Close()
	}
	g.conns = nil
}

func (g *gate) reopen() {
	g.mu.Lock()
	g.open = true
	g.mu.Unlock()
}

// The tree's checkpoints never hold ingest up and never go missing: with
// the bucket unreachable the collector keeps storing and signing, and
// publishes everything once it is back; events stored just before a kill
// -9 get their checkpoint from the restarted collector.
func TestCheckpointsSurviveABucketOutageAndAKill(t *testing.T) {
	e := archivetest.New(t)
	ctx := context.Background()
	g := newGate(t, e.Bucket.Endpoint)
	settings := e.Settings()
	settings["AUDITFN_S3_ENDPOINT"] = g.addr()
	settings["AUDITFN_FUNCTION"] = "collector"
	settings["AUDITFN_CHECKPOINT_INTERVAL"] = "300ms"
	bin := procs.Binary(t, "./cmd/auditfn")
	addr := procs.FreeAddr(t)
	col := procs.Start(t, bin, addr, settings)

	send := func(tag string, flows int) {
		for i := range flows {
			for _, ev := range fixtures.Flow(fmt.Sprintf("rr-outage-%s-%d", tag, i), time.Now()) {
				b, err := auditevent.ToCloudEvent(ev).MarshalJSON()
				require.NoError(t, err)
				resp, err := http.Post("http://"+addr, "application/cloudevents+json", bytes.NewReader(b))
				require.NoError(t, err)
				resp.Body.Close()
				require.Equal(t, http.StatusOK, resp.StatusCode, "ingest does not wait for the bucket")
			}
		}
	}
	count := func(sql string) int64 {
		var n int64
		require.NoError(t, e.Pool.QueryRow(ctx, sql).Scan(&n))
		return n
	}
	stored := func() int64 { return count(`SELECT count(*) FROM audit.audit_events`) }
	published := func() int64 { return count(`SELECT published FROM audit.tree_head`) }
	signed := func() int64 { return count(`SELECT coalesce(max(size), 0) FROM audit.tree_checkpoints`) }
	inBucket := func(size int64) bool {
		_, err := e.Bucket.Client(t).StatObject(ctx, e.Bucket.Name, fmt.Sprintf("audit_events/_tlog/checkpoints/%020d", size), minio.StatObjectOptions{})
		return err == nil
	}

	send("a", 20)
	require.Eventually(t, func() bool { return published() == stored() }, 20*time.Second, 20*time.Millisecond)
	require.True(t, inBucket(stored()))

	g.shut()
	send("b", 60)
	require.Eventually(t, func() bool { return signed() == stored() }, 20*time.Second, 20*time.Millisecond,
		"checkpoints are signed while the bucket is away")
	time.Sleep(time.Second) // several publisher steps, all failing
	require.Less(t, published(), stored(), "nothing claims to be published that is not")
	require.False(t, inBucket(stored()))

	g.reopen()
	require.Eventually(t, func() bool { return published() == stored() }, 30*time.Second, 20*time.Millisecond,
		"once the bucket is back, every checkpoint and full tile is published")
	require.True(t, inBucket(stored()))
	_, err := e.Bucket.Client(t).StatObject(ctx, e.Bucket.Name, "audit_events/_tlog/tile/0/000", minio.StatObjectOptions{})
	require.NoError(t, err, "the first full tile")

	send("c", 10)
	col.Kill() // before or during the publisher's next step
	before := stored()
	col = procs.Start(t, bin, addr, settings)
	require.Eventually(t, func() bool { return published() >= before }, 20*time.Second, 20*time.Millisecond,
		"the restarted collector checkpoints what was stored before the kill")
	require.True(t, inBucket(published()))

	// Killed again and again while it integrates, indexes and signs: the
	// tree and every trail come out whole.
	for round := range 4 {
		send(fmt.Sprintf("k%d", round), 10)
		time.Sleep(time.Duration(50+round*110) * time.Millisecond)
		col.Kill()
		col = procs.Start(t, bin, addr, settings)
	}
	require.Eventually(t, func() bool { return signed() == stored() }, 20*time.Second, 20*time.Millisecond)
	log, err := auditlog.Open(ctx, e.Pool, e.Settings())
	require.NoError(t, err)
	rep, err := log.Verify(ctx, verify.Scope{})
	require.NoError(t, err)
	require.Empty(t, rep.Findings, "the index rebuilt from the events is every checkpoint's")
	for _, id := range []string{"rr-outage-a-0", "rr-outage-c-9", "rr-outage-k3-9"} {
		rep, err := log.Verify(ctx, verify.Scope{CorrelationID: id})
		require.NoError(t, err)
		require.Empty(t, rep.Findings, id)
		require.True(t, rep.Trail.Complete, id)
		require.Equal(t, len(fixtures.FlowTypes()), rep.Trail.Events, id)
	}
}
