package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wirekeeper/wirekeeper/internal/ovstest"
	"github.com/wirekeeper/wirekeeper/providers/ovsdb"
	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/reconciler/review"
)

const diffNode = "hv-diff"

// diffHost is a private ovsdb-server with bridge br0 (ports p1, p2, out)
// that wirekeeper did not create, and mirror "old" that node hv-diff's
// daemon made (its markers) and its spec no longer has.
func diffHost(t *testing.T) *ovstest.OVS {
	t.Helper()
	o := ovstest.Start(t, ovstest.Options{})
	o.AddBridge(t, "br0")
	o.AddPorts(t, "br0", []string{"p1", "p2", "out"})
	o.Vsctl(t, "--", "--id=@out", "get", "Port", "out",
		"--", "--id=@m", "create", "Mirror", "name=old", "select_all=true", "output_port=@out",
		"external_ids:wirekeeper.io/owner="+diffNode, "external_ids:wirekeeper.io/kind=Mirror", "external_ids:wirekeeper.io/name=old",
		"--", "add", "Bridge", "br0", "mirrors", "@m")
	return o
}

func writeSpecs(t *testing.T, docs ...string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "specs.yaml"), []byte(strings.Join(docs, "\n---\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func diffManager(db string) string {
	return fmt.Sprintf("apiVersion: wirekeeper.io/v1alpha1\nkind: OVSManager\nmetadata: {name: ovs1}\nspec: {node: %s, address: %q}", diffNode, db)
}

func diffMirror(name, body string) string {
	return fmt.Sprintf("apiVersion: wirekeeper.io/v1alpha1\nkind: Mirror\nmetadata: {name: %s}\nspec: {manager: ovs1, bridge: br0, %s}", name, body)
}

// liveState is what the test compares before and after a diff: the rows
// wirekeeper could write, without the statistics ovs-vswitchd updates.
func liveState(t *testing.T, o *ovstest.OVS) string {
	t.Helper()
	return o.Vsctl(t, "--columns=name,external_ids,mirrors,datapath_type", "list", "Bridge") +
		o.Vsctl(t, "--columns=name,external_ids,select_all,select_src_port,select_dst_port,output_port", "list", "Mirror")
}

// runDiffCounting runs wirekeeper diff and returns its exit status, stdout
// and the OVSDB transactions its providers sent.
func runDiffCounting(t *testing.T, args ...string) (int, string, uint64) {
	t.Helper()
	var txns uint64
	afterDiff = func(provs []reconciler.Provider) {
		for _, p := range provs {
			if op, ok := p.(*ovsdb.Provider); ok {
				txns = op.Stats().Transactions
			}
		}
	}
	t.Cleanup(func() { afterDiff = nil })
	var stdout, stderr bytes.Buffer
	code := runDiff(args, &stdout, &stderr)
	if code == exitFail {
		t.Logf("stderr:\n%s", stderr.String())
	}
	return code, stdout.String(), txns
}

// TestDiffPlansAgainstTheLiveHostAndWritesNothing: a bridge to adopt, a
// mirror to create, an owned mirror to prune (past the prune guard): the
// diff lists each with the daemon's own words, exits 2, sends no OVSDB
// transaction and leaves the database as it was.
func TestDiffPlansAgainstTheLiveHostAndWritesNothing(t *testing.T) {
	o := diffHost(t)
	dir := writeSpecs(t, diffManager(o.DB),
		"apiVersion: wirekeeper.io/v1alpha1\nkind: Bridge\nmetadata: {name: br0}\nspec: {manager: ovs1, datapathType: netdev}",
		diffMirror("span", "selectSrcPorts: [p1], output: {port: out}"))
	before := liveState(t, o)
	code, out, txns := runDiffCounting(t, "--path", dir, "--node", diffNode, "--output", "json")
	if code != exitChanges {
		t.Fatalf("exit %d, want %d; stdout:\n%s", code, exitChanges, out)
	}
	var d review.LiveDiff
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("%v in:\n%s", err, out)
	}
	type row struct{ Ref, Action, Reason string }
	var got []row
	for _, ch := range d.Plan.Changes {
		got = append(got, row{ch.Ref.String(), string(ch.Action), ch.Reason})
	}
	want := []row{
		{"Bridge/br0", "update", "adopting the live object of that name, which wirekeeper did not create"},
		{"Mirror/old", "delete", "owned by this node and no longer in the spec: pruned"},
		{"Mirror/span", "create", "absent from the live system"},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("changes (-want +got):\n%s", d)
	}
	if !strings.Contains(d.Plan.PruneGuard, "prunes 1 of the node's 1 owned objects") {
		t.Errorf("prune guard %q, want the refusal of pruning 1 of 1", d.Plan.PruneGuard)
	}
	if txns != 0 {
		t.Errorf("the diff sent %d OVSDB transactions, want 0", txns)
	}
	if after := liveState(t, o); after != before {
		t.Errorf("the live database changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}

	// Markdown, the default output, says the same to a person.
	code, md, _ := runDiffCounting(t, "--path", dir, "--node", diffNode, "--allow-prune")
	if code != exitChanges {
		t.Fatalf("markdown: exit %d, want %d", code, exitChanges)
	}
	for _, s := range []string{"## wirekeeper diff: node hv-diff", "`Mirror/span`", "`spec.selectSrcPorts: (none) → [\"p1\"]`", "`Mirror/old`"} {
		if !strings.Contains(md, s) {
			t.Errorf("markdown lacks %q:\n%s", s, md)
		}
	}
	if strings.Contains(md, "would refuse") {
		t.Errorf("--allow-prune: the markdown still reports the prune guard:\n%s", md)
	}
}

// TestDiffOfAHostInSyncIsEmpty: a spec that says what the host has (the
// owned mirror, the manager) diffs to nothing, exit 0.
func TestDiffOfAHostInSyncIsEmpty(t *testing.T) {
	o := diffHost(t)
	dir := writeSpecs(t, diffManager(o.DB), diffMirror("old", "selectAll: true, output: {port: out}"))
	code, out, txns := runDiffCounting(t, "--path", dir, "--node", diffNode)
	if code != exitOK {
		t.Fatalf("exit %d, want 0; stdout:\n%s", code, out)
	}
	if !strings.Contains(out, "No change: the live host matches the spec.") {
		t.Errorf("stdout:\n%s", out)
	}
	if txns != 0 {
		t.Errorf("the diff sent %d OVSDB transactions, want 0", txns)
	}
}

// TestDiffRefusesInvalidSpecsAndFlags: exit 1 with the problem, nothing planned.
func TestDiffRefusesInvalidSpecsAndFlags(t *testing.T) {
	dir := writeSpecs(t, "apiVersion: wirekeeper.io/v1alpha1\nkind: Mirror\nmetadata: {name: m}\nspec: {bridge: br0}")
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--path", dir, "--node", diffNode}, "specs.yaml:"},
		{[]string{"--path", dir}, "--node is required"},
		{[]string{"--node", diffNode, "--output", "yaml"}, `unknown --output "yaml"`},
	} {
		var stdout, stderr bytes.Buffer
		if code := runDiff(tt.args, &stdout, &stderr); code != exitFail {
			t.Errorf("%v: exit %d, want %d", tt.args, code, exitFail)
		}
		if !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("%v: stderr lacks %q:\n%s", tt.args, tt.want, stderr.String())
		}
	}
}
