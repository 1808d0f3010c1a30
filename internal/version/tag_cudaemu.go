//go:build cudaemu

package version

func init() { Tags = append(Tags, "cudaemu") }
