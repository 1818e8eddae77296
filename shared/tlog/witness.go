package tlog

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/transparency-dev/formats/witness"
	"golang.org/x/mod/sumdb/note"

	"function/shared/config"
	"function/shared/pgdb"
)

// SettingWitnessPolicy is the path of a witness policy file (the format of
// github.com/transparency-dev/formats/witness: `witness <name> <vkey>
// <url>`, `group <name> <n|any|all> <members…>` and `quorum <name>` lines).
// The collector pushes every checkpoint to each witness it names; the
// verifier requires the newest checkpoint to satisfy its quorum.
const SettingWitnessPolicy = "AUDITFN_WITNESS_POLICY"

// SettingWitnessTimeout bounds one push to a witness (default 10s): a
// witness that hangs delays the publisher's step by this much at most.
const SettingWitnessTimeout = "AUDITFN_WITNESS_TIMEOUT"

// ClientFromSettings is the HTTP client that pushes to witnesses.
func ClientFromSettings(c config.Config) (*http.Client, error) {
	d, err := c.Duration(SettingWitnessTimeout, 10*time.Second)
	if err != nil {
		return nil, err
	}
	return &http.Client{Timeout: d}, nil
}

// PolicyFromSettings is the witness policy of the settings, nil when none.
func PolicyFromSettings(c config.Config) (*witness.Group, error) {
	path := c[SettingWitnessPolicy]
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("setting %s: %w", SettingWitnessPolicy, err)
	}
	p, err := witness.ParsePolicy(b)
	if err != nil {
		return nil, fmt.Errorf("setting %s: %s: %w", SettingWitnessPolicy, path, err)
	}
	return &p, nil
}

// Witnessed tells whether the cosignatures on a checkpoint note satisfy
// the policy. It does not check the log's own signature: Open does.
func Witnessed(signed []byte, policy witness.Group) bool { return policy.Satisfied(signed) }

// Cosigners are the key names of the policy's witnesses whose cosignature
// on the note verifies, sorted.
func Cosigners(signed []byte, policy witness.Group) []string {
	var out []string
	for _, v := range policy.Endpoints() {
		if n, err := note.Open(signed, note.VerifierList(v)); err == nil && len(n.Sigs) == 1 {
			out = append(out, v.Name())
		}
	}
	slices.Sort(out)
	return out
}

// witnessID names a witness key in audit.tree_cosignatures.
func witnessID(v note.Verifier) string { return fmt.Sprintf("%s+%08x", v.Name(), v.KeyHash()) }

// withCosignatures appends the stored cosignature lines to a checkpoint's
// note, in witness order.
func withCosignatures(ctx context.Context, q pgdb.Querier, c Checkpoint) (Checkpoint, error) {
	rows, err := q.Query(ctx, `SELECT line FROM audit.tree_cosignatures WHERE size = $1 ORDER BY witness`, c.Size)
	if err != nil {
		return c, fmt.Errorf("tree cosignatures: %w", err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return c, err
	}
	c.Note = slices.Clip(c.Note)
	for _, l := range lines {
		c.Note = append(c.Note, l...)
	}
	c.Cosignatures = len(lines)
	return c, nil
}

// witnessState is what the publisher knows of one witness: the size of the
// newest checkpoint it cosigned (its "old size" for the next push), and
// whether it failed last time, so a witness that is down is logged once.
type witnessState struct {
	size    uint64
	failing bool
}

// errConflict is a 409: the witness has cosigned another size.
type errConflict struct{ size uint64 }

func (e errConflict) Error() string { return fmt.Sprintf("the witness is at size %d", e.size) }

// witness pushes the newest checkpoint to every witness of the policy that
// has not cosigned it yet, in parallel, and stores the cosignatures. A
// witness that is down or refuses is logged and counted, never an error:
// it must not hold up the log. Each Step retries the missing ones.
func (p *Publisher) witness(ctx context.Context) {
	if p.Witnesses == nil {
		return
	}
	cp, err := latest(ctx, p.Pool)
	if err != nil {
		if err != ErrNoCheckpoint {
			p.logger().Error("witness: newest checkpoint", "err", err)
		}
		return
	}
	rows, err := p.Pool.Query(ctx, `SELECT witness FROM audit.tree_cosignatures WHERE size = $1`, cp.Size)
	if err == nil {
		var have []string
		if have, err = pgx.CollectRows(rows, pgx.RowTo[string]); err == nil {
			p.push(ctx, cp, have)
			return
		}
	}
	p.logger().Error("witness: tree cosignatures", "err", err)
}

func (p *Publisher) push(ctx context.Context, cp Checkpoint, have []string) {
	p.mu.Lock()
	if p.witnesses == nil {
		p.witnesses = map[string]*witnessState{}
	}
	p.mu.Unlock()
	var wg sync.WaitGroup
	for url, v := range p.Witnesses.Endpoints() {
		if slices.Contains(have, witnessID(v)) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			line, err := p.cosign(ctx, url, v, cp)
			if err == nil {
				_, err = p.Pool.Exec(ctx, `INSERT INTO audit.tree_cosignatures (size, witness, line, received_at)
					VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`, cp.Size, witnessID(v), line, p.now())
			}
			p.outcome(url, v, cp.Size, err)
		}()
	}
	wg.Wait()
}

// outcome counts and logs one push; a failing witness once, until it
// cosigns again.
func (p *Publisher) outcome(url string, v note.Verifier, size uint64, err error) {
	result := "cosigned"
	var status errStatus
	switch {
	case err == nil:
	case errors.As(err, &status) && status.code < 500:
		result = "refused"
	default:
		result = "failed"
	}
	if p.Pushes != nil {
		p.Pushes.WithLabelValues(v.Name(), result).Inc()
	}
	p.mu.Lock()
	st := p.state(url)
	was := st.failing
	st.failing = err != nil
	p.mu.Unlock()
	switch {
	case err != nil && !was:
		p.logger().Warn("witness did not cosign the tree checkpoint; retrying every step", "witness", v.Name(), "url", url, "size", size, "result", result, "err", err)
	case err == nil && was:
		p.logger().Info("witness cosigns again", "witness", v.Name(), "size", size)
	}
}

// state is the witness's state; p.mu is held.
func (p *Publisher) state(url string) *witnessState {
	st := p.witnesses[url]
	if st == nil {
		st = &witnessState{}
		p.witnesses[url] = st
	}
	return st
}

// errStatus is an HTTP status other than 200 and 409: a 4xx is a refusal
// (C2SP tlog-witness: 403 unknown key, 404 unknown log, 422 inconsistent,
// which a fork is).
type errStatus struct {
	code int
	body string
}

func (e errStatus) Error() string { return fmt.Sprintf("HTTP %d %s", e.code, e.body) }

// cosign sends the checkpoint to one witness with C2SP tlog-witness'
// add-checkpoint and returns its cosignature line. It starts from the size
// the witness last cosigned (0, as for a new witness, after a restart); on
// 409 the witness says its size and the push is made again from there.
func (p *Publisher) cosign(ctx context.Context, url string, v note.Verifier, cp Checkpoint) (string, error) {
	p.mu.Lock()
	old := p.state(url).size
	p.mu.Unlock()
	for try := 0; ; try++ {
		line, err := p.addCheckpoint(ctx, url, v, cp, old)
		var conflict errConflict
		if !errors.As(err, &conflict) || try > 0 {
			if err == nil {
				old = cp.Size
			}
			p.mu.Lock()
			p.state(url).size = old
			p.mu.Unlock()
			return line, err
		}
		old = conflict.size
	}
}

func (p *Publisher) addCheckpoint(ctx context.Context, url string, v note.Verifier, cp Checkpoint, old uint64) (string, error) {
	if old > cp.Size {
		// Its newest is bigger than the log's: another log of this name, a
		// fork, or this database restored from a backup. A refusal, to alert on.
		return "", errStatus{http.StatusConflict, fmt.Sprintf("the witness has cosigned size %d, the log is at %d", old, cp.Size)}
	}
	var body bytes.Buffer
	fmt.Fprintf(&body, "old %d\n", old)
	if old > 0 && old < cp.Size {
		hashes, err := Consistency(ctx, p.Pool, old, cp.Size)
		if err != nil {
			return "", err
		}
		for _, h := range hashes {
			body.WriteString(base64.StdEncoding.EncodeToString(h) + "\n")
		}
	}
	body.WriteString("\n")
	body.Write(cp.Note)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, &body)
	if err != nil {
		return "", err
	}
	resp, err := p.client().Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return "", err
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusConflict:
		size, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			return "", fmt.Errorf("409 with no size: %q", b)
		}
		return "", errConflict{size}
	default:
		return "", errStatus{resp.StatusCode, strings.TrimSpace(string(b[:min(len(b), 200)]))}
	}
	// The body is signature lines; keep the one by the policy's key that
	// verifies over this checkpoint.
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text() + "\n"
		if n, err := note.Open(append(slices.Clip(cp.Note), line...), note.VerifierList(v)); err == nil && len(n.Sigs) == 1 {
			return line, nil
		}
	}
	return "", fmt.Errorf("no cosignature by %s over the checkpoint in the witness's answer %q", witnessID(v), b)
}

func (p *Publisher) client() *http.Client {
	if p.HTTPClient != nil {
		return p.HTTPClient
	}
	return defaultClient
}

// defaultClient is SettingWitnessTimeout's default.
var defaultClient = &http.Client{Timeout: 10 * time.Second}
