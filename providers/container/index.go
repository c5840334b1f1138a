package container

import (
	"strings"

	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/spec"
)

// specIndex maps what Docker, OVSDB and netlink report to the
// ContainerPorts of this node they concern. It is rebuilt when the engine
// hands the provider a new revision.
type specIndex struct {
	set *spec.Set
	// byContainer maps the container reference a spec uses (name, ID or
	// ID prefix) to its ContainerPorts.
	byContainer map[string][]reconciler.Ref
	// byIface maps "container/interface" (ovs-docker's external_ids) to
	// the ContainerPort naming them.
	byIface  map[string]reconciler.Ref
	managers map[string]bool // the node's OVSManagers
	all      []reconciler.Ref
}

func newSpecIndex(set *spec.Set, node string) *specIndex {
	idx := &specIndex{set: set, byContainer: map[string][]reconciler.Ref{}, byIface: map[string]reconciler.Ref{}, managers: map[string]bool{}}
	if set == nil {
		return idx
	}
	for _, o := range set.OfKind("OVSManager") {
		if o.Spec.(*spec.OVSManagerSpec).Node == node {
			idx.managers[o.Metadata.Name] = true
		}
	}
	for _, o := range set.OfKind("ContainerPort") {
		sp := o.Spec.(*spec.ContainerPortSpec)
		if sp.Node != node {
			continue
		}
		ref := reconciler.RefOf(o)
		idx.byContainer[sp.Container] = append(idx.byContainer[sp.Container], ref)
		idx.byIface[sp.Container+"/"+sp.Interface] = ref
		idx.all = append(idx.all, ref)
	}
	return idx
}

// forContainer returns the ContainerPorts naming c by name, ID or ID
// prefix.
func (idx *specIndex) forContainer(c *ctr) []reconciler.Ref {
	out := append([]reconciler.Ref(nil), idx.byContainer[c.Name]...)
	for ref, refs := range idx.byContainer {
		if ref != c.Name && c.ID != "" && strings.HasPrefix(c.ID, ref) {
			out = append(out, refs...)
		}
	}
	return out
}
