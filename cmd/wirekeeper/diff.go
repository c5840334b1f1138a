package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/wirekeeper/wirekeeper/internal/secret"
	"github.com/wirekeeper/wirekeeper/providers"
	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/reconciler/review"
	"github.com/wirekeeper/wirekeeper/spec"
)

// diffOptions are `wirekeeper diff`'s flags.
type diffOptions struct {
	path, node, output   string
	ovsNetns, dockerHost string
	secretsDir           string
	maxPruneFraction     float64
	allowPrune           bool
	timeout              time.Duration
}

// afterDiff, when set (tests), is handed the providers once the plan is
// made, before they are closed.
var afterDiff func([]reconciler.Provider)

// runDiff is `wirekeeper diff`: load the spec folder, build the providers
// as `run` does, and plan the node against its live host with the
// daemon's decision table; nothing is applied. Exit 0 no change, 2
// changes, 1 error.
func runDiff(args []string, stdout, stderr io.Writer) int {
	o, err := parseDiffFlags(args, stderr)
	if code, ok := flagsExit("diff", err, exitFail, stderr); !ok {
		return code
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	secrets := secret.New(secret.Options{Dir: o.secretsDir})
	// The node's OVSDB managers connect while the rest of the spec loads.
	early := providers.NewEarlyOVS(o.node, log, secrets)
	defer early.Close()
	set, diags := spec.LoadWith(spec.LoadOptions{Decoded: early.Decoded}, o.path)
	if diags.HasErrors() {
		_ = writeText(stderr, diags)
		fmt.Fprintf(stderr, "wirekeeper diff: %d error(s) in %s: nothing planned\n", diags.ErrorCount(), o.path)
		return exitFail
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	provs, err := providers.Build(providers.Config{Node: o.node, Logger: log, OVSNetns: o.ovsNetns, DockerHost: o.dockerHost,
		Secrets: secrets, OneShot: set, Early: early})
	if err != nil {
		fmt.Fprintf(stderr, "wirekeeper diff: %v\n", err)
		return exitFail
	}
	defer providers.Close(provs)
	message := ""
	if o.allowPrune {
		message = reconciler.AllowPruneTrailer
	}
	plan, err := reconciler.PlanLive(ctx, set, o.node, provs, message, o.maxPruneFraction)
	if afterDiff != nil {
		afterDiff(provs)
	}
	if err != nil {
		fmt.Fprintf(stderr, "wirekeeper diff: %v\n", err)
		return exitFail
	}
	d := review.LiveDiff{Path: o.path, Plan: plan}
	if o.output == "json" {
		out, err := review.LiveJSON(d)
		if err != nil {
			fmt.Fprintf(stderr, "wirekeeper diff: %v\n", err)
			return exitFail
		}
		fmt.Fprintf(stdout, "%s\n", out)
	} else {
		fmt.Fprint(stdout, review.LiveMarkdown(d))
	}
	if plan.HasChanges() {
		return exitChanges
	}
	return exitOK
}

func parseDiffFlags(args []string, stderr io.Writer) (diffOptions, error) {
	o := diffOptions{}
	fs := flag.NewFlagSet("diff", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.path, "path", ".", "the spec folder to plan (every *.yaml/*.yml under it)")
	fs.StringVar(&o.node, "node", "", "the node whose live host is compared (required)")
	fs.StringVar(&o.output, "output", "markdown", "markdown or json")
	fs.StringVar(&o.ovsNetns, "ovs-netns", "", "as for run: the network namespace ovs-vswitchd runs in")
	fs.StringVar(&o.dockerHost, "docker-host", "", "as for run: the Docker engine (DOCKER_HOST, else unix:///var/run/docker.sock)")
	fs.StringVar(&o.secretsDir, "secrets-dir", spec.DefaultSecretsDir, "as for run: the folder {file: NAME} secrets and TLS files are read from")
	fs.Float64Var(&o.maxPruneFraction, "max-prune-fraction", 0.5, "as for run: the prune guard, whose verdict the diff reports")
	fs.BoolVar(&o.allowPrune, "allow-prune", false, "plan as if the commit carried the allow-prune trailer")
	fs.DurationVar(&o.timeout, "timeout", time.Minute, "how long connecting and observing may take")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: wirekeeper diff --node NAME [--path DIR] [--output markdown|json] [connection flags]")
		fmt.Fprintln(stderr, "\nCompares the spec folder with the node's live host, as the daemon would, and changes nothing.")
		fmt.Fprintln(stderr, "Exit status: 0 no change, 2 changes, 1 error.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, err
		}
		return o, errFlagSyntax
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case o.node == "":
		return o, errors.New("--node is required")
	case o.output != "markdown" && o.output != "json":
		return o, fmt.Errorf("unknown --output %q; valid: markdown, json", o.output)
	case o.timeout <= 0:
		return o, errors.New("--timeout must be positive")
	}
	return o, checkNodeFlag(o.node)
}
