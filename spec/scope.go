package spec

import "slices"

// NodeOf returns the node whose daemon applies o, from the object itself or
// through the OVSManager it names. It returns "" for an object every node
// applies (a SkyDiveExport without node) and for a reference to a manager
// missing from the set (which Validate refuses).
func (s *Set) NodeOf(o *Object) string {
	switch sp := o.Spec.(type) {
	case *OVSManagerSpec:
		return sp.Node
	case *BridgeSpec:
		return s.managerNode(sp.Manager)
	case *MirrorSpec:
		return s.managerNode(sp.Manager)
	case *ContainerPortSpec:
		return sp.Node
	case *CollectorTargetSpec:
		return sp.Node
	case *SkyDiveExportSpec:
		return sp.Node
	}
	return ""
}

func (s *Set) managerNode(name string) string {
	if m := s.Get("OVSManager", name); m != nil {
		return m.Spec.(*OVSManagerSpec).Node
	}
	return ""
}

// ForNode returns the objects the daemon of node applies, in tree order:
// those placed on node and those placed on every node.
func (s *Set) ForNode(node string) []*Object {
	var out []*Object
	for _, o := range s.Objects {
		if n := s.NodeOf(o); n == node || (n == "" && o.Kind == "SkyDiveExport") {
			out = append(out, o)
		}
	}
	return out
}

// Nodes lists the nodes named in the set, sorted.
func (s *Set) Nodes() []string {
	var out []string
	for _, o := range s.Objects {
		if n := s.NodeOf(o); n != "" && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// Dependencies maps the ID ("Kind/name") of every object that depends on
// others to the IDs of the objects in the set that must exist before it can
// be applied, and be removed only after it: a Bridge needs its OVSManager; a
// Mirror or ContainerPort needs its OVSManager and, when the set declares
// it, the Bridge it sits on; a Mirror also needs the ContainerPorts it
// selects or outputs to.
func (s *Set) Dependencies() map[string][]string {
	bridges := map[[2]string]string{} // manager, OVS bridge name -> Bridge ID
	for _, o := range s.Objects {
		if b, ok := o.Spec.(*BridgeSpec); ok {
			bridges[[2]string{b.Manager, b.Bridge}] = o.ID()
		}
	}
	out := map[string][]string{}
	for _, o := range s.Objects {
		var manager, bridge string
		switch sp := o.Spec.(type) {
		case *BridgeSpec:
			manager = sp.Manager
		case *MirrorSpec:
			manager, bridge = sp.Manager, sp.Bridge
		case *ContainerPortSpec:
			manager, bridge = sp.Manager, sp.Bridge
		default:
			continue
		}
		var deps []string
		if s.Get("OVSManager", manager) != nil {
			deps = append(deps, "OVSManager/"+manager)
		}
		if id, ok := bridges[[2]string{manager, bridge}]; ok && bridge != "" {
			deps = append(deps, id)
		}
		if m, ok := o.Spec.(*MirrorSpec); ok {
			for _, name := range m.ContainerPorts() {
				if s.Get("ContainerPort", name) != nil {
					deps = append(deps, "ContainerPort/"+name)
				}
			}
		}
		if len(deps) > 0 {
			out[o.ID()] = deps
		}
	}
	return out
}

// KindRank is the position of kind in the registry (OVSManager first), used
// to apply kinds in dependency order and remove them in reverse; -1 for an
// unknown kind.
func KindRank(kind string) int {
	for i, k := range kinds {
		if k.Name == kind {
			return i
		}
	}
	return -1
}

// Policy returns the object's policy (enforce unless the spec says observe).
func (o *Object) Policy() Policy {
	var p Policy
	switch sp := o.Spec.(type) {
	case *OVSManagerSpec:
		p = sp.Policy
	case *BridgeSpec:
		p = sp.Policy
	case *MirrorSpec:
		p = sp.Policy
	case *ContainerPortSpec:
		p = sp.Policy
	case *CollectorTargetSpec:
		p = sp.Policy
	case *SkyDiveExportSpec:
		p = sp.Policy
	}
	if p == "" {
		return PolicyEnforce
	}
	return p
}
