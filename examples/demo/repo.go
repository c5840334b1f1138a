package demo

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/wirekeeper/wirekeeper/examples"
	"github.com/wirekeeper/wirekeeper/spec"
)

// showStatus prints the status branch's log and the node's status file.
func (r *demoRun) showStatus() error {
	r.say("6. What the daemon committed to branch wirekeeper/status:")
	repo, err := git.PlainOpen(r.repo)
	if err != nil {
		return err
	}
	ref, err := repo.Reference(plumbing.NewBranchReferenceName("wirekeeper/status"), true)
	if err != nil {
		return fmt.Errorf("no status branch: %w", err)
	}
	commits, err := repo.Log(&git.LogOptions{From: ref.Hash()})
	if err != nil {
		return err
	}
	err = commits.ForEach(func(c *object.Commit) error {
		// A fold's body has the subject of each node's own status commit.
		subject, body, _ := strings.Cut(c.Message, "\n")
		r.note("%s %s", c.Hash.String()[:7], subject)
		for _, l := range strings.Split(strings.TrimSpace(body), "\n") {
			if l != "" {
				r.note("        %s", l)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	tree, err := repo.CommitObject(ref.Hash())
	if err != nil {
		return err
	}
	file, err := tree.File("status/" + Node + ".md")
	if err != nil {
		return err
	}
	text, err := file.Contents()
	if err != nil {
		return err
	}
	fmt.Fprintf(r.out, "\n--- status/%s.md ---\n%s", Node, text)
	return nil
}

// commitDemo writes examples/demo/ into a new repository, with the manager
// pointed at the demo's OVSDB server, and commits it on main.
func (r *demoRun) commitDemo() (string, error) {
	repo, err := git.PlainInitWithOptions(r.repo, &git.PlainInitOptions{
		InitOptions: git.InitOptions{DefaultBranch: plumbing.NewBranchReferenceName("main")},
	})
	if err != nil {
		return "", err
	}
	err = fs.WalkDir(examples.Demo, "demo", func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		data, err := fs.ReadFile(examples.Demo, p)
		if err != nil {
			return err
		}
		if p == "demo/managers.yaml" {
			data = []byte(strings.Replace(string(data), "address: unix:/var/run/openvswitch/db.sock", "address: "+r.address, 1))
		}
		return os.WriteFile(filepath.Join(r.repo, filepath.Base(p)), data, 0o644)
	})
	if err != nil {
		return "", err
	}
	if _, diags := spec.Load(r.repo); diags.HasErrors() {
		return "", fmt.Errorf("the demo repository is invalid:\n%v", diags)
	}
	return commitAll(repo, "demo: one bridge, two mirrors")
}

// commitChange adds vm3 to web-span's source ports and commits.
func (r *demoRun) commitChange() (string, error) {
	path := filepath.Join(r.repo, "mirrors.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	changed := strings.Replace(string(data), "selectSrcPorts: [vm1, vm2]", "selectSrcPorts: [vm1, vm2, vm3]", 1)
	if changed == string(data) {
		return "", fmt.Errorf("mirrors.yaml has no web-span selectSrcPorts to change")
	}
	if err := os.WriteFile(path, []byte(changed), 0o644); err != nil {
		return "", err
	}
	repo, err := git.PlainOpen(r.repo)
	if err != nil {
		return "", err
	}
	return commitAll(repo, "web-span: also mirror vm3")
}

func commitAll(repo *git.Repository, message string) (string, error) {
	wt, err := repo.Worktree()
	if err != nil {
		return "", err
	}
	if err := wt.AddGlob("."); err != nil {
		return "", err
	}
	sig := &object.Signature{Name: "wirekeeper demo", Email: "demo@wirekeeper.invalid", When: time.Now()}
	h, err := wt.Commit(message, &git.CommitOptions{Author: sig})
	if err != nil {
		return "", err
	}
	return h.String(), nil
}
