package main

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// daemon is a server process detached from localstack (its own session), so
// it outlives `make up`; its pid file finds it again.
type daemon struct {
	name    string
	pidFile string
	logFile string
}

// pid is the recorded pid, if that process still runs.
func (d daemon) pid() (int, bool) {
	b, err := os.ReadFile(d.pidFile)
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || syscall.Kill(pid, 0) != nil {
		return 0, false
	}
	return pid, true
}

// start runs bin with args and env (on top of ours), its output appended to
// the log file, and waits until ready reports true or timeout passes.
func (d daemon) start(bin string, args, env []string, timeout time.Duration, ready func() bool) error {
	logf, err := os.OpenFile(d.logFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	if err := os.WriteFile(d.pidFile, []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
		return err
	}
	// Reaped here if it dies early; once we exit, init adopts it.
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if ready() {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("%s exited; see %s", d.name, d.logFile)
		default:
		}
	}
	return fmt.Errorf("%s not ready in %s; see %s", d.name, timeout, d.logFile)
}

// kill stops a recorded process that runs but does not answer.
func (d daemon) kill() {
	if pid, ok := d.pid(); ok {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	_ = os.Remove(d.pidFile)
}

// stop sends SIGTERM and waits up to timeout, then kills.
func (d daemon) stop(timeout time.Duration) error {
	pid, ok := d.pid()
	if !ok {
		return nil
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return err
	}
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if syscall.Kill(pid, 0) != nil {
			_ = os.Remove(d.pidFile)
			return nil
		}
	}
	d.kill()
	return fmt.Errorf("%s did not stop on SIGTERM; killed", d.name)
}
