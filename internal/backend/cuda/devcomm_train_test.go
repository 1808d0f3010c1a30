//go:build cuda || cudaemu

package cuda_test

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"simclr/internal/backend/cuda"
	"simclr/internal/config"
	"simclr/internal/dist"
	"simclr/internal/safetensors"
	"simclr/internal/train"
)

// TestPretrainWithDeviceComm: the training loop's device path
// (train.Distributed.Device: sync BN, the gathered step and the gradient
// all-reduce through a DeviceComm) trains 2 ranks on the CUDA backend to
// the same losses and weights, bit for bit, as the host collectives — the
// wiring NCCL uses, with the host collectives standing in for the NCCL
// calls. One step of 6 images (3 per rank): the checkpoint holds the
// weights the summed gradients produced.
func TestPretrainWithDeviceComm(t *testing.T) {
	if testing.Short() {
		t.Skip("emulated training")
	}
	e := newEnv(t)
	cfg, err := config.Load(config.Sources{Sets: []string{
		"data.synthetic_size=6", "data.image_size=8", "data.workers=1", "model.width=4", "model.head_out=8",
		"model.sync_bn=true", "train.batch_size=6", "train.epochs=1", "train.checkpoint_every=1",
		"optim.name=lars", "optim.lr_scaling=none", "optim.warmup_epochs=0",
	}})
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	run := func(device bool) (string, [2]float64) {
		out := filepath.Join(root, map[bool]string{false: "host", true: "device"}[device])
		var final [2]float64
		runRanks(t, 2, func(r int, c dist.Comm) error {
			plan, err := train.NewPretrainPlan(cfg, nil)
			if err != nil {
				return err
			}
			defer plan.Close()
			d := &train.Distributed{Comm: c, SyncBN: true}
			if device {
				d.Device = cuda.NewHostDeviceComm(e.gpu, c)
			}
			job := &train.PretrainJob{Plan: plan, Backend: e.gpu, Out: out, Dist: d}
			res, err := job.Run(context.Background())
			if err != nil {
				return err
			}
			final[r] = res.FinalLoss
			return nil
		})
		return out, final
	}
	hostDir, hostLoss := run(false)
	devDir, devLoss := run(true)
	if devLoss != hostLoss || devLoss[0] != devLoss[1] || math.IsNaN(devLoss[0]) {
		t.Errorf("final losses (rank 0, rank 1): %v through the device collectives, %v through the host", devLoss, hostLoss)
	}
	fh, err := safetensors.Read(filepath.Join(hostDir, train.CheckpointFile))
	if err != nil {
		t.Fatal(err)
	}
	fd, err := safetensors.Read(filepath.Join(devDir, train.CheckpointFile))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, th := range fh.Tensors {
		if th.DType != "F32" {
			continue
		}
		td, ok := fd.Get(th.Name)
		if !ok || len(td.F32) != len(th.F32) {
			t.Fatalf("%s missing or of another size in the device run's checkpoint", th.Name)
		}
		for i, v := range th.F32 {
			if td.F32[i] != v {
				t.Fatalf("%s[%d] = %v after the device run, %v after the host run", th.Name, i, td.F32[i], v)
			}
		}
		n++
	}
	t.Logf("final loss %v; %d checkpoint tensors bit-identical", devLoss[0], n)
}
