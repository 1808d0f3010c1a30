package dist

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"
	"unsafe"
)

// OpenTCP connects the ranks of a job over TCP without any library: rank 0
// listens on r.Addr and every other rank keeps one connection to it. Every
// collective goes through rank 0 (a star): sums are added there in rank
// order and sent back, so every rank gets the same bits. Each exchange has
// a deadline of timeout; a rank that dies closes its connection and the
// others' next collective fails with an error naming it. It suits a few
// ranks on one machine or a small cluster; MPI scales further.
func OpenTCP(r Rendezvous, timeout time.Duration) (Comm, error) {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	c := &tcpComm{rank: r.Rank, size: r.Size, timeout: timeout}
	if r.Size == 1 {
		return c, nil
	}
	deadline := time.Now().Add(timeout)
	if r.Rank == 0 {
		ln, err := listenRank0(r.Addr)
		if err != nil {
			return nil, fmt.Errorf("tcp communicator: %w", err)
		}
		defer ln.Close()
		c.peers = make([]net.Conn, r.Size)
		for n := 1; n < r.Size; n++ {
			ln.(*net.TCPListener).SetDeadline(deadline)
			conn, err := ln.Accept()
			if err != nil {
				c.closeAll()
				return nil, fmt.Errorf("tcp communicator: rank 0 heard from %d of %d ranks within %v: %w", n-1, r.Size-1, timeout, err)
			}
			conn.SetDeadline(deadline)
			var hdr [8]byte
			if _, err := io.ReadFull(conn, hdr[:]); err != nil {
				conn.Close()
				c.closeAll()
				return nil, fmt.Errorf("tcp communicator: greeting: %w", err)
			}
			peer, size := int(binary.LittleEndian.Uint32(hdr[:4])), int(binary.LittleEndian.Uint32(hdr[4:]))
			if peer <= 0 || peer >= r.Size || size != r.Size || c.peers[peer] != nil {
				conn.Close()
				c.closeAll()
				return nil, fmt.Errorf("tcp communicator: a peer announced rank %d of %d; this job has %d ranks, each once (check RANK and WORLD_SIZE)", peer, size, r.Size)
			}
			c.peers[peer] = conn
		}
		return c, nil
	}
	conn, err := dialUntil(r.Addr, deadline)
	if err != nil {
		return nil, fmt.Errorf("tcp communicator: rank %d cannot reach rank 0 at %s within %v: %w", r.Rank, r.Addr, timeout, err)
	}
	hdr := binary.LittleEndian.AppendUint32(nil, uint32(r.Rank))
	hdr = binary.LittleEndian.AppendUint32(hdr, uint32(r.Size))
	conn.SetDeadline(deadline)
	if _, err := conn.Write(hdr); err != nil {
		conn.Close()
		return nil, fmt.Errorf("tcp communicator: rank %d greeting: %w", r.Rank, err)
	}
	c.root = conn
	return c, nil
}

// tcpRendezvousFromEnv is the rendezvous of dist.backend tcp: MASTER_ADDR
// and MASTER_PORT, with the rank and size from RANK/WORLD_SIZE or else
// from an MPI launcher's variables (mpirun as a mere process starter).
func tcpRendezvousFromEnv() (Rendezvous, error) {
	if os.Getenv("RANK") == "" && os.Getenv("WORLD_SIZE") == "" {
		if l := FromEnv(); l.Launcher == "mpi" && l.Size > 0 {
			host, port := os.Getenv("MASTER_ADDR"), os.Getenv("MASTER_PORT")
			if host == "" || port == "" {
				return Rendezvous{}, errors.New("dist.backend tcp: set MASTER_ADDR and MASTER_PORT (rank 0's address and a free port), e.g. mpirun -x MASTER_ADDR=127.0.0.1 -x MASTER_PORT=29500")
			}
			return Rendezvous{Addr: net.JoinHostPort(host, port), Rank: l.Rank, Size: l.Size}, nil
		}
	}
	return RendezvousFromEnv()
}

type tcpComm struct {
	mu      sync.Mutex
	rank    int
	size    int
	timeout time.Duration
	peers   []net.Conn // rank 0: one per other rank
	root    net.Conn   // other ranks: the connection to rank 0
	closed  bool
}

func (c *tcpComm) Rank() int    { return c.rank }
func (c *tcpComm) Size() int    { return c.size }
func (c *tcpComm) Kind() string { return "tcp" }

func (c *tcpComm) closeAll() {
	for _, p := range c.peers {
		if p != nil {
			p.Close()
		}
	}
	if c.root != nil {
		c.root.Close()
	}
}

// Abort closes every connection: the other ranks' next collective fails.
func (c *tcpComm) Abort(int) { c.closeAll() }

func (c *tcpComm) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed = true
		c.closeAll()
	}
	return nil
}

// Operation codes in each message header, so that ranks calling different
// collectives are detected instead of misreading each other's data.
const (
	opReduce32 = iota + 1
	opReduce64
	opGather
	opBcast
)

var opNames = map[uint32]string{opReduce32: "all-reduce float32", opReduce64: "all-reduce float64", opGather: "all-gather", opBcast: "broadcast"}

func bytesOf[T float32 | float64](v []T) []byte {
	if len(v) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), len(v)*int(unsafe.Sizeof(v[0])))
}

// send writes a header (op, byte count) and the payload.
func (c *tcpComm) send(conn net.Conn, peer int, op uint32, payload []byte) error {
	conn.SetDeadline(time.Now().Add(c.timeout))
	hdr := binary.LittleEndian.AppendUint32(nil, op)
	hdr = binary.LittleEndian.AppendUint64(hdr, uint64(len(payload)))
	if _, err := conn.Write(append(hdr, payload...)); err != nil {
		return c.peerError(peer, opNames[op], err)
	}
	return nil
}

// recv reads a message of op with exactly len(dst) bytes into dst.
func (c *tcpComm) recv(conn net.Conn, peer int, op uint32, dst []byte) error {
	conn.SetDeadline(time.Now().Add(c.timeout))
	var hdr [12]byte
	if _, err := io.ReadFull(conn, hdr[:]); err != nil {
		return c.peerError(peer, opNames[op], err)
	}
	gotOp, n := binary.LittleEndian.Uint32(hdr[:4]), binary.LittleEndian.Uint64(hdr[4:])
	if gotOp != op || n != uint64(len(dst)) {
		return fmt.Errorf("tcp communicator: rank %d sent %s of %d bytes while rank %d expects %s of %d bytes: the ranks run different code or configurations", peer, opNames[gotOp], n, c.rank, opNames[op], len(dst))
	}
	if _, err := io.ReadFull(conn, dst); err != nil {
		return c.peerError(peer, opNames[op], err)
	}
	return nil
}

func (c *tcpComm) peerError(peer int, op string, err error) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("tcp communicator: %s: rank %d did not answer rank %d within %v; it probably died or hangs (raise dist.timeout if steps are legitimately this slow)", op, peer, c.rank, c.timeout)
	}
	return fmt.Errorf("tcp communicator: %s: rank %d probably died (its connection with rank %d failed: %v)", op, peer, c.rank, err)
}

// exchange is the star pattern of every collective: the other ranks send
// mine (what rank 0 must see) and receive into out; rank 0 gathers each
// rank's contribution with collect, then sends out to every rank.
func (c *tcpComm) exchange(op uint32, mine []byte, lens []int, collect func(peer int, data []byte), out []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return errors.New("tcp communicator: used after Close")
	}
	if c.size == 1 {
		return nil
	}
	if c.rank != 0 {
		if err := c.send(c.root, 0, op, mine); err != nil {
			return err
		}
		return c.recv(c.root, 0, op, out)
	}
	for p := 1; p < c.size; p++ {
		buf := make([]byte, lens[p])
		if err := c.recv(c.peers[p], p, op, buf); err != nil {
			return err
		}
		collect(p, buf)
	}
	for p := 1; p < c.size; p++ {
		if err := c.send(c.peers[p], p, op, out); err != nil {
			return err
		}
	}
	return nil
}

func tcpAllReduce[T float32 | float64](c *tcpComm, op uint32, buf []T) error {
	b := bytesOf(buf)
	lens := make([]int, c.size)
	for i := range lens {
		lens[i] = len(b)
	}
	return c.exchange(op, b, lens, func(_ int, data []byte) {
		v := unsafe.Slice((*T)(unsafe.Pointer(&data[0])), len(buf))
		for i, x := range v {
			buf[i] += x // rank order: rank 0's values, then rank 1's, ...
		}
	}, b)
}

func (c *tcpComm) AllReduce32(buf []float32) error {
	if len(buf) == 0 {
		return nil
	}
	return tcpAllReduce(c, opReduce32, buf)
}

func (c *tcpComm) AllReduce64(buf []float64) error {
	if len(buf) == 0 {
		return nil
	}
	return tcpAllReduce(c, opReduce64, buf)
}

func (c *tcpComm) AllGatherV32(send, recv []float32, counts []int) error {
	if err := CheckCounts(c, len(send), len(recv), counts); err != nil {
		return err
	}
	offs := make([]int, c.size)
	lens := make([]int, c.size)
	for r, n := range counts {
		if r > 0 {
			offs[r] = offs[r-1] + counts[r-1]
		}
		lens[r] = 4 * n
	}
	copy(recv[offs[c.rank]:], send)
	return c.exchange(opGather, bytesOf(send), lens, func(p int, data []byte) {
		copy(bytesOf(recv[offs[p]:offs[p]+counts[p]]), data)
	}, bytesOf(recv))
}

func (c *tcpComm) AllGather32(send, recv []float32) error {
	if len(recv) != len(send)*c.size {
		return fmt.Errorf("all-gather: recv has %d values, want %d x %d ranks", len(recv), len(send), c.size)
	}
	counts := make([]int, c.size)
	for i := range counts {
		counts[i] = len(send)
	}
	return c.AllGatherV32(send, recv, counts)
}

func (c *tcpComm) AllGather64(send, recv []float64) error {
	if len(recv) != len(send)*c.size {
		return fmt.Errorf("all-gather: recv has %d values, want %d x %d ranks", len(recv), len(send), c.size)
	}
	// float64 values travel as pairs of float32 bit patterns.
	s := unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(send))), 2*len(send))
	r := unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(recv))), 2*len(recv))
	return c.AllGather32(s, r)
}

func tcpBroadcast[T float32 | float64](c *tcpComm, buf []T, root int) error {
	if root < 0 || root >= c.size {
		return fmt.Errorf("broadcast: root %d outside [0, %d)", root, c.size)
	}
	b := bytesOf(buf)
	lens := make([]int, c.size)
	for p := range lens {
		if p == root {
			lens[p] = len(b) // only the root's message carries the values
		}
	}
	var mine []byte
	if c.rank == root {
		mine = b
	}
	return c.exchange(opBcast, mine, lens, func(p int, data []byte) {
		if p == root {
			copy(b, data)
		}
	}, b)
}

func (c *tcpComm) Broadcast32(buf []float32, root int) error { return tcpBroadcast(c, buf, root) }
func (c *tcpComm) Broadcast64(buf []float64, root int) error { return tcpBroadcast(c, buf, root) }

func (c *tcpComm) Barrier() error { return c.AllReduce32([]float32{0}) }
