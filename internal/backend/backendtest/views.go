package backendtest

import (
	"slices"
	"strings"
	"testing"

	"simclr/internal/backend"
)

// CheckViews runs Backend.View's contract on b: a view shares its
// tensor's storage (writes through either are seen through the other, and
// ops read and write views like any tensor), views of views share it too,
// Free of a view leaves the tensor alone, and a view larger than its
// tensor or with a negative dimension is an error naming the fix.
func CheckViews(t *testing.T, b backend.Backend) {
	t.Helper()
	base, err := b.New(4, 6)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Free(base)
	vals := make([]float32, 24)
	for i := range vals {
		vals[i] = float32(i + 1)
	}
	if err := b.Upload(base, vals); err != nil {
		t.Fatal(err)
	}
	v, err := b.View(base, 2, 5) // the first 10 values
	if err != nil {
		t.Fatal(err)
	}
	if !v.Shape.Equal([]int{2, 5}) {
		t.Fatalf("view shape %v, want [2 5]", v.Shape)
	}
	got := make([]float32, 10)
	if err := b.Download(got, v); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, vals[:10]) {
		t.Fatalf("view reads %v, want the tensor's first 10 values %v", got, vals[:10])
	}
	// An op writing the view (out aliasing its inputs) changes the tensor.
	if err := b.Add(v, v, v); err != nil {
		t.Fatalf("add on a view: %v", err)
	}
	all := make([]float32, 24)
	if err := b.Download(all, base); err != nil {
		t.Fatal(err)
	}
	for i, x := range all {
		want := vals[i]
		if i < 10 {
			want *= 2
		}
		if x != want {
			t.Fatalf("tensor[%d] = %g after doubling its view, want %g", i, x, want)
		}
	}
	// A view of the view, flat, sees the same storage.
	w, err := b.View(v, 3)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Upload(w, []float32{-1, -2, -3}); err != nil {
		t.Fatal(err)
	}
	if err := b.Download(all, base); err != nil {
		t.Fatal(err)
	}
	if all[0] != -1 || all[2] != -3 || all[3] != 8 {
		t.Fatalf("tensor starts %v after writing its view's view, want [-1 -2 -3 8 ...]", all[:4])
	}
	// Free of a view does nothing to the tensor.
	b.Free(w)
	b.Free(v)
	if err := b.Download(all, base); err != nil {
		t.Fatalf("tensor after freeing its views: %v", err)
	}
	for _, bad := range []struct {
		shape []int
		want  string
	}{
		{[]int{5, 5}, "more than the 24"},
		{[]int{25}, "view a larger tensor"},
		{[]int{-1, 2}, "negative"},
	} {
		_, err := b.View(base, bad.shape...)
		if err == nil || !strings.Contains(err.Error(), bad.want) || !strings.HasPrefix(err.Error(), backend.OpView) {
			t.Errorf("View %v of [4 6]: error %v, want one starting %q that says %q", bad.shape, err, backend.OpView, bad.want)
		}
	}
	if _, err := b.View(nil, 1); err == nil {
		t.Error("View of nil: want an error")
	}
}
