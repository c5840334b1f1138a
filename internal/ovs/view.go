package ovs

import (
	"sync"

	"github.com/ovn-org/libovsdb/cache"
	"github.com/ovn-org/libovsdb/model"
	libovsdb "github.com/ovn-org/libovsdb/ovsdb"

	"github.com/wirekeeper/wirekeeper/internal/ovs/vswitch"
)

// View is what one manager's monitor holds, in the shape the providers
// read: rows by UUID plus the indexes an observe needs (a bridge by name,
// the mirrors of a bridge by name, a port by name). It is kept by the
// monitor's event handler, so every read of it is consistent with the
// events already delivered, and a wait on Changed sees each later update.
// Readers hold RLock while they read its maps and never change them.
type View struct {
	mu   sync.RWMutex
	Root string // UUID of the Open_vSwitch row
	// Bridges, Mirrors, Ports and Ifaces are the rows by UUID;
	// BridgeByName and PortByName map a name to the row or its UUID.
	Bridges      map[string]*BridgeRow
	BridgeByName map[string]*BridgeRow
	Mirrors      map[string]*vswitch.Mirror
	// MirrorsNamed maps a Mirror.name to the UUIDs of mirrors so named.
	MirrorsNamed map[string]map[string]bool
	// Marked maps "Kind/name" of wirekeeper's markers to the UUIDs of the
	// Bridge, Mirror and Interface rows carrying them (whatever their
	// owner; the kind tells the table).
	Marked map[string]map[string]bool
	// MirrorBridge maps a mirror UUID to the UUID of the bridge listing it.
	MirrorBridge map[string]string
	Ports        map[string]*vswitch.Port
	PortByName   map[string]string
	// PortBridge maps a port UUID to the UUID of the bridge listing it.
	PortBridge map[string]string
	Ifaces     map[string]*vswitch.Interface
	// IfacePort maps an interface UUID to the UUID of the port listing it.
	IfacePort map[string]string
	// ContainerIfaces maps "container_id/container_iface" of ovs-docker's
	// external_ids to the UUIDs of the interfaces carrying them.
	ContainerIfaces map[string]map[string]bool
	// PortGen is, per port UUID, the sequence number of the last change
	// to the port or its interfaces: the topology rebuilds a port's part
	// only when it moved.
	PortGen map[string]uint64
	seq     uint64
	// updated is closed and replaced at every change, to wake waiters.
	updated chan struct{}
}

// BridgeRow is a Bridge row with its reference columns as sets.
type BridgeRow struct {
	vswitch.Bridge
	MirrorSet map[string]bool
	PortSet   map[string]bool
}

func newView() *View {
	return &View{
		Bridges:         map[string]*BridgeRow{},
		BridgeByName:    map[string]*BridgeRow{},
		Mirrors:         map[string]*vswitch.Mirror{},
		MirrorsNamed:    map[string]map[string]bool{},
		Marked:          map[string]map[string]bool{},
		MirrorBridge:    map[string]string{},
		Ports:           map[string]*vswitch.Port{},
		PortByName:      map[string]string{},
		PortBridge:      map[string]string{},
		Ifaces:          map[string]*vswitch.Interface{},
		IfacePort:       map[string]string{},
		ContainerIfaces: map[string]map[string]bool{},
		PortGen:         map[string]uint64{},
		updated:         make(chan struct{}),
	}
}

// Changed returns a channel closed at the next change of the view.
func (v *View) Changed() <-chan struct{} {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.updated
}

// RLock locks the view for reading; RUnlock ends the read.
func (v *View) RLock() { v.mu.RLock() }

// RUnlock ends a read begun with RLock.
func (v *View) RUnlock() { v.mu.RUnlock() }

// apply records one row event: old is nil for an add, row nil for a delete.
// The rows are the monitor's copies; the view keeps its own.
func (v *View) apply(table string, old, row model.Model) {
	v.mu.Lock()
	defer v.mu.Unlock()
	switch table {
	case "Open_vSwitch":
		if r, ok := row.(*vswitch.OpenvSwitch); ok {
			v.Root = r.UUID
		}
	case "Bridge":
		if o, ok := old.(*vswitch.Bridge); ok && o != nil {
			v.dropBridge(o.UUID)
		}
		if r, ok := row.(*vswitch.Bridge); ok && r != nil {
			v.putBridge(r)
		}
	case "Mirror":
		if o, ok := old.(*vswitch.Mirror); ok && o != nil {
			delete(v.Mirrors, o.UUID)
			unindex(v.MirrorsNamed, o.Name, o.UUID)
			unindex(v.Marked, MarkerKey(o.ExternalIDs), o.UUID)
		}
		if r, ok := row.(*vswitch.Mirror); ok && r != nil {
			v.Mirrors[r.UUID] = r.DeepCopy()
			index(v.MirrorsNamed, r.Name, r.UUID)
			index(v.Marked, MarkerKey(r.ExternalIDs), r.UUID)
		}
	case "Port":
		if o, ok := old.(*vswitch.Port); ok && o != nil {
			delete(v.Ports, o.UUID)
			delete(v.PortGen, o.UUID)
			if v.PortByName[o.Name] == o.UUID {
				delete(v.PortByName, o.Name)
			}
			for _, i := range o.Interfaces {
				if v.IfacePort[i] == o.UUID {
					delete(v.IfacePort, i)
				}
			}
		}
		if r, ok := row.(*vswitch.Port); ok && r != nil {
			v.seq++
			v.PortGen[r.UUID] = v.seq
			v.Ports[r.UUID] = r.DeepCopy()
			v.PortByName[r.Name] = r.UUID
			for _, i := range r.Interfaces {
				v.IfacePort[i] = r.UUID
			}
		}
	case "Interface":
		for _, m := range []model.Model{old, row} {
			if i, ok := m.(*vswitch.Interface); ok && i != nil {
				if pu, ok := v.IfacePort[i.UUID]; ok {
					v.seq++
					v.PortGen[pu] = v.seq
				}
			}
		}
		if o, ok := old.(*vswitch.Interface); ok && o != nil {
			delete(v.Ifaces, o.UUID)
			unindex(v.ContainerIfaces, containerKey(o.ExternalIDs), o.UUID)
			unindex(v.Marked, MarkerKey(o.ExternalIDs), o.UUID)
		}
		if r, ok := row.(*vswitch.Interface); ok && r != nil {
			v.Ifaces[r.UUID] = r.DeepCopy()
			index(v.ContainerIfaces, containerKey(r.ExternalIDs), r.UUID)
			index(v.Marked, MarkerKey(r.ExternalIDs), r.UUID)
		}
	}
	close(v.updated)
	v.updated = make(chan struct{})
}

func (v *View) putBridge(r *vswitch.Bridge) {
	b := &BridgeRow{Bridge: *r.DeepCopy(), MirrorSet: make(map[string]bool, len(r.Mirrors)), PortSet: make(map[string]bool, len(r.Ports))}
	for _, m := range r.Mirrors {
		b.MirrorSet[m] = true
		v.MirrorBridge[m] = r.UUID
	}
	for _, p := range r.Ports {
		b.PortSet[p] = true
		v.PortBridge[p] = r.UUID
	}
	v.Bridges[r.UUID] = b
	v.BridgeByName[r.Name] = b
	index(v.Marked, MarkerKey(r.ExternalIDs), r.UUID)
}

func (v *View) dropBridge(uuid string) {
	b := v.Bridges[uuid]
	if b == nil {
		return
	}
	for m := range b.MirrorSet {
		if v.MirrorBridge[m] == uuid {
			delete(v.MirrorBridge, m)
		}
	}
	for p := range b.PortSet {
		if v.PortBridge[p] == uuid {
			delete(v.PortBridge, p)
		}
	}
	delete(v.Bridges, uuid)
	if v.BridgeByName[b.Name] == b {
		delete(v.BridgeByName, b.Name)
	}
	unindex(v.Marked, MarkerKey(b.ExternalIDs), uuid)
}

// containerKey is "container_id/container_iface" of ovs-docker's
// external_ids, "" without them.
func containerKey(ids map[string]string) string {
	if ids[KeyContainerID] == "" || ids[KeyContainerIface] == "" {
		return ""
	}
	return ids[KeyContainerID] + "/" + ids[KeyContainerIface]
}

// MarkerKey is "Kind/name" from wirekeeper's markers, "" without them.
func MarkerKey(ids map[string]string) string {
	if ids[KeyKind] == "" || ids[KeyName] == "" {
		return ""
	}
	return ids[KeyKind] + "/" + ids[KeyName]
}

func index(m map[string]map[string]bool, key, uuid string) {
	if key == "" {
		return
	}
	if m[key] == nil {
		m[key] = map[string]bool{}
	}
	m[key][uuid] = true
}

func unindex(m map[string]map[string]bool, key, uuid string) {
	if set := m[key]; set != nil {
		delete(set, uuid)
		if len(set) == 0 {
			delete(m, key)
		}
	}
}

// viewTables are the tables the view keeps.
var viewTables = []string{"Open_vSwitch", "Bridge", "Port", "Interface", "Mirror"}

// initialRows returns, per table, the UUIDs the monitor's cache holds now:
// right after the monitor's reply, its initial rows.
func initialRows(c *cache.TableCache) map[string][]string {
	out := map[string][]string{}
	for _, t := range viewTables {
		if rc := c.Table(t); rc != nil {
			for id := range rc.RowsShallow() {
				out[t] = append(out[t], id)
			}
		}
	}
	return out
}

// caughtUp reports whether every initial row has reached the view, or
// has left the cache since (others' changes keep arriving meanwhile, so
// comparing counts might never settle on a busy server).
func (v *View) caughtUp(c *cache.TableCache, initial map[string][]string) bool {
	v.mu.RLock()
	defer v.mu.RUnlock()
	for t, ids := range initial {
		for _, id := range ids {
			if !v.has(t, id) && c.Table(t).HasRow(id) {
				return false
			}
		}
	}
	return true
}

// has reports whether the view holds the row. Callers hold v.mu.
func (v *View) has(table, uuid string) bool {
	switch table {
	case "Open_vSwitch":
		return v.Root == uuid
	case "Bridge":
		return v.Bridges[uuid] != nil
	case "Port":
		return v.Ports[uuid] != nil
	case "Interface":
		return v.Ifaces[uuid] != nil
	case "Mirror":
		return v.Mirrors[uuid] != nil
	}
	return true
}

// BridgeOfMirror returns the bridge listing the mirror with that UUID.
// Callers hold v.mu.
func (v *View) BridgeOfMirror(uuid string) *BridgeRow { return v.Bridges[v.MirrorBridge[uuid]] }

// PortName returns the name of the port with that UUID, "" when unknown.
// Callers hold v.mu.
func (v *View) PortName(uuid string) string {
	if p := v.Ports[uuid]; p != nil {
		return p.Name
	}
	return ""
}

// PortOnBridge returns the UUID of the port named name when it is on b.
// Callers hold v.mu.
func (v *View) PortOnBridge(b *BridgeRow, name string) (string, bool) {
	id, ok := v.PortByName[name]
	if !ok || !b.PortSet[id] {
		return "", false
	}
	return id, true
}

// Moved returns the UUIDs in exactly one of old and new, the values of a
// set column before and after a change: the rows it gained or lost.
func Moved(old, new []string) []string {
	in := make(map[string]int, len(old)+len(new))
	for _, s := range old {
		in[s] |= 1
	}
	for _, s := range new {
		in[s] |= 2
	}
	var out []string
	for s, v := range in {
		if v != 3 {
			out = append(out, s)
		}
	}
	return out
}

// Row names one row of a table.
type Row struct{ Table, UUID string }

// Inserted returns the rows a committed transaction's insert operations
// made, from their results.
func Inserted(ops []libovsdb.Operation, results []libovsdb.OperationResult) []Row {
	var out []Row
	for i, op := range ops {
		if op.Op == libovsdb.OperationInsert && i < len(results) && results[i].UUID.GoUUID != "" {
			out = append(out, Row{Table: op.Table, UUID: results[i].UUID.GoUUID})
		}
	}
	return out
}

// HasRows reports whether the view holds every row of rows (tables the
// view does not keep count as held).
func (v *View) HasRows(rows []Row) bool {
	v.mu.RLock()
	defer v.mu.RUnlock()
	for _, r := range rows {
		if !v.has(r.Table, r.UUID) {
			return false
		}
	}
	return true
}
