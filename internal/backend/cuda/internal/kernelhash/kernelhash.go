// Package kernelhash ties a CUDA binary's embedded kernel image to the
// kernel sources the binary was built from. kernels/build.sh computes the
// SHA-256 of kernels/*.cu, *.cuh and *.h (sorted by name, concatenated),
// writes it into Sources (sources_gen.go, beside the emulator's
// kernels_hash.h) and compiles it into the fatbin as the device global
// simclr_kernels_sha256 = Marker + hash. The cuda driver compares the two
// when it starts: a fatbin left over from older kernels (kernels edited,
// `go build -tags cuda` run without `make kernels`) is refused by name
// instead of computing with the wrong kernels.
package kernelhash

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Marker prefixes the hash in the fatbin's simclr_kernels_sha256 global, so
// that the hash can also be found by a byte search of the image.
const Marker = "simclr-kernels-sha256:"

// Global is the name of the device global holding Marker + hash.
const Global = "simclr_kernels_sha256"

// Fix is the remedy every mismatch error names.
const Fix = "rebuild the kernels and the binary together: make build-cuda (or kernels/build.sh, then go build -tags cuda)"

// SourceHash computes the hash build.sh writes from the kernel sources in
// dir (kernels/).
func SourceHash(dir string) (string, error) {
	var names []string
	for _, pat := range []string{"*.cu", "*.cuh", "*.h"} {
		m, err := filepath.Glob(filepath.Join(dir, pat))
		if err != nil {
			return "", err
		}
		names = append(names, m...)
	}
	if len(names) == 0 {
		return "", fmt.Errorf("kernel sources: no *.cu, *.cuh or *.h files in %s", dir)
	}
	sort.Slice(names, func(i, j int) bool { return filepath.Base(names[i]) < filepath.Base(names[j]) })
	h := sha256.New()
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			return "", fmt.Errorf("kernel sources: %w", err)
		}
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// FromGlobal extracts the hash from the bytes of the simclr_kernels_sha256
// global as read back from the device (Marker + 64 hex digits, NUL
// terminated).
func FromGlobal(b []byte) (string, error) {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	s := string(b)
	h, ok := strings.CutPrefix(s, Marker)
	if !ok || !isHash(h) {
		return "", fmt.Errorf("kernel image: global %s holds %q, want %q followed by 64 hex digits; %s", Global, s, Marker, Fix)
	}
	return h, nil
}

// FromImage finds the hash in a kernel image (the fatbin, or a binary that
// embeds it) by a byte search for Marker. Every SASS architecture carries a
// copy; they must agree. found is false when the image has no marker (an
// image built before the marker existed, or a compressed one); the
// device global is then the only check.
func FromImage(image []byte) (hash string, found bool, err error) {
	rest := image
	for {
		i := bytes.Index(rest, []byte(Marker))
		if i < 0 {
			break
		}
		rest = rest[i+len(Marker):]
		if len(rest) < 64 || !isHash(string(rest[:64])) {
			continue // the marker text elsewhere, e.g. in this package's own strings
		}
		h := string(rest[:64])
		rest = rest[64:]
		if found && h != hash {
			return "", true, fmt.Errorf("kernel image: holds two kernel hashes, %s and %s (a fatbin assembled from two builds); %s", hash, h, Fix)
		}
		hash, found = h, true
	}
	return hash, found, nil
}

// Compare returns nil when the image's hash equals the hash of the sources
// the binary was built from, else an error naming both and the fix.
func Compare(image, sources string) error {
	if image == sources {
		return nil
	}
	return fmt.Errorf("the embedded CUDA kernel image is stale: it was compiled from kernels with SHA-256 %s, "+
		"but this binary was built from kernels/ hashing to %s; %s", short(image), short(sources), Fix)
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12] + "…"
	}
	if h == "" {
		return "(none)"
	}
	return h
}

func isHash(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
