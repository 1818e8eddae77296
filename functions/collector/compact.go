package collector

import (
	"context"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"function/archive"
	"function/shared/config"
	"function/shared/httpjson"
	"function/shared/problem"
	"function/shared/tlog"
)

// PingType is the CloudEvent type a Knative PingSource sends: the trigger of
// an archive compaction run (SPEC §7).
const PingType = "dev.knative.sources.ping"

// newCompactor sets up the archive when its settings are there (the signing
// key is the switch; then every AUDITFN_S3_* setting is required, and a
// bucket without Object Lock stops start-up). Without them the collector
// still stores events and answers pings with 503.
func (f *Function) newCompactor(ctx context.Context, c config.Config, pool *pgxpool.Pool) (*archive.Compactor, error) {
	if !archive.Configured(c) {
		f.Log.Warn("archive not configured: pings will fail", "setting", archive.SettingSigningKey)
		return nil, nil
	}
	cfg, err := archive.ConfigFromSettings(c)
	if err != nil {
		return nil, err
	}
	return archive.New(ctx, pool, cfg, archive.Options{Logger: f.Log, RunBudget: pingRunBudget})
}

// newPublisher sets up the tree's checkpoints with the archive, comp (nil:
// none, and no tree publisher): same key, same bucket, and the witnesses of
// the policy setting.
func (f *Function) newPublisher(c config.Config, comp *archive.Compactor) (*tlog.Publisher, error) {
	if comp == nil {
		return nil, nil
	}
	pub := comp.TreePublisher(f.Log)
	var err error
	if pub.Witnesses, err = tlog.PolicyFromSettings(c); err != nil {
		return nil, err
	}
	if pub.HTTPClient, err = tlog.ClientFromSettings(c); err != nil {
		return nil, err
	}
	pub.Pushes, pub.Steps, pub.Leaves = f.witnessPushes, f.treeSteps, f.treeLeaves
	return pub, nil
}

// pingRunBudget keeps a ping's answer inside func-go's 30 s write timeout:
// a run starts no new day after it; the next ping goes on. A day longer
// than that still completes, but its answer is lost and the retried ping
// finds the run under way ("skipped"): safe, as runs are idempotent.
const pingRunBudget = 20 * time.Second

// compact runs one compaction and answers only when it has finished: 200
// with the run's report, or 503 so the PingSource delivery is retried.
// Overlapping pings are safe: a run that finds another one under way
// reports "skipped"; one that used up its budget reports "more".
func (f *Function) compact(w http.ResponseWriter, r *http.Request, st *running) {
	if st.compactor == nil {
		f.compactions.WithLabelValues("failed").Inc()
		problem.Write(w, http.StatusServiceUnavailable, "archive not configured: set "+archive.SettingSigningKey+" and AUDITFN_S3_*")
		return
	}
	rep, err := st.compactor.Run(r.Context())
	if err != nil {
		f.compactions.WithLabelValues("failed").Inc()
		f.Log.Error("compaction failed", "err", err)
		problem.Write(w, http.StatusServiceUnavailable, "compaction failed, retry: "+err.Error())
		return
	}
	result := "done"
	if rep.Skipped {
		result = "skipped"
	}
	f.compactions.WithLabelValues(result).Inc()
	httpjson.Write(w, http.StatusOK, rep)
}
