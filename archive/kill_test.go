package archive_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"function/archive/archivetest"
	"function/test/procs"
)

// kill -9 a real `cmd/compact` at ever later moments, then let one run to
// the end: every event ends up archived exactly once. Events are 100 days
// old, so the production retention minimum (90 days) has run out and their
// objects get the 1-day floor.
func TestKilledCompactProcessesResumeToExactlyOnce(t *testing.T) {
	e := archivetest.New(t)
	want := seedDays(t, e, map[time.Time]int{archivetest.DaysAgo(101): 20_000, archivetest.DaysAgo(100): 20_000})
	bin := procs.Binary(t, "./cmd/compact")
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range e.Settings() {
		env = append(env, k+"="+v)
	}
	start := func() (*exec.Cmd, chan error) {
		dir := t.TempDir() // no stack.env there: settings come from env only
		out, err := os.Create(filepath.Join(dir, "output"))
		require.NoError(t, err)
		cmd := exec.Command(bin)
		cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = dir, env, out, out
		require.NoError(t, cmd.Start())
		done := make(chan error, 1)
		go func() {
			err := cmd.Wait()
			out.Close()
			b, _ := os.ReadFile(out.Name())
			t.Logf("compact output:\n%s", b)
			done <- err
		}()
		return cmd, done
	}

	kills := 0
	for delay := 100 * time.Millisecond; ; delay += 250 * time.Millisecond {
		cmd, done := start()
		select {
		case err := <-done:
			require.NoError(t, err, "a run that was not killed succeeds")
			t.Logf("finished on its own after %d kills", kills)
			assertArchivedOnce(t, e, want)
			require.Greater(t, kills, 2, "the runs were killed at several points")
			return
		case <-time.After(delay):
			require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
			<-done
			kills++
		}
		states := e.DB.Scalar(t, `SELECT coalesce(string_agg(event_date || ' part ' || part || ' ' || state, ', ' ORDER BY event_date, part, recorded_at), '') FROM audit.archive_days`)
		t.Logf("killed after %s: %s", delay, states)
		// Never neither: a day's events are all still hot until its partition is gone.
		for d, recs := range want {
			if e.PartitionExists(t, d) {
				require.Equal(t, int64(len(recs)), e.Count(t, d))
			}
		}
		require.Less(t, kills, 40, "compact never finished")
	}
}
