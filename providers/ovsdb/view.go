package ovsdb

import (
	"sync"

	"github.com/ovn-org/libovsdb/cache"
	"github.com/ovn-org/libovsdb/model"

	"github.com/wirekeeper/wirekeeper/providers/ovsdb/vswitch"
)

// The ownership marker wirekeeper writes into external_ids of what it
// creates or adopts. The owner is the node whose daemon manages the row, so
// that daemons sharing a manager (a central one over ssl: and a local one)
// never prune each other's rows.
const (
	keyOwner = "wirekeeper.io/owner"
	keyKind  = "wirekeeper.io/kind"
	keyName  = "wirekeeper.io/name"
	// keyAdopted marks a bridge that existed before wirekeeper managed it:
	// it is updated while in the spec and never deleted.
	keyAdopted = "wirekeeper.io/adopted"
)

// view is what one manager's monitor holds, in the shape the provider reads:
// rows by UUID plus the indexes an observe needs (a bridge by name, the
// mirrors of a bridge by name, a port by name). It is kept by the monitor's
// event handler, so every read of it is consistent with the events already
// delivered, and a wait on changed() sees each later update.
type view struct {
	mu      sync.RWMutex
	root    string // UUID of the Open_vSwitch row
	bridges map[string]*bridgeRow
	byName  map[string]*bridgeRow // bridge name -> row
	mirrors map[string]*vswitch.Mirror
	// mirrorsNamed maps a Mirror.name to the UUIDs of mirrors so named.
	mirrorsNamed map[string]map[string]bool
	// marked maps "Kind/name" of wirekeeper's markers to the UUIDs of the
	// Bridge, Mirror and Interface rows carrying them (whatever their
	// owner; the kind tells the table).
	marked map[string]map[string]bool
	// mirrorBridge maps a mirror UUID to the UUID of the bridge listing it.
	mirrorBridge map[string]string
	ports        map[string]*vswitch.Port
	portByName   map[string]string
	// portBridge maps a port UUID to the UUID of the bridge listing it.
	portBridge map[string]string
	ifaces     map[string]*vswitch.Interface
	// ifacePort maps an interface UUID to the UUID of the port listing it.
	ifacePort map[string]string
	// containerIfaces maps "container_id/container_iface" of ovs-docker's
	// external_ids to the UUIDs of the interfaces carrying them.
	containerIfaces map[string]map[string]bool
	// portGen is, per port UUID, the sequence number of the last change
	// to the port or its interfaces: the topology rebuilds a port's part
	// only when it moved.
	portGen map[string]uint64
	seq     uint64
	// updated is closed and replaced at every change, to wake waiters.
	updated chan struct{}
}

// bridgeRow is a Bridge row with its reference columns as sets.
type bridgeRow struct {
	vswitch.Bridge
	mirrorSet map[string]bool
	portSet   map[string]bool
}

func newView() *view {
	return &view{
		bridges:         map[string]*bridgeRow{},
		byName:          map[string]*bridgeRow{},
		mirrors:         map[string]*vswitch.Mirror{},
		mirrorsNamed:    map[string]map[string]bool{},
		marked:          map[string]map[string]bool{},
		mirrorBridge:    map[string]string{},
		ports:           map[string]*vswitch.Port{},
		portByName:      map[string]string{},
		portBridge:      map[string]string{},
		ifaces:          map[string]*vswitch.Interface{},
		ifacePort:       map[string]string{},
		containerIfaces: map[string]map[string]bool{},
		portGen:         map[string]uint64{},
		updated:         make(chan struct{}),
	}
}

// changed returns a channel closed at the next change of the view.
func (v *view) changed() <-chan struct{} {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.updated
}

// apply records one row event: old is nil for an add, row nil for a delete.
// The rows are the monitor's copies; the view keeps its own.
func (v *view) apply(table string, old, row model.Model) {
	v.mu.Lock()
	defer v.mu.Unlock()
	switch table {
	case "Open_vSwitch":
		if r, ok := row.(*vswitch.OpenvSwitch); ok {
			v.root = r.UUID
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
			delete(v.mirrors, o.UUID)
			unindex(v.mirrorsNamed, o.Name, o.UUID)
			unindex(v.marked, markerKey(o.ExternalIDs), o.UUID)
		}
		if r, ok := row.(*vswitch.Mirror); ok && r != nil {
			v.mirrors[r.UUID] = r.DeepCopy()
			index(v.mirrorsNamed, r.Name, r.UUID)
			index(v.marked, markerKey(r.ExternalIDs), r.UUID)
		}
	case "Port":
		if o, ok := old.(*vswitch.Port); ok && o != nil {
			delete(v.ports, o.UUID)
			delete(v.portGen, o.UUID)
			if v.portByName[o.Name] == o.UUID {
				delete(v.portByName, o.Name)
			}
			for _, i := range o.Interfaces {
				if v.ifacePort[i] == o.UUID {
					delete(v.ifacePort, i)
				}
			}
		}
		if r, ok := row.(*vswitch.Port); ok && r != nil {
			v.seq++
			v.portGen[r.UUID] = v.seq
			v.ports[r.UUID] = r.DeepCopy()
			v.portByName[r.Name] = r.UUID
			for _, i := range r.Interfaces {
				v.ifacePort[i] = r.UUID
			}
		}
	case "Interface":
		for _, m := range []model.Model{old, row} {
			if i, ok := m.(*vswitch.Interface); ok && i != nil {
				if pu, ok := v.ifacePort[i.UUID]; ok {
					v.seq++
					v.portGen[pu] = v.seq
				}
			}
		}
		if o, ok := old.(*vswitch.Interface); ok && o != nil {
			delete(v.ifaces, o.UUID)
			unindex(v.containerIfaces, containerKey(o.ExternalIDs), o.UUID)
			unindex(v.marked, markerKey(o.ExternalIDs), o.UUID)
		}
		if r, ok := row.(*vswitch.Interface); ok && r != nil {
			v.ifaces[r.UUID] = r.DeepCopy()
			index(v.containerIfaces, containerKey(r.ExternalIDs), r.UUID)
			index(v.marked, markerKey(r.ExternalIDs), r.UUID)
		}
	}
	close(v.updated)
	v.updated = make(chan struct{})
}

func (v *view) putBridge(r *vswitch.Bridge) {
	b := &bridgeRow{Bridge: *r.DeepCopy(), mirrorSet: make(map[string]bool, len(r.Mirrors)), portSet: make(map[string]bool, len(r.Ports))}
	for _, m := range r.Mirrors {
		b.mirrorSet[m] = true
		v.mirrorBridge[m] = r.UUID
	}
	for _, p := range r.Ports {
		b.portSet[p] = true
		v.portBridge[p] = r.UUID
	}
	v.bridges[r.UUID] = b
	v.byName[r.Name] = b
	index(v.marked, markerKey(r.ExternalIDs), r.UUID)
}

func (v *view) dropBridge(uuid string) {
	b := v.bridges[uuid]
	if b == nil {
		return
	}
	for m := range b.mirrorSet {
		if v.mirrorBridge[m] == uuid {
			delete(v.mirrorBridge, m)
		}
	}
	for p := range b.portSet {
		if v.portBridge[p] == uuid {
			delete(v.portBridge, p)
		}
	}
	delete(v.bridges, uuid)
	if v.byName[b.Name] == b {
		delete(v.byName, b.Name)
	}
	unindex(v.marked, markerKey(b.ExternalIDs), uuid)
}

// containerKey is "container_id/container_iface" of ovs-docker's
// external_ids, "" without them.
func containerKey(ids map[string]string) string {
	if ids["container_id"] == "" || ids["container_iface"] == "" {
		return ""
	}
	return ids["container_id"] + "/" + ids["container_iface"]
}

// markerKey is "Kind/name" from wirekeeper's markers, "" without them.
func markerKey(ids map[string]string) string {
	if ids[keyKind] == "" || ids[keyName] == "" {
		return ""
	}
	return ids[keyKind] + "/" + ids[keyName]
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
func (v *view) caughtUp(c *cache.TableCache, initial map[string][]string) bool {
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
func (v *view) has(table, uuid string) bool {
	switch table {
	case "Open_vSwitch":
		return v.root == uuid
	case "Bridge":
		return v.bridges[uuid] != nil
	case "Port":
		return v.ports[uuid] != nil
	case "Interface":
		return v.ifaces[uuid] != nil
	case "Mirror":
		return v.mirrors[uuid] != nil
	}
	return true
}

// bridgeOfMirror returns the bridge listing the mirror with that UUID.
// Callers hold v.mu.
func (v *view) bridgeOfMirror(uuid string) *bridgeRow { return v.bridges[v.mirrorBridge[uuid]] }

// portName returns the name of the port with that UUID, "" when unknown.
// Callers hold v.mu.
func (v *view) portName(uuid string) string {
	if p := v.ports[uuid]; p != nil {
		return p.Name
	}
	return ""
}

// portOnBridge returns the UUID of the port named name when it is on b.
// Callers hold v.mu.
func (v *view) portOnBridge(b *bridgeRow, name string) (string, bool) {
	id, ok := v.portByName[name]
	if !ok || !b.portSet[id] {
		return "", false
	}
	return id, true
}
