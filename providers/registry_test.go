package providers

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/wirekeeper/wirekeeper/spec"
)

// TestEarlyOVS: while a spec loads, EarlyOVS opens the node's OVSManagers
// (not another node's) as the loader decodes them, every object passing
// through spec.LoadOptions.Decoded; Build keeps those connections for a
// set whose objects need only the node's own interfaces, and closes them
// for one with a ContainerPort of the node, which needs them all.
func TestEarlyOVS(t *testing.T) {
	manager := func(name, node string) string {
		return fmt.Sprintf("apiVersion: wirekeeper.io/v1alpha1\nkind: OVSManager\nmetadata: {name: %s}\nspec: {node: %s, address: \"unix:%s\"}\n",
			name, node, filepath.Join(t.TempDir(), "none.sock"))
	}
	mirror := "apiVersion: wirekeeper.io/v1alpha1\nkind: Mirror\nmetadata: {name: span}\nspec: {manager: m1, bridge: br0, selectAll: true, output: {port: out}}\n"
	port := "apiVersion: wirekeeper.io/v1alpha1\nkind: ContainerPort\nmetadata: {name: web}\nspec: {node: hv1, manager: m1, bridge: br0, container: web, interface: eth1}\n"
	for _, tc := range []struct {
		name  string
		docs  []string
		kept  bool
		kinds []string
	}{
		{"mirrors only: kept", []string{manager("m1", "hv1"), manager("m2", "hv2"), mirror}, true, []string{"Mirror", "OVSManager", "OVSManager"}},
		{"a ContainerPort: closed", []string{manager("m1", "hv1"), manager("m2", "hv2"), port}, false, []string{"ContainerPort", "OVSManager", "OVSManager"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for i, d := range tc.docs {
				if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%d.yaml", i)), []byte(d), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			early := NewEarlyOVS("hv1", nil, nil)
			t.Cleanup(early.Close)
			var mu sync.Mutex
			var kinds []string
			set, diags := spec.LoadWith(spec.LoadOptions{Decoded: func(o *spec.Object) {
				mu.Lock()
				kinds = append(kinds, o.Kind)
				mu.Unlock()
				early.Decoded(o)
			}}, dir)
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			slices.Sort(kinds)
			if !slices.Equal(kinds, tc.kinds) {
				t.Errorf("decoded %v, want %v", kinds, tc.kinds)
			}
			if early.clients.Get("m1") == nil || early.clients.Get("m2") != nil {
				t.Fatalf("open while loading: m1 %v, m2 %v; want m1 (node hv1's) only", early.clients.Get("m1") != nil, early.clients.Get("m2") != nil)
			}
			provs, err := Build(Config{Node: "hv1", OneShot: set, Early: early})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { Close(provs) })
			if kept := early.clients.Get("m1") != nil; kept != tc.kept {
				t.Errorf("early connection to m1 kept by Build: %v, want %v", kept, tc.kept)
			}
		})
	}
}
