package bench

import (
	"testing"

	"simclr/internal/backend/cpu"
	"simclr/internal/model"
	"simclr/internal/optim"
)

// The benchmarks below are the two cases of tools/bench/bench-cpu.sh on the
// CPU backend with LARS, for measuring without the CLI. Each iteration is one
// timed training step (b.N steps after one warm-up step); run them with a
// fixed count, e.g.
//
//	go test -run '^$' -bench 'CaseA' -benchtime 4x ./internal/bench/
//
// They report pairs/s, ms/step and peak MiB; ns/op is the mean step time.

func benchmarkCase(b *testing.B, mc model.Config, imageSize, pairs int) {
	be := cpu.New()
	lars := func(ps []*model.Param) (optim.Optimizer, error) {
		return optim.NewLARS(be, ps, optim.LARSOptions{Momentum: 0.9, WeightDecay: 1e-6, TrustCoef: 0.001, ExcludeBiasBN: true})
	}
	res, err := Run(be, mc, imageSize, 0.5, lars, Options{Steps: b.N, Warmup: 1, BatchPairs: pairs})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(res.MsPerStep*1e6, "ns/op")
	b.ReportMetric(res.PairsPerS, "pairs/s")
	b.ReportMetric(res.MsPerStep, "ms/step")
	b.ReportMetric(float64(res.PeakBytes)/(1<<20), "peakMiB")
}

// BenchmarkCaseA: ResNet-18, CIFAR stem, width 64, 32 px RGB, 64 pairs.
func BenchmarkCaseA(b *testing.B) {
	benchmarkCase(b, model.Config{Arch: "resnet18", Stem: model.StemCIFAR, Width: 64, InChannels: 3, HeadLayers: 2, HeadOut: 64}, 32, 64)
}

// BenchmarkCaseB: the configs/fashion-mnist.yaml model (ResNet-18, CIFAR
// stem, width 16, 28 px gray, head_out 64), 256 pairs.
func BenchmarkCaseB(b *testing.B) {
	benchmarkCase(b, model.Config{Arch: "resnet18", Stem: model.StemCIFAR, Width: 16, InChannels: 1, HeadLayers: 2, HeadOut: 64}, 28, 256)
}

// BenchmarkTiny is the test model, for profiling the per-op overhead.
func BenchmarkTiny(b *testing.B) {
	benchmarkCase(b, tinyConfig(), 8, 4)
}
