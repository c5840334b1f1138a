package container_test

import (
	"context"
	"testing"

	"github.com/wirekeeper/wirekeeper/internal/ovs"
	"github.com/wirekeeper/wirekeeper/providers/container"
	"github.com/wirekeeper/wirekeeper/providers/ovsdb"
	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/reconciler/conformance"
	"github.com/wirekeeper/wirekeeper/spec"
)

// TestConformance runs the shared provider contract against the harness's
// real ovs-vswitchd and dockerd, the drift made inside the container.
func TestConformance(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	a := ctrName(t, "cf")
	set := loadSet(t, env.managerDoc("m1"), env.portDoc("conf-port", env.bridge, a, "eth1", "addresses: [10.70.0.1/24], mtu: 1400"))
	clients := ovs.New(ovs.Options{Node: env.node, Logger: testLogger(t)})
	mirrors := ovsdb.New(ovsdb.Options{Node: env.node, Logger: testLogger(t), OVS: clients})
	p := container.New(container.Options{Node: env.node, Logger: testLogger(t), OVS: clients, OVSNetns: env.ovs.Netns, DockerHost: env.docker.Host})
	t.Cleanup(func() { p.Close(); mirrors.Close() })
	manager := set.Get("OVSManager", "m1")
	conformance.Run(t, p, []conformance.Case{{
		Name: "port", Set: set, Ref: reconciler.Ref{Kind: container.Kind, Name: "conf-port"},
		Prepare: func(t *testing.T) {
			env.docker.Run(t, a)
			// The manager is connected first, as the engine would.
			err := mirrors.Apply(context.Background(), reconciler.Request{Ref: reconciler.RefOf(manager), Desired: manager, Set: set},
				reconciler.Change{Action: reconciler.ActionCreate})
			if err != nil {
				t.Fatal(err)
			}
		},
		Update: func(obj *spec.Object) {
			sp := obj.Spec.(*spec.ContainerPortSpec)
			sp.Addresses = append(sp.Addresses, "10.70.1.1/24")
			mtu, vlan := 1300, 12
			sp.MTU, sp.VLAN = &mtu, &vlan
		},
		Drift: func(t *testing.T) { env.docker.IP(t, a, "link", "set", "eth1", "mtu", "1500") },
	}})
}
