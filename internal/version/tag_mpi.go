//go:build mpi

package version

func init() { Tags = append(Tags, "mpi") }
