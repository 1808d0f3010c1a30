//go:build mpi

package dist_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"simclr/internal/dist"
	"simclr/internal/dist/disttest"
)

// TestMPICollectives runs every collective on 3 ranks with rank-dependent
// data and checks the results against what they must be.
func TestMPICollectives(t *testing.T) {
	if !disttest.Launch(t, 3, 2*time.Minute) {
		return
	}
	c := disttest.Open(t)
	defer c.Close()
	r, n := c.Rank(), c.Size()
	if n != 3 || c.Kind() != "mpi" {
		t.Fatalf("size %d kind %s, want 3 ranks over mpi", n, c.Kind())
	}
	// All-reduce: element i holds (r+1)*(i+1) + 0.1 on rank r.
	buf := make([]float32, 1000)
	buf64 := make([]float64, 5)
	for i := range buf {
		buf[i] = float32((r+1)*(i+1)) + 0.1
	}
	for i := range buf64 {
		buf64[i] = float64(r) * 1e10 * float64(i)
	}
	if err := c.AllReduce32(buf); err != nil {
		t.Fatal(err)
	}
	if err := c.AllReduce64(buf64); err != nil {
		t.Fatal(err)
	}
	for i, v := range buf {
		want := float64(6*(i+1)) + 0.3
		if math.Abs(float64(v)-want) > 1e-5*want {
			t.Fatalf("rank %d: all-reduce[%d] = %v, want %v", r, i, v, want)
		}
	}
	if buf64[4] != 3*1e10*4 {
		t.Fatalf("rank %d: all-reduce64[4] = %v", r, buf64[4])
	}
	// Every rank must hold the same bits: gather them and compare.
	all := make([]float32, len(buf)*n)
	if err := c.AllGather32(buf, all); err != nil {
		t.Fatal(err)
	}
	for q := 1; q < n; q++ {
		for i := range buf {
			if math.Float32bits(all[q*len(buf)+i]) != math.Float32bits(all[i]) {
				t.Fatalf("all-reduce results differ between rank 0 and rank %d at %d", q, i)
			}
		}
	}
	// All-gather-v with uneven counts 1, 2, 3.
	counts := []int{1, 2, 3}
	send := make([]float32, counts[r])
	for i := range send {
		send[i] = float32(10*r + i)
	}
	recv := make([]float32, 6)
	if err := c.AllGatherV32(send, recv, counts); err != nil {
		t.Fatal(err)
	}
	want := []float32{0, 10, 11, 20, 21, 22}
	for i := range want {
		if recv[i] != want[i] {
			t.Fatalf("rank %d: all-gather-v = %v, want %v", r, recv, want)
		}
	}
	// Broadcast from rank 2.
	b := []float64{float64(r), float64(r)}
	if err := c.Broadcast64(b, 2); err != nil {
		t.Fatal(err)
	}
	b32 := []float32{float32(r)}
	if err := c.Broadcast32(b32, 1); err != nil {
		t.Fatal(err)
	}
	if b[0] != 2 || b[1] != 2 || b32[0] != 1 {
		t.Fatalf("rank %d: broadcast got %v and %v, want 2s from rank 2 and 1 from rank 1", r, b, b32)
	}
	if err := c.Barrier(); err != nil {
		t.Fatal(err)
	}
	// Mismatched data is detected on every rank.
	if err := dist.CheckSame(c, "configuration", []byte("same"), "fix"); err != nil {
		t.Fatal(err)
	}
	data := []byte("same")
	if r == 2 {
		data = []byte("different")
	}
	if err := dist.CheckSame(c, "configuration", data, "start every rank with the same flags"); err == nil {
		t.Fatalf("rank %d: a configuration that differs on rank 2 passed the check", r)
	} else {
		t.Logf("rank %d: %v", r, err)
	}
}

// TestMPIWatchdog: rank 1 hangs before a barrier; rank 0's watchdog (a
// 2-second dist timeout) must stop it with a message naming the stalled
// collective, and mpirun must then end the job, long before rank 1 wakes.
func TestMPIWatchdog(t *testing.T) {
	if !disttest.InRank(t) {
		start := time.Now()
		out, err := disttest.Start(t, 2, 2*time.Minute)
		took := time.Since(start)
		if err == nil {
			t.Fatalf("a job with a hung rank exited 0:\n%s", out)
		}
		if !strings.Contains(out, "simclr rank 0: MPI barrier waited 2s for the other ranks") {
			t.Errorf("rank 0's watchdog message is missing:\n%s", out)
		}
		if took > 25*time.Second {
			t.Errorf("the job took %v to stop; rank 1 sleeps 60s, the timeout is 2s", took)
		}
		return
	}
	c, err := dist.Open("mpi", 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if c.Rank() == 1 {
		time.Sleep(60 * time.Second)
	}
	_ = c.Barrier()
	t.Fatalf("rank %d passed the barrier", c.Rank())
}
