package source

import (
	"context"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage"
)

// Two small valid documents, taken from examples/managers.yaml and
// examples/ams-hv01/bridges.yaml.
const (
	managerYAML = `apiVersion: wirekeeper.io/v1alpha1
kind: OVSManager
metadata:
  name: ams-hv01-ovs
spec:
  node: ams-hv01
  address: unix:/var/run/openvswitch/db.sock
`
	bridgeYAML = `apiVersion: wirekeeper.io/v1alpha1
kind: Bridge
metadata:
  name: ams-hv01-br-int
spec:
  manager: ams-hv01-ovs
  bridge: br-int
  datapathType: system
  failMode: secure
`
)

// entry is one path of a test commit: a file, a symlink or a submodule.
type entry struct {
	mode filemode.FileMode
	data string
	hash plumbing.Hash // submodules only
}

func file(data string) entry        { return entry{mode: filemode.Regular, data: data} }
func link(target string) entry      { return entry{mode: filemode.Symlink, data: target} }
func gitlink(h plumbing.Hash) entry { return entry{mode: filemode.Submodule, hash: h} }

// origin is a bare repository standing for the remote, written with go-git
// plumbing so that tests control modes (symlinks, submodules) exactly.
type origin struct {
	t    testing.TB
	dir  string
	repo *git.Repository
	when time.Time
}

func newOrigin(t testing.TB) *origin {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "origin.git")
	repo, err := git.PlainInit(dir, true)
	if err != nil {
		t.Fatalf("init origin: %v", err)
	}
	return &origin{t: t, dir: dir, repo: repo, when: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
}

// commit writes a commit of files on top of the branch's head (or of
// parents, when given) and moves the branch to it.
func (o *origin) commit(branch, msg string, files map[string]entry, parents ...plumbing.Hash) plumbing.Hash {
	o.t.Helper()
	if parents == nil {
		if h := o.head(branch); !h.IsZero() {
			parents = []plumbing.Hash{h}
		}
	}
	o.when = o.when.Add(time.Minute)
	sig := object.Signature{Name: "Ada Operator", Email: "ada@example.net", When: o.when}
	c := &object.Commit{Author: sig, Committer: sig, Message: msg + "\n", TreeHash: writeTree(o.t, o.repo.Storer, files), ParentHashes: parents}
	h := storeObject(o.t, o.repo.Storer, c.Encode)
	o.setBranch(branch, h)
	return h
}

func (o *origin) setBranch(branch string, h plumbing.Hash) {
	o.t.Helper()
	if err := o.repo.Storer.SetReference(plumbing.NewHashReference(plumbing.NewBranchReferenceName(branch), h)); err != nil {
		o.t.Fatalf("set %s: %v", branch, err)
	}
}

func (o *origin) deleteBranch(branch string) {
	o.t.Helper()
	if err := o.repo.Storer.RemoveReference(plumbing.NewBranchReferenceName(branch)); err != nil {
		o.t.Fatalf("delete %s: %v", branch, err)
	}
}

func (o *origin) head(branch string) plumbing.Hash {
	ref, err := o.repo.Reference(plumbing.NewBranchReferenceName(branch), true)
	if err != nil {
		return plumbing.ZeroHash
	}
	return ref.Hash()
}

// push sends branch to url (force), or deletes it there when delete is set.
func (o *origin) push(url, branch string, delete bool) {
	o.t.Helper()
	ref := plumbing.NewBranchReferenceName(branch)
	spec := config.RefSpec("+" + ref + ":" + ref)
	if delete {
		spec = config.RefSpec(":" + ref)
	}
	r := git.NewRemote(o.repo.Storer, &config.RemoteConfig{Name: "test", URLs: []string{url}})
	var err error
	for range 5 {
		err = r.PushContext(context.Background(), &git.PushOptions{RemoteName: "test", RefSpecs: []config.RefSpec{spec}, Force: true})
		if !killedByDaemon(err) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil && err != git.NoErrAlreadyUpToDate {
		o.t.Fatalf("push %s to %s: %v", spec, url, err)
	}
}

func writeTree(t testing.TB, st storage.Storer, files map[string]entry) plumbing.Hash {
	t.Helper()
	sub := map[string]map[string]entry{}
	var entries []object.TreeEntry
	for p, e := range files {
		if dir, rest, ok := strings.Cut(p, "/"); ok {
			if sub[dir] == nil {
				sub[dir] = map[string]entry{}
			}
			sub[dir][rest] = e
			continue
		}
		h := e.hash
		if e.mode != filemode.Submodule {
			h = storeObject(t, st, func(o plumbing.EncodedObject) error {
				o.SetType(plumbing.BlobObject)
				w, err := o.Writer()
				if err != nil {
					return err
				}
				_, err = w.Write([]byte(e.data))
				return err
			})
		}
		entries = append(entries, object.TreeEntry{Name: p, Mode: e.mode, Hash: h})
	}
	for dir, files := range sub {
		entries = append(entries, object.TreeEntry{Name: dir, Mode: filemode.Dir, Hash: writeTree(t, st, files)})
	}
	sort.Sort(object.TreeEntrySorter(entries))
	return storeObject(t, st, (&object.Tree{Entries: entries}).Encode)
}

func storeObject(t testing.TB, st storage.Storer, encode func(plumbing.EncodedObject) error) plumbing.Hash {
	t.Helper()
	obj := st.NewEncodedObject()
	if err := encode(obj); err != nil {
		t.Fatalf("encode: %v", err)
	}
	h, err := st.SetEncodedObject(obj)
	if err != nil {
		t.Fatalf("store: %v", err)
	}
	return h
}

// newSource returns a Source over url with a cache in a fresh folder.
func newSource(t testing.TB, url string, mod ...func(*Options)) *Source {
	t.Helper()
	opts := Options{URL: url, CacheDir: t.TempDir()}
	for _, m := range mod {
		m(&opts)
	}
	s, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func mustFetch(t testing.TB, s *Source) *Revision {
	t.Helper()
	rev, err := fetch(s)
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	return rev
}

// fetch calls s.Fetch, again when the shared git daemon killed the
// connection: with more than --max-connections (32) clients, as when several
// packages test against it at once, git daemon kills a child serving the
// same address (127.0.0.1), whoever it belongs to.
func fetch(s *Source) (*Revision, error) {
	for i := 0; ; i++ {
		rev, err := s.Fetch(context.Background())
		if i == 4 || !killedByDaemon(err) {
			return rev, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func killedByDaemon(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset by peer")
}
