package dist

import (
	"bytes"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

func TestRendezvousSharesBlob(t *testing.T) {
	addr := net.JoinHostPort("127.0.0.1", freePort(t))
	const size = 4
	blob := bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 32) // an NCCL unique ID is 128 bytes
	got := make([][]byte, size)
	errs := make([]error, size)
	var wg sync.WaitGroup
	for r := range size {
		wg.Go(func() {
			var mine []byte
			if r == 0 {
				mine = blob
			}
			got[r], errs[r] = Rendezvous{Addr: addr, Rank: r, Size: size}.Share(mine, 10*time.Second)
		})
	}
	wg.Wait()
	for r := range size {
		if errs[r] != nil || !bytes.Equal(got[r], blob) {
			t.Errorf("rank %d: got %d bytes, %v", r, len(got[r]), errs[r])
		}
	}
}

func TestRendezvousTimeoutAndEnv(t *testing.T) {
	addr := net.JoinHostPort("127.0.0.1", freePort(t))
	_, err := Rendezvous{Addr: addr, Rank: 0, Size: 2}.Share([]byte("id"), 300*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "heard from 0 of 1 ranks") {
		t.Errorf("rank 0 alone: %v", err)
	}
	_, err = Rendezvous{Addr: addr, Rank: 1, Size: 2}.Share(nil, 300*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "cannot reach rank 0") {
		t.Errorf("rank 1 alone: %v", err)
	}
	t.Setenv("MASTER_ADDR", "10.0.0.1")
	t.Setenv("MASTER_PORT", "29500")
	t.Setenv("RANK", "1")
	t.Setenv("WORLD_SIZE", "2")
	r, err := RendezvousFromEnv()
	if err != nil || r.Addr != "10.0.0.1:29500" || r.Rank != 1 || r.Size != 2 {
		t.Errorf("from env: %+v %v", r, err)
	}
	t.Setenv("RANK", "2")
	if _, err := RendezvousFromEnv(); err == nil {
		t.Error("RANK 2 of 2 accepted")
	}
}
