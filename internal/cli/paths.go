package cli

import (
	"fmt"
	"os"
	"path/filepath"
)

// checkOutputDir fails early when the directory that would receive path
// does not exist.
func checkOutputDir(flag, path string) error {
	dir := filepath.Dir(path)
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("%s %s: the directory %s does not exist; create it first", flag, path, dir)
	}
	if !st.IsDir() {
		return fmt.Errorf("%s %s: %s is not a directory", flag, path, dir)
	}
	return nil
}

// checkInputFile fails early when a file given on the command line is
// missing.
func checkInputFile(flag, path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("%s %s: %w", flag, path, err)
	}
	if st.IsDir() {
		return fmt.Errorf("%s %s: is a directory, expected a file", flag, path)
	}
	return nil
}
