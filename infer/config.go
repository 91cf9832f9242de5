package infer

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/trainerd/trainerd/config"
	"github.com/trainerd/trainerd/trainer"
	"github.com/trainerd/trainerd/tune"
)

// LoadConfig loads the training config of the run in runDir: the file path
// with sets, or the run's recorded config (trainer.ConfigFile) when path is
// "". A file that chooses a key on validation (train.tune) gives the config
// with the value the run chose (tune.Chosen).
func LoadConfig(path string, sets []string, runDir string) (*config.Config, error) {
	if path == "" {
		path = filepath.Join(runDir, trainer.ConfigFile)
		if _, err := os.Stat(path); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("--config is required: run %s records no config (%s); pass the config it was trained with", runDir, path)
			}
			return nil, err
		}
	}
	cfg, err := config.Load(path, sets)
	if err != nil {
		return nil, err
	}
	return tune.Chosen(path, sets, cfg, runDir)
}
