package ovsdb

import (
	"maps"
	"slices"

	"github.com/wirekeeper/wirekeeper/internal/topology"
	"github.com/wirekeeper/wirekeeper/providers/ovsdb/vswitch"
)

// Topology implements topology.Source: the bridges, ports, interfaces and
// mirrors of every connected manager of the node, from the monitors'
// views, shaped as SkyDive's own OVSDB probe shapes them (host ->
// bridge ownership, bridge -> port ownership and layer2, port ->
// interface layer2), plus the mirrors (bridge -> mirror ownership,
// mirror -> port mirroring with a Direction). Metadata goes where the
// analyzer keeps it: Ovs holds only non-empty fields of SkyDive's
// OvsMetadata (a bridge's OtherConfig and Protocols), a port's tag is
// Vlans as in SkyDive's probe, and what SkyDive has no field for (trunks,
// VLAN mode, fail mode) is under WireKeeperOvs.
func (p *Provider) Topology(g *topology.Graph) {
	p.mu.Lock()
	conns := make([]*conn, 0, len(p.conns))
	for _, c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	for _, c := range conns {
		if _, v, err := c.current(); err == nil {
			p.managerTopology(g, c.name, v)
		}
	}
}

// OnTopologyChange implements topology.Source: every row event and
// connection change of a manager.
func (p *Provider) OnTopologyChange(f func()) { p.topo.Add(f) }

// BridgeNodeID, PortNodeID and InterfaceNodeID are the graph IDs of the
// OVS rows of manager on host, for other sources linking to them.
func BridgeNodeID(host, manager, bridge string) string {
	return topology.ID(host, "ovsbridge", manager, bridge)
}

// PortNodeID is the graph ID of a port; see BridgeNodeID.
func PortNodeID(host, manager, port string) string {
	return topology.ID(host, "ovsport", manager, port)
}

// InterfaceNodeID is the graph ID of an interface; see BridgeNodeID.
func InterfaceNodeID(host, manager, iface string) string {
	return topology.ID(host, "interface", manager, iface)
}

func (p *Provider) managerTopology(g *topology.Graph, manager string, v *view) {
	host := g.Host()
	v.mu.RLock()
	defer v.mu.RUnlock()
	for _, b := range v.bridges {
		bid := BridgeNodeID(host, manager, b.Name)
		md := topology.Metadata{"Type": "ovsbridge", "Name": b.Name, "UUID": b.UUID, "Manager": manager}
		ovs := topology.Metadata{}
		if len(b.OtherConfig) > 0 {
			ovs["OtherConfig"] = maps.Clone(b.OtherConfig)
		}
		if len(b.Protocols) > 0 {
			ovs["Protocols"] = sortedStrings(b.Protocols)
		}
		setNonEmpty(md, "Ovs", ovs)
		if b.FailMode != nil {
			md[topology.KeyOwnOvs] = topology.Metadata{"FailMode": string(*b.FailMode)}
		}
		p.mark(g.AddNode(topology.PartBridges, bid, md), b.ExternalIDs)
		g.Link(g.HostID(), bid, topology.Ownership, nil)
		for pid := range b.portSet {
			if port := v.ports[pid]; port != nil {
				g.Fragment("port/"+manager+"/"+b.Name+"/"+pid, v.portGen[pid], func() { p.portTopology(g, manager, bid, port, v) })
			}
		}
		p.mirrorTopology(g, manager, bid, b, v)
	}
}

func (p *Provider) portTopology(g *topology.Graph, manager, bridgeID string, port *vswitch.Port, v *view) {
	host := g.Host()
	pid := PortNodeID(host, manager, port.Name)
	md := topology.Metadata{"Type": "ovsport", "Name": port.Name, "UUID": port.UUID, "Manager": manager}
	if port.Tag != nil {
		md[topology.KeyVlans] = *port.Tag // SkyDive's probe: the tag, a number
	}
	own := topology.Metadata{}
	if len(port.Trunks) > 0 {
		own["Trunks"] = slices.Sorted(slices.Values(port.Trunks))
	}
	if port.VLANMode != nil {
		own["VLANMode"] = string(*port.VLANMode)
	}
	setNonEmpty(md, topology.KeyOwnOvs, own)
	pn := g.AddNode(topology.PartPorts, pid, md)
	p.mark(pn, port.ExternalIDs)
	g.Link(bridgeID, pid, topology.Ownership, nil)
	g.Link(bridgeID, pid, topology.Layer2, nil)
	for _, iid := range port.Interfaces {
		iface := v.ifaces[iid]
		if iface == nil {
			continue
		}
		nid := InterfaceNodeID(host, manager, iface.Name)
		md := topology.Metadata{"Type": interfaceType(iface), "Name": iface.Name, "UUID": iface.UUID, "Driver": "openvswitch", "Manager": manager}
		if iface.Ofport != nil {
			md["OfPort"] = *iface.Ofport
		}
		if iface.MACInUse != nil {
			md["MAC"] = *iface.MACInUse
		}
		if iface.MTU != nil {
			md["MTU"] = *iface.MTU
		}
		if iface.LinkState != nil {
			md["State"] = *iface.LinkState
		}
		in := g.AddNode(topology.PartInterfaces, nid, md)
		p.mark(in, iface.ExternalIDs)
		if pn != nil && pn.Object == "" && in != nil {
			pn.Object = in.Object // a container port's markers are on its interface
		}
		g.Link(pid, nid, topology.Layer2, nil)
		if peer := iface.Options["peer"]; iface.Type == "patch" && peer != "" && iface.Name < peer {
			g.Link(nid, InterfaceNodeID(host, manager, peer), topology.Layer2, topology.Metadata{"Type": "patch"})
		}
	}
}

// interfaceType is the OVS interface type, or what SkyDive's netlink probe
// would call the kernel device behind a "system" interface.
func interfaceType(i *vswitch.Interface) string {
	switch {
	case i.Type != "":
		return i.Type
	case i.ExternalIDs["container_id"] != "":
		return "veth"
	}
	return "device"
}

func (p *Provider) mirrorTopology(g *topology.Graph, manager, bridgeID string, b *bridgeRow, v *view) {
	host := g.Host()
	// Mirror names are not unique in OVSDB; a name used twice on a bridge
	// is told apart by the rows' UUIDs.
	named := map[string]int{}
	for mid := range b.mirrorSet {
		if m := v.mirrors[mid]; m != nil {
			named[m.Name]++
		}
	}
	for mid := range b.mirrorSet {
		m := v.mirrors[mid]
		if m == nil {
			continue
		}
		key := []string{host, "ovsmirror", manager, b.Name, m.Name}
		if named[m.Name] > 1 {
			key = append(key, m.UUID)
		}
		id := topology.ID(key...)
		md := topology.Metadata{"Type": "ovsmirror", "Name": m.Name, "UUID": m.UUID, "Manager": manager, "SelectAll": m.SelectAll}
		if m.OutputVLAN != nil {
			md["OutputVLAN"] = *m.OutputVLAN
		}
		if len(m.SelectVLAN) > 0 {
			md["SelectVLAN"] = slices.Sorted(slices.Values(m.SelectVLAN))
		}
		p.mark(g.AddNode(topology.PartMirrors, id, md), m.ExternalIDs)
		g.Link(bridgeID, id, topology.Ownership, nil)
		link := func(ports []string, dir string) {
			for _, pu := range ports {
				if name := v.portName(pu); name != "" {
					g.Link(id, PortNodeID(host, manager, name), topology.Mirroring, topology.Metadata{"Direction": dir})
				}
			}
		}
		link(m.SelectSrcPort, "src")
		link(m.SelectDstPort, "dst")
		if m.OutputPort != nil {
			link([]string{*m.OutputPort}, "output")
		}
	}
}

// mark records on n the spec object its row's markers name, when this
// node manages it, and keeps the external_ids as SkyDive's ExtID.
func (p *Provider) mark(n *topology.Node, ids map[string]string) {
	if n == nil {
		return
	}
	if len(ids) > 0 {
		n.Metadata["ExtID"] = maps.Clone(ids)
	}
	if k := markerKey(ids); k != "" && p.owns(ids) {
		n.Object = k
	}
}

// setNonEmpty sets md[key] to v unless v is empty: the analyzer drops an
// empty Ovs field, and an empty key says nothing.
func setNonEmpty(md topology.Metadata, key string, v topology.Metadata) {
	if len(v) > 0 {
		md[key] = v
	}
}

func sortedStrings[S ~string](in []S) []string {
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = string(s)
	}
	slices.Sort(out)
	return out
}
