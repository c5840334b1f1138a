// Package collector is the collector-target provider: each CollectorTarget
// of this node runs a collector that pulls ESnet Netbeam telemetry, keeps
// the interface inventory in MySQL and publishes to RabbitMQ, in the
// message and table layout of the SAND-CI ESnet collector, at least once:
// a watermark advances only after the broker confirmed every message of
// its slice and returned none for want of a bound queue (unless
// rabbitmq.allowUnroutable). See README.md.
package collector

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/wirekeeper/wirekeeper/internal/secret"
	"github.com/wirekeeper/wirekeeper/internal/tlsconfig"
	"github.com/wirekeeper/wirekeeper/internal/topology"
	"github.com/wirekeeper/wirekeeper/internal/workerset"
	"github.com/wirekeeper/wirekeeper/providers/collector/amqp"
	"github.com/wirekeeper/wirekeeper/providers/collector/netbeam"
	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/spec"
)

// Kind is the spec kind this provider reconciles.
const Kind = "CollectorTarget"

// Kinds are the spec kinds this provider reconciles.
var Kinds = []string{Kind}

// Options configures a Provider.
type Options struct {
	// Node is this daemon's node: it runs the CollectorTargets whose
	// spec.node names it.
	Node   string
	Logger *slog.Logger
	// Events is where an object's status change is reported to the engine
	// (nil: it is not; the engine's resync still visits every object).
	Events *reconciler.Events
	// Secrets reads the spec's secrets and TLS files, confined to the
	// operator's secrets directory (nil: the default directory).
	Secrets *secret.Store
	// HTTPClient talks to Netbeam (default: a client with the system's
	// roots; tests pass their stand-in's).
	HTTPClient *http.Client
	// Concurrency bounds the interface metrics collected at once (8).
	Concurrency int
	// NetbeamRateLimit bounds the requests per second to Netbeam, per
	// target (20, burst 5).
	NetbeamRateLimit float64
	// PauseInterval is how long publication pauses before the watched
	// queues are read again (30 s, as the seed).
	PauseInterval time.Duration
	// DepthCheckEvery is how many messages may be published between two
	// readings of the watched queues (5,760, as the seed).
	DepthCheckEvery int
	// Now is the clock (default time.Now).
	Now func() time.Time
	// DetailsEvery is how often the counts in the object's status details
	// are refreshed (10 minutes): each refresh is a status commit.
	DetailsEvery time.Duration
}

// Provider runs the collectors. It implements reconciler.Provider; a
// collector's status change is reported to the engine through
// Options.Events.
type Provider struct {
	opts    Options
	log     *slog.Logger
	targets *workerset.Set[*target]
	// topo are the OnTopologyChange subscribers.
	topo topology.Signals
}

// New returns a provider for opts.Node.
func New(opts Options) *Provider {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 8
	}
	if opts.PauseInterval <= 0 {
		opts.PauseInterval = 30 * time.Second
	}
	if opts.DepthCheckEvery <= 0 {
		opts.DepthCheckEvery = 5760
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.DetailsEvery <= 0 {
		opts.DetailsEvery = 10 * time.Minute
	}
	return &Provider{opts: opts, log: opts.Logger.With("provider", "collector"), targets: workerset.New[*target](Kind, opts.Events)}
}

// Name implements reconciler.Provider.
func (p *Provider) Name() string { return "collector" }

// Kinds implements reconciler.Provider.
func (p *Provider) Kinds() []string { return slices.Clone(Kinds) }

// Observe implements reconciler.Provider: a collector exists while it
// runs; its live form is the spec it runs with, so that a changed spec is
// an update (a restart with the new settings). A collector whose last pass
// failed, whose messages the broker returned for want of a bound queue, or
// that is paused for backpressure, is Degraded, saying why.
func (p *Provider) Observe(_ context.Context, req reconciler.Request) (reconciler.Observation, error) {
	t, ok := p.targets.Get(req.Ref.Name)
	if !ok {
		return reconciler.Observation{}, nil
	}
	live := t.sp
	obs := reconciler.Observation{Exists: true, Owned: true, Live: &live, Details: t.details()}
	st := t.status()
	switch {
	case st.Paused:
		obs.Degraded = fmt.Sprintf("paused for backpressure: queue %s holds %d messages (max %d)", st.PausedQueue, st.PausedDepth, t.sp.RabbitMQ.MaxQueueDepth)
	case st.LastError != "":
		obs.Degraded = "last pass failed, retrying from the watermarks: " + st.LastError
		if len(st.Unroutable) > 0 {
			obs.Degraded += "; " + amqp.UnroutableReason(t.sp.RabbitMQ.Exchange, st.Unroutable)
		}
	case len(st.Unroutable) > 0:
		// The broker returned messages, so they were not delivered: the
		// watermarks wait for a queue to be bound.
		obs.Degraded = amqp.UnroutableReason(t.sp.RabbitMQ.Exchange, st.Unroutable)
	}
	return obs, nil
}

// Apply implements reconciler.Provider: create starts the collector,
// update restarts it with the new settings, delete stops it. The
// inventory stays.
func (p *Provider) Apply(_ context.Context, req reconciler.Request, ch reconciler.Change) error {
	name := req.Ref.Name
	if old, ok := p.targets.Remove(name); ok {
		old.stop()
		defer p.topo.Fire()
	}
	if ch.Action == reconciler.ActionDelete {
		return nil
	}
	sp := *req.Desired.Spec.(*spec.CollectorTargetSpec)
	t, err := p.newTarget(name, sp)
	if err != nil {
		return err
	}
	p.targets.Put(name, t)
	t.start()
	p.topo.Fire()
	return nil
}

// newTarget resolves the secrets and builds the clients of one target.
func (p *Provider) newTarget(name string, sp spec.CollectorTargetSpec) (*target, error) {
	url, err := p.opts.Secrets.Resolve("rabbitmq.url", sp.RabbitMQ.URL)
	if err != nil {
		return nil, err
	}
	dsn, err := p.opts.Secrets.Resolve("inventory.mysql.dsn", sp.Inventory.MySQL.DSN)
	if err != nil {
		return nil, err
	}
	nb, err := netbeam.New(netbeam.Options{BaseURL: sp.Netbeam.URL, Network: sp.Netbeam.Network, HTTPClient: p.opts.HTTPClient,
		RateLimit: p.opts.NetbeamRateLimit})
	if err != nil {
		return nil, err
	}
	log := p.log.With("target", name)
	mqTLS, err := tlsconfig.Client(p.opts.Secrets, "rabbitmq.tls", sp.RabbitMQ.TLS, "")
	if err != nil {
		return nil, err
	}
	var dbTLS *tls.Config
	if sp.Inventory.MySQL.TLS != nil {
		if dbTLS, err = tlsconfig.Client(p.opts.Secrets, "inventory.mysql.tls", sp.Inventory.MySQL.TLS, ""); err != nil {
			return nil, err
		}
	}
	pub := amqp.New(amqp.Options{URL: url, Exchange: sp.RabbitMQ.Exchange, ExchangeType: sp.RabbitMQ.ExchangeType, Logger: log, TLS: mqTLS,
		AllowUnroutable: sp.RabbitMQ.AllowUnroutable})
	// kick is made here, before Trigger can reach the target through
	// p.targets.
	return &target{name: name, sp: sp, nb: nb, pub: pub, dsn: dsn, dbTLS: dbTLS, log: log, opts: p.opts,
		changed: func() { p.targets.Notify(name); p.topo.Fire() }, passed: p.topo.Fire, kick: make(chan struct{}, 1)}, nil
}

// Owned implements reconciler.Provider: the running collectors.
func (p *Provider) Owned(context.Context, *spec.Set) ([]reconciler.Ref, error) {
	return p.targets.Refs(), nil
}

// Status returns the status of the running collector name.
func (p *Provider) Status(name string) (Status, bool) {
	t, ok := p.targets.Get(name)
	if !ok {
		return Status{}, false
	}
	return t.status(), true
}

// Trigger makes the collector name start a pass now instead of at its
// next interval (a pass in flight finishes first); it reports whether the
// collector runs.
func (p *Provider) Trigger(name string) bool {
	t, ok := p.targets.Get(name)
	if !ok {
		return false
	}
	select {
	case t.kick <- struct{}{}:
	default:
	}
	return true
}

// Close stops every collector.
func (p *Provider) Close() {
	for _, t := range p.targets.RemoveAll() {
		t.stop()
	}
}
