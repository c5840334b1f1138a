package ovstest

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// uuids returns the _uuid of each named record of table, sorted.
func uuids(t *testing.T, o *OVS, table string, names ...string) []string {
	t.Helper()
	var ids []string
	for _, n := range names {
		ids = append(ids, o.Vsctl(t, "get", table, n, "_uuid"))
	}
	sort.Strings(ids)
	return ids
}

// uuidSet parses an ovs-vsctl set of uuids, "[a, b]" or a lone "a".
func uuidSet(s string) []string {
	s = strings.Trim(s, "[]")
	if s == "" {
		return nil
	}
	ids := strings.Split(s, ", ")
	sort.Strings(ids)
	return ids
}

func TestMirrorWatchCreate(t *testing.T) {
	t.Parallel()
	for _, vswitchd := range []bool{true, false} {
		t.Run(fmt.Sprintf("vswitchd=%v", vswitchd), func(t *testing.T) {
			o := Start(t, Options{Vswitchd: vswitchd})
			o.AddBridge(t, "br0")
			o.AddPorts(t, "br0", []string{"a", "b", "c", "out"})
			create := MirrorWatchCreate
			if !vswitchd {
				create = MirrorWatchCreateNoWait
			}
			if err := create(o.DB, "br0", "m1", []string{"a", "b"}, []string{"c"}, "out"); err != nil {
				t.Fatal(err)
			}
			if err := create(o.TCP, "br0", "m2", []string{"c"}, nil, "out"); err != nil {
				t.Fatal(err)
			}
			if err := create(o.DB, "br0", "m3", nil, nil, "nosuchport"); err == nil {
				t.Errorf("MirrorWatchCreate with a missing output port succeeded")
			}

			// Both mirrors stay attached: add, not OVSMirrorWatch's set.
			if diff := cmp.Diff(uuids(t, o, "Mirror", "m1", "m2"),
				uuidSet(o.Vsctl(t, "get", "Bridge", "br0", "mirrors"))); diff != "" {
				t.Errorf("Bridge br0 mirrors (-want +got):\n%s", diff)
			}
			for _, c := range []struct{ column, want []string }{
				{[]string{"m1", "select_src_port"}, uuids(t, o, "Port", "a", "b")},
				{[]string{"m1", "select_dst_port"}, uuids(t, o, "Port", "c")},
				{[]string{"m1", "output_port"}, uuids(t, o, "Port", "out")},
				{[]string{"m2", "select_src_port"}, uuids(t, o, "Port", "c")},
				{[]string{"m2", "select_dst_port"}, nil},
			} {
				got := uuidSet(o.Vsctl(t, "get", "Mirror", c.column[0], c.column[1]))
				if diff := cmp.Diff(c.want, got); diff != "" {
					t.Errorf("Mirror %s %s (-want +got):\n%s", c.column[0], c.column[1], diff)
				}
			}

			out, err := MirrorWatchList(o.DB)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Count(out, "\nname "); got != 2 {
				t.Errorf("MirrorWatchList lists %d mirrors, want 2:\n%s", got, out)
			}
		})
	}
}

// BenchmarkMirrorWatchCreate measures OVSMirrorWatch's cost per mirror: one
// ovs-vsctl invocation that waits for a running vswitchd.
func BenchmarkMirrorWatchCreate(b *testing.B) {
	benchmarkMirrorWatchCreate(b, true)
}

// BenchmarkMirrorWatchCreateNoWait is the same invocation without vswitchd.
func BenchmarkMirrorWatchCreateNoWait(b *testing.B) {
	benchmarkMirrorWatchCreate(b, false)
}

func benchmarkMirrorWatchCreate(b *testing.B, vswitchd bool) {
	o := Start(b, Options{Vswitchd: vswitchd})
	o.AddBridge(b, "br0")
	o.AddPorts(b, "br0", []string{"a", "b", "c", "out"})
	create := MirrorWatchCreate
	if !vswitchd {
		create = MirrorWatchCreateNoWait
	}
	b.ResetTimer()
	for i := range b.N {
		if err := create(o.DB, "br0", fmt.Sprintf("m%d", i), []string{"a", "b"}, []string{"c"}, "out"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMirrorWatchList measures one detection poll over 100 mirrors.
func BenchmarkMirrorWatchList(b *testing.B) {
	o := Start(b, Options{})
	o.AddBridge(b, "br0")
	o.AddPorts(b, "br0", []string{"a", "out"})
	for i := range 100 {
		if err := MirrorWatchCreateNoWait(o.DB, "br0", fmt.Sprintf("m%d", i), []string{"a"}, nil, "out"); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for range b.N {
		if _, err := MirrorWatchList(o.DB); err != nil {
			b.Fatal(err)
		}
	}
}
