package importer

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/wirekeeper/wirekeeper/internal/ovs"
	"github.com/wirekeeper/wirekeeper/internal/ovs/vswitch"
	"github.com/wirekeeper/wirekeeper/spec"
)

// Options says what to import and how to write it.
type Options struct {
	// Node is the node the objects are for (spec.node of the manager).
	Node string
	// Manager is the OVSManager's metadata.name (default NODE-ovs).
	Manager string
	// Address is the OVSDB server (unix:PATH, tcp:HOST:PORT).
	Address string
	// Policy of every object written (default observe: adoption starts
	// read-only).
	Policy spec.Policy
	// OVS, when set, are the connections to read Address through (kept
	// open for the caller's other reads of the same host); by default
	// FromOVSDB opens its own, monitoring the node's own interfaces only.
	OVS *ovs.Clients
}

// Result is an imported spec tree.
type Result struct {
	// Skipped lists the live objects the spec cannot express, with why.
	Skipped []string
	w       *writer
}

// Objects counts the documents of the tree.
func (r *Result) Objects() int { return len(r.w.names) }

// Files renders the tree: the documents by path under the output folder.
func (r *Result) Files() map[string][]byte { return r.w.files() }

// Add puts an object into the tree, in file (under the node's folder),
// named from name (made a metadata.name, unique within its kind); sp is
// the kind's spec type, written with the spec's field names.
func (r *Result) Add(file, kind, name string, sp any) error {
	raw, err := json.Marshal(sp)
	if err != nil {
		return err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return err
	}
	r.w.add(file, kind, name, m)
	return nil
}

// FromOVSDB reads the bridges and mirrors of the OVSDB at o.Address and
// renders them: the manager, each bridge (its datapath type, fail mode
// and external_ids but wirekeeper's own), each mirror with every column
// the spec models. It only reads.
func FromOVSDB(ctx context.Context, o Options) (Result, error) {
	if o.Manager == "" {
		o.Manager = ManagerName(o.Node)
	}
	if o.Policy == "" {
		o.Policy = spec.PolicyObserve
	}
	cs := o.OVS
	if cs == nil {
		cs = ovs.New(ovs.Options{Node: o.Node, OwnInterfacesOnly: true}) // bridges and mirrors name ports only
		defer cs.Close()
	}
	c := cs.Open(o.Manager, spec.OVSManagerSpec{Node: o.Node, Address: o.Address})
	if err := c.WaitUp(ctx); err != nil {
		return Result{}, err
	}
	_, v, err := c.Current()
	if err != nil {
		return Result{}, err
	}
	v.RLock()
	defer v.RUnlock()
	w := newWriter(o.Node)
	res := Result{w: w}
	w.add("managers.yaml", "OVSManager", o.Manager, map[string]any{"node": o.Node, "address": o.Address, "policy": string(o.Policy)})

	bridges := slices.SortedFunc(maps.Values(v.Bridges), func(a, b *ovs.BridgeRow) int { return strings.Compare(a.Name, b.Name) })
	for _, b := range bridges {
		sp := map[string]any{"manager": o.Manager, "bridge": b.Name, "policy": string(o.Policy)}
		if b.DatapathType != "" {
			sp["datapathType"] = b.DatapathType
		}
		if b.FailMode != nil {
			sp["failMode"] = string(*b.FailMode)
		}
		if ids := foreignIDs(b.ExternalIDs); len(ids) > 0 {
			sp["externalIds"] = ids
		}
		w.add("bridges.yaml", "Bridge", o.Node+"-"+b.Name, sp)
		for _, id := range slices.Sorted(maps.Keys(b.MirrorSet)) {
			m := v.Mirrors[id]
			if m == nil {
				continue
			}
			sp, why := mirrorSpec(v, o, b, m)
			if why != "" {
				res.Skipped = append(res.Skipped, fmt.Sprintf("Mirror %s/%s: %s", b.Name, m.Name, why))
				continue
			}
			w.add("mirrors.yaml", "Mirror", o.Node+"-"+b.Name+"-"+m.Name, sp)
		}
	}
	return res, nil
}

// mirrorSpec renders mirror m on bridge b, or says why it cannot.
func mirrorSpec(v *ovs.View, o Options, b *ovs.BridgeRow, m *vswitch.Mirror) (map[string]any, string) {
	sp := map[string]any{"manager": o.Manager, "bridge": b.Name, "mirrorName": m.Name, "policy": string(o.Policy)}
	if m.SelectAll {
		sp["selectAll"] = true
	}
	names := func(uuids []string) ([]string, string) {
		var out []string
		for _, id := range uuids {
			n := v.PortName(id)
			if n == "" {
				return nil, "selects a port the database does not hold"
			}
			out = append(out, n)
		}
		slices.Sort(out)
		return out, ""
	}
	src, why := names(m.SelectSrcPort)
	if why != "" {
		return nil, why
	}
	dst, why := names(m.SelectDstPort)
	if why != "" {
		return nil, why
	}
	if len(src) > 0 {
		sp["selectSrcPorts"] = src
	}
	if len(dst) > 0 {
		sp["selectDstPorts"] = dst
	}
	if len(m.SelectVLAN) > 0 {
		sp["selectVlans"] = slices.Sorted(slices.Values(m.SelectVLAN))
	}
	switch {
	case m.OutputPort != nil && v.PortName(*m.OutputPort) != "":
		sp["output"] = map[string]any{"port": v.PortName(*m.OutputPort)}
	case m.OutputVLAN != nil:
		sp["output"] = map[string]any{"vlan": *m.OutputVLAN}
	default:
		return nil, "has no output port or VLAN (a Mirror needs exactly one)"
	}
	return sp, ""
}

// foreignIDs are the external_ids not under wirekeeper.io/ (reserved).
func foreignIDs(ids map[string]string) map[string]string {
	out := map[string]string{}
	for k, val := range ids {
		if !strings.HasPrefix(k, "wirekeeper.io/") {
			out[k] = val
		}
	}
	return out
}

// ManagerName is the OVSManager's metadata.name an import gives node's
// OVSDB when none is asked for: NODE-ovs.
func ManagerName(node string) string { return objectName(node + "-ovs") }
