package metrics

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
)

// touch gives every vector one child, so that every family is gathered.
func touch(m *Metrics) {
	m.ReconcileTotal.WithLabelValues("Mirror", "success").Inc()
	m.ReconcileDuration.WithLabelValues("Mirror").Observe(0.002)
	m.ApplyTotal.WithLabelValues("Mirror", "create", "success").Inc()
	m.Objects.WithLabelValues("Mirror", "Ready").Set(3)
	m.DriftTotal.WithLabelValues("Mirror", "true").Inc()
	m.SourceFetchTotal.WithLabelValues("success").Inc()
	m.SetAppliedRevision("abc")
	m.RefusedRevisionTotal.WithLabelValues("invalid").Inc()
	m.StatusPushTotal.WithLabelValues("success").Inc()
	m.ObserveWebhook("github", "accepted")
}

func TestNewRegistersEverything(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	touch(m)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	help := map[string]string{}
	for _, f := range families {
		if name := f.GetName(); strings.HasPrefix(name, "wirekeeper_") {
			got = append(got, name)
			help[name] = f.GetHelp()
		}
	}
	want := []string{
		"wirekeeper_applied_revision",
		"wirekeeper_apply_total",
		"wirekeeper_drift_total",
		"wirekeeper_objects",
		"wirekeeper_pass_duration_seconds",
		"wirekeeper_queue_depth",
		"wirekeeper_reconcile_duration_seconds",
		"wirekeeper_reconcile_total",
		"wirekeeper_refused_revision_total",
		"wirekeeper_source_fetch_duration_seconds",
		"wirekeeper_source_fetch_total",
		"wirekeeper_source_last_success_timestamp_seconds",
		"wirekeeper_status_push_duration_seconds",
		"wirekeeper_status_push_total",
		"wirekeeper_webhook_requests_total",
	}
	slices.Sort(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("wirekeeper families (-want +got):\n%s", diff)
	}
	for name, h := range help {
		if h == "" {
			t.Errorf("%s has no help text", name)
		}
	}
	for _, name := range []string{"go_goroutines", "process_start_time_seconds"} {
		if !slices.ContainsFunc(families, func(f *dto.MetricFamily) bool { return f.GetName() == name }) {
			t.Errorf("%s not registered", name)
		}
	}
}

func TestNewTwice(t *testing.T) {
	// Go and process collectors already present are accepted.
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	New(reg)

	// wirekeeper's own metrics registered twice is a programming error.
	defer func() {
		if recover() == nil {
			t.Error("second New on the same registry did not panic")
		}
	}()
	New(reg)
}

func TestSetAppliedRevision(t *testing.T) {
	m := New(prometheus.NewRegistry())
	m.SetAppliedRevision("1111")
	m.SetAppliedRevision("2222")
	want := `
# HELP wirekeeper_applied_revision 1 for the spec revision being enforced; no other revision has a series.
# TYPE wirekeeper_applied_revision gauge
wirekeeper_applied_revision{revision="2222"} 1
`
	if err := testutil.CollectAndCompare(m.AppliedRevision, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}

func TestHandler(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	m.QueueDepth.Set(7)
	notReady := errors.New("no revision enforced yet")

	tests := []struct {
		name       string
		method     string
		path       string
		ready      func() error
		wantStatus int
		wantBody   string // a substring
	}{
		{"healthz", "GET", "/healthz", nil, 200, "ok\n"},
		{"readyz without a check", "GET", "/readyz", nil, 200, "ready\n"},
		{"readyz ready", "GET", "/readyz", func() error { return nil }, 200, "ready\n"},
		{"readyz not ready", "GET", "/readyz", func() error { return notReady }, 503, "not ready: no revision enforced yet\n"},
		{"metrics", "GET", "/metrics", nil, 200, "\nwirekeeper_queue_depth 7\n"},
		{"metrics has the Go collector", "GET", "/metrics", nil, 200, "\ngo_goroutines "},
		{"unknown path", "GET", "/debug", nil, 404, ""},
		{"POST is refused", "POST", "/healthz", nil, 405, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(Handler(reg, tt.ready))
			defer srv.Close()
			req, err := http.NewRequest(tt.method, srv.URL+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if !strings.Contains(string(body), tt.wantBody) {
				t.Errorf("body does not contain %q:\n%.500s", tt.wantBody, body)
			}
		})
	}
}
