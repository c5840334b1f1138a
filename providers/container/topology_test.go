package container_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wirekeeper/wirekeeper/internal/ovs"
	"github.com/wirekeeper/wirekeeper/internal/topology"
	"github.com/wirekeeper/wirekeeper/providers/container"
	"github.com/wirekeeper/wirekeeper/reconciler"
)

// TestTopologyOfAPluggedPort checks the container provider's part of the
// graph: netns (with its Path), container (with its Container and Docker
// keys) and the container end, linked to the OVS interface of the host
// end, following the port's life.
func TestTopologyOfAPluggedPort(t *testing.T) {
	env := newEnv(t)
	a := ctrName(t, "a")
	aID := env.docker.Run(t, a)
	r := newRig(t, env)
	fired := make(chan struct{}, 100)
	r.p.OnTopologyChange(func() {
		select {
		case fired <- struct{}{}:
		default:
		}
	})
	r.apply(env.portDoc("pa", env.bridge, a, "eth1", "addresses: [10.62.0.1/24, 'fd62::1/64'], mtu: 1400"))
	r.waitPhase("pa", reconciler.PhaseReady)
	if len(fired) == 0 {
		t.Error("plugging the port did not signal a topology change")
	}
	graph := func() *topology.Graph {
		g := topology.New(env.node, nil)
		r.ovs.Topology(g)
		r.p.Topology(g)
		g.Finish()
		return g
	}
	g := graph()
	node := func(typ, name string) *topology.Node {
		for _, n := range g.Nodes {
			if n.Metadata["Type"] == typ && n.Metadata["Name"] == name {
				return n
			}
		}
		t.Fatalf("no %s %s in the graph", typ, name)
		return nil
	}
	ns := node("netns", a)
	if p, _ := ns.Metadata["Path"].(string); p == "" {
		t.Errorf("netns has no Path: %v", ns.Metadata)
	}
	ctr := node("container", a)
	// As SkyDive's Docker probe has it, in the form its analyzer keeps.
	wantCtr := topology.Metadata{"ID": aID, "Runtime": "docker", "Status": "running", "InitProcessPID": env.docker.PID(t, a),
		"Image": env.docker.Image, "ImageID": env.docker.Inspect(t, a, "{{.Image}}"), "Hosts": topology.Metadata{}}
	if diff := cmp.Diff(wantCtr, ctr.Metadata["Container"]); diff != "" {
		t.Errorf("container's Container metadata (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(topology.Metadata{"ContainerID": aID, "ContainerName": a}, ctr.Metadata["Docker"]); diff != "" {
		t.Errorf("container's Docker metadata (-want +got):\n%s", diff)
	}
	eth1 := node("veth", "eth1")
	if eth1.Object != "ContainerPort/pa" || eth1.Metadata["MTU"] != 1400 || eth1.Metadata["State"] != "UP" ||
		!slices.Equal(eth1.Metadata["IPV4"].([]string), []string{"10.62.0.1/24"}) || !slices.Equal(eth1.Metadata["IPV6"].([]string), []string{"fd62::1/64"}) {
		t.Errorf("container end %+v", eth1)
	}
	hostEnd := ovs.InterfaceNodeID(env.node, "m1", container.HostEnd(container.PortName(env.node, a, "eth1")))
	if hn := g.Nodes[hostEnd]; hn == nil || hn.Metadata["Type"] != "veth" || hn.Object != "ContainerPort/pa" {
		t.Fatalf("host end interface node %+v", hn)
	}
	var links []string
	for _, e := range g.Edges {
		if e.Child == eth1.ID || e.Child == ctr.ID || e.Child == ns.ID {
			links = append(links, fmt.Sprintf("%s>%s %v", g.Nodes[e.Parent].Metadata["Type"], g.Nodes[e.Child].Metadata["Type"], e.Metadata))
		}
	}
	slices.Sort(links)
	want := []string{
		"host>netns map[RelationType:ownership]",
		"netns>container map[RelationType:ownership]",
		"netns>veth map[RelationType:ownership]",
		"veth>veth map[RelationType:layer2 Type:veth]",
	}
	if !slices.Equal(links, want) {
		t.Errorf("edges\n got %v\nwant %v", links, want)
	}

	// Stopped: the port is gone from OVS and the container from the graph.
	env.docker.StopContainer(t, a)
	r.waitPhase("pa", reconciler.PhasePending)
	r.waitFor("container gone from the graph", func() bool {
		for _, n := range graph().Nodes {
			if n.Metadata["Name"] == a {
				return false
			}
		}
		return true
	})
}
