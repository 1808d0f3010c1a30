package backend

import (
	"math"
	"testing"
)

func TestRoundBF16(t *testing.T) {
	cases := []struct {
		name string
		in   uint32
		want uint32
	}{
		{"exact", 0x3f800000, 0x3f800000},
		{"below half rounds down", 0x3f807fff, 0x3f800000},
		{"tie to even stays even", 0x3f808000, 0x3f800000},
		{"tie to even rounds odd up", 0x3f818000, 0x3f820000},
		{"above half rounds up", 0x3f808001, 0x3f810000},
		{"negative tie to even", 0xbf818000, 0xbf820000},
		{"max float overflows to inf", 0x7f7fffff, 0x7f800000},
		{"inf stays", 0x7f800000, 0x7f800000},
		{"nan stays quiet nan", 0x7f800001, 0x7fc00000},
		{"subnormal rounds", 0x00008000, 0x00000000},
		{"negative zero", 0x80000000, 0x80000000},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := math.Float32bits(RoundBF16(math.Float32frombits(c.in)))
			if got != c.want {
				t.Fatalf("RoundBF16(%#08x) = %#08x, want %#08x", c.in, got, c.want)
			}
		})
	}
}

func TestRoundTF32(t *testing.T) {
	cases := []struct {
		name string
		in   uint32
		want uint32
	}{
		{"exact", 0x3f800000, 0x3f800000},
		{"below half rounds down", 0x3f800fff, 0x3f800000},
		{"tie rounds away from zero", 0x3f801000, 0x3f802000},
		{"odd tie also away", 0x3f803000, 0x3f804000},
		{"negative tie away from zero", 0xbf801000, 0xbf802000},
		{"max float overflows to inf", 0x7f7fffff, 0x7f800000},
		{"inf stays", 0xff800000, 0xff800000},
		{"nan stays nan", 0x7f800001, 0x7fc00000},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := math.Float32bits(RoundTF32(math.Float32frombits(c.in)))
			if got != c.want {
				t.Fatalf("RoundTF32(%#08x) = %#08x, want %#08x", c.in, got, c.want)
			}
		})
	}
}

func TestParsePrecision(t *testing.T) {
	for _, p := range Precisions {
		got, err := ParsePrecision(p.String())
		if err != nil || got != p {
			t.Fatalf("ParsePrecision(%q) = %v, %v", p.String(), got, err)
		}
	}
	if _, err := ParsePrecision("fp16"); err == nil {
		t.Fatal("ParsePrecision(fp16) succeeded; want an error naming the accepted values")
	}
}
