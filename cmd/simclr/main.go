// Command simclr trains image encoders with SimCLR, evaluates them with a
// linear probe and exports their embeddings. Run "simclr --help".
package main

import (
	"os"

	"simclr/internal/cli"
)

func main() {
	os.Exit(cli.Execute())
}
