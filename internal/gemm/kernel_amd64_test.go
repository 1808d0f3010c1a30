//go:build !noasm

package gemm

import (
	"os"
	"testing"

	"golang.org/x/sys/cpu"
)

func TestDispatchPicksWidestAvailable(t *testing.T) {
	want := kernelGo
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		want = kernelAVX2
		if cpu.X86.HasAVX512F {
			want = kernelAVX512
		}
	}
	if got := bestKernel(); got != want {
		t.Errorf("bestKernel() = %v, want %v (AVX2=%v FMA=%v AVX512F=%v)", got, want, cpu.X86.HasAVX2, cpu.X86.HasFMA, cpu.X86.HasAVX512F)
	}
	if env := os.Getenv(KernelEnv); env == "" && activeKernel != want {
		t.Errorf("activeKernel = %v, want %v", activeKernel, want)
	}
}
