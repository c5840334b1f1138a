package source

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
)

// TestCheckStore shows what checkStore takes for damage: the evidence a
// failed fetch needs before the cache is cloned again.
func TestCheckStore(t *testing.T) {
	loose := func(dir string, h plumbing.Hash) string {
		return filepath.Join(dir, "objects", h.String()[:2], h.String()[2:])
	}
	tests := []struct {
		name   string
		damage func(t *testing.T, dir string, old plumbing.Hash)
		want   string // "" for a whole cache
	}{
		{name: "whole", damage: func(*testing.T, string, plumbing.Hash) {}},
		{name: "ref to a missing object", want: "ref refs/heads/gone", damage: func(t *testing.T, dir string, _ plumbing.Hash) {
			writeFile(t, filepath.Join(dir, "refs", "heads", "gone"), strings.Repeat("ab", 20)+"\n")
		}},
		{name: "garbage older commit", want: "zlib", damage: func(t *testing.T, dir string, old plumbing.Hash) {
			writeFile(t, loose(dir, old), "not zlib at all")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := newOrigin(t)
			old := o.commit("main", "specs", specFiles)
			s := newSource(t, o.dir)
			mustFetch(t, s)
			o.commit("main", "more", map[string]entry{"specs/managers.yaml": file(managerYAML + "# more\n")})
			mustFetch(t, s)
			tt.damage(t, s.dir, old)

			err := checkStore(context.Background(), openTestCache(t, s))
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("checkStore of a whole cache = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("checkStore = %v, want an error about %q", err, tt.want)
			}
		})
	}
}
