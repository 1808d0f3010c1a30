package train

import (
	"errors"
	"fmt"

	"gopkg.in/yaml.v3"

	"simclr/internal/config"
	"simclr/internal/model"
)

// checkpointModel returns the model settings of an encoder checkpoint:
// arch, stem and width from its metadata, the projection head's
// (model.head_*) from the configuration recorded in it when there is one,
// else from cfg. A model.* key that the user set explicitly (--config file,
// SIMCLR_MODEL_* variable, --set or a flag) and that contradicts the
// checkpoint is an error naming both values; a default yields to the
// checkpoint silently.
func checkpointModel(cfg *config.Config, meta model.EncoderMeta, checkpoint string) (model.Config, error) {
	mc := cfg.ModelConfig(meta.InChannels)
	mc.Arch, mc.Stem, mc.Width = meta.Arch, meta.Stem, meta.Width
	recorded := map[string]any{"model.arch": meta.Arch, "model.stem": meta.Stem, "model.width": int64(meta.Width)}
	if rec, ok := recordedModel(meta.Config); ok {
		mc.HeadLayers, mc.HeadHidden, mc.HeadOut, mc.HeadBN = rec.HeadLayers, rec.HeadHidden, rec.HeadOut, rec.HeadBN
		recorded["model.head_layers"] = int64(rec.HeadLayers)
		recorded["model.head_hidden"] = int64(rec.HeadHidden)
		recorded["model.head_out"] = int64(rec.HeadOut)
		recorded["model.head_bn"] = rec.HeadBN
	}
	var errs []error
	for _, key := range config.Keys() {
		want, ok := recorded[key]
		if !ok || !cfg.Explicit(key) {
			continue
		}
		if got, _ := cfg.Get(key); got != want {
			errs = append(errs, fmt.Errorf("%s = %v (from %s) contradicts checkpoint %s, which was trained with %s = %v: drop the key (the checkpoint's value then applies) or use a checkpoint trained with %s = %v",
				key, got, cfg.Origin(key), checkpoint, key, want, key, got))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return model.Config{}, err
	}
	return mc, nil
}

// recordedModel reads the model section of the resolved configuration a
// checkpoint records (the "config" metadata), if it has one.
func recordedModel(yamlText string) (config.ModelConfig, bool) {
	var rec struct {
		Model *config.ModelConfig `yaml:"model"`
	}
	if yamlText == "" || yaml.Unmarshal([]byte(yamlText), &rec) != nil || rec.Model == nil || rec.Model.HeadOut == 0 {
		return config.ModelConfig{}, false
	}
	return *rec.Model, true
}
