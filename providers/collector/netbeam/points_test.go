package netbeam_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/wirekeeper/wirekeeper/internal/netbeamtest"
	"github.com/wirekeeper/wirekeeper/providers/collector/netbeam"
)

var res = netbeamtest.Resource("albq-asw1", "ge-0/0/1")

// toPoints turns the stand-in's expected triples into Points.
func toPoints(exp [][3]float64) []netbeam.Point {
	var out []netbeam.Point
	for _, p := range exp {
		out = append(out, netbeam.Point{Timestamp: int64(p[0]), In: f(p[1]), Out: f(p[2])})
	}
	return out
}

func TestPointsSeries(t *testing.T) {
	s, c := rig(t, nil, netbeamtest.Iface("albq-asw1", "ge-0/0/1"), netbeamtest.Iface("chic-cr6", "1/1/c1/1"))
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).UnixMilli()
	cases := []struct {
		name, resource, metric string
		begin, end             int64
		wantN                  int
	}{
		{"traffic, 10 minutes", res, "traffic", now - 600_000, now, 20},
		{"errors, unaligned", res, "errors", now - 600_001, now + 1, 21},
		{"discards, 48 hours", netbeamtest.Resource("chic-cr6", "1/1/c1/1"), "discards", now - 48*3600_000, now, 5760},
		{"empty window", res, "traffic", now, now, 0},
	}
	for _, c2 := range cases {
		t.Run(c2.name, func(t *testing.T) {
			got, err := c.Points(context.Background(), c2.resource, c2.metric, c2.begin, c2.end)
			if err != nil {
				t.Fatalf("Points: %v", err)
			}
			want := toPoints(s.Expected(c2.resource, c2.metric, c2.begin, c2.end))
			if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("points (-want +got):\n%s", diff)
			}
			if len(got) != c2.wantN {
				t.Errorf("%d points, want %d", len(got), c2.wantN)
			}
		})
	}
}

// TestPointsPathStaysEncoded checks %2F reaches the server as %2F.
func TestPointsPathStaysEncoded(t *testing.T) {
	cases := []struct {
		name, prefix string
	}{{"root", ""}, {"path prefix", "/netbeam"}}
	for _, c2 := range cases {
		t.Run(c2.name, func(t *testing.T) {
			s, c := rig(t, nil, netbeamtest.Iface("albq-asw1", "ge-0/0/1"), netbeamtest.Iface("sunn-cr6", "et-1/0/0:2 (uplink)"))
			if c2.prefix != "" {
				// The stand-in serves only /api/...; a prefixed client must
				// send the prefix, which then 404s, visible in the log.
				c, _ = netbeam.New(netbeam.Options{BaseURL: s.URL + c2.prefix, Network: network, HTTPClient: s.Client()})
			}
			odd := netbeamtest.Resource("sunn-cr6", "et-1/0/0:2 (uplink)")
			for _, r := range []string{res, odd} {
				c.Points(context.Background(), r, "traffic", 0, 60_000)
			}
			var got []string
			for _, r := range s.Requests() {
				got = append(got, r.Path)
			}
			want := []string{
				c2.prefix + "/api/network/esnet/prod/devices/albq-asw1/interfaces/ge-0%2F0%2F1/traffic?begin=0&end=60000",
				c2.prefix + "/api/network/esnet/prod/devices/sunn-cr6/interfaces/et-1%2F0%2F0:2%20%28uplink%29/traffic?begin=0&end=60000",
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("request URIs (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPointsBodies(t *testing.T) {
	cases := []struct {
		name    string
		body    string
		want    []netbeam.Point
		wantErr string
	}{
		{"nulls and unknown keys", `{"agg":"30s","points":[[1000,1.5,null],[2000,null,2],[3000,0,0]],"meta":{"x":[1,2]},"z":null}`,
			[]netbeam.Point{{1000, n("1.5"), nil}, {2000, nil, n("2")}, {3000, n("0"), n("0")}}, ""},
		{"number text kept as sent", `{"points":[[1796400000000, 656332.0 ,1.5e+20],[1796400030000,1312000.0,-0.0],[1796400060000,1E3,2.50]]}`,
			[]netbeam.Point{{1796400000000, n("656332.0"), n("1.5e+20")}, {1796400030000, n("1312000.0"), n("-0.0")},
				{1796400060000, n("1E3"), n("2.50")}}, ""},
		{"number beyond float64", `{"points":[[1000,1e400,1]]}`, nil, "want [ts, in, out]"},
		{"points null", `{"points": null, "agg": "30s"}`, nil, ""},
		{"points empty", `{"points": []}`, nil, ""},
		{"exponent timestamp, extra column", `{"points":[[1.7e12,1e3,-2.5,"extra"]]}`,
			[]netbeam.Point{{1_700_000_000_000, n("1e3"), n("-2.5")}}, ""},
		{"no points key", `{"error":"backend busy"}`, nil, `no "points"`},
		{"short point", `{"points":[[1000,1]]}`, nil, "want [ts, in, out]"},
		{"fractional timestamp", `{"points":[[1000.5,1,2]]}`, nil, "integral"},
		{"null timestamp", `{"points":[[null,1,2]]}`, nil, "integral"},
		{"string value", `{"points":[[1000,"1",2]]}`, nil, "want [ts, in, out]"},
		{"not an object", `[[1000,1,2]]`, nil, "decoding the response"},
		{"trailing garbage", `{"points":[]} x`, nil, "decoding the response"},
	}
	s, c := rig(t, nil, netbeamtest.Iface("albq-asw1", "ge-0/0/1"))
	for _, c2 := range cases {
		t.Run(c2.name, func(t *testing.T) {
			s.SetBody(res, "traffic", c2.body)
			got, err := c.Points(context.Background(), res, "traffic", 0, 60_000)
			if c2.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c2.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, c2.wantErr)
				}
				if !strings.Contains(err.Error(), "ge-0%2F0%2F1/traffic") {
					t.Errorf("error %q does not name the URL", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Points: %v", err)
			}
			if diff := cmp.Diff(c2.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("points (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPointsEmptyResource(t *testing.T) {
	s, c := rig(t, nil, netbeamtest.Iface("albq-asw1", "ge-0/0/1"))
	s.SetEmpty(res, true)
	got, err := c.Points(context.Background(), res, "errors", 0, 3600_000)
	if err != nil || len(got) != 0 {
		t.Fatalf("got %d points, %v; want none", len(got), err)
	}
}

func TestPointMarshalJSON(t *testing.T) {
	b, err := netbeam.Point{Timestamp: 1_700_000_000_000, In: n("656332.0"), Out: nil}.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(`[1700000000000,656332.0,null]`, string(b)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
