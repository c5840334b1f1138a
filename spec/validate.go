package spec

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"sync"
)

// Set is a decoded spec tree. Objects keep the order of the files and
// documents they came from. A Set must not be changed once in use: lookups
// build an index on first use.
type Set struct {
	Objects []*Object

	indexOnce sync.Once
	byID      map[string]*Object
}

func (s *Set) index() map[string]*Object {
	s.indexOnce.Do(func() {
		s.byID = make(map[string]*Object, len(s.Objects))
		for _, o := range s.Objects {
			if _, dup := s.byID[o.ID()]; !dup {
				s.byID[o.ID()] = o
			}
		}
	})
	return s.byID
}

// Get returns the object of that kind and name, or nil.
func (s *Set) Get(kind, name string) *Object {
	return s.index()[kind+"/"+name]
}

// OfKind returns the objects of one kind, in tree order.
func (s *Set) OfKind(kind string) []*Object {
	var out []*Object
	for _, o := range s.Objects {
		if o.Kind == kind {
			out = append(out, o)
		}
	}
	return out
}

// Validate applies the rules that look at more than one field of a document
// or at several documents, fills the defaults that depend on metadata, and
// returns every problem found. objs come from Decode, ReadTree or ReadFile.
func Validate(objs []*Object) Diagnostics {
	v := &validator{}
	for _, o := range objs {
		if o.Spec == nil {
			continue // unknown kind, already reported
		}
		switch s := o.Spec.(type) {
		case *OVSManagerSpec:
			v.ovsManager(o, s)
		case *BridgeSpec:
			v.bridge(o, s)
		case *MirrorSpec:
			v.mirror(o, s)
		case *ContainerPortSpec:
			v.containerPort(o, s)
		case *SkyDiveExportSpec:
			v.skyDiveExport(o, s)
		}
	}
	v.crossObject(objs)
	return v.diags
}

type validator struct {
	diags Diagnostics
	// managers and managersByNode index the tree's OVSManagers, by name and
	// by node (names in tree order), for the reference checks.
	managers       map[string]*OVSManagerSpec
	managersByNode map[string][]string
}

func (v *validator) errorf(o *Object, field, format string, args ...any) {
	v.diags = append(v.diags, Diagnostic{
		Position: o.Position(field), Severity: SeverityError,
		Kind: o.Kind, Name: o.Metadata.Name, Field: field,
		Message: fmt.Sprintf(format, args...),
	})
}

func (v *validator) warnf(o *Object, field, format string, args ...any) {
	v.errorf(o, field, format, args...)
	v.diags[len(v.diags)-1].Severity = SeverityWarning
}

func (v *validator) ovsManager(o *Object, s *OVSManagerSpec) {
	secure := strings.HasPrefix(s.Address, "ssl:")
	switch {
	case secure && s.TLS == nil:
		v.errorf(o, "spec.tls", "is required for an ssl: address (caFile, certFile and keyFile)")
	case secure:
		for field, val := range map[string]string{"caFile": s.TLS.CAFile, "certFile": s.TLS.CertFile, "keyFile": s.TLS.KeyFile} {
			if val == "" {
				v.errorf(o, "spec.tls."+field, "is required for an ssl: address")
			}
		}
	case s.TLS != nil && s.Address != "":
		v.errorf(o, "spec.tls", "is only valid with an ssl: address; remove it or use ssl:HOST:PORT")
	}
}

func (v *validator) bridge(o *Object, s *BridgeSpec) {
	if s.Bridge == "" {
		s.Bridge = o.Metadata.Name
		if why := checkIfName(s.Bridge); why != "" {
			v.errorf(o, "metadata.name", "is used as the OVS bridge name but is not a Linux interface name (%s); set spec.bridge", why)
		}
	}
	for k := range s.ExternalIDs {
		if strings.HasPrefix(k, "wirekeeper.io/") {
			v.errorf(o, "spec.externalIds."+k, "keys under wirekeeper.io/ are reserved for wirekeeper's own markers")
		}
	}
}

func (v *validator) mirror(o *Object, s *MirrorSpec) {
	if s.MirrorName == "" {
		s.MirrorName = o.Metadata.Name
	}
	selections := []string{"spec.selectAll", "spec.selectSrcPorts", "spec.selectDstPorts", "spec.selectSrcContainerPorts", "spec.selectDstContainerPorts", "spec.selectVlans"}
	lists := len(s.SelectSrcPorts) + len(s.SelectDstPorts) + len(s.SelectSrcContainerPorts) + len(s.SelectDstContainerPorts) + len(s.SelectVLANs)
	if !o.anyFailed(selections...) && !s.SelectAll && lists == 0 {
		v.errorf(o, "spec", "selects nothing; set selectAll: true or at least one of selectSrcPorts, selectDstPorts, selectSrcContainerPorts, selectDstContainerPorts, selectVlans")
	}
	if s.SelectAll && lists > 0 {
		v.warnf(o, "spec.selectAll", "selects every packet; selectSrcPorts, selectDstPorts, selectSrcContainerPorts, selectDstContainerPorts and selectVlans have no effect alongside it")
	}
	if s.Output != nil && s.Output.ContainerPort != "" {
		for _, list := range []struct {
			field string
			ports []string
		}{{"spec.selectSrcContainerPorts", s.SelectSrcContainerPorts}, {"spec.selectDstContainerPorts", s.SelectDstContainerPorts}} {
			for i, p := range list.ports {
				if p == s.Output.ContainerPort {
					v.errorf(o, fmt.Sprintf("%s[%d]", list.field, i), "ContainerPort %q is also the output; a port cannot be both mirrored and the mirror's destination", p)
				}
			}
		}
	}
	if s.Output != nil && s.Output.VLAN != nil {
		for i, vlan := range s.SelectVLANs {
			if vlan == *s.Output.VLAN {
				v.errorf(o, fmt.Sprintf("spec.selectVlans[%d]", i), "VLAN %d is also the output VLAN; mirrored packets would be mirrored again", vlan)
			}
		}
	}
	if s.Output == nil || s.Output.Port == "" {
		return
	}
	for _, list := range []struct {
		field string
		ports []string
	}{{"spec.selectSrcPorts", s.SelectSrcPorts}, {"spec.selectDstPorts", s.SelectDstPorts}} {
		for i, p := range list.ports {
			if p == s.Output.Port {
				v.errorf(o, fmt.Sprintf("%s[%d]", list.field, i), "port %q is also the output port; a port cannot be both mirrored and the mirror's destination", p)
			}
		}
	}
}

func (v *validator) containerPort(o *Object, s *ContainerPortSpec) {
	var prefixes []netip.Prefix
	hasV6 := false
	for i, a := range s.Addresses {
		p, err := netip.ParsePrefix(a)
		if err != nil {
			continue
		}
		prefixes = append(prefixes, p)
		hasV6 = hasV6 || p.Addr().Is6()
		if p.Addr().Is4() && p.Bits() <= 30 {
			switch p.Addr() {
			case p.Masked().Addr():
				v.errorf(o, fmt.Sprintf("spec.addresses[%d]", i), "%s is the network address of its subnet; an interface needs a host address", a)
			case lastAddr(p):
				v.errorf(o, fmt.Sprintf("spec.addresses[%d]", i), "%s is the broadcast address of its subnet; an interface needs a host address", a)
			}
		}
	}
	if s.Gateway != "" && !o.anyFailed("spec.addresses", "spec.gateway") {
		gw, err := netip.ParseAddr(s.Gateway)
		switch {
		case err != nil:
			// reported by the format check
		case len(s.Addresses) == 0:
			v.errorf(o, "spec.gateway", "needs an address in its subnet in spec.addresses")
		case isOwnAddress(gw, prefixes):
			v.errorf(o, "spec.gateway", "%s is the interface's own address; the gateway is another host on the subnet", gw)
		case !inAnySubnet(gw, prefixes):
			v.errorf(o, "spec.gateway", "%s is not in the subnet of any address (%s)", gw, strings.Join(s.Addresses, ", "))
		}
	}
	v.containerRoutes(o, s, prefixes)
	if hasV6 && s.MTU != nil && !o.anyFailed("spec.mtu") && *s.MTU < 1280 {
		v.errorf(o, "spec.mtu", "%d is too small for IPv6 addresses; IPv6 needs at least 1280", *s.MTU)
	}
}

// containerRoutes checks spec.routes against the port's addresses and
// gateway: each route is to a network (no host bits), via a next hop of its
// family on one of the port's subnets, one per destination, and at most one
// default route per family with spec.gateway counted. Their number is
// bounded by the maxitems rule of ContainerPortSpec.Routes, which the
// decoder checks: a port's routes are read and compared on every look at
// the port.
func (v *validator) containerRoutes(o *Object, s *ContainerPortSpec, prefixes []netip.Prefix) {
	if o.anyFailed("spec.addresses") {
		return
	}
	var gw netip.Addr
	if !o.anyFailed("spec.gateway") {
		gw, _ = netip.ParseAddr(s.Gateway)
	}
	seen := map[netip.Prefix]int{}
	for i, r := range s.Routes {
		field := fmt.Sprintf("spec.routes[%d]", i)
		if o.anyFailed(field) {
			continue
		}
		to, err1 := netip.ParsePrefix(r.To)
		via, err2 := netip.ParseAddr(r.Via)
		if err1 != nil || err2 != nil {
			continue // reported by the format checks
		}
		family := "IPv4"
		if to.Addr().Is6() {
			family = "IPv6"
		}
		switch {
		case to != to.Masked():
			v.errorf(o, field+".to", "%s has host bits set; the network is %s", r.To, to.Masked())
		case to.Bits() == 0 && gw.IsValid() && gw.Is6() == to.Addr().Is6():
			v.errorf(o, field+".to", "a second %s default route: spec.gateway %s is one already; keep one of them", family, s.Gateway)
		case seen[to] > 0:
			v.errorf(o, field+".to", "a route to %s is already at spec.routes[%d]; one route per destination", to, seen[to]-1)
		case slices.ContainsFunc(prefixes, func(p netip.Prefix) bool { return p.Masked() == to }):
			v.errorf(o, field+".to", "%s is the subnet of an address in spec.addresses, reached directly on the interface; it needs no route", to)
		}
		if _, dup := seen[to]; !dup {
			seen[to] = i + 1
		}
		switch {
		case via.Is6() != to.Addr().Is6():
			v.errorf(o, field+".via", "%s is not of the destination's family; a route to %s needs an %s next hop", via, r.To, family)
		case !slices.ContainsFunc(prefixes, func(p netip.Prefix) bool { return p.Addr().Is6() == via.Is6() }):
			v.errorf(o, field+".via", "needs an %s address in spec.addresses whose subnet holds %s", family, via)
		case isOwnAddress(via, prefixes):
			v.errorf(o, field+".via", "%s is the interface's own address; the next hop is another host on the subnet", via)
		case !inAnySubnet(via, prefixes):
			v.errorf(o, field+".via", "%s is not in the subnet of any address (%s)", via, strings.Join(s.Addresses, ", "))
		}
	}
}

func isOwnAddress(a netip.Addr, prefixes []netip.Prefix) bool {
	for _, p := range prefixes {
		if p.Addr() == a {
			return true
		}
	}
	return false
}

// lastAddr is the highest address of an IPv4 prefix (its broadcast address).
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	n := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) | host
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
}

func inAnySubnet(a netip.Addr, prefixes []netip.Prefix) bool {
	for _, p := range prefixes {
		if p.Masked().Contains(a) {
			return true
		}
	}
	return false
}

func (v *validator) skyDiveExport(o *Object, s *SkyDiveExportSpec) {
	if s.TLS != nil && strings.HasPrefix(s.Analyzer, "ws://") {
		v.errorf(o, "spec.tls", "is not used with a ws:// analyzer; use wss:// or remove tls")
	}
	if s.TLS != nil && (s.TLS.CertFile == "") != (s.TLS.KeyFile == "") {
		v.errorf(o, "spec.tls", "certFile and keyFile go together; set both or neither")
	}
}

// crossObject checks uniqueness and references across the whole tree.
func (v *validator) crossObject(objs []*Object) {
	first := map[string]*Object{}
	v.managers, v.managersByNode = map[string]*OVSManagerSpec{}, map[string][]string{}
	for _, o := range objs {
		if o.Kind == "" || o.Metadata.Name == "" {
			continue
		}
		if prev, dup := first[o.ID()]; dup {
			v.errorf(o, "metadata.name", "%s is defined twice; first at %s", o.ID(), prev.Source)
			continue
		}
		first[o.ID()] = o
		if m, ok := o.Spec.(*OVSManagerSpec); ok {
			v.managers[o.Metadata.Name] = m
			v.managersByNode[m.Node] = append(v.managersByNode[m.Node], o.Metadata.Name)
		}
	}
	unique := newUniqueness(v)
	for _, o := range objs {
		if first[o.ID()] != o {
			continue
		}
		switch s := o.Spec.(type) {
		case *OVSManagerSpec:
			unique.check(o, "spec.address", "OVSManager", s.Node+"|"+s.Address,
				fmt.Sprintf("node %q already connects to %s", s.Node, s.Address))
		case *BridgeSpec:
			v.checkManager(o, s.Manager)
			unique.check(o, "spec.bridge", "Bridge", s.Manager+"|"+s.Bridge,
				fmt.Sprintf("bridge %q on manager %q is already declared", s.Bridge, s.Manager))
		case *MirrorSpec:
			v.checkManager(o, s.Manager)
			unique.check(o, "spec.mirrorName", "Mirror", s.Manager+"|"+s.Bridge+"|"+s.MirrorName,
				fmt.Sprintf("mirror name %q on manager %q bridge %q is already used", s.MirrorName, s.Manager, s.Bridge))
		case *ContainerPortSpec:
			v.containerPortManager(o, s)
			unique.check(o, "spec.interface", "ContainerPort", s.Node+"|"+s.Container+"|"+s.Interface,
				fmt.Sprintf("interface %q of container %q on node %q is already declared", s.Interface, s.Container, s.Node))
		case *SkyDiveExportSpec:
			node := s.Node
			if node == "" {
				node = "*"
			}
			unique.check(o, "spec.analyzer", "SkyDiveExport", node+"|"+s.Analyzer,
				fmt.Sprintf("node %q already publishes to analyzer %s (the analyzer accepts one connection per host ID)", node, s.Analyzer))
		}
	}
	v.skyDiveOverlap(objs)
	v.mirrorContainerPorts(objs, first)
}

// mirrorContainerPorts checks the ContainerPorts a Mirror names: each must
// exist and sit on the mirror's manager and bridge, where its OVS port is.
// It runs after the ContainerPorts' managers were filled in.
func (v *validator) mirrorContainerPorts(objs []*Object, first map[string]*Object) {
	var names []string
	for _, o := range objs {
		if _, ok := o.Spec.(*ContainerPortSpec); ok && first[o.ID()] == o {
			names = append(names, o.Metadata.Name)
		}
	}
	slices.Sort(names)
	for _, o := range objs {
		s, ok := o.Spec.(*MirrorSpec)
		if !ok || first[o.ID()] != o {
			continue
		}
		check := func(field, name string) {
			c := first["ContainerPort/"+name]
			if c == nil {
				v.errorf(o, field, "ContainerPort %q does not exist%s; defined ContainerPorts: %s", name, suggest(name, names), listOrNone(names))
				return
			}
			cp := c.Spec.(*ContainerPortSpec)
			if cp.Manager != "" && s.Manager != "" && (cp.Manager != s.Manager || cp.Bridge != s.Bridge) {
				v.errorf(o, field, "ContainerPort %q is on manager %q bridge %q (%s), not on this mirror's manager %q bridge %q; a mirror selects and outputs to ports of its own bridge",
					name, cp.Manager, cp.Bridge, c.Source, s.Manager, s.Bridge)
			}
		}
		for _, list := range []struct {
			field string
			names []string
		}{{"spec.selectSrcContainerPorts", s.SelectSrcContainerPorts}, {"spec.selectDstContainerPorts", s.SelectDstContainerPorts}} {
			for i, n := range list.names {
				check(fmt.Sprintf("%s[%d]", list.field, i), n)
			}
		}
		if s.Output != nil && s.Output.ContainerPort != "" {
			check("spec.output.containerPort", s.Output.ContainerPort)
		}
	}
}

// checkManager reports a reference to an OVSManager that does not exist, and
// says whether it exists.
func (v *validator) checkManager(o *Object, name string) bool {
	if _, ok := v.managers[name]; ok || name == "" {
		return ok
	}
	names := slices.Sorted(maps.Keys(v.managers))
	v.errorf(o, "spec.manager", "OVSManager %q does not exist%s; defined managers: %s", name, suggest(name, names), listOrNone(names))
	return false
}

func (v *validator) containerPortManager(o *Object, s *ContainerPortSpec) {
	if s.Manager != "" {
		if v.checkManager(o, s.Manager) && s.Node != "" && v.managers[s.Manager].Node != s.Node {
			v.errorf(o, "spec.manager", "OVSManager %q belongs to node %q, but this port is on node %q; the veth pair must be on the manager's host",
				s.Manager, v.managers[s.Manager].Node, s.Node)
		}
		return
	}
	if s.Node == "" {
		return
	}
	switch candidates := v.managersByNode[s.Node]; len(candidates) {
	case 1:
		s.Manager = candidates[0]
	case 0:
		v.errorf(o, "spec.node", "no OVSManager has node %q; declare one or set spec.manager", s.Node)
	default:
		v.errorf(o, "spec.node", "the manager is ambiguous: OVSManagers %s all have node %q; set spec.manager to one of them",
			strings.Join(candidates, ", "), s.Node)
	}
}

// skyDiveOverlap refuses an export for every node next to one for a named
// node on the same analyzer: that node would connect twice with one host ID.
func (v *validator) skyDiveOverlap(objs []*Object) {
	everyNode := map[string]*Object{}
	for _, o := range objs {
		if s, ok := o.Spec.(*SkyDiveExportSpec); ok && s.Node == "" {
			everyNode[s.Analyzer] = o
		}
	}
	for _, o := range objs {
		if s, ok := o.Spec.(*SkyDiveExportSpec); ok && s.Node != "" {
			if all, clash := everyNode[s.Analyzer]; clash {
				v.errorf(o, "spec.node", "SkyDiveExport/%s already publishes every node to %s; node %q would connect twice with one host ID",
					all.Metadata.Name, s.Analyzer, s.Node)
			}
		}
	}
}

// uniqueness reports the second object that claims a key within a kind.
type uniqueness struct {
	v    *validator
	seen map[string]*Object
}

func newUniqueness(v *validator) *uniqueness { return &uniqueness{v: v, seen: map[string]*Object{}} }

func (u *uniqueness) check(o *Object, field, kind, key, msg string) {
	k := kind + "|" + key
	if prev, dup := u.seen[k]; dup {
		u.v.errorf(o, field, "%s by %s (%s)", msg, prev.ID(), prev.Source)
		return
	}
	u.seen[k] = o
}

func listOrNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}
