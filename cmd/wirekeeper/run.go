package main

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path"
	"path/filepath"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wirekeeper/wirekeeper/internal/secret"
	"github.com/wirekeeper/wirekeeper/providers"
	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/reconciler/daemon"
	"github.com/wirekeeper/wirekeeper/reconciler/metrics"
	"github.com/wirekeeper/wirekeeper/reconciler/source"
	"github.com/wirekeeper/wirekeeper/reconciler/status"
	"github.com/wirekeeper/wirekeeper/reconciler/trust"
	"github.com/wirekeeper/wirekeeper/reconciler/webhook"
)

// runRun is `wirekeeper run`: configuration -> daemon -> run until SIGTERM.
func runRun(args []string, stdout, stderr io.Writer) int {
	cfg, err := loadRunConfig(args, os.Getenv)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, err)
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "wirekeeper run: %v\n", err)
		return exitUsage
	}
	log := cfg.newLogger(stderr)
	if st, err := os.Stat(cfg.SecretsDir); err != nil || !st.IsDir() {
		log.Warn("the secrets directory is missing: specs naming {file: NAME} secrets or TLS files fail until it exists", "secretsDir", cfg.SecretsDir)
	}
	secrets := secret.New(secret.Options{Dir: cfg.SecretsDir})
	events := reconciler.NewEvents()
	provs, err := providers.Build(providers.Config{Node: cfg.Node, Logger: log, Events: events, OVSNetns: cfg.OVSNetns, DockerHost: cfg.DockerHost,
		Secrets: secrets})
	if err != nil {
		log.Error("cannot build the providers", "err", err)
		return exitFail
	}
	defer closeProviders(provs, log)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	d, err := newDaemon(cfg, provs, events, log, prometheus.NewRegistry())
	if err != nil {
		log.Error("cannot start", "err", err)
		return exitFail
	}
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				d.Trigger("SIGHUP")
			}
		}
	}()
	if err := d.Run(ctx); err != nil {
		log.Error("cannot run", "err", err)
		return exitFail
	}
	return exitOK
}

// newDaemon wires the source, status writer, engine, webhook and metrics
// of cfg around provs.
func newDaemon(cfg runConfig, provs []reconciler.Provider, events *reconciler.Events, log *slog.Logger, reg *prometheus.Registry) (*daemon.Daemon, error) {
	src, err := newSource(cfg, log)
	if err != nil {
		return nil, err
	}
	st, err := newStatusOutputs(cfg, src, log)
	if err != nil {
		return nil, err
	}
	m := metrics.New(reg)
	engine, err := reconciler.New(reconciler.Options{
		Node: cfg.Node, Providers: provs, Events: events, Workers: cfg.Workers, Resync: cfg.Interval,
		MaxPruneFraction: pruneFraction(cfg.MaxPruneFraction),
		Logger:           log.With("component", "engine"),
		Hooks:            engineHooks(m),
	})
	if err != nil {
		return nil, err
	}
	// The webhook and /readyz call the daemon, which is made last.
	var d *daemon.Daemon
	opts := daemon.Options{
		Node: cfg.Node, Source: src, Status: st.writer, Engine: engine, Interval: cfg.Interval,
		Lease: st.lease, Aggregator: st.aggregator,
		ShutdownTimeout: shutdownBound - providersCloseTimeout,
		MetricsListen:   cfg.MetricsListen,
		Observer:        daemonObserver(m),
		Logger:          log.With("component", "daemon"),
	}
	if cfg.WebhookListen != "" {
		opts.WebhookListen = cfg.WebhookListen
		trigger := func(ev webhook.Event) { d.Trigger("webhook " + ev.Provider) }
		if opts.Webhook, err = newWebhook(cfg, src.Branch(), trigger, m, log); err != nil {
			return nil, err
		}
	}
	if cfg.MetricsListen != "" {
		opts.Metrics = metrics.Handler(reg, func() error { return d.Ready() })
	}
	if cfg.TrustPolicy != "" {
		if opts.Trust, err = trust.Load(cfg.TrustPolicy); err != nil {
			return nil, err
		}
		opts.TrustState = filepath.Join(cfg.CacheDir, "trusted-revision")
	}
	d, err = daemon.New(opts)
	return d, err
}

// sourceAuth is how cfg reaches the spec repository, and the status
// repository too.
func sourceAuth(cfg runConfig) source.AuthOptions {
	return source.AuthOptions{
		SSHKeyFile: cfg.SSHKeyFile, KnownHostsFile: cfg.KnownHostsFile,
		InsecureSkipHostKeyCheck: cfg.InsecureSkipHostKeyCheck,
		HTTPSUsername:            cfg.HTTPSUsername, HTTPSPasswordFile: cfg.HTTPSPasswordFile,
	}
}

// newSource returns the source of cfg's spec branch.
func newSource(cfg runConfig, log *slog.Logger) (*source.Source, error) {
	// The lease ref rides along with the spec fetch when status lives in
	// the spec repository: every daemon then sees it move at no request
	// of its own.
	watch := ""
	if cmp.Or(cfg.StatusRepo, cfg.Repo) == cfg.Repo && cfg.Aggregate == "auto" {
		watch = path.Dir(status.LeaseRef(cfg.StatusRefPrefix).String()) + "/"
	}
	return source.New(source.Options{
		URL: cfg.Repo, Branch: cfg.Branch, Path: cfg.Path,
		CacheDir:      filepath.Join(cfg.CacheDir, "source"),
		Auth:          sourceAuth(cfg),
		VerifyKeyring: cfg.VerifySignatures, AllowedSigners: cfg.AllowedSigners,
		WatchRefs: watch,
		Logger:    log.With("component", "source"),
		Names:     runSourceNames,
	})
}

// statusOutputs are where the daemon's status goes: its node's ref and,
// when it takes part in the election, the lease and the aggregator
// folding every node's ref into the status branch (nil otherwise).
type statusOutputs struct {
	writer     *status.Writer
	lease      *status.Lease
	aggregator *status.Aggregator
}

// newStatusOutputs returns the status outputs of cfg, on the status
// repository with the credentials of src.
func newStatusOutputs(cfg runConfig, src *source.Source, log *slog.Logger) (statusOutputs, error) {
	statusRepo := cmp.Or(cfg.StatusRepo, cfg.Repo)
	url, auth := src.RemoteURL(), src.Auth()
	if statusRepo != cfg.Repo {
		// A Source only to resolve the URL and credentials; it never fetches.
		s, err := source.New(source.Options{URL: statusRepo, CacheDir: filepath.Join(cfg.CacheDir, "source"), Auth: sourceAuth(cfg), Names: runSourceNames})
		if err != nil {
			return statusOutputs{}, fmt.Errorf("%s: %w", optionName("status-repo"), err)
		}
		url, auth = s.RemoteURL(), s.Auth()
	}
	cacheKey := sha256.Sum256([]byte(statusRepo))
	cache := filepath.Join(cfg.CacheDir, "status", hex.EncodeToString(cacheKey[:8]))
	statusLog := log.With("component", "status")
	var out statusOutputs
	var err error
	out.writer, err = status.NewWriter(status.WriterOptions{
		URL: url, Branch: cfg.StatusBranch, RefPrefix: cfg.StatusRefPrefix, Auth: auth,
		CacheDir: cache,
		Logger:   statusLog,
	})
	if err != nil {
		return statusOutputs{}, err
	}
	if cfg.Aggregate != "auto" {
		return out, nil
	}
	out.lease, err = status.NewLease(status.LeaseOptions{
		URL: url, Auth: auth, Ref: status.LeaseRef(cfg.StatusRefPrefix), Holder: cfg.Node,
		TTL:    max(3*cfg.Interval, 30*time.Second),
		Logger: statusLog,
	})
	if err != nil {
		return out, err
	}
	out.aggregator, err = status.NewAggregator(status.AggregatorOptions{
		URL: url, Auth: auth, Branch: cfg.StatusBranch, RefPrefix: cfg.StatusRefPrefix,
		CacheDir: cache + "-aggregate", Interval: cfg.Interval,
		Logger: statusLog,
	})
	return out, err
}

// newWebhook returns the push webhook of cfg, calling trigger for each
// push to branch.
func newWebhook(cfg runConfig, branch string, trigger func(webhook.Event), m *metrics.Metrics, log *slog.Logger) (*webhook.Handler, error) {
	secret, err := webhook.ReadSecretFile(cfg.WebhookSecretFile)
	if err != nil {
		return nil, err
	}
	return webhook.New(webhook.Options{
		Secret: secret, Branch: branch,
		Trigger: trigger,
		Logger:  log.With("component", "webhook"),
		Observe: m.ObserveWebhook,
	})
}

// engineHooks counts the engine's reconciles, applies and drift in m.
func engineHooks(m *metrics.Metrics) reconciler.Hooks {
	return reconciler.Hooks{
		Reconciled: func(kind, result string, d time.Duration) {
			m.ReconcileTotal.WithLabelValues(kind, result).Inc()
			m.ReconcileDuration.WithLabelValues(kind).Observe(d.Seconds())
		},
		Applied: func(kind string, action reconciler.Action, err error) {
			result := "ok"
			if err != nil {
				result = "error"
			}
			m.ApplyTotal.WithLabelValues(kind, string(action), result).Inc()
		},
		Drifted: func(kind string, repaired bool) {
			m.DriftTotal.WithLabelValues(kind, fmt.Sprint(repaired)).Inc()
		},
		QueueDepth: func(n int) { m.QueueDepth.Set(float64(n)) },
	}
}

// daemonObserver records the daemon's fetches, revisions, status pushes
// and objects in m.
func daemonObserver(m *metrics.Metrics) daemon.Observer {
	return daemon.Observer{
		Fetched: func(result string, dur time.Duration) {
			m.SourceFetchTotal.WithLabelValues(result).Inc()
			m.SourceFetchDuration.Observe(dur.Seconds())
			if result == "ok" {
				m.SourceLastSuccess.SetToCurrentTime()
			}
		},
		Applied: m.SetAppliedRevision,
		Refused: func(reason string) { m.RefusedRevisionTotal.WithLabelValues(reason).Inc() },
		StatusPush: func(result string, dur time.Duration) {
			m.StatusPushTotal.WithLabelValues(result).Inc()
			m.StatusPushDuration.Observe(dur.Seconds())
		},
		Status: func(ns *reconciler.NodeStatus) {
			m.Objects.Reset()
			for _, o := range ns.Objects {
				m.Objects.WithLabelValues(o.Kind, string(o.Phase)).Inc()
			}
		},
	}
}

// `wirekeeper run` exits within shutdownBound of SIGTERM: the daemon's
// shutdown (in-flight applies, the last status push) takes what
// providersCloseTimeout leaves, then the providers close their connections.
const (
	shutdownBound         = 10 * time.Second
	providersCloseTimeout = 2 * time.Second
)

// closeProviders closes provs, waiting at most providersCloseTimeout: a
// connection whose peer no longer answers is left to the process's exit.
func closeProviders(provs []reconciler.Provider, log *slog.Logger) {
	done := make(chan struct{})
	go func() {
		providers.Close(provs)
		close(done)
	}()
	t := time.NewTimer(providersCloseTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		log.Warn("the providers did not close within the shutdown deadline; exiting without waiting", "waited", providersCloseTimeout)
	}
}

// pruneFraction maps the configured fraction to the engine's: 0 means "no
// pruning beyond zero objects", which the engine spells negative.
func pruneFraction(f float64) float64 {
	if f == 0 {
		return -1
	}
	return f
}
