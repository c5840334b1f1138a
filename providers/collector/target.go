package collector

import (
	"context"
	"crypto/tls"
	"log/slog"
	"sync"
	"time"

	"github.com/wirekeeper/wirekeeper/providers/collector/amqp"
	"github.com/wirekeeper/wirekeeper/providers/collector/inventory"
	"github.com/wirekeeper/wirekeeper/providers/collector/netbeam"
	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/spec"
)

// target is one running CollectorTarget: a loop that discovers, keeps the
// inventory, collects and publishes every interval, until stopped.
type target struct {
	name string
	sp   spec.CollectorTargetSpec
	nb   *netbeam.Client
	pub  *amqp.Publisher
	dsn  string
	// dbTLS is the inventory connection's TLS (nil: the DSN's own).
	dbTLS *tls.Config
	log   *slog.Logger
	opts  Options
	// changed tells the provider the target's status changed; passed
	// that a pass ended (the interface counts may have changed).
	changed, passed func()

	inv *inventory.Store // opened by the loop, retried like the rest

	mu sync.Mutex
	st Status
	// shown are the details last shown in the status, at shownAt.
	shown   []string
	shownAt time.Time
	// sinceCheck counts the messages published since the queue depths
	// were last read.
	sinceCheck int
	lastCheck  time.Time

	// kick wakes the loop for a pass now (Provider.Trigger).
	kick   chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
}

func (t *target) start() {
	ctx, cancel := context.WithCancel(context.Background())
	t.cancel, t.done = cancel, make(chan struct{})
	go t.run(ctx)
}

// stop ends the loop, waiting for the pass in flight to notice.
func (t *target) stop() {
	t.cancel()
	<-t.done
	t.pub.Close()
	if t.inv != nil {
		t.inv.Close()
	}
}

// run passes every interval; after a failed pass it retries sooner, with a
// backoff from 1 s doubling up to the interval.
func (t *target) run(ctx context.Context) {
	defer close(t.done)
	interval := t.sp.Interval.D()
	backoff := time.Second
	for {
		noRoute, err := t.pass(ctx)
		if ctx.Err() != nil {
			return
		}
		wait := interval
		if err != nil || len(noRoute) > 0 {
			if err != nil {
				t.log.Warn("collector pass failed; resuming from the watermarks", "err", err)
			}
			if len(noRoute) > 0 {
				t.log.Warn("the broker returned messages: no queue is bound for them; the watermarks stay until one is",
					"exchange", t.sp.RabbitMQ.Exchange, "routingKeys", noRoute)
			}
			// A queue may be bound any moment: look again soon.
			wait = min(backoff, interval)
			backoff = min(backoff*2, interval)
		} else {
			backoff = time.Second
		}
		t.mu.Lock()
		due := t.shown == nil || t.opts.Now().Sub(t.shownAt) >= t.opts.DetailsEvery
		t.mu.Unlock()
		t.update(func(st *Status) {
			st.Passes++
			st.LastPass = t.opts.Now()
			if err != nil {
				st.LastError, st.LastErrorAt = err.Error(), t.opts.Now()
			} else {
				st.LastError = ""
			}
			st.Unroutable = noRoute
		})
		if due {
			t.changed() // the status details are refreshed with this pass's counts
		}
		t.passed()
		select {
		case <-ctx.Done():
			return
		case <-t.kick:
		case <-time.After(reconciler.Jitter(wait, 0.1)):
		}
	}
}
