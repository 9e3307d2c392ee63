// Package cli is what every ipvs-e2e command shares: how a command line that cannot be
// understood is refused (exit 2, naming the flag or argument), how a command's error becomes
// the process's exit status, the shape of a command that only holds subcommands and of one
// that runs (its flags struct binds the flags and runs).
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ipvs-e2e/ipvs-e2e/hack/lab/kernellab"
)

// Exit statuses every command shares; a command may return others with Exit.
const (
	ExitFailed      = 1   // the command ran and something failed
	ExitUsage       = 2   // the command line could not be understood; nothing ran
	ExitInterrupted = 130 // Ctrl-C or SIGTERM stopped the command
)

// UsageError is a command line the command cannot run: an unknown flag, a stray argument,
// a value out of range. It is found before anything is prepared or downloaded.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// Usagef returns a UsageError.
func Usagef(format string, a ...any) error {
	return &UsageError{Err: fmt.Errorf(format, a...)}
}

// ExitError ends the program with Code. Err, when set, is printed first; a command that has
// printed its verdict already returns it without one.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// Exit returns an ExitError with code and nothing more to print.
func Exit(code int) error { return &ExitError{Code: code} }

// NoArgs is the Args check of a command that takes no positional arguments.
func NoArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	if cmd.HasSubCommands() {
		return Usagef("unknown command %q for %q; expected one of: %s", args[0], cmd.CommandPath(), strings.Join(subcommands(cmd), ", "))
	}
	return Usagef("%q takes no arguments, found %q", cmd.CommandPath(), args)
}

// Group makes cmd a command that only holds subcommands: run without one it is a usage
// error listing them, as is an unknown one.
func Group(cmd *cobra.Command, subs ...*cobra.Command) *cobra.Command {
	cmd.AddCommand(subs...)
	cmd.Args = NoArgs
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return Usagef("%q needs a command: %s", cmd.CommandPath(), strings.Join(subcommands(cmd), ", "))
	}
	return cmd
}

// Runner is a command's flags struct: it binds its fields to the command's flags and runs the
// command with them.
type Runner interface {
	// Bind registers the flags on fs, their values landing in the struct.
	Bind(fs *pflag.FlagSet)
	// Run runs the command with the parsed flags and the positional arguments.
	Run(cmd *cobra.Command, args []string) error
}

// Command makes cmd run r with the flags r binds. A cmd that sets no Args takes none: a stray
// argument is a usage error.
func Command(cmd *cobra.Command, r Runner) *cobra.Command {
	if cmd.Args == nil {
		cmd.Args = NoArgs
	}
	cmd.RunE = r.Run
	r.Bind(cmd.Flags())
	return cmd
}

func subcommands(cmd *cobra.Command) []string {
	var names []string
	for _, c := range cmd.Commands() {
		if c.IsAvailableCommand() {
			names = append(names, c.Name())
		}
	}
	return names
}

// Execute runs root with args and returns the exit status: 0 on success, ExitUsage for a
// command line it could not understand, the code of an ExitError, kernellab.ExitNoIPVS for a
// lab that could not be set up (a lab without IPVS is broken, not a failed check),
// ExitInterrupted when ctx was cancelled, and ExitFailed for any other error.
func Execute(ctx context.Context, root *cobra.Command, args []string, stdout, stderr io.Writer) int {
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SilenceErrors = true
	root.SilenceUsage = true
	root.CompletionOptions.DisableDefaultCmd = true
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &UsageError{Err: err} })
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return 0
	}
	var (
		usage *UsageError
		exit  *ExitError
		setup *kernellab.SetupError
	)
	switch {
	case errors.As(err, &exit):
		if exit.Err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", cmd.CommandPath(), exit.Err)
		}
		return exit.Code
	case errors.As(err, &usage):
		fmt.Fprintf(stderr, "%s: %v\nRun '%s --help' for its flags and arguments.\n", cmd.CommandPath(), err, cmd.CommandPath())
		return ExitUsage
	case errors.As(err, &setup):
		fmt.Fprintf(stderr, "%s: %v\n", cmd.CommandPath(), err)
		return kernellab.ExitNoIPVS
	case ctx.Err() != nil:
		fmt.Fprintf(stderr, "%s: interrupted: %v\n", cmd.CommandPath(), err)
		return ExitInterrupted
	default:
		fmt.Fprintf(stderr, "%s: %v\n", cmd.CommandPath(), err)
		return ExitFailed
	}
}
