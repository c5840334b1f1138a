package container

import (
	"slices"

	"github.com/ovn-org/libovsdb/model"

	"github.com/wirekeeper/wirekeeper/internal/ovs"
	"github.com/wirekeeper/wirekeeper/internal/ovs/vswitch"
)

// onRowEvent maps one OVSDB row event to the interface external_ids it
// concerns (old and new for a change) and hands each to onPortEvent: nil
// ids when a manager's connection was made or lost (everything may have
// changed).
func (p *Provider) onRowEvent(ev ovs.Event) {
	var idsList []map[string]string
	switch ev.Table {
	case "":
		idsList = []map[string]string{nil}
	case "Interface":
		for _, m := range []model.Model{ev.Old, ev.New} {
			if r, ok := m.(*vswitch.Interface); ok && r != nil {
				idsList = append(idsList, r.ExternalIDs)
			}
		}
	case "Port":
		_, v, err := ev.Conn.Current()
		if err != nil {
			return
		}
		v.RLock()
		for _, m := range []model.Model{ev.Old, ev.New} {
			if r, ok := m.(*vswitch.Port); ok && r != nil {
				idsList = append(idsList, interfaceIDs(v, r)...)
			}
		}
		v.RUnlock()
	case "Bridge": // a port taken off its bridge (ovs-vsctl del-port) goes with it
		o, _ := ev.Old.(*vswitch.Bridge)
		n, _ := ev.New.(*vswitch.Bridge)
		if o == nil || n == nil || slices.Equal(o.Ports, n.Ports) {
			return
		}
		_, v, err := ev.Conn.Current()
		if err != nil {
			return
		}
		v.RLock()
		for _, id := range ovs.Moved(o.Ports, n.Ports) {
			if pr := v.Ports[id]; pr != nil {
				idsList = append(idsList, interfaceIDs(v, pr)...)
			}
		}
		v.RUnlock()
	default:
		return
	}
	for _, ids := range idsList {
		p.onPortEvent(ids)
	}
}

// interfaceIDs returns the external_ids of the port's interfaces the view
// holds. Callers hold the view's read lock.
func interfaceIDs(v *ovs.View, pr *vswitch.Port) []map[string]string {
	var out []map[string]string
	for _, id := range pr.Interfaces {
		if i := v.Ifaces[id]; i != nil {
			out = append(out, i.ExternalIDs)
		}
	}
	return out
}
