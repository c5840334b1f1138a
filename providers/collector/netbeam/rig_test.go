package netbeam_test

import (
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/wirekeeper/wirekeeper/internal/netbeamtest"
	"github.com/wirekeeper/wirekeeper/providers/collector/netbeam"
)

const network = "esnet/prod"

// rig starts a TLS stand-in serving ifaces and a client for it; tweak edits
// the client options before New.
func rig(t *testing.T, tweak func(*netbeam.Options), ifaces ...map[string]any) (*netbeamtest.Server, *netbeam.Client) {
	t.Helper()
	s := netbeamtest.Start(t, network)
	s.SetInterfaces(ifaces...)
	opts := netbeam.Options{BaseURL: s.URL + "/", Network: network, HTTPClient: s.Client()}
	if tweak != nil {
		tweak(&opts)
	}
	c, err := netbeam.New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s, c
}

// fixedServer answers every request with status and body, for response
// shapes and statuses the stand-in does not produce on its own.
func fixedServer(t *testing.T, status int, body string) *netbeam.Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	c, err := netbeam.New(netbeam.Options{BaseURL: srv.URL, Network: network})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// f is v as the stand-in's series writes it (Go's encoding of a float64).
func f(v float64) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// n is number text as Netbeam wrote it.
func n(text string) json.RawMessage { return json.RawMessage(text) }

func posInf() float64 { return math.Inf(1) }
