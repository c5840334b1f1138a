package ovsdb

import (
	"fmt"
	"slices"

	"github.com/ovn-org/libovsdb/model"
	libovsdb "github.com/ovn-org/libovsdb/ovsdb"

	"github.com/wirekeeper/wirekeeper/providers/ovsdb/vswitch"
	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/spec"
)

// maxUnmanaged bounds the foreign mirrors listed in a manager's status.
const maxUnmanaged = 50

// observeManager reports a manager as existing once it is connected. Its
// live form is its spec (nothing of it is observable but the connection);
// the foreign mirrors on it are listed as unmanaged.
func (p *Provider) observeManager(req reconciler.Request) (reconciler.Observation, error) {
	if req.Desired == nil {
		return reconciler.Observation{}, nil // never pruned: only let go (see Owned)
	}
	sp := req.Desired.Spec.(*spec.OVSManagerSpec)
	p.mu.Lock()
	c := p.conns[req.Ref.Name]
	p.mu.Unlock()
	if c == nil {
		return reconciler.Observation{}, nil // not connected yet: the engine's create connects
	}
	if !c.sameSettings(*sp) {
		live := *sp
		live.Address = c.spec.Address // shows as the update that reconnects
		if !sameTLS(c.spec.TLS, sp.TLS) {
			live.TLS = c.spec.TLS
		}
		return reconciler.Observation{Exists: true, Owned: true, Live: &live}, nil
	}
	_, v, err := c.current()
	if err != nil {
		return reconciler.Observation{}, err
	}
	live := *sp
	return reconciler.Observation{Exists: true, Owned: true, Live: &live, Unmanaged: p.foreignMirrors(v, req.Ref.Name)}, nil
}

func sameTLS(a, b *spec.TLS) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// foreignMirrors lists the mirrors on the manager that are neither owned
// by this node nor named by a Mirror of the spec, as "Mirror bridge/name".
func (p *Provider) foreignMirrors(v *view, manager string) []string {
	mi := p.currentIndex().byManager[manager]
	v.mu.RLock()
	defer v.mu.RUnlock()
	var out []string
	for id, m := range v.mirrors {
		if p.owns(m.ExternalIDs) {
			continue
		}
		bridge := "(no bridge)"
		if b := v.bridgeOfMirror(id); b != nil {
			bridge = b.Name
		}
		if mi != nil && mi.mirrorNames[bridge+"/"+m.Name] {
			continue
		}
		out = append(out, "Mirror "+bridge+"/"+m.Name)
	}
	slices.Sort(out)
	if len(out) > maxUnmanaged {
		out = append(out[:maxUnmanaged], fmt.Sprintf("... and %d more", len(out)-maxUnmanaged))
	}
	return out
}

// viewFor returns the connection and view of the manager a Bridge or
// Mirror request is on. For a prune whose manager left the spec, or that
// no connected manager holds, it returns a nil view: the object is gone
// as far as this node can tell.
func (p *Provider) viewFor(req reconciler.Request, manager string) (*conn, *view, error) {
	if manager == "" {
		for _, c := range p.connsSnapshot() {
			if _, v, err := c.current(); err == nil && p.holds(v, req.Ref) {
				return c, v, nil
			}
		}
		return nil, nil, nil
	}
	c, err := p.conn(manager)
	if err != nil {
		if req.Desired == nil {
			return nil, nil, nil
		}
		return nil, nil, err
	}
	_, v, err := c.current()
	if err != nil {
		return nil, nil, err
	}
	return c, v, nil
}

// bridgesMutation inserts into or deletes from Open_vSwitch.bridges.
func bridgesMutation(root *vswitch.OpenvSwitch, op libovsdb.Mutator, uuids ...string) model.Mutation {
	return model.Mutation{Field: &root.Bridges, Mutator: op, Value: uuids}
}
