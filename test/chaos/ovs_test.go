package chaos

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wirekeeper/wirekeeper/internal/ovstest"
)

// vsctlTable reads table with ovs-vsctl's JSON format: one map per row,
// column -> value, with uuids as strings, sets as []string and maps as
// map[string]string.
func vsctlTable(t *testing.T, db, table string, columns ...string) []map[string]any {
	t.Helper()
	out := ovstest.Vsctl(t, db, "--format=json", "--columns="+strings.Join(columns, ","), "list", table)
	var res struct {
		Headings []string
		Data     [][]any
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("ovs-vsctl list %s: %v\n%s", table, err, out)
	}
	var rows []map[string]any
	for _, d := range res.Data {
		row := map[string]any{}
		for i, h := range res.Headings {
			row[h] = ovsValue(d[i])
		}
		rows = append(rows, row)
	}
	return rows
}

func ovsValue(v any) any {
	a, ok := v.([]any)
	if !ok || len(a) != 2 {
		return v
	}
	switch a[0] {
	case "uuid":
		return a[1]
	case "set":
		var out []string
		for _, e := range a[1].([]any) {
			out = append(out, fmt.Sprint(ovsValue(e)))
		}
		slices.Sort(out)
		return out
	case "map":
		m := map[string]string{}
		for _, kv := range a[1].([]any) {
			p := kv.([]any)
			m[fmt.Sprint(p[0])] = fmt.Sprint(p[1])
		}
		return m
	}
	return v
}

func strs(v any) []string {
	switch x := v.(type) {
	case []string:
		return x
	case string:
		return []string{x}
	}
	return nil
}

// mirrorsLive renders every mirror as "bridge/name owner src=.. dst=.. out=..",
// ports by name, sorted.
func mirrorsLive(t *testing.T, db string) []string {
	t.Helper()
	portName := map[string]string{}
	for _, p := range vsctlTable(t, db, "Port", "_uuid", "name") {
		portName[p["_uuid"].(string)] = p["name"].(string)
	}
	bridgeOf := map[string]string{}
	for _, b := range vsctlTable(t, db, "Bridge", "name", "mirrors") {
		for _, m := range strs(b["mirrors"]) {
			bridgeOf[m] = b["name"].(string)
		}
	}
	names := func(uuids []string) string {
		var out []string
		for _, u := range uuids {
			out = append(out, portName[u])
		}
		slices.Sort(out)
		return strings.Join(out, ",")
	}
	var out []string
	for _, m := range vsctlTable(t, db, "Mirror", "_uuid", "name", "external_ids", "select_src_port", "select_dst_port", "output_port") {
		ids, _ := m["external_ids"].(map[string]string)
		out = append(out, fmt.Sprintf("%s/%s owner=%s src=%s dst=%s out=%s", bridgeOf[m["_uuid"].(string)], m["name"],
			ids["wirekeeper.io/owner"], names(strs(m["select_src_port"])), names(strs(m["select_dst_port"])), names(strs(m["output_port"]))))
	}
	slices.Sort(out)
	return out
}

// mirrorRevision is a revision of n bridges with ten ports each: in
// revision A, mirrors a-B-I (src pI, output pI+1) for I in 0..9; in B the
// first five are gone, the last five output to p0, and n-B-J (dst pJ,
// output p9) for J in 0..4 are new: applying one after the other creates,
// updates and deletes at once. It returns the documents and the mirrors
// the live system must then hold, as mirrorsLive renders them.
func mirrorRevision(node, db string, bridges int, b bool) (string, []string) {
	var docs strings.Builder
	fmt.Fprintf(&docs, "apiVersion: wirekeeper.io/v1alpha1\nkind: OVSManager\nmetadata: {name: ovs}\nspec: {node: %s, address: %q}\n", node, db)
	var want []string
	mirror := func(br int, name, sel, port, out string) {
		fmt.Fprintf(&docs, "---\napiVersion: wirekeeper.io/v1alpha1\nkind: Mirror\nmetadata: {name: %s}\nspec: {manager: ovs, bridge: cb%d, %s: [%s], output: {port: %s}}\n",
			name, br, sel, port, out)
		src, dst := port, ""
		if sel == "selectDstPorts" {
			src, dst = "", port
		}
		want = append(want, fmt.Sprintf("cb%d/%s owner=%s src=%s dst=%s out=%s", br, name, node, src, dst, out))
	}
	for br := range bridges {
		fmt.Fprintf(&docs, "---\napiVersion: wirekeeper.io/v1alpha1\nkind: Bridge\nmetadata: {name: cb%d}\nspec: {manager: ovs, bridge: cb%d, datapathType: netdev}\n", br, br)
		for i := range 10 {
			switch {
			case !b:
				mirror(br, fmt.Sprintf("a-%d-%d", br, i), "selectSrcPorts", fmt.Sprintf("p%d-%d", br, i), fmt.Sprintf("p%d-%d", br, (i+1)%10))
			case i >= 5:
				mirror(br, fmt.Sprintf("a-%d-%d", br, i), "selectSrcPorts", fmt.Sprintf("p%d-%d", br, i), fmt.Sprintf("p%d-0", br))
			default:
				mirror(br, fmt.Sprintf("n-%d-%d", br, i), "selectDstPorts", fmt.Sprintf("p%d-%d", br, i), fmt.Sprintf("p%d-9", br))
			}
		}
	}
	slices.Sort(want)
	return docs.String(), want
}

// TestKilledDuringApply SIGKILLs the daemon at a random moment after its
// start, each time on a revision that creates, updates and deletes
// mirrors at once, 5 times (50 with make chaos). After every kill no
// mirror exists twice; after the last, a daemon started again converges,
// and the live mirrors are exactly the spec's: none missing, none twice,
// no orphan carrying wirekeeper's marker.
func TestKilledDuringApply(t *testing.T) {
	kills := 5
	if full() {
		kills = 50
	}
	const bridges = 4
	ovs := ovstest.Start(t, ovstest.Options{})
	for br := range bridges {
		ovs.Vsctl(t, "add-br", fmt.Sprintf("cb%d", br), "--", "set", "Bridge", fmt.Sprintf("cb%d", br), "datapath_type=netdev")
		var ports []string
		for i := range 10 {
			ports = append(ports, fmt.Sprintf("p%d-%d", br, i))
		}
		ovs.AddPorts(t, fmt.Sprintf("cb%d", br), ports)
	}
	node := "chaos-kill"
	r := newRepo(t)
	d := newDaemon(t, node, r, "--interval", "1h")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	var rev string
	var want, before []string
	stages := map[string]int{}
	for k := range kills {
		docs, w := mirrorRevision(node, ovs.DB, bridges, k%2 == 1)
		before = mirrorsLive(t, ovs.DB)
		rev, want = r.push(fmt.Sprintf("revision %d", k), map[string]string{"spec.yaml": docs}), w
		d.start()
		// A start, fetch and apply take about 100-200 ms here: kills land before,
		// during and after it.
		delay := time.Duration(rng.IntN(250)) * time.Millisecond
		time.Sleep(delay)
		d.kill()
		live := mirrorsLive(t, ovs.DB)
		seen := map[string]bool{}
		for _, m := range live {
			key := strings.Fields(m)[0]
			if seen[key] {
				t.Errorf("kill %d (after %s): mirror %s exists twice", k, delay, key)
			}
			seen[key] = true
		}
		stage := "in between"
		switch {
		case slices.Equal(live, before):
			stage = "before the apply"
		case slices.Equal(live, want):
			stage = "after the apply"
		}
		stages[stage]++
		t.Logf("kill %d after %s: %s (%d mirrors live)", k, delay, stage, len(live))
	}
	t.Logf("FIGURES: %d kills: %v", kills, stages)
	d.start()
	d.waitReady(rev, 1+bridges+len(want), 2*time.Minute)
	if got := mirrorsLive(t, ovs.DB); !slices.Equal(got, want) {
		t.Errorf("live mirrors after %d kills and a restart:\n got %v\nwant %v", kills, got, want)
	}
}

// TestOVSServersKilledAndRestarted runs the daemon while ovsdb-server is
// SIGKILLed and started again, then ovs-vswitchd: the daemon reconnects on
// its own, the mirrors are exactly the spec's (none twice), and drift made
// after each restart is repaired, so the monitor is live again.
func TestOVSServersKilledAndRestarted(t *testing.T) {
	ovs := ovstest.Start(t, ovstest.Options{Vswitchd: true})
	const bridges = 2
	for br := range bridges {
		ovs.Vsctl(t, "add-br", fmt.Sprintf("cb%d", br), "--", "set", "Bridge", fmt.Sprintf("cb%d", br), "datapath_type=netdev")
		var ports []string
		for i := range 10 {
			ports = append(ports, fmt.Sprintf("p%d-%d", br, i))
		}
		ovs.AddPorts(t, fmt.Sprintf("cb%d", br), ports)
	}
	node := "chaos-servers"
	r := newRepo(t)
	docs, want := mirrorRevision(node, ovs.DB, bridges, false)
	rev := r.push("mirrors", map[string]string{"spec.yaml": docs})
	d := newDaemon(t, node, r, "--interval", "1h")
	d.start()
	n := 1 + bridges + len(want)
	d.waitReady(rev, n, time.Minute)
	converged := func(what string) {
		t.Helper()
		waitFor(t, what, time.Minute, func() bool { return slices.Equal(mirrorsLive(t, ovs.DB), want) })
	}
	drift := func(what string) {
		t.Helper()
		ovs.Vsctl(t, "--", "--id=@m", "get", "Mirror", "a-0-3", "--", "remove", "Bridge", "cb0", "mirrors", "@m")
		converged("drift repaired " + what)
	}
	for _, c := range []struct {
		what    string
		restart func()
	}{
		{"ovsdb-server killed and restarted", func() { ovs.KillDB(t); time.Sleep(time.Second); ovs.StartDB(t) }},
		{"ovs-vswitchd killed and restarted", func() { ovs.KillVswitchd(t); ovs.StartVswitchd(t) }},
	} {
		c.restart()
		converged("after " + c.what)
		drift("after " + c.what)
	}
	if d.cmd == nil || d.cmd.ProcessState != nil {
		t.Error("the daemon exited")
	}
	d.waitReady(rev, n, time.Minute)
}
