package container_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/wirekeeper/wirekeeper/reconciler"
)

// routesOf lists the routes with a next hop through iface in the
// container's namespace, as "to via", sorted.
func routesOf(t *testing.T, env *env, ctr, iface string) []string {
	t.Helper()
	ns, err := netns.GetFromPath(fmt.Sprintf("/proc/%d/ns/net", env.docker.PID(t, ctr)))
	if err != nil {
		t.Fatalf("namespace of %s: %v", ctr, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatalf("netlink in %s: %v", ctr, err)
	}
	defer h.Close()
	link, err := h.LinkByName(iface)
	if err != nil {
		return nil
	}
	rs, err := h.RouteList(link, netlink.FAMILY_ALL)
	if err != nil {
		t.Fatalf("routes of %s in %s: %v", iface, ctr, err)
	}
	var out []string
	for _, r := range rs {
		if r.Gw == nil {
			continue
		}
		to := "0.0.0.0/0"
		if r.Gw.To4() == nil {
			to = "::/0"
		}
		if r.Dst != nil {
			to = r.Dst.String()
		}
		out = append(out, to+" via "+r.Gw.String())
	}
	slices.Sort(out)
	return out
}

// TestRoutesDualStackAndStatic plugs a dual-stack port with a default
// route per family (spec.gateway for IPv4, a ::/0 route for IPv6) and a
// static route per family, and a port whose spec.gateway is IPv6; then
// changes each route inside the container (deleted, moved to another next
// hop, an extra one added) and checks that each is repaired and reported,
// and that a route taken out of the spec is removed.
func TestRoutesDualStackAndStatic(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	a, b := ctrName(t, "r"), ctrName(t, "g")
	env.docker.Run(t, a)
	env.docker.Run(t, b)
	r := newRig(t, env)
	routes := `routes: [{to: "::/0", via: "fd72::fe"}, {to: 10.73.0.0/16, via: 10.72.0.253}, {to: "fd73::/48", via: "fd72::fd"}]`
	gw6 := env.portDoc("g6", env.bridge, b, "eth1", `addresses: ["fd75::1/64"], gateway: "fd75::fe"`)
	r.apply(env.portDoc("rt", env.bridge, a, "eth1", `addresses: [10.72.0.1/24, "fd72::1/64"], gateway: 10.72.0.254, `+routes), gw6)
	r.waitPhase("rt", reconciler.PhaseReady)
	r.waitPhase("g6", reconciler.PhaseReady)
	want := []string{"0.0.0.0/0 via 10.72.0.254", "10.73.0.0/16 via 10.72.0.253", "::/0 via fd72::fe", "fd73::/48 via fd72::fd"}
	if diff := cmp.Diff(want, routesOf(t, env, a, "eth1")); diff != "" {
		t.Fatalf("routes of %s (-want +got):\n%s", a, diff)
	}
	if diff := cmp.Diff([]string{"::/0 via fd75::fe"}, routesOf(t, env, b, "eth1")); diff != "" {
		t.Fatalf("routes of %s, IPv6 gateway (-want +got):\n%s", b, diff)
	}

	cases := []struct {
		name, port, ctr string
		drift           []string // ip arguments in the container
		want            []string
		field           string // a path the drift event must name
	}{
		{"IPv6 default route deleted", "rt", a, []string{"-6", "route", "del", "default"}, want, "spec.routes"},
		{"static route deleted", "rt", a, []string{"route", "del", "10.73.0.0/16"}, want, "spec.routes"},
		{"IPv6 static route moved", "rt", a, []string{"-6", "route", "replace", "fd73::/48", "via", "fd72::fa", "dev", "eth1"}, want, "spec.routes"},
		{"extra route added", "rt", a, []string{"route", "add", "10.74.0.0/16", "via", "10.72.0.250", "dev", "eth1"}, want, "spec.routes"},
		{"IPv4 gateway deleted", "rt", a, []string{"route", "del", "default"}, want, "spec.gateway"},
		{"IPv6 gateway deleted", "g6", b, []string{"-6", "route", "del", "default"}, []string{"::/0 via fd75::fe"}, "spec.gateway"},
	}
	for _, c := range cases {
		before := len(r.drifts(c.port))
		env.docker.IP(t, c.ctr, c.drift...)
		r.waitFor(c.name+" repaired", func() bool { return slices.Equal(routesOf(t, env, c.ctr, "eth1"), c.want) })
		r.waitFor(c.name+" in the drift report", func() bool { return len(r.drifts(c.port)) > before })
		var paths []string
		for _, d := range r.drifts(c.port)[0].Diff {
			paths = append(paths, d.Path)
		}
		if !slices.Contains(paths, c.field) {
			t.Errorf("%s: drift event names %v, want %s among them", c.name, paths, c.field)
		}
		r.waitPhase(c.port, reconciler.PhaseReady)
	}

	// A route taken out of the spec goes; the others stay.
	r.apply(env.portDoc("rt", env.bridge, a, "eth1", `addresses: [10.72.0.1/24, "fd72::1/64"], gateway: 10.72.0.254, routes: [{to: "::/0", via: "fd72::fe"}]`), gw6)
	r.waitFor("the static routes removed", func() bool {
		return slices.Equal(routesOf(t, env, a, "eth1"), []string{"0.0.0.0/0 via 10.72.0.254", "::/0 via fd72::fe"})
	})
	r.waitPhase("rt", reconciler.PhaseReady)
}
