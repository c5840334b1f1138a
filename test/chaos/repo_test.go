package chaos

import (
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/wirekeeper/wirekeeper/internal/ovstest"
	"github.com/wirekeeper/wirekeeper/reconciler"
)

// bigTree is a spec tree of 10,000 documents in 100 files: 100 nodes, each
// with an OVSManager and 99 Bridges; node n000's manager is db.
func bigTree(db string, bridgePrefix string) map[string]string {
	files := map[string]string{}
	for n := range 100 {
		var b strings.Builder
		addr := fmt.Sprintf("unix:/var/run/openvswitch/n%03d.sock", n)
		if n == 0 {
			addr = db
		}
		fmt.Fprintf(&b, "apiVersion: wirekeeper.io/v1alpha1\nkind: OVSManager\nmetadata: {name: n%03d-ovs}\nspec: {node: n%03d, address: %q}\n", n, n, addr)
		for i := range 99 {
			fmt.Fprintf(&b, "---\napiVersion: wirekeeper.io/v1alpha1\nkind: Bridge\nmetadata: {name: n%03d-%s%02d}\nspec: {manager: n%03d-ovs, bridge: %s%02d, datapathType: netdev}\n",
				n, bridgePrefix, i, n, bridgePrefix, i)
		}
		files[fmt.Sprintf("nodes/n%03d.yaml", n)] = b.String()
	}
	return files
}

func randomBytes(t *testing.T, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestBigRepository: a tree of 10,000 documents is applied (the node's 99
// bridges); a 50 MB spec file is refused whole, naming the file and the
// limit, while the last good revision keeps being enforced; a 50 MB file
// that is not a spec (firmware in the repository) is carried along and
// the revision with it applied.
func TestBigRepository(t *testing.T) {
	ovs := ovstest.Start(t, ovstest.Options{})
	r := newRepo(t)
	began := time.Now()
	rev := r.push("10,000 documents", bigTree(ovs.DB, "br"))
	d := newDaemon(t, "n000", r, "--interval", "1s")
	d.start()
	d.waitReady(rev, 100, 2*time.Minute)
	first := time.Since(began)
	if got := len(strings.Fields(ovs.Vsctl(t, "list-br"))); got != 99 {
		t.Fatalf("%d bridges, want 99", got)
	}

	big := "# " + strings.Repeat("x", 50<<20) + "\n"
	bad := r.push("a 50 MB spec file", map[string]string{"nodes/huge.yaml": big})
	waitFor(t, "the 50 MB file refused", time.Minute, func() bool {
		ns := d.status()
		return ns != nil && ns.Refused != nil && ns.Refused.Revision == bad
	})
	ns := d.status()
	if ns.AppliedRevision != rev || !strings.Contains(fmt.Sprint(ns.Refused.Diagnostics), "nodes/huge.yaml") ||
		!strings.Contains(fmt.Sprint(ns.Refused.Diagnostics), "larger than") {
		t.Errorf("applied %s, refused %+v: want the last good revision kept and the file named with the limit", ns.AppliedRevision, ns.Refused)
	}
	// Enforcement goes on meanwhile.
	ovs.Vsctl(t, "del-br", "br07")
	waitFor(t, "br07 back while the big file is refused", time.Minute, func() bool {
		return strings.Contains(ovs.Vsctl(t, "list-br"), "br07")
	})

	good := r.push("the spec file goes; 50 MB of firmware stays in the repository", map[string]string{
		"nodes/huge.yaml": "", "firmware/switch.bin": randomBytes(t, 50<<20)})
	waitFor(t, "the revision with the firmware applied", 2*time.Minute, func() bool {
		ns := d.status()
		return ns != nil && ns.AppliedRevision == good && ns.Refused == nil && ns.Counts()[reconciler.PhaseReady] == 100
	})
	t.Logf("FIGURES: 10,000 documents in 100 files: node Ready %s after the first push (clone, validation, 99 bridges, status)", first.Round(time.Millisecond))
}

// TestCacheDiskFull puts the daemon's cache on a 4 MB tmpfs, then pushes a
// revision carrying 8 MB: the fetch fails for lack of space, the node
// reports the source problem, enforcement goes on; once there is room
// again the revision is applied.
func TestCacheDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("WIREKEEPER_REQUIRE_INTEGRATION") == "1" {
			t.Fatal("mounting a small tmpfs needs root")
		}
		t.Skip("mounting a small tmpfs needs root")
	}
	ovs := ovstest.Start(t, ovstest.Options{})
	r := newRepo(t)
	files := map[string]string{"spec.yaml": fmt.Sprintf("apiVersion: wirekeeper.io/v1alpha1\nkind: OVSManager\nmetadata: {name: ovs}\nspec: {node: full, address: %q}\n---\napiVersion: wirekeeper.io/v1alpha1\nkind: Bridge\nmetadata: {name: b1}\nspec: {manager: ovs, bridge: b1, datapathType: netdev}\n", ovs.DB)}
	rev := r.push("a bridge", files)
	d := newDaemon(t, "full", r, "--interval", "1s")
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", d.cache).CombinedOutput(); err != nil {
		t.Fatalf("mount: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", d.cache).Run() })
	d.start()
	d.waitReady(rev, 2, time.Minute)

	files["blob.bin"] = randomBytes(t, 8<<20)
	files["spec.yaml"] += "---\napiVersion: wirekeeper.io/v1alpha1\nkind: Bridge\nmetadata: {name: b2}\nspec: {manager: ovs, bridge: b2, datapathType: netdev}\n"
	next := r.push("a second bridge and 8 MB", files)
	waitFor(t, "the source problem", time.Minute, func() bool {
		out, _ := os.ReadFile(d.log.Name())
		return strings.Contains(string(out), "no space left on device")
	})
	ovs.Vsctl(t, "del-br", "b1")
	waitFor(t, "b1 back while the disk is full", time.Minute, func() bool { return strings.Contains(ovs.Vsctl(t, "list-br"), "b1") })

	if out, err := exec.Command("mount", "-o", "remount,size=64m", d.cache).CombinedOutput(); err != nil {
		t.Fatalf("remount: %v\n%s", err, out)
	}
	d.waitReady(next, 3, 2*time.Minute)
	if ns := d.status(); ns.Source != nil {
		t.Errorf("source problem left after recovery: %+v", ns.Source)
	}
}
