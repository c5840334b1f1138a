package ovsdb

import (
	"fmt"
	"maps"

	libovsdb "github.com/ovn-org/libovsdb/ovsdb"

	"github.com/wirekeeper/wirekeeper/providers/ovsdb/vswitch"
	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/spec"
)

// findBridge returns the live bridge ref means: the one carrying this
// node's marker for it, else the one with the spec's name. Callers hold v.mu.
func (p *Provider) findBridge(v *view, ref reconciler.Ref, sp *spec.BridgeSpec) *bridgeRow {
	var found *bridgeRow
	for id := range v.marked[ref.Kind+"/"+ref.Name] {
		if b := v.bridges[id]; b != nil && p.owns(b.ExternalIDs) && (found == nil || id < found.UUID) {
			found = b
		}
	}
	if found == nil && sp != nil {
		found = v.byName[sp.Bridge]
	}
	return found
}

func (p *Provider) observeBridge(req reconciler.Request) (reconciler.Observation, error) {
	sp := specOf[spec.BridgeSpec](req)
	v, err := p.viewFor(req)
	if err != nil || v == nil {
		return reconciler.Observation{}, err
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	b := p.findBridge(v, req.Ref, sp)
	if b == nil {
		return reconciler.Observation{}, nil
	}
	ids := b.ExternalIDs
	marked := p.owns(ids) && ids[keyKind] == "Bridge" && ids[keyName] == req.Ref.Name
	obs := reconciler.Observation{Exists: true}
	// An adopted bridge is managed while in the spec and left alone once
	// removed from it: wirekeeper deletes only bridges it created.
	obs.Owned = marked && (req.Desired != nil || ids[keyAdopted] != "true")
	obs.Adoptable = !marked && ids[keyOwner] == ""
	live := &spec.BridgeSpec{Bridge: b.Name, DatapathType: b.DatapathType}
	if live.DatapathType == "" {
		live.DatapathType = "system" // what OVS does with an empty datapath_type
	}
	if sp != nil {
		live.Manager, live.Policy = sp.Manager, sp.Policy
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
func (p *Provider) bridgeOps(t *txn, v *view, it reconciler.Apply) error {
	ref := it.Req.Ref
	if it.Change.Action == reconciler.ActionDelete {
		b := p.findBridge(v, ref, nil)
		if b == nil {
			return nil
		}
		if b.ExternalIDs[keyAdopted] == "true" {
			return fmt.Errorf("bridge %s existed before wirekeeper managed it; it is not deleted", b.Name)
		}
		root := &vswitch.OpenvSwitch{UUID: v.root}
		if err := t.add(t.client.Where(root).Mutate(root, bridgesMutation(root, libovsdb.MutateOperationDelete, b.UUID))); err != nil {
			return err
		}
		return t.add(t.client.Where(&vswitch.Bridge{UUID: b.UUID}).Delete())
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
		if v.root == "" {
			return fmt.Errorf("the database has no Open_vSwitch row (run ovs-vsctl init)")
		}
		// The bridge's own internal port, as ovs-vsctl add-br makes it.
		iface := vswitch.Interface{UUID: t.namedUUID("iface"), Name: sp.Bridge, Type: "internal"}
		port := vswitch.Port{UUID: t.namedUUID("port"), Name: sp.Bridge, Interfaces: []string{iface.UUID}}
		row.UUID = t.namedUUID("bridge")
		row.Ports = []string{port.UUID}
		row.ExternalIDs = ids
		if err := t.add(t.client.Create(&iface, &port, &row)); err != nil {
			return err
		}
		root := &vswitch.OpenvSwitch{UUID: v.root}
		return t.add(t.client.Where(root).Mutate(root, bridgesMutation(root, libovsdb.MutateOperationInsert, row.UUID)))
	}
	if !p.owns(b.ExternalIDs) {
		ids[keyAdopted] = "true" // taken over, not created: never deleted
	}
	row.UUID = b.UUID
	fields := []any{&row.DatapathType}
	if row.FailMode != nil {
		fields = append(fields, &row.FailMode)
	}
	if err := t.add(t.client.Where(&vswitch.Bridge{UUID: b.UUID}).Update(&row, fields...)); err != nil {
		return err
	}
	return t.setExternalIDs(&vswitch.Bridge{UUID: b.UUID}, ids)
}
