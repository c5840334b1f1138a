package source

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/wirekeeper/wirekeeper/internal/testenv"
)

// packs counts the packfiles of s's cache.
func packs(t *testing.T, s *Source) int {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(s.dir, "objects", "pack", "*.pack"))
	if err != nil {
		t.Fatal(err)
	}
	return len(m)
}

// A fetch from a git server adds a pack to the cache; past maxPacks the
// cache is repacked into one, and what the tracked branch reaches, old
// commits included, stays readable.
func TestFetchKeepsThePacksBounded(t *testing.T) {
	url := testenv.NewGitRemote(t)
	o := newOrigin(t)
	first := o.commit("main", "add manager", specFiles)
	o.push(url, "main", false)
	s := newSource(t, url)
	mustFetch(t, s)
	most, repacked := 0, false
	for i := range maxPacks + 8 {
		o.commit("main", fmt.Sprintf("revision %d", i), map[string]entry{
			"specs/managers.yaml": file(managerYAML),
			"specs/notes.yaml":    file(fmt.Sprintf("# revision %d\n", i)),
		})
		o.push(url, "main", false)
		before := packs(t, s)
		mustFetch(t, s)
		n := packs(t, s)
		most = max(most, n)
		repacked = repacked || n < before
	}
	if most > maxPacks+1 || !repacked {
		t.Fatalf("after %d fetches the cache held up to %d packs (repacked: %v), want at most %d and a repack",
			maxPacks+9, most, repacked, maxPacks+1)
	}
	head := mustFetch(t, s)
	set, diags, err := s.Load(context.Background(), head)
	if err != nil || diags.HasErrors() || len(set.Objects) != 1 {
		t.Fatalf("Load after the repack: %v %v, %d objects", err, diags, len(set.Objects))
	}
	old, err := s.Resolve(context.Background(), first.String())
	if err != nil || old.Hash != first.String() {
		t.Fatalf("Resolve of the first commit after the repack = %v, %v", old, err)
	}
	if _, err := s.ReadFile(context.Background(), old, "specs/managers.yaml"); err != nil {
		t.Fatalf("ReadFile of the first commit after the repack: %v", err)
	}
}
