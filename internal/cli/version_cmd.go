package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"simclr/internal/version"
)

func (a *app) newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit, Go version and build tags",
		Long: `version prints what this binary is: its release version and source commit
(set at link time with -ldflags "-X simclr/internal/version.Version=...
-X simclr/internal/version.Commit=...", otherwise read from the VCS stamp the
Go toolchain embeds), the Go toolchain, the platform and the build tags that
added optional code (e.g. "cuda").`,
		Example: `  simclr version
  go build -ldflags "-X simclr/internal/version.Version=v0.1.0" ./cmd/simclr && ./simclr version`,
		Args: noArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprint(a.stdout, version.Get().String())
			return err
		},
	}
}
