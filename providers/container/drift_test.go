package container_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/wirekeeper/wirekeeper/internal/ovstest"
	"github.com/wirekeeper/wirekeeper/providers/container"
	"github.com/wirekeeper/wirekeeper/reconciler"
)

// TestDriftRepaired changes a plugged port behind wirekeeper's back, inside
// the container (address removed, link down, MTU changed, route deleted)
// and on the host (port row deleted, tag changed, host end down), and
// checks that each is repaired and logged in the drift report.
func TestDriftRepaired(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	a := ctrName(t, "d")
	env.docker.Run(t, a)
	r := newRig(t, env)
	r.apply(env.portDoc("pd", env.bridge, a, "eth1", "addresses: [10.62.0.1/24], gateway: 10.62.0.254, mtu: 1400, vlan: 7"))
	r.waitPhase("pd", reconciler.PhaseReady)
	host := container.HostEnd(container.PortName(env.node, a, "eth1"))

	inSync := func(what string) {
		t.Helper()
		r.waitFor(what+" repaired", func() bool {
			l, ok := env.docker.Link(t, a, "eth1")
			return ok && l.Up && l.MTU == 1400 && slices.Equal(l.Addrs, []string{"10.62.0.1/24"}) &&
				env.docker.DefaultGateway(t, a) == "10.62.0.254" && env.column(t, "Port", host, "tag") == "7" &&
				slices.Contains(env.ports(t), host)
		})
		r.waitPhase("pd", reconciler.PhaseReady)
	}
	cases := []struct {
		name  string
		drift func()
		field string // a path the drift event must name
	}{
		{"address removed", func() { env.docker.IP(t, a, "addr", "del", "10.62.0.1/24", "dev", "eth1") }, "spec.addresses"},
		{"link down", func() { env.docker.IP(t, a, "link", "set", "eth1", "down") }, "link.container.up"},
		{"MTU changed", func() { env.docker.IP(t, a, "link", "set", "eth1", "mtu", "1300") }, "spec.mtu"},
		{"route deleted", func() { env.docker.IP(t, a, "route", "del", "default") }, "spec.gateway"},
		{"tag changed", func() { ovstest.Vsctl(t, env.ovs.DB, "set", "Port", host, "tag=99") }, "spec.vlan"},
		{"port row deleted", func() { ovstest.Vsctl(t, env.ovs.DB, "del-port", env.bridge, host) }, "spec.bridge"},
		{"host end down", func() {
			if out, err := exec.Command("ip", "-n", env.ovs.Netns, "link", "set", host, "down").CombinedOutput(); err != nil {
				t.Fatalf("ip link set down: %v: %s", err, out)
			}
		}, "link.host.up"},
	}
	for _, c := range cases {
		before := len(r.drifts("pd"))
		c.drift()
		inSync(c.name)
		r.waitFor(c.name+" in the drift report", func() bool { return len(r.drifts("pd")) > before })
		ev := r.drifts("pd")[0]
		var paths []string
		for _, d := range ev.Diff {
			paths = append(paths, d.Path)
		}
		if !slices.Contains(paths, c.field) {
			t.Errorf("%s: drift event names %v, want %s among them", c.name, paths, c.field)
		}
		r.waitFor(c.name+" marked repaired", func() bool { return r.drifts("pd")[0].Repaired })
	}
}

// TestDriftObserved reports drift under policy observe and changes nothing.
func TestDriftObserved(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	a := ctrName(t, "o")
	env.docker.Run(t, a)
	r := newRig(t, env)
	doc := env.portDoc("po", env.bridge, a, "eth1", "addresses: [10.63.0.1/24]")
	r.apply(doc)
	r.waitPhase("po", reconciler.PhaseReady)
	r.apply(strings.TrimSuffix(doc, "}") + ", policy: observe}")
	r.waitPhase("po", reconciler.PhaseReady)

	env.docker.IP(t, a, "addr", "del", "10.63.0.1/24", "dev", "eth1")
	r.waitPhase("po", reconciler.PhaseDrifted, "policy observe")
	if l, _ := env.docker.Link(t, a, "eth1"); len(l.Addrs) != 0 {
		t.Errorf("eth1 addresses = %v under policy observe; want the drift left alone", l.Addrs)
	}
	if ev := r.drifts("po"); len(ev) == 0 || ev[0].Repaired || ev[0].Policy != "observe" {
		t.Errorf("drift events = %+v, want one unrepaired under observe", ev)
	}
}
