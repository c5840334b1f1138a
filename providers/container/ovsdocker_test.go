package container_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/wirekeeper/wirekeeper/providers/container"
	"github.com/wirekeeper/wirekeeper/reconciler"
)

// TestOVSDockerInterop works both ways with Open vSwitch's own ovs-docker
// script: a port it made that matches a spec is adopted (kept, marked,
// recorded as adopted), not duplicated; its add-port refuses to plug over
// a wirekeeper port; its set-vlan and del-port work on wirekeeper's ports,
// and wirekeeper then puts the spec back.
func TestOVSDockerInterop(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	a := ctrName(t, "i")
	env.docker.Run(t, a)
	ovsDocker := func(args ...string) (string, error) {
		t.Helper()
		return env.docker.OVSDocker(t, env.ovs.Dir, env.ovs.Netns, args...)
	}
	if out, err := ovsDocker("add-port", env.bridge, "eth1", a, "--ipaddress=10.69.0.1/24", "--mtu=1400"); err != nil {
		t.Fatalf("ovs-docker add-port: %v\n%s", err, out)
	}
	made := env.ports(t)
	if len(made) != 1 {
		t.Fatalf("ovs-docker made ports %v, want one", made)
	}

	// Adoption: same container and interface; the spec adds a VLAN.
	r := newRig(t, env)
	r.apply(env.portDoc("pi", env.bridge, a, "eth1", "addresses: [10.69.0.1/24], mtu: 1400, vlan: 5"))
	r.waitPhase("pi", reconciler.PhaseReady)
	if got := env.ports(t); !slices.Equal(got, made) {
		t.Fatalf("ports after adoption = %v, want ovs-docker's %v kept and no other", got, made)
	}
	if got := env.column(t, "Port", made[0], "tag"); got != "5" {
		t.Errorf("tag of the adopted port = %s, want 5", got)
	}
	if got := strings.Trim(env.column(t, "Interface", made[0], "external_ids:wirekeeper.io/name"), `"`); got != "pi" {
		t.Errorf("the adopted port's marker = %q, want pi", got)
	}
	if ev := r.drifts("pi"); len(ev) == 0 || !ev[len(ev)-1].Adopted {
		t.Errorf("drift events = %+v, want the adoption recorded", ev)
	}

	// add-port refuses to plug the same container interface twice.
	out, err := ovsDocker("add-port", env.bridge, "eth1", a, "--ipaddress=10.69.0.9/24")
	if err == nil || !strings.Contains(out, "already attached") {
		t.Errorf("ovs-docker add-port over a wirekeeper port: err %v, output %q; want it refused", err, out)
	}

	// set-vlan works on the port; wirekeeper puts the spec's tag back.
	if out, err := ovsDocker("set-vlan", env.bridge, "eth1", a, "8"); err != nil {
		t.Fatalf("ovs-docker set-vlan: %v\n%s", err, out)
	}
	r.waitFor("tag back to 5", func() bool { return env.column(t, "Port", made[0], "tag") == "5" })

	// del-port works on the port; wirekeeper plugs it again, under its
	// own deterministic name.
	if out, err := ovsDocker("del-port", env.bridge, "eth1", a); err != nil {
		t.Fatalf("ovs-docker del-port: %v\n%s", err, out)
	}
	host := container.HostEnd(container.PortName(env.node, a, "eth1"))
	r.waitFor("port plugged again", func() bool {
		l, ok := env.docker.Link(t, a, "eth1")
		return ok && l.Up && slices.Equal(l.Addrs, []string{"10.69.0.1/24"}) && slices.Equal(env.ports(t), []string{host})
	})
	r.waitPhase("pi", reconciler.PhaseReady)

	// And del-port removes a port wirekeeper made from the start.
	if out, err := ovsDocker("del-port", env.bridge, "eth1", a); err != nil {
		t.Fatalf("ovs-docker del-port on wirekeeper's port: %v\n%s", err, out)
	}
	r.waitFor("port plugged again after the second del-port", func() bool {
		_, ok := env.docker.Link(t, a, "eth1")
		return ok && slices.Equal(env.ports(t), []string{host})
	})
	r.apply()
	r.waitFor("port removed", func() bool { return len(env.ports(t)) == 0 })
}

// TestOVSDockerDelPortForms runs the real `ovs-docker del-port BRIDGE
// IFACE CONTAINER` on ports wirekeeper plugged from specs naming the
// container by name, by full ID and by the 12-character ID `docker ps`
// shows. ovs-docker matches external_ids:container_id exactly, as it stored
// what it was given; wirekeeper stores the spec's form, so del-port (and
// del-ports, set-vlan) given that form removes the port, and another form
// of the same container finds nothing. The ports are plugged, then put
// under policy observe, so that a removal stays visible instead of being
// plugged again.
func TestOVSDockerDelPortForms(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	byName, byID, byShort := ctrName(t, "n"), ctrName(t, "f"), ctrName(t, "s")
	for _, c := range []string{byName, byID, byShort} {
		env.docker.Run(t, c)
	}
	id := func(c string) string { return strings.TrimSpace(env.docker.Inspect(t, c, "{{.Id}}")) }
	cases := []struct {
		port, ctr string // the object, and the container in the spec's form
		others    []string
	}{
		{"dn", byName, []string{id(byName), id(byName)[:12]}},
		{"df", id(byID), []string{byID, id(byID)[:12]}},
		{"ds", id(byShort)[:12], []string{byShort, id(byShort)}},
	}
	r := newRig(t, env)
	for _, policy := range []string{"enforce", "observe"} {
		var docs []string
		for i, c := range cases {
			docs = append(docs, env.portDoc(c.port, env.bridge, c.ctr, "eth1", fmt.Sprintf("addresses: [10.71.0.%d/24], policy: %s", i+1, policy)))
		}
		r.apply(docs...)
		for _, c := range cases {
			r.waitPhase(c.port, reconciler.PhaseReady)
		}
	}
	ovsDocker := func(args ...string) (string, error) {
		t.Helper()
		return env.docker.OVSDocker(t, env.ovs.Dir, env.ovs.Netns, args...)
	}
	for _, c := range cases {
		host := container.HostEnd(container.PortName(env.node, c.ctr, "eth1"))
		if got := strings.Trim(env.column(t, "Interface", host, "external_ids:container_id"), `"`); got != c.ctr {
			t.Errorf("%s: external_ids:container_id = %q, want the spec's %q", c.port, got, c.ctr)
		}
		for _, other := range c.others {
			out, err := ovsDocker("del-port", env.bridge, "eth1", other)
			if err == nil || !strings.Contains(out, "Failed to find any attached port") {
				t.Errorf("%s: ovs-docker del-port given %s instead of the spec's %s: err %v, output %q; want no port found", c.port, other, c.ctr, err, out)
			}
		}
		if out, err := ovsDocker("del-port", env.bridge, "eth1", c.ctr); err != nil {
			t.Fatalf("%s: ovs-docker del-port given the spec's %s: %v\n%s", c.port, c.ctr, err, out)
		}
		if slices.Contains(env.ports(t), host) || slices.Contains(env.hostLinks(t), host) {
			t.Errorf("%s: after ovs-docker del-port, port %s still on %s or its veth still there", c.port, host, env.bridge)
		}
		r.waitPhase(c.port, reconciler.PhaseDrifted, "policy observe")
	}
}
