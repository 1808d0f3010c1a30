// Command peakflops measures the machine's fp32 FMA peak: register-resident
// FMA loops in assembly (AVX2 on YMM, AVX-512 on ZMM; no memory traffic;
// with AVX512_BF16 also the bfloat16 dot product VDPBF16PS, bf16_amd64.s)
// on 1, 2, … goroutines, each locked to its own OS thread. It prints GFLOP/s
// per loop and thread count, the best of several repetitions. This is the
// "peak" that docs/benchmarks.md compares the GEMM and training figures with.
//
//	go run ./tools/peakflops                 # 1 and GOMAXPROCS threads
//	go run ./tools/peakflops -threads 1,2 -reps 5 -ms 200
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

type fmaLoop struct {
	name  string
	flops int // per iteration
	run   func(n int)
}

// measure runs loop on threads goroutines for about d and returns GFLOP/s
// over all of them.
func measure(l fmaLoop, threads int, d time.Duration) float64 {
	// Calibrate the iteration count on one thread.
	n := 1 << 16
	for {
		start := time.Now()
		l.run(n)
		if el := time.Since(start); el > d/4 {
			n = int(float64(n) * float64(d) / float64(el))
			break
		}
		n *= 4
	}
	var wg sync.WaitGroup
	start := time.Now()
	for range threads {
		wg.Go(func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			l.run(n)
		})
	}
	wg.Wait()
	el := time.Since(start).Seconds()
	return float64(threads) * float64(n) * float64(l.flops) / el / 1e9
}

func main() {
	threadsFlag := flag.String("threads", "", "comma-separated thread counts (default 1 and GOMAXPROCS)")
	reps := flag.Int("reps", 5, "repetitions per figure; the best is printed with the median")
	ms := flag.Int("ms", 200, "milliseconds per repetition")
	flag.Parse()
	threads := []int{1}
	if p := runtime.GOMAXPROCS(0); p > 1 {
		threads = append(threads, p)
	}
	if *threadsFlag != "" {
		threads = threads[:0]
		for _, s := range strings.Split(*threadsFlag, ",") {
			t, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || t < 1 {
				fmt.Fprintf(os.Stderr, "peakflops: bad thread count %q\n", s)
				os.Exit(2)
			}
			threads = append(threads, t)
		}
	}
	ls := loops()
	if len(ls) == 0 {
		fmt.Println("peakflops: no FMA loop for this CPU/build (amd64 with AVX2+FMA or AVX-512F needed)")
		return
	}
	fmt.Printf("GOMAXPROCS %d, NumCPU %d, %d reps of %d ms\n", runtime.GOMAXPROCS(0), runtime.NumCPU(), *reps, *ms)
	for _, l := range ls {
		for _, t := range threads {
			g := make([]float64, *reps)
			for i := range g {
				g[i] = measure(l, t, time.Duration(*ms)*time.Millisecond)
			}
			best, med := stats(g)
			fmt.Printf("%-30s threads %d: best %7.1f GFLOP/s, median %7.1f (all %s)\n", l.name, t, best, med, fmtAll(g))
		}
	}
}

func stats(g []float64) (best, med float64) {
	s := append([]float64(nil), g...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s[len(s)-1], s[(len(s)-1)/2]
}

func fmtAll(g []float64) string {
	p := make([]string, len(g))
	for i, v := range g {
		p[i] = strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strings.Join(p, " ")
}
