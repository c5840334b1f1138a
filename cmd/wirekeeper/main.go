// Command wirekeeper is the GitOps reconciler for host networking: it keeps
// Open vSwitch mirrors, container ports, collector targets and SkyDive
// exports equal to the YAML specs in a Git repository.
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/wirekeeper/wirekeeper/examples"
	"github.com/wirekeeper/wirekeeper/spec"
)

// version is set by the linker (-X main.version=...).
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// Exit codes shared by every subcommand.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

type command struct {
	name, summary string
	run           func(args []string, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"validate", "check spec files and report every problem with its file:line:col", runValidate},
		{"demo", "run on the embedded example repository (validation only until the engine lands)", runDemo},
		{"version", "print the version", func(_ []string, stdout, _ io.Writer) int {
			fmt.Fprintln(stdout, "wirekeeper", version)
			return exitOK
		}},
	}
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "wirekeeper: unknown command %q\n\n", args[0])
	usage(stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: wirekeeper <command> [flags]")
	fmt.Fprintln(w, "\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'wirekeeper <command> -h' for a command's flags.")
}

// runDemo validates the embedded example repository and says what it holds.
// The reconcile loop against live servers joins it with the engine (issue 3)
// and the OVSDB provider (issue 4).
func runDemo(_ []string, stdout, stderr io.Writer) int {
	set, diags := spec.LoadFS(examples.FS, "examples")
	if diags.HasErrors() {
		writeText(stderr, diags)
		return exitFail
	}
	counts := map[string]int{}
	for _, o := range set.Objects {
		counts[o.Kind]++
	}
	fmt.Fprintf(stdout, "wirekeeper demo: the embedded example repository holds %d valid objects:\n", len(set.Objects))
	for _, k := range spec.Kinds() {
		fmt.Fprintf(stdout, "  %-16s %d\n", k.Name, counts[k.Name])
	}
	fmt.Fprintln(stdout, "\nReconciling them against a live Open vSwitch arrives with the reconcile engine (issue 3)")
	fmt.Fprintln(stdout, "and the OVSDB provider (issue 4); until then the demo stops at validation.")
	return exitOK
}
