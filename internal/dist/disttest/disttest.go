//go:build mpi

// Package disttest runs a Go test under mpirun: a test calls Launch, which
// in the parent process starts `mpirun -np N <this test binary> -test.run
// ^Name$` on loopback and fails the test when any rank fails; inside the
// ranks Launch returns true and the test body runs with its communicator.
package disttest

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"simclr/internal/dist"
)

// envRanks marks the processes started by Launch.
const envRanks = "SIMCLR_DISTTEST_RANKS"

// Launch returns true inside a rank started by mpirun for this test (the
// caller then runs the test body); in the parent it starts np ranks of this
// test, waits up to timeout, fails t when they fail, and returns false.
// extraEnv are NAME=value pairs passed to the ranks.
func Launch(t *testing.T, np int, timeout time.Duration, extraEnv ...string) bool {
	t.Helper()
	if InRank(t) {
		return true
	}
	out, err := Start(t, np, timeout, extraEnv...)
	if err != nil {
		t.Fatalf("mpirun -np %d: %v\n%s", np, err, out)
	}
	return false
}

// InRank says whether this process is a rank started by Start.
func InRank(t *testing.T) bool {
	t.Helper()
	if os.Getenv(envRanks) == "" {
		return false
	}
	if got := dist.FromEnv(); got.Launcher != "mpi" {
		t.Fatalf("%s is set but no MPI launcher variables are: started outside mpirun?", envRanks)
	}
	return true
}

// Start runs np ranks of the current test under mpirun on loopback and
// returns their combined output and mpirun's error; it fails t when mpirun
// is missing or the ranks outlive timeout.
func Start(t *testing.T, np int, timeout time.Duration, extraEnv ...string) (string, error) {
	t.Helper()
	mpirun, err := exec.LookPath("mpirun")
	if err != nil {
		t.Fatalf("this test needs Open MPI's mpirun: %s", dist.Install)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	args := []string{"--oversubscribe", "-np", strconv.Itoa(np), "--mca", "btl", "self,vader,tcp",
		"-x", envRanks + "=" + strconv.Itoa(np)}
	if os.Geteuid() == 0 {
		args = append([]string{"--allow-run-as-root"}, args...)
	}
	for _, e := range extraEnv {
		args = append(args, "-x", e)
	}
	args = append(args, os.Args[0], "-test.run", "^"+t.Name()+"$", "-test.count=1")
	if testing.Verbose() {
		args = append(args, "-test.v")
	}
	cmd := exec.CommandContext(ctx, mpirun, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err = cmd.Run()
	t.Logf("mpirun -np %d (%.1fs):\n%s", np, time.Since(start).Seconds(), out.String())
	if ctx.Err() != nil {
		t.Fatalf("mpirun -np %d did not finish within %v", np, timeout)
	}
	return out.String(), err
}

// Open returns the MPI communicator of a rank started by Launch.
func Open(t *testing.T) dist.Comm {
	t.Helper()
	c, err := dist.Open("mpi", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
