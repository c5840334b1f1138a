package memory_test

import (
	"path/filepath"
	"testing"

	"github.com/wirekeeper/wirekeeper/providers/memory"
	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/reconciler/conformance"
	"github.com/wirekeeper/wirekeeper/spec"
)

func TestConformance(t *testing.T) {
	set, diags := spec.Load(filepath.Join("testdata", "conformance.yaml"))
	if diags.HasErrors() {
		t.Fatalf("load spec: %v", diags)
	}
	p := memory.New("memory")
	manager := reconciler.Ref{Kind: "OVSManager", Name: "ovs1"}
	bridge := reconciler.Ref{Kind: "Bridge", Name: "br-tap"}
	mirror := reconciler.Ref{Kind: "Mirror", Name: "ids"}
	drift := func(ref reconciler.Ref, change func(s any)) func(*testing.T) {
		return func(t *testing.T) {
			if !p.Mutate(ref, change) {
				t.Fatalf("drift: %s is not live", ref)
			}
		}
	}
	conformance.Run(t, p, []conformance.Case{{
		Name: "manager", Set: set, Ref: manager,
		Update: func(o *spec.Object) { o.Spec.(*spec.OVSManagerSpec).Address = "tcp:192.0.2.12:6640" },
		// A foreign client deleting the object is drift too; the repair is a create.
		Drift: func(*testing.T) { p.Delete(manager) },
	}, {
		Name: "bridge", Set: set, Ref: bridge,
		Update: func(o *spec.Object) { o.Spec.(*spec.BridgeSpec).FailMode = "secure" },
		Drift:  drift(bridge, func(s any) { s.(*spec.BridgeSpec).ExternalIDs["owner"] = "someone-else" }),
	}, {
		Name: "mirror", Set: set, Ref: mirror,
		Update: func(o *spec.Object) {
			m := o.Spec.(*spec.MirrorSpec)
			m.SelectSrcPorts = append(m.SelectSrcPorts, "vm3")
			m.Output = &spec.MirrorOutput{VLAN: new(20)}
		},
		Drift: drift(mirror, func(s any) { s.(*spec.MirrorSpec).SelectAll = true }),
	}})
	if n := p.Len(); n != 0 {
		t.Errorf("after the suite %d live objects remain, want 0", n)
	}
}
