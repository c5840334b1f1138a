package container_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/wirekeeper/wirekeeper/internal/dockertest"
	"github.com/wirekeeper/wirekeeper/internal/testenv"
	"github.com/wirekeeper/wirekeeper/providers/container"
	"github.com/wirekeeper/wirekeeper/reconciler"
)

// ctrName returns a fresh container name for the test.
func ctrName(t testing.TB, prefix string) string {
	t.Helper()
	return prefix + "-" + testenv.UniqueName(t)
}

// TestPlugPingAndVLANs plugs three containers into one bridge: two on VLAN
// 10 reach each other through their ports, the third on VLAN 20 reaches
// neither. Each port has ovs-docker's layout and external_ids plus
// wirekeeper's markers, and the container end has the spec's settings.
func TestPlugPingAndVLANs(t *testing.T) {
	env := newEnv(t)
	a, b, c := ctrName(t, "a"), ctrName(t, "b"), ctrName(t, "c")
	for _, n := range []string{a, b, c} {
		env.docker.Run(t, n)
	}
	r := newRig(t, env)
	r.apply(
		env.portDoc("pa", env.bridge, a, "eth1", "addresses: [10.61.0.1/24], gateway: 10.61.0.254, mtu: 1400, macAddress: '02:00:00:61:00:01', vlan: 10"),
		env.portDoc("pb", env.bridge, b, "eth1", "addresses: [10.61.0.2/24, 'fd61::2/64'], vlan: 10"),
		env.portDoc("pc", env.bridge, c, "eth1", "addresses: [10.61.0.3/24], vlan: 20"),
	)
	for _, n := range []string{"pa", "pb", "pc"} {
		r.waitPhase(n, reconciler.PhaseReady)
	}

	// The port: ovs-docker's names and external_ids, wirekeeper's markers.
	name := container.PortName(env.node, a, "eth1")
	host := container.HostEnd(name)
	if got := env.ports(t); !slices.Contains(got, host) || len(got) != 3 {
		t.Fatalf("ports of %s = %v, want 3 including %s", env.bridge, got, host)
	}
	for key, want := range map[string]string{
		"container_id": a, "container_iface": "eth1",
		"wirekeeper.io/owner": env.node, "wirekeeper.io/kind": "ContainerPort", "wirekeeper.io/name": "pa",
	} {
		if got := strings.Trim(env.column(t, "Interface", host, "external_ids:"+key), `"`); got != want {
			t.Errorf("Interface %s external_ids:%s = %q, want %q", host, key, got, want)
		}
	}
	if got := env.column(t, "Port", host, "tag"); got != "10" {
		t.Errorf("Port %s tag = %s, want 10", host, got)
	}

	// The container end.
	l, ok := env.docker.Link(t, a, "eth1")
	if !ok {
		t.Fatalf("container %s has no eth1: %+v", a, env.docker.Links(t, a))
	}
	if !l.Up || l.MTU != 1400 || l.MAC != "02:00:00:61:00:01" || !slices.Equal(l.Addrs, []string{"10.61.0.1/24"}) {
		t.Errorf("eth1 of %s = %+v, want up, MTU 1400, MAC 02:00:00:61:00:01, 10.61.0.1/24", a, l)
	}
	if gw := env.docker.DefaultGateway(t, a); gw != "10.61.0.254" {
		t.Errorf("default gateway of %s = %q, want 10.61.0.254", a, gw)
	}
	if lb, _ := env.docker.Link(t, b, "eth1"); !slices.Contains(lb.Addrs, "fd61::2/64") {
		t.Errorf("eth1 of %s = %+v, want fd61::2/64 among its addresses", b, lb)
	}

	// Traffic: same VLAN passes, another VLAN does not.
	if err := env.docker.Ping(t, a, "10.61.0.2"); err != nil {
		t.Errorf("ping from %s to %s on VLAN 10: %v", a, b, err)
	}
	if err := env.docker.Ping(t, b, "10.61.0.1"); err != nil {
		t.Errorf("ping from %s to %s on VLAN 10: %v", b, a, err)
	}
	if err := env.docker.Ping(t, c, "10.61.0.1"); err == nil {
		t.Errorf("ping from %s (VLAN 20) to %s (VLAN 10) succeeded; VLANs must isolate", c, a)
	}

	// Removing the spec removes the ports and the veth pairs.
	r.apply()
	r.waitFor("ports and veth pairs removed", func() bool {
		for _, n := range []string{a, b, c} {
			if _, ok := env.docker.Link(t, n, "eth1"); ok {
				return false
			}
		}
		return len(env.ports(t)) == 0
	})
	if got := env.hostLinks(t); slices.Contains(got, host) {
		t.Errorf("host end %s left behind: %v", host, got)
	}
}

var _ = dockertest.Shared
