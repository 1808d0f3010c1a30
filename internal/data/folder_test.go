package data

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func encodePNG(t *testing.T, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func encodeJPEG(t *testing.T, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 100}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// solid returns a w x h NRGBA image of one colour.
func solid(w, h int, c color.NRGBA) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = c.R, c.G, c.B, c.A
	}
	return img
}

func TestFolderLabelled(t *testing.T) {
	root := t.TempDir()
	red := color.NRGBA{200, 10, 10, 255}
	writeFile(t, filepath.Join(root, "cat", "b.png"), encodePNG(t, solid(5, 4, red)))
	writeFile(t, filepath.Join(root, "cat", "a.PNG"), encodePNG(t, solid(3, 3, red)))
	writeFile(t, filepath.Join(root, "cat", "deep", "c.jpg"), encodeJPEG(t, solid(16, 8, color.NRGBA{0, 0, 255, 255})))
	writeFile(t, filepath.Join(root, "cat", "notes.txt"), []byte("not an image"))
	writeFile(t, filepath.Join(root, "cat", ".hidden.png"), []byte("ignored"))
	gray := image.NewGray(image.Rect(0, 0, 2, 2))
	gray.Pix = []byte{0, 50, 100, 150}
	writeFile(t, filepath.Join(root, "ant", "g.jpeg"), encodePNG(t, gray)) // PNG bytes under a .jpeg name
	half := solid(2, 2, color.NRGBA{200, 100, 50, 128})
	writeFile(t, filepath.Join(root, "dog", "h.png"), encodePNG(t, half))

	ds := mustOpen(t, Spec{Format: "folder", Path: root})
	wantIDs := []string{"ant/g.jpeg", "cat/a.PNG", "cat/b.png", "cat/deep/c.jpg", "dog/h.png"}
	var ids []string
	var labels []int
	for i := range ds.Len() {
		ids = append(ids, ds.ID(i))
		labels = append(labels, ds.Label(i))
	}
	if !slices.Equal(ids, wantIDs) || !slices.Equal(labels, []int{0, 1, 1, 1, 2}) {
		t.Fatalf("ids %v labels %v", ids, labels)
	}
	if !slices.Equal(ds.Classes(), []string{"ant", "cat", "dog"}) || ds.Channels() != 3 || ds.Name() != "folder/train" {
		t.Errorf("classes %v channels %d name %s", ds.Classes(), ds.Channels(), ds.Name())
	}

	img, err := ds.Image(0) // gray converted to RGB
	if err != nil {
		t.Fatal(err)
	}
	rgba := img.(*image.RGBA)
	if got := rgba.RGBAAt(1, 1); got != (color.RGBA{150, 150, 150, 255}) {
		t.Errorf("gray pixel (1,1) = %v, want 150 in every channel", got)
	}
	img, err = ds.Image(2)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 5 || b.Dy() != 4 {
		t.Errorf("b.png bounds %v", b)
	}
	img, err = ds.Image(3)
	if err != nil {
		t.Fatal(err)
	}
	if got := img.(*image.RGBA).RGBAAt(8, 4); got.B < 240 || got.R > 15 || got.A != 255 {
		t.Errorf("jpeg blue pixel = %v", got)
	}
	img, err = ds.Image(4) // half-transparent: composited over black, opaque
	if err != nil {
		t.Fatal(err)
	}
	got := img.(*image.RGBA).RGBAAt(0, 0)
	if got.A != 255 || got.R < 98 || got.R > 102 || got.G < 48 || got.G > 52 {
		t.Errorf("translucent pixel = %v, want about (100,50,25,255)", got)
	}
}

func TestFolderFlatAndSplit(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "train", "z.png"), encodePNG(t, solid(4, 4, color.NRGBA{1, 2, 3, 255})))
	writeFile(t, filepath.Join(root, "train", "y.jpg"), encodeJPEG(t, solid(9, 3, color.NRGBA{1, 2, 3, 255})))
	writeFile(t, filepath.Join(root, "test", "only.png"), encodePNG(t, solid(4, 4, color.NRGBA{1, 2, 3, 255})))

	train := mustOpen(t, Spec{Format: "folder", Path: root, Split: "train"})
	if train.Len() != 2 || train.ID(0) != "y.jpg" || train.Label(0) != Unlabelled || train.Classes() != nil {
		t.Errorf("flat train: len %d id %q label %d classes %v", train.Len(), train.ID(0), train.Label(0), train.Classes())
	}
	if w, h := train.NativeSize(); w != 0 || h != 0 {
		t.Errorf("native size %dx%d, want 0x0", w, h)
	}
	test := mustOpen(t, Spec{Format: "folder", Path: root, Split: "test"})
	if test.Len() != 1 || test.Name() != "folder/test" {
		t.Errorf("test: %s len %d", test.Name(), test.Len())
	}
	flat := mustOpen(t, Spec{Format: "folder", Path: filepath.Join(root, "train")})
	if flat.Len() != 2 {
		t.Errorf("data.path pointing at images: len %d", flat.Len())
	}
	_, err := Open(Spec{Format: "folder", Path: filepath.Join(root, "train"), Split: "test"})
	wantErr(t, err, "split test", filepath.Join(root, "train", "test"))
}

func TestFolderErrors(t *testing.T) {
	img := encodePNG(t, solid(2, 2, color.NRGBA{9, 9, 9, 255}))
	tests := []struct {
		name  string
		files map[string][]byte
		want  []string
	}{
		{"mixed layout", map[string][]byte{"cls/a.png": img, "loose.png": img}, []string{"mixes class sub-folders", "loose.png"}},
		{"empty class", map[string][]byte{"a/x.png": img, "b/readme.txt": []byte("x")}, []string{"class folder", "has no .png/.jpg/.jpeg images"}},
		{"no images", map[string][]byte{"readme.txt": []byte("x")}, []string{"no .png/.jpg/.jpeg images"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for name, data := range tc.files {
				writeFile(t, filepath.Join(root, name), data)
			}
			_, err := Open(Spec{Format: "folder", Path: root})
			wantErr(t, err, tc.want...)
		})
	}
	_, err := Open(Spec{Format: "folder", Path: filepath.Join(t.TempDir(), "absent")})
	wantErr(t, err, "absent", "data.path must be a directory")
}

func TestFolderSkipBad(t *testing.T) {
	root := t.TempDir()
	good := encodePNG(t, solid(6, 6, color.NRGBA{10, 20, 30, 255}))
	writeFile(t, filepath.Join(root, "a", "1.png"), good)
	writeFile(t, filepath.Join(root, "a", "2.png"), []byte("this is not a png"))
	writeFile(t, filepath.Join(root, "a", "3.png"), good[:len(good)-20]) // truncated body
	writeFile(t, filepath.Join(root, "b", "4.png"), good)
	writeFile(t, filepath.Join(root, "b", "5.jpg"), encodeJPEG(t, solid(6, 6, color.NRGBA{1, 1, 1, 255}))[:40])

	// Without skip_bad, opening works and the bad image fails when read,
	// naming the file and the option.
	strict := mustOpen(t, Spec{Format: "folder", Path: root})
	if strict.Len() != 5 {
		t.Fatalf("strict len %d, want 5", strict.Len())
	}
	_, err := strict.Image(1)
	wantErr(t, err, filepath.Join(root, "a", "2.png"), "data.skip_bad: true")
	_, err = strict.Image(2)
	wantErr(t, err, "3.png", "data.skip_bad")

	var warn bytes.Buffer
	ds := mustOpen(t, Spec{Format: "folder", Path: root, SkipBad: true, Warn: &warn})
	var ids []string
	for i := range ds.Len() {
		ids = append(ids, ds.ID(i))
		if _, err := ds.Image(i); err != nil {
			t.Errorf("kept image %s does not decode: %v", ds.ID(i), err)
		}
	}
	if !slices.Equal(ids, []string{"a/1.png", "b/4.png"}) || ds.Label(1) != 1 {
		t.Errorf("kept %v (label of second %d)", ids, ds.Label(1))
	}
	lines := strings.Split(strings.TrimSpace(warn.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("want 3 warning lines, got %q", warn.String())
	}
	for k, name := range []string{"2.png", "3.png", "5.jpg"} {
		if !strings.Contains(lines[k], name) || !strings.HasPrefix(lines[k], "warning:") {
			t.Errorf("warning %d = %q, want it to name %s", k, lines[k], name)
		}
	}

	limited := mustOpen(t, Spec{Format: "folder", Path: root, SkipBad: true, Limit: 1})
	if limited.Len() != 1 || limited.ID(0) != "a/1.png" {
		t.Errorf("skip_bad with limit 1: len %d", limited.Len())
	}
}
