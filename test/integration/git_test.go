package integration

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/wirekeeper/wirekeeper/internal/testenv"
)

func TestGitDaemon(t *testing.T) {
	remote := testenv.NewGitRemote(t)
	branch := plumbing.NewBranchReferenceName("main")

	local := t.TempDir()
	repo, err := git.PlainInitWithOptions(local, &git.PlainInitOptions{
		InitOptions: git.InitOptions{DefaultBranch: branch},
	})
	if err != nil {
		t.Fatalf("PlainInit: %v", err)
	}
	const content = "kind: OVSMirror\nname: smoke\n"
	if err := os.WriteFile(filepath.Join(local, "mirror.yaml"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		t.Fatalf("Worktree: %v", err)
	}
	if _, err := wt.Add("mirror.yaml"); err != nil {
		t.Fatalf("Add: %v", err)
	}
	sig := &object.Signature{Name: "wirekeeper test", Email: "test@wirekeeper.invalid", When: time.Now()}
	commit, err := wt.Commit("add smoke mirror", &git.CommitOptions{Author: sig, Committer: sig})
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if _, err := repo.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{remote}}); err != nil {
		t.Fatalf("CreateRemote: %v", err)
	}
	if err := repo.Push(&git.PushOptions{
		RemoteName: "origin",
		RefSpecs:   []config.RefSpec{"refs/heads/main:refs/heads/main"},
	}); err != nil {
		t.Fatalf("push to %s: %v", remote, err)
	}

	clone := t.TempDir()
	cloned, err := git.PlainClone(clone, false, &git.CloneOptions{URL: remote, ReferenceName: branch})
	if err != nil {
		t.Fatalf("clone %s: %v", remote, err)
	}
	head, err := cloned.Head()
	if err != nil {
		t.Fatalf("Head: %v", err)
	}
	if head.Hash() != commit || head.Name() != branch {
		t.Errorf("cloned HEAD = %s at %s, want %s at %s", head.Name(), head.Hash(), branch, commit)
	}
	got, err := os.ReadFile(filepath.Join(clone, "mirror.yaml"))
	if err != nil {
		t.Fatalf("read cloned file: %v", err)
	}
	if string(got) != content {
		t.Errorf("cloned mirror.yaml = %q, want %q", got, content)
	}
}
