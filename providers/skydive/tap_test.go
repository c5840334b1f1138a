package skydive_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wirekeeper/wirekeeper/internal/skydivetest"
	"github.com/wirekeeper/wirekeeper/internal/topology"
	"github.com/wirekeeper/wirekeeper/providers/skydive"
	"github.com/wirekeeper/wirekeeper/reconciler"
)

// analyzerTap is a reverse proxy in front of a stand-in: the export talks
// to it as to the analyzer (the websocket and REST pass through). It
// counts the read-backs (the node queries POSTed to /api/topology) and,
// with a rewrite set, changes the nodes they return, as an analyzer that
// decodes metadata differently from the stand-in would.
type analyzerTap struct {
	srv   *httptest.Server
	proxy *httputil.ReverseProxy
	to    string // the stand-in's REST base URL

	mu        sync.Mutex
	readBacks int
	rewrite   func(md map[string]any)
	refuse    bool // answer read-backs 404, as a proxy without the REST API
}

func newAnalyzerTap(t testing.TB, a *skydivetest.Analyzer) *analyzerTap {
	t.Helper()
	target, err := url.Parse(a.HTTPURL())
	if err != nil {
		t.Fatal(err)
	}
	tap := &analyzerTap{proxy: httputil.NewSingleHostReverseProxy(target), to: a.HTTPURL()}
	tap.srv = httptest.NewServer(http.HandlerFunc(tap.serve))
	t.Cleanup(func() {
		tap.srv.CloseClientConnections()
		tap.srv.Close()
	})
	return tap
}

// URL is the analyzer address the export is given.
func (tp *analyzerTap) URL() string { return "ws://" + tp.srv.Listener.Addr().String() }

// ReadBacks is how many read-backs went through (each node query counts).
func (tp *analyzerTap) ReadBacks() int {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return tp.readBacks
}

// setRewrite makes every node a read-back returns go through f.
func (tp *analyzerTap) setRewrite(f func(md map[string]any)) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	tp.rewrite = f
}

func (tp *analyzerTap) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/api/topology" {
		tp.proxy.ServeHTTP(w, r)
		return
	}
	tp.mu.Lock()
	refuse := tp.refuse
	if refuse {
		tp.readBacks++
	}
	tp.mu.Unlock()
	if refuse {
		http.NotFound(w, r)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req, _ := http.NewRequestWithContext(r.Context(), http.MethodPost, tp.to+"/api/topology", bytes.NewReader(body))
	req.Header = r.Header.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	nodeQuery := strings.Contains(string(body), "G.V()")
	tp.mu.Lock()
	if nodeQuery {
		tp.readBacks++
	}
	rewrite := tp.rewrite
	tp.mu.Unlock()
	if rewrite != nil && nodeQuery && resp.StatusCode == http.StatusOK {
		var nodes []map[string]any
		if err := json.Unmarshal(answer, &nodes); err == nil {
			for _, n := range nodes {
				if md, ok := n["Metadata"].(map[string]any); ok {
					rewrite(md)
				}
			}
			answer, _ = json.Marshal(nodes)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(resp.StatusCode)
	w.Write(answer)
}

// statusWatch counts the changes of an engine's node status (any field
// of any object, the drift log) from its start.
type statusWatch struct {
	e    *reconciler.Engine
	mu   sync.Mutex
	last string
	seen []string // each status that differed from the one before
}

func statusJSON(t testing.TB, e *reconciler.Engine) string {
	b, err := json.Marshal(e.Status())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func watchStatus(t testing.TB, e *reconciler.Engine) *statusWatch {
	w := &statusWatch{e: e, last: statusJSON(t, e)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case <-e.Changed():
				w.note(statusJSON(t, e))
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return w
}

func (w *statusWatch) note(s string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if s != w.last {
		w.seen, w.last = append(w.seen, s), s
	}
}

// changes returns the statuses seen that differed from the one before,
// the status now included.
func (w *statusWatch) changes(t testing.TB) []string {
	w.note(statusJSON(t, w.e))
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.seen...)
}

// syncsAt counts the Syncs the stand-in received from origin.
func syncsAt(a *skydivetest.Analyzer, origin string) int {
	n := 0
	for _, l := range a.Log() {
		if strings.Contains(l, origin+": Sync") {
			n++
		}
	}
	return n
}

// engineRig runs the engine with the export provider on a programmable
// source, as the daemon does, for the tests of what the engine makes of
// the export's verdicts.
type engineRig struct {
	*exporterRig
	e   *reconciler.Engine
	rev int
}

func newEngineRig(t testing.TB, node string, opts skydive.Options, sources ...topology.Source) *engineRig {
	t.Helper()
	events := reconciler.NewEvents()
	opts.Events = events
	r := newExporter(t, node, opts, sources...)
	e, err := reconciler.New(reconciler.Options{Node: node, Providers: []reconciler.Provider{r.p}, Events: events, Workers: 2,
		BackoffBase: 50 * time.Millisecond, BackoffMax: time.Second, Resync: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return &engineRig{exporterRig: r, e: e}
}

// apply makes docs the enforced revision.
func (r *engineRig) apply(docs ...string) {
	r.t.Helper()
	r.rev++
	r.set = loadSet(r.t, docs...)
	if err := r.e.SetRevision(context.Background(), reconciler.Revision{Hash: fmt.Sprintf("rev%04d", r.rev)}, r.set); err != nil {
		r.t.Fatal(err)
	}
}

func (r *engineRig) object(name string) *reconciler.ObjectStatus {
	return r.e.Status().Object(reconciler.Ref{Kind: skydive.Kind, Name: name})
}

// waitDegraded waits until the engine reports the export Degraded for the
// reason its message contains: an export is Degraded for more than one
// reason (while it connects, first), so the phase alone does not say the
// one a test waits for has come.
func (r *engineRig) waitDegraded(name, because string) *reconciler.ObjectStatus {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		o := r.object(name)
		if o != nil && o.Phase == reconciler.PhaseDegraded && strings.Contains(o.Message, because) {
			return o
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("timed out waiting for %s Degraded with %q; object status %+v", name, because, o)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitStatusFor is waitStatus with a deadline of d.
func (r *exporterRig) waitStatusFor(name, what string, d time.Duration, cond func(skydive.Status) bool) skydive.Status {
	r.t.Helper()
	deadline := time.Now().Add(d)
	for {
		st, _ := r.p.Status(name)
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("%s: timed out after %s waiting for %s; status %+v", r.node, d, what, st)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
