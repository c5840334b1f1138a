package ovsdb

import (
	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/spec"
)

// specIndex maps live names to the spec objects of this node that they
// concern, so that a monitor event enqueues exactly the affected objects.
// It is rebuilt when the engine hands the provider a new revision.
type specIndex struct {
	set       *spec.Set
	managers  map[string]*spec.OVSManagerSpec // this node's, by metadata.name
	byManager map[string]*managerIndex
	// objects maps every Bridge and Mirror of this node to its manager.
	objects map[reconciler.Ref]string
	all     []reconciler.Ref
}

// managerIndex is the part of the index for one manager.
type managerIndex struct {
	// bridges maps an OVS bridge name to the Bridge objects naming it.
	bridges map[string][]reconciler.Ref
	// mirrorsOnBridge, mirrorsByName and mirrorsByPort map an OVS bridge
	// name, an OVS mirror name and a port name (selected or output, a
	// ContainerPort's by its OVS name) to the Mirror objects concerned.
	mirrorsOnBridge map[string][]reconciler.Ref
	mirrorsByName   map[string][]reconciler.Ref
	mirrorsByPort   map[string][]reconciler.Ref
	// mirrorNames holds "bridge/mirror name" of every Mirror in the spec,
	// to tell foreign mirrors from managed ones.
	mirrorNames map[string]bool
	all         []reconciler.Ref
}

func newSpecIndex(set *spec.Set, node string) *specIndex {
	idx := &specIndex{set: set, managers: map[string]*spec.OVSManagerSpec{}, byManager: map[string]*managerIndex{},
		objects: map[reconciler.Ref]string{}}
	if set == nil {
		return idx
	}
	for _, o := range set.OfKind("OVSManager") {
		sp := o.Spec.(*spec.OVSManagerSpec)
		if sp.Node != node {
			continue
		}
		idx.managers[o.Metadata.Name] = sp
		idx.byManager[o.Metadata.Name] = &managerIndex{
			bridges: map[string][]reconciler.Ref{}, mirrorsOnBridge: map[string][]reconciler.Ref{},
			mirrorsByName: map[string][]reconciler.Ref{}, mirrorsByPort: map[string][]reconciler.Ref{},
			mirrorNames: map[string]bool{},
			all:         []reconciler.Ref{reconciler.RefOf(o)},
		}
		idx.all = append(idx.all, reconciler.RefOf(o))
	}
	for _, o := range set.Objects {
		ref := reconciler.RefOf(o)
		switch sp := o.Spec.(type) {
		case *spec.BridgeSpec:
			mi := idx.byManager[sp.Manager]
			if mi == nil {
				continue
			}
			mi.bridges[sp.Bridge] = append(mi.bridges[sp.Bridge], ref)
			mi.all = append(mi.all, ref)
			idx.objects[ref] = sp.Manager
		case *spec.MirrorSpec:
			mi := idx.byManager[sp.Manager]
			if mi == nil {
				continue
			}
			mi.mirrorsOnBridge[sp.Bridge] = append(mi.mirrorsOnBridge[sp.Bridge], ref)
			mi.mirrorsByName[sp.MirrorName] = append(mi.mirrorsByName[sp.MirrorName], ref)
			mi.mirrorNames[sp.Bridge+"/"+sp.MirrorName] = true
			mp := resolveMirrorPorts(set, sp)
			ports := map[string]bool{}
			for _, pn := range append(append([]string(nil), mp.src...), mp.dst...) {
				ports[pn] = true
			}
			if mp.output != "" {
				ports[mp.output] = true
			}
			for pn := range ports {
				mi.mirrorsByPort[pn] = append(mi.mirrorsByPort[pn], ref)
			}
			mi.all = append(mi.all, ref)
			idx.objects[ref] = sp.Manager
		default:
			continue
		}
		idx.all = append(idx.all, ref)
	}
	return idx
}

// useSet makes set the provider's index when it is a revision not seen yet.
func (p *Provider) useSet(set *spec.Set) {
	if set == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.index.set == set {
		return
	}
	p.index = newSpecIndex(set, p.opts.Node)
}

func (p *Provider) currentIndex() *specIndex {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.index
}
