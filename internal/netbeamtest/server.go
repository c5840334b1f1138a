// Package netbeamtest is an in-process stand-in for ESnet's Netbeam API,
// written to the behaviour documented in ../shared/reference/seed-systems.md
// §3, for tests of the netbeam client and the collector provider: no real
// Netbeam can run here.
//
// It serves GET /api/network/{network}/interfaces (the objects given to
// SetInterfaces, indented, unknown fields and all) and GET
// /api/network/{network}/{resource}/{metric}?begin=MS&end=MS, where resource
// is one of those interfaces' already-encoded resources (routed on the
// request URI as received, so %2F stays %2F) and metric one of Metrics.
// Points follow a deterministic series (see Expected), and faults can be
// switched on at any time: failures, delays, truncated JSON, empty series.
package netbeamtest

import (
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// DefaultStep is the spacing of the stand-in's points unless SetStep says
// otherwise.
const DefaultStep = 30 * time.Second

// Request is one request the stand-in received.
type Request struct {
	// Path is the request URI exactly as received (encoded, with query).
	Path string
	// Resource and Metric are set for points requests, as found in Path
	// (Resource still encoded).
	Resource, Metric string
	// Begin and End are the points request's window, when it parsed.
	Begin, End int64
	// Status is the HTTP status the stand-in answered.
	Status int
	// Time is when the request arrived.
	Time time.Time
}

// Server is a running stand-in. All its methods are safe for concurrent use,
// also while requests are being served.
type Server struct {
	// URL is the base URL to give the client, e.g. https://127.0.0.1:41234.
	URL string

	network string
	srv     *httptest.Server
	done    chan struct{}

	mu        sync.Mutex
	ifaceBody []byte
	known     map[string]bool // encoded resources of the served interfaces
	stepMS    int64
	failN     int
	failCode  int
	delay     time.Duration
	malformed bool
	empty     map[string]bool
	bodies    map[[2]string]string
	requests  []Request
}

// Start runs a stand-in over TLS for network (e.g. "esnet/prod") until the
// test ends. Use Client for an HTTP client that trusts its certificate.
func Start(t testing.TB, network string) *Server {
	t.Helper()
	return start(t, network, httptest.NewTLSServer)
}

// StartPlain is Start over plain HTTP.
func StartPlain(t testing.TB, network string) *Server {
	t.Helper()
	return start(t, network, httptest.NewServer)
}

func start(t testing.TB, network string, newServer func(http.Handler) *httptest.Server) *Server {
	s := &Server{
		network:   network,
		done:      make(chan struct{}),
		ifaceBody: []byte("[]"),
		known:     map[string]bool{},
		stepMS:    DefaultStep.Milliseconds(),
		empty:     map[string]bool{},
		bodies:    map[[2]string]string{},
	}
	s.srv = newServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	t.Cleanup(func() {
		close(s.done) // release delayed handlers so Close does not wait for them
		s.srv.Close()
	})
	return s
}

// Client returns an HTTP client that trusts the stand-in (for the TLS one)
// and has no timeout of its own.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// CertPEM is the server's certificate in PEM (empty over plain HTTP), for
// a process that must trust it (SSL_CERT_FILE).
func (s *Server) CertPEM() []byte {
	if s.srv.Certificate() == nil {
		return nil
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.srv.Certificate().Raw})
}

// SetInterfaces replaces the interfaces served. Each object should have a
// string "resource" (encoded, as Iface builds it); the points of exactly
// those resources are served. Objects are sent indented, in the order given.
func (s *Server) SetInterfaces(ifaces ...map[string]any) {
	if ifaces == nil {
		ifaces = []map[string]any{}
	}
	body, err := json.MarshalIndent(ifaces, "", "  ")
	if err != nil {
		panic(fmt.Sprintf("netbeamtest: interfaces cannot be encoded: %v", err))
	}
	s.setListing(body, ifaces)
}

// SetInterfacesBody serves body, byte for byte, as the interfaces listing:
// for what SetInterfaces would normalise (key order, number forms such as
// 10000.0, escapes). body must be a JSON array of objects; the points of
// the string "resource"s they name are served.
func (s *Server) SetInterfacesBody(body string) {
	var ifaces []map[string]any
	if err := json.Unmarshal([]byte(body), &ifaces); err != nil {
		panic(fmt.Sprintf("netbeamtest: interfaces body is not an array of objects: %v", err))
	}
	s.setListing([]byte(body), ifaces)
}

// setListing serves body as the interfaces listing and the points of the
// string "resource"s of ifaces (body's objects).
func (s *Server) setListing(body []byte, ifaces []map[string]any) {
	known := map[string]bool{}
	for _, i := range ifaces {
		if r, ok := i["resource"].(string); ok {
			known[r] = true
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ifaceBody, s.known = body, known
}

// SetStep sets the spacing of the points (at least 1 ms; default 30 s).
func (s *Server) SetStep(d time.Duration) {
	if d < time.Millisecond {
		panic(fmt.Sprintf("netbeamtest: step %s is below 1ms", d))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stepMS = d.Milliseconds()
}

// Expected returns the points the stand-in serves for resource's metric over
// [begin, end) — begin inclusive, end exclusive, as the handler does: one
// [ts, in, out] at every multiple of the step, with in = In(resource, metric,
// ts) and out = Out(...). It is empty for a resource switched to SetEmpty and
// nil for an unknown resource or metric (the handler answers 404); bodies
// set with SetBody are not reflected.
func (s *Server) Expected(resource, metric string, begin, end int64) [][3]float64 {
	s.mu.Lock()
	known, empty, step := s.known[resource], s.empty[resource], s.stepMS
	s.mu.Unlock()
	switch {
	case !known || !slices.Contains(Metrics, metric):
		return nil
	case empty:
		return [][3]float64{}
	}
	return series(resource, metric, begin, end, step)
}

// FailNext makes the next n requests, of any kind, fail with status code.
func (s *Server) FailNext(n int, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failN, s.failCode = n, code
}

// SetDelay delays every response by d (0 to stop). A delayed handler gives
// up when the client goes away.
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// SetMalformed makes every 200 body truncated, invalid JSON while on.
func (s *Server) SetMalformed(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.malformed = on
}

// SetEmpty makes every metric of resource answer {"points": []} while on.
func (s *Server) SetEmpty(resource string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.empty[resource] = on
}

// SetBody makes resource's metric answer 200 with exactly body, whatever
// the window (for null values, "points": null, odd number forms); an empty
// body goes back to the series. The resource must still be served by
// SetInterfaces.
func (s *Server) SetBody(resource, metric, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if body == "" {
		delete(s.bodies, [2]string{resource, metric})
		return
	}
	s.bodies[[2]string{resource, metric}] = body
}

// Requests returns the requests received so far, in arrival order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// pointsBody is a points response: the documented "points" among keys a
// client must ignore.
type pointsBody struct {
	Agg    string         `json:"agg"`
	Meta   map[string]any `json:"meta"`
	Points [][3]float64   `json:"points"`
	Later  bool           `json:"x-later-field"`
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	req := Request{Path: r.RequestURI, Time: time.Now()}
	status, body := s.respond(r, &req)
	req.Status = status

	s.mu.Lock()
	s.requests = append(s.requests, req)
	delay := s.delay
	s.mu.Unlock()
	if delay > 0 {
		timer := time.NewTimer(delay)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		}
	}
	if status == http.StatusOK {
		w.Header().Set("Content-Type", "application/json")
	} else {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	}
	w.WriteHeader(status)
	w.Write(body)
}

// respond decides the status and body of r, filling req's points fields.
func (s *Server) respond(r *http.Request, req *Request) (int, []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failN > 0 {
		s.failN--
		return s.failCode, fmt.Appendf(nil, "netbeamtest: injected %d", s.failCode)
	}
	if r.Method != http.MethodGet {
		return http.StatusMethodNotAllowed, []byte("only GET")
	}
	path, rawQuery, _ := strings.Cut(r.RequestURI, "?")
	rest, ok := strings.CutPrefix(path, "/api/network/"+s.network+"/")
	if !ok {
		return http.StatusNotFound, []byte("no such network")
	}
	if rest == "interfaces" {
		return http.StatusOK, s.maybeTruncate(s.ifaceBody)
	}
	i := strings.LastIndex(rest, "/")
	if i < 0 {
		return http.StatusNotFound, []byte("no such path")
	}
	req.Resource, req.Metric = rest[:i], rest[i+1:]
	if !s.known[req.Resource] || !slices.Contains(Metrics, req.Metric) {
		return http.StatusNotFound, fmt.Appendf(nil, "no resource %q with metric %q", req.Resource, req.Metric)
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return http.StatusBadRequest, []byte("bad query")
	}
	var errB, errE error
	req.Begin, errB = strconv.ParseInt(q.Get("begin"), 10, 64)
	req.End, errE = strconv.ParseInt(q.Get("end"), 10, 64)
	if errB != nil || errE != nil {
		return http.StatusBadRequest, []byte("begin and end must be integers (ms)")
	}
	if body, ok := s.bodies[[2]string{req.Resource, req.Metric}]; ok {
		return http.StatusOK, s.maybeTruncate([]byte(body))
	}
	if s.empty[req.Resource] {
		return http.StatusOK, s.maybeTruncate([]byte(`{"points": []}`))
	}
	body, err := json.Marshal(pointsBody{
		Agg:    (time.Duration(s.stepMS) * time.Millisecond).String(),
		Meta:   map[string]any{"resource": req.Resource, "metric": req.Metric, "units": "bps"},
		Points: series(req.Resource, req.Metric, req.Begin, req.End, s.stepMS),
		Later:  true,
	})
	if err != nil {
		return http.StatusInternalServerError, []byte(err.Error())
	}
	return http.StatusOK, s.maybeTruncate(body)
}

// maybeTruncate cuts body in half when malformed responses are on.
func (s *Server) maybeTruncate(body []byte) []byte {
	if s.malformed {
		return body[:len(body)/2]
	}
	return body
}
