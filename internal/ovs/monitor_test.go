package ovs

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"testing/fstest"
	"time"

	"github.com/wirekeeper/wirekeeper/internal/ovstest"
	"github.com/wirekeeper/wirekeeper/spec"
)

// TestOwnInterfacesOnly: with OwnInterfacesOnly the view holds the
// Interface rows that carry the node's marker, the rest of the host's
// ports, bridges included, as always; without it, every interface. The
// marked row's later changes still reach the view, and a row marked
// afterwards enters it.
func TestOwnInterfacesOnly(t *testing.T) {
	o := ovstest.Start(t, ovstest.Options{})
	o.AddBridge(t, "br0")
	o.AddPorts(t, "br0", []string{"mine", "theirs", "later"})
	o.Vsctl(t, "set", "Interface", "mine", fmt.Sprintf("external_ids:%s=%s", KeyOwner, testNode))
	o.Vsctl(t, "set", "Interface", "theirs", fmt.Sprintf("external_ids:%s=another-node", KeyOwner))
	doc := fmt.Sprintf("apiVersion: wirekeeper.io/v1alpha1\nkind: OVSManager\nmetadata: {name: m1}\nspec: {node: %s, address: %q}", testNode, o.DB)
	set, diags := spec.LoadFS(fstest.MapFS{"m.yaml": {Data: []byte(doc)}}, "")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	names := func(v *View, ifaces bool) []string {
		v.RLock()
		defer v.RUnlock()
		var out []string
		if ifaces {
			for _, i := range v.Ifaces {
				out = append(out, i.Name)
			}
		} else {
			for _, p := range v.Ports {
				out = append(out, p.Name)
			}
		}
		slices.Sort(out)
		return out
	}
	view := func(only bool) (ifaces, ports []string, v *View) {
		t.Helper()
		cs := New(Options{Node: testNode, OwnInterfacesOnly: only})
		t.Cleanup(cs.Close)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		c, err := cs.For(set, "m1")
		if err != nil {
			t.Fatal(err)
		}
		if err := c.WaitUp(ctx); err != nil {
			t.Fatal(err)
		}
		_, v, err = c.Current()
		if err != nil {
			t.Fatal(err)
		}
		return names(v, true), names(v, false), v
	}
	allPorts := []string{"br0", "later", "mine", "theirs"}
	if ifaces, ports, _ := view(false); !slices.Equal(ifaces, allPorts) || !slices.Equal(ports, allPorts) {
		t.Errorf("every interface: interfaces %v, ports %v; want %v both", ifaces, ports, allPorts)
	}
	ifaces, ports, v := view(true)
	if !slices.Equal(ifaces, []string{"mine"}) || !slices.Equal(ports, allPorts) {
		t.Errorf("own interfaces only: interfaces %v, ports %v; want [mine] and %v", ifaces, ports, allPorts)
	}
	o.Vsctl(t, "set", "Interface", "later", fmt.Sprintf("external_ids:%s=%s", KeyOwner, testNode))
	deadline := time.Now().Add(time.Minute)
	for !slices.Equal(names(v, true), []string{"later", "mine"}) {
		if time.Now().After(deadline) {
			t.Fatalf("interfaces %v after marking later, want [later mine]", names(v, true))
		}
		time.Sleep(5 * time.Millisecond)
	}
}
