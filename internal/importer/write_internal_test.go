package importer

import (
	"fmt"
	"path"
	"slices"
	"testing"

	"github.com/wirekeeper/wirekeeper/spec"
)

// TestFilesSplitPastTheLoadersLimit: a kind whose documents would pass
// spec.MaxFileSize in one file (10,000 mirrors do) goes on in numbered
// files, each one the loader accepts, the documents in name order across
// them, none lost.
func TestFilesSplitPastTheLoadersLimit(t *testing.T) {
	const n = 12000
	w := newWriter("hv1")
	for i := range n {
		w.add("mirrors.yaml", "Mirror", fmt.Sprintf("hv1-br%d-mirror-%05d", i%313, i),
			map[string]any{"manager": "hv1", "bridge": fmt.Sprintf("br%d", i%313), "selectSrcPorts": []string{fmt.Sprintf("p%d", i)}, "output": map[string]any{"port": "out"}})
	}
	w.add("managers.yaml", "OVSManager", "hv1", map[string]any{"node": "hv1", "address": "unix:/run/openvswitch/db.sock"})
	files := w.files()
	var names []string
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	want := []string{"hv1/managers.yaml", "hv1/mirrors-2.yaml", "hv1/mirrors-3.yaml", "hv1/mirrors.yaml"}
	if !slices.Equal(names, want) {
		t.Fatalf("files %v, want %v", names, want)
	}
	var got []string
	for _, name := range []string{"hv1/mirrors.yaml", "hv1/mirrors-2.yaml", "hv1/mirrors-3.yaml"} {
		if len(files[name]) > spec.MaxFileSize {
			t.Errorf("%s: %d bytes, more than the loader's %d", name, len(files[name]), spec.MaxFileSize)
		}
		objs, diags := spec.Decode(path.Base(name), files[name])
		if diags.HasErrors() {
			t.Fatalf("%s: %v", name, diags)
		}
		for _, o := range objs {
			got = append(got, o.Metadata.Name)
		}
	}
	if len(got) != n || !slices.IsSorted(got) {
		t.Errorf("%d mirrors across the files (sorted: %v), want %d in name order", len(got), slices.IsSorted(got), n)
	}
}
