package runlog

import (
	"bytes"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMetricsAppendAndRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "metrics.csv")
	m, err := OpenMetrics(path, -1)
	if err != nil {
		t.Fatal(err)
	}
	want := []Row{
		{Epoch: 1, Step: 1, Loss: 5.5, LR: 0.1, PairsPerS: 10, Seconds: 1, KNNTop1: math.NaN()},
		{Epoch: 1, Step: 2, Loss: 5.25, LR: 0.2, PairsPerS: 11, Seconds: 2, KNNTop1: 0.5},
	}
	for _, r := range want {
		if err := m.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	// Rows must be on disk before Close (a crash keeps them).
	got, err := ReadMetrics(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[1].Loss != 5.25 || got[1].KNNTop1 != 0.5 || !math.IsNaN(got[0].KNNTop1) {
		t.Fatalf("rows read back = %+v", got)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(data), "epoch,step,loss,lr,pairs_per_s,seconds,knn_top1\n") {
		t.Fatalf("header: %q", data)
	}
}

func TestMetricsResumeDropsLaterRows(t *testing.T) {
	path := filepath.Join(t.TempDir(), "metrics.csv")
	m, err := OpenMetrics(path, -1)
	if err != nil {
		t.Fatal(err)
	}
	for s := 1; s <= 5; s++ {
		if err := m.Append(Row{Epoch: 1, Step: s, Loss: float64(s), KNNTop1: math.NaN()}); err != nil {
			t.Fatal(err)
		}
	}
	m.Close()
	m2, err := OpenMetrics(path, 3)
	if err != nil {
		t.Fatal(err)
	}
	if err := m2.Append(Row{Epoch: 2, Step: 4, Loss: 40, KNNTop1: math.NaN()}); err != nil {
		t.Fatal(err)
	}
	m2.Close()
	rows, err := ReadMetrics(path)
	if err != nil {
		t.Fatal(err)
	}
	steps := []int{}
	for _, r := range rows {
		steps = append(steps, r.Step)
	}
	if len(rows) != 4 || rows[3].Loss != 40 || rows[2].Step != 3 {
		t.Fatalf("steps after resume = %v", steps)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
}

// TestOpenMetricsFailureKeepsOldFile: when the new file cannot be
// committed (the name is taken by a non-empty directory) OpenMetrics fails
// naming it, and leaves no temporary file.
func TestOpenMetricsFailureKeepsOldFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "metrics.csv")
	if err := os.MkdirAll(filepath.Join(path, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenMetrics(path, -1); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("err = %v, want an error naming %s", err, path)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
}

func TestReadMetricsErrors(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]string{
		"badheader.csv": "a,b,c,d,e,f,g\n",
		"badnum.csv":    "epoch,step,loss,lr,pairs_per_s,seconds,knn_top1\n1,x,1,1,1,1,\n",
		"short.csv":     "epoch,step,loss,lr,pairs_per_s,seconds,knn_top1\n1,2,3\n",
	}
	for name, body := range cases {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o644)
		if _, err := ReadMetrics(p); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: err = %v, want an error naming the file", name, err)
		}
	}
}

// TestPlotLossWritesPNG: loss.png is a valid PNG; when rows carry kNN
// accuracies it gains the kNN panel below (taller, different pixels).
func TestPlotLossWritesPNG(t *testing.T) {
	dir := t.TempDir()
	rowsWith := func(knnEvery int) []Row {
		var rows []Row
		for s := 1; s <= 30; s++ {
			r := Row{Epoch: 1 + (s-1)/10, Step: s, Loss: 6 - float64(s)*0.1 + 0.2*math.Sin(float64(s)), KNNTop1: math.NaN()}
			if knnEvery > 0 && s%10 == 0 && r.Epoch%knnEvery == 0 {
				r.KNNTop1 = 20 + 10*float64(r.Epoch)
			}
			rows = append(rows, r)
		}
		return rows
	}
	cases := []struct {
		name       string
		rows       []Row
		wantHeight int // pixels at gonum's default 96 dpi
	}{
		{"loss only", rowsWith(0), 432},
		{"with kNN every epoch", rowsWith(1), 720},
		{"with kNN every 3 epochs (one point)", rowsWith(3), 720},
	}
	var first []byte
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".png")
			if err := PlotLoss(tc.rows, path); err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			img, err := png.Decode(bytes.NewReader(data))
			if err != nil {
				t.Fatalf("%s is not a PNG: %v", path, err)
			}
			if b := img.Bounds(); b.Dx() != 768 || b.Dy() != tc.wantHeight {
				t.Fatalf("image is %dx%d, want 768x%d", b.Dx(), b.Dy(), tc.wantHeight)
			}
			if first == nil {
				first = data
			} else if bytes.Equal(first, data) {
				t.Fatal("the plot with kNN points is the same as without")
			}
		})
	}
	if err := PlotLoss(nil, filepath.Join(dir, "none.png")); err == nil {
		t.Fatal("plotting no rows must fail")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != len(cases) {
		t.Fatalf("directory holds %v, want only the %d plots", entries, len(cases))
	}
}

func TestProgressPlainAndQuiet(t *testing.T) {
	var buf bytes.Buffer
	p := NewProgress(&buf, false)
	p.StartEpoch(1, 2, 3)
	p.Update(1, 5, 0.1, 10)
	p.Update(3, 4.5, 0.1, 12)
	p.FinishEpoch(4.7, 1.5)
	out := buf.String()
	for _, want := range []string{"epoch 1/2: 3 steps", "step 3/3 loss 4.5000", "mean loss 4.7000"} {
		if !strings.Contains(out, want) {
			t.Errorf("plain progress lacks %q:\n%s", want, out)
		}
	}
	buf.Reset()
	q := NewProgress(&buf, true)
	q.StartEpoch(1, 1, 1)
	q.Update(1, 1, 1, 1)
	q.FinishEpoch(1, 1)
	if buf.Len() != 0 {
		t.Fatalf("quiet progress printed %q", buf.String())
	}
}
