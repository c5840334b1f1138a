package ovstest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseStats(t *testing.T) {
	tests := []struct {
		in      string
		want    map[string]int
		wantErr bool
	}{
		{in: "{}", want: map[string]int{}},
		{in: "{tx_bytes=0, tx_packets=0}", want: map[string]int{"tx_bytes": 0, "tx_packets": 0}},
		{in: `{collisions=0, "rx_bytes"=1234, rx_packets=9}` + "\n",
			want: map[string]int{"collisions": 0, "rx_bytes": 1234, "rx_packets": 9}},
		{in: "[]", wantErr: true},
		{in: "{rx_packets}", wantErr: true},
		{in: "{rx_packets=x}", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseStats(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseStats(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("parseStats(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func portNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("p%d", i)
	}
	return names
}

func TestAddPorts(t *testing.T) {
	t.Parallel()
	o := Start(t, Options{})
	o.AddBridge(t, "br0")
	names := portNames(AddPortsChunk*2 + 5) // three invocations, the last short
	start := time.Now()
	o.AddPorts(t, "br0", names)
	t.Logf("%d ports in %v", len(names), time.Since(start))

	got := strings.Fields(o.Vsctl(t, "list-ports", "br0"))
	if len(got) != len(names) {
		t.Fatalf("list-ports br0: %d ports, want %d", len(got), len(names))
	}
	last := names[len(names)-1]
	if typ := o.Vsctl(t, "get", "Interface", last, "type"); typ != "internal" {
		t.Errorf("type of %s = %q, want internal", last, typ)
	}
	if got, want := o.Vsctl(t, "get", "Port", last, "interfaces"),
		"["+o.Vsctl(t, "get", "Interface", last, "_uuid")+"]"; got != want {
		t.Errorf("Port %s interfaces = %s, want its Interface %s", last, got, want)
	}
}

// BenchmarkAddPorts10k measures the scale benchmark's setup: 10,000 internal
// ports on a private ovsdb-server without vswitchd.
func BenchmarkAddPorts10k(b *testing.B) {
	names := portNames(10000)
	for range b.N {
		b.StopTimer()
		o := Start(b, Options{})
		o.AddBridge(b, "br0")
		b.StartTimer()
		AddPorts(b, o.DB, "br0", names, true)
	}
}
