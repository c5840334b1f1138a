package ovsdb

import (
	"fmt"
	"maps"

	libovsdb "github.com/ovn-org/libovsdb/ovsdb"

	"github.com/wirekeeper/wirekeeper/internal/ovs"
	"github.com/wirekeeper/wirekeeper/internal/ovs/vswitch"
	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/spec"
)

// findBridge returns the live bridge ref means: the one carrying this
// node's marker for it, else the one with the spec's name. Callers hold v.mu.
func (p *Provider) findBridge(v *ovs.View, ref reconciler.Ref, sp *spec.BridgeSpec) *ovs.BridgeRow {
	var found *ovs.BridgeRow
	for id := range v.Marked[ref.Kind+"/"+ref.Name] {
		if b := v.Bridges[id]; b != nil && p.owns(b.ExternalIDs) && (found == nil || id < found.UUID) {
			found = b
		}
	}
	if found == nil && sp != nil {
		found = v.BridgeByName[sp.Bridge]
	}
	return found
}

func (p *Provider) observeBridge(req reconciler.Request) (reconciler.Observation, error) {
	sp := specOf[spec.BridgeSpec](req)
	v, err := p.viewFor(req)
	if err != nil || v == nil {
		return reconciler.Observation{}, err
	}
	v.RLock()
	defer v.RUnlock()
	b := p.findBridge(v, req.Ref, sp)
	if b == nil {
		return reconciler.Observation{}, nil
	}
	ids := b.ExternalIDs
	marked := p.owns(ids) && ids[ovs.KeyKind] == "Bridge" && ids[ovs.KeyName] == req.Ref.Name
	obs := reconciler.Observation{Exists: true}
	// An adopted bridge is managed while in the spec and left alone once
	// removed from it: wirekeeper deletes only bridges it created.
	obs.Owned = marked && (req.Desired != nil || ids[ovs.KeyAdopted] != "true")
	obs.Adoptable = !marked && ids[ovs.KeyOwner] == ""
	live := &spec.BridgeSpec{Bridge: b.Name, DatapathType: b.DatapathType}
	if live.DatapathType == "" {
		live.DatapathType = "system" // what OVS does with an empty datapath_type
	}
	if sp != nil {
		if sp.FailMode != "" && b.FailMode != nil {
			live.FailMode = string(*b.FailMode)
		}
		// Only the keys the spec sets are managed; the others are not ours.
		for k := range sp.ExternalIDs {
			if val, ok := ids[k]; ok {
				if live.ExternalIDs == nil {
					live.ExternalIDs = map[string]string{}
				}
				live.ExternalIDs[k] = val
			}
		}
	}
	obs.Live = live
	return obs, nil
}

// bridgeOps adds to t the operations that bring about one Bridge change.
// Callers hold v.mu.
func (p *Provider) bridgeOps(t *ovs.Txn, v *ovs.View, it reconciler.Apply) error {
	ref := it.Req.Ref
	if it.Change.Action == reconciler.ActionDelete {
		b := p.findBridge(v, ref, nil)
		if b == nil {
			return nil
		}
		if b.ExternalIDs[ovs.KeyAdopted] == "true" {
			return fmt.Errorf("bridge %s existed before wirekeeper managed it; it is not deleted", b.Name)
		}
		root := &vswitch.OpenvSwitch{UUID: v.Root}
		if err := t.Add(t.Client().Where(root).Mutate(root, bridgesMutation(root, libovsdb.MutateOperationDelete, b.UUID))); err != nil {
			return err
		}
		return t.Add(t.Client().Where(&vswitch.Bridge{UUID: b.UUID}).Delete())
	}
	sp := it.Req.Desired.Spec.(*spec.BridgeSpec)
	ids := maps.Clone(sp.ExternalIDs)
	if ids == nil {
		ids = map[string]string{}
	}
	maps.Copy(ids, p.markers(ref))
	row := vswitch.Bridge{Name: sp.Bridge, DatapathType: sp.DatapathType}
	if sp.FailMode != "" {
		fm := vswitch.BridgeFailMode(sp.FailMode)
		row.FailMode = &fm
	}
	b := p.findBridge(v, ref, sp)
	if b == nil {
		if v.Root == "" {
			return fmt.Errorf("the database has no Open_vSwitch row (run ovs-vsctl init)")
		}
		// The bridge's own internal port, as ovs-vsctl add-br makes it.
		iface := vswitch.Interface{UUID: t.NamedUUID("iface"), Name: sp.Bridge, Type: "internal"}
		port := vswitch.Port{UUID: t.NamedUUID("port"), Name: sp.Bridge, Interfaces: []string{iface.UUID}}
		row.UUID = t.NamedUUID("bridge")
		row.Ports = []string{port.UUID}
		row.ExternalIDs = ids
		if err := t.Add(t.Client().Create(&iface, &port, &row)); err != nil {
			return err
		}
		root := &vswitch.OpenvSwitch{UUID: v.Root}
		return t.Add(t.Client().Where(root).Mutate(root, bridgesMutation(root, libovsdb.MutateOperationInsert, row.UUID)))
	}
	if !p.owns(b.ExternalIDs) {
		ids[ovs.KeyAdopted] = "true" // taken over, not created: never deleted
	}
	row.UUID = b.UUID
	fields := []any{&row.DatapathType}
	if row.FailMode != nil {
		fields = append(fields, &row.FailMode)
	}
	if err := t.Add(t.Client().Where(&vswitch.Bridge{UUID: b.UUID}).Update(&row, fields...)); err != nil {
		return err
	}
	return t.SetExternalIDs(&vswitch.Bridge{UUID: b.UUID}, ids)
}
