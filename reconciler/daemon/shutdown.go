package daemon

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/wirekeeper/wirekeeper/reconciler"
)

const (
	// DefaultShutdownTimeout bounds how long Run takes to return once its
	// context ends, whatever the remote, the hosts or HTTP clients do.
	DefaultShutdownTimeout = 10 * time.Second
	// DefaultFetchTimeout bounds one fetch of the spec branch: far more
	// than a spec repository takes even through a slow link, far less than
	// a TCP connection to a hung remote can stay open.
	DefaultFetchTimeout = 2 * time.Minute
	// pollBackoffSteps is how many times the poll interval doubles after
	// fetches in a row that could not reach the remote (at most 4x).
	pollBackoffSteps = 2
	// shutdownGrace is how long past its deadline the shutdown waits for
	// the final push to report, so that one ending right at the deadline
	// is logged as what it was.
	shutdownGrace = 100 * time.Millisecond
)

// pollDelay is the time to the next poll: the interval, jittered by ±10%,
// doubled for each fetch in a row that could not reach the remote, up to
// pollBackoffSteps times. A remote in trouble gets fewer requests from a
// whole fleet; a webhook or SIGHUP still fetches at once.
func (d *Daemon) pollDelay() time.Duration {
	return reconciler.Jitter(d.opts.Interval<<min(d.unreachable, pollBackoffSteps), 0.1)
}

// shutdown runs once Run's context has ended; it returns within
// ShutdownTimeout. Nothing it waits for is waited for past its share:
// go-git calls cannot all be cancelled (connecting to a git:// remote, or
// waiting 10 s for the error message of a remote that hung up), and a
// provider's apply may hang on its host. What is left running when Run
// returns ends with the process; applies are idempotent and the next start
// reconciles every object again.
//
// The HTTP servers stop at once (in-flight requests get the whole
// deadline). In-flight applies get the first half of the deadline, so that
// the final status shows their outcome; the status is then pushed once,
// with what remains (a status write in flight was cancelled with the
// context and is superseded by this one), and the lease holder folds once
// more and releases the lease within the same deadline.
func (d *Daemon) shutdown(servers []*http.Server, engineDone, aggregateDone <-chan struct{}) {
	start := time.Now()
	deadline := start.Add(d.opts.ShutdownTimeout)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		d.closeServers(servers, deadline)
	}()

	applies := time.NewTimer(d.opts.ShutdownTimeout / 2)
	defer applies.Stop()
	select {
	case <-engineDone:
	case <-applies.C:
		d.log.Warn("applies still running at half the shutdown deadline; stopping without them (the next start reconciles them again)",
			"waited", time.Since(start).Round(time.Millisecond))
	}

	pushed := make(chan bool, 1)
	go func() {
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		defer cancel()
		ok := d.pushStatus(ctx, d.opts.ShutdownTimeout)
		// The aggregator's loop ends with the context; its last fold and
		// the lease release share what is left of the deadline.
		select {
		case <-aggregateDone:
			d.handOver(ctx)
		case <-ctx.Done():
		}
		pushed <- ok
	}()
	final := time.NewTimer(time.Until(deadline) + shutdownGrace)
	defer final.Stop()
	select {
	case ok := <-pushed:
		if !ok {
			d.log.Warn("the last status could not be pushed before the shutdown deadline; the next start pushes it")
		}
	case <-final.C:
		d.log.Warn("the last status push did not end by the shutdown deadline; stopping without it (the next start pushes it)")
	}
	wg.Wait()
	d.log.Info("stopped", "took", time.Since(start).Round(time.Millisecond))
}

// closeServers stops the HTTP servers: no new connection is accepted, and
// requests in flight may finish until deadline, when the rest are closed.
func (d *Daemon) closeServers(servers []*http.Server, deadline time.Time) {
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	var wg sync.WaitGroup
	for _, s := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Shutdown(ctx); err != nil {
				s.Close()
			}
		}()
	}
	wg.Wait()
}
