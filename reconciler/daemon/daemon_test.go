package daemon_test

import (
	"cmp"
	"context"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wirekeeper/wirekeeper/internal/testenv"
	"github.com/wirekeeper/wirekeeper/providers/memory"
	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/reconciler/daemon"
	"github.com/wirekeeper/wirekeeper/reconciler/source"
	"github.com/wirekeeper/wirekeeper/reconciler/status"
	"github.com/wirekeeper/wirekeeper/spec"
)

const specs = `apiVersion: wirekeeper.io/v1alpha1
kind: OVSManager
metadata: {name: ovs1}
spec: {node: hv1, address: unix:/run/ovs.sock}
---
apiVersion: wirekeeper.io/v1alpha1
kind: Bridge
metadata: {name: br0}
spec: {manager: ovs1}
---
apiVersion: wirekeeper.io/v1alpha1
kind: Mirror
metadata: {name: tap}
spec: {manager: ovs1, bridge: br0, selectAll: true, output: {port: tap0}}
`

// workTree is a clone of the remote that tests commit and push specs from,
// with the git CLI, as a user would.
type workTree struct {
	t   testing.TB
	dir string
}

func newWorkTree(t *testing.T, remote string) *workTree { return newWorkTreeTB(t, remote) }

func newWorkTreeTB(t testing.TB, remote string) *workTree {
	t.Helper()
	w := &workTree{t: t, dir: t.TempDir()}
	w.git("init", "-q", "-b", "main")
	w.git("remote", "add", "origin", remote)
	return w
}

func (w *workTree) git(args ...string) string {
	w.t.Helper()
	cmd := exec.Command("git", append([]string{"-c", "user.name=Test", "-c", "user.email=test@example.invalid"}, args...)...)
	cmd.Dir = w.dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		w.t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// try runs git and reports its output and whether it succeeded.
func (w *workTree) try(args ...string) (string, bool) {
	cmd := exec.Command("git", append([]string{"-c", "user.name=Test", "-c", "user.email=test@example.invalid"}, args...)...)
	cmd.Dir = w.dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.Output()
	return strings.TrimSpace(string(out)), err == nil
}

// commit writes files (path -> content; "" deletes) and pushes; it returns
// the new head.
func (w *workTree) commit(msg string, files map[string]string) string {
	w.t.Helper()
	head := w.commitOnly(msg, files)
	w.push()
	return head
}

// commitOnly commits files locally without pushing; it returns the head.
func (w *workTree) commitOnly(msg string, files map[string]string) string {
	w.t.Helper()
	for p, c := range files {
		full := filepath.Join(w.dir, p)
		if c == "" {
			os.Remove(full)
			continue
		}
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			w.t.Fatal(err)
		}
	}
	w.git("add", "-A")
	w.git("commit", "-q", "--allow-empty", "-m", msg)
	return w.git("rev-parse", "HEAD")
}

// push pushes the local main to the remote's main.
func (w *workTree) push() {
	w.t.Helper()
	w.git("push", "-q", "origin", "HEAD:main")
}

type rig struct {
	t        *testing.T
	remote   string
	work     *workTree
	provider *memory.Provider
	engine   *reconciler.Engine
	daemon   *daemon.Daemon
	writer   *status.Writer
	cancel   context.CancelFunc
	done     chan error
	keyring  string // --verify-signatures, when set
	// allowedSigners is --allowed-signers, when set.
	allowedSigners string
	// node is the daemon's node name, hv1 unless set; url is the URL it
	// reaches the remote at, the remote itself unless set.
	node, url string
	// noAggregate keeps the daemon out of the status aggregator's
	// election (--aggregate never).
	noAggregate bool
	lease       *status.Lease
	// configure, when set, changes the daemon's options before it starts.
	configure func(*daemon.Options)
}

func newRig(t *testing.T) *rig {
	t.Helper()
	r := &rig{t: t, remote: testenv.NewGitRemote(t)}
	r.work = newWorkTree(t, r.remote)
	r.provider = memory.New("test")
	return r
}

func (r *rig) start() {
	r.t.Helper()
	node := cmp.Or(r.node, "hv1")
	url := cmp.Or(r.url, r.remote)
	cache := r.t.TempDir()
	src, err := source.New(source.Options{URL: url, Branch: "main", Path: "specs", CacheDir: filepath.Join(cache, "src"),
		VerifyKeyring: r.keyring, AllowedSigners: r.allowedSigners, WatchRefs: path.Dir(status.LeaseRef("").String()) + "/"})
	if err != nil {
		r.t.Fatal(err)
	}
	r.writer, err = status.NewWriter(status.WriterOptions{URL: url, CacheDir: filepath.Join(cache, "status")})
	if err != nil {
		r.t.Fatal(err)
	}
	r.engine, err = reconciler.New(reconciler.Options{Node: node, Providers: []reconciler.Provider{r.provider}, Events: r.provider.Events(),
		BackoffBase: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond, Resync: time.Hour})
	if err != nil {
		r.t.Fatal(err)
	}
	opts := daemon.Options{Node: node, Source: src, Status: r.writer, Engine: r.engine,
		Interval: 100 * time.Millisecond, StatusDelay: 20 * time.Millisecond, AggregateEvery: 100 * time.Millisecond}
	if !r.noAggregate {
		if opts.Lease, err = status.NewLease(status.LeaseOptions{URL: url, Holder: node, TTL: 30 * time.Second}); err != nil {
			r.t.Fatal(err)
		}
		if opts.Aggregator, err = status.NewAggregator(status.AggregatorOptions{URL: url, CacheDir: filepath.Join(cache, "aggregate")}); err != nil {
			r.t.Fatal(err)
		}
		r.lease = opts.Lease
	}
	if r.configure != nil {
		r.configure(&opts)
	}
	r.daemon, err = daemon.New(opts)
	if err != nil {
		r.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan error, 1)
	go func() { r.done <- r.daemon.Run(ctx) }()
	r.t.Cleanup(r.stop)
}

func (r *rig) stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			r.t.Errorf("Run returned %v, want nil on shutdown", err)
		}
	case <-time.After(30 * time.Second):
		r.t.Error("daemon did not stop within 30s")
	}
	r.cancel = nil
}

func (r *rig) waitFor(what string, cond func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			r.t.Fatalf("timed out waiting for %s; engine status: %+v", what, r.engine.Status())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// remoteStatus reads the node's status back from the status branch.
func (r *rig) remoteStatus() (*reconciler.NodeStatus, status.Files) {
	r.t.Helper()
	node := cmp.Or(r.node, "hv1")
	files, err := r.writer.Read(context.Background(), node)
	if err != nil || len(files) == 0 {
		return nil, files
	}
	ns, err := status.Parse(node, files)
	if err != nil {
		r.t.Fatalf("status on the branch does not parse: %v", err)
	}
	return ns, files
}

func (r *rig) waitRemote(what string, cond func(*reconciler.NodeStatus) bool) (*reconciler.NodeStatus, status.Files) {
	r.t.Helper()
	var ns *reconciler.NodeStatus
	var files status.Files
	r.waitFor(what+" on the status branch", func() bool {
		ns, files = r.remoteStatus()
		return ns != nil && cond(ns)
	})
	return ns, files
}

func allReady(ns *reconciler.NodeStatus, n int) bool {
	if len(ns.Objects) != n {
		return false
	}
	for _, o := range ns.Objects {
		if o.Phase != reconciler.PhaseReady {
			return false
		}
	}
	return true
}

func TestDaemonEndToEnd(t *testing.T) {
	r := newRig(t)
	good := r.work.commit("add specs", map[string]string{"specs/ovs.yaml": specs, "README.md": "not a spec\n"})
	r.start()

	ns, files := r.waitRemote("3 ready objects", func(ns *reconciler.NodeStatus) bool {
		return ns.AppliedRevision == good && allReady(ns, 3)
	})
	for _, p := range status.Paths("hv1") {
		if len(files[p]) == 0 {
			t.Errorf("status branch lacks %s", p)
		}
	}
	if ns.Objects[2].Revision != good {
		t.Errorf("object revision = %q, want %q", ns.Objects[2].Revision, good)
	}
	if err := r.daemon.Ready(); err != nil {
		t.Errorf("Ready() = %v after the first revision", err)
	}

	// An invalid revision is refused whole; the last good one stays.
	bad := r.work.commit("break it", map[string]string{"specs/ovs.yaml": strings.Replace(specs, "output: {port: tap0}", "output: {port: tap0}, selectVlans: [5000]", 1) +
		"---\napiVersion: wirekeeper.io/v1alpha1\nkind: Mirror\nmetadata: {name: new}\nspec: {manager: ovs1, bridge: br0, selectAll: true, output: {port: tap1}}\n"})
	ns, _ = r.waitRemote("the refusal", func(ns *reconciler.NodeStatus) bool { return ns.Refused != nil && ns.Refused.Revision == bad })
	if ns.AppliedRevision != good || ns.Refused.Reason != "Invalid" || len(ns.Refused.Diagnostics) == 0 {
		t.Fatalf("after an invalid push: applied %s, refused %+v", ns.AppliedRevision, ns.Refused)
	}
	if d := ns.Refused.Diagnostics[0]; d.File != "specs/ovs.yaml" || d.Line != 14 || !strings.Contains(d.Message, "4095") {
		t.Errorf("diagnostic = %s, want specs/ovs.yaml:14 about the VLAN range", d)
	}
	if r.provider.Live(reconciler.Ref{Kind: "Mirror", Name: "new"}) != nil {
		t.Error("a mirror of the invalid revision was applied")
	}

	// A fix is applied, and the refusal cleared.
	fixed := r.work.commit("fix it", map[string]string{"specs/ovs.yaml": strings.Replace(specs, "port: tap0", "port: tap2", 1)})
	r.waitRemote("the fix", func(ns *reconciler.NodeStatus) bool {
		return ns.AppliedRevision == fixed && ns.Refused == nil && allReady(ns, 3)
	})
	if live := r.provider.Live(reconciler.Ref{Kind: "Mirror", Name: "tap"}).(*spec.MirrorSpec); live.Output.Port != "tap2" {
		t.Errorf("live output port = %q, want tap2", live.Output.Port)
	}

	// Drift is repaired and logged in drift/hv1.md.
	r.provider.Mutate(reconciler.Ref{Kind: "Mirror", Name: "tap"}, func(s any) { s.(*spec.MirrorSpec).SelectAll = false })
	r.provider.Notify(reconciler.Ref{Kind: "Mirror", Name: "tap"})
	ns, files = r.waitRemote("the repaired drift", func(ns *reconciler.NodeStatus) bool { return len(ns.Drift) == 1 && ns.Drift[0].Repaired })
	if ev := ns.Drift[0]; ev.Name != "tap" || ev.Diff[0].Path != "spec.selectAll" {
		t.Errorf("drift event = %+v", ev)
	}
	if !strings.Contains(string(files["drift/hv1.md"]), "spec.selectAll") {
		t.Errorf("drift/hv1.md does not name the field:\n%s", files["drift/hv1.md"])
	}

	// Status commits are on the node's ref, folded into the status
	// branch by this daemon, the only one and so the aggregator; the spec
	// branch has none.
	r.work.git("fetch", "-q", "origin", status.DefaultRefPrefix+"hv1")
	if log := r.work.git("log", "--format=%s", "FETCH_HEAD"); !strings.Contains(log, "status(hv1)") {
		t.Errorf("node ref log:\n%s", log)
	}
	r.waitFor("the drift log folded into the status branch", func() bool {
		_, ok := r.work.try("fetch", "-q", "origin", "wirekeeper/status")
		drift, _ := r.work.try("show", "FETCH_HEAD:drift/hv1.md")
		return ok && strings.Contains(drift, "spec.selectAll")
	})
	if log := r.work.git("log", "--format=%B", "FETCH_HEAD"); !strings.Contains(log, "status: 1 node: hv1") || !strings.Contains(log, "status(hv1)") {
		t.Errorf("status branch log:\n%s", log)
	}
	if page := r.work.git("show", "FETCH_HEAD:README.md"); !strings.Contains(page, "**1 node**") || !strings.Contains(page, ": 1 of 1 node enforces it.") {
		t.Errorf("README.md on the status branch:\n%s", page)
	}
	if log := r.work.git("log", "--format=%s", "origin/main"); strings.Contains(log, "status(") {
		t.Errorf("status commits on the spec branch:\n%s", log)
	}
}

func TestDaemonKeepsEnforcingWhenTheBranchIsDeleted(t *testing.T) {
	r := newRig(t)
	good := r.work.commit("add specs", map[string]string{"specs/ovs.yaml": specs})
	r.start()
	r.waitRemote("ready", func(ns *reconciler.NodeStatus) bool { return ns.AppliedRevision == good && allReady(ns, 3) })

	bare := filepath.Join(testenv.GitBase(t), filepath.Base(r.remote))
	r.work.git("--git-dir="+bare, "config", "receive.denyDeleteCurrent", "ignore")
	r.work.git("push", "-q", "origin", ":main")
	ns, _ := r.waitRemote("the source problem", func(ns *reconciler.NodeStatus) bool { return ns.Source != nil })
	if ns.Source.Reason != "BranchNotFound" || ns.AppliedRevision != good {
		t.Errorf("after deleting the branch: source %+v, applied %s", ns.Source, ns.AppliedRevision)
	}
	// Drift is still repaired under the last good revision.
	r.provider.Delete(reconciler.Ref{Kind: "Bridge", Name: "br0"})
	r.waitFor("bridge recreated", func() bool { return r.provider.Live(reconciler.Ref{Kind: "Bridge", Name: "br0"}) != nil })

	again := r.work.commit("restore the branch", map[string]string{"specs/ovs.yaml": specs})
	r.waitRemote("recovery", func(ns *reconciler.NodeStatus) bool { return ns.Source == nil && ns.AppliedRevision == again })
}

func TestDaemonShutdownPushesTheLastStatus(t *testing.T) {
	r := newRig(t)
	r.work.commit("add specs", map[string]string{"specs/ovs.yaml": specs})
	r.start()
	r.waitFor("applied", func() bool { return r.provider.Len() == 3 })
	r.stop()
	ns, _ := r.remoteStatus()
	if ns == nil || !allReady(ns, 3) {
		t.Fatalf("status after shutdown = %+v", ns)
	}
	// A restart keeps what the earlier run recorded.
	r.provider.Mutate(reconciler.Ref{Kind: "Mirror", Name: "tap"}, func(s any) { s.(*spec.MirrorSpec).SelectAll = false })
	r.start()
	got, _ := r.waitRemote("drift made while down, repaired", func(ns *reconciler.NodeStatus) bool { return len(ns.Drift) == 1 && ns.Drift[0].Repaired })
	if got.Drift[0].Name != "tap" {
		t.Errorf("drift = %+v", got.Drift[0])
	}
	for _, o := range got.Objects {
		if want := readySince(ns, o.Name); !readySince(got, o.Name).Equal(want) {
			t.Errorf("%s: Ready since %v after the restart, want %v kept from the first run", o.Name, readySince(got, o.Name), want)
		}
	}
}

func readySince(ns *reconciler.NodeStatus, name string) time.Time {
	for _, o := range ns.Objects {
		if o.Name != name {
			continue
		}
		for _, c := range o.Conditions {
			if c.Type == reconciler.ConditionReady {
				return c.LastTransitionTime
			}
		}
	}
	return time.Time{}
}

func fmtSpec(live any) string {
	if m, ok := live.(*spec.MirrorSpec); ok && m.Output != nil {
		return "output port " + m.Output.Port
	}
	return "(no mirror)"
}

func TestDaemonKeepsStatusWhileTheRemoteIsAwayAndPushesItLater(t *testing.T) {
	r := newRig(t)
	good := r.work.commit("add specs", map[string]string{"specs/ovs.yaml": specs})
	r.start()
	r.waitRemote("ready", func(ns *reconciler.NodeStatus) bool { return ns.AppliedRevision == good && allReady(ns, 3) })

	// The repository disappears from the git daemon: fetches and status
	// pushes fail, enforcement goes on.
	bare := filepath.Join(testenv.GitBase(t), filepath.Base(r.remote))
	if err := os.Rename(bare, bare+".away"); err != nil {
		t.Fatal(err)
	}
	r.waitFor("the source problem", func() bool {
		s := r.engine.Status().Source
		return s != nil && s.Reason == "Unreachable"
	})
	r.provider.Mutate(reconciler.Ref{Kind: "Mirror", Name: "tap"}, func(s any) { s.(*spec.MirrorSpec).SelectAll = false })
	r.provider.Notify(reconciler.Ref{Kind: "Mirror", Name: "tap"})
	r.waitFor("the drift repaired while away", func() bool {
		d := r.engine.Status().Drift
		return len(d) == 1 && d[0].Repaired
	})
	if err := os.Rename(bare+".away", bare); err != nil {
		t.Fatal(err)
	}
	ns, _ := r.waitRemote("the kept status pushed", func(ns *reconciler.NodeStatus) bool {
		return ns.Source == nil && len(ns.Drift) == 1 && ns.Drift[0].Repaired
	})
	if ns.AppliedRevision != good {
		t.Errorf("applied = %s, want %s", ns.AppliedRevision, good)
	}
}
