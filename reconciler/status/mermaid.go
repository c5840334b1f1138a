package status

import (
	"cmp"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"

	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/spec"
)

// diagramStyles colours diagram shapes, worst phase first (a shape counting
// several phases takes the first of them). Every shape has a class, so none
// is left in Mermaid's default lavender. Text is dark on a light fill
// (contrast above 7:1), and colour is never the only cue: a shape not Ready
// names its phase, and Failed, Drifted and Degraded have thicker borders,
// Pending and Suspended dashed ones. "Unknown" is a phase this build does
// not know; "undeclared" a bridge or port that the spec names but does not
// declare; "external" what wirekeeper connects to but does not manage
// (containers, VLANs, Netbeam, RabbitMQ, MySQL, a SkyDive analyzer).
var diagramStyles = []struct{ class, style string }{
	{string(reconciler.PhaseFailed), "fill:#fee2e2,stroke:#b91c1c,stroke-width:3px,color:#7f1d1d"},
	{string(reconciler.PhaseDegraded), "fill:#fef9c3,stroke:#a16207,stroke-width:2px,color:#713f12"},
	{string(reconciler.PhaseDrifted), "fill:#ffedd5,stroke:#c2410c,stroke-width:2px,color:#7c2d12"},
	{classUnknown, "fill:#fae8ff,stroke:#86198f,stroke-width:2px,color:#701a75"},
	{string(reconciler.PhasePending), "fill:#f1f5f9,stroke:#64748b,stroke-dasharray:6 3,color:#334155"},
	{string(reconciler.PhaseSuspended), "fill:#e5e7eb,stroke:#4b5563,stroke-dasharray:2 2,color:#1f2937"},
	{string(reconciler.PhaseReady), "fill:#dcfce7,stroke:#15803d,color:#14532d"},
	{"undeclared", "fill:#ffffff,stroke:#94a3b8,stroke-dasharray:4 3,color:#475569"},
	{"external", "fill:#ffffff,stroke:#475569,color:#1e293b"},
}

const classUnknown = "Unknown"

// mermaidLegend follows every diagram: what its colours and folds mean.
const mermaidLegend = "Colours: green Ready, red Failed (thick border), yellow Degraded, " +
	"orange Drifted, purple a phase this version does not know, grey dashed Pending, " +
	"grey dotted Suspended; white: not managed by wirekeeper (dashed: named by the spec, not declared). " +
	"A shape that is not Ready names its phase. \"N more\" shapes count what is not drawn, " +
	"to keep the diagram readable and within what Mermaid draws; the tables above list every object.\n"

// renderMermaid draws the node's OVS managers, bridges, mirrors, the ports
// they select and output to, container ports, collectors and SkyDive
// exports as a ```mermaid block, each shape coloured by its phase, followed
// by a legend. A container port that a mirror selects or outputs to by its
// spec name is linked to the mirror from its own shape, as the ports the
// mirror names by OVS name are. The diagram stays within maxDiagramBytes
// and maxShapes whatever the spec holds: pieces are drawn by priority
// (managers, bridges (maxBridgesPerManager a manager, those with the worst
// phase on or under them first), collectors and exports, mirrors with their
// outputs, the ports mirrors select (maxSelectedPerMirror a mirror),
// container ports not Ready, then Ready ones (maxPortsPerBridge a bridge in
// all); worst phase first within each, and of a phase those a mirror names
// first) as long as they fit, and the rest are counted in "N more" shapes.
func renderMermaid(ns *reconciler.NodeStatus, set *spec.Set) string {
	if set == nil {
		return "No spec revision is enforced yet, so there is no topology to draw.\n"
	}
	pieces := topologyPieces(ns, set)
	if len(pieces) == 0 {
		return "No OVS objects or collectors on this node.\n"
	}
	d := newDiagram()
	d.addAll(pieces)
	return "```mermaid\n" + d.render() + "```\n\n" + mermaidLegend
}

// topologyPieces lists the node's pieces in the order they are drawn.
func topologyPieces(ns *reconciler.NodeStatus, set *spec.Set) []piece {
	objs := slices.Clone(set.ForNode(ns.Node))
	slices.SortStableFunc(objs, func(a, b *spec.Object) int {
		return compareRefs(a.Kind, a.Metadata.Name, b.Kind, b.Metadata.Name)
	})
	t := &topology{onlyManager: onlyManager(set, ns.Node), phases: map[reconciler.Ref]reconciler.Phase{}, bridges: map[string]*bridgeRef{},
		mirrorLinks: map[string][]link{}}
	for _, o := range ns.Objects {
		t.phases[reconciler.Ref{Kind: o.Kind, Name: o.Name}] = o.Phase
	}
	var managers, services, mirrors, ports, selected, readyPorts []piece
	var containerPorts []*spec.Object // after the mirrors, which link to them
	for _, o := range objs {
		switch sp := o.Spec.(type) {
		case *spec.OVSManagerSpec:
			managers = append(managers, t.manager(o, sp))
		case *spec.BridgeSpec:
			t.bridge(sp.Manager, cmp.Or(sp.Bridge, o.Metadata.Name), o)
		case *spec.MirrorSpec:
			m, sel := t.mirror(o, sp)
			mirrors = append(mirrors, m)
			selected = append(selected, sel...)
		case *spec.ContainerPortSpec:
			containerPorts = append(containerPorts, o)
		case *spec.CollectorTargetSpec:
			services = append(services, t.collector(o, sp))
		case *spec.SkyDiveExportSpec:
			services = append(services, t.skyDiveExport(o, sp))
		}
	}
	// Of container ports in one phase, those a mirror names come first (the
	// sorts by phase below are stable): without them the mirror shows no
	// output or selection.
	unnamed := func(o *spec.Object) int {
		if len(t.mirrorLinks[o.Metadata.Name]) > 0 {
			return 0
		}
		return 1
	}
	slices.SortStableFunc(containerPorts, func(a, b *spec.Object) int { return cmp.Compare(unnamed(a), unnamed(b)) })
	for _, o := range containerPorts {
		p := t.containerPort(o, o.Spec.(*spec.ContainerPortSpec))
		if p.class == string(reconciler.PhaseReady) {
			readyPorts = append(readyPorts, p)
		} else {
			ports = append(ports, p)
		}
	}
	// A bridge ranks by the worst of itself and what hangs off it, so that
	// the bridges drawn are those with something to show.
	worst := map[string]int{}
	for _, p := range slices.Concat(mirrors, ports, readyPorts) {
		if r, ok := worst[p.needs[0]]; !ok || severity(p.class) < r {
			worst[p.needs[0]] = severity(p.class)
		}
	}
	var bridges []piece
	for _, id := range slices.Sorted(maps.Keys(t.bridges)) {
		p := t.bridges[id].piece()
		if r, ok := worst[id]; !ok || severity(p.class) < r {
			worst[id] = severity(p.class)
		}
		bridges = append(bridges, p)
	}
	slices.SortStableFunc(bridges, func(a, b piece) int { return cmp.Compare(worst[a.shapes[0].id], worst[b.shapes[0].id]) })
	for _, tier := range [][]piece{managers, services, mirrors, ports} {
		slices.SortStableFunc(tier, func(a, b piece) int { return cmp.Compare(severity(a.class), severity(b.class)) })
	}
	perManager := map[string]int{} // bridges by manager, in the order drawn
	for i := range bridges {
		bridges[i].folded = perManager[bridges[i].fold.parent] >= maxBridgesPerManager
		perManager[bridges[i].fold.parent]++
	}
	onBridge := map[string]int{} // container ports by bridge, worst first
	for _, tier := range [][]piece{ports, readyPorts} {
		for i := range tier {
			tier[i].folded = onBridge[tier[i].fold.parent] >= maxPortsPerBridge
			onBridge[tier[i].fold.parent]++
		}
	}
	return slices.Concat(managers, bridges, services, mirrors, selected, ports, readyPorts)
}

// severity ranks a class as diagramStyles orders them, worst first.
func severity(class string) int {
	return slices.IndexFunc(diagramStyles, func(s struct{ class, style string }) bool { return s.class == class })
}

// topology turns spec objects into pieces, with the node's status for
// their phases.
type topology struct {
	onlyManager string // the node's OVSManager when it has one only
	phases      map[reconciler.Ref]reconciler.Phase
	bridges     map[string]*bridgeRef // by shape id
	// mirrorLinks are the links between mirrors and the container ports
	// they name, by ContainerPort name. They belong to the container
	// port's piece, drawn after the mirrors, so that a link is drawn when
	// both its ends are.
	mirrorLinks map[string][]link
}

// bridgeRef is a bridge that a Bridge object declares, or that mirrors
// and container ports only name (obj nil).
type bridgeRef struct {
	t             *topology
	manager, name string
	obj           *spec.Object
}

func (b *bridgeRef) piece() piece {
	s := shape{id: mermaidID("br", b.manager, b.name), open: "[", label: mermaidLabel("bridge " + b.name), class: "undeclared"}
	if b.obj != nil {
		text := "bridge " + b.name
		if b.name != b.obj.Metadata.Name {
			text += "\n(" + b.obj.Metadata.Name + ")"
		}
		s.label, s.class = b.t.label(b.obj, text)
	}
	p := piece{shapes: []shape{s}, class: s.class}
	if b.manager != "" {
		mgr := mermaidID("mgr", b.manager)
		p.links = []link{{from: mgr, arrow: "---", to: s.id}}
		p.fold = fold{parent: mgr, name: mermaidLabel(b.manager), noun: "bridges", arrow: "---", out: true}
	} else {
		p.fold = fold{noun: "bridges"}
	}
	return p
}

// bridge records a bridge of manager and returns its shape id; obj declares
// it, or is nil when it is only named.
func (t *topology) bridge(manager, name string, obj *spec.Object) string {
	id := mermaidID("br", manager, name)
	b := t.bridges[id]
	if b == nil {
		b = &bridgeRef{t: t, manager: manager, name: name}
		t.bridges[id] = b
	}
	if obj != nil && b.obj == nil {
		b.obj = obj
	}
	return id
}

// label is the escaped label of an object's shape, with its phase on a
// line of its own unless Ready, and its class.
func (t *topology) label(o *spec.Object, text string) (label, class string) {
	phase := cmp.Or(t.phases[reconciler.RefOf(o)], reconciler.PhasePending) // Pending: not reconciled yet
	class = classUnknown
	if slices.Contains(phases, phase) {
		class = string(phase)
	}
	label = mermaidLabel(text)
	if phase != reconciler.PhaseReady {
		label += "<br/>" + mermaidLabel(string(phase))
	}
	return label, class
}

func (t *topology) manager(o *spec.Object, sp *spec.OVSManagerSpec) piece {
	s := shape{id: mermaidID("mgr", o.Metadata.Name), open: "["}
	s.label, s.class = t.label(o, "OVSManager "+o.Metadata.Name+"\n"+sp.Address)
	return piece{shapes: []shape{s}, class: s.class, fold: fold{noun: "OVS managers"}}
}

// mirror is a mirror's piece, with its output, and one piece per selected
// port: the first maxSelectedPerMirror drawn when they fit, the rest folded.
func (t *topology) mirror(o *spec.Object, sp *spec.MirrorSpec) (piece, []piece) {
	br := t.bridge(sp.Manager, sp.Bridge, nil)
	name := "mirror " + cmp.Or(sp.MirrorName, o.Metadata.Name)
	s := shape{id: mermaidID("mir", o.Metadata.Name), open: "{{"}
	s.label, s.class = t.label(o, name)
	p := piece{shapes: []shape{s}, needs: []string{br}, class: s.class,
		fold: fold{parent: br, name: mermaidLabel(sp.Bridge), noun: "mirrors", arrow: "-.-", out: true}}
	if sp.SelectAll {
		p.links = append(p.links, link{from: br, arrow: "-->", to: s.id, label: "all"})
	} else {
		p.links = append(p.links, link{from: br, arrow: "-.-", to: s.id})
	}
	if out := sp.Output; out != nil {
		switch {
		case out.Port != "":
			port := portShape(sp.Manager, sp.Bridge, out.Port)
			p.shapes = append(p.shapes, port)
			p.links = append(p.links, link{from: br, arrow: "---", to: port.id}, link{from: s.id, arrow: "-->", to: port.id, label: "output"})
		case out.ContainerPort != "":
			t.mirrorLinks[out.ContainerPort] = append(t.mirrorLinks[out.ContainerPort],
				link{from: s.id, arrow: "-->", to: containerPortID(out.ContainerPort), label: "output"})
		case out.VLAN != nil:
			vlan := shape{id: mermaidID("vlan", sp.Manager, sp.Bridge, fmt.Sprint(*out.VLAN)), open: "([",
				label: mermaidLabel(fmt.Sprintf("VLAN %d", *out.VLAN)), class: "external"}
			p.shapes = append(p.shapes, vlan)
			p.links = append(p.links, link{from: s.id, arrow: "-->", to: vlan.id, label: "output"})
		}
	}

	var ports []string
	roles := map[string][]string{}
	for _, sel := range []struct {
		role  string
		ports []string
	}{{"src", sp.SelectSrcPorts}, {"dst", sp.SelectDstPorts}} {
		for _, port := range sel.ports {
			if roles[port] == nil {
				ports = append(ports, port)
			}
			roles[port] = append(roles[port], sel.role)
		}
	}
	for _, sel := range []struct {
		role  string
		ports []string
	}{{"src", sp.SelectSrcContainerPorts}, {"dst", sp.SelectDstContainerPorts}} {
		for _, cp := range sel.ports {
			t.mirrorLinks[cp] = append(t.mirrorLinks[cp], link{from: containerPortID(cp), arrow: "-->", to: s.id, label: sel.role})
		}
	}
	var selected []piece
	for i, portName := range ports {
		port := portShape(sp.Manager, sp.Bridge, portName)
		q := piece{shapes: []shape{port}, needs: []string{br, s.id}, class: "undeclared", folded: i >= maxSelectedPerMirror,
			links: []link{{from: br, arrow: "---", to: port.id}},
			fold:  fold{parent: s.id, name: mermaidLabel(name), noun: "selected ports", arrow: "-->"}}
		for _, role := range roles[portName] {
			q.links = append(q.links, link{from: port.id, arrow: "-->", to: s.id, label: role})
		}
		selected = append(selected, q)
	}
	return p, selected
}

// portShape is a port that a mirror names: the spec does not declare ports.
func portShape(manager, bridge, name string) shape {
	return shape{id: mermaidID("port", manager, bridge, name), open: "[/", label: mermaidLabel("port " + name), class: "undeclared"}
}

// containerPortID is the shape id of the ContainerPort named name.
func containerPortID(name string) string { return mermaidID("cp", name) }

// containerPort is a container port's piece: the container, the port and
// its link to the bridge, and its links to the mirrors that name it.
func (t *topology) containerPort(o *spec.Object, sp *spec.ContainerPortSpec) piece {
	manager := cmp.Or(sp.Manager, t.onlyManager)
	br := t.bridge(manager, sp.Bridge, nil)
	ctr := shape{id: mermaidID("ctr", sp.Container), open: "([", label: mermaidLabel("container " + sp.Container), class: "external"}
	cp := shape{id: containerPortID(o.Metadata.Name), open: "["}
	cp.label, cp.class = t.label(o, o.Metadata.Name+"\n"+sp.Interface)
	tag := "trunk"
	if sp.VLAN != nil {
		tag = fmt.Sprintf("vlan %d", *sp.VLAN)
	}
	links := append([]link{{from: ctr.id, arrow: "---", to: cp.id}, {from: cp.id, arrow: "---", to: br, label: tag}}, t.mirrorLinks[o.Metadata.Name]...)
	return piece{shapes: []shape{ctr, cp}, needs: []string{br}, class: cp.class, links: links,
		fold: fold{parent: br, name: mermaidLabel(sp.Bridge), noun: "container ports", arrow: "---"}}
}

// collector draws where a CollectorTarget reads (Netbeam) and writes
// (RabbitMQ's exchange, the MySQL inventory table). The RabbitMQ URL and
// the MySQL DSN are secrets: only the exchange and table are named.
func (t *topology) collector(o *spec.Object, sp *spec.CollectorTargetSpec) piece {
	s := shape{id: mermaidID("col", o.Metadata.Name), open: "[["}
	s.label, s.class = t.label(o, "collector "+o.Metadata.Name)
	p := piece{shapes: []shape{s}, class: s.class, fold: fold{noun: "collectors"}}
	if nb := sp.Netbeam; nb != nil {
		host := urlHost(nb.URL)
		src := shape{id: mermaidID("netbeam", host, nb.Network), open: "([", label: mermaidLabel("Netbeam " + host + "\n" + nb.Network), class: "external"}
		p.shapes = append(p.shapes, src)
		p.links = append(p.links, link{from: src.id, arrow: "-->", to: s.id, label: "poll"})
	}
	if mq := sp.RabbitMQ; mq != nil {
		ex := shape{id: mermaidID("exchange", mq.Exchange), open: "[(", label: mermaidLabel("RabbitMQ exchange " + mq.Exchange), class: "external"}
		p.shapes = append(p.shapes, ex)
		p.links = append(p.links, link{from: s.id, arrow: "-->", to: ex.id, label: "publish"})
	}
	if inv := sp.Inventory; inv != nil && inv.MySQL != nil {
		tbl := shape{id: mermaidID("table", inv.MySQL.Table), open: "[(", label: mermaidLabel("MySQL table " + inv.MySQL.Table), class: "external"}
		p.shapes = append(p.shapes, tbl)
		p.links = append(p.links, link{from: s.id, arrow: "-->", to: tbl.id, label: "inventory"})
	}
	return p
}

func (t *topology) skyDiveExport(o *spec.Object, sp *spec.SkyDiveExportSpec) piece {
	s := shape{id: mermaidID("sky", o.Metadata.Name), open: "[["}
	s.label, s.class = t.label(o, "SkyDive export "+o.Metadata.Name)
	host := urlHost(sp.Analyzer)
	an := shape{id: mermaidID("analyzer", host), open: "([", label: mermaidLabel("SkyDive analyzer " + host), class: "external"}
	return piece{shapes: []shape{s, an}, class: s.class, fold: fold{noun: "SkyDive exports"},
		links: []link{{from: s.id, arrow: "-->", to: an.id, label: "topology"}}}
}

// urlHost is the host (and port) of a URL, or the text itself when it is
// a bare host:port.
func urlHost(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	if u, err := url.Parse(s); err == nil && u.Host != "" {
		return u.Host
	}
	return s
}

// onlyManager is the node's OVSManager when it has exactly one, as a
// ContainerPort without manager means.
func onlyManager(set *spec.Set, node string) string {
	var found string
	for _, m := range set.OfKind("OVSManager") {
		if set.NodeOf(m) == node {
			if found != "" {
				return ""
			}
			found = m.Metadata.Name
		}
	}
	return found
}
