// Command wirekeeper is the GitOps reconciler for host networking: it keeps
// Open vSwitch mirrors, container ports, collector targets and SkyDive
// exports equal to the YAML specs in a Git repository.
package main

import (
	"fmt"
	"io"
	"os"
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
		{"run", "follow a spec repository and keep this node's live network equal to it", runRun},
		{"plan", "show what merging a spec branch would do on each node, as a PR comment or JSON", runPlan},
		{"status", "print the status the daemons pushed", runStatus},
		{"import", "write the spec files of what a live OVSDB holds (bridges, mirrors), policy observe", runImport},
		{"diff", "compare a spec folder with a node's live host as the daemon would, changing nothing", runDiff},
		{"validate", "check spec files and report every problem with its file:line:col", runValidate},
		{"demo", "the whole loop on the embedded demo repository and an in-process OVSDB server (--ovsdb ADDRESS for a real one)", runDemo},
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
