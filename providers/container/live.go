package container

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"

	"github.com/wirekeeper/wirekeeper/internal/ovs"
	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/spec"
)

// live is what one look at a ContainerPort found.
type live struct {
	sp  *spec.ContainerPortSpec
	ps  *ovs.Ports
	c   *ctr // nil when there is no such container
	ns  *ctrNS
	row *ovs.PortRow // the OVS port: ours, else ovs-docker's, else another node's
	// rows are every port for this container interface, ours or not.
	rows []ovs.PortRow
	// hostEnd names the veth host end: the port's name, else the one
	// PortName derives.
	hostEnd string
	host    netlink.Link // nil when missing
	// link is the container end, named as the spec says and peered with
	// host; clash is a link of that name that is not.
	link   netlink.Link
	clash  netlink.Link
	addrs  []netip.Prefix  // global addresses of link
	routes []netlink.Route // routes of the main table through link
	owned  bool
}

// ids are the external_ids a port of sp carries: ovs-docker's pair, and
// wirekeeper's markers.
func (p *Provider) ids(ref reconciler.Ref, sp *spec.ContainerPortSpec) map[string]string {
	return map[string]string{
		ovs.KeyContainerID: sp.Container, ovs.KeyContainerIface: sp.Interface,
		ovs.KeyOwner: p.opts.Node, ovs.KeyKind: ref.Kind, ovs.KeyName: ref.Name,
	}
}

// ours reports whether external_ids carry this node's marker for ref.
func (p *Provider) ours(ref reconciler.Ref, ids map[string]string) bool {
	return ids[ovs.KeyOwner] == p.opts.Node && ids[ovs.KeyKind] == ref.Kind && ids[ovs.KeyName] == ref.Name
}

// look reads everything about a desired port: the container, its OVS
// port, both veth ends and the container end's configuration.
func (p *Provider) look(ctx context.Context, req reconciler.Request) (*live, error) {
	sp := req.Desired.Spec.(*spec.ContainerPortSpec)
	ps, err := p.opts.OVS.Ports(ctx, req.Set, sp.Manager)
	if err != nil {
		return nil, err
	}
	d, err := p.dockerEngine(ctx)
	if err != nil {
		return nil, err
	}
	c, err := d.resolve(ctx, sp.Container)
	if err != nil {
		return nil, err
	}
	l := &live{sp: sp, ps: ps, c: c}
	refs := []string{sp.Container}
	if c != nil {
		refs = append(refs, c.refs()...)
	}
	if l.rows, err = ps.Find(refs, sp.Interface); err != nil {
		return nil, err
	}
	marked, err := ps.MarkedAs(p.opts.Node, Kind, req.Ref.Name)
	if err != nil {
		return nil, err
	}
	for _, r := range marked {
		if !slices.ContainsFunc(l.rows, func(x ovs.PortRow) bool { return x.UUID == r.UUID }) {
			l.rows = append(l.rows, r)
		}
	}
	l.row = p.pick(req.Ref, l.rows)
	l.hostEnd = HostEnd(PortName(p.opts.Node, sp.Container, sp.Interface))
	if l.row != nil {
		l.hostEnd = l.row.Name
		l.owned = p.ours(req.Ref, l.row.ExternalIDs)
	}
	p.mu.Lock()
	p.hostEnds[l.hostEnd] = req.Ref
	p.mu.Unlock()
	if l.host, err = linkByName(p.ns.host, l.hostEnd); err != nil {
		return nil, wrapPerm("read host link "+l.hostEnd, err)
	}
	if l.row == nil && l.host != nil && aliasObject(p.opts.Node, l.host.Attrs().Alias) == req.Ref.Name {
		l.owned = true // a veth of ours whose port was never made
	}
	if c == nil || !c.Running {
		return l, nil
	}
	if l.ns, err = p.ns.forContainer(c); err != nil {
		return nil, err
	}
	link, err := linkByName(l.ns.h, sp.Interface)
	if err != nil {
		return nil, wrapPerm("read link "+sp.Interface+" of container "+c.Name, err)
	}
	if link != nil && l.host == nil && link.Type() == "veth" {
		// The port row is gone (ovs-vsctl del-port) and with it the host
		// end's name, which for an adopted ovs-docker port is not the
		// derived one: find the host end as the container end's peer.
		if h, err := p.ns.host.LinkByIndex(link.Attrs().ParentIndex); err == nil && h.Type() == "veth" &&
			strings.HasSuffix(h.Attrs().Name, "_l") && h.Attrs().ParentIndex == link.Attrs().Index {
			l.host, l.hostEnd = h, h.Attrs().Name
			if aliasObject(p.opts.Node, h.Attrs().Alias) == req.Ref.Name {
				l.owned = true
			}
		}
	}
	if link != nil {
		if l.peered(link) {
			l.link = link
		} else {
			l.clash = link
		}
	}
	if l.link != nil {
		if err := l.readConfig(); err != nil {
			return nil, wrapPerm("read the configuration of "+sp.Interface+" in container "+c.Name, err)
		}
	}
	return l, nil
}

// pick chooses the port that is the object's: this node's, else one
// ovs-docker made (adoptable), else another owner's (in the way).
func (p *Provider) pick(ref reconciler.Ref, rows []ovs.PortRow) *ovs.PortRow {
	for _, want := range []func(ids map[string]string) bool{
		func(ids map[string]string) bool { return p.ours(ref, ids) },
		func(ids map[string]string) bool { return ids[ovs.KeyOwner] == "" },
		func(map[string]string) bool { return true },
	} {
		for i := range rows {
			if want(rows[i].ExternalIDs) {
				return &rows[i]
			}
		}
	}
	return nil
}

// peered reports whether link is the other end of the host end's veth.
func (l *live) peered(link netlink.Link) bool {
	if link.Type() != "veth" || l.host == nil {
		return false
	}
	return link.Attrs().ParentIndex == l.host.Attrs().Index && l.host.Attrs().ParentIndex == link.Attrs().Index
}

// readConfig reads the container end's addresses and routes.
func (l *live) readConfig() error {
	addrs, err := l.ns.h.AddrList(l.link, netlink.FAMILY_ALL)
	if err != nil {
		return err
	}
	l.addrs = l.addrs[:0]
	for _, a := range addrs {
		if pfx, ok := prefixOf(a.IPNet); ok && !pfx.Addr().IsLinkLocalUnicast() {
			l.addrs = append(l.addrs, pfx)
		}
	}
	l.routes, err = l.ns.h.RouteList(l.link, netlink.FAMILY_ALL)
	return err
}

func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(a.Unmap(), ones), true
}

// linkByName returns the link of that name, nil when there is none.
func linkByName(h *netlink.Handle, name string) (netlink.Link, error) {
	l, err := h.LinkByName(name)
	var nf netlink.LinkNotFoundError
	if errors.As(err, &nf) {
		return nil, nil
	}
	return l, err
}

// intact reports whether the veth pair is there, so that a repair can fix
// the rest in place (the OVS port included) instead of plugging anew.
func (l *live) intact() bool { return l.host != nil && l.link != nil }

// Observe implements reconciler.Provider.
func (p *Provider) Observe(ctx context.Context, req reconciler.Request) (reconciler.Observation, error) {
	if err := p.start(); err != nil {
		return reconciler.Observation{}, err
	}
	p.useSet(req.Set)
	if req.Desired == nil {
		left, err := p.leftovers(ctx, req)
		if err != nil {
			return reconciler.Observation{}, err
		}
		p.remember(req.Ref, nil)
		return reconciler.Observation{Exists: left.any(), Owned: true}, nil
	}
	l, err := p.look(ctx, req)
	if err != nil {
		return reconciler.Observation{}, err
	}
	p.remember(req.Ref, l)
	sp := l.sp
	if l.c == nil || !l.c.Running {
		msg := fmt.Sprintf("container %s is not running; its port is plugged when it starts", sp.Container)
		if l.c == nil {
			msg = fmt.Sprintf("there is no container %s on this node's Docker engine; its port is plugged when it starts", sp.Container)
		}
		obs := reconciler.Observation{Pending: msg}
		if l.owned && (l.row != nil || l.host != nil) {
			obs.Exists, obs.Owned, obs.Stale = true, true, true
			if sp.Policy == spec.PolicyObserve {
				obs.Pending += "; its stale OVS port is left in place (policy observe)"
			}
		}
		return obs, nil
	}
	if ok, err := l.ps.BridgeExists(sp.Bridge); err != nil {
		return reconciler.Observation{}, err
	} else if !ok && l.row == nil {
		return reconciler.Observation{Pending: fmt.Sprintf("bridge %s does not exist on manager %s", sp.Bridge, l.ps.Manager())}, nil
	}
	obs := reconciler.Observation{Exists: l.row != nil || l.link != nil || (l.host != nil && l.owned)}
	if !obs.Exists {
		return obs, nil
	}
	obs.Owned = l.owned
	obs.Adoptable = !l.owned && l.row != nil && l.row.ExternalIDs[ovs.KeyOwner] == ""
	obs.Live, obs.Extra = p.liveSpec(l)
	if l.row != nil && l.row.Error != "" {
		obs.Degraded = fmt.Sprintf("ovs-vswitchd cannot use port %s: %s", l.row.Name, l.row.Error)
	}
	return obs, nil
}

// liveSpec renders what l found as a ContainerPortSpec, values in the
// spec's spelling where they mean the same (addresses, MAC, gateway,
// routes), plus
// the differences the spec type cannot hold (links down). The engine takes
// node, manager and policy from the spec and puts the addresses in its
// order.
func (p *Provider) liveSpec(l *live) (*spec.ContainerPortSpec, []reconciler.FieldDiff) {
	sp := l.sp
	out := &spec.ContainerPortSpec{Container: sp.Container}
	var extra []reconciler.FieldDiff
	if l.row != nil {
		out.Bridge = l.row.Bridge
		out.VLAN = l.row.Tag
	}
	if l.host != nil && l.host.Attrs().Flags&net.FlagUp == 0 {
		extra = append(extra, reconciler.FieldDiff{Path: "link.host.up", From: false, To: true})
	}
	if l.link == nil {
		return out, extra
	}
	a := l.link.Attrs()
	out.Interface = sp.Interface
	if a.Flags&net.FlagUp == 0 {
		extra = append(extra, reconciler.FieldDiff{Path: "link.container.up", From: false, To: true})
	}
	if sp.MTU != nil {
		mtu := a.MTU
		out.MTU = &mtu
	}
	if sp.MACAddress != "" {
		out.MACAddress = a.HardwareAddr.String()
		if strings.EqualFold(out.MACAddress, sp.MACAddress) {
			out.MACAddress = sp.MACAddress
		}
	}
	// Addresses in the spec's spelling where they are the spec's.
	for _, h := range l.addrs {
		a := h.String()
		for _, s := range sp.Addresses {
			if want, err := netip.ParsePrefix(s); err == nil && want == h {
				a = s
			}
		}
		out.Addresses = append(out.Addresses, a)
	}
	out.Gateway, out.Routes = liveRoutes(sp, l.routes)
	return out, extra
}

// leftovers are what remains of a port being removed: its OVS ports (this
// node's marker) and veth host ends (this node's alias).
type leftovers struct {
	rows  map[*ovs.Ports][]ovs.PortRow
	links []netlink.Link
}

func (l leftovers) any() bool {
	for _, r := range l.rows {
		if len(r) > 0 {
			return true
		}
	}
	return len(l.links) > 0
}

// leftovers finds what is left of req.Ref on the node's managers (the one
// its spec names, or all) and on the host side.
func (p *Provider) leftovers(ctx context.Context, req reconciler.Request) (leftovers, error) {
	out := leftovers{rows: map[*ovs.Ports][]ovs.PortRow{}}
	var managers []string
	for _, o := range []*spec.Object{req.Desired, req.Last} {
		if o != nil {
			if sp, ok := o.Spec.(*spec.ContainerPortSpec); ok && sp.Manager != "" {
				managers = []string{sp.Manager}
				break
			}
		}
	}
	idx := p.currentIndex()
	if len(managers) == 0 || !idx.managers[managers[0]] {
		managers = slices.Sorted(maps.Keys(idx.managers))
	}
	for _, m := range managers {
		ps, err := p.opts.OVS.Ports(ctx, req.Set, m)
		if err != nil {
			return out, err
		}
		rows, err := ps.MarkedAs(p.opts.Node, Kind, req.Ref.Name)
		if err != nil {
			return out, err
		}
		if len(rows) > 0 {
			out.rows[ps] = rows
		}
	}
	links, err := p.ns.host.LinkList()
	if err != nil {
		return out, wrapPerm("list host links", err)
	}
	for _, l := range links {
		if aliasObject(p.opts.Node, l.Attrs().Alias) == req.Ref.Name {
			out.links = append(out.links, l)
		}
	}
	return out, nil
}
