package ovs

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/ovn-org/libovsdb/model"
	libovsdb "github.com/ovn-org/libovsdb/ovsdb"

	"github.com/wirekeeper/wirekeeper/internal/ovs/vswitch"
	"github.com/wirekeeper/wirekeeper/spec"
)

// PortRow is an OVS port with its single interface of the same name, the
// layout ovs-docker makes for a veth host end.
type PortRow struct {
	// Bridge is the name of the bridge listing the port; "" when none does.
	Bridge string
	// Name is the port's and the interface's name (the veth host end).
	Name string
	// UUID and InterfaceUUID identify the rows; empty for a port to add.
	UUID, InterfaceUUID string
	// Tag is Port.tag, the access VLAN; nil for a trunk port.
	Tag *int
	// ExternalIDs are the interface's external_ids.
	ExternalIDs map[string]string
	// Error is Interface.error: why ovs-vswitchd cannot use the interface.
	Error string
}

// Ports reads and writes the ports of one manager (container ports), over
// the manager's shared connection and monitor. A write goes in one
// transaction with the writes made at the same time (group commit), and
// returns once the monitor shows it, so that a following read sees it.
type Ports struct {
	c       *Conn
	manager string
}

// Ports returns the port access of manager, one of node's OVSManagers in
// set. A manager not connected yet is connected, and its first attempt
// waited for (within ctx). It fails when the manager is not in set for
// this node or is not connected.
func (cs *Clients) Ports(ctx context.Context, set *spec.Set, manager string) (*Ports, error) {
	c, err := cs.For(set, manager)
	if err != nil {
		return nil, err
	}
	if err := c.WaitUp(ctx); err != nil {
		return nil, err
	}
	return &Ports{c: c, manager: manager}, nil
}

// Manager is the name of the OVSManager these ports are on.
func (ps *Ports) Manager() string { return ps.manager }

// BridgeExists reports whether the manager has a bridge of that name.
func (ps *Ports) BridgeExists(name string) (bool, error) {
	_, v, err := ps.c.Current()
	if err != nil {
		return false, err
	}
	v.RLock()
	defer v.RUnlock()
	return v.BridgeByName[name] != nil, nil
}

// Find returns the ports whose interface carries ovs-docker's
// external_ids:container_id set to one of containerIDs and
// external_ids:container_iface set to iface, sorted by name.
func (ps *Ports) Find(containerIDs []string, iface string) ([]PortRow, error) {
	keys := make([]string, 0, len(containerIDs))
	for _, cid := range containerIDs {
		keys = append(keys, cid+"/"+iface)
	}
	return ps.containerRows(keys)
}

// Containers returns the ports whose interface carries ovs-docker's
// external_ids:container_id and container_iface (whoever made them),
// sorted by name.
func (ps *Ports) Containers() ([]PortRow, error) { return ps.containerRows(nil) }

// containerRows returns, sorted by name and each once, the ports of the
// interfaces the view indexes by container under keys ("ID/iface"), or
// under every key when keys is nil.
func (ps *Ports) containerRows(keys []string) ([]PortRow, error) {
	_, v, err := ps.c.Current()
	if err != nil {
		return nil, err
	}
	v.RLock()
	defer v.RUnlock()
	if keys == nil {
		keys = slices.Collect(maps.Keys(v.ContainerIfaces))
	}
	var out []PortRow
	for _, k := range keys {
		for id := range v.ContainerIfaces[k] {
			out = append(out, v.PortRowOf(id))
		}
	}
	slices.SortFunc(out, func(a, b PortRow) int { return cmp.Compare(a.Name, b.Name) })
	return slices.CompactFunc(out, func(a, b PortRow) bool { return a.InterfaceUUID == b.InterfaceUUID }), nil
}

// Marked returns the ports whose interface carries wirekeeper's markers
// for owner and kind (every name), sorted by name.
func (ps *Ports) Marked(owner, kind string) ([]PortRow, error) {
	return ps.marked(func(ids map[string]string) bool { return ids[KeyOwner] == owner && ids[KeyKind] == kind }, nil)
}

// MarkedAs returns the ports whose interface carries owner's marker for the
// object kind/name, from the view's marker index.
func (ps *Ports) MarkedAs(owner, kind, name string) ([]PortRow, error) {
	return ps.marked(func(ids map[string]string) bool { return ids[KeyOwner] == owner }, []string{kind + "/" + name})
}

// marked returns, sorted by name, the ports whose interface's external_ids
// satisfy match: among the interfaces indexed under keys, or all of them
// when keys is nil.
func (ps *Ports) marked(match func(ids map[string]string) bool, keys []string) ([]PortRow, error) {
	_, v, err := ps.c.Current()
	if err != nil {
		return nil, err
	}
	v.RLock()
	defer v.RUnlock()
	var out []PortRow
	check := func(id string) {
		if i := v.Ifaces[id]; i != nil && match(i.ExternalIDs) {
			out = append(out, v.PortRowOf(id))
		}
	}
	if keys == nil {
		for id := range v.Ifaces {
			check(id)
		}
	}
	for _, k := range keys {
		for id := range v.Marked[k] {
			check(id)
		}
	}
	slices.SortFunc(out, func(a, b PortRow) int { return cmp.Compare(a.Name, b.Name) })
	return out, nil
}

// Named returns the port of that name, if the manager has one.
func (ps *Ports) Named(name string) (PortRow, bool, error) {
	_, v, err := ps.c.Current()
	if err != nil {
		return PortRow{}, false, err
	}
	v.RLock()
	defer v.RUnlock()
	pid, ok := v.PortByName[name]
	if !ok {
		return PortRow{}, false, nil
	}
	// The monitor may deliver a new Port row before its Interface row:
	// until that arrives the port is described without it.
	for _, iid := range v.Ports[pid].Interfaces {
		if v.Ifaces[iid] != nil {
			return v.PortRowOf(iid), true, nil
		}
	}
	return PortRow{Name: name, UUID: pid, Bridge: v.BridgeNameOfPort(pid)}, true, nil
}

// PortRowOf builds the PortRow of the interface with that UUID, which the
// view holds. Callers hold v.mu.
func (v *View) PortRowOf(ifaceUUID string) PortRow {
	i := v.Ifaces[ifaceUUID]
	row := PortRow{Name: i.Name, InterfaceUUID: i.UUID, ExternalIDs: maps.Clone(i.ExternalIDs)}
	if i.Error != nil {
		row.Error = *i.Error
	}
	if pid, ok := v.IfacePort[ifaceUUID]; ok {
		row.UUID = pid
		if pr := v.Ports[pid]; pr != nil {
			row.Name = pr.Name
			if pr.Tag != nil {
				t := *pr.Tag
				row.Tag = &t
			}
		}
		row.Bridge = v.BridgeNameOfPort(pid)
	}
	return row
}

// BridgeNameOfPort names the bridge listing the port. Callers hold v.mu.
func (v *View) BridgeNameOfPort(portUUID string) string {
	if b := v.Bridges[v.PortBridge[portUUID]]; b != nil && b.PortSet[portUUID] {
		return b.Name
	}
	return ""
}

// Add creates the port row.Name with its interface (external_ids
// row.ExternalIDs, tag row.Tag) on bridge row.Bridge, in one transaction.
func (ps *Ports) Add(ctx context.Context, row PortRow) error {
	cl, v, err := ps.c.Current()
	if err != nil {
		return err
	}
	v.RLock()
	b := v.BridgeByName[row.Bridge]
	_, taken := v.PortByName[row.Name]
	v.RUnlock()
	if b == nil {
		return fmt.Errorf("ovsdb: manager %s has no bridge %s", ps.manager, row.Bridge)
	}
	if taken {
		return fmt.Errorf("ovsdb: manager %s already has a port named %s", ps.manager, row.Name)
	}
	t := NewTxn(cl)
	iface := vswitch.Interface{UUID: t.NamedUUID("iface"), Name: row.Name, ExternalIDs: row.ExternalIDs}
	port := vswitch.Port{UUID: t.NamedUUID("port"), Name: row.Name, Interfaces: []string{iface.UUID}, Tag: row.Tag}
	if err := t.Add(cl.Create(&iface, &port)); err != nil {
		return err
	}
	br := &vswitch.Bridge{UUID: b.UUID}
	if err := t.Add(cl.Where(br).Mutate(br, model.Mutation{Field: &br.Ports, Mutator: libovsdb.MutateOperationInsert, Value: []string{port.UUID}})); err != nil {
		return err
	}
	if err := ps.commit(ctx, t, "add port "+row.Name); err != nil {
		return err
	}
	return ps.await(ctx, func(v *View) bool {
		id, ok := v.PortByName[row.Name]
		return ok && v.BridgeNameOfPort(id) == row.Bridge
	})
}

// Update sets the tag of port row.UUID to row.Tag (none when nil) and the
// keys of ids into its interface's external_ids, leaving other keys alone.
func (ps *Ports) Update(ctx context.Context, row PortRow, ids map[string]string) error {
	cl, _, err := ps.c.Current()
	if err != nil {
		return err
	}
	t := NewTxn(cl)
	port := &vswitch.Port{UUID: row.UUID, Tag: row.Tag}
	if err := t.Add(cl.Where(port).Update(port, &port.Tag)); err != nil {
		return err
	}
	if len(ids) > 0 {
		if err := t.SetExternalIDs(&vswitch.Interface{UUID: row.InterfaceUUID}, ids); err != nil {
			return err
		}
	}
	if err := ps.commit(ctx, t, "update port "+row.Name); err != nil {
		return err
	}
	return ps.await(ctx, func(v *View) bool {
		p := v.Ports[row.UUID]
		if p == nil || !equalTag(p.Tag, row.Tag) {
			return false
		}
		i := v.Ifaces[row.InterfaceUUID]
		for k, val := range ids {
			if i == nil || i.ExternalIDs[k] != val {
				return false
			}
		}
		return true
	})
}

func equalTag(a, b *int) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// Delete takes the ports off their bridges (OVSDB then removes the Port
// and Interface rows no bridge refers to), in one transaction. Ports
// already gone are not an error.
func (ps *Ports) Delete(ctx context.Context, rows ...PortRow) error {
	cl, v, err := ps.c.Current()
	if err != nil {
		return err
	}
	t := NewTxn(cl)
	var uuids []string
	v.RLock()
	for _, r := range rows {
		if r.UUID == "" || v.Ports[r.UUID] == nil {
			continue
		}
		if b := v.Bridges[v.PortBridge[r.UUID]]; b != nil && b.PortSet[r.UUID] {
			_ = t.MutateBridge(b.UUID, "ports", libovsdb.MutateOperationDelete, r.UUID)
			uuids = append(uuids, r.UUID)
		}
	}
	v.RUnlock()
	t.Keep()
	if err := t.Flush(); err != nil {
		return err
	}
	if len(t.Ops) == 0 {
		return nil
	}
	if err := ps.commit(ctx, t, "delete ports"); err != nil {
		return err
	}
	return ps.await(ctx, func(v *View) bool {
		for _, id := range uuids {
			if v.Ports[id] != nil {
				return false
			}
		}
		return true
	})
}

// commit sends t, with the writes other plugs make at the same time (one
// transaction), and checks its operations' results.
func (ps *Ports) commit(ctx context.Context, t *Txn, what string) error {
	if err := ps.c.group.send(ctx, ps.c, t.Ops); err != nil {
		return fmt.Errorf("ovsdb: %s on manager %s: %w", what, ps.manager, err)
	}
	return nil
}

// await waits until the monitor's view satisfies cond (run under the
// view's read lock), at most SettleTimeout; a transaction that committed is
// not failed for a slow monitor (the next observe shows the truth).
func (ps *Ports) await(ctx context.Context, cond func(v *View) bool) error {
	return ps.c.Await(ctx, func(v *View) bool {
		v.RLock()
		defer v.RUnlock()
		return cond(v)
	})
}
