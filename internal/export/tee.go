package export

import "fmt"

// Tee returns a Writer that passes every batch to each of ws in order.
// Close closes them in order and stops at the first error, aborting the
// rest, so a writer put first (say, a map that can still fail) keeps the
// later ones from appearing when it fails. Abort aborts them all.
func Tee(ws ...Writer) Writer { return tee(ws) }

type tee []Writer

func (t tee) Write(ids []string, vecs []float32, labels []int64) error {
	for _, w := range t {
		if err := w.Write(ids, vecs, labels); err != nil {
			return err
		}
	}
	return nil
}

func (t tee) Close() error {
	for i, w := range t {
		if err := w.Close(); err != nil {
			for _, rest := range t[i+1:] {
				rest.Abort()
			}
			return fmt.Errorf("%w (so the rest of the output was not written)", err)
		}
	}
	return nil
}

func (t tee) Abort() {
	for _, w := range t {
		w.Abort()
	}
}
