package status

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/wirekeeper/wirekeeper/internal/testenv"
)

// TestWriterLocalRepositoryRunsNoProgram writes and reads the node refs
// of local repositories, as `wirekeeper demo` and a file:// --repo do, with
// nothing but tripwires named git, git-upload-pack and git-receive-pack on
// PATH: go-git's own file transport would run them. The repositories are
// made with go-git, so no git runs in the test either.
func TestWriterLocalRepositoryRunsNoProgram(t *testing.T) {
	for _, tc := range []struct {
		name string
		bare bool
		url  func(dir string) string
	}{
		{"file URL of a bare repository", true, func(dir string) string { return "file://" + dir }},
		{"path of a checkout with main checked out", false, func(dir string) string { return dir }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tripwires, ran := testenv.GitTripwires(t)
			t.Setenv("PATH", tripwires)
			dir := filepath.Join(t.TempDir(), "specs")
			repo, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{
				Bare:        tc.bare,
				InitOptions: git.InitOptions{DefaultBranch: plumbing.NewBranchReferenceName("main")},
			})
			if err != nil {
				t.Fatal(err)
			}
			specsCommit(t, repo)
			w := newTestWriter(t, tc.url(dir))

			refLength := func() int {
				// Opened again: a Repository does not see packs added
				// since it listed them.
				repo, err := git.PlainOpen(dir)
				if err != nil {
					t.Fatal(err)
				}
				ref, err := repo.Reference(plumbing.ReferenceName(nodeRef("hv1")), true)
				if err != nil {
					return 0
				}
				n := 0
				for c, err := repo.CommitObject(ref.Hash()); err == nil; c, err = c.Parent(0) {
					n++
				}
				return n
			}
			for i, step := range []struct {
				rev           int
				wantCommitted bool
				wantLength    int
			}{
				{1, true, 1}, // creates the ref
				{1, false, 1},
				{2, true, 2}, // a fast-forward
			} {
				files, _ := nodeFiles(t, "hv1", step.rev)
				committed, err := w.Write(ctx(t), "hv1", files, "")
				if err != nil {
					t.Fatalf("write %d: %v", i+1, err)
				}
				if committed != step.wantCommitted || refLength() != step.wantLength {
					t.Errorf("write %d: committed=%v with %d commits on the node's ref, want %v with %d",
						i+1, committed, refLength(), step.wantCommitted, step.wantLength)
				}
			}
			// A second writer with its own cache reads back what landed.
			got, err := newTestWriter(t, tc.url(dir)).Read(ctx(t), "hv1")
			if err != nil {
				t.Fatal(err)
			}
			ns, err := Parse("hv1", got)
			if err != nil || ns.AppliedRevision != fmt.Sprintf("%040x", 2) {
				t.Errorf("read back %+v, %v; want applied revision %s", ns, err, fmt.Sprintf("%040x", 2))
			}
			if got := ran(); got != "" {
				t.Errorf("git programs ran:\n%s", got)
			}
		})
	}
}

// specsCommit puts a commit on main and, in a checkout, leaves main checked
// out, as a developer's repository is.
func specsCommit(t *testing.T, repo *git.Repository) {
	t.Helper()
	sig := object.Signature{Name: "test", Email: "test@example.org", When: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	empty := repo.Storer.NewEncodedObject()
	if err := (&object.Tree{}).Encode(empty); err != nil {
		t.Fatal(err)
	}
	tree, err := repo.Storer.SetEncodedObject(empty)
	if err != nil {
		t.Fatal(err)
	}
	obj := repo.Storer.NewEncodedObject()
	if err := (&object.Commit{Author: sig, Committer: sig, Message: "specs\n", TreeHash: tree}).Encode(obj); err != nil {
		t.Fatal(err)
	}
	h, err := repo.Storer.SetEncodedObject(obj)
	if err != nil {
		t.Fatal(err)
	}
	if err := repo.Storer.SetReference(plumbing.NewHashReference("refs/heads/main", h)); err != nil {
		t.Fatal(err)
	}
}
