package schemagen

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestReadDocs(t *testing.T) {
	dir := t.TempDir()
	src := `package spec

// Alone is a type declared on its own,
// over two lines.
type Alone struct {
	// Name names
	// it.
	Name string
	Undocumented int
}

type (
	// Grouped is declared in a group.
	Grouped string
)

// Limit bounds something.
const Limit = 3
`
	if err := os.WriteFile(filepath.Join(dir, "types.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "types_test.go"), []byte("package spec\n\n// Test is ignored.\ntype Test int\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := readDocs(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := &docs{
		types:  map[string]string{"Alone": "Alone is a type declared on its own, over two lines.", "Grouped": "Grouped is declared in a group."},
		fields: map[string]map[string]string{"Alone": {"Name": "Name names it.", "Undocumented": ""}},
		values: map[string]string{"Limit": "Limit bounds something."},
	}
	if diff := cmp.Diff(want, d, cmp.AllowUnexported(docs{})); diff != "" {
		t.Errorf("readDocs (-want +got):\n%s", diff)
	}
	if _, err := d.field("Alone", "Undocumented"); err == nil {
		t.Error("an undocumented field gave no error")
	}
}

func TestRenameSubject(t *testing.T) {
	tests := []struct{ doc, goName, name, want string }{
		{"MirrorSpec is an OVS port mirror.", "MirrorSpec", "Mirror", "Mirror is an OVS port mirror."},
		{"AnnotationSuspend pauses an object.", "AnnotationSuspend", "", "Pauses an object."},
		{"An unrelated sentence.", "MirrorSpec", "Mirror", "An unrelated sentence."},
	}
	for _, tt := range tests {
		if got := renameSubject(tt.doc, tt.goName, tt.name); got != tt.want {
			t.Errorf("renameSubject(%q, %q, %q) = %q, want %q", tt.doc, tt.goName, tt.name, got, tt.want)
		}
	}
}
