package demo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/wirekeeper/wirekeeper/providers/ovsdb"
	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/reconciler/daemon"
	"github.com/wirekeeper/wirekeeper/reconciler/source"
	"github.com/wirekeeper/wirekeeper/reconciler/status"
)

// startDaemon runs the daemon of Node on the demo repository with the
// OVSDB provider; stop ends it and waits.
func (r *demoRun) startDaemon() (stop func(), err error) {
	src, err := source.New(source.Options{URL: r.repo, CacheDir: filepath.Join(r.dir, "cache")})
	if err != nil {
		return nil, err
	}
	writer, err := status.NewWriter(status.WriterOptions{URL: r.repo, CacheDir: filepath.Join(r.dir, "status-cache")})
	if err != nil {
		return nil, err
	}
	quiet := slog.New(slog.DiscardHandler)
	events := reconciler.NewEvents()
	provider := ovsdb.New(ovsdb.Options{Node: Node, Logger: quiet, Events: events})
	r.engine, err = reconciler.New(reconciler.Options{Node: Node, Providers: []reconciler.Provider{provider}, Events: events, Logger: quiet})
	if err != nil {
		return nil, err
	}
	// The daemon's warnings are shown: a fetch or status push that keeps
	// failing is otherwise only a wait that ends in a timeout.
	warnings := slog.New(slog.NewTextHandler(r.errOut, &slog.HandlerOptions{Level: slog.LevelWarn}))
	// The demo's one daemon aggregates its own status into the branch, as
	// a single host with default settings does.
	lease, err := status.NewLease(status.LeaseOptions{URL: r.repo, Holder: Node})
	if err != nil {
		return nil, err
	}
	aggregator, err := status.NewAggregator(status.AggregatorOptions{URL: r.repo, CacheDir: filepath.Join(r.dir, "aggregate-cache"), Interval: time.Hour})
	if err != nil {
		return nil, err
	}
	r.daemon, err = daemon.New(daemon.Options{Node: Node, Source: src, Status: writer, Engine: r.engine,
		Interval: time.Hour, StatusDelay: 50 * time.Millisecond, Lease: lease, Aggregator: aggregator,
		AggregateEvery: 50 * time.Millisecond, Logger: warnings})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.daemon.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			fmt.Fprintf(r.out, "   daemon: %v\n", err)
		}
		provider.Close()
	}, nil
}

// waitStatusCommit waits until the status branch's head is a commit other
// than the one it saw last, so that each step of the demo shows in the
// branch's log.
func (r *demoRun) waitStatusCommit(ctx context.Context) error {
	repo, err := git.PlainOpen(r.repo)
	if err != nil {
		return err
	}
	for {
		if ref, err := repo.Reference(plumbing.NewBranchReferenceName("wirekeeper/status"), true); err == nil && ref.Hash().String() != r.lastStatus {
			r.lastStatus = ref.Hash().String()
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.New("timed out waiting for a status commit (the daemon's warnings above say why)")
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// wait polls the engine's status until cond holds.
func (r *demoRun) wait(ctx context.Context, what string, cond func(*reconciler.NodeStatus) bool) error {
	for !cond(r.engine.Status()) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("timed out waiting for %s", what)
		case <-time.After(5 * time.Millisecond):
		}
	}
	return nil
}
