package container

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/wirekeeper/wirekeeper/internal/ovs"
	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/spec"
)

// The labels the OVS Port Manager reads its settings from (seed-systems.md).
const (
	labelIP        = "ovs.ip_address"
	labelBridge    = "ovs.bridge"
	labelGateway   = "ovs.gateway"
	labelMTU       = "ovs.mtu"
	labelMAC       = "ovs.mac_address"
	labelVLAN      = "ovs.vlan"
	labelInterface = "ovs.interface"
)

// Imported is one ContainerPort found on the host, and where it came from.
type Imported struct {
	Spec *spec.ContainerPortSpec
	// From is "ovs-docker" (an OVS port with its external_ids) or
	// "port-manager" (a container with the OVS Port Manager's labels: its
	// port as plugged when there is one, read from the host as ovs-docker's
	// are, else as the labels say).
	From string
}

// Import returns the ContainerPorts of what runs on the host today, for
// `wirekeeper import`: every port ovs-docker made on manager (an Interface
// with external_ids container_id and container_iface and no wirekeeper
// marker), with the address, MAC, MTU, routes and VLAN read from the
// container's namespace and OVS; and every running container carrying the
// OVS Port Manager's labels, as the labels say. set must hold the
// OVSManager manager of this node. skipped lists what cannot be
// expressed, with why. It only reads.
func (p *Provider) Import(ctx context.Context, set *spec.Set, manager string) (found []Imported, skipped []string, err error) {
	if err := p.start(); err != nil {
		return nil, nil, err
	}
	ps, err := p.opts.OVS.Ports(ctx, set, manager)
	if err != nil {
		return nil, nil, err
	}
	d, err := p.dockerEngine(ctx)
	if err != nil {
		return nil, nil, err
	}
	candidates, err := ovsDockerPorts(ps)
	if err != nil {
		return nil, nil, err
	}
	seen := map[string]bool{} // container ID/iface imported
	for _, r := range candidates {
		cid, iface := r.ExternalIDs[ovs.KeyContainerID], r.ExternalIDs[ovs.KeyContainerIface]
		c, err := d.resolve(ctx, cid)
		switch {
		case err != nil:
			return nil, nil, err
		case c == nil:
			skipped = append(skipped, fmt.Sprintf("port %s: container %s does not exist", r.Name, cid))
			continue
		case !c.Running:
			skipped = append(skipped, fmt.Sprintf("port %s: container %s is not running: its address, MAC and routes cannot be read", r.Name, cid))
			continue
		}
		sp, err := p.readPort(ctx, set, manager, cid, iface, r.Bridge)
		if err != nil {
			return nil, nil, fmt.Errorf("port %s of container %s: %w", r.Name, cid, err)
		}
		seen[c.ID+"/"+iface] = true
		from := "ovs-docker"
		if c.Labels[labelIP] != "" && c.Labels[labelInterface] == iface {
			// The Port Manager's port of its labels: it stores the full
			// ID; the spec names the container as an operator does.
			from, sp.Container = "port-manager", c.Name
		}
		found = append(found, Imported{Spec: sp, From: from})
	}
	d.mu.Lock()
	ctrs := slices.Collect(maps.Values(d.byID))
	d.mu.Unlock()
	slices.SortFunc(ctrs, func(a, b *ctr) int { return strings.Compare(a.Name, b.Name) })
	for _, c := range ctrs {
		if !c.Running || c.Labels[labelIP] == "" {
			continue // a running container's cache entry is its inspect, labels included
		}
		sp, why := fromLabels(p.opts.Node, manager, c)
		switch {
		case why != "":
			skipped = append(skipped, fmt.Sprintf("container %s: %s", c.Name, why))
		case seen[c.ID+"/"+sp.Interface]:
			// ovs-docker's port of the same interface is imported already
		default:
			found = append(found, Imported{Spec: sp, From: "port-manager"})
		}
	}
	return found, skipped, nil
}

// ovsDockerPorts are the manager's ports ovs-docker made: an interface
// with container_id and container_iface (what Containers indexes), no
// wirekeeper marker, on a bridge.
func ovsDockerPorts(ps *ovs.Ports) ([]ovs.PortRow, error) {
	rows, err := ps.Containers()
	return slices.DeleteFunc(rows, func(r ovs.PortRow) bool { return r.ExternalIDs[ovs.KeyOwner] != "" || r.Bridge == "" }), err
}

// readPort observes the port of container cid's interface iface as the
// provider does and renders what it found: the spec asks for every
// property (MTU, MAC) so that the live one is read.
func (p *Provider) readPort(ctx context.Context, set *spec.Set, manager, cid, iface, bridge string) (*spec.ContainerPortSpec, error) {
	zero := 0
	probe := &spec.ContainerPortSpec{Node: p.opts.Node, Manager: manager, Bridge: bridge, Container: cid, Interface: iface,
		MTU: &zero, MACAddress: "00:00:00:00:00:00"}
	ref := reconciler.Ref{Kind: Kind, Name: "import"}
	req := reconciler.Request{Ref: ref, Desired: &spec.Object{Kind: Kind, Spec: probe}, Set: set}
	l, err := p.look(ctx, req)
	if err != nil {
		return nil, err
	}
	if l.link == nil {
		return nil, fmt.Errorf("no interface %s in the container", iface)
	}
	sp, _ := p.liveSpec(l)
	sp.Node, sp.Manager, sp.Interface = p.opts.Node, manager, iface
	// One IPv4 default route is what ovs-docker's --gateway makes.
	var v4 []int
	for i, r := range sp.Routes {
		if r.To == "0.0.0.0/0" {
			v4 = append(v4, i)
		}
	}
	if len(v4) == 1 {
		sp.Gateway = sp.Routes[v4[0]].Via
		sp.Routes = slices.Delete(sp.Routes, v4[0], v4[0]+1)
	}
	if len(sp.Routes) == 0 {
		sp.Routes = nil
	}
	return sp, nil
}

// fromLabels is the ContainerPort the OVS Port Manager's labels on c ask
// for, or why it cannot be expressed.
func fromLabels(node, manager string, c *ctr) (*spec.ContainerPortSpec, string) {
	l := c.Labels
	sp := &spec.ContainerPortSpec{Node: node, Manager: manager, Container: c.Name, Bridge: l[labelBridge], Interface: l[labelInterface],
		Gateway: l[labelGateway], MACAddress: l[labelMAC]}
	if sp.Bridge == "" || sp.Interface == "" {
		return nil, "the " + labelBridge + " and " + labelInterface + " labels are both needed (the Port Manager's defaults are not known to wirekeeper)"
	}
	addr := l[labelIP]
	if _, err := netip.ParsePrefix(addr); err != nil {
		if ip, err := netip.ParseAddr(addr); err == nil {
			addr = netip.PrefixFrom(ip, ip.BitLen()).String() // a bare address: a host route's prefix
		} else {
			return nil, fmt.Sprintf("label %s=%q is not an address", labelIP, l[labelIP])
		}
	}
	sp.Addresses = []string{addr}
	var why string
	if sp.MTU, why = intLabel(l, labelMTU); why != "" {
		return nil, why
	}
	if sp.VLAN, why = intLabel(l, labelVLAN); why != "" {
		return nil, why
	}
	return sp, ""
}

// intLabel is the number label k holds (nil when unset), or why it is not
// one.
func intLabel(l map[string]string, k string) (*int, string) {
	v := l[k]
	if v == "" {
		return nil, ""
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return nil, fmt.Sprintf("label %s=%q is not a number", k, v)
	}
	return &n, ""
}
