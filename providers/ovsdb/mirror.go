package ovsdb

import (
	"fmt"
	"slices"
	"strings"

	libovsdb "github.com/ovn-org/libovsdb/ovsdb"

	"github.com/wirekeeper/wirekeeper/internal/ovs"
	"github.com/wirekeeper/wirekeeper/internal/ovs/vswitch"
	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/spec"
)

// findMirror returns the live mirror ref means: the one carrying this
// node's marker for it, else one named like the spec on the spec's bridge
// (to adopt, or to report in the way). Callers hold v.mu.
func (p *Provider) findMirror(v *ovs.View, ref reconciler.Ref, sp *spec.MirrorSpec) *vswitch.Mirror {
	if m := p.markedRow(v, ref); m != nil {
		return m
	}
	if sp == nil {
		return nil
	}
	br := v.BridgeByName[sp.Bridge]
	if br == nil {
		return nil
	}
	var found *vswitch.Mirror
	for id := range v.MirrorsNamed[sp.MirrorName] {
		if br.MirrorSet[id] && (found == nil || id < found.UUID) { // several: the same one every time
			found = v.Mirrors[id]
		}
	}
	return found
}

// markedRow returns the mirror on a bridge that carries this node's marker
// for ref. A Mirror row no bridge lists is as good as gone: OVSDB deletes
// it with the transaction that removed its last reference, and the view may
// only not have had that row's delete event yet. Callers hold v.mu.
func (p *Provider) markedRow(v *ovs.View, ref reconciler.Ref) *vswitch.Mirror {
	var found *vswitch.Mirror
	for id := range v.Marked[ref.Kind+"/"+ref.Name] {
		m := v.Mirrors[id]
		if m != nil && p.owns(m.ExternalIDs) && v.MirrorBridge[id] != "" && (found == nil || id < found.UUID) {
			found = m
		}
	}
	return found
}

func (p *Provider) observeMirror(req reconciler.Request) (reconciler.Observation, error) {
	sp := specOf[spec.MirrorSpec](req)
	v, err := p.viewFor(req)
	if err != nil || v == nil {
		return reconciler.Observation{}, err
	}
	v.RLock()
	defer v.RUnlock()
	m := p.findMirror(v, req.Ref, sp)
	var obs reconciler.Observation
	var mp mirrorPorts
	if sp != nil {
		mp = resolveMirrorPorts(req.Set, sp)
	}
	if req.Desired != nil {
		obs.Pending = mirrorPrerequisites(v, sp, mp)
	}
	if m == nil {
		return obs, nil
	}
	obs.Exists = true
	obs.Owned = p.owns(m.ExternalIDs) && m.ExternalIDs[ovs.KeyName] == req.Ref.Name && m.ExternalIDs[ovs.KeyKind] == "Mirror"
	obs.Adoptable = !obs.Owned && m.ExternalIDs[ovs.KeyOwner] == ""
	live, missing := liveMirror(v, m, sp, mp)
	obs.Live = live
	var degraded []string
	if len(missing) > 0 {
		degraded = append(degraded, "selected ports missing: "+strings.Join(missing, ", ")+"; mirroring the others, and adding them back when they appear")
	}
	if why := beyondMirrorLimit(v, m); why != "" {
		degraded = append(degraded, why)
	}
	obs.Degraded = strings.Join(degraded, "; ")
	return obs, nil
}

// maxMirrorsPerBridge is ovs-vswitchd's MAX_MIRRORS (ofproto/ofproto.h).
const maxMirrorsPerBridge = 32

// beyondMirrorLimit says why mirror m is not applied when its bridge lists
// more mirrors than ovs-vswitchd applies. Which ones vswitchd ignores
// depends on its history (a mirror it applied keeps its slot; a freed slot
// goes to the next one it configures), so the provider does not guess: it
// reads vswitchd's own record, the statistics it writes for the mirrors it
// applied and never for the others. Callers hold v.mu.
func beyondMirrorLimit(v *ovs.View, m *vswitch.Mirror) string {
	br := v.BridgeOfMirror(m.UUID)
	if br == nil || len(br.Mirrors) <= maxMirrorsPerBridge || len(m.Statistics) > 0 {
		return ""
	}
	return fmt.Sprintf("not applied by ovs-vswitchd: bridge %s has %d mirrors and vswitchd applies at most %d per bridge (this one has no statistics, vswitchd's mark of an applied mirror); remove mirrors from the bridge",
		br.Name, len(br.Mirrors), maxMirrorsPerBridge)
}

// mirrorPrerequisites says what must appear before the mirror can be made:
// its bridge and its output port. Callers hold v.mu.
func mirrorPrerequisites(v *ovs.View, sp *spec.MirrorSpec, mp mirrorPorts) string {
	br := v.BridgeByName[sp.Bridge]
	if br == nil {
		return fmt.Sprintf("bridge %s not found on manager %s; waiting for it", sp.Bridge, sp.Manager)
	}
	if sp.Output != nil && sp.Output.ContainerPort != "" && mp.output == "" {
		return fmt.Sprintf("output ContainerPort %s is not in the spec", sp.Output.ContainerPort)
	}
	if mp.output != "" {
		if _, ok := v.PortOnBridge(br, mp.output); !ok {
			return fmt.Sprintf("output port %s not found on bridge %s; waiting for it", mp.describe(mp.output), sp.Bridge)
		}
	}
	return ""
}

// liveMirror renders row m in the spec's form (the engine puts its lists
// in the spec's order). A selected port the spec names that is absent from the bridge is
// shown as the spec has it and returned in missing: it cannot be selected
// until it exists, which is a degradation, not a difference to repair. The
// OVS port of a ContainerPort the spec names (mp) is shown by that
// ContainerPort's name, in the list the spec names it in.
func liveMirror(v *ovs.View, m *vswitch.Mirror, sp *spec.MirrorSpec, mp mirrorPorts) (*spec.MirrorSpec, []string) {
	live := &spec.MirrorSpec{MirrorName: m.Name, SelectAll: m.SelectAll}
	var br *ovs.BridgeRow
	if b := v.BridgeOfMirror(m.UUID); b != nil {
		br, live.Bridge = b, b.Name
	}
	var missing []string
	ports := func(uuids []string, want, wantContainers []string, dir string) (names, containers []string) {
		names = make([]string, 0, len(uuids))
		for _, id := range uuids {
			n := v.PortName(id)
			if c, ok := mp.container[n]; ok && slices.Contains(wantContainers, c) {
				containers = append(containers, c)
			} else if n != "" {
				names = append(names, n)
			}
		}
		for _, w := range want {
			if slices.Contains(names, w) {
				continue
			}
			if br == nil || !hasPort(v, br, w) {
				names = append(names, w)
				missing = append(missing, w+" ("+dir+")")
			}
		}
		for port, c := range mp.container {
			if !slices.Contains(wantContainers, c) || slices.Contains(containers, c) {
				continue
			}
			if br == nil || !hasPort(v, br, port) {
				containers = append(containers, c)
				missing = append(missing, mp.describe(port)+" ("+dir+")")
			}
		}
		return names, containers
	}
	var want *spec.MirrorSpec
	if sp != nil {
		want = sp
	} else {
		want = &spec.MirrorSpec{}
	}
	live.SelectSrcPorts, live.SelectSrcContainerPorts = ports(m.SelectSrcPort, want.SelectSrcPorts, want.SelectSrcContainerPorts, "src")
	live.SelectDstPorts, live.SelectDstContainerPorts = ports(m.SelectDstPort, want.SelectDstPorts, want.SelectDstContainerPorts, "dst")
	slices.Sort(missing) // mp.container is a map
	live.SelectVLANs = slices.Clone(m.SelectVLAN)
	switch {
	case m.OutputPort != nil:
		n := v.PortName(*m.OutputPort)
		if c, ok := mp.container[n]; ok && want.Output != nil && want.Output.ContainerPort == c {
			live.Output = &spec.MirrorOutput{ContainerPort: c}
		} else {
			live.Output = &spec.MirrorOutput{Port: n}
		}
	case m.OutputVLAN != nil:
		vlan := *m.OutputVLAN
		live.Output = &spec.MirrorOutput{VLAN: &vlan}
	}
	return live, missing
}

func hasPort(v *ovs.View, br *ovs.BridgeRow, name string) bool {
	_, ok := v.PortOnBridge(br, name)
	return ok
}

// mirrorOps adds to t the operations that bring about one Mirror change.
// Callers hold v.mu.
func (p *Provider) mirrorOps(t *ovs.Txn, v *ovs.View, it reconciler.Apply) error {
	ref := it.Req.Ref
	if it.Change.Action == reconciler.ActionDelete {
		m := p.markedRow(v, ref)
		if m == nil {
			return nil // already gone
		}
		if br := v.BridgeOfMirror(m.UUID); br != nil {
			if err := t.MutateBridge(br.UUID, "mirrors", libovsdb.MutateOperationDelete, m.UUID); err != nil {
				return err
			}
		}
		return t.Add(t.Client().Where(&vswitch.Mirror{UUID: m.UUID}).Delete())
	}
	sp := it.Req.Desired.Spec.(*spec.MirrorSpec)
	br := v.BridgeByName[sp.Bridge]
	if br == nil {
		return fmt.Errorf("bridge %s not found on manager %s", sp.Bridge, sp.Manager)
	}
	mp := resolveMirrorPorts(it.Req.Set, sp)
	row := vswitch.Mirror{Name: sp.MirrorName, SelectAll: sp.SelectAll, SelectVLAN: slices.Clone(sp.SelectVLANs)}
	row.SelectSrcPort = presentPorts(v, br, mp.src)
	row.SelectDstPort = presentPorts(v, br, mp.dst)
	if mp.output != "" {
		id, ok := v.PortOnBridge(br, mp.output)
		if !ok {
			return fmt.Errorf("output port %s not found on bridge %s", mp.describe(mp.output), sp.Bridge)
		}
		row.OutputPort = &id
	} else if sp.Output != nil && sp.Output.VLAN != nil {
		vlan := *sp.Output.VLAN
		row.OutputVLAN = &vlan
	}
	markers := p.markers(ref)
	existing := p.findMirror(v, ref, sp)
	if existing == nil {
		row.UUID = t.NamedUUID("mirror")
		row.ExternalIDs = markers
		if err := t.Add(t.Client().Create(&row)); err != nil {
			return err
		}
		return t.MutateBridge(br.UUID, "mirrors", libovsdb.MutateOperationInsert, row.UUID)
	}
	row.UUID = existing.UUID
	if err := t.Add(t.Client().Where(&vswitch.Mirror{UUID: row.UUID}).Update(&row, &row.Name, &row.SelectAll,
		&row.SelectSrcPort, &row.SelectDstPort, &row.SelectVLAN, &row.OutputPort, &row.OutputVLAN)); err != nil {
		return err
	}
	if err := t.SetExternalIDs(&vswitch.Mirror{UUID: row.UUID}, markers); err != nil {
		return err
	}
	if cur := v.BridgeOfMirror(row.UUID); cur != br {
		if cur != nil {
			if err := t.MutateBridge(cur.UUID, "mirrors", libovsdb.MutateOperationDelete, row.UUID); err != nil {
				return err
			}
		}
		return t.MutateBridge(br.UUID, "mirrors", libovsdb.MutateOperationInsert, row.UUID)
	}
	return nil
}

// presentPorts returns the UUIDs of the named ports that are on br.
func presentPorts(v *ovs.View, br *ovs.BridgeRow, names []string) []string {
	var out []string
	for _, n := range names {
		if id, ok := v.PortOnBridge(br, n); ok {
			out = append(out, id)
		}
	}
	return out
}
