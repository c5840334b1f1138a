package container

import (
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/wirekeeper/wirekeeper/internal/ovs"
	"github.com/wirekeeper/wirekeeper/internal/topology"
	"github.com/wirekeeper/wirekeeper/reconciler"
)

// plugged is what the last observe of a ContainerPort found, kept for the
// topology: it is refreshed by every observe, which the Docker events, the
// netlink subscriptions and the OVSDB monitor trigger.
type plugged struct {
	container, containerID, netns string
	status, image, imageID        string
	pid                           int
	manager, hostEnd, iface       string
	mac                           string
	mtu                           int
	up                            bool
	addrs                         string // comma-separated, in the order found
}

// remember records what l found for ref (or forgets ref when l is nil or
// has no plugged port) and signals the topology when that changed.
func (p *Provider) remember(ref reconciler.Ref, l *live) {
	var now *plugged
	if l != nil && l.c != nil && l.c.Running && l.row != nil && l.link != nil {
		a := l.link.Attrs()
		now = &plugged{container: l.c.Name, containerID: l.c.ID, netns: netnsPath(l.c),
			status: l.c.Status, image: l.c.Image, imageID: l.c.ImageID, pid: l.c.PID, manager: l.ps.Manager(),
			hostEnd: l.row.Name, iface: a.Name, mac: a.HardwareAddr.String(), mtu: a.MTU, up: a.Flags&net.FlagUp != 0}
		addrs := make([]string, len(l.addrs))
		for i, pfx := range l.addrs {
			addrs[i] = pfx.String()
		}
		now.addrs = strings.Join(addrs, ",")
	}
	p.mu.Lock()
	old := p.plugged[ref]
	if now == nil {
		delete(p.plugged, ref)
	} else {
		p.plugged[ref] = now
	}
	p.mu.Unlock()
	if (old == nil) != (now == nil) || (old != nil && *old != *now) {
		p.topo.Fire()
	}
}

func netnsPath(c *ctr) string {
	if c.SandboxKey != "" {
		return c.SandboxKey
	}
	return "/proc/" + strconv.Itoa(c.PID) + "/ns/net"
}

// Topology implements topology.Source: for every plugged ContainerPort,
// the container's netns (host -> netns ownership), the container (netns ->
// container ownership) and the container end of the veth pair (netns ->
// interface ownership), linked to the OVS interface of the host end
// (layer2, Type veth) as SkyDive's Docker and netlink probes link them.
// The container carries its data under Container (containerMetadata), as
// SkyDive's Docker probe does, and under Docker as before.
func (p *Provider) Topology(g *topology.Graph) {
	p.mu.Lock()
	ports := make(map[reconciler.Ref]plugged, len(p.plugged))
	for r, pl := range p.plugged {
		ports[r] = *pl
	}
	p.mu.Unlock()
	host := g.Host()
	for ref, pl := range ports {
		nsID := topology.ID(host, "netns", pl.container)
		g.AddNode(topology.PartContainers, nsID, topology.Metadata{"Type": "netns", "Name": pl.container, "Path": pl.netns, "Manager": "docker"})
		g.Link(g.HostID(), nsID, topology.Ownership, nil)
		cID := topology.ID(host, "container", pl.container)
		g.AddNode(topology.PartContainers, cID, topology.Metadata{"Type": "container", "Name": pl.container, "Manager": "docker",
			"Container": containerMetadata(pl),
			"Docker":    topology.Metadata{"ContainerID": pl.containerID, "ContainerName": pl.container}})
		g.Link(nsID, cID, topology.Ownership, nil)
		iID := topology.ID(host, "interface", "netns", pl.container, pl.iface)
		state := "DOWN"
		if pl.up {
			state = "UP"
		}
		md := topology.Metadata{"Type": "veth", "Name": pl.iface, "MAC": pl.mac, "MTU": pl.mtu, "State": state}
		if pl.addrs != "" {
			var v4, v6 []string
			for _, a := range strings.Split(pl.addrs, ",") {
				if strings.Contains(a, ":") {
					v6 = append(v6, a)
				} else {
					v4 = append(v4, a)
				}
			}
			if v4 != nil {
				md["IPV4"] = slices.Sorted(slices.Values(v4))
			}
			if v6 != nil {
				md["IPV6"] = slices.Sorted(slices.Values(v6))
			}
		}
		if n := g.AddNode(topology.PartContainers, iID, md); n != nil {
			n.Object = ref.String()
		}
		g.Link(nsID, iID, topology.Ownership, nil)
		g.Link(ovs.InterfaceNodeID(host, pl.manager, pl.hostEnd), iID, topology.Layer2, topology.Metadata{"Type": "veth"})
	}
}

// containerMetadata is the container as SkyDive's analyzer holds it: its
// ContainerMetadata structure, which the analyzer decodes the Container
// key into, in the form it stores (and serves) it, so that its copy is the
// one published. ID, Runtime, Status, InitProcessPID and Hosts are always
// there, Image and ImageID only when known. Hosts is empty: SkyDive's
// probe reads the container's /etc/hosts there, which wirekeeper does not.
// Labels are not published (see the README's Limits).
func containerMetadata(pl plugged) topology.Metadata {
	md := topology.Metadata{"ID": pl.containerID, "Runtime": "docker", "Status": pl.status,
		"InitProcessPID": pl.pid, "Hosts": topology.Metadata{}}
	if pl.image != "" {
		md["Image"] = pl.image
	}
	if pl.imageID != "" {
		md["ImageID"] = pl.imageID
	}
	return md
}

// OnTopologyChange implements topology.Source.
func (p *Provider) OnTopologyChange(f func()) { p.topo.Add(f) }
