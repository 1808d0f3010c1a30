package kernelhash

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// kernelsDir is kernels/ seen from this package.
var kernelsDir = filepath.Join("..", "..", "..", "..", "..", "kernels")

const (
	h1 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	h2 = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
)

func TestCompare(t *testing.T) {
	if err := Compare(h1, h1); err != nil {
		t.Errorf("Compare(same): %v", err)
	}
	err := Compare(h1, h2)
	if err == nil {
		t.Fatal("Compare(different): want an error")
	}
	for _, want := range []string{"stale", h1[:12], h2[:12], "make build-cuda", "kernels/build.sh"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if err := Compare("", h2); err == nil || !strings.Contains(err.Error(), "(none)") {
		t.Errorf("Compare(no hash): %v, want an error naming (none)", err)
	}
}

func TestFromGlobal(t *testing.T) {
	good := append([]byte(Marker+h1), 0)
	if h, err := FromGlobal(good); err != nil || h != h1 {
		t.Errorf("FromGlobal(marker+hash+NUL) = %q, %v; want %s", h, err, h1)
	}
	for _, bad := range [][]byte{nil, []byte(h1), []byte(Marker + h1[:63]), []byte(Marker + strings.ToUpper(h1)), []byte("other:" + h1)} {
		if h, err := FromGlobal(bad); err == nil {
			t.Errorf("FromGlobal(%q) = %q, want an error", bad, h)
		} else if !strings.Contains(err.Error(), Global) || !strings.Contains(err.Error(), "make build-cuda") {
			t.Errorf("FromGlobal error %q does not name the global and the fix", err)
		}
	}
}

func TestFromImage(t *testing.T) {
	img := func(parts ...string) []byte { return []byte(strings.Join(parts, "\x00\x7fELF junk ")) }
	tests := []struct {
		name      string
		image     []byte
		want      string
		wantFound bool
		wantErr   bool
	}{
		{"none", img("no marker here"), "", false, false},
		{"marker without hash", img(Marker + "xyz"), "", false, false},
		{"one", img("a", Marker+h1, "b"), h1, true, false},
		{"one per architecture", img(Marker+h1, Marker+h1, Marker+h1), h1, true, false},
		{"bare marker then hash", img(Marker, Marker+h1), h1, true, false},
		{"two builds", img(Marker+h1, Marker+h2), "", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, found, err := FromImage(tt.image)
			if (err != nil) != tt.wantErr || found != tt.wantFound || (!tt.wantErr && h != tt.want) {
				t.Errorf("FromImage = %q, %v, %v; want %q, %v, error %v", h, found, err, tt.want, tt.wantFound, tt.wantErr)
			}
		})
	}
}

// TestSourcesCurrent fails when kernels/ changed after sources_gen.go was
// written: a binary built now would claim the wrong kernels.
func TestSourcesCurrent(t *testing.T) {
	h, err := SourceHash(kernelsDir)
	if err != nil {
		t.Fatal(err)
	}
	if Sources != h {
		t.Fatalf("sources_gen.go has kernel hash %s, kernels/ now hashes to %s: run kernels/build.sh emu-hash (or make kernels)", Sources, h)
	}
}

// TestEmbeddedFatbinCurrent checks, where a fatbin has been built
// (make kernels), that it carries the hash of the current kernels: the
// build-time half of the start-up check. It needs no GPU.
func TestEmbeddedFatbinCurrent(t *testing.T) {
	path := filepath.Join("..", "..", "simclr.fatbin")
	image, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		t.Skip("no internal/backend/cuda/simclr.fatbin (make kernels builds it)")
	}
	if err != nil {
		t.Fatal(err)
	}
	h, found, err := FromImage(image)
	if err != nil {
		t.Fatal(err)
	}
	if !found {
		t.Fatalf("%s has no %s marker: built by an old kernels/build.sh or compressed; run make kernels", path, Marker)
	}
	if err := Compare(h, Sources); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
