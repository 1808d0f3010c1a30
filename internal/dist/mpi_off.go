//go:build !(mpi && cgo)

package dist

import "time"

// openMPI reports that this binary has no MPI support (built without the
// mpi tag or without cgo).
func openMPI(time.Duration) (Comm, error) { return nil, ErrNoMPI }

// MPIBuilt says whether this binary can talk MPI.
const MPIBuilt = false
