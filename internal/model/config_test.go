package model

import (
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	good := tinyConfig()
	tests := []struct {
		name    string
		edit    func(*Config)
		wantErr string // "" = valid
	}{
		{"tiny", func(*Config) {}, ""},
		{"resnet50 imagenet", func(c *Config) { c.Arch, c.Stem, c.Width = "resnet50", StemImageNet, 64 }, ""},
		{"resnet34 gray 3 layers", func(c *Config) { c.Arch, c.InChannels, c.HeadLayers = "resnet34", 1, 3 }, ""},
		{"hidden 0 means feature dim", func(c *Config) { c.HeadHidden = 0 }, ""},
		{"unknown arch", func(c *Config) { c.Arch = "resnet101" }, `arch "resnet101" is not supported; use one of resnet18, resnet34, resnet50`},
		{"empty arch", func(c *Config) { c.Arch = "" }, "arch"},
		{"unknown stem", func(c *Config) { c.Stem = "tiny" }, `stem "tiny"`},
		{"zero width", func(c *Config) { c.Width = 0 }, "width 0 out of range"},
		{"huge width", func(c *Config) { c.Width = 100000 }, "width 100000"},
		{"2 channels", func(c *Config) { c.InChannels = 2 }, "in_channels 2"},
		{"1 head layer", func(c *Config) { c.HeadLayers = 1 }, "head_layers 1"},
		{"negative hidden", func(c *Config) { c.HeadHidden = -1 }, "head_hidden -1"},
		{"zero out", func(c *Config) { c.HeadOut = 0 }, "head_out 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			tt.edit(&c)
			err := c.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate() = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestValidateEncoderIgnoresHead(t *testing.T) {
	c := Config{Arch: "resnet18", Stem: StemCIFAR, Width: 8, InChannels: 3}
	if err := c.ValidateEncoder(); err != nil {
		t.Fatalf("ValidateEncoder() = %v", err)
	}
	if err := c.Validate(); err == nil {
		t.Fatal("Validate() accepted a config without head fields")
	}
}
