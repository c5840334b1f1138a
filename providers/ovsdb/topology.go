package ovsdb

import (
	"maps"
	"slices"

	"github.com/wirekeeper/wirekeeper/internal/ovs"
	"github.com/wirekeeper/wirekeeper/internal/ovs/vswitch"
	"github.com/wirekeeper/wirekeeper/internal/topology"
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
	for _, c := range p.ovs.Conns() {
		if _, v, err := c.Current(); err == nil {
			p.managerTopology(g, c.Name(), v)
		}
	}
}

// OnTopologyChange implements topology.Source: every row event and
// connection change of a manager.
func (p *Provider) OnTopologyChange(f func()) { p.topo.Add(f) }

func (p *Provider) managerTopology(g *topology.Graph, manager string, v *ovs.View) {
	host := g.Host()
	v.RLock()
	defer v.RUnlock()
	for _, b := range v.Bridges {
		bid := ovs.BridgeNodeID(host, manager, b.Name)
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
		for pid := range b.PortSet {
			if port := v.Ports[pid]; port != nil {
				g.Fragment("port/"+manager+"/"+b.Name+"/"+pid, v.PortGen[pid], func() { p.portTopology(g, manager, bid, port, v) })
			}
		}
		p.mirrorTopology(g, manager, bid, b, v)
	}
}

func (p *Provider) portTopology(g *topology.Graph, manager, bridgeID string, port *vswitch.Port, v *ovs.View) {
	host := g.Host()
	pid := ovs.PortNodeID(host, manager, port.Name)
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
		iface := v.Ifaces[iid]
		if iface == nil {
			continue
		}
		nid := ovs.InterfaceNodeID(host, manager, iface.Name)
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
			g.Link(nid, ovs.InterfaceNodeID(host, manager, peer), topology.Layer2, topology.Metadata{"Type": "patch"})
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

func (p *Provider) mirrorTopology(g *topology.Graph, manager, bridgeID string, b *ovs.BridgeRow, v *ovs.View) {
	host := g.Host()
	// Mirror names are not unique in OVSDB; a name used twice on a bridge
	// is told apart by the rows' UUIDs.
	named := map[string]int{}
	for mid := range b.MirrorSet {
		if m := v.Mirrors[mid]; m != nil {
			named[m.Name]++
		}
	}
	for mid := range b.MirrorSet {
		m := v.Mirrors[mid]
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
				if name := v.PortName(pu); name != "" {
					g.Link(id, ovs.PortNodeID(host, manager, name), topology.Mirroring, topology.Metadata{"Direction": dir})
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
	if k := ovs.MarkerKey(ids); k != "" && p.owns(ids) {
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
