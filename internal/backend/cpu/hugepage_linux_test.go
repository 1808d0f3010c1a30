//go:build linux

package cpu

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

// vmFlags returns the VmFlags of the mapping in /proc/self/smaps that
// contains addr.
func vmFlags(t *testing.T, addr uintptr) []string {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skipf("no /proc/self/smaps: %v", err)
	}
	defer f.Close()
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		// A mapping's header line starts with its range, "lo-hi" in hex.
		if lo, hi, ok := strings.Cut(fields[0], "-"); ok {
			a, err1 := strconv.ParseUint(lo, 16, 64)
			b, err2 := strconv.ParseUint(hi, 16, 64)
			if err1 == nil && err2 == nil {
				in = uint64(addr) >= a && uint64(addr) < b
				continue
			}
		}
		if in && strings.HasPrefix(line, "VmFlags:") {
			return strings.Fields(strings.TrimPrefix(line, "VmFlags:"))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	t.Fatalf("no mapping in /proc/self/smaps holds %#x", addr)
	return nil
}

func hasFlag(flags []string, f string) bool {
	for _, x := range flags {
		if x == f {
			return true
		}
	}
	return false
}

// TestNewAdvisesHugePages: a large tensor from New lies in memory advised
// for transparent huge pages (VmFlags "hg"), and a small one is not
// advised by New (its mapping may still carry the flag from a neighbour,
// so only the large case is asserted), and New still returns zeros.
func TestNewAdvisesHugePages(t *testing.T) {
	if _, err := os.Stat("/sys/kernel/mm/transparent_hugepage/enabled"); err != nil {
		t.Skip("kernel without transparent huge pages")
	}
	b := New()
	defer b.Close()
	big, err := b.New(4, 1<<18) // 4 MiB
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range big.Host {
		if v != 0 {
			t.Fatalf("New: element %d is %v, want 0", i, v)
		}
	}
	for _, addr := range []uintptr{
		uintptr(unsafe.Pointer(&big.Host[0])),
		uintptr(unsafe.Pointer(&big.Host[len(big.Host)/2])),
		uintptr(unsafe.Pointer(&big.Host[len(big.Host)-1])),
	} {
		if flags := vmFlags(t, addr); !hasFlag(flags, "hg") {
			t.Errorf("4 MiB tensor: mapping of %#x has VmFlags %v, want hg (MADV_HUGEPAGE)", addr, flags)
		}
	}
}
