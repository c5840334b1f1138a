package container

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/wirekeeper/wirekeeper/internal/ovs"
	"github.com/wirekeeper/wirekeeper/reconciler"
)

// The steps of a plug, in ovs-docker's order except that the host end is
// up before it becomes an OVS port (see plug); tests fail each in turn.
const (
	stepVeth    = "veth"
	stepHostUp  = "host-up"
	stepPort    = "ovs-port"
	stepRename  = "rename"
	stepUp      = "up"
	stepMTU     = "mtu"
	stepAddress = "address"
	stepMAC     = "mac"
	stepRoute   = "route"
)

// Steps lists the plug steps in order.
var Steps = []string{stepVeth, stepHostUp, stepPort, stepRename, stepUp, stepMTU, stepAddress, stepMAC, stepRoute}

// errCrash, returned by a test hook, stops a plug where it is without
// undoing anything, as a daemon killed at that point would.
var errCrash = errors.New("crashed (test)")

func (p *Provider) step(name string) error {
	if hook := p.hook.Load(); hook != nil {
		return (*hook)(name)
	}
	return nil
}

// Apply implements reconciler.Provider: a batch of one.
func (p *Provider) Apply(ctx context.Context, req reconciler.Request, ch reconciler.Change) error {
	return p.ApplyBatch(ctx, []reconciler.Apply{{Req: req, Change: ch}})[0]
}

// ApplyBatch implements reconciler.BatchApplier: the ports are plugged,
// repaired or removed independently, Workers at a time.
func (p *Provider) ApplyBatch(ctx context.Context, items []reconciler.Apply) []error {
	errs := make([]error, len(items))
	if err := p.start(); err != nil {
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	sem := make(chan struct{}, p.opts.Workers)
	var wg sync.WaitGroup
	for i, it := range items {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			p.useSet(it.Req.Set)
			errs[i] = p.apply(ctx, it.Req, it.Change)
		}()
	}
	wg.Wait()
	return errs
}

func (p *Provider) apply(ctx context.Context, req reconciler.Request, ch reconciler.Change) error {
	if ch.Action == reconciler.ActionDelete {
		return p.unplug(ctx, req)
	}
	l, err := p.look(ctx, req)
	if err != nil {
		return err
	}
	if l.c == nil || !l.c.Running {
		if l.owned && (l.row != nil || l.host != nil) {
			return p.unplug(ctx, req) // the stale port of a stopped container
		}
		return fmt.Errorf("container %s is not running", l.sp.Container)
	}
	if l.intact() {
		return p.repair(ctx, req.Ref, l)
	}
	// Something is missing: remove what is left and plug anew.
	if err := p.clear(ctx, l); err != nil {
		return err
	}
	return p.plug(ctx, req.Ref, l)
}

// clear removes the parts of a broken port: its OVS ports (this node's,
// and ovs-docker's being adopted) and its host end (which takes the
// container end with it).
func (p *Provider) clear(ctx context.Context, l *live) error {
	var rows []ovs.PortRow
	for _, r := range l.rows {
		if owner := r.ExternalIDs[ovs.KeyOwner]; owner == "" || owner == p.opts.Node {
			rows = append(rows, r)
		}
	}
	if err := l.ps.Delete(ctx, rows...); err != nil {
		return err
	}
	if l.host != nil {
		if err := p.ns.host.LinkDel(l.host); err != nil && !errors.Is(err, syscall.ENODEV) {
			return wrapPerm("delete host end "+l.hostEnd, err)
		}
		l.host = nil
	}
	l.row, l.rows = nil, nil
	return nil
}

// plug makes the port: veth pair (its container end made inside the
// container's namespace), host end up, OVS port, container end renamed, up,
// then MTU, addresses, MAC and routes. When a step fails, the steps
// before it are undone: the veth pair deleted (with both ends) and the OVS
// port removed.
//
// ovs-docker sets the host end up after adding the port, but its ovs-vsctl
// waits until ovs-vswitchd has applied the port; a libovsdb transaction
// returns on commit, and ovs-vswitchd opens the port afterwards, on its own
// time. When it does, it turns promiscuous mode on by writing back the
// interface flags it read when it opened the device: an up set in between
// is lost, and the port stays down. A host end already up when the port is
// added is read up, so nothing can be lost.
func (p *Provider) plug(ctx context.Context, ref reconciler.Ref, l *live) (err error) {
	sp, c := l.sp, l.c
	if l.clash != nil {
		return fmt.Errorf("container %s already has an interface %s (%s) that wirekeeper did not plug; remove it or choose another spec.interface",
			c.Name, sp.Interface, l.clash.Type())
	}
	if ok, err := l.ps.BridgeExists(sp.Bridge); err != nil {
		return err
	} else if !ok {
		return fmt.Errorf("bridge %s does not exist on manager %s", sp.Bridge, l.ps.Manager())
	}
	name := PortName(p.opts.Node, sp.Container, sp.Interface)
	host, peer := HostEnd(name), ContainerEnd(name)
	var undo []func()
	defer func() {
		if err == nil || errors.Is(err, errCrash) {
			return
		}
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}()
	a := alias(p.opts.Node, ref.Name)

	if err := p.step(stepVeth); err != nil {
		return err
	}
	// The container end is made inside the container's namespace rather
	// than moved there afterwards (ovs-docker's way): moving a link
	// between namespaces costs the kernel about 16 ms, creating it there
	// well under 1 ms, with the same result.
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: host}, PeerName: peer, PeerNamespace: netlink.NsFd(int(l.ns.ns))}
	if err := p.ns.host.LinkAdd(veth); err != nil {
		return wrapPerm("create veth pair "+host+"/"+peer+" into container "+c.Name, err)
	}
	undo = append(undo, func() {
		if l, err := linkByName(p.ns.host, host); err == nil && l != nil {
			_ = p.ns.host.LinkDel(l)
		}
	})
	hostLink, err := p.ns.host.LinkByName(host)
	if err != nil {
		return wrapPerm("read "+host, err)
	}
	peerLink, err := l.ns.h.LinkByName(peer)
	if err != nil {
		return wrapPerm("read "+peer+" in container "+c.Name, err)
	}
	// The kernel takes no alias with a new link: set it on both ends.
	if err := p.ns.host.LinkSetAlias(hostLink, a); err != nil {
		return wrapPerm("set the alias of "+host, err)
	}
	if err := l.ns.h.LinkSetAlias(peerLink, a); err != nil {
		return wrapPerm("set the alias of "+peer+" in container "+c.Name, err)
	}

	if err := p.step(stepHostUp); err != nil {
		return err
	}
	if err := p.ns.host.LinkSetUp(hostLink); err != nil {
		return wrapPerm("set "+host+" up", err)
	}

	if err := p.step(stepPort); err != nil {
		return err
	}
	row := ovs.PortRow{Bridge: sp.Bridge, Name: host, Tag: sp.VLAN, ExternalIDs: p.ids(ref, sp)}
	if err := l.ps.Add(ctx, row); err != nil {
		return err
	}
	undo = append(undo, func() {
		if r, ok, err := l.ps.Named(host); err == nil && ok {
			_ = l.ps.Delete(context.WithoutCancel(ctx), r)
		}
	})

	if err := p.step(stepRename); err != nil {
		return err
	}
	link := peerLink
	if err := l.ns.h.LinkSetName(link, sp.Interface); err != nil {
		if errors.Is(err, syscall.EEXIST) {
			return fmt.Errorf("container %s already has an interface %s that wirekeeper did not plug; remove it or choose another spec.interface", c.Name, sp.Interface)
		}
		return wrapPerm("rename "+peer+" to "+sp.Interface+" in container "+c.Name, err)
	}
	if link, err = l.ns.h.LinkByName(sp.Interface); err != nil {
		return wrapPerm("read "+sp.Interface+" in container "+c.Name, err)
	}
	l.link, l.addrs, l.routes = link, nil, nil
	return p.configure(l, true)
}

// configure brings the container end to the spec: up, MTU, addresses
// (missing ones added, others removed), MAC, routes (the gateway's default
// route and spec.routes; others removed). In a plug
// every step runs (and may be failed by a test hook); in a repair only
// those that differ.
func (p *Provider) configure(l *live, plugging bool) error {
	sp, h, link, c := l.sp, l.ns.h, l.link, l.c
	a := link.Attrs()
	if plugging || a.Flags&net.FlagUp == 0 {
		if err := p.stepIf(plugging, stepUp); err != nil {
			return err
		}
		if err := h.LinkSetUp(link); err != nil {
			return wrapPerm("set "+sp.Interface+" up in container "+c.Name, err)
		}
	}
	if sp.MTU != nil && (plugging || a.MTU != *sp.MTU) {
		if err := p.stepIf(plugging, stepMTU); err != nil {
			return err
		}
		if err := h.LinkSetMTU(link, *sp.MTU); err != nil {
			return wrapPerm(fmt.Sprintf("set the MTU of %s to %d in container %s", sp.Interface, *sp.MTU, c.Name), err)
		}
	}
	if err := p.stepIf(plugging, stepAddress); err != nil {
		return err
	}
	want := map[netip.Prefix]bool{}
	for _, s := range sp.Addresses {
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			return fmt.Errorf("address %q: %w", s, err)
		}
		want[pfx] = true
	}
	have := map[netip.Prefix]bool{}
	for _, pfx := range l.addrs {
		have[pfx] = true
		if !want[pfx] {
			if err := h.AddrDel(link, addrOf(pfx)); err != nil && !errors.Is(err, syscall.EADDRNOTAVAIL) {
				return wrapPerm(fmt.Sprintf("remove address %s from %s in container %s", pfx, sp.Interface, c.Name), err)
			}
		}
	}
	for _, s := range sp.Addresses {
		pfx, _ := netip.ParsePrefix(s)
		if have[pfx] {
			continue
		}
		if pfx.Addr().Is6() {
			// Docker disables IPv6 in containers without an IPv6
			// network; the spec asking for an IPv6 address enables it
			// on this interface only.
			if err := l.ns.sysctl("net/ipv6/conf/"+sp.Interface+"/disable_ipv6", "0"); err != nil {
				return wrapPerm(fmt.Sprintf("enable IPv6 on %s in container %s", sp.Interface, c.Name), err)
			}
		}
		if err := h.AddrAdd(link, addrOf(pfx)); err != nil && !errors.Is(err, syscall.EEXIST) {
			return wrapPerm(fmt.Sprintf("add address %s to %s in container %s", s, sp.Interface, c.Name), err)
		}
	}
	if sp.MACAddress != "" && (plugging || !macEqual(a.HardwareAddr, sp.MACAddress)) {
		if err := p.stepIf(plugging, stepMAC); err != nil {
			return err
		}
		mac, err := net.ParseMAC(sp.MACAddress)
		if err != nil {
			return fmt.Errorf("macAddress %q: %w", sp.MACAddress, err)
		}
		if err := h.LinkSetHardwareAddr(link, mac); err != nil {
			return wrapPerm(fmt.Sprintf("set the MAC of %s to %s in container %s", sp.Interface, sp.MACAddress, c.Name), err)
		}
	}
	return p.routes(l, plugging)
}

// stepIf runs the test hook for a step of a plug (not of a repair).
func (p *Provider) stepIf(plugging bool, name string) error {
	if !plugging {
		return nil
	}
	return p.step(name)
}

func addrOf(pfx netip.Prefix) *netlink.Addr {
	bits, flags := 32, 0
	if pfx.Addr().Is6() {
		// As Docker does: the address is the container's by declaration,
		// usable at once rather than after duplicate address detection.
		bits, flags = 128, unix.IFA_F_NODAD
	}
	return &netlink.Addr{IPNet: &net.IPNet{IP: net.IP(pfx.Addr().AsSlice()), Mask: net.CIDRMask(pfx.Bits(), bits)}, Flags: flags}
}

func macEqual(hw net.HardwareAddr, s string) bool {
	m, err := net.ParseMAC(s)
	return err == nil && m.String() == hw.String()
}

// repair fixes an intact port in place: the host end's state, its OVS row
// (made when missing, moved to the spec's tag, marked when adopted) and the
// container end's configuration.
func (p *Provider) repair(ctx context.Context, ref reconciler.Ref, l *live) error {
	sp := l.sp
	ids := p.ids(ref, sp)
	// Up before the port row is made again, for the reason given at plug.
	if l.host.Attrs().Flags&net.FlagUp == 0 {
		if err := p.ns.host.LinkSetUp(l.host); err != nil {
			return wrapPerm("set "+l.hostEnd+" up", err)
		}
	}
	if l.row != nil && l.row.Bridge != sp.Bridge {
		// On another bridge, or on none: the port moves.
		if err := l.ps.Delete(ctx, *l.row); err != nil {
			return err
		}
		l.row = nil
	}
	switch {
	case l.row == nil:
		if err := l.ps.Add(ctx, ovs.PortRow{Bridge: sp.Bridge, Name: l.hostEnd, Tag: sp.VLAN, ExternalIDs: ids}); err != nil {
			return err
		}
	case !equalTag(l.row.Tag, sp.VLAN) || !hasAll(l.row.ExternalIDs, ids):
		row := *l.row
		row.Tag = sp.VLAN
		if err := l.ps.Update(ctx, row, ids); err != nil {
			return err
		}
	}
	if aliasObject(p.opts.Node, l.host.Attrs().Alias) != ref.Name {
		// An adopted ovs-docker port: mark its ends too.
		a := alias(p.opts.Node, ref.Name)
		if err := p.ns.host.LinkSetAlias(l.host, a); err != nil {
			return wrapPerm("set the alias of "+l.hostEnd, err)
		}
		if err := l.ns.h.LinkSetAlias(l.link, a); err != nil {
			return wrapPerm("set the alias of "+sp.Interface, err)
		}
	}
	return p.configure(l, false)
}

func equalTag(a, b *int) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func hasAll(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

// unplug removes what is left of a port: its OVS ports and its veth pair.
// Only what carries this node's marker is touched.
func (p *Provider) unplug(ctx context.Context, req reconciler.Request) error {
	left, err := p.leftovers(ctx, req)
	if err != nil {
		return err
	}
	var errs []error
	names := map[string]bool{}
	for ps, rows := range left.rows {
		for _, r := range rows {
			names[r.Name] = true
		}
		errs = append(errs, ps.Delete(ctx, rows...))
	}
	for _, l := range left.links {
		names[l.Attrs().Name] = false
		if err := p.ns.host.LinkDel(l); err != nil && !errors.Is(err, syscall.ENODEV) {
			errs = append(errs, wrapPerm("delete "+l.Attrs().Name, err))
		}
	}
	// A port's host end that lost its alias is still the port's.
	for name, pending := range names {
		if !pending {
			continue
		}
		if l, err := linkByName(p.ns.host, name); err == nil && l != nil {
			if err := p.ns.host.LinkDel(l); err != nil && !errors.Is(err, syscall.ENODEV) {
				errs = append(errs, wrapPerm("delete "+name, err))
			}
		}
	}
	return errors.Join(errs...)
}
