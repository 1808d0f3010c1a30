// Package cli implements the simclr command line: one file per command,
// each holding its flags, their checks and its output. Resolving the
// configuration is configflags.go; everything a training command then
// opens and builds is its job's plan in internal/train.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"simclr/internal/version"
)

// Exit codes of the simclr binary.
const (
	ExitOK    = 0
	ExitError = 1 // the command failed
	ExitUsage = 2 // bad command line: unknown command or flag, bad flag value, missing argument
)

// usageError marks an error in the command line itself (exit code 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// usagef returns a usage error with a formatted message.
func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// Execute runs simclr with the process's arguments and environment; Ctrl-C
// cancels the running command. It returns the exit code.
func Execute() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr)
}

// Run runs simclr in-process with the given arguments (without the program
// name) and the process environment, writing to stdout and stderr. It
// returns the exit code: 0 on success, 1 when the command failed, 2 for a
// bad command line. Errors are printed once, as "simclr: <message>".
func Run(args []string, stdout, stderr io.Writer) int {
	return run(context.Background(), args, os.Environ(), stdout, stderr)
}

// app is the state of one invocation, shared by its commands.
type app struct {
	ctx            context.Context
	env            []string
	stdout, stderr io.Writer

	configFile string
	sets       []string
	quiet      bool
	debugSync  bool // --debug-sync

	started bool // a command's hooks ran: the command line itself was valid
}

// info writes an informational line to stderr unless --quiet.
func (a *app) info(format string, args ...any) {
	if !a.quiet {
		fmt.Fprintf(a.stderr, format+"\n", args...)
	}
}

// warnWriter is where non-fatal warnings (e.g. skipped images) go.
func (a *app) warnWriter() io.Writer {
	if a.quiet {
		return io.Discard
	}
	return a.stderr
}

func run(ctx context.Context, args, env []string, stdout, stderr io.Writer) (code int) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "simclr: internal error: %v (please report this with the command line)\n%s", r, debug.Stack())
			code = ExitError
		}
	}()
	a := &app{ctx: ctx, env: env, stdout: stdout, stderr: stderr}
	root := a.newRootCommand()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteC()
	if err == nil {
		return ExitOK
	}
	var ue usageError
	if errors.As(err, &ue) || !a.started {
		name := "simclr"
		if cmd != nil {
			name = cmd.CommandPath()
		}
		fmt.Fprintf(stderr, "simclr: %s\nRun '%s --help' for usage.\n", err, name)
		return ExitUsage
	}
	if errors.Is(err, context.Canceled) {
		fmt.Fprintln(stderr, "simclr: interrupted")
		return ExitError
	}
	fmt.Fprintf(stderr, "simclr: %s\n", indentLines(err.Error()))
	return ExitError
}

// indentLines indents the lines after the first so that a joined,
// multi-line error reads as one message.
func indentLines(s string) string {
	return strings.ReplaceAll(s, "\n", "\n  ")
}

func (a *app) newRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "simclr",
		Short: "Self-supervised contrastive learning of visual representations (SimCLR)",
		Long: `simclr trains image encoders without labels with SimCLR (Chen et al. 2020):
two augmented views of each image go through a ResNet encoder and a projection
head, and the NT-Xent loss pulls the views of the same image together.

Configuration comes from built-in defaults, a YAML file (--config), SIMCLR_*
environment variables, --set key=value and dedicated flags, in increasing
precedence. 'simclr config' prints the resolved configuration; docs/config.md
describes every key.`,
		Example: `  simclr pretrain --config configs/fashion-mnist.yaml --epochs 10
  simclr pretrain --dry-run --set data.limit=512
  simclr linear-eval --checkpoint runs/pretrain/checkpoint.safetensors
  simclr config --config configs/cifar10.yaml --set train.batch_size=256`,
		Version:           version.Get().Version,
		SilenceErrors:     true,
		SilenceUsage:      true,
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
		PersistentPreRunE: func(*cobra.Command, []string) error {
			a.started = true
			return nil
		},
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	pf := root.PersistentFlags()
	pf.StringVar(&a.configFile, "config", "", "YAML configuration `FILE` (see configs/ and docs/config.md)")
	pf.StringArrayVar(&a.sets, "set", nil, "override one configuration key, `key=value` (repeatable; lists comma-separated)")
	pf.BoolVarP(&a.quiet, "quiet", "q", false, "print only results and errors")
	pf.BoolVar(&a.debugSync, "debug-sync", false, "CUDA: wait for every kernel and check it, so a device fault names the op that caused it (slow; same as SIMCLR_CUDA_SYNC=1)")

	root.AddCommand(
		a.newConfigCommand(),
		a.newVersionCommand(),
		a.newPreviewCommand(),
		a.newPretrainCommand(),
		a.newLinearEvalCommand(),
		a.newExportCommand(),
		a.newDevicesCommand(),
		a.newBenchCommand(),
	)
	return root
}

// noArgs rejects positional arguments as a usage error.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("%s takes no arguments, got %q (options are flags, e.g. --set key=value)", cmd.CommandPath(), args)
	}
	return nil
}
