package source

import (
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// maxPacks bounds the packfiles of the cache. Every fetch that brings
// objects adds one, go-git reads the index of every pack each time the
// cache is opened (every poll), and it looks an object up pack by pack: an
// idle poll cost 4 ms with 3 packs and 21 ms with 300
// (BenchmarkIdlePollHistory), so without a bound a daemon's polls grew
// dearer with every revision it ever fetched. Past maxPacks the cache is
// repacked into one pack, as git's own gc.autoPackLimit (50) does.
const maxPacks = 32

// compact repacks the objects of repo that its refs reach into one pack
// when it holds more than maxPacks packs, and removes the others. It runs
// under the cache's exclusive lock. repo must
// not be read afterwards: go-git keeps listing the packs compact removed.
// A failure is logged and leaves a cache that is still whole (the old
// packs are removed only once the new one is written); the next fetch
// tries again.
func (s *Source) compact(repo *git.Repository) {
	pos, ok := repo.Storer.(storer.PackedObjectStorer)
	if !ok {
		return
	}
	packs, err := pos.ObjectPacks()
	if err != nil || len(packs) <= maxPacks {
		return
	}
	start := time.Now()
	if err := repo.RepackObjects(&git.RepackConfig{}); err != nil {
		s.log.Warn("source: cannot repack the cache; its polls cost more until a later fetch does", "dir", s.dir, "packs", len(packs), "err", err)
		return
	}
	s.log.Info("source: repacked the cache into one pack", "dir", s.dir, "packs", len(packs), "took", time.Since(start).Round(time.Millisecond))
}
