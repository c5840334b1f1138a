package ovsdb

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/ovn-org/libovsdb/model"
	libovsdb "github.com/ovn-org/libovsdb/ovsdb"

	"github.com/wirekeeper/wirekeeper/providers/ovsdb/vswitch"
	"github.com/wirekeeper/wirekeeper/spec"
)

// The external_ids keys Open vSwitch's ovs-docker script writes on the
// Interface of a port it plugs into a container.
const (
	KeyContainerID    = "container_id"
	KeyContainerIface = "container_iface"
)

// Ownership markers, exported for the providers that keep their own rows
// through Ports (container ports).
const (
	KeyOwner = keyOwner
	KeyKind  = keyKind
	KeyName  = keyName
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

// Ports reads and writes the ports of one manager for the other providers
// of this daemon (container ports), over the OVSDB provider's connection
// and monitor. Each write is one transaction, and returns once the monitor
// shows it, so that a following read sees it.
type Ports struct {
	p       *Provider
	c       *conn
	manager string
}

// Ports returns the port access of manager, one of node's OVSManagers in
// set. A manager not connected yet is connected, and its first attempt
// waited for (within ctx). It fails when the manager is not in set for
// this node or is not connected.
func (p *Provider) Ports(ctx context.Context, set *spec.Set, manager string) (*Ports, error) {
	p.useSet(set)
	c, err := p.conn(manager)
	if err != nil {
		return nil, err
	}
	if err := c.waitUp(ctx); err != nil {
		return nil, err
	}
	return &Ports{p: p, c: c, manager: manager}, nil
}

// OnPortEvent registers f to be called with the interface external_ids of
// every port row added, changed or removed on any manager of the node
// (old and new ids for a change), and with nil ids when a manager's
// connection is made or lost (everything may have changed). f must not
// block.
func (p *Provider) OnPortEvent(f func(manager string, ids map[string]string)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.portEvents = append(p.portEvents, f)
}

// portEvent forwards one row event to the OnPortEvent subscribers.
func (p *Provider) portEvent(c *conn, table string, old, row model.Model) {
	p.mu.Lock()
	subs := p.portEvents
	p.mu.Unlock()
	if len(subs) == 0 {
		return
	}
	var idsList []map[string]string
	switch table {
	case "":
		idsList = []map[string]string{nil}
	case "Interface":
		for _, m := range []model.Model{old, row} {
			if r, ok := m.(*vswitch.Interface); ok && r != nil {
				idsList = append(idsList, r.ExternalIDs)
			}
		}
	case "Port":
		_, v, err := c.current()
		if err != nil {
			return
		}
		v.mu.RLock()
		for _, m := range []model.Model{old, row} {
			if r, ok := m.(*vswitch.Port); ok && r != nil {
				for _, id := range r.Interfaces {
					if i := v.ifaces[id]; i != nil {
						idsList = append(idsList, i.ExternalIDs)
					}
				}
			}
		}
		v.mu.RUnlock()
	case "Bridge": // a port taken off its bridge (ovs-vsctl del-port) goes with it
		o, _ := old.(*vswitch.Bridge)
		n, _ := row.(*vswitch.Bridge)
		if o == nil || n == nil || slices.Equal(o.Ports, n.Ports) {
			return
		}
		_, v, err := c.current()
		if err != nil {
			return
		}
		v.mu.RLock()
		for _, id := range symmetricDifference(o.Ports, n.Ports) {
			if pr := v.ports[id]; pr != nil {
				for _, iid := range pr.Interfaces {
					if i := v.ifaces[iid]; i != nil {
						idsList = append(idsList, i.ExternalIDs)
					}
				}
			}
		}
		v.mu.RUnlock()
	default:
		return
	}
	for _, ids := range idsList {
		for _, f := range subs {
			f(c.name, ids)
		}
	}
}

// Manager is the name of the OVSManager these ports are on.
func (ps *Ports) Manager() string { return ps.manager }

// BridgeExists reports whether the manager has a bridge of that name.
func (ps *Ports) BridgeExists(name string) (bool, error) {
	_, v, err := ps.c.current()
	if err != nil {
		return false, err
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.byName[name] != nil, nil
}

// Find returns the ports whose interface carries ovs-docker's
// external_ids:container_id set to one of containerIDs and
// external_ids:container_iface set to iface, sorted by name.
func (ps *Ports) Find(containerIDs []string, iface string) ([]PortRow, error) {
	_, v, err := ps.c.current()
	if err != nil {
		return nil, err
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	var out []PortRow
	for _, cid := range containerIDs {
		for id := range v.containerIfaces[cid+"/"+iface] {
			out = append(out, v.portRow(id))
		}
	}
	slices.SortFunc(out, func(a, b PortRow) int { return cmp.Compare(a.Name, b.Name) })
	return slices.CompactFunc(out, func(a, b PortRow) bool { return a.InterfaceUUID == b.InterfaceUUID }), nil
}

// Marked returns the ports whose interface carries wirekeeper's markers
// for owner and kind (every name), sorted by name.
func (ps *Ports) Marked(owner, kind string) ([]PortRow, error) {
	return ps.marked(func(ids map[string]string) bool { return ids[keyOwner] == owner && ids[keyKind] == kind }, nil)
}

// MarkedAs returns the ports whose interface carries owner's marker for the
// object kind/name, from the view's marker index.
func (ps *Ports) MarkedAs(owner, kind, name string) ([]PortRow, error) {
	return ps.marked(func(ids map[string]string) bool { return ids[keyOwner] == owner }, []string{kind + "/" + name})
}

// marked returns, sorted by name, the ports whose interface's external_ids
// satisfy match: among the interfaces indexed under keys, or all of them
// when keys is nil.
func (ps *Ports) marked(match func(ids map[string]string) bool, keys []string) ([]PortRow, error) {
	_, v, err := ps.c.current()
	if err != nil {
		return nil, err
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	var out []PortRow
	check := func(id string) {
		if i := v.ifaces[id]; i != nil && match(i.ExternalIDs) {
			out = append(out, v.portRow(id))
		}
	}
	if keys == nil {
		for id := range v.ifaces {
			check(id)
		}
	}
	for _, k := range keys {
		for id := range v.marked[k] {
			check(id)
		}
	}
	slices.SortFunc(out, func(a, b PortRow) int { return cmp.Compare(a.Name, b.Name) })
	return out, nil
}

// Named returns the port of that name, if the manager has one.
func (ps *Ports) Named(name string) (PortRow, bool, error) {
	_, v, err := ps.c.current()
	if err != nil {
		return PortRow{}, false, err
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	pid, ok := v.portByName[name]
	if !ok {
		return PortRow{}, false, nil
	}
	// The monitor may deliver a new Port row before its Interface row:
	// until that arrives the port is described without it.
	for _, iid := range v.ports[pid].Interfaces {
		if v.ifaces[iid] != nil {
			return v.portRow(iid), true, nil
		}
	}
	return PortRow{Name: name, UUID: pid, Bridge: v.bridgeNameOfPort(pid)}, true, nil
}

// portRow builds the PortRow of the interface with that UUID, which the
// view holds. Callers hold v.mu.
func (v *view) portRow(ifaceUUID string) PortRow {
	i := v.ifaces[ifaceUUID]
	row := PortRow{Name: i.Name, InterfaceUUID: i.UUID, ExternalIDs: maps.Clone(i.ExternalIDs)}
	if i.Error != nil {
		row.Error = *i.Error
	}
	if pid, ok := v.ifacePort[ifaceUUID]; ok {
		row.UUID = pid
		if pr := v.ports[pid]; pr != nil {
			row.Name = pr.Name
			if pr.Tag != nil {
				t := *pr.Tag
				row.Tag = &t
			}
		}
		row.Bridge = v.bridgeNameOfPort(pid)
	}
	return row
}

// bridgeNameOfPort names the bridge listing the port. Callers hold v.mu.
func (v *view) bridgeNameOfPort(portUUID string) string {
	if b := v.bridges[v.portBridge[portUUID]]; b != nil && b.portSet[portUUID] {
		return b.Name
	}
	return ""
}

// Add creates the port row.Name with its interface (external_ids
// row.ExternalIDs, tag row.Tag) on bridge row.Bridge, in one transaction.
func (ps *Ports) Add(ctx context.Context, row PortRow) error {
	cl, v, err := ps.c.current()
	if err != nil {
		return err
	}
	v.mu.RLock()
	b := v.byName[row.Bridge]
	_, taken := v.portByName[row.Name]
	v.mu.RUnlock()
	if b == nil {
		return fmt.Errorf("ovsdb: manager %s has no bridge %s", ps.manager, row.Bridge)
	}
	if taken {
		return fmt.Errorf("ovsdb: manager %s already has a port named %s", ps.manager, row.Name)
	}
	t := &txn{client: cl}
	iface := vswitch.Interface{UUID: t.namedUUID("iface"), Name: row.Name, ExternalIDs: row.ExternalIDs}
	port := vswitch.Port{UUID: t.namedUUID("port"), Name: row.Name, Interfaces: []string{iface.UUID}, Tag: row.Tag}
	if err := t.add(cl.Create(&iface, &port)); err != nil {
		return err
	}
	br := &vswitch.Bridge{UUID: b.UUID}
	if err := t.add(cl.Where(br).Mutate(br, model.Mutation{Field: &br.Ports, Mutator: libovsdb.MutateOperationInsert, Value: []string{port.UUID}})); err != nil {
		return err
	}
	if err := ps.commit(ctx, t, "add port "+row.Name); err != nil {
		return err
	}
	return ps.await(ctx, func(v *view) bool {
		id, ok := v.portByName[row.Name]
		return ok && v.bridgeNameOfPort(id) == row.Bridge
	})
}

// Update sets the tag of port row.UUID to row.Tag (none when nil) and the
// keys of ids into its interface's external_ids, leaving other keys alone.
func (ps *Ports) Update(ctx context.Context, row PortRow, ids map[string]string) error {
	cl, _, err := ps.c.current()
	if err != nil {
		return err
	}
	t := &txn{client: cl}
	port := &vswitch.Port{UUID: row.UUID, Tag: row.Tag}
	if err := t.add(cl.Where(port).Update(port, &port.Tag)); err != nil {
		return err
	}
	if len(ids) > 0 {
		if err := t.setExternalIDs(&vswitch.Interface{UUID: row.InterfaceUUID}, ids); err != nil {
			return err
		}
	}
	if err := ps.commit(ctx, t, "update port "+row.Name); err != nil {
		return err
	}
	return ps.await(ctx, func(v *view) bool {
		p := v.ports[row.UUID]
		if p == nil || !equalTag(p.Tag, row.Tag) {
			return false
		}
		i := v.ifaces[row.InterfaceUUID]
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
	cl, v, err := ps.c.current()
	if err != nil {
		return err
	}
	t := &txn{client: cl}
	var uuids []string
	v.mu.RLock()
	for _, r := range rows {
		if r.UUID == "" || v.ports[r.UUID] == nil {
			continue
		}
		if b := v.bridges[v.portBridge[r.UUID]]; b != nil && b.portSet[r.UUID] {
			_ = t.mutateBridge(b.UUID, "ports", libovsdb.MutateOperationDelete, r.UUID)
			uuids = append(uuids, r.UUID)
		}
	}
	v.mu.RUnlock()
	t.keep()
	if err := t.flush(); err != nil {
		return err
	}
	if len(t.ops) == 0 {
		return nil
	}
	if err := ps.commit(ctx, t, "delete ports"); err != nil {
		return err
	}
	return ps.await(ctx, func(v *view) bool {
		for _, id := range uuids {
			if v.ports[id] != nil {
				return false
			}
		}
		return true
	})
}

// commit sends t and checks every operation's result.
func (ps *Ports) commit(ctx context.Context, t *txn, what string) error {
	cl, _, err := ps.c.current()
	if err != nil {
		return err
	}
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	results, err := cl.Transact(tctx, t.ops...)
	ps.p.stats.transactions.Add(1)
	ps.p.stats.operations.Add(uint64(len(t.ops)))
	if err != nil {
		ps.p.stats.failed.Add(1)
		return fmt.Errorf("ovsdb: %s on manager %s: %w", what, ps.manager, err)
	}
	if _, err := libovsdb.CheckOperationResults(results, t.ops); err != nil {
		ps.p.stats.failed.Add(1)
		for _, r := range results {
			if r.Error != "" {
				return fmt.Errorf("ovsdb: %s on manager %s: %s", what, ps.manager, describeResult(r))
			}
		}
		return fmt.Errorf("ovsdb: %s on manager %s: %w", what, ps.manager, err)
	}
	return nil
}

// await waits until the monitor's view satisfies cond (run under the
// view's read lock), at most SettleTimeout; a transaction that committed is
// not failed for a slow monitor (the next observe shows the truth).
func (ps *Ports) await(ctx context.Context, cond func(v *view) bool) error {
	return ps.p.waitView(ctx, ps.c, func(v *view) bool {
		v.mu.RLock()
		defer v.mu.RUnlock()
		return cond(v)
	})
}
