package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/wirekeeper/wirekeeper/internal/importer"
	"github.com/wirekeeper/wirekeeper/internal/ovs"
	"github.com/wirekeeper/wirekeeper/providers/container"
	"github.com/wirekeeper/wirekeeper/spec"
)

// runImport is `wirekeeper import`: read a live host, write its spec tree.
// Exit 0 written, 1 error.
func runImport(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o importer.Options
	var out, policy, dump, dockerHost, ovsNetns string
	var timeout time.Duration
	fs.StringVar(&o.Address, "ovsdb", "", "the OVSDB server to import from: unix:PATH or tcp:HOST:PORT (required)")
	fs.StringVar(&dump, "from-ovsmirrorwatch", "", "import from an OVSMirrorWatch database export (the JSON of manage.py dumpdata) instead of a live OVSDB")
	fs.StringVar(&dockerHost, "docker-host", "", "with --ovsdb: also import the ContainerPorts of this Docker engine (ports ovs-docker made, containers with the OVS Port Manager's labels)")
	fs.StringVar(&ovsNetns, "ovs-netns", "", "as for run: the network namespace ovs-vswitchd runs in")
	fs.StringVar(&o.Node, "node", "", "the node the objects are for (required)")
	fs.StringVar(&o.Manager, "manager", "", "the OVSManager's metadata.name (default NODE-ovs)")
	fs.StringVar(&out, "out", ".", "the folder the spec tree is written under (as OUT/NODE/*.yaml)")
	fs.StringVar(&policy, "policy", "observe", "policy of every object: observe (adoption starts read-only) or enforce")
	fs.DurationVar(&timeout, "timeout", time.Minute, "how long connecting and reading may take")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: wirekeeper import --ovsdb ADDRESS|--from-ovsmirrorwatch DUMP.json --node NAME [--out DIR] [--policy observe|enforce] [--manager NAME]")
		fmt.Fprintln(stderr, "\nWrites the OVSManager, Bridges and Mirrors of a live OVSDB as spec files, one per kind, under OUT/NODE/.")
		fmt.Fprintln(stderr, "Live objects the spec cannot express are listed on stderr with the reason.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitFail
	}
	o.Policy = spec.Policy(policy)
	var problem error
	switch {
	case fs.NArg() > 0:
		problem = fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case (o.Address == "") == (dump == ""):
		problem = errors.New("give one source: --ovsdb ADDRESS or --from-ovsmirrorwatch FILE")
	case o.Node == "":
		problem = errors.New("--node is required")
	case dockerHost != "" && o.Address == "":
		problem = errors.New("--docker-host needs --ovsdb: container ports are OVS ports")
	case o.Policy != spec.PolicyObserve && o.Policy != spec.PolicyEnforce:
		problem = fmt.Errorf("unknown --policy %q; valid: observe, enforce", policy)
	default:
		problem = setNode(&runConfig{}, o.Node)
	}
	if problem != nil {
		fmt.Fprintf(stderr, "wirekeeper import: %v\n", problem)
		return exitFail
	}
	if o.Manager == "" {
		o.Manager = importer.ManagerName(o.Node)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if dockerHost != "" {
		// One connection for both reads, monitoring every interface (the
		// container ports need them).
		o.OVS = ovs.New(ovs.Options{Node: o.Node})
		defer o.OVS.Close()
	}
	var res importer.Result
	var err error
	if dump != "" {
		res, err = importFromDump(dump, o)
	} else {
		res, err = importer.FromOVSDB(ctx, o)
		if err == nil && dockerHost != "" {
			err = importContainers(ctx, &res, o, dockerHost, ovsNetns)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "wirekeeper import: %v\n", err)
		return exitFail
	}
	files := res.Files()
	names := slices.Sorted(maps.Keys(files))
	for _, name := range names { // nothing is overwritten: refuse before writing any
		if _, err := os.Stat(filepath.Join(out, name)); err == nil {
			fmt.Fprintf(stderr, "wirekeeper import: %s exists; nothing written (import into an empty folder, or move it)\n", filepath.Join(out, name))
			return exitFail
		}
	}
	for _, name := range names {
		p := filepath.Join(out, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			fmt.Fprintf(stderr, "wirekeeper import: %v\n", err)
			return exitFail
		}
		if err := os.WriteFile(p, files[name], 0o644); err != nil {
			fmt.Fprintf(stderr, "wirekeeper import: %v\n", err)
			return exitFail
		}
		fmt.Fprintln(stdout, p)
	}
	for _, s := range res.Skipped {
		fmt.Fprintf(stderr, "not imported: %s\n", s)
	}
	fmt.Fprintf(stderr, "%d object(s) in %d file(s); %d not imported\n", res.Objects(), len(names), len(res.Skipped))
	return exitOK
}

// importFromDump reads an OVSMirrorWatch export, at most importer.MaxDump
// bytes, and renders it.
func importFromDump(file string, o importer.Options) (importer.Result, error) {
	f, err := os.Open(file)
	if err != nil {
		return importer.Result{}, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, importer.MaxDump+1))
	if err != nil {
		return importer.Result{}, err
	}
	res, err := importer.FromOVSMirrorWatch(data, o)
	if err != nil {
		return res, fmt.Errorf("%s: %w", file, err)
	}
	return res, nil
}

// importContainers adds the ContainerPorts of the Docker engine at
// dockerHost, read through the container provider (only its reads) over
// o.OVS, the connection FromOVSDB read the bridges and mirrors through.
func importContainers(ctx context.Context, res *importer.Result, o importer.Options, dockerHost, ovsNetns string) error {
	set := &spec.Set{Objects: []*spec.Object{{Kind: "OVSManager", Metadata: spec.Metadata{Name: o.Manager},
		Spec: &spec.OVSManagerSpec{Node: o.Node, Address: o.Address}}}}
	p := container.New(container.Options{Node: o.Node, OVS: o.OVS, DockerHost: dockerHost, OVSNetns: ovsNetns})
	defer p.Close()
	found, skipped, err := p.Import(ctx, set, o.Manager)
	if err != nil {
		return fmt.Errorf("containers: %w", err)
	}
	res.Skipped = append(res.Skipped, skipped...)
	for _, f := range found {
		sp := f.Spec
		sp.Policy = o.Policy
		if err := res.Add("containers.yaml", container.Kind, o.Node+"-"+sp.Container+"-"+sp.Interface, sp); err != nil {
			return err
		}
	}
	return nil
}
