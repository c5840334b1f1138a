package netbeam_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wirekeeper/wirekeeper/internal/netbeamtest"
	"github.com/wirekeeper/wirekeeper/providers/collector/netbeam"
)

func TestStatusErrors(t *testing.T) {
	cases := []struct {
		name      string
		fail      int // FailNext code, 0 for none
		resource  string
		metric    string
		wantCode  int
		temporary bool
	}{
		{"503", 503, res, "traffic", 503, true},
		{"500", 500, res, "traffic", 500, true},
		{"429", 429, res, "traffic", 429, true},
		{"unknown resource", 0, "devices/nope/interfaces/xe-1%2F1", "traffic", 404, false},
		{"unknown metric", 0, res, "octets", 404, false},
		{"403", 403, res, "traffic", 403, false},
	}
	for _, c2 := range cases {
		t.Run(c2.name, func(t *testing.T) {
			s, c := rig(t, nil, netbeamtest.Iface("albq-asw1", "ge-0/0/1"))
			if c2.fail != 0 {
				s.FailNext(1, c2.fail)
			}
			_, err := c.Points(context.Background(), c2.resource, c2.metric, 0, 60_000)
			var se *netbeam.StatusError
			if !errors.As(err, &se) {
				t.Fatalf("error %v (%T), want a *StatusError", err, err)
			}
			wantURL := s.URL + "/api/network/esnet/prod/" + c2.resource + "/" + c2.metric + "?begin=0&end=60000"
			if diff := cmp.Diff([]any{c2.wantCode, wantURL, c2.temporary}, []any{se.Code, se.URL, se.Temporary()}); diff != "" {
				t.Errorf("code, URL, temporary (-want +got):\n%s", diff)
			}
			if se.Body == "" {
				t.Errorf("StatusError has no body")
			}
			// The request after a fault succeeds: nothing sticks in the client.
			if c2.fail != 0 {
				if _, err := c.Points(context.Background(), c2.resource, c2.metric, 0, 60_000); err != nil {
					t.Errorf("request after the fault: %v", err)
				}
			}
		})
	}
}

func TestStatusErrorBodyCappedAndNoCredentials(t *testing.T) {
	var gotUser, gotPass string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotUser, gotPass, _ = r.BasicAuth()
		w.WriteHeader(502)
		w.Write([]byte(strings.Repeat("x", 2000)))
	}))
	defer srv.Close()
	base := strings.Replace(srv.URL, "http://", "http://reader:s3cret@", 1)
	c, err := netbeam.New(netbeam.Options{BaseURL: base, Network: network})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Interfaces(context.Background())
	var se *netbeam.StatusError
	if !errors.As(err, &se) {
		t.Fatalf("error %v, want a *StatusError", err)
	}
	if len(se.Body) != 512 {
		t.Errorf("body of %d bytes kept, want 512", len(se.Body))
	}
	if strings.Contains(err.Error(), "s3cret") || strings.Contains(se.URL, "reader") {
		t.Errorf("credentials leak into the error: %v", err)
	}
	if gotUser != "reader" || gotPass != "s3cret" {
		t.Errorf("server saw basic auth %q:%q, want reader:s3cret", gotUser, gotPass)
	}
}

func TestMalformedJSON(t *testing.T) {
	s, c := rig(t, nil, netbeamtest.Iface("albq-asw1", "ge-0/0/1"))
	s.SetMalformed(true)
	_, err := c.Points(context.Background(), res, "traffic", 0, 600_000)
	if err == nil || !strings.Contains(err.Error(), s.URL+"/api/network/esnet/prod/"+res+"/traffic") {
		t.Errorf("points: error %v, want one naming the URL", err)
	}
	_, err = c.Interfaces(context.Background())
	if err == nil || !strings.Contains(err.Error(), "/api/network/esnet/prod/interfaces") {
		t.Errorf("interfaces: error %v, want one naming the URL", err)
	}
	var se *netbeam.StatusError
	if errors.As(err, &se) {
		t.Errorf("malformed JSON reported as a status error")
	}
}

func TestRequestTimeout(t *testing.T) {
	s, c := rig(t, func(o *netbeam.Options) { o.RequestTimeout = 100 * time.Millisecond }, netbeamtest.Iface("albq-asw1", "ge-0/0/1"))
	s.SetDelay(5 * time.Second)
	start := time.Now()
	_, err := c.Points(context.Background(), res, "traffic", 0, 60_000)
	elapsed := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "no complete response within 100ms") {
		t.Errorf("error %v, want a request timeout wrapping context.DeadlineExceeded", err)
	}
	if elapsed < 100*time.Millisecond || elapsed > 3*time.Second {
		t.Errorf("gave up after %s, want about 100ms", elapsed)
	}
	// The default timeout is long enough for a slow but healthy server.
	s.SetDelay(300 * time.Millisecond)
	c, err = netbeam.New(netbeam.Options{BaseURL: s.URL, Network: network, HTTPClient: s.Client()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Interfaces(context.Background()); err != nil {
		t.Errorf("slow response under the default timeout: %v", err)
	}
}

func TestContextCancel(t *testing.T) {
	s, c := rig(t, nil, netbeamtest.Iface("albq-asw1", "ge-0/0/1"))
	s.SetDelay(5 * time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err := c.Points(ctx, res, "traffic", 0, 60_000)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("returned after %s, want soon after the cancel", d)
	}
	if _, err := c.Interfaces(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("already cancelled: error %v, want context.Canceled", err)
	}
}

func TestBodyLimit(t *testing.T) {
	cases := []struct {
		name    string
		max     int64
		end     int64
		wantErr bool
	}{
		{"small window fits", 4096, 60_000, false},
		{"day of points is too large", 4096, 86_400_000, true},
	}
	for _, c2 := range cases {
		t.Run(c2.name, func(t *testing.T) {
			_, c := rig(t, func(o *netbeam.Options) { o.MaxBodyBytes = c2.max }, netbeamtest.Iface("albq-asw1", "ge-0/0/1"))
			_, err := c.Points(context.Background(), res, "traffic", 0, c2.end)
			if got := errors.Is(err, netbeam.ErrTooLarge); got != c2.wantErr {
				t.Errorf("error %v; ErrTooLarge %v, want %v", err, got, c2.wantErr)
			}
		})
	}
	// A body of exactly the limit is accepted.
	body := `{"points":[]}`
	s, c := rig(t, func(o *netbeam.Options) { o.MaxBodyBytes = int64(len(body)) }, netbeamtest.Iface("albq-asw1", "ge-0/0/1"))
	s.SetBody(res, "traffic", body)
	if _, err := c.Points(context.Background(), res, "traffic", 0, 1); err != nil {
		t.Errorf("body of exactly MaxBodyBytes: %v", err)
	}
}

func TestBadResourcesRefused(t *testing.T) {
	cases := []struct{ resource, metric string }{
		{"", "traffic"},
		{"/devices/a/interfaces/b", "traffic"},
		{"devices/../admin", "traffic"},
		{"devices/%2E%2E/admin", "traffic"},
		{"devices/a/interfaces/b?x=1", "traffic"},
		{"devices/a/interfaces/b#frag", "traffic"},
		{"devices/a/interfaces/ge-0/0/1 x", "traffic"},
		{"devices/a\\..\\b", "traffic"},
		{"devices//b", "traffic"},
		{"devices/a/interfaces/b%zz", "traffic"},
		{"devices/a/interfaces/é", "traffic"},
		{res, "traffic/../../x"},
		{res, ""},
		{res, "traffic?x"},
	}
	s, c := rig(t, nil, netbeamtest.Iface("albq-asw1", "ge-0/0/1"))
	for _, c2 := range cases {
		if _, err := c.Points(context.Background(), c2.resource, c2.metric, 0, 60_000); err == nil {
			t.Errorf("Points(%q, %q) was accepted", c2.resource, c2.metric)
		}
	}
	if n := len(s.Requests()); n != 0 {
		t.Errorf("%d requests reached the server, want none", n)
	}
	if err := netbeam.ValidateResource(res); err != nil {
		t.Errorf("ValidateResource(%q): %v", res, err)
	}
	if _, err := c.Points(context.Background(), res, "traffic", 60_000, 0); err == nil {
		t.Errorf("begin after end was accepted")
	}
}

func TestNewOptions(t *testing.T) {
	cases := []struct {
		name string
		opts netbeam.Options
		ok   bool
	}{
		{"defaults", netbeam.Options{BaseURL: "https://esnet-netbeam.appspot.com", Network: "esnet/prod"}, true},
		{"trailing slash and prefix", netbeam.Options{BaseURL: "https://h/x/", Network: "esnet/prod"}, true},
		{"unlimited rate", netbeam.Options{BaseURL: "https://h", Network: "n", RateLimit: posInf()}, true},
		{"no scheme", netbeam.Options{BaseURL: "esnet-netbeam.appspot.com", Network: "esnet/prod"}, false},
		{"ftp", netbeam.Options{BaseURL: "ftp://h", Network: "esnet/prod"}, false},
		{"query", netbeam.Options{BaseURL: "https://h?a=b", Network: "esnet/prod"}, false},
		{"no network", netbeam.Options{BaseURL: "https://h"}, false},
		{"hostile network", netbeam.Options{BaseURL: "https://h", Network: "../x"}, false},
		{"negative rate", netbeam.Options{BaseURL: "https://h", Network: "n", RateLimit: -1}, false},
		{"negative burst", netbeam.Options{BaseURL: "https://h", Network: "n", Burst: -1}, false},
		{"negative timeout", netbeam.Options{BaseURL: "https://h", Network: "n", RequestTimeout: -1}, false},
		{"negative body", netbeam.Options{BaseURL: "https://h", Network: "n", MaxBodyBytes: -1}, false},
	}
	for _, c2 := range cases {
		_, err := netbeam.New(c2.opts)
		if (err == nil) != c2.ok {
			t.Errorf("%s: New error %v, want ok=%v", c2.name, err, c2.ok)
		}
	}
}

func TestRedirectToOtherHostRefused(t *testing.T) {
	var hits atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer other.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/steal", http.StatusFound)
	}))
	defer srv.Close()
	c, err := netbeam.New(netbeam.Options{BaseURL: srv.URL, Network: network})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Interfaces(context.Background()); err == nil || !strings.Contains(err.Error(), "another host") {
		t.Errorf("error %v, want the redirect refused", err)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the other host got %d requests", n)
	}
}
