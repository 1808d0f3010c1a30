//go:build !unix

package bench

import "time"

// processCPUTime is not available here (see cputime_unix.go).
func processCPUTime() (time.Duration, bool) { return 0, false }
