package main

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/wirekeeper/wirekeeper/examples"
	"github.com/wirekeeper/wirekeeper/providers/memory"
	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/reconciler/daemon"
	"github.com/wirekeeper/wirekeeper/reconciler/source"
	"github.com/wirekeeper/wirekeeper/reconciler/status"
	"github.com/wirekeeper/wirekeeper/spec"
)

// demoNode is the example node the demo plays.
const demoNode = "ams-hv01"

// runDemo validates the embedded example repository, commits it to a
// throwaway Git repository, and runs the daemon of node ams-hv01 on it
// against an in-memory live system: everything is created, a drift is
// made and repaired, and the status files the daemon commits are shown.
// Real live systems join as their providers land.
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
	if err := demoReconcile(stdout); err != nil {
		fmt.Fprintf(stderr, "wirekeeper demo: %v\n", err)
		return exitFail
	}
	return exitOK
}

func demoReconcile(stdout io.Writer) error {
	dir, err := os.MkdirTemp("", "wirekeeper-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	repo := filepath.Join(dir, "specs")
	head, err := commitExamples(repo)
	if err != nil {
		return fmt.Errorf("cannot create the demo repository: %w", err)
	}
	fmt.Fprintf(stdout, "\nCommitted them to %s (%s); running the daemon of node %s on it,\nwith a simulated live system (no host is touched).\n\n", repo, head[:7], demoNode)

	src, err := source.New(source.Options{URL: repo, CacheDir: filepath.Join(dir, "cache")})
	if err != nil {
		return err
	}
	writer, err := status.NewWriter(status.WriterOptions{URL: repo, CacheDir: filepath.Join(dir, "status-cache")})
	if err != nil {
		return err
	}
	live := memory.New("simulated")
	engine, err := reconciler.New(reconciler.Options{Node: demoNode, Providers: []reconciler.Provider{live}})
	if err != nil {
		return err
	}
	d, err := daemon.New(daemon.Options{Node: demoNode, Source: src, Status: writer, Engine: engine,
		Interval: time.Hour, StatusDelay: 50 * time.Millisecond})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	stopped := false
	defer func() {
		if !stopped {
			cancel()
			<-done
		}
	}()

	wait := func(what string, cond func(*reconciler.NodeStatus) bool) error {
		deadline := time.Now().Add(time.Minute)
		for !cond(engine.Status()) {
			if time.Now().After(deadline) {
				return fmt.Errorf("timed out waiting for %s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
		return nil
	}
	if err := wait("every object reconciled", func(ns *reconciler.NodeStatus) bool {
		c := ns.Counts()
		return len(ns.Objects) > 0 && c[reconciler.PhaseReady]+c[reconciler.PhaseDrifted] == len(ns.Objects)
	}); err != nil {
		return err
	}
	ns := engine.Status()
	fmt.Fprintf(stdout, "The %d objects of %s after the first pass:\n", len(ns.Objects), demoNode)
	for _, o := range ns.Objects {
		fmt.Fprintf(stdout, "  %-14s %-26s %-8s %s\n", o.Kind, o.Name, o.Phase, o.Message)
	}

	// Somebody points a mirror elsewhere by hand: drift, repaired.
	mirror := reconciler.Ref{Kind: "Mirror", Name: "br-int-to-ids"}
	if !live.Mutate(mirror, func(s any) { s.(*spec.MirrorSpec).SelectAll = !s.(*spec.MirrorSpec).SelectAll }) {
		return fmt.Errorf("the example has no %s", mirror)
	}
	fmt.Fprintf(stdout, "\nChanging %s by hand in the live system...\n", mirror)
	engine.Enqueue(mirror)
	if err := wait("the drift repaired", func(ns *reconciler.NodeStatus) bool {
		return len(ns.Drift) > 0 && ns.Drift[0].Repaired
	}); err != nil {
		return err
	}
	ev := engine.Status().Drift[0]
	for _, f := range ev.Diff {
		fmt.Fprintf(stdout, "  drift: %s %s changed from %s to %s; repaired\n", mirror, f.Path, reconciler.FormatValue(f.From), reconciler.FormatValue(f.To))
	}

	cancel() // SIGTERM's path: finish, push the last status, stop
	stopped = true
	if err := <-done; err != nil {
		return err
	}
	files, err := writer.Read(context.Background(), demoNode)
	if err != nil {
		return fmt.Errorf("cannot read the status branch: %w", err)
	}
	fmt.Fprintf(stdout, "\nThe daemon committed to branch wirekeeper/status: %s\n", strings.Join(status.Paths(demoNode), ", "))
	fmt.Fprintf(stdout, "\n--- status/%s.md ---\n%s", demoNode, files["status/"+demoNode+".md"])
	return nil
}

// commitExamples writes the embedded examples into a new repository at dir
// and commits them on main; it returns the commit hash.
func commitExamples(dir string) (string, error) {
	repo, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{
		InitOptions: git.InitOptions{DefaultBranch: plumbing.NewBranchReferenceName("main")},
	})
	if err != nil {
		return "", err
	}
	err = fs.WalkDir(examples.FS, ".", func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		data, err := fs.ReadFile(examples.FS, p)
		if err != nil {
			return err
		}
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		return os.WriteFile(full, data, 0o644)
	})
	if err != nil {
		return "", err
	}
	wt, err := repo.Worktree()
	if err != nil {
		return "", err
	}
	if err := wt.AddGlob("."); err != nil {
		return "", err
	}
	sig := &object.Signature{Name: "wirekeeper demo", Email: "demo@wirekeeper.invalid", When: time.Now()}
	h, err := wt.Commit("examples", &git.CommitOptions{Author: sig})
	if err != nil {
		return "", err
	}
	return h.String(), nil
}
