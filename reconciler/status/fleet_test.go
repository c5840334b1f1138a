package status

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/spec"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files of the fleet page")

const (
	newestRev = "c0ffee0123456789abcdef0123456789abcdef01"
	olderRev  = "0dd0dd0123456789abcdef0123456789abcdef01"
)

// fleetNow is when the fixtures' pages are rendered; newestAt, 5 minutes
// before, when newestRev was committed.
var (
	fleetNow = at("2024-05-01T12:00:00Z")
	newestAt = at("2024-05-01T11:55:00Z")
)

// fleetSpec places one OVSManager on each node; sites[i] is the site label
// of node i's manager ("" for none). A mirror on node 0 carries another
// site, which must not win over the manager's (registry order).
func fleetSpec(t testing.TB, names []string, sites []string) *spec.Set {
	t.Helper()
	var b strings.Builder
	for i, n := range names {
		labels := ""
		if sites[i] != "" {
			labels = fmt.Sprintf(", labels: {site: %q}", sites[i])
		}
		fmt.Fprintf(&b, "apiVersion: wirekeeper.io/v1alpha1\nkind: OVSManager\nmetadata: {name: mgr-%d%s}\nspec: {node: %s, address: \"unix:/run/openvswitch/db.sock\"}\n---\n", i, labels, n)
	}
	b.WriteString("apiVersion: wirekeeper.io/v1alpha1\nkind: Mirror\nmetadata: {name: aaa-first-by-name, labels: {site: wrong}}\nspec: {manager: mgr-0, bridge: br-int, selectAll: true, output: {port: tap0}}\n")
	set, diags := spec.LoadFS(fstest.MapFS{"fleet.yaml": {Data: []byte(b.String())}}, "")
	if diags.HasErrors() {
		t.Fatalf("fleet spec is invalid:\n%v", diags)
	}
	return set
}

// objects returns n objects of node-local names, the first len(odd) of
// them in the given phases and the rest Ready.
func objects(n int, odd ...reconciler.Phase) []reconciler.ObjectStatus {
	out := make([]reconciler.ObjectStatus, n)
	for i := range out {
		out[i] = reconciler.ObjectStatus{Kind: "Mirror", Name: fmt.Sprintf("m%02d", i), Phase: reconciler.PhaseReady, Revision: newestRev}
		if i < len(odd) {
			out[i].Phase = odd[i]
		}
	}
	return out
}

// fleet20 is a fleet of 20 nodes in two sites and one without a site: most
// Ready, some Drifted, Failed, Pending or Suspended, two silent (no answer
// to the newest revision since its commit), one that refused the newest
// revision, one still on an older one that reported since, one that never
// applied a revision, one on another branch, one written before the
// report time existed; and hv20, named in the spec, has never reported.
func fleet20(t testing.TB) (map[string]*reconciler.NodeStatus, FleetOptions) {
	var names, sites []string
	nodes := map[string]*reconciler.NodeStatus{}
	for i := range 21 {
		name := fmt.Sprintf("hv%02d", i)
		names = append(names, name)
		sites = append(sites, []string{"ams", "fra", ""}[i%3])
		if i == 20 {
			continue
		}
		nodes[name] = &reconciler.NodeStatus{Node: name, Branch: "main", AppliedRevision: newestRev,
			Reported: fleetNow.Add(-20 * time.Second), Objects: objects(4)}
	}
	nodes["hv01"].Objects = objects(6, reconciler.PhaseDrifted)
	nodes["hv02"].Objects = objects(6, reconciler.PhaseFailed, reconciler.PhaseDegraded, reconciler.PhaseDrifted, reconciler.PhasePending, reconciler.PhaseFailed)
	nodes["hv03"].Objects = objects(2, reconciler.PhaseSuspended)
	nodes["hv04"].Objects = objects(3, reconciler.PhasePending)
	nodes["hv05"].Reported = at("2024-05-01T11:50:00Z") // silent, Ready
	nodes["hv05"].AppliedRevision = olderRev
	nodes["hv06"].Reported = at("2024-05-01T09:00:00Z") // silent longest, Failed
	nodes["hv06"].AppliedRevision = olderRev
	nodes["hv06"].Objects = objects(1, reconciler.PhaseFailed)
	nodes["hv07"].AppliedRevision = olderRev
	nodes["hv07"].Refused = &reconciler.RefusedRevision{Revision: newestRev, Reason: "Invalid", Message: "1 error", Since: at("2024-05-01T11:00:00Z")}
	nodes["hv08"].AppliedRevision = olderRev
	nodes["hv09"].AppliedRevision = ""
	nodes["hv09"].Objects = nil
	nodes["hv10"].Branch = "staging"
	nodes["hv10"].AppliedRevision = olderRev
	nodes["hv11"].Reported = time.Time{}
	nodes["hv12"].Objects = nil
	return nodes, FleetOptions{Now: fleetNow, Interval: 30 * time.Second, NewestRevision: newestRev, NewestAt: newestAt, Branch: "main", Spec: fleetSpec(t, names, sites)}
}

// fleetN is a fleet of n nodes in 25 sites where every 7th node is
// Drifted, every 50th Failed, every 40th silent and every 9th behind.
func fleetN(t testing.TB, n int) (map[string]*reconciler.NodeStatus, FleetOptions) {
	nodes := map[string]*reconciler.NodeStatus{}
	names := make([]string, n)
	sites := make([]string, n)
	for i := range n {
		name := fmt.Sprintf("node-%04d", i)
		names[i], sites[i] = name, fmt.Sprintf("site-%02d", i%25)
		ns := &reconciler.NodeStatus{Node: name, Branch: "main", AppliedRevision: newestRev, Reported: fleetNow.Add(-time.Minute), Objects: objects(10)}
		switch {
		case i%50 == 0:
			ns.Objects = objects(10, reconciler.PhaseFailed, reconciler.PhaseDrifted)
		case i%7 == 0:
			ns.Objects = objects(10, reconciler.PhaseDrifted)
		}
		if i%40 == 0 {
			ns.Reported, ns.AppliedRevision = fleetNow.Add(-time.Hour), olderRev
		}
		if i%9 == 0 {
			ns.AppliedRevision = olderRev
		}
		nodes[name] = ns
	}
	return nodes, FleetOptions{Now: fleetNow, Interval: 30 * time.Second, NewestRevision: newestRev, NewestAt: newestAt, Branch: "main", Spec: fleetSpec(t, names, sites)}
}

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "fleet", name)
	if *updateGolden {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run TestRenderFleetGolden -update to write it)", err)
	}
	if diff := cmp.Diff(strings.Split(string(want), "\n"), strings.Split(string(got), "\n")); diff != "" {
		t.Errorf("fleet page differs from %s (-want +got):\n%s", path, diff)
	}
}

func TestRenderFleetGolden(t *testing.T) {
	one := map[string]*reconciler.NodeStatus{"edge-1": testStatus()}
	one["edge-1"].Reported = fleetNow.Add(-time.Minute)
	nodes20, opts20 := fleet20(t)
	nodes1000, opts1000 := fleetN(t, 1000)
	tests := []struct {
		golden string
		nodes  map[string]*reconciler.NodeStatus
		opts   FleetOptions
	}{
		{"empty.md", nil, FleetOptions{}},
		{"one-zero-options.md", one, FleetOptions{}},
		{"one.md", one, FleetOptions{Now: fleetNow, Interval: 30 * time.Second, NewestRevision: "3f2a9c1e5d", NewestAt: newestAt, Branch: "main", Spec: testSet(t)}},
		{"twenty.md", nodes20, opts20},
		{"thousand.md", nodes1000, opts1000},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			checkGolden(t, tt.golden, RenderFleet(tt.nodes, tt.opts))
		})
	}
}

// cloneFleet deep-copies nodes, reversing each node's object order, which
// the page must not depend on.
func cloneFleet(nodes map[string]*reconciler.NodeStatus) map[string]*reconciler.NodeStatus {
	out := make(map[string]*reconciler.NodeStatus, len(nodes))
	for name, ns := range nodes {
		c := *ns
		c.Objects = slices.Clone(ns.Objects)
		slices.Reverse(c.Objects)
		out[name] = &c
	}
	return out
}

func TestRenderFleetDeterministic(t *testing.T) {
	nodes, opts := fleet20(t)
	want := RenderFleet(nodes, opts)
	for i := range 20 {
		if got := RenderFleet(cloneFleet(nodes), opts); !bytes.Equal(got, want) {
			t.Fatalf("render %d differs (-first +now):\n%s", i, cmp.Diff(string(want), string(got)))
		}
	}
	// The spec's object order does not matter either.
	reversed := &spec.Set{Objects: slices.Clone(opts.Spec.Objects)}
	slices.Reverse(reversed.Objects)
	opts.Spec = reversed
	if got := RenderFleet(nodes, opts); !bytes.Equal(got, want) {
		t.Errorf("spec objects reversed (-first +now):\n%s", cmp.Diff(string(want), string(got)))
	}
}

// The page must not change with the clock alone, or the aggregator would
// commit it on every tick: only crossing the silence threshold, 3
// intervals after the newest revision's commit, changes it.
func TestRenderFleetStableOverTime(t *testing.T) {
	nodes, opts := fleet20(t)
	opts.Now = newestAt
	base := RenderFleet(nodes, opts)
	if !strings.Contains(string(base), "- 0 silent:") {
		t.Fatalf("silent nodes at the commit of the newest revision:\n%s", base)
	}
	for d := time.Duration(0); d <= 90*time.Second; d += time.Second {
		opts.Now = newestAt.Add(d)
		if got := RenderFleet(nodes, opts); !bytes.Equal(got, base) {
			t.Fatalf("Now + %s changed the page with no change of state (-before +after):\n%s", d, cmp.Diff(string(base), string(got)))
		}
	}
	opts.Now = newestAt.Add(91 * time.Second)
	got := string(RenderFleet(nodes, opts))
	if got == string(base) {
		t.Fatal("the page did not change when the nodes crossed the silence threshold")
	}
	// hv05 and hv06 have not answered; hv11 (no report time) applied the
	// newest, hv08 (older revision) reported since, hv10 follows another
	// branch: none of them is silent.
	silent := got[strings.Index(got, "## Silent nodes"):strings.Index(got, "## Nodes behind")]
	if !strings.Contains(got, "- 2 silent: no answer to the newest revision within 1m30s of its commit") ||
		!strings.Contains(silent, "| [hv06](status/hv06.md) | 2024-05-01 09:00:00Z | Failed |\n| [hv05](status/hv05.md) | 2024-05-01 11:50:00Z | Ready |") {
		t.Errorf("after the threshold:\n%s", got)
	}
	for _, quiet := range []string{"hv08", "hv10", "hv11"} {
		if strings.Contains(silent, quiet) {
			t.Errorf("%s is listed silent:\n%s", quiet, silent)
		}
	}
	// Later still, nothing changes until somebody reports.
	opts.Now = fleetNow.Add(24 * time.Hour)
	if later := string(RenderFleet(nodes, opts)); later != got {
		t.Errorf("a day later (-at threshold +later):\n%s", cmp.Diff(got, later))
	}
}

// hostileFleet has n nodes whose names, objects, phases and site labels
// are each about 1 KiB of Markdown, HTML and Mermaid syntax, every node a
// problem of every kind, each on its own site.
func hostileFleet(n int) (map[string]*reconciler.NodeStatus, FleetOptions) {
	const junk = "|<img src=x onerror=alert(1)>](javascript:x)`code`*b*_i_ $m$ ~s~ &amp; \\|\n| --- |\r\u2028%%{init}%%\"#;"
	nodes := map[string]*reconciler.NodeStatus{}
	set := &spec.Set{}
	for i := range n {
		name := fmt.Sprintf("%s%d%s", junk, i, strings.Repeat("x", 1024))
		// Silent (no answer since the newest revision), behind with a
		// source problem, not Ready: listed everywhere.
		ns := &reconciler.NodeStatus{Node: name, Branch: "main", AppliedRevision: olderRev, Reported: fleetNow.Add(-time.Hour),
			Source: &reconciler.SourceProblem{Reason: junk + strings.Repeat("r", 1024), Message: junk}}
		for j := range 20 {
			ns.Objects = append(ns.Objects, reconciler.ObjectStatus{Kind: junk + "Kind", Name: fmt.Sprintf("%s%d", junk, j) + strings.Repeat("o", 1024), Phase: reconciler.Phase(junk)})
		}
		nodes[name] = ns
		set.Objects = append(set.Objects, &spec.Object{Kind: "OVSManager",
			Metadata: spec.Metadata{Name: fmt.Sprintf("m%d", i), Labels: map[string]string{"site": fmt.Sprintf("%s%d%s", junk, i, strings.Repeat("s", 1024))}},
			Spec:     &spec.OVSManagerSpec{Node: name}})
	}
	return nodes, FleetOptions{Now: fleetNow, Interval: time.Minute, NewestRevision: newestRev, NewestAt: fleetNow.Add(-30 * time.Minute), Spec: set}
}

// tableCells splits a Markdown table row as GFM does: a backslash escapes
// the next character, an unescaped '|' separates cells.
func tableCells(row string) int {
	cells := 0
	for i := 0; i < len(row); i++ {
		switch row[i] {
		case '\\':
			i++
		case '|':
			cells++
		}
	}
	return cells - 1
}

// unescaped reports whether c occurs in s without a backslash before it.
func unescaped(s string, c byte) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case c:
			return true
		}
	}
	return false
}

func TestRenderFleetHostileNames(t *testing.T) {
	nodes, opts := hostileFleet(60)
	page := string(RenderFleet(nodes, opts))
	var header int
	for i, line := range strings.Split(page, "\n") {
		if !strings.HasPrefix(line, "|") {
			header = 0
			if strings.Contains(line, "<img") || strings.Contains(line, "javascript:") && unescaped(line, ']') {
				t.Errorf("line %d lets markup through: %.200q", i+1, line)
			}
			continue
		}
		if header == 0 {
			header = tableCells(line)
		}
		if got := tableCells(line); got != header {
			t.Errorf("line %d has %d cells, its table %d: %.300q", i+1, got, header, line)
		}
		for _, c := range []byte{'<', '>', '`', '*', '_', '[', '$', '~', '&'} {
			body := regexp.MustCompile(`\*\*[A-Za-z0-9]+\*\*`).ReplaceAllString(line, "") // the bold total row
			if c == '[' {
				body = regexp.MustCompile(`\[[a-z0-9-]+\]\(status/[a-z0-9-]+\.md\)`).ReplaceAllString(line, "")
			}
			if c == '`' {
				body = regexp.MustCompile("`[0-9a-f]{7}`").ReplaceAllString(line, "")
			}
			if unescaped(body, c) {
				t.Errorf("line %d has an unescaped %q: %.300q", i+1, c, line)
				break
			}
		}
	}
	// No invalid name gets a link, and the pie only ever holds phase names.
	if strings.Contains(strings.Replace(page, "[browse them](status/)", "", 1), "](status/") {
		t.Errorf("a node with an invalid name is linked:\n%.2000s", page)
	}
	pie := regexp.MustCompile("(?s)```mermaid\n(.*?)```").FindStringSubmatch(page)
	if want := "pie showData title Nodes by phase\n    \"Pending\" : 60\n"; pie == nil || pie[1] != want {
		t.Errorf("pie of unknown phases: %q, want %q", pie, want)
	}
}

// The page is bounded: its size does not grow with the number of nodes,
// however long their names and however many their problems.
func TestRenderFleetBounded(t *testing.T) {
	small, smallOpts := hostileFleet(reconciler.MaxListed + 1)
	large, largeOpts := hostileFleet(1000)
	a, b := RenderFleet(small, smallOpts), RenderFleet(large, largeOpts)
	// Only the counts' digits may differ.
	if d := len(b) - len(a); d < 0 || d > 200 {
		t.Errorf("the page is %d bytes at %d nodes and %d at 1000", len(a), len(small), len(b))
	}
	if len(b) > 1<<20 {
		t.Errorf("the page is %d bytes", len(b))
	}
	rows := 0
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "| ") && !strings.HasPrefix(line, "| Node") && !strings.HasPrefix(line, "| Site") && !strings.HasPrefix(line, "| Phase") {
			rows++
		}
		if len(line) > 16<<10 {
			t.Errorf("a line of %d bytes: %.200q", len(line), line)
		}
	}
	// Not Ready, silent, behind and sites: MaxListed rows each; the counts
	// table: the six phases, "other" and the total.
	if want := 4*reconciler.MaxListed + 8; rows != want {
		t.Errorf("%d table rows at 1000 nodes, want %d", rows, want)
	}
	for _, more := range []string{"… and 950 more: `wirekeeper status --output json` lists every node.", "… and 950 more sites (950 nodes)."} {
		if c := strings.Count(string(b), more); c == 0 {
			t.Errorf("no %q", more)
		}
	}
	t.Logf("fleet page at 1000 hostile nodes: %d bytes; at 1000 plain nodes: see testdata/fleet/thousand.md", len(b))
}

// A status written before the report time existed still parses; one with
// it gives it back.
func TestParseReported(t *testing.T) {
	ns := testStatus()
	ns.Reported = time.Date(2024, 5, 1, 14, 0, 0, 5, time.FixedZone("CEST", 2*3600))
	files, err := Render(ns, nil)
	if err != nil {
		t.Fatal(err)
	}
	y := string(files[yamlPath(ns.Node)])
	if !strings.Contains(y, "\nreported: \"2024-05-01T12:00:00.000000005Z\"\n") && !strings.Contains(y, "\nreported: 2024-05-01T12:00:00.000000005Z\n") {
		t.Errorf("status YAML without the report time in UTC:\n%s", y)
	}
	got, err := Parse(ns.Node, files)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Reported.Equal(ns.Reported) || got.Reported.Location() != time.UTC {
		t.Errorf("Reported = %v, want %v in UTC", got.Reported, ns.Reported)
	}

	old := regexp.MustCompile(`(?m)^reported: .*\n`).ReplaceAllString(y, "")
	if old == y {
		t.Fatal("could not remove the report time")
	}
	got, err = Parse(ns.Node, Files{yamlPath(ns.Node): []byte(old)})
	if err != nil {
		t.Fatalf("a status without report time: %v", err)
	}
	if !got.Reported.IsZero() {
		t.Errorf("Reported = %v from a file without it", got.Reported)
	}

	bad := strings.Replace(y, "reported: ", "reported: yesterday # ", 1)
	if _, err := Parse(ns.Node, Files{yamlPath(ns.Node): []byte(bad)}); err == nil || !strings.Contains(err.Error(), "status/edge-1.yaml: reported: invalid time") {
		t.Errorf("a bad report time: %v", err)
	}
}
