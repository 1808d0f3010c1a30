// Package kernellist reads the project's one list of CUDA kernels,
// kernels/kernel_names.h, and the __global__ definitions in kernels/*.cu.
// The generator of kernel_names_gen.go and the test that keeps the list,
// the sources and the generated Go in step both use it.
package kernellist

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
)

var (
	listEntry = regexp.MustCompile(`(?m)^SIMCLR_KERNEL\(([A-Za-z0-9_]+)\)`)
	// A definition: `__global__ void [__launch_bounds__(...)] name(`, the
	// name possibly on the next line.
	globalDef = regexp.MustCompile(`__global__\s+void\s+(?:__launch_bounds__\([^)]*\)\s*)?([A-Za-z0-9_]+)\s*\(`)
)

// Names returns the kernel names of kernel_names.h in dir, in file order.
func Names(dir string) ([]string, error) {
	path := filepath.Join(dir, "kernel_names.h")
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read kernel list: %w", err)
	}
	var names []string
	seen := map[string]bool{}
	for _, m := range listEntry.FindAllStringSubmatch(string(src), -1) {
		if seen[m[1]] {
			return nil, fmt.Errorf("%s: kernel %s listed twice", path, m[1])
		}
		seen[m[1]] = true
		names = append(names, m[1])
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%s: no SIMCLR_KERNEL(name) lines", path)
	}
	return names, nil
}

// Defined returns, sorted, the names of the __global__ functions defined
// in dir/*.cu, with the file that defines each.
func Defined(dir string) (map[string]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.cu"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	defs := map[string]string{}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("read kernel source: %w", err)
		}
		for _, m := range globalDef.FindAllStringSubmatch(string(src), -1) {
			defs[m[1]] = filepath.Base(f)
		}
	}
	return defs, nil
}
