package fleet

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wirekeeper/wirekeeper/internal/ovstest"
	"github.com/wirekeeper/wirekeeper/internal/testenv"
	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/reconciler/status"
)

const (
	hosts    = 20
	interval = 2 * time.Second
)

// host is one simulated host: its ovsdb-server and its daemon.
type host struct {
	node    string
	ovs     *ovstest.OVS
	metrics string
	cmd     *exec.Cmd
	log     *os.File
}

// counter sums the samples of metric on the daemon's /metrics.
func (h *host) counter(t *testing.T, metric string) float64 {
	resp, err := http.Get("http://" + h.metrics + "/metrics")
	if err != nil {
		t.Errorf("%s: /metrics: %v", h.node, err)
		return 0
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, metric+"{") || strings.HasPrefix(l, metric+" ") {
			f := strings.Fields(l)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			sum += v
		}
	}
	return sum
}

func specFor(hs []*host, bridges int) string {
	var b strings.Builder
	for _, h := range hs {
		fmt.Fprintf(&b, "---\napiVersion: wirekeeper.io/v1alpha1\nkind: OVSManager\nmetadata: {name: %s-ovs}\nspec: {node: %s, address: %q}\n", h.node, h.node, h.ovs.DB)
		for i := range bridges {
			fmt.Fprintf(&b, "---\napiVersion: wirekeeper.io/v1alpha1\nkind: Bridge\nmetadata: {name: %s-br%d}\nspec: {manager: %s-ovs, bridge: br%d, datapathType: netdev}\n", h.node, i, h.node, i)
		}
	}
	return b.String()
}

// TestFleet runs 20 daemons (processes of the real binary, one node name
// each) against one git daemon and an ovsdb-server per host, applies a
// revision touching all of them, and measures the time until every node
// reports it Ready on the status branch, lost status updates, and the git
// server's load. Then one host's ovsdb-server stops: only that node
// reports the fault.
func TestFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("the fleet simulation takes a minute")
	}
	remote := testenv.NewGitRemote(t)
	work := t.TempDir()
	testenv.Git(t, work, "init", "-q", "-b", "main")
	testenv.Git(t, work, "remote", "add", "origin", remote)
	hs := make([]*host, hosts)
	for i := range hs {
		hs[i] = &host{node: fmt.Sprintf("fleet-%02d", i), ovs: ovstest.Start(t, ovstest.Options{})}
	}
	push := func(content, msg string) string {
		if err := os.WriteFile(filepath.Join(work, "fleet.yaml"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		testenv.Git(t, work, "add", "-A")
		testenv.Git(t, work, "commit", "-q", "-m", msg+"\n\nwirekeeper: allow-prune")
		testenv.Git(t, work, "push", "-q", "origin", "HEAD:main")
		return testenv.Git(t, work, "rev-parse", "HEAD")
	}
	first := push(specFor(hs, 0), "the managers")

	bin := testenv.Binary(t)
	started := time.Now()
	for _, h := range hs {
		h.log, _ = os.Create(filepath.Join(t.TempDir(), h.node+".log"))
		h.cmd = exec.Command(bin, "run", "--repo", remote, "--node", h.node, "--interval", interval.String(),
			"--cache-dir", t.TempDir(), "--metrics-listen", "127.0.0.1:0", "--log-format", "json")
		h.cmd.Stdout, h.cmd.Stderr = h.log, h.log
		if err := h.cmd.Start(); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, h := range hs {
			h.cmd.Process.Kill()
			h.cmd.Wait()
		}
		if t.Failed() {
			for _, h := range hs[:3] {
				b, _ := os.ReadFile(h.log.Name())
				t.Logf("log of %s (tail):\n%s", h.node, tail(string(b), 15))
			}
		}
	})
	// Each daemon listens on a port of its own choosing and logs it.
	listening := regexp.MustCompile(`"msg":"listening".*"server":"metrics","address":"([^"]+)"`)
	for _, h := range hs {
		waitLog := time.Now().Add(30 * time.Second)
		for h.metrics == "" {
			b, _ := os.ReadFile(h.log.Name())
			if m := listening.FindSubmatch(b); m != nil {
				h.metrics = string(m[1])
			} else if time.Now().After(waitLog) {
				t.Fatalf("%s never said where it serves its metrics:\n%s", h.node, b)
			} else {
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
	w, err := status.NewWriter(status.WriterOptions{URL: remote, CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	// statuses reads every node's status from the branch.
	statuses := func() map[string]*reconciler.NodeStatus {
		all, err := w.ReadAll(context.Background())
		if err != nil {
			return nil
		}
		out := map[string]*reconciler.NodeStatus{}
		for node, files := range all {
			if ns, err := status.Parse(node, files); err == nil {
				out[node] = ns
			}
		}
		return out
	}
	// converged reports how many nodes report rev with n objects, all Ready.
	converged := func(st map[string]*reconciler.NodeStatus, rev string, n int) int {
		done := 0
		for _, h := range hs {
			ns := st[h.node]
			if ns != nil && ns.AppliedRevision == rev && len(ns.Objects) == n && ns.Counts()[reconciler.PhaseReady] == n {
				done++
			}
		}
		return done
	}
	waitFor := func(what string, timeout time.Duration, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(timeout)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out after %s waiting for %s", timeout, what)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	waitFor("every node Ready on the first revision", 2*time.Minute, func() bool { return converged(statuses(), first, 1) == hosts })
	t.Logf("%d daemons started and reported the first revision in %s", hosts, time.Since(started).Round(time.Millisecond))

	// A revision touching every host: two bridges each.
	fetches0, pushes0 := 0.0, 0.0
	for _, h := range hs {
		fetches0 += h.counter(t, "wirekeeper_source_fetch_total")
		pushes0 += h.counter(t, "wirekeeper_status_push_total")
	}
	pushed := time.Now()
	second := push(specFor(hs, 2), "two bridges on every host")
	var took time.Duration
	waitFor("every node Ready on the second revision", 2*time.Minute, func() bool {
		if converged(statuses(), second, 3) == hosts {
			took = time.Since(pushed)
			return true
		}
		return false
	})
	// The load over a steady minute-long window that includes the rollout.
	time.Sleep(max(0, 30*time.Second-time.Since(pushed)))
	window := time.Since(pushed)
	fetches, pushes := -fetches0, -pushes0
	for _, h := range hs {
		fetches += h.counter(t, "wirekeeper_source_fetch_total")
		pushes += h.counter(t, "wirekeeper_status_push_total")
	}
	st := statuses()
	lost := hosts - converged(st, second, 3)
	for _, h := range hs {
		if got := strings.TrimSpace(h.ovs.Vsctl(t, "list-br")); got != "br0\nbr1" {
			t.Errorf("%s has bridges %q, want br0 and br1", h.node, got)
		}
	}
	t.Logf("FIGURES: %d hosts, poll interval %s: every node Ready on the status branch %s after the push; "+
		"status updates lost: %d; git server: %.0f fetches/min and %.0f status pushes/min (%d daemons, over %s)",
		hosts, interval, took.Round(time.Millisecond), lost, fetches/window.Minutes(), pushes/window.Minutes(), hosts, window.Round(time.Second))
	if lost != 0 {
		t.Errorf("%d nodes' status updates are missing from the status branch", lost)
	}
	// One of the daemons aggregates: the browsable branch has every node's
	// files and the fleet page.
	browse := t.TempDir()
	testenv.Git(t, browse, "init", "-q", "--bare")
	waitFor("every node's status and the fleet page on the status branch", time.Minute, func() bool {
		if _, err := gitTry(browse, "fetch", "-q", remote, "+refs/heads/"+status.DefaultBranch+":refs/heads/status"); err != nil {
			return false
		}
		page, err := gitTry(browse, "show", "status:"+status.FleetPagePath)
		if err != nil {
			return false
		}
		for _, h := range hs {
			yaml, err := gitTry(browse, "show", "status:status/"+h.node+".yaml")
			if err != nil || !strings.Contains(yaml, second) {
				return false
			}
		}
		return strings.Contains(page, fmt.Sprintf("**%d nodes**: %d Ready", hosts, hosts)) &&
			strings.Contains(page, fmt.Sprintf("Newest spec revision `%s` of branch `main`: %d of %d nodes enforce it.", second[:7], hosts, hosts))
	})
	holders := 0
	for _, h := range hs {
		b, _ := os.ReadFile(h.log.Name())
		holders += strings.Count(string(b), "took the status aggregator lease")
	}
	t.Logf("FIGURES: %d takeovers of the aggregator lease during the run (1 expected: the first daemon to start)", holders)

	// One host's ovsdb-server stops: that node reports it, the rest stay Ready.
	victim := hs[7]
	victim.ovs.StopDB(t)
	waitFor(victim.node+" reporting the fault", time.Minute, func() bool {
		ns := statuses()[victim.node]
		if ns == nil {
			return false
		}
		o := ns.Object(reconciler.Ref{Kind: "OVSManager", Name: victim.node + "-ovs"})
		return o != nil && o.Phase != reconciler.PhaseReady
	})
	time.Sleep(3 * interval) // long enough for a wrongly shared fault to show
	st = statuses()
	for _, h := range hs {
		if h == victim {
			continue
		}
		if ns := st[h.node]; ns == nil || ns.Counts()[reconciler.PhaseReady] != 3 {
			t.Errorf("%s is affected by %s's fault: %+v", h.node, victim.node, ns)
		}
	}
	o := st[victim.node].Object(reconciler.Ref{Kind: "OVSManager", Name: victim.node + "-ovs"})
	// The fleet page lists the victim, and only it, as not Ready.
	waitFor("the fleet page listing "+victim.node+" as not Ready", time.Minute, func() bool {
		if _, err := gitTry(browse, "fetch", "-q", remote, "+refs/heads/"+status.DefaultBranch+":refs/heads/status"); err != nil {
			return false
		}
		page, err := gitTry(browse, "show", "status:"+status.FleetPagePath)
		return err == nil && strings.Contains(page, "1 node, most severe first.") &&
			strings.Contains(page, "| ["+victim.node+"](status/"+victim.node+".md) | "+string(o.Phase)+" | OVSManager/"+victim.node+"-ovs: "+string(o.Phase))
	})
	t.Logf("FIGURES: %s with its ovsdb-server stopped: OVSManager %s (%s); the other %d nodes: all Ready", victim.node, o.Phase, o.Message, hosts-1)
}

// gitTry runs the git CLI in dir, isolated from the machine's config, and
// returns its output or why it failed.
func gitTry(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.Output()
	return string(out), err
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
