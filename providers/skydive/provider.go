// Package skydive is the SkyDive export provider: each SkyDiveExport
// publishes the node's live topology (bridges, ports, interfaces, mirrors,
// containers, collectors: the parts the other providers add, see
// internal/topology) to a SkyDive analyzer over its /ws/publisher
// websocket. It sends one Sync of the whole graph per connection, then
// only the changes, as the providers' live caches change; it reads back
// what the analyzer holds over REST and reports (or repairs) a mismatch.
// See README.md.
package skydive

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wirekeeper/wirekeeper/internal/secret"
	"github.com/wirekeeper/wirekeeper/internal/topology"
	"github.com/wirekeeper/wirekeeper/internal/workerset"
	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/spec"
)

// Kind is the spec kind this provider reconciles.
const Kind = "SkyDiveExport"

// Kinds are the spec kinds this provider reconciles.
var Kinds = []string{Kind}

// Options configures a Provider.
type Options struct {
	// Node is this daemon's node: the host ID it publishes under.
	Node   string
	Logger *slog.Logger
	// Events is where an object's status change is reported to the engine
	// (nil: it is not; the engine's resync still visits every object).
	Events *reconciler.Events
	// Sources are the parts of the graph (the other providers).
	Sources []topology.Source
	// Secrets reads the spec's secrets and TLS files, confined to the
	// operator's secrets directory (nil: the default directory).
	Secrets *secret.Store
	// BackoffMin and BackoffMax bound the jittered delay between
	// connection attempts (defaults 500 ms and 30 s).
	BackoffMin, BackoffMax time.Duration
	// PingInterval is how often the publisher pings the analyzer (default
	// 10 s); ReadTimeout how long it waits for any frame (ping, pong)
	// before it takes the connection for dead (default 30 s).
	PingInterval, ReadTimeout time.Duration
	// WriteTimeout bounds one message (default 30 s).
	WriteTimeout time.Duration
	// VerifySettle is the pause before a read-back that differed is read
	// again (default 500 ms).
	VerifySettle time.Duration
	// VerifyBackoffMax caps the read-back interval while the analyzer
	// keeps a difference that survived a resync (default 1 h; never below
	// spec.verifyInterval).
	VerifyBackoffMax time.Duration
	// MaxMessage bounds what the publisher reads from the analyzer
	// (default 64 MiB).
	MaxMessage int64
}

// Provider runs the exports. It implements reconciler.Provider and
// reconciler.PhaseObserver (the phases go on the nodes of the objects); an
// export's status change is reported to the engine through Options.Events.
type Provider struct {
	opts    Options
	log     *slog.Logger
	exports *workerset.Set[*exporter]

	mu     sync.Mutex
	phases map[string]reconciler.Phase // by "Kind/name"
	// phaseGen counts the changes of phases.
	phaseGen atomic.Uint64
}

// New returns a provider for opts.Node.
func New(opts Options) *Provider {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&opts.BackoffMin, 500*time.Millisecond)
	def(&opts.BackoffMax, 30*time.Second)
	def(&opts.PingInterval, 10*time.Second)
	def(&opts.ReadTimeout, 30*time.Second)
	def(&opts.WriteTimeout, 30*time.Second)
	def(&opts.VerifySettle, 500*time.Millisecond)
	def(&opts.VerifyBackoffMax, time.Hour)
	if opts.MaxMessage <= 0 {
		opts.MaxMessage = 64 << 20
	}
	p := &Provider{opts: opts, log: opts.Logger.With("provider", "skydive"), exports: workerset.New[*exporter](Kind, opts.Events),
		phases: map[string]reconciler.Phase{}}
	for _, s := range opts.Sources {
		s.OnTopologyChange(p.kickAll)
	}
	return p
}

// Name implements reconciler.Provider.
func (p *Provider) Name() string { return "skydive" }

// Kinds implements reconciler.Provider.
func (p *Provider) Kinds() []string { return slices.Clone(Kinds) }

// ObjectPhase implements reconciler.PhaseObserver: the phase goes on the
// object's nodes.
func (p *Provider) ObjectPhase(ref reconciler.Ref, phase reconciler.Phase) {
	if ref.Kind == Kind {
		return // an export's own phase shows on no node
	}
	p.mu.Lock()
	if phase == "" {
		delete(p.phases, ref.String())
	} else {
		p.phases[ref.String()] = phase
	}
	p.phaseGen.Add(1)
	p.mu.Unlock()
	p.kickAll()
}

func (p *Provider) kickAll() {
	for _, x := range p.exports.All() {
		poke(x.kick)
	}
}

// Graph builds the node's graph now, from the sources and the engine's
// phases, keeping the parts in include (all when empty): what an export
// of include publishes.
func (p *Provider) Graph(include []string) *topology.Graph {
	g := p.build(topology.New(p.opts.Node, include))
	for id, n := range g.Nodes {
		if md := p.overlay(n); md != nil {
			g.Nodes[id] = &topology.Node{ID: n.ID, Metadata: md, Object: n.Object}
		}
	}
	return g
}

// build fills g, a new graph, from the sources.
func (p *Provider) build(g *topology.Graph) *topology.Graph {
	for _, s := range p.opts.Sources {
		s.Topology(g)
	}
	g.Finish()
	return g
}

func (p *Provider) phaseGeneration() uint64 { return p.phaseGen.Load() }

// overlayKey is what overlay would add to n: the phase of its object,
// the node name on the host node, "" for nothing.
func (p *Provider) overlayKey(n *topology.Node) string {
	switch {
	case n.Object != "":
		return p.phase(n.Object)
	case n.Metadata["Type"] == "host":
		return "host " + p.opts.Node
	}
	return ""
}

// overlay returns n's metadata with wirekeeper's view added (the host's
// node name; an object's phase), nil when n shows no object. n itself,
// possibly shared with a cache, is left alone.
func (p *Provider) overlay(n *topology.Node) topology.Metadata {
	var wk topology.Metadata
	switch {
	case n.Object != "":
		phase := p.phase(n.Object)
		wk = topology.Metadata{"Object": n.Object, "Phase": phase}
	case n.Metadata["Type"] == "host":
		wk = topology.Metadata{"Node": p.opts.Node}
	default:
		return nil
	}
	md := make(topology.Metadata, len(n.Metadata)+1)
	for k, v := range n.Metadata {
		md[k] = v
	}
	md["WireKeeper"] = wk
	return md
}

// phase is the engine's phase of the object ("Kind/name"), Unknown
// before the engine told one.
func (p *Provider) phase(object string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ph := p.phases[object]; ph != "" {
		return string(ph)
	}
	return "Unknown"
}

// Observe implements reconciler.Provider: an export exists while it runs;
// its live form is the spec it runs with. It is Degraded while it is not
// connected, saying why; a read-back that found the analyzer holding
// something else than was published is a difference (analyzer.graph),
// which policy enforce repairs with a new Sync. A difference that
// survived that Sync is not one a Sync repairs: the export is Degraded,
// naming it, and the text stays the same while the difference does.
func (p *Provider) Observe(_ context.Context, req reconciler.Request) (reconciler.Observation, error) {
	x, ok := p.exports.Get(req.Ref.Name)
	if !ok {
		return reconciler.Observation{}, nil
	}
	live := x.sp
	st := x.status()
	obs := reconciler.Observation{Exists: true, Owned: true, Live: &live,
		Details: []string{"analyzer: " + x.ep.ws, "origin: " + x.o.origin}}
	switch {
	case !st.Connected && st.LastError == "":
		obs.Degraded = "connecting to " + x.ep.ws
	case !st.Connected:
		obs.Degraded = "not connected, retrying: " + st.LastError
	case st.Persistent != "":
		obs.Degraded = st.Persistent
	case st.ReadBackFailed:
		// Published, but not verifiable: a Sync would not change that.
		obs.Degraded = "cannot verify what the analyzer holds: " + st.Verified
	case st.Verified != "" && !st.VerifiedOK:
		obs.Extra = []reconciler.FieldDiff{{Path: "analyzer.graph", From: st.Verified, To: "the published graph"}}
	}
	if st.Verified != "" {
		obs.Details = append(obs.Details, "verified: "+st.Verified)
	}
	return obs, nil
}

// Apply implements reconciler.Provider: create starts the export; an
// update with a new spec restarts it, one under the same spec (the
// analyzer lost part of the graph) sends the whole graph again; delete
// stops it, removing the node's graph from the analyzer.
func (p *Provider) Apply(ctx context.Context, req reconciler.Request, ch reconciler.Change) error {
	name := req.Ref.Name
	old, running := p.exports.Get(name)
	if ch.Action != reconciler.ActionDelete && running {
		sp := *req.Desired.Spec.(*spec.SkyDiveExportSpec)
		sp.Policy = old.sp.Policy
		if sameSpec(sp, old.sp) {
			return old.resyncNow(ctx)
		}
	}
	if running {
		p.exports.Remove(name)
		moved := ch.Action == reconciler.ActionDelete || req.Desired.Spec.(*spec.SkyDiveExportSpec).Analyzer != old.sp.Analyzer
		old.stop(moved)
	}
	if ch.Action == reconciler.ActionDelete {
		return nil
	}
	x, err := p.newExporter(name, *req.Desired.Spec.(*spec.SkyDiveExportSpec))
	if err != nil {
		return err
	}
	p.exports.Put(name, x)
	x.start()
	return nil
}

func sameSpec(a, b spec.SkyDiveExportSpec) bool { return reflect.DeepEqual(a, b) }

func (p *Provider) newExporter(name string, sp spec.SkyDiveExportSpec) (*exporter, error) {
	var pass string
	if sp.Auth != nil {
		var err error
		if pass, err = p.opts.Secrets.Resolve("auth.password", sp.Auth.Password); err != nil {
			return nil, fmt.Errorf("skydive: %w", err)
		}
	}
	ep, err := newEndpoint(sp, p.opts.Node, pass, p.opts.Secrets)
	if err != nil {
		return nil, err
	}
	ep.maxBody = p.opts.MaxMessage
	// What other goroutines reach through p.exports (the channels poked,
	// the status) is set here, before the exporter is in it.
	return &exporter{name: name, sp: sp, ep: ep, o: origin{host: p.opts.Node, origin: sp.ClientType + "." + p.opts.Node},
		opts: p.opts, log: p.log.With("export", name), prov: p, asm: newAssembly(), notify: func() { p.exports.Notify(name) },
		kick: make(chan struct{}, 1), verify: make(chan struct{}, 1), resync: make(chan chan struct{}, 1),
		verifyEvery: sp.VerifyInterval.D(), st: Status{VerifyEvery: sp.VerifyInterval.D()}}, nil
}

// Owned implements reconciler.Provider: the running exports.
func (p *Provider) Owned(context.Context, *spec.Set) ([]reconciler.Ref, error) {
	return p.exports.Refs(), nil
}

// Status returns the status of the running export name.
func (p *Provider) Status(name string) (Status, bool) {
	x, ok := p.exports.Get(name)
	if !ok {
		return Status{}, false
	}
	return x.status(), true
}

// Verify makes the export name read back what the analyzer holds now; it
// reports whether the export runs.
func (p *Provider) Verify(name string) bool {
	x, ok := p.exports.Get(name)
	if ok {
		poke(x.verify)
	}
	return ok
}

// Close stops every export (without withdrawing: a restarting daemon
// sends its graph again at once).
func (p *Provider) Close() {
	for _, x := range p.exports.RemoveAll() {
		x.stop(false)
	}
}
