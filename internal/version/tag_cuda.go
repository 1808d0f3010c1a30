//go:build cuda

package version

func init() { Tags = append(Tags, "cuda") }
