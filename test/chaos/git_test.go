package chaos

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wirekeeper/wirekeeper/internal/ovstest"
	"github.com/wirekeeper/wirekeeper/internal/testenv"
)

// TestGitRemoteAway takes the spec repository off the git daemon while the
// daemon runs: enforcement goes on (a mirror deleted meanwhile is put
// back), and once the repository is back the status branch gets the drift
// and its repair, which could not be pushed while it was away.
func TestGitRemoteAway(t *testing.T) {
	ovs := ovstest.Start(t, ovstest.Options{})
	ovs.Vsctl(t, "add-br", "cb0", "--", "set", "Bridge", "cb0", "datapath_type=netdev")
	var ports []string
	for i := range 10 {
		ports = append(ports, "p0-"+string(rune('0'+i)))
	}
	ovs.AddPorts(t, "cb0", ports)
	node := "chaos-git"
	r := newRepo(t)
	docs, want := mirrorRevision(node, ovs.DB, 1, false)
	rev := r.push("mirrors", map[string]string{"spec.yaml": docs})
	d := newDaemon(t, node, r, "--interval", "1s")
	d.start()
	d.waitReady(rev, 2+len(want), time.Minute)

	bare := filepath.Join(testenv.GitBase(t), filepath.Base(r.remote))
	if err := os.Rename(bare, bare+".away"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second) // a few failed fetches
	deleted := time.Now()
	ovs.Vsctl(t, "--", "--id=@m", "get", "Mirror", "a-0-3", "--", "remove", "Bridge", "cb0", "mirrors", "@m")
	waitFor(t, "the mirror put back while the remote is away", 30*time.Second, func() bool {
		return slices.Equal(mirrorsLive(t, ovs.DB), want)
	})
	repaired := time.Since(deleted)
	if err := os.Rename(bare+".away", bare); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the queued status pushed", time.Minute, func() bool {
		ns := d.status()
		if ns == nil || ns.Source != nil {
			return false
		}
		for _, e := range ns.Drift {
			if e.Kind == "Mirror" && e.Name == "a-0-3" && e.Repaired {
				return true
			}
		}
		return false
	})
	log, _ := os.ReadFile(d.log.Name())
	if !strings.Contains(string(log), "fetch") {
		t.Error("the daemon log says nothing about the failed fetches")
	}
	t.Logf("FIGURES: remote away: a mirror deleted while the repository was gone was back %s later; the drift report was pushed once it returned", repaired.Round(time.Millisecond))
}
