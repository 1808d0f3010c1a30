package dist

import "time"

// Timed wraps a communicator and adds up the wall time, the calls and the
// bytes this rank contributes to every collective (what simclr bench
// reports as the communication share of a step). The time includes waiting
// for slower ranks.
type Timed struct {
	Comm
	Seconds float64
	Calls   int
	Bytes   int64
}

// Reset zeroes the counters.
func (t *Timed) Reset() { t.Seconds, t.Calls, t.Bytes = 0, 0, 0 }

func (t *Timed) add(start time.Time, bytes int) {
	t.Seconds += time.Since(start).Seconds()
	t.Calls++
	t.Bytes += int64(bytes)
}

func (t *Timed) AllReduce32(buf []float32) error {
	s := time.Now()
	err := t.Comm.AllReduce32(buf)
	t.add(s, 4*len(buf))
	return err
}

func (t *Timed) AllReduce64(buf []float64) error {
	s := time.Now()
	err := t.Comm.AllReduce64(buf)
	t.add(s, 8*len(buf))
	return err
}

func (t *Timed) AllGather32(send, recv []float32) error {
	s := time.Now()
	err := t.Comm.AllGather32(send, recv)
	t.add(s, 4*len(send))
	return err
}

func (t *Timed) AllGather64(send, recv []float64) error {
	s := time.Now()
	err := t.Comm.AllGather64(send, recv)
	t.add(s, 8*len(send))
	return err
}

func (t *Timed) AllGatherV32(send, recv []float32, counts []int) error {
	s := time.Now()
	err := t.Comm.AllGatherV32(send, recv, counts)
	t.add(s, 4*len(send))
	return err
}

func (t *Timed) Broadcast32(buf []float32, root int) error {
	s := time.Now()
	err := t.Comm.Broadcast32(buf, root)
	t.add(s, 4*len(buf))
	return err
}

func (t *Timed) Broadcast64(buf []float64, root int) error {
	s := time.Now()
	err := t.Comm.Broadcast64(buf, root)
	t.add(s, 8*len(buf))
	return err
}

func (t *Timed) Barrier() error {
	s := time.Now()
	err := t.Comm.Barrier()
	t.add(s, 0)
	return err
}
