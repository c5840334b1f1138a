package netbeamtest

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// get fetches s.URL+uri with the stand-in's client, sending uri unchanged.
func get(t *testing.T, s *Server, uri string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.URL+uri, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func TestRouting(t *testing.T) {
	for _, start := range []struct {
		name string
		fn   func(testing.TB, string) *Server
	}{{"tls", Start}, {"plain", StartPlain}} {
		t.Run(start.name, func(t *testing.T) {
			s := start.fn(t, "esnet/prod")
			s.SetInterfaces(Iface("albq-asw1", "ge-0/0/1"))
			res := "devices/albq-asw1/interfaces/ge-0%2F0%2F1"
			cases := []struct {
				uri  string
				want int
			}{
				{"/api/network/esnet/prod/interfaces", 200},
				{"/api/network/esnet/prod/" + res + "/traffic?begin=0&end=60000", 200},
				{"/api/network/esnet/prod/" + res + "/errors?begin=0&end=60000", 200},
				{"/api/network/esnet/prod/devices/albq-asw1/interfaces/ge-0/0/1/traffic?begin=0&end=60000", 404},
				{"/api/network/esnet/prod/" + res + "/octets?begin=0&end=60000", 404},
				{"/api/network/esnet/prod/devices/x/interfaces/y/traffic?begin=0&end=60000", 404},
				{"/api/network/esnet/test/interfaces", 404},
				{"/api/network/esnet/prod/" + res + "/traffic?end=60000", 400},
			}
			for _, c := range cases {
				if got, body := get(t, s, c.uri); got != c.want {
					t.Errorf("GET %s: status %d (%s), want %d", c.uri, got, body, c.want)
				}
			}
		})
	}
}

func TestInterfacesBody(t *testing.T) {
	s := Start(t, "esnet/prod")
	if _, body := get(t, s, "/api/network/esnet/prod/interfaces"); body != "[]" {
		t.Errorf("no interfaces set: body %q, want []", body)
	}
	a, b := Iface("albq-asw1", "ge-0/0/1"), Iface("chic-cr6", "1/1/c1/1")
	s.SetInterfaces(a, b)
	_, body := get(t, s, "/api/network/esnet/prod/interfaces")
	var got []map[string]any
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	want := []map[string]any{}
	for _, i := range []map[string]any{a, b} {
		enc, _ := json.Marshal(i)
		var m map[string]any
		json.Unmarshal(enc, &m)
		want = append(want, m)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("interfaces (-want +got):\n%s", diff)
	}
	if got[1]["resource"] != "devices/chic-cr6/interfaces/1%2F1%2Fc1%2F1" {
		t.Errorf("resource %v is not encoded as Netbeam does", got[1]["resource"])
	}
	if !strings.Contains(body, "12345678901234567890") || !strings.Contains(body, "\n  ") {
		t.Errorf("body lacks the big integer or the indentation:\n%s", body)
	}
}

func TestPointsMatchExpected(t *testing.T) {
	s := Start(t, "esnet/prod")
	s.SetInterfaces(Iface("albq-asw1", "ge-0/0/1"))
	res := Resource("albq-asw1", "ge-0/0/1")
	cases := []struct {
		name       string
		step       time.Duration
		begin, end int64
		wantTS     []float64
	}{
		{"aligned begin is included, end excluded", 30 * time.Second, 60000, 150000, []float64{60000, 90000, 120000}},
		{"unaligned begin rounds up", 30 * time.Second, 60001, 150001, []float64{90000, 120000, 150000}},
		{"empty window", 30 * time.Second, 60000, 60000, nil},
		{"step 10s", 10 * time.Second, 0, 30000, []float64{0, 10000, 20000}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s.SetStep(c.step)
			exp := s.Expected(res, "traffic", c.begin, c.end)
			var ts []float64
			for _, p := range exp {
				ts = append(ts, p[0])
				if p[1] != In(res, "traffic", int64(p[0])) || p[2] != Out(res, "traffic", int64(p[0])) {
					t.Errorf("point %v does not follow In/Out", p)
				}
			}
			if diff := cmp.Diff(c.wantTS, ts); diff != "" {
				t.Errorf("timestamps (-want +got):\n%s", diff)
			}
			_, body := get(t, s, "/api/network/esnet/prod/"+res+"/traffic?begin="+itoa(c.begin)+"&end="+itoa(c.end))
			var got struct {
				Points [][3]float64
				Agg    string
			}
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(exp, got.Points); diff != "" {
				t.Errorf("served points (-Expected +served):\n%s", diff)
			}
			if got.Agg != c.step.String() {
				t.Errorf("agg %q, want %q", got.Agg, c.step)
			}
		})
	}
	if got := s.Expected("devices/nope/interfaces/x", "traffic", 0, 60000); got != nil {
		t.Errorf("Expected of an unknown resource = %v, want nil", got)
	}
	if In(res, "traffic", 30000) == In(Resource("albq-asw1", "ge-0/0/2"), "traffic", 30000) &&
		In(res, "traffic", 30000) == In(res, "errors", 30000) {
		t.Errorf("series do not differ by resource or metric")
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestFaults(t *testing.T) {
	s := Start(t, "esnet/prod")
	s.SetInterfaces(Iface("albq-asw1", "ge-0/0/1"))
	res := Resource("albq-asw1", "ge-0/0/1")
	points := "/api/network/esnet/prod/" + res + "/traffic?begin=0&end=90000"

	s.FailNext(2, 503)
	var codes []int
	for range 3 {
		code, _ := get(t, s, points)
		codes = append(codes, code)
	}
	if diff := cmp.Diff([]int{503, 503, 200}, codes); diff != "" {
		t.Errorf("FailNext(2, 503) statuses (-want +got):\n%s", diff)
	}

	s.SetEmpty(res, true)
	if _, body := get(t, s, points); body != `{"points": []}` {
		t.Errorf("SetEmpty body %q", body)
	}
	if got := s.Expected(res, "traffic", 0, 90000); got == nil || len(got) != 0 {
		t.Errorf("Expected while empty = %#v, want empty non-nil", got)
	}
	s.SetEmpty(res, false)

	s.SetMalformed(true)
	for _, uri := range []string{points, "/api/network/esnet/prod/interfaces"} {
		if _, body := get(t, s, uri); json.Valid([]byte(body)) {
			t.Errorf("malformed GET %s: body %q is valid JSON", uri, body)
		}
	}
	s.SetMalformed(false)

	s.SetBody(res, "traffic", `{"points": null}`)
	if _, body := get(t, s, points); body != `{"points": null}` {
		t.Errorf("SetBody body %q", body)
	}
	s.SetBody(res, "traffic", "")

	s.SetDelay(200 * time.Millisecond)
	start := time.Now()
	get(t, s, points)
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("delayed response came after %s, want >= 200ms", d)
	}
	s.SetDelay(0)

	reqs := s.Requests()
	last := reqs[len(reqs)-1]
	want := Request{Path: points, Resource: res, Metric: "traffic", Begin: 0, End: 90000, Status: 200}
	last.Time = time.Time{}
	if diff := cmp.Diff(want, last); diff != "" {
		t.Errorf("last request (-want +got):\n%s", diff)
	}
	if len(reqs) != 8 {
		t.Errorf("%d requests logged, want 8", len(reqs))
	}
}

// TestConcurrentFaults runs requests while faults change, for -race.
func TestConcurrentFaults(t *testing.T) {
	s := StartPlain(t, "esnet/prod")
	s.SetInterfaces(Iface("albq-asw1", "ge-0/0/1"))
	res := Resource("albq-asw1", "ge-0/0/1")
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				resp, err := s.Client().Get(s.URL + "/api/network/esnet/prod/" + res + "/errors?begin=0&end=60000")
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
		s.FailNext(1, 500)
		s.SetEmpty(res, i%2 == 0)
		s.SetMalformed(i%3 == 0)
		s.SetStep(time.Duration(i+1) * time.Second)
		s.SetInterfaces(Iface("albq-asw1", "ge-0/0/1"))
	}
	wg.Wait()
	if n := len(s.Requests()); n != 80 {
		t.Errorf("%d requests logged, want 80", n)
	}
}

// TestDelayedHandlerReleasedAtCleanup checks a long delay does not hold up
// the end of the test.
func TestDelayedHandlerReleasedAtCleanup(t *testing.T) {
	start := time.Now()
	t.Run("inner", func(t *testing.T) {
		s := StartPlain(t, "esnet/prod")
		s.SetDelay(time.Hour)
		go func() {
			resp, err := s.Client().Get(s.URL + "/api/network/esnet/prod/interfaces")
			if err == nil {
				resp.Body.Close()
			}
		}()
		for len(s.Requests()) == 0 {
			time.Sleep(5 * time.Millisecond)
		}
	})
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("cleanup took %s with a delayed request in flight", d)
	}
}
