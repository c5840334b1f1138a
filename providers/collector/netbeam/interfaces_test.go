package netbeam_test

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wirekeeper/wirekeeper/internal/netbeamtest"
	"github.com/wirekeeper/wirekeeper/providers/collector/netbeam"
)

func TestInterfacesRoundTrip(t *testing.T) {
	ifaces := []map[string]any{
		netbeamtest.Iface("albq-asw1", "ge-0/0/1"),
		netbeamtest.Iface("chic-cr6", "1/1/c1/1"),
		{"resource": "devices/x/interfaces/lo0", "brand-new": map[string]any{"k": []any{1.5, nil}}},
	}
	s, c := rig(t, nil, ifaces...)
	got, err := c.Interfaces(context.Background())
	if err != nil {
		t.Fatalf("Interfaces: %v", err)
	}

	// What the server put on the wire, element by element.
	resp, err := s.Client().Get(s.URL + "/api/network/esnet/prod/interfaces")
	if err != nil {
		t.Fatal(err)
	}
	wire, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var elems []json.RawMessage
	if err := json.Unmarshal(wire, &elems); err != nil {
		t.Fatal(err)
	}
	var want []netbeam.Interface
	for i, e := range elems {
		want = append(want, netbeam.Interface{Resource: ifaces[i]["resource"].(string), Raw: e})
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("interfaces (-want +got):\n%s", diff)
	}
	if got[0].Resource != "devices/albq-asw1/interfaces/ge-0%2F0%2F1" {
		t.Errorf("resource %q lost its encoding", got[0].Resource)
	}
	// Byte for byte: the indentation, the integer beyond float64 and the
	// escaped HTML survive, which no decode/re-encode would keep.
	for _, frag := range []string{"\n    \"device\": \"albq-asw1\"", "12345678901234567890", `\u003ca\u0026b\u003e`} {
		if !strings.Contains(string(got[0].Raw), frag) {
			t.Errorf("Raw lacks %q:\n%s", frag, got[0].Raw)
		}
	}
}

func TestInterfacesShapes(t *testing.T) {
	cases := []struct {
		name    string
		ifaces  []map[string]any
		want    int
		wantErr string
	}{
		{"none", nil, 0, ""},
		{"no resource", []map[string]any{{"name": "ge-0/0/1"}}, 0, `interface 0 has no string "resource"`},
		{"numeric resource", []map[string]any{netbeamtest.Iface("a", "b"), {"resource": 7}}, 0, `interface 1 has no string "resource"`},
		{"hostile resource is returned for the caller to check", []map[string]any{{"resource": "../../admin"}}, 1, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, cl := rig(t, nil, c.ifaces...)
			got, err := cl.Interfaces(context.Background())
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != c.want {
				t.Errorf("%d interfaces, want %d", len(got), c.want)
			}
		})
	}
}

func TestInterfacesNullAndNonArray(t *testing.T) {
	// The stand-in only serves arrays; these shapes need a server of their own.
	for body, wantErr := range map[string]string{
		"null":              "",
		`{"interfaces":[]}`: "decoding the response",
		`["x"]`:             "interface 0 is not an object",
		`[] []`:             "unexpected data after the JSON value",
	} {
		t.Run(body, func(t *testing.T) {
			c := fixedServer(t, 200, body)
			got, err := c.Interfaces(context.Background())
			if wantErr == "" {
				if err != nil || len(got) != 0 {
					t.Fatalf("got %v, %v; want no interfaces, no error", got, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), wantErr) {
				t.Fatalf("error %v, want one containing %q", err, wantErr)
			}
		})
	}
}
