package ovsdb

import (
	"fmt"
	"slices"

	"github.com/ovn-org/libovsdb/model"
	libovsdb "github.com/ovn-org/libovsdb/ovsdb"

	"github.com/wirekeeper/wirekeeper/internal/ovs"
	"github.com/wirekeeper/wirekeeper/internal/ovs/vswitch"
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
	c := p.ovs.Get(req.Ref.Name)
	if c == nil {
		return reconciler.Observation{}, nil // not connected yet: the engine's create connects
	}
	if !c.SameSettings(*sp) {
		live := *sp
		live.Address = c.Spec().Address // shows as the update that reconnects
		if !sameTLS(c.Spec().TLS, sp.TLS) {
			live.TLS = c.Spec().TLS
		}
		return reconciler.Observation{Exists: true, Owned: true, Live: &live}, nil
	}
	_, v, err := c.Current()
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
func (p *Provider) foreignMirrors(v *ovs.View, manager string) []string {
	mi := p.currentIndex().byManager[manager]
	v.RLock()
	defer v.RUnlock()
	var out []string
	for id, m := range v.Mirrors {
		if p.owns(m.ExternalIDs) {
			continue
		}
		bridge := "(no bridge)"
		if b := v.BridgeOfMirror(id); b != nil {
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

// specOf returns the spec of type T a request is about: the desired one,
// else the one of the revision before (a prune), else nil.
func specOf[T any](req reconciler.Request) *T {
	for _, o := range []*spec.Object{req.Desired, req.Last} {
		if o != nil {
			if sp, ok := o.Spec.(*T); ok {
				return sp
			}
		}
	}
	return nil
}

// managerName is the OVSManager a Bridge or Mirror request names, "" when
// the request carries no spec.
func managerName(req reconciler.Request) string {
	if sp := specOf[spec.BridgeSpec](req); sp != nil {
		return sp.Manager
	}
	if sp := specOf[spec.MirrorSpec](req); sp != nil {
		return sp.Manager
	}
	return ""
}

// holder finds the connected manager holding a row that carries this
// node's marker for ref, and its view; "" and nil when none does.
func (p *Provider) holder(ref reconciler.Ref) (string, *ovs.View) {
	for _, c := range p.ovs.Conns() {
		name := c.Name()
		_, v, err := c.Current()
		if err != nil {
			continue
		}
		v.RLock()
		held := p.markedRow(v, ref) != nil || p.findBridge(v, ref, nil) != nil
		v.RUnlock()
		if held {
			return name, v
		}
	}
	return "", nil
}

// viewFor returns the view of the manager a Bridge or Mirror request is
// on. For a prune whose manager left the spec, or that no connected
// manager holds, it returns a nil view: the object is gone as far as this
// node can tell.
func (p *Provider) viewFor(req reconciler.Request) (*ovs.View, error) {
	manager := managerName(req)
	if manager == "" {
		_, v := p.holder(req.Ref)
		return v, nil
	}
	c, err := p.conn(manager)
	if err != nil {
		if req.Desired == nil {
			return nil, nil
		}
		return nil, err
	}
	_, v, err := c.Current()
	return v, err
}

// bridgesMutation inserts into or deletes from Open_vSwitch.bridges.
func bridgesMutation(root *vswitch.OpenvSwitch, op libovsdb.Mutator, uuids ...string) model.Mutation {
	return model.Mutation{Field: &root.Bridges, Mutator: op, Value: uuids}
}
