package data

import (
	"errors"
	"strings"
	"testing"
)

func TestOpenErrors(t *testing.T) {
	tests := []struct {
		name string
		spec Spec
		is   error
		want []string
	}{
		{"unknown format", Spec{Format: "imagenet", Path: "/x"}, ErrUnknownFormat, append([]string{`"imagenet"`, "data.format"}, Formats()...)},
		{"unknown split", Spec{Format: "cifar10", Path: "/x", Split: "val"}, ErrUnknownSplit, []string{`"val"`, "train, test"}},
		{"empty path", Spec{Format: "cifar10"}, nil, []string{"data.path is empty"}},
		{"negative limit", Spec{Format: "synthetic", Limit: -1}, nil, []string{"data.limit", "-1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Open(tc.spec)
			wantErr(t, err, tc.want...)
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v does not wrap %v", err, tc.is)
			}
		})
	}
}

func TestFormatsAccepted(t *testing.T) {
	for _, f := range Formats() {
		_, err := Open(Spec{Format: strings.ToUpper(f), Path: t.TempDir(), SyntheticSize: 8})
		if errors.Is(err, ErrUnknownFormat) {
			t.Errorf("format %s listed by Formats but rejected by Open", f)
		}
	}
}

func TestLimit(t *testing.T) {
	ds := mustOpen(t, Spec{Format: "synthetic", SyntheticSize: 50, Limit: 7})
	if ds.Len() != 7 {
		t.Fatalf("len %d, want 7", ds.Len())
	}
	if _, err := ds.Image(7); err == nil {
		t.Error("Image(7) past the limit: no error")
	}
	if ds.Label(7) != Unlabelled || ds.ID(7) != "" || ds.ID(6) != "6" {
		t.Errorf("past the limit: label %d id %q", ds.Label(7), ds.ID(7))
	}
	if _, err := ds.Image(6); err != nil {
		t.Error(err)
	}
	all := mustOpen(t, Spec{Format: "synthetic", SyntheticSize: 50, Limit: 500})
	if all.Len() != 50 {
		t.Errorf("limit above the size: len %d, want 50", all.Len())
	}
}
