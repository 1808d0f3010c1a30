package dist

import (
	"fmt"
	"math"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// openTCPRanks opens size TCP communicators on loopback, one per goroutine
// rank, for tests.
func openTCPRanks(t *testing.T, size int, timeout time.Duration) []Comm {
	t.Helper()
	addr := net.JoinHostPort("127.0.0.1", freePort(t))
	comms := make([]Comm, size)
	errs := make([]error, size)
	var wg sync.WaitGroup
	for r := range size {
		wg.Go(func() { comms[r], errs[r] = OpenTCP(Rendezvous{Addr: addr, Rank: r, Size: size}, timeout) })
	}
	wg.Wait()
	for r, err := range errs {
		if err != nil {
			t.Fatalf("rank %d: %v", r, err)
		}
	}
	t.Cleanup(func() {
		for _, c := range comms {
			c.Close()
		}
	})
	return comms
}

// eachRank runs fn on every rank concurrently and fails t with the errors.
func eachRank(t *testing.T, comms []Comm, fn func(c Comm) error) {
	t.Helper()
	errs := make([]error, len(comms))
	var wg sync.WaitGroup
	for r, c := range comms {
		wg.Go(func() { errs[r] = fn(c) })
	}
	wg.Wait()
	for r, err := range errs {
		if err != nil {
			t.Errorf("rank %d: %v", r, err)
		}
	}
}

func TestTCPCollectives(t *testing.T) {
	comms := openTCPRanks(t, 3, 10*time.Second)
	eachRank(t, comms, func(c Comm) error {
		r := c.Rank()
		buf := make([]float32, 1000)
		for i := range buf {
			buf[i] = float32((r+1)*(i+1)) + 0.1
		}
		if err := c.AllReduce32(buf); err != nil {
			return err
		}
		for i, v := range buf {
			if want := float64(6*(i+1)) + 0.3; math.Abs(float64(v)-want) > 1e-5*want {
				return fmt.Errorf("all-reduce[%d] = %v, want %v", i, v, want)
			}
		}
		all := make([]float32, 3000)
		if err := c.AllGather32(buf, all); err != nil {
			return err
		}
		for q := 1; q < 3; q++ {
			for i := range buf {
				if math.Float32bits(all[q*1000+i]) != math.Float32bits(all[i]) {
					return fmt.Errorf("all-reduce results of rank 0 and rank %d differ at %d", q, i)
				}
			}
		}
		b64 := []float64{float64(r) * 1e300, 1}
		if err := c.AllReduce64(b64); err != nil {
			return err
		}
		if b64[0] != 3e300 || b64[1] != 3 {
			return fmt.Errorf("all-reduce64 = %v", b64)
		}
		counts := []int{1, 0, 3}
		send := make([]float32, counts[r])
		for i := range send {
			send[i] = float32(10*r + i)
		}
		recv := make([]float32, 4)
		if err := c.AllGatherV32(send, recv, counts); err != nil {
			return err
		}
		if want := []float32{0, 20, 21, 22}; fmt.Sprint(recv) != fmt.Sprint(want) {
			return fmt.Errorf("all-gather-v = %v, want %v", recv, want)
		}
		g64 := make([]float64, 3)
		if err := c.AllGather64([]float64{float64(r) + 0.5}, g64); err != nil {
			return err
		}
		if g64[2] != 2.5 {
			return fmt.Errorf("all-gather64 = %v", g64)
		}
		for _, root := range []int{0, 2} {
			bc := []float32{float32(r), float32(r)}
			if err := c.Broadcast32(bc, root); err != nil {
				return err
			}
			if bc[0] != float32(root) || bc[1] != float32(root) {
				return fmt.Errorf("broadcast from %d = %v", root, bc)
			}
		}
		return c.Barrier()
	})
}

// TestTCPFailures: a rank that calls another collective is named; a rank
// that goes away makes the others' next collective fail instead of hang.
func TestTCPFailures(t *testing.T) {
	comms := openTCPRanks(t, 2, time.Second)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	wg.Go(func() { errs[0] = comms[0].AllReduce32(make([]float32, 4)) })
	wg.Go(func() { errs[1] = comms[1].AllReduce64(make([]float64, 4)) })
	wg.Wait()
	if errs[0] == nil || !strings.Contains(errs[0].Error(), "rank 1 sent all-reduce float64 of 32 bytes while rank 0 expects all-reduce float32 of 16 bytes") {
		t.Errorf("mismatched collectives, rank 0: %v", errs[0])
	}

	// Rank 2 dies; rank 0 notices at once and aborts (as the CLI does),
	// which ends rank 1's wait too.
	comms = openTCPRanks(t, 3, 5*time.Second)
	comms[2].Close()
	start := time.Now()
	wg.Go(func() { errs[1] = comms[1].Barrier() })
	errs[0] = comms[0].Barrier()
	comms[0].Abort(1)
	wg.Wait()
	if errs[0] == nil || !strings.Contains(errs[0].Error(), "rank 2 probably died") || errs[1] == nil || time.Since(start) > 3*time.Second {
		t.Errorf("barrier with a dead rank: rank 0 %v, rank 1 %v, after %v", errs[0], errs[1], time.Since(start))
	}

	comms = openTCPRanks(t, 2, 300*time.Millisecond)
	start = time.Now()
	err := comms[1].Barrier() // rank 0 never comes
	if err == nil || !strings.Contains(err.Error(), "did not answer") {
		t.Errorf("barrier with a hung rank 0: %v after %v", err, time.Since(start))
	}
}
