package spec

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecode checks that no input makes the decoder or the validator panic,
// and that every diagnostic points somewhere in the file.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(manager + doc("Mirror", "m", "  manager: ovs-a\n  bridge: br0\n  selectAll: true\n  output: {port: tap0}\n")))
	f.Add([]byte("a: &a [*a, *a]\n"))
	f.Add([]byte("- [\n"))
	f.Add([]byte("apiVersion: wirekeeper.io/v1alpha1\nkind: ContainerPort\nmetadata: {name: p}\nspec: {addresses: [\"::1/129\"], gateway: \"::1\", mtu: 0x10}\n"))
	seeds, _ := filepath.Glob("../examples/*/*.yaml")
	more, _ := filepath.Glob("../examples/*.yaml")
	for _, p := range append(seeds, more...) {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		objs, diags := Decode("f.yaml", data)
		diags = append(diags, Validate(objs)...)
		for _, d := range diags {
			if d.File != "f.yaml" || d.Line < 1 || d.Column < 1 || d.Message == "" {
				t.Fatalf("diagnostic without a proper position or message: %+v", d)
			}
		}
	})
}
