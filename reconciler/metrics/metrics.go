// Package metrics holds wirekeeper's Prometheus metrics and the HTTP handler
// that serves them with the health endpoints. Every metric is named
// wirekeeper_*; labels take values from small fixed sets (kinds, results,
// phases, actions), never object names or node names, so the series count
// stays bounded whatever the size of the spec.
package metrics

import (
	"errors"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// DurationBuckets are the histogram buckets, in seconds, of every duration
// metric: from 1ms (an OVSDB round trip) to 30s (a slow clone or push).
var DurationBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// Metrics are the engine's metrics. The engine updates the fields directly;
// each field's help text (and the comment above it) says what its labels hold.
type Metrics struct {
	// ReconcileTotal counts reconciles of one object, by kind and result
	// (success, error, refused, ...).
	ReconcileTotal *prometheus.CounterVec
	// ReconcileDuration observes the time of one object's reconcile, by kind.
	ReconcileDuration *prometheus.HistogramVec
	// ApplyTotal counts writes to a live system, by kind, action (create,
	// update, replace, delete) and result.
	ApplyTotal *prometheus.CounterVec
	// Objects is the number of objects, by kind and phase, as of the last pass.
	Objects *prometheus.GaugeVec
	// DriftTotal counts live objects found different from their spec, by kind
	// and whether the drift was repaired ("true", "false").
	DriftTotal *prometheus.CounterVec
	// QueueDepth is the number of objects waiting to be reconciled.
	QueueDepth prometheus.Gauge
	// SourceFetchTotal counts fetches of the spec repository, by result.
	SourceFetchTotal *prometheus.CounterVec
	// SourceFetchDuration observes the time of one fetch.
	SourceFetchDuration prometheus.Histogram
	// SourceLastSuccess is the Unix time of the last successful fetch.
	SourceLastSuccess prometheus.Gauge
	// AppliedRevision is 1 for the revision being enforced; set it with
	// SetAppliedRevision so that only one series exists.
	AppliedRevision *prometheus.GaugeVec
	// RefusedRevisionTotal counts revisions not enforced, by reason (invalid,
	// unsigned, prune-limit, ...).
	RefusedRevisionTotal *prometheus.CounterVec
	// StatusPushTotal counts pushes of the status branch, by result.
	StatusPushTotal *prometheus.CounterVec
	// StatusPushDuration observes the time of one status push.
	StatusPushDuration prometheus.Histogram
	// WebhookRequestTotal counts webhook requests, by provider and result
	// (see package webhook's Result constants).
	WebhookRequestTotal *prometheus.CounterVec
	// PassDuration observes the time of one full resync pass over every object.
	PassDuration prometheus.Histogram

	revisionMu sync.Mutex
}

// New creates the metrics and registers them, with the Go runtime and
// process collectors, on reg. It panics when one of wirekeeper's metrics is
// already registered there (New called twice on one registry); Go and
// process collectors already present (as on prometheus.DefaultRegisterer)
// are left as they are.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		ReconcileTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wirekeeper_reconcile_total",
			Help: "Reconciles of one object, by kind and result.",
		}, []string{"kind", "result"}),
		ReconcileDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "wirekeeper_reconcile_duration_seconds",
			Help:    "Time to reconcile one object (observe, plan and apply), by kind.",
			Buckets: DurationBuckets,
		}, []string{"kind"}),
		ApplyTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wirekeeper_apply_total",
			Help: "Writes to a live system, by kind, action (create, update, replace, delete) and result.",
		}, []string{"kind", "action", "result"}),
		Objects: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "wirekeeper_objects",
			Help: "Objects of the enforced revision on this node, by kind and phase.",
		}, []string{"kind", "phase"}),
		DriftTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wirekeeper_drift_total",
			Help: "Live objects found different from their spec, by kind and whether the drift was repaired.",
		}, []string{"kind", "repaired"}),
		QueueDepth: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "wirekeeper_queue_depth",
			Help: "Objects waiting in the reconcile queue.",
		}),
		SourceFetchTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wirekeeper_source_fetch_total",
			Help: "Fetches of the spec repository, by result.",
		}, []string{"result"}),
		SourceFetchDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "wirekeeper_source_fetch_duration_seconds",
			Help:    "Time to fetch the spec repository.",
			Buckets: DurationBuckets,
		}),
		SourceLastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "wirekeeper_source_last_success_timestamp_seconds",
			Help: "Unix time of the last successful fetch of the spec repository.",
		}),
		AppliedRevision: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "wirekeeper_applied_revision",
			Help: "1 for the spec revision being enforced; no other revision has a series.",
		}, []string{"revision"}),
		RefusedRevisionTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wirekeeper_refused_revision_total",
			Help: "Spec revisions not enforced, by reason.",
		}, []string{"reason"}),
		StatusPushTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wirekeeper_status_push_total",
			Help: "Status writes of the node to its own status ref, by result (committed, unchanged, error).",
		}, []string{"result"}),
		StatusPushDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "wirekeeper_status_push_duration_seconds",
			Help:    "Time to commit and push the node's status ref.",
			Buckets: DurationBuckets,
		}),
		WebhookRequestTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wirekeeper_webhook_requests_total",
			Help: "Webhook requests, by provider and result (accepted, ignored, rejected, bad-request).",
		}, []string{"provider", "result"}),
		PassDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "wirekeeper_pass_duration_seconds",
			Help:    "Time of one full resync pass over every object.",
			Buckets: DurationBuckets,
		}),
	}
	reg.MustRegister(
		m.ReconcileTotal, m.ReconcileDuration, m.ApplyTotal, m.Objects, m.DriftTotal,
		m.QueueDepth, m.SourceFetchTotal, m.SourceFetchDuration, m.SourceLastSuccess,
		m.AppliedRevision, m.RefusedRevisionTotal, m.StatusPushTotal, m.StatusPushDuration,
		m.WebhookRequestTotal, m.PassDuration,
	)
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := reg.Register(c); err != nil {
			if _, ok := errors.AsType[prometheus.AlreadyRegisteredError](err); !ok {
				panic(err)
			}
		}
	}
	return m
}

// SetAppliedRevision makes rev the only series of AppliedRevision, with value 1.
func (m *Metrics) SetAppliedRevision(rev string) {
	m.revisionMu.Lock()
	defer m.revisionMu.Unlock()
	m.AppliedRevision.Reset()
	m.AppliedRevision.WithLabelValues(rev).Set(1)
}

// ObserveWebhook counts one webhook request; it has the signature of
// webhook.Options.Observe.
func (m *Metrics) ObserveWebhook(provider, result string) {
	m.WebhookRequestTotal.WithLabelValues(provider, result).Inc()
}
