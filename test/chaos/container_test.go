package chaos

import (
	"fmt"
	"math/rand/v2"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wirekeeper/wirekeeper/internal/dockertest"
	"github.com/wirekeeper/wirekeeper/internal/ovstest"
	"github.com/wirekeeper/wirekeeper/providers/container"
)

// portsRevision plugs containers [from, to) of ctrs into bridge, each
// with an address that says which revision it belongs to.
func portsRevision(node, db, bridge string, ctrs []string, from, to, rev int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: wirekeeper.io/v1alpha1\nkind: OVSManager\nmetadata: {name: ovs}\nspec: {node: %s, address: %q}\n", node, db)
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, "---\napiVersion: wirekeeper.io/v1alpha1\nkind: ContainerPort\nmetadata: {name: p%d}\n"+
			"spec: {node: %s, bridge: %s, container: %s, interface: eth1, addresses: [10.7%d.0.%d/24]}\n", i, node, bridge, ctrs[i], rev%2, i+1)
	}
	return b.String()
}

// TestKilledDuringPlug SIGKILLs the daemon at random moments while it
// plugs and unplugs container ports (revisions alternate between two sets
// of 8 ports overlapping by 4, with other addresses), 3 times (50 with
// make chaos); a daemon started again converges with exactly one OVS port
// and one veth pair per plugged container, and no other veth of this node.
func TestKilledDuringPlug(t *testing.T) {
	kills := 3
	if full() {
		kills = 50
	}
	o := ovstest.Shared(t)
	d := dockertest.Shared(t)
	node := ovstest.UniquePortName(t, "hvc")
	bridge := ovstest.UniquePortName(t, "wkc")
	o.AddBridge(t, bridge)
	t.Cleanup(func() { ovstest.Vsctl(t, o.DB, "--if-exists", "del-br", bridge) })
	ctrs := d.RunN(t, node, 12)
	r := newRepo(t)
	dm := newDaemon(t, node, r, "--interval", "1h", "--ovs-netns", o.Netns, "--docker-host", d.Host)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	var rev string
	var from, to int
	for k := range kills {
		from, to = 4*(k%2), 4*(k%2)+8
		rev = r.push(fmt.Sprintf("ports %d-%d", from, to-1), map[string]string{"spec.yaml": portsRevision(node, o.DB, bridge, ctrs, from, to, k)})
		dm.start()
		time.Sleep(time.Duration(rng.IntN(1500)) * time.Millisecond)
		dm.kill()
		counts := map[string]int{}
		for _, p := range strings.Fields(ovstest.Vsctl(t, o.DB, "list-ports", bridge)) {
			counts[strings.Trim(ovstest.Vsctl(t, o.DB, "get", "Interface", p, "external_ids:container_id"), "\"\n")]++
		}
		for c, n := range counts {
			if n > 1 {
				t.Errorf("kill %d: container %s has %d OVS ports", k, c, n)
			}
		}
		t.Logf("kill %d: %d ports plugged", k, len(counts))
	}
	dm.start()
	dm.waitReady(rev, 1+(to-from), 2*time.Minute)

	var want []string
	for i := from; i < to; i++ {
		want = append(want, container.HostEnd(container.PortName(node, ctrs[i], "eth1")))
	}
	slices.Sort(want)
	got := strings.Fields(ovstest.Vsctl(t, o.DB, "list-ports", bridge))
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("OVS ports after %d kills and a restart:\n got %v\nwant %v", kills, got, want)
	}
	// Every host end of this node's veth pairs carries the alias
	// wirekeeper:NODE:…; exactly the wanted ones may be left.
	out, err := exec.Command("ip", "-n", o.Netns, "-o", "-d", "link", "show", "type", "veth").CombinedOutput()
	if err != nil {
		t.Fatalf("ip link: %v\n%s", err, out)
	}
	var ends []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "alias wirekeeper:"+node+":") {
			f := strings.Fields(l)
			ends = append(ends, strings.SplitN(strings.TrimSuffix(f[1], ":"), "@", 2)[0])
		}
	}
	slices.Sort(ends)
	if !slices.Equal(ends, want) {
		t.Errorf("host veth ends of %s: %v, want exactly %v", node, ends, want)
	}
	for i, c := range ctrs {
		links := d.Links(t, c)
		plugged := i >= from && i < to
		if has := slices.ContainsFunc(links, func(l dockertest.Link) bool { return l.Name == "eth1" }); has != plugged {
			t.Errorf("container %s: eth1 present %v, want %v (%+v)", c, has, plugged, links)
		}
	}
}
