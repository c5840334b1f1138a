package source

import (
	"context"
	"errors"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/google/go-cmp/cmp"
)

func TestLoad(t *testing.T) {
	badBridge := strings.Replace(bridgeYAML, "failMode: secure", "failMode: sometimes", 1)
	tests := []struct {
		name  string
		path  string
		files map[string]entry
		want  []string // object names loaded, sorted
		diags []string // substrings, one per diagnostic, in order
	}{
		{
			name:  "repository root",
			files: map[string]entry{"managers.yaml": file(managerYAML), "README.md": file("# specs\n")},
			want:  []string{"OVSManager/ams-hv01-ovs"},
		},
		{
			name: "sub folder",
			path: "specs",
			files: map[string]entry{
				"specs/managers.yaml":         file(managerYAML),
				"specs/ams-hv01/bridges.yaml": file(bridgeYAML),
				"other/ignored.yaml":          file("not: [valid"),
			},
			want: []string{"Bridge/ams-hv01-br-int", "OVSManager/ams-hv01-ovs"},
		},
		{
			name:  "missing sub folder",
			path:  "specs/ams",
			files: map[string]entry{"specs/managers.yaml": file(managerYAML)},
			diags: []string{`specs/ams:1:1: error: spec folder "specs/ams" does not exist in commit`},
		},
		{
			name:  "path is a file",
			path:  "specs/managers.yaml",
			files: map[string]entry{"specs/managers.yaml": file(managerYAML)},
			diags: []string{`spec folder "specs/managers.yaml" is not a folder`},
		},
		{
			name:  "invalid spec names the repository path",
			path:  "specs",
			files: map[string]entry{"specs/managers.yaml": file(managerYAML), "specs/ams-hv01/bridges.yaml": file(badBridge)},
			want:  []string{"Bridge/ams-hv01-br-int", "OVSManager/ams-hv01-ovs"},
			diags: []string{"specs/ams-hv01/bridges.yaml:9:13: error: Bridge/ams-hv01-br-int: spec.failMode"},
		},
		{
			name: "symlink to a file inside the tree is followed",
			path: "specs",
			files: map[string]entry{
				// Not a spec file by name, so read only through the link.
				"specs/shared/managers.txt": file(managerYAML),
				"specs/ams-hv01/mgr.yaml":   link("../shared/managers.txt"),
				"specs/bridges.yaml":        file(bridgeYAML),
			},
			want: []string{"Bridge/ams-hv01-br-int", "OVSManager/ams-hv01-ovs"},
		},
		{
			name: "symlink leaving the spec folder is refused",
			path: "specs",
			files: map[string]entry{
				"specs/managers.yaml": file(managerYAML),
				"common/bridges.yaml": file(bridgeYAML),
				"specs/bridges.yaml":  link("../common/bridges.yaml"),
				"specs/passwd.yaml":   link("/etc/passwd"),
			},
			want: []string{"OVSManager/ams-hv01-ovs"},
			diags: []string{
				`specs/bridges.yaml:1:1: error: symlink to "../common/bridges.yaml" leaves the spec tree`,
				`specs/passwd.yaml:1:1: error: symlink to "/etc/passwd" leaves the spec tree`,
			},
		},
		{
			name: "symlink to a folder is refused, submodule skipped",
			files: map[string]entry{
				"managers.yaml":   file(managerYAML),
				"site/x.yaml":     file(bridgeYAML),
				"site.yaml":       link("site"),
				"vendored":        gitlink(plumbing.NewHash("0123456789abcdef0123456789abcdef01234567")),
				"vendored2.yaml":  gitlink(plumbing.NewHash("0123456789abcdef0123456789abcdef01234567")),
				"dangling.yaml":   link("nowhere.yaml"),
				".hidden/x.yaml":  file("not: [valid"),
				"site/loop1.yaml": link("loop2.yaml"),
				"site/loop2.yaml": link("loop1.yaml"),
			},
			want: []string{"Bridge/ams-hv01-br-int", "OVSManager/ams-hv01-ovs"},
			diags: []string{
				"dangling.yaml:1:1: error: symlink cannot be followed inside the spec tree: file does not exist",
				"site.yaml:1:1: error: symlink to a directory",
				"site/loop1.yaml:1:1: error: symlink cannot be followed inside the spec tree: too many levels of symbolic links",
				"site/loop2.yaml:1:1: error: symlink cannot be followed inside the spec tree: too many levels of symbolic links",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := newOrigin(t)
			o.commit("main", "specs", tt.files)
			s := newSource(t, o.dir, func(opts *Options) { opts.Path = tt.path })
			rev := mustFetch(t, s)
			set, diags, err := s.Load(context.Background(), rev)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			var got []string
			for _, obj := range set.Objects {
				got = append(got, obj.Kind+"/"+obj.Metadata.Name)
			}
			slices.Sort(got)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("objects (-want +got):\n%s", diff)
			}
			if len(diags) != len(tt.diags) {
				t.Fatalf("got %d diagnostics, want %d:\n%v", len(diags), len(tt.diags), diags)
			}
			for i, want := range tt.diags {
				if !strings.Contains(diags[i].String(), want) {
					t.Errorf("diagnostic %d = %q, want it to contain %q", i, diags[i], want)
				}
			}
		})
	}
}

func TestTreeFSConformance(t *testing.T) {
	o := newOrigin(t)
	o.commit("main", "tree", map[string]entry{
		"managers.yaml":          file(managerYAML),
		"ams-hv01/bridges.yaml":  file(bridgeYAML),
		"ams-hv01/link.yaml":     link("bridges.yaml"),
		"ams-hv01/up.yaml":       link("../managers.yaml"),
		"ams-hv01/deep/dir/a.md": file("deep\n"),
		"dirlink":                link("ams-hv01/deep"),
		"z.b":                    file("sorted after z/ in git, before it in fs\n"),
		"z/c":                    file("c\n"),
		"vendored":               gitlink(plumbing.NewHash("0123456789abcdef0123456789abcdef01234567")),
	})
	s := newSource(t, o.dir)
	rev := mustFetch(t, s)
	repo := openTestCache(t, s)
	c, err := repo.CommitObject(plumbing.NewHash(rev.Hash))
	if err != nil {
		t.Fatal(err)
	}
	root, err := c.Tree()
	if err != nil {
		t.Fatal(err)
	}
	fsys := newTreeFS(repo.Storer, root, c.Committer.When)
	if err := fstest.TestFS(fsys, "managers.yaml", "ams-hv01/bridges.yaml", "ams-hv01/link.yaml", "ams-hv01/up.yaml", "ams-hv01/deep/dir/a.md", "z.b", "z/c"); err != nil {
		t.Error(err)
	}
	if _, err := fs.Stat(fsys, "vendored"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat(vendored submodule) error = %v, want fs.ErrNotExist", err)
	}
	if got, err := fs.ReadFile(fsys, "dirlink/dir/a.md"); err != nil || string(got) != "deep\n" {
		t.Errorf("reading through a directory symlink = %q, %v", got, err)
	}
	if fi, err := fs.Lstat(fsys, "ams-hv01/link.yaml"); err != nil || fi.Mode().Type() != fs.ModeSymlink || fi.Size() != int64(len("bridges.yaml")) {
		t.Errorf("Lstat(link) = %v, %v; want a symlink of size %d", fi, err, len("bridges.yaml"))
	}
	if fi, err := fs.Stat(fsys, "ams-hv01/link.yaml"); err != nil || !fi.Mode().IsRegular() || fi.Name() != "link.yaml" || fi.Size() != int64(len(bridgeYAML)) {
		t.Errorf("Stat(link) = %v, %v; want the regular file, named link.yaml", fi, err)
	}
	if _, err := fs.ReadLink(fsys, "managers.yaml"); !errors.Is(err, errNotSymlink) {
		t.Errorf("ReadLink(regular file) error = %v, want %v", err, errNotSymlink)
	}
}

func TestReadFile(t *testing.T) {
	o := newOrigin(t)
	o.commit("main", "specs", map[string]entry{
		"specs/managers.yaml": file(managerYAML),
		"docs/owners.txt":     link("../specs/managers.yaml"),
		"docs/escape":         link("../../etc/passwd"),
	})
	s := newSource(t, o.dir, func(opts *Options) { opts.Path = "specs" })
	rev := mustFetch(t, s)
	tests := []struct {
		path    string
		want    string
		wantErr error
	}{
		{path: "specs/managers.yaml", want: managerYAML},
		{path: "./docs/owners.txt", want: managerYAML},
		{path: "docs/missing", wantErr: fs.ErrNotExist},
		{path: "docs/escape", wantErr: errEscapes},
		{path: "specs", wantErr: errIsDir},
	}
	for _, tt := range tests {
		got, err := s.ReadFile(context.Background(), rev, tt.path)
		if tt.wantErr != nil {
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("ReadFile(%q) error = %v, want %v", tt.path, err, tt.wantErr)
			}
			continue
		}
		if err != nil || string(got) != tt.want {
			t.Errorf("ReadFile(%q) = %q, %v; want %q", tt.path, got, err, tt.want)
		}
	}
	if _, err := s.ReadFile(context.Background(), rev, "../outside"); err == nil {
		t.Errorf("ReadFile(../outside) succeeded, want an error")
	}
	if _, err := s.ReadFile(context.Background(), &Revision{Hash: strings.Repeat("ab", 20)}, "specs/managers.yaml"); err == nil || !strings.Contains(err.Error(), "not in the cache") {
		t.Errorf("ReadFile of an unknown commit: error = %v, want \"not in the cache\"", err)
	}
}
