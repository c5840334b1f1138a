// Package daemon is `wirekeeper run`: it follows the spec branch with a
// source, hands every good revision to the engine, and writes the node's
// status back to its own status ref. Triggers are the poll timer, the
// webhook and SIGHUP; status commits never trigger anything.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/reconciler/source"
	"github.com/wirekeeper/wirekeeper/reconciler/status"
	"github.com/wirekeeper/wirekeeper/reconciler/trust"
	"github.com/wirekeeper/wirekeeper/spec"
)

// Options configures a Daemon.
type Options struct {
	Node   string
	Source *source.Source
	// Status writes the node's status files; nil disables writing (tests).
	Status *status.Writer
	Engine *reconciler.Engine
	// Interval is the poll period, jittered by ±10% (default 30s); after
	// fetches in a row that cannot reach the remote it doubles, up to 4x,
	// until a fetch reaches it again.
	Interval time.Duration
	// StatusDelay collects status changes for this long before a commit
	// (default 1s), so a burst of changes makes one commit.
	StatusDelay time.Duration
	// Lease and Aggregator, when both set, make the daemon take part in
	// the election of the status aggregator and, while it holds the lease,
	// fold the node refs into the status branch every AggregateEvery
	// (default DefaultAggregateEvery). The Source should watch the lease
	// ref's folder (source.Options.WatchRefs) when the status repository is
	// the spec repository: its fetch then tells the election what it needs.
	Lease          *status.Lease
	Aggregator     *status.Aggregator
	AggregateEvery time.Duration
	// FetchTimeout bounds one fetch of the spec branch (default
	// DefaultFetchTimeout): a remote silent past it is Unreachable, and
	// the next poll tries again.
	FetchTimeout time.Duration
	// ShutdownTimeout bounds how long Run takes to return once its context
	// ends (default DefaultShutdownTimeout); see Run.
	ShutdownTimeout time.Duration
	// Webhook, when set, is served on WebhookListen; its triggers must be
	// sent to Daemon.Trigger.
	WebhookListen string
	Webhook       http.Handler
	// Metrics, when set, is served on MetricsListen.
	MetricsListen string
	Metrics       http.Handler
	// HTTPLimits bound the webhook and metrics servers; zero fields take
	// the defaults (see HTTPLimits).
	HTTPLimits HTTPLimits
	// Trust, when set, is the per-node trust policy: a new revision is
	// applied only if every commit it brings that changes this node's
	// objects is signed by a key the policy allows for them
	// (source.CheckTrust); otherwise it is refused as Untrusted.
	// TrustState is the file where the daemon keeps the last revision it
	// applied under the policy, the start of the next check: local state,
	// not the status the remote holds, which a writer of the status refs
	// could forge. Without it (or before the first apply) the head's
	// signer must be allowed for every object of the node.
	Trust      *trust.Policy
	TrustState string
	// Observer receives measurements for metrics; optional.
	Observer Observer
	Logger   *slog.Logger
	Now      func() time.Time
}

// Observer receives the daemon's measurements; every field is optional.
type Observer struct {
	Fetched    func(result string, d time.Duration)
	Applied    func(revision string)
	Refused    func(reason string)
	StatusPush func(result string, d time.Duration)
	// Status sees every status rendered (for the objects-by-phase gauge).
	Status func(*reconciler.NodeStatus)
}

// Daemon runs the reconcile loop of one node.
type Daemon struct {
	opts    Options
	log     *slog.Logger
	trigger chan string
	ready   atomic.Bool
	// applied is the last revision seen at the head (applied or refused),
	// so an unchanged head is not loaded again.
	seen string
	// newest is the spec head of the last fetch (a status.SpecHead without
	// its set), for the fleet page.
	newest atomic.Value
	// unreachable counts the fetches in a row that could not reach the
	// remote; the poll backs off with it.
	unreachable int

	mu         sync.Mutex
	lastPushed status.Files
	prevStatus *reconciler.NodeStatus
}

// New checks opts and returns a daemon ready to Run.
func New(opts Options) (*Daemon, error) {
	if opts.Node == "" || opts.Source == nil || opts.Engine == nil {
		return nil, errors.New("daemon: node, source and engine are required")
	}
	if err := opts.HTTPLimits.check(); err != nil {
		return nil, err
	}
	if opts.Interval <= 0 {
		opts.Interval = 30 * time.Second
	}
	if opts.StatusDelay <= 0 {
		opts.StatusDelay = time.Second
	}
	if opts.AggregateEvery <= 0 {
		opts.AggregateEvery = DefaultAggregateEvery
	}
	if opts.FetchTimeout <= 0 {
		opts.FetchTimeout = DefaultFetchTimeout
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = DefaultShutdownTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Daemon{opts: opts, log: opts.Logger, trigger: make(chan string, 1)}, nil
}

// Trigger asks for a fetch and reconcile now; why is logged. It never
// blocks: triggers arriving while one is pending collapse into it.
func (d *Daemon) Trigger(why string) {
	select {
	case d.trigger <- why:
	default:
	}
}

// Ready reports nil once the first revision has been fetched and handed to
// the engine (applied or refused), for /readyz.
func (d *Daemon) Ready() error {
	if d.ready.Load() {
		return nil
	}
	return errors.New("no spec revision loaded yet")
}

// Run follows the branch until ctx ends, then stops within
// ShutdownTimeout and returns nil: fetches and status retries are
// cancelled, in-flight applies finish (for at most half of it), the last
// status is pushed once with what remains, and the status aggregator's
// lease is handed over when this daemon holds it (see handOver). It returns an error only
// when it cannot start (a listener that cannot bind).
func (d *Daemon) Run(ctx context.Context) error {
	servers, err := d.listen()
	if err != nil {
		return err
	}
	restored := make(chan struct{})
	go func() {
		d.restore(ctx)
		close(restored)
	}()
	select {
	case <-restored:
	case <-ctx.Done():
		// Stopped before the engine started: nothing to finish or push.
		d.closeServers(servers, time.Now().Add(d.opts.ShutdownTimeout))
		d.log.Info("stopped")
		return nil
	}

	engineDone := make(chan struct{})
	go func() {
		d.opts.Engine.Run(ctx)
		close(engineDone)
	}()
	go d.statusLoop(ctx)
	aggregateDone := make(chan struct{})
	go func() {
		d.aggregateLoop(ctx)
		close(aggregateDone)
	}()
	go d.follow(ctx)
	<-ctx.Done()
	d.shutdown(servers, engineDone, aggregateDone)
	return nil
}

// follow fetches at start, on every trigger and on every poll, until ctx
// ends. After fetches that could not reach the remote, polls back off.
func (d *Daemon) follow(ctx context.Context) {
	d.sync(ctx, "start")
	timer := time.NewTimer(d.pollDelay())
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case why := <-d.trigger:
			d.sync(ctx, why)
		case <-timer.C:
			d.sync(ctx, "poll")
			timer.Reset(d.pollDelay())
		}
	}
}

// sync fetches the branch and, when the head moved, verifies, loads and
// hands it to the engine. Problems leave the enforced revision in place.
// Every sync also resyncs the engine, so drift is seen at least once per
// interval even without watches.
func (d *Daemon) sync(ctx context.Context, why string) {
	defer d.opts.Engine.Resync()
	start := d.opts.Now()
	fctx, cancel := context.WithTimeout(ctx, d.opts.FetchTimeout)
	rev, err := d.opts.Source.Fetch(fctx)
	cancel()
	d.observeFetch(err, d.opts.Now().Sub(start))
	failures := d.unreachable
	d.unreachable = 0
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		reason := "FetchFailed"
		switch {
		case errors.Is(err, source.ErrBranchNotFound):
			reason = "BranchNotFound"
		case errors.Is(err, source.ErrUnreachable):
			reason = "Unreachable"
			d.unreachable = failures + 1
		}
		d.log.Warn("cannot fetch the spec branch; the last good revision stays enforced", "trigger", why, "reason", reason, "err", err)
		d.opts.Engine.SetSourceProblem(&reconciler.SourceProblem{Reason: reason, Message: err.Error(), Since: d.opts.Now().UTC().Truncate(time.Second)})
		return
	}
	d.newest.Store(status.SpecHead{Branch: d.opts.Source.Branch(), Revision: rev.Hash, At: rev.Time})
	d.observeLease()
	switch {
	case rev.Recloned:
		d.opts.Engine.SetSourceProblem(&reconciler.SourceProblem{Reason: "CacheRecloned",
			Message: "the cache was damaged (" + rev.RecloneReason + ") and was cloned again", Since: d.opts.Now().UTC().Truncate(time.Second)})
	case rev.ForcePushed:
		d.opts.Engine.SetSourceProblem(&reconciler.SourceProblem{Reason: "ForcePushed",
			Message: fmt.Sprintf("the branch was rewritten: %s is not an ancestor of %s", reconciler.ShortHash(rev.Previous), rev.Short), Since: d.opts.Now().UTC().Truncate(time.Second)})
	default:
		d.opts.Engine.SetSourceProblem(nil)
	}
	if rev.Hash == d.seen {
		return
	}
	d.log.Info("new spec revision", "revision", rev.Short, "trigger", why)
	d.adopt(ctx, rev)
	d.seen = rev.Hash
	d.ready.Store(true)
}

// adopt verifies, loads and enforces rev, or refuses it.
func (d *Daemon) adopt(ctx context.Context, rev *source.Revision) {
	now := d.opts.Now().UTC().Truncate(time.Second)
	refuse := func(reason, msg string, diags spec.Diagnostics) {
		d.log.Error("revision refused; the last good revision stays enforced", "revision", rev.Short, "reason", reason, "message", msg)
		d.opts.Engine.Refuse(&reconciler.RefusedRevision{Revision: rev.Hash, Reason: reason, Message: msg, Since: now, Diagnostics: diags})
		if d.opts.Observer.Refused != nil {
			d.opts.Observer.Refused(reason)
		}
	}
	if err := d.opts.Source.Verify(rev); err != nil {
		reason := "BadSignature"
		if errors.Is(err, source.ErrUnsigned) {
			reason = "Unsigned"
		}
		refuse(reason, err.Error(), nil)
		return
	}
	if d.opts.Trust != nil {
		if err := d.opts.Source.CheckTrust(ctx, d.trustedRevision(), rev, d.opts.Node, d.opts.Trust); err != nil {
			if ctx.Err() != nil {
				return
			}
			refuse("Untrusted", err.Error(), nil)
			return
		}
	}
	set, diags, err := d.opts.Source.Load(ctx, rev)
	if err != nil && ctx.Err() != nil {
		return // stopping: the revision is not refused for that
	}
	if err != nil {
		refuse("Unreadable", err.Error(), nil)
		return
	}
	if diags.HasErrors() {
		refuse("Invalid", fmt.Sprintf("%d error(s) in the spec; see diagnostics", diags.ErrorCount()), onlyErrors(diags))
		return
	}
	err = d.opts.Engine.SetRevision(ctx, reconciler.Revision{Hash: rev.Hash, Message: rev.Message}, set)
	var guard *reconciler.PruneGuardError
	switch {
	case errors.As(err, &guard):
		refuse("PruneGuard", err.Error(), nil)
		return
	case err != nil:
		refuse("Failed", err.Error(), nil)
		return
	}
	d.opts.Engine.Refuse(nil)
	d.keepTrusted(rev.Hash)
	if d.opts.Observer.Applied != nil {
		d.opts.Observer.Applied(rev.Hash)
	}
}

// trustedRevision is where the next trust check starts: the revision the
// engine enforces, else the one TrustState recorded before a restart.
func (d *Daemon) trustedRevision() string {
	if rev, _ := d.opts.Engine.Revision(); rev.Hash != "" {
		return rev.Hash
	}
	if d.opts.TrustState == "" {
		return ""
	}
	data, err := os.ReadFile(d.opts.TrustState)
	if err != nil {
		return ""
	}
	if h := strings.TrimSpace(string(data)); len(h) == 40 && strings.Trim(h, "0123456789abcdef") == "" {
		return h
	}
	return ""
}

// keepTrusted records the applied revision in TrustState.
func (d *Daemon) keepTrusted(hash string) {
	if d.opts.Trust == nil || d.opts.TrustState == "" {
		return
	}
	tmp := d.opts.TrustState + ".tmp"
	err := os.WriteFile(tmp, []byte(hash+"\n"), 0o600)
	if err == nil {
		err = os.Rename(tmp, d.opts.TrustState)
	}
	if err != nil {
		d.log.Warn("cannot record the applied revision for the trust check; after a restart the head's signer must be allowed for every object", "err", err)
	}
}

func onlyErrors(ds spec.Diagnostics) spec.Diagnostics {
	var out spec.Diagnostics
	for _, d := range ds {
		if d.Severity == spec.SeverityError {
			out = append(out, d)
		}
	}
	return out
}

func (d *Daemon) observeFetch(err error, dur time.Duration) {
	if d.opts.Observer.Fetched == nil {
		return
	}
	result := "ok"
	switch {
	case errors.Is(err, source.ErrUnreachable):
		result = "unreachable"
	case errors.Is(err, source.ErrBranchNotFound):
		result = "branch-not-found"
	case err != nil:
		result = "error"
	}
	d.opts.Observer.Fetched(result, dur)
}
