package dist

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestShardRangeCoversBatch(t *testing.T) {
	for _, tc := range []struct{ n, size int }{{8, 2}, {8, 3}, {7, 3}, {5, 4}, {128, 8}, {3, 3}} {
		next := 0
		counts := ShardCounts(tc.n, tc.size)
		for r := 0; r < tc.size; r++ {
			lo, hi := ShardRange(tc.n, r, tc.size)
			if lo != next || hi < lo {
				t.Fatalf("n=%d size=%d: rank %d takes [%d,%d), want it to start at %d", tc.n, tc.size, r, lo, hi, next)
			}
			if d := hi - lo - tc.n/tc.size; d < 0 || d > 1 {
				t.Errorf("n=%d size=%d: rank %d takes %d items, want %d or %d", tc.n, tc.size, r, hi-lo, tc.n/tc.size, tc.n/tc.size+1)
			}
			if counts[r] != hi-lo {
				t.Errorf("ShardCounts(%d,%d)[%d] = %d, want %d", tc.n, tc.size, r, counts[r], hi-lo)
			}
			next = hi
		}
		if next != tc.n {
			t.Errorf("n=%d size=%d: shards end at %d", tc.n, tc.size, next)
		}
	}
}

func TestSingleCollectives(t *testing.T) {
	var c Comm = Single{}
	if c.Rank() != 0 || c.Size() != 1 {
		t.Fatalf("single: rank %d size %d", c.Rank(), c.Size())
	}
	buf := []float32{1, 2, 3}
	if err := c.AllReduce32(buf); err != nil || buf[2] != 3 {
		t.Fatalf("all-reduce of one rank changed the buffer: %v %v", buf, err)
	}
	recv := make([]float32, 3)
	if err := c.AllGatherV32(buf, recv, []int{3}); err != nil || recv[1] != 2 {
		t.Fatalf("all-gather-v: %v %v", recv, err)
	}
	if err := c.AllGatherV32(buf, recv, []int{2}); err == nil {
		t.Fatal("all-gather-v accepted counts that disagree with the send length")
	}
	if err := c.AllGather32(buf, make([]float32, 4)); err == nil {
		t.Fatal("all-gather accepted a recv of the wrong length")
	}
	if err := CheckSame(c, "configuration", []byte("a"), "fix"); err != nil {
		t.Fatal(err)
	}
}

func TestOpen(t *testing.T) {
	for _, v := range []string{"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE", "MASTER_ADDR"} {
		t.Setenv(v, "")
	}
	// t.Setenv cannot unset; FromEnv ignores values that are not numbers.
	c, err := Open("auto", time.Second)
	if err != nil || c.Kind() != "single" {
		t.Fatalf("auto outside a launcher: %v %v", c, err)
	}
	if _, err := Open("gloo", time.Second); err == nil || !strings.Contains(err.Error(), "auto, single, mpi, tcp, nccl") {
		t.Fatalf("unknown backend: %v", err)
	}
	t.Setenv("MASTER_ADDR", "10.0.0.1")
	if c, err := Open("auto", time.Second); err != nil || c.Size() != 1 {
		t.Errorf("MASTER_ADDR without WORLD_SIZE: %v %v, want one process", c, err)
	}
	t.Setenv("WORLD_SIZE", "2")
	t.Setenv("RANK", "1")
	t.Setenv("MASTER_ADDR", "127.0.0.1")
	port := freePort(t) // nobody listens there
	t.Setenv("MASTER_PORT", port)
	if _, err := Open("auto", 200*time.Millisecond); err == nil || !strings.Contains(err.Error(), "cannot reach rank 0 at 127.0.0.1:"+port) {
		t.Errorf("a torchrun-style launch of 2: %v, want the tcp communicator trying rank 0", err)
	}
	t.Setenv("WORLD_SIZE", "")
	t.Setenv("RANK", "")
	t.Setenv("MASTER_ADDR", "")
	t.Setenv("OMPI_COMM_WORLD_RANK", "1")
	t.Setenv("OMPI_COMM_WORLD_SIZE", "2")
	if l := FromEnv(); l.Launcher != "mpi" || l.Rank != 1 || l.Size != 2 {
		t.Fatalf("FromEnv under Open MPI variables: %+v", l)
	}
	if _, err := Open("single", time.Second); err == nil || !strings.Contains(err.Error(), "every rank would train alone") {
		t.Fatalf("single inside a 2-rank launch: %v", err)
	}
	if !MPIBuilt {
		_, err := Open("auto", time.Second)
		if !errors.Is(err, ErrNoMPI) || !strings.Contains(err.Error(), "openmpi-bin libopenmpi-dev") {
			t.Fatalf("MPI launch of a binary without MPI: %v", err)
		}
	}
}

func TestLocalCollectives(t *testing.T) {
	comms := NewLocal(3)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for r, c := range comms {
		wg.Go(func() {
			errs[r] = func() error {
				buf := []float64{float64(r), 1}
				if err := c.AllReduce64(buf); err != nil {
					return err
				}
				if buf[0] != 3 || buf[1] != 3 {
					return fmt.Errorf("rank %d: all-reduce %v, want [3 3]", r, buf)
				}
				counts := []int{1, 0, 2}
				send := make([]float32, counts[r])
				for i := range send {
					send[i] = float32(r)
				}
				recv := make([]float32, 3)
				if err := c.AllGatherV32(send, recv, counts); err != nil {
					return err
				}
				if recv[0] != 0 || recv[1] != 2 || recv[2] != 2 {
					return fmt.Errorf("rank %d: all-gather-v %v, want [0 2 2]", r, recv)
				}
				b := []float32{float32(r)}
				if err := c.Broadcast32(b, 1); err != nil {
					return err
				}
				if b[0] != 1 {
					return fmt.Errorf("rank %d: broadcast %v, want 1", r, b)
				}
				data := []byte("x")
				if r == 1 {
					data = []byte("y")
				}
				if err := CheckSame(c, "configuration", data, "fix"); err == nil {
					return fmt.Errorf("rank %d: differing data passed CheckSame", r)
				}
				return nil
			}()
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}
