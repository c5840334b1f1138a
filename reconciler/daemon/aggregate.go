package daemon

import (
	"context"
	"errors"
	"time"

	"github.com/wirekeeper/wirekeeper/reconciler/status"
)

// DefaultAggregateEvery is how often the lease holder folds the node refs
// into the status branch when Options.AggregateEvery is zero.
const DefaultAggregateEvery = 2 * time.Second

// observeLease hands the lease's hash, as the spec fetch just saw it, to
// the election; a fetch that did not look (the first, which clones) hands
// nothing, and the lease asks the remote itself.
func (d *Daemon) observeLease() {
	if d.opts.Lease == nil {
		return
	}
	if h, ok := d.opts.Source.Watched(d.opts.Lease.Ref().String()); ok {
		d.opts.Lease.Observe(h)
	}
}

// specHead is the spec head of the last fetch, with the spec set this
// daemon last applied (the newest it has), for the fleet page.
func (d *Daemon) specHead() status.SpecHead {
	head, _ := d.newest.Load().(status.SpecHead)
	_, head.Set = d.opts.Engine.Revision()
	return head
}

// aggregateLoop takes part in the election of the status aggregator and,
// while this daemon holds the lease, folds the node refs into the status
// branch every AggregateEvery (a fold that finds nothing new downloads
// nothing and commits nothing), until ctx ends; handOver follows.
func (d *Daemon) aggregateLoop(ctx context.Context) {
	lease, agg := d.opts.Lease, d.opts.Aggregator
	if lease == nil || agg == nil {
		return
	}
	tick := time.NewTicker(d.opts.AggregateEvery)
	defer tick.Stop()
	var failing error // the first error of a run of failures, logged once
	report := func(what string, err error) {
		switch {
		case err == nil && failing != nil:
			d.log.Info(what + " works again")
			failing = nil
		case err != nil && failing == nil && ctx.Err() == nil:
			d.log.Warn("cannot "+what+"; retrying", "err", err)
			failing = err
		}
	}
	for {
		held, err := lease.Step(ctx)
		report("take part in the status aggregator election", err)
		if held && err == nil {
			_, err := agg.Fold(ctx, d.specHead())
			if errors.Is(err, status.ErrFoldRefused) {
				err = nil // the branch moved; the next fold builds on it
			}
			report("fold the node refs into the status branch", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// handOver runs on stop, after the last status push: the holder folds once
// more, so that the branch shows how every node stood (its own last status
// included), then releases the lease, so that another daemon takes over at
// its next poll instead of after a TTL.
func (d *Daemon) handOver(ctx context.Context) {
	lease, agg := d.opts.Lease, d.opts.Aggregator
	if lease == nil || agg == nil || !lease.Held() {
		return
	}
	if _, err := agg.Fold(ctx, d.specHead()); err != nil {
		d.log.Warn("cannot fold the node refs a last time; the next aggregator will", "err", err)
	}
	if err := lease.Release(ctx); err != nil {
		d.log.Warn("cannot release the status aggregator lease; another daemon takes over after its TTL", "err", err)
	}
}
