package container

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/wirekeeper/wirekeeper/spec"
)

// route is one route through the container end: a destination (a /0 for
// a default route) and a next hop.
type route struct {
	to  netip.Prefix
	via netip.Addr
}

func (r route) String() string { return r.to.String() + " via " + r.via.String() }

// defaultTo is the default destination of via's family.
func defaultTo(via netip.Addr) netip.Prefix {
	if via.Is6() {
		return netip.PrefixFrom(netip.IPv6Unspecified(), 0)
	}
	return netip.PrefixFrom(netip.IPv4Unspecified(), 0)
}

// wantedRoutes are the routes sp asks for: the default route via
// spec.gateway, then spec.routes.
func wantedRoutes(sp *spec.ContainerPortSpec) ([]route, error) {
	var out []route
	if sp.Gateway != "" {
		gw, err := netip.ParseAddr(sp.Gateway)
		if err != nil {
			return nil, fmt.Errorf("gateway %q: %w", sp.Gateway, err)
		}
		out = append(out, route{to: defaultTo(gw), via: gw})
	}
	for _, r := range sp.Routes {
		to, err := netip.ParsePrefix(r.To)
		if err != nil {
			return nil, fmt.Errorf("route to %q: %w", r.To, err)
		}
		via, err := netip.ParseAddr(r.Via)
		if err != nil {
			return nil, fmt.Errorf("route via %q: %w", r.Via, err)
		}
		out = append(out, route{to: to.Masked(), via: via})
	}
	return out, nil
}

// routeOf reads a route of the main table through the container end as
// one the spec could hold: single next hop, set by someone (not the
// kernel's connected routes, not learned from router advertisements).
func routeOf(r netlink.Route) (route, bool) {
	if r.Gw == nil || r.Protocol == unix.RTPROT_KERNEL || r.Protocol == unix.RTPROT_RA {
		return route{}, false
	}
	via, ok := netip.AddrFromSlice(r.Gw)
	if !ok {
		return route{}, false
	}
	via = via.Unmap()
	if r.Dst == nil {
		return route{to: defaultTo(via), via: via}, true
	}
	to, ok := prefixOf(r.Dst)
	return route{to: to, via: via}, ok
}

// liveRoutes renders the routes found as the spec's gateway and routes,
// in the spec's spelling where they are the spec's: the default route of
// spec.gateway's family (the one via the gateway, if there) is the
// gateway, every other route a spec.routes item.
func liveRoutes(sp *spec.ContainerPortSpec, found []netlink.Route) (gateway string, routes []spec.ContainerRoute) {
	var rs []route
	for _, nr := range found {
		if r, ok := routeOf(nr); ok {
			rs = append(rs, r)
		}
	}
	gwAt := -1
	if want, err := netip.ParseAddr(sp.Gateway); err == nil {
		for i, r := range rs {
			if r.to == defaultTo(want) && (gwAt < 0 || r.via == want) {
				gwAt = i
			}
		}
		if gwAt >= 0 {
			gateway = rs[gwAt].via.String()
			if rs[gwAt].via == want {
				gateway = sp.Gateway
			}
		}
	}
	for i, r := range rs {
		if i == gwAt {
			continue
		}
		item := spec.ContainerRoute{To: r.to.String(), Via: r.via.String()}
		for _, s := range sp.Routes {
			if to, err := netip.ParsePrefix(s.To); err == nil && to == r.to {
				item.To = s.To
			}
			if via, err := netip.ParseAddr(s.Via); err == nil && via == r.via {
				item.Via = s.Via
			}
		}
		routes = append(routes, item)
	}
	return gateway, routes
}

// routes brings the routes through the container end to the spec's:
// those it does not list (and second copies) removed, missing ones added.
func (p *Provider) routes(l *live, plugging bool) error {
	sp, h, link, c := l.sp, l.ns.h, l.link, l.c
	want, err := wantedRoutes(sp)
	if err != nil {
		return err
	}
	wanted := map[route]bool{}
	for _, r := range want {
		wanted[r] = true
	}
	have := map[route]bool{}
	var stale []netlink.Route
	for _, nr := range l.routes {
		r, ok := routeOf(nr)
		if !ok {
			continue
		}
		if !wanted[r] || have[r] {
			stale = append(stale, nr)
		}
		have[r] = true
	}
	var missing []route
	for _, r := range want {
		if !have[r] {
			missing = append(missing, r)
		}
	}
	if len(stale) == 0 && len(missing) == 0 {
		return nil
	}
	if err := p.stepIf(plugging, stepRoute); err != nil {
		return err
	}
	for _, nr := range stale {
		r, _ := routeOf(nr)
		if err := h.RouteDel(&nr); err != nil && !errors.Is(err, syscall.ESRCH) {
			return wrapPerm(fmt.Sprintf("remove the route to %s in container %s", r, c.Name), err)
		}
	}
	for _, r := range missing {
		nr := &netlink.Route{LinkIndex: link.Attrs().Index, Gw: net.IP(r.via.AsSlice())}
		if r.to.Bits() > 0 {
			nr.Dst = addrOf(r.to).IPNet
		}
		if err := h.RouteReplace(nr); err != nil {
			what := "the route to " + r.String()
			if r.to.Bits() == 0 {
				what = "the default route via " + r.via.String()
			}
			return wrapPerm(fmt.Sprintf("add %s on %s in container %s", what, sp.Interface, c.Name), err)
		}
	}
	return nil
}
