package ovsdb

import (
	"testing"

	"github.com/wirekeeper/wirekeeper/internal/ovs"
	"github.com/wirekeeper/wirekeeper/internal/ovs/vswitch"
)

// TestStatisticsTickIgnored: a Mirror update that only changes the values
// of its statistics wakes nothing; one that makes them appear or disappear,
// or changes another column, does.
func TestStatisticsTickIgnored(t *testing.T) {
	row := func(stats map[string]int, all bool) *vswitch.Mirror {
		return &vswitch.Mirror{UUID: "u1", Name: "m", SelectAll: all, Statistics: stats}
	}
	applied := map[string]int{"tx_packets": 1, "tx_bytes": 60}
	more := map[string]int{"tx_packets": 2, "tx_bytes": 120}
	for _, c := range []struct {
		name     string
		old, new *vswitch.Mirror
		want     bool
	}{
		{"values changed", row(applied, true), row(more, true), true},
		{"statistics appeared", row(nil, true), row(applied, true), false},
		{"statistics gone", row(applied, true), row(nil, true), false},
		{"another column changed", row(applied, true), row(more, false), false},
		{"row added", nil, row(applied, true), false},
	} {
		ev := ovs.Event{Table: "Mirror", New: c.new}
		if c.old != nil {
			ev.Old = c.old
		}
		if got := statisticsTick(ev); got != c.want {
			t.Errorf("%s: statisticsTick = %v, want %v", c.name, got, c.want)
		}
	}
}
