package reconciler_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wirekeeper/wirekeeper/reconciler"
)

// mergeDoc is a Mirror named name sending to port, on hv1's manager.
func mergeDoc(name, port string) string {
	return fmt.Sprintf("---\napiVersion: wirekeeper.io/v1alpha1\nkind: Mirror\nmetadata: {name: %s}\nspec: {manager: ovs1, bridge: br0, selectAll: true, output: {port: %s}}\n", name, port)
}

const mergeManager = "---\napiVersion: wirekeeper.io/v1alpha1\nkind: OVSManager\nmetadata: {name: ovs1}\nspec: {node: hv1, address: unix:/run/ovs.sock}\n"

func TestMergeSets(t *testing.T) {
	ancestor := mustSet(t, mergeManager+mergeDoc("keep", "tap0")+mergeDoc("edit-head", "tap0")+mergeDoc("edit-base", "tap0")+
		mergeDoc("both-same", "tap0")+mergeDoc("both-differ", "tap0")+mergeDoc("del-head", "tap0")+mergeDoc("del-base", "tap0")+
		mergeDoc("del-base-edit-head", "tap0")+mergeDoc("del-both", "tap0"))
	// base moved on: it edited, deleted and added objects of its own.
	base := mustSet(t, mergeManager+mergeDoc("keep", "tap0")+mergeDoc("edit-head", "tap0")+mergeDoc("edit-base", "tap9")+
		mergeDoc("both-same", "tap5")+mergeDoc("both-differ", "tap6")+mergeDoc("del-head", "tap0")+
		mergeDoc("add-base", "tap0")+mergeDoc("add-both-differ", "tap1"))
	head := mustSet(t, mergeManager+mergeDoc("keep", "tap0")+mergeDoc("edit-head", "tap3")+mergeDoc("edit-base", "tap0")+
		mergeDoc("both-same", "tap5")+mergeDoc("both-differ", "tap7")+mergeDoc("del-base", "tap0")+
		mergeDoc("del-base-edit-head", "tap4")+mergeDoc("add-head", "tap0")+mergeDoc("add-both-differ", "tap2"))

	merged, conflicts := reconciler.MergeSets(ancestor, base, head)
	var got []string
	for _, o := range merged.Objects {
		got = append(got, o.Metadata.Name+"="+strings.TrimSpace(fmt.Sprint(reconciler.DiffSpecs(nil, o.Spec))))
	}
	// What each object becomes: head's where head changed it, base's
	// otherwise; in base's order, then head's new ones.
	want := map[string]string{
		"ovs1": "", "keep": "tap0", "edit-head": "tap3", "edit-base": "tap9", "both-same": "tap5",
		"both-differ": "tap7", "add-base": "tap0", "add-both-differ": "tap2",
		"del-base-edit-head": "tap4", "add-head": "tap0",
	}
	var names []string
	for _, o := range merged.Objects {
		names = append(names, o.Metadata.Name)
		if w, ok := want[o.Metadata.Name]; !ok {
			t.Errorf("merged has %s, which should be gone", o.Metadata.Name)
		} else if w != "" {
			port := reconciler.DiffSpecs(nil, o.Spec)
			if !strings.Contains(fmt.Sprint(port), w) {
				t.Errorf("merged %s = %v, want output %s", o.Metadata.Name, port, w)
			}
		}
	}
	wantOrder := []string{"ovs1", "keep", "edit-head", "edit-base", "both-same", "both-differ", "add-base", "add-both-differ", "del-base-edit-head", "add-head"}
	if diff := cmp.Diff(wantOrder, names); diff != "" {
		t.Errorf("merged objects (-want +got):\n%s\n%v", diff, got)
	}
	wantConflicts := []reconciler.Conflict{
		{Ref: reconciler.Ref{Kind: "Mirror", Name: "add-both-differ"}, Base: "added", Head: "added"},
		{Ref: reconciler.Ref{Kind: "Mirror", Name: "both-differ"}, Base: "changed", Head: "changed"},
		{Ref: reconciler.Ref{Kind: "Mirror", Name: "del-base-edit-head"}, Base: "deleted", Head: "changed"},
	}
	if diff := cmp.Diff(wantConflicts, conflicts); diff != "" {
		t.Errorf("conflicts (-want +got):\n%s", diff)
	}
}

// Histories with no common commit merge as if from an empty tree: what
// both added the same is no conflict.
func TestMergeSetsWithoutAncestor(t *testing.T) {
	base := mustSet(t, mergeManager+mergeDoc("a", "tap0"))
	head := mustSet(t, mergeManager+mergeDoc("a", "tap1")+mergeDoc("b", "tap0"))
	merged, conflicts := reconciler.MergeSets(nil, base, head)
	if len(merged.Objects) != 3 {
		t.Errorf("merged %d objects, want 3", len(merged.Objects))
	}
	want := []reconciler.Conflict{{Ref: reconciler.Ref{Kind: "Mirror", Name: "a"}, Base: "added", Head: "added"}}
	if diff := cmp.Diff(want, conflicts); diff != "" {
		t.Errorf("conflicts (-want +got):\n%s", diff)
	}
}
