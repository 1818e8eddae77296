package bench

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The load generators, the functions, PostgreSQL and MinIO share this
// machine's CPUs. These helpers say where a phase's CPU time went: the
// whole machine, this benchmark process (the load generator, or the raw
// COPY client) and one function process; the rest is PostgreSQL (and
// whatever else ran).

// USER_HZ, the unit of /proc's CPU times, is 100 on Linux.
const tick = 10 * time.Millisecond

// cpuTimes is CPU time used so far.
type cpuTimes struct {
	busy, all time.Duration // the machine: every state but idle and iowait, and all
	self      time.Duration // this process
	proc      time.Duration // the watched process
}

func readTimes(t testing.TB, pid int) cpuTimes {
	t.Helper()
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		t.Skipf("no /proc/stat: %v", err)
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	fields := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	if len(fields) < 9 || fields[0] != "cpu" {
		t.Fatalf("unexpected /proc/stat line %q", line)
	}
	var c cpuTimes
	for i, f := range fields[1:9] {
		d := ticks(t, f)
		c.all += d
		if i != 3 && i != 4 { // idle, iowait
			c.busy += d
		}
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	c.self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	if pid > 0 {
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			t.Fatal(err)
		}
		// Fields after the parenthesised command name; utime and stime are
		// the 14th and 15th of the whole line.
		_, rest, _ := strings.Cut(string(raw), ") ")
		f := strings.Fields(rest)
		c.proc = ticks(t, f[11]) + ticks(t, f[12])
	}
	return c
}

func ticks(t testing.TB, s string) time.Duration {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("/proc CPU time %q: %v", s, err)
	}
	return time.Duration(n) * tick
}

// cpuUse is what a phase used.
type cpuUse struct {
	busy, self, proc time.Duration
	util             float64 // busy share of all CPUs, 0..1
}

// measureCPU runs phase and reports the CPU it used, pid's included (0: none).
func measureCPU(t testing.TB, pid int, phase func()) cpuUse {
	before := readTimes(t, pid)
	phase()
	after := readTimes(t, pid)
	u := cpuUse{busy: after.busy - before.busy, self: after.self - before.self, proc: after.proc - before.proc}
	if all := after.all - before.all; all > 0 {
		u.util = float64(u.busy) / float64(all)
	}
	return u
}

// us is d per event, in µs.
func us(d time.Duration, events int) float64 { return float64(d.Microseconds()) / float64(events) }

// split tells the machine's CPU per event and where it went: this process
// and the watched one (named; proc "" when none was watched), and the rest.
func (u cpuUse) split(events int, self, proc string) string {
	parts := fmt.Sprintf("%s %.0f", self, us(u.self, events))
	if proc != "" {
		parts += fmt.Sprintf(", %s %.0f", proc, us(u.proc, events))
	}
	return fmt.Sprintf("%.0f µs (%s, rest %.0f; %.0f%% busy)", us(u.busy, events), parts, us(u.busy-u.self-u.proc, events), 100*u.util)
}
