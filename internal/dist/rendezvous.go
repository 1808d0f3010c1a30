package dist

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"time"
)

// Rendezvous is where the ranks of a torchrun-style launch meet: rank 0
// listens on Addr (MASTER_ADDR:MASTER_PORT).
type Rendezvous struct {
	Addr       string
	Rank, Size int
}

// RendezvousFromEnv reads MASTER_ADDR, MASTER_PORT, RANK and WORLD_SIZE.
func RendezvousFromEnv() (Rendezvous, error) {
	host, port := os.Getenv("MASTER_ADDR"), os.Getenv("MASTER_PORT")
	if host == "" || port == "" {
		return Rendezvous{}, errors.New("TCP rendezvous: set MASTER_ADDR and MASTER_PORT (rank 0's address and a free port), RANK and WORLD_SIZE on every rank")
	}
	rank, err1 := strconv.Atoi(os.Getenv("RANK"))
	size, err2 := strconv.Atoi(os.Getenv("WORLD_SIZE"))
	if err1 != nil || err2 != nil || size < 1 || rank < 0 || rank >= size {
		return Rendezvous{}, fmt.Errorf("TCP rendezvous: RANK=%q and WORLD_SIZE=%q must be integers with 0 <= RANK < WORLD_SIZE", os.Getenv("RANK"), os.Getenv("WORLD_SIZE"))
	}
	return Rendezvous{Addr: net.JoinHostPort(host, port), Rank: rank, Size: size}, nil
}

// Share sends rank 0's blob (ignored on the other ranks) to every rank and
// returns it: rank 0 accepts Size-1 connections, each rank dials until
// timeout and announces its rank. Used to hand NCCL's unique ID around.
func (r Rendezvous) Share(blob []byte, timeout time.Duration) ([]byte, error) {
	deadline := time.Now().Add(timeout)
	if r.Rank == 0 {
		ln, err := listenRank0(r.Addr)
		if err != nil {
			return nil, fmt.Errorf("TCP rendezvous: %w", err)
		}
		defer ln.Close()
		seen := make([]bool, r.Size)
		for n := 1; n < r.Size; n++ {
			ln.(*net.TCPListener).SetDeadline(deadline)
			c, err := ln.Accept()
			if err != nil {
				return nil, fmt.Errorf("TCP rendezvous: rank 0 heard from %d of %d ranks within %v: %w", n-1, r.Size-1, timeout, err)
			}
			err = func() error {
				defer c.Close()
				c.SetDeadline(deadline)
				var hdr [8]byte
				if _, err := io.ReadFull(c, hdr[:]); err != nil {
					return err
				}
				peer := int(binary.LittleEndian.Uint32(hdr[:4]))
				if peer <= 0 || peer >= r.Size || seen[peer] || int(binary.LittleEndian.Uint32(hdr[4:])) != r.Size {
					return fmt.Errorf("a peer announced rank %d of %d (this job: %d ranks, each rank once)", peer, binary.LittleEndian.Uint32(hdr[4:]), r.Size)
				}
				seen[peer] = true
				out := binary.LittleEndian.AppendUint32(nil, uint32(len(blob)))
				_, err := c.Write(append(out, blob...))
				return err
			}()
			if err != nil {
				return nil, fmt.Errorf("TCP rendezvous: %w", err)
			}
		}
		return blob, nil
	}
	c, err := dialUntil(r.Addr, deadline)
	if err != nil {
		return nil, fmt.Errorf("TCP rendezvous: rank %d cannot reach rank 0 at %s within %v: %w", r.Rank, r.Addr, timeout, err)
	}
	defer c.Close()
	c.SetDeadline(deadline)
	hdr := binary.LittleEndian.AppendUint32(nil, uint32(r.Rank))
	hdr = binary.LittleEndian.AppendUint32(hdr, uint32(r.Size))
	if _, err := c.Write(hdr); err != nil {
		return nil, fmt.Errorf("TCP rendezvous: rank %d: %w", r.Rank, err)
	}
	var n [4]byte
	if _, err := io.ReadFull(c, n[:]); err != nil {
		return nil, fmt.Errorf("TCP rendezvous: rank %d: rank 0 refused or closed: %w", r.Rank, err)
	}
	got := make([]byte, binary.LittleEndian.Uint32(n[:]))
	if _, err := io.ReadFull(c, got); err != nil {
		return nil, fmt.Errorf("TCP rendezvous: rank %d: %w", r.Rank, err)
	}
	return got, nil
}

// dialUntil connects to rank 0 at addr, retrying until deadline: the other
// ranks may start before rank 0 listens.
func dialUntil(addr string, deadline time.Time) (net.Conn, error) {
	for {
		c, err := net.DialTimeout("tcp", addr, time.Until(deadline))
		if err == nil || time.Now().After(deadline) {
			return c, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// listenRank0 opens rank 0's listener on the port of addr (MASTER_PORT), on
// every interface.
func listenRank0(addr string) (net.Listener, error) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", ":"+port)
	if err != nil {
		return nil, fmt.Errorf("rank 0 cannot listen on port %s: %w (choose another MASTER_PORT)", port, err)
	}
	return ln, nil
}
