package webhook

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// logRecords is a slog.Handler keeping every record, for tests.
type logRecords struct {
	mu      sync.Mutex
	records []slog.Record
}

func (l *logRecords) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecords) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecords) WithGroup(string) slog.Handler            { return l }
func (l *logRecords) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.records = append(l.records, r.Clone())
	l.mu.Unlock()
	return nil
}

// at returns the records of one level, each as its message and attributes.
func (l *logRecords) at(level slog.Level) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, r := range l.records {
		if r.Level != level {
			continue
		}
		m := map[string]any{"msg": r.Message}
		r.Attrs(func(a slog.Attr) bool { m[a.Key] = a.Value.Resolve().Any(); return true })
		out = append(out, m)
	}
	return out
}

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Advance(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// TestRefusedRequestsLogThrottled floods the handler with requests of every
// refused kind, from many goroutines: each is counted by Observe, but the
// log gets one WARN line per status code and interval, and the next line
// after the interval says how many were left out. Accepted pushes are
// logged each.
func TestRefusedRequestsLogThrottled(t *testing.T) {
	const interval = 5 * time.Second
	var (
		logs  logRecords
		clock = &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
		mu    sync.Mutex
		seen  = map[string]int{}
	)
	h, err := New(Options{
		Secret: []byte(testSecret), Branch: "main", Trigger: func(Event) {},
		Logger:  slog.New(&logs),
		Observe: func(_, result string) { mu.Lock(); seen[result]++; mu.Unlock() },
		// A small body limit keeps the oversized requests cheap.
		MaxBodyBytes: 256, RefusedLogInterval: interval, Now: clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	good := pushBody("refs/heads/main", sha)
	kinds := map[int]func() *http.Request{
		http.StatusUnauthorized: func() *http.Request { // no signature at all
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(good))
			r.Header.Set("X-GitHub-Event", "push")
			return r
		},
		http.StatusMethodNotAllowed: func() *http.Request {
			return httptest.NewRequest(http.MethodGet, "/", nil)
		},
		http.StatusRequestEntityTooLarge: func() *http.Request {
			body := strings.Repeat("x", 300)
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
			r.Header.Set("X-Hub-Signature-256", "sha256="+mac(testSecret, body))
			return r
		},
		http.StatusBadRequest: func() *http.Request { // signed, but not JSON
			body := "not json"
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
			r.Header.Set("X-Wirekeeper-Signature", "sha256="+mac(testSecret, body))
			return r
		},
	}
	send := func(status int, n int) {
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, kinds[status]())
				if rec.Code != status {
					t.Errorf("status %d, want %d", rec.Code, status)
				}
			})
		}
		wg.Wait()
	}
	accept := func() {
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(good))
		r.Header.Set("X-Hub-Signature-256", "sha256="+mac(testSecret, good))
		r.Header.Set("X-GitHub-Event", "push")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code != http.StatusAccepted {
			t.Fatalf("signed push: status %d, want 202", rec.Code)
		}
	}

	// The flood: 500 requests of each kind within one interval.
	const flood = 500
	for status := range kinds {
		send(status, flood)
	}
	accept()
	accept()
	warns := logs.at(slog.LevelWarn)
	if len(warns) != len(kinds) {
		t.Fatalf("%d WARN lines for %d refused requests, want one per status code (%d)", len(warns), flood*len(kinds), len(kinds))
	}
	for _, w := range warns {
		if _, ok := w["suppressed"]; ok {
			t.Errorf("the first line of a flood says %v were suppressed", w["suppressed"])
		}
	}

	// Still within the interval: nothing more is written.
	clock.Advance(interval - time.Millisecond)
	for status := range kinds {
		send(status, 1)
	}
	if got := len(logs.at(slog.LevelWarn)); got != len(kinds) {
		t.Errorf("%d WARN lines within the interval, want %d", got, len(kinds))
	}

	// After it, one line per status code, counting what was left out.
	clock.Advance(time.Millisecond)
	for status := range kinds {
		send(status, 1)
	}
	warns = logs.at(slog.LevelWarn)
	if len(warns) != 2*len(kinds) {
		t.Fatalf("%d WARN lines after the interval, want %d", len(warns), 2*len(kinds))
	}
	gotSuppressed := map[int64]int64{}
	for _, w := range warns[len(kinds):] {
		gotSuppressed[w["status"].(int64)] = w["suppressed"].(int64)
	}
	// flood-1 left out of the flood itself, plus 1 sent within the interval.
	wantSuppressed := map[int64]int64{}
	for status := range kinds {
		wantSuppressed[int64(status)] = flood
	}
	if diff := cmp.Diff(wantSuppressed, gotSuppressed); diff != "" {
		t.Errorf("suppressed counts by status (-want +got):\n%s", diff)
	}

	// Every request was counted for metrics; every accepted push logged.
	perKind := flood + 2
	wantSeen := map[string]int{
		ResultRejected:   perKind,
		ResultBadRequest: 3 * perKind,
		ResultAccepted:   2,
	}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff(wantSeen, seen); diff != "" {
		t.Errorf("observed results (-want +got):\n%s", diff)
	}
	if got := len(logs.at(slog.LevelInfo)); got != 2 {
		t.Errorf("%d INFO lines for 2 accepted pushes", got)
	}
}
