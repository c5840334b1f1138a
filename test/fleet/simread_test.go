package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wirekeeper/wirekeeper/internal/testenv"
	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/reconciler/review"
	"github.com/wirekeeper/wirekeeper/reconciler/status"
)

// simReader reads the fleet's status as an operator does: the real
// binary's `wirekeeper status --output json`, through a proxy of its own
// with the fleet's latency (its requests are not the fleet's), keeping its
// cache between runs as `--cache-dir` allows.
type simReader struct {
	tb  testing.TB
	bin string
	url string
	// statusURL is --status-repo, when the fleet has one.
	statusURL string
	cache     string
	runs      int
	cpu       time.Duration // user + system time of the runs
}

func (f *simFleet) newReader() *simReader {
	p := testenv.NewProxy(f.tb, f.target)
	p.SetLatency(f.opts.oneWay)
	p.SetConnectTimeout(simConnectTimeout)
	r := &simReader{tb: f.tb, bin: testenv.Binary(f.tb), url: "git://" + p.Addr() + "/" + filepath.Base(f.remote), cache: f.tb.TempDir()}
	if f.opts.statusRepo {
		r.statusURL = "git://" + p.Addr() + "/" + filepath.Base(f.statusRemote)
	}
	return r
}

// read runs the binary once and returns every node's status by name.
func (r *simReader) read() (map[string]*reconciler.NodeStatus, error) {
	r.runs++
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	args := []string{"status", "--repo", r.url, "--cache-dir", r.cache, "--output", "json"}
	if r.statusURL != "" {
		args = append(args, "--status-repo", r.statusURL)
	}
	cmd := exec.CommandContext(ctx, r.bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if cmd.ProcessState != nil {
		r.cpu += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	if err != nil {
		return nil, fmt.Errorf("wirekeeper status: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	var doc review.StatusDocument
	if err := json.Unmarshal(stdout.Bytes(), &doc); err != nil {
		return nil, fmt.Errorf("wirekeeper status --output json: %v", err)
	}
	out := map[string]*reconciler.NodeStatus{}
	for _, ns := range doc.Nodes {
		out[ns.Node] = ns
	}
	return out, nil
}

// notReporting returns, sorted, the nodes whose status as read does not
// say they enforce revision with their object Ready at revision: each
// node's applied revision and its object's are compared, not counted.
func (f *simFleet) notReporting(st map[string]*reconciler.NodeStatus, revision string) []string {
	var out []string
	for i, n := range f.nodes {
		ns := st[n.name]
		if ns == nil || ns.AppliedRevision != revision {
			out = append(out, n.name)
			continue
		}
		o := ns.Object(reconciler.Ref{Kind: "OVSManager", Name: objectName(i)})
		if o == nil || o.Phase != reconciler.PhaseReady || o.Revision != revision || len(ns.Objects) != 1 {
			out = append(out, n.name)
		}
	}
	return out
}

// waitReported runs the reader until every node reports revision and
// returns when the run that saw it ended; after limit it fails, naming
// the nodes that never reported it. progress is told of each run.
func (f *simFleet) waitReported(r *simReader, revision string, limit time.Duration, progress func(missing int)) time.Time {
	f.tb.Helper()
	start := time.Now()
	deadline, shown := start.Add(limit), start
	for {
		st, err := r.read()
		if testing.Verbose() && time.Since(shown) > 15*time.Second {
			// Long runs (the benchmarks) say how far they are, as they go.
			shown = time.Now()
			fmt.Fprintf(os.Stderr, "%s: waiting %s for %d nodes to report %s: %d missing (err %v)\n",
				f.tb.Name(), time.Since(start).Round(time.Second), len(f.nodes), reconciler.ShortHash(revision), len(f.notReporting(st, revision)), err)
		}
		if err == nil {
			if len(st) > len(f.nodes) {
				f.tb.Errorf("wirekeeper status lists %d nodes, the fleet has %d", len(st), len(f.nodes))
			}
			missing := f.notReporting(st, revision)
			if progress != nil {
				progress(len(missing))
			}
			if len(missing) == 0 {
				return time.Now()
			}
			if time.Now().After(deadline) {
				f.tb.Fatalf("after %s, %d of %d nodes do not report revision %s through wirekeeper status, e.g. %s\n%s",
					limit, len(missing), len(f.nodes), revision, describe(st, missing[:min(len(missing), 5)]), f.log.report())
			}
		} else if time.Now().After(deadline) {
			f.tb.Fatalf("after %s: %v", limit, err)
		}
		time.Sleep(250 * time.Millisecond) // between reads, not for correctness
	}
}

func describe(st map[string]*reconciler.NodeStatus, nodes []string) string {
	var b strings.Builder
	for _, n := range nodes {
		ns := st[n]
		if ns == nil {
			fmt.Fprintf(&b, "\n  %s: no status", n)
			continue
		}
		fmt.Fprintf(&b, "\n  %s: applied %s, objects %+v", n, reconciler.ShortHash(ns.AppliedRevision), ns.Objects)
	}
	return b.String()
}

// git runs the git CLI on the status repository as the git daemon serves
// it (the spec repository unless the fleet has its own).
func (f *simFleet) git(args ...string) (string, error) {
	return gitDir(f.statusBare, args...)
}

func gitDir(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", append([]string{"--git-dir", dir}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.Output()
	return strings.TrimSpace(string(out)), err
}

// notFolded returns the nodes whose file on the status branch does not
// hold revision as its applied revision, and whether the branch has the
// fleet page.
func (f *simFleet) notFolded(revision string) (missing []string, page bool) {
	branch := "refs/heads/" + status.DefaultBranch
	out, _ := f.git("grep", "-l", "-F", "appliedRevision: "+revision, branch, "--", "status/")
	have := map[string]bool{}
	for _, l := range strings.Split(out, "\n") {
		if node, ok := strings.CutSuffix(strings.TrimPrefix(l, branch+":status/"), ".yaml"); ok {
			have[node] = true
		}
	}
	for _, n := range f.nodes {
		if !have[n.name] {
			missing = append(missing, n.name)
		}
	}
	_, err := f.git("cat-file", "-e", branch+":"+status.FleetPagePath)
	return missing, err == nil
}

// waitFolded waits until the status branch holds every node's status at
// revision and the fleet page; after limit it fails.
func (f *simFleet) waitFolded(revision string, limit time.Duration) time.Time {
	f.tb.Helper()
	deadline := time.Now().Add(limit)
	for {
		missing, page := f.notFolded(revision)
		if len(missing) == 0 && page {
			return time.Now()
		}
		if time.Now().After(deadline) {
			f.tb.Fatalf("after %s the status branch lacks %d nodes at %s (fleet page: %v), e.g. %s\n%s",
				limit, len(missing), revision, page, missing[:min(len(missing), 5)], f.log.report())
		}
		time.Sleep(250 * time.Millisecond) // between reads, not for correctness
	}
}

// branchCommits counts the commits on the status branch.
func (f *simFleet) branchCommits() int {
	out, err := f.git("rev-list", "--count", "refs/heads/"+status.DefaultBranch)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(out)
	return n
}

// nodeRefHolds reports whether the node's own status ref holds revision.
func (f *simFleet) nodeRefHolds(n *simNode, revision string) bool {
	out, err := f.git("show", status.DefaultRefPrefix+n.name+":status/"+n.name+".yaml")
	return err == nil && strings.Contains(out, "appliedRevision: "+revision)
}

// remoteLoad sums what the daemons' proxies saw: requests and bytes by
// service, and the ref updates pushes asked for, by kind of ref.
type remoteLoad struct {
	fetches, pushes    int64 // upload-pack, receive-pack requests
	down, up           int64 // bytes
	nodeRefs, lease    int64 // ref updates asked for
	branch, otherRefs  int64
	connectRetries     int64            // connects the proxies tried again
	fetchesBy, bytesBy map[string]int64 // upload-pack requests and bytes by node
	pushesBy           map[string]int64
}

func (f *simFleet) load() remoteLoad {
	l := remoteLoad{fetchesBy: map[string]int64{}, bytesBy: map[string]int64{}, pushesBy: map[string]int64{}}
	for _, n := range f.nodes {
		l.connectRetries += n.proxy.ConnectRetries()
		for service, t := range n.proxy.Traffic() {
			l.down += t.Down
			l.up += t.Up
			switch service {
			case "git-upload-pack":
				l.fetches += t.Requests
				l.fetchesBy[n.name] += t.Requests
				l.bytesBy[n.name] += t.Up + t.Down
			case "git-receive-pack":
				l.pushes += t.Requests
				l.pushesBy[n.name] += t.Requests
			}
		}
		for ref, c := range n.proxy.Updates() {
			switch {
			case strings.HasPrefix(ref, status.DefaultRefPrefix):
				l.nodeRefs += c
			case ref == status.LeaseRef("").String():
				l.lease += c
			case ref == "refs/heads/"+status.DefaultBranch:
				l.branch += c
			default:
				l.otherRefs += c
			}
		}
	}
	return l
}

func (l remoteLoad) since(b remoteLoad) remoteLoad {
	out := remoteLoad{
		fetches: l.fetches - b.fetches, pushes: l.pushes - b.pushes, down: l.down - b.down, up: l.up - b.up,
		nodeRefs: l.nodeRefs - b.nodeRefs, lease: l.lease - b.lease, branch: l.branch - b.branch, otherRefs: l.otherRefs - b.otherRefs,
		connectRetries: l.connectRetries - b.connectRetries,
		fetchesBy:      map[string]int64{}, bytesBy: map[string]int64{}, pushesBy: map[string]int64{},
	}
	for n, c := range l.fetchesBy {
		out.fetchesBy[n] = c - b.fetchesBy[n]
		out.bytesBy[n] = l.bytesBy[n] - b.bytesBy[n]
	}
	for n, c := range l.pushesBy {
		out.pushesBy[n] = c - b.pushesBy[n]
	}
	return out
}

// cpuTimes returns the CPU time used so far by this process (the
// daemons, the proxies, the test) and by the remote's git processes that
// have finished (upload-pack and receive-pack with what they ran).
func (f *simFleet) cpuTimes() (self, remote time.Duration) {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return self, f.server.CPU()
}

// openFiles returns how many file descriptors this process has open.
func openFiles() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0
	}
	return len(ents)
}

// simIdle is the remote's load over a window in which nothing changed.
type simIdle struct {
	window time.Duration
	load   remoteLoad
	holder string // the lease holder during the window, "" if none
}

// idle measures the remote's load over window, the fleet at rest.
func (f *simFleet) idle(window time.Duration) simIdle {
	holder := ""
	for _, n := range f.nodes {
		if n.holdsLease() {
			holder = n.name
		}
	}
	before := f.load()
	start := time.Now()
	time.Sleep(window) // the measurement's window, not a wait for anything
	return simIdle{window: time.Since(start), load: f.load().since(before), holder: holder}
}

func (i simIdle) requestsPerMinute() float64 {
	return float64(i.load.fetches+i.load.pushes) / i.window.Minutes()
}

// bytesPerPoll is what one poll of a daemon that does not hold the lease
// costs, both ways: the aggregator's requests are not polls.
func (i simIdle) bytesPerPoll() float64 {
	var bytes, polls int64
	for n, c := range i.load.fetchesBy {
		if n != i.holder {
			polls += c
			bytes += i.load.bytesBy[n]
		}
	}
	return float64(bytes) / float64(max(polls, 1))
}

func (i simIdle) String() string {
	others := int64(0)
	for n, c := range i.load.pushesBy {
		if n != i.holder {
			others += c
		}
	}
	return fmt.Sprintf("%.0f requests/min at the remote (%d fetches, %d pushes in %s; %d fetches and %d pushes by the aggregator %s; %d pushes by the others), %.0f bytes per poll of a daemon, %.1f MB/min down",
		i.requestsPerMinute(), i.load.fetches, i.load.pushes, i.window.Round(time.Second),
		i.load.fetchesBy[i.holder], i.load.pushesBy[i.holder], i.holder, others, i.bytesPerPoll(), float64(i.load.down)/1e6/i.window.Minutes())
}

// listenOverflows returns the machine's count of connections dropped
// because a listening socket's accept queue was full (TcpExt
// ListenOverflows): a client whose connection attempt is dropped retries
// after 1, 3, 7, 15 s and more. The standalone git daemon, with its
// backlog of 5, dropped tens of thousands in a run of 1,000 daemons.
func listenOverflows() int64 {
	b, err := os.ReadFile("/proc/net/netstat")
	if err != nil {
		return 0
	}
	lines := strings.Split(string(b), "\n")
	for i := 0; i+1 < len(lines); i++ {
		names, values := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		if len(names) == 0 || names[0] != "TcpExt:" || len(values) != len(names) {
			continue
		}
		for j, n := range names {
			if n == "ListenOverflows" {
				v, _ := strconv.ParseInt(values[j], 10, 64)
				return v
			}
		}
	}
	return 0
}
