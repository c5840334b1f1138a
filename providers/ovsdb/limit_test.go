package ovsdb_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/wirekeeper/wirekeeper/internal/ovstest"
	"github.com/wirekeeper/wirekeeper/reconciler"
)

// TestMirrorsBeyondTheLimitDegraded puts 34 mirrors on one bridge of a
// real ovs-vswitchd, which applies 32: the two it ignores (no statistics,
// "cannot create" in its log) are Degraded with the reason, the others
// Ready; with two of the applied ones removed from git, vswitchd applies
// the other two, and they become Ready.
func TestMirrorsBeyondTheLimitDegraded(t *testing.T) {
	o := ovstest.Shared(t)
	br := shortName(t, "wkl")
	o.AddBridge(t, br)
	t.Cleanup(func() { ovstest.Vsctl(t, o.DB, "--if-exists", "del-br", br) })
	prefix := shortName(t, "l")
	docs := []string{managerDoc("ovs1", o.DB)}
	var names []string
	for i := range 34 {
		name := fmt.Sprintf("%s-%02d", prefix, i)
		names = append(names, name)
		docs = append(docs, mirrorDoc(name, "ovs1", br, "selectAll: true, output: {vlan: 999}"))
	}
	r := newRig(t)
	r.apply(docs...)
	split := func() (ready, degraded []string) {
		for _, n := range names {
			switch ph, _ := r.phase("Mirror", n); ph {
			case reconciler.PhaseReady:
				ready = append(ready, n)
			case reconciler.PhaseDegraded:
				degraded = append(degraded, n)
			}
		}
		return ready, degraded
	}
	r.waitFor("32 mirrors Ready and 2 Degraded", func() bool {
		ready, degraded := split()
		return len(ready) == 32 && len(degraded) == 2
	})
	_, degraded := split()
	log, err := os.ReadFile(filepath.Join(o.Dir, "ovs-vswitchd.log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range degraded {
		_, msg := r.phase("Mirror", n)
		if want := "vswitchd applies at most 32 per bridge"; !strings.Contains(msg, want) || !strings.Contains(msg, "bridge "+br+" has 34 mirrors") {
			t.Errorf("%s: message %q, want the limit and the bridge's count", n, msg)
		}
		if got := mirrorColumn(t, o.DB, n, "statistics"); got != "{}" {
			t.Errorf("%s: statistics %s, want none (not applied)", n, got)
		}
		if !strings.Contains(string(log), "cannot create "+n) {
			t.Errorf("ovs-vswitchd's log does not say it could not create %s", n)
		}
	}

	// Two applied mirrors leave: vswitchd gives their slots to the others.
	var keep []string
	dropped := 0
	for i, n := range names {
		if dropped < 2 && !slices.Contains(degraded, n) {
			dropped++
			continue
		}
		keep = append(keep, docs[i+1])
	}
	r.apply(append([]string{docs[0]}, keep...)...)
	for _, n := range degraded {
		r.waitPhase("Mirror", n, reconciler.PhaseReady)
	}
}
