package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wirekeeper/wirekeeper/internal/ovstest"
	"github.com/wirekeeper/wirekeeper/reconciler/review"
	"github.com/wirekeeper/wirekeeper/spec"
)

// importHost is a private ovsdb-server as another tool left it: two
// bridges, mirrors using every column the spec models, and one mirror
// with no output, which the spec cannot express.
func importHost(t *testing.T) *ovstest.OVS {
	t.Helper()
	o := ovstest.Start(t, ovstest.Options{})
	o.AddBridge(t, "br0")
	o.AddBridge(t, "br_1")
	o.Vsctl(t, "set", "Bridge", "br_1", "fail_mode=secure", "external_ids:owner-team=netops")
	o.AddPorts(t, "br0", []string{"p1", "p2", "out"})
	o.Vsctl(t, "--", "--id=@p1", "get", "Port", "p1", "--", "--id=@p2", "get", "Port", "p2", "--", "--id=@out", "get", "Port", "out",
		"--", "--id=@m", "create", "Mirror", "name=span", "select_src_port=@p1,@p2", "select_dst_port=@p2", "select_vlan=20,10", "output_port=@out",
		"--", "add", "Bridge", "br0", "mirrors", "@m")
	o.Vsctl(t, "--", "--id=@m", "create", "Mirror", "name=all", "select_all=true", "output_vlan=7", "--", "add", "Bridge", "br_1", "mirrors", "@m")
	o.Vsctl(t, "--", "--id=@m", "create", "Mirror", "name=nowhere", "select_all=true", "--", "add", "Bridge", "br0", "mirrors", "@m")
	return o
}

func runImportIn(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := runImport(args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// TestImportThenDiffRoundTrip: what import writes validates, lists what
// it could not express, and diffs to no change against the host it came
// from; with policy enforce, the daemon would only adopt (no field differs).
func TestImportThenDiffRoundTrip(t *testing.T) {
	o := importHost(t)
	out := t.TempDir()
	code, stdout, stderr := runImportIn(t, "--ovsdb", o.DB, "--node", "hv-imp", "--out", out)
	if code != exitOK {
		t.Fatalf("import: exit %d\n%s", code, stderr)
	}
	for _, f := range []string{"managers.yaml", "bridges.yaml", "mirrors.yaml"} {
		p := filepath.Join(out, "hv-imp", f)
		if !strings.Contains(stdout, p) {
			t.Errorf("stdout does not name %s:\n%s", p, stdout)
		}
		body, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(body), "# yaml-language-server: $schema=") {
			t.Errorf("%s does not start with the schema comment:\n%s", f, body)
		}
	}
	if !strings.Contains(stderr, "not imported: Mirror br0/nowhere: has no output port or VLAN") {
		t.Errorf("stderr does not list the mirror without output:\n%s", stderr)
	}
	set, diags := spec.Load(out)
	if diags.HasErrors() {
		t.Fatalf("imported specs invalid:\n%v", diags)
	}
	if got := len(set.Objects); got != 5 { // manager, 2 bridges, 2 mirrors
		t.Errorf("%d objects imported, want 5", got)
	}
	span := set.Get("Mirror", "hv-imp-br0-span").Spec.(*spec.MirrorSpec)
	if strings.Join(span.SelectSrcPorts, ",") != "p1,p2" || strings.Join(span.SelectDstPorts, ",") != "p2" ||
		len(span.SelectVLANs) != 2 || span.SelectVLANs[0] != 10 || span.Output.Port != "out" || span.Policy != spec.PolicyObserve {
		t.Errorf("Mirror span imported as %+v", span)
	}
	all := set.Get("Mirror", "hv-imp-br-1-all").Spec.(*spec.MirrorSpec)
	if !all.SelectAll || all.Output.VLAN == nil || *all.Output.VLAN != 7 || all.Bridge != "br_1" {
		t.Errorf("Mirror all imported as %+v", all)
	}
	br1 := set.Get("Bridge", "hv-imp-br-1").Spec.(*spec.BridgeSpec)
	if br1.FailMode != "secure" || br1.ExternalIDs["owner-team"] != "netops" || br1.Bridge != "br_1" {
		t.Errorf("Bridge br_1 imported as %+v", br1)
	}

	code, md, txns := runDiffCounting(t, "--path", out, "--node", "hv-imp")
	if code != exitOK || txns != 0 {
		t.Fatalf("diff after import: exit %d, %d transactions; want 0, 0\n%s", code, txns, md)
	}
	if !strings.Contains(md, "not adopted until the policy is enforce") {
		t.Errorf("the diff does not say the objects wait for enforce:\n%s", md)
	}

	enforce := t.TempDir()
	if code, _, stderr := runImportIn(t, "--ovsdb", o.DB, "--node", "hv-imp", "--out", enforce, "--policy", "enforce"); code != exitOK {
		t.Fatalf("import --policy enforce: exit %d\n%s", code, stderr)
	}
	code, js, _ := runDiffCounting(t, "--path", enforce, "--node", "hv-imp", "--output", "json")
	if code != exitChanges {
		t.Fatalf("diff of the enforce import: exit %d, want %d\n%s", code, exitChanges, js)
	}
	var d review.LiveDiff
	if err := json.Unmarshal([]byte(js), &d); err != nil {
		t.Fatal(err)
	}
	for _, ch := range d.Plan.Changes {
		if ch.Action != "update" || !strings.HasPrefix(ch.Reason, "adopting") || len(ch.Diff) != 0 {
			t.Errorf("%s: %s %q %v; want only adoptions with no field difference", ch.Ref, ch.Action, ch.Reason, ch.Diff)
		}
	}
	if len(d.Plan.Changes) != 4 { // 2 bridges, 2 mirrors; the manager connects as it is
		t.Errorf("%d changes, want 4 adoptions", len(d.Plan.Changes))
	}
}

// TestImportRefusesToOverwrite: an existing file is never replaced.
func TestImportRefusesToOverwrite(t *testing.T) {
	o := importHost(t)
	out := t.TempDir()
	if err := os.MkdirAll(filepath.Join(out, "hv-imp"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out, "hv-imp", "bridges.yaml"), []byte("# mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runImportIn(t, "--ovsdb", o.DB, "--node", "hv-imp", "--out", out)
	if code != exitFail || !strings.Contains(stderr, "bridges.yaml exists; nothing written") {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(out, "hv-imp", "mirrors.yaml")); err == nil {
		t.Error("mirrors.yaml was written although the import was refused")
	}
}

// TestImportFromOVSMirrorWatchRoundTrip: an OVSMirrorWatch export of the
// host its mirrors are on imports to specs that validate and diff to no
// change; what OVSMirrorWatch's model allows and the spec cannot hold (a
// mirror without output port) is listed, with the entries of other models.
func TestImportFromOVSMirrorWatchRoundTrip(t *testing.T) {
	o := ovstest.Start(t, ovstest.Options{})
	o.AddBridge(t, "br-int")
	o.AddPorts(t, "br-int", []string{"vm1", "vm2", "tap0"})
	// As OVSMirrorWatch's create does it.
	o.Vsctl(t, "--", "set", "Bridge", "br-int", "mirrors=@m", "--", "--id=@src0", "get", "Port", "vm1",
		"--", "--id=@dst0", "get", "Port", "vm2", "--", "--id=@out", "get", "Port", "tap0",
		"--", "--id=@m", "create", "Mirror", "name=web-capture", "select-src-port=@src0", "select-dst-port=@dst0", "output-port=@out")
	host, port, _ := strings.Cut(strings.TrimPrefix(o.TCP, "tcp:"), ":")
	dump := `[
 {"model": "manager.ovsmanager", "pk": 1, "fields": {"ip_address": "` + host + `", "port": ` + port + `, "name": "ams-hv01", "description": null, "monitor": true}},
 {"model": "bridge.ovsbridge", "pk": 3, "fields": {"ovs_name": "br-int", "friendly_name": "integration", "ovsdb_manager": 1, "description": ""}},
 {"model": "port.ovsport", "pk": "vm1", "fields": {"friendly_name": "web1", "description": "", "bridge": 3}},
 {"model": "port.ovsport", "pk": "vm2", "fields": {"friendly_name": "web2", "description": "", "bridge": 3}},
 {"model": "port.ovsport", "pk": "tap0", "fields": {"friendly_name": "capture", "description": "", "bridge": 3}},
 {"model": "mirror.ovsmirror", "pk": "web-capture", "fields": {"src_ports": ["vm1"], "dst_ports": ["vm2"], "out_port": "tap0", "health": true, "description": ""}},
 {"model": "mirror.ovsmirror", "pk": "draft", "fields": {"src_ports": ["vm1"], "dst_ports": [], "out_port": null, "health": null, "description": ""}},
 {"model": "auth.user", "pk": 1, "fields": {"username": "admin"}}
]`
	file := filepath.Join(t.TempDir(), "dump.json")
	if err := os.WriteFile(file, []byte(dump), 0o644); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	code, _, stderr := runImportIn(t, "--from-ovsmirrorwatch", file, "--node", "hv-omw", "--out", out)
	if code != exitOK {
		t.Fatalf("import: exit %d\n%s", code, stderr)
	}
	for _, want := range []string{"not imported: Mirror draft: has no output port", `model "auth.user" is not one of OVSMirrorWatch's`} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	set, diags := spec.Load(out)
	if diags.HasErrors() {
		t.Fatalf("imported specs invalid:\n%v", diags)
	}
	m := set.Get("Mirror", "hv-omw-br-int-web-capture")
	if m == nil {
		t.Fatalf("no Mirror hv-omw-br-int-web-capture in %v", set.Objects)
	}
	if sp := m.Spec.(*spec.MirrorSpec); sp.Manager != "ams-hv01" || sp.MirrorName != "web-capture" || sp.Output.Port != "tap0" || sp.Policy != spec.PolicyObserve {
		t.Errorf("Mirror imported as %+v", sp)
	}
	if mgr := set.Get("OVSManager", "ams-hv01"); mgr == nil || mgr.Spec.(*spec.OVSManagerSpec).Address != o.TCP {
		t.Errorf("manager imported as %+v, want address %s", mgr, o.TCP)
	}
	code, md, txns := runDiffCounting(t, "--path", out, "--node", "hv-omw")
	if code != exitOK || txns != 0 {
		t.Fatalf("diff after import: exit %d, %d transactions; want 0, 0\n%s", code, txns, md)
	}
}

// TestImportRefusesABadExport: what is not a dumpdata export is an error
// naming the file, and nothing is written.
func TestImportRefusesABadExport(t *testing.T) {
	file := filepath.Join(t.TempDir(), "dump.json")
	if err := os.WriteFile(file, []byte(`{"model": "manager.ovsmanager"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	code, _, stderr := runImportIn(t, "--from-ovsmirrorwatch", file, "--node", "hv-omw", "--out", out)
	if code != exitFail || !strings.Contains(stderr, file+": not a dumpdata export") {
		t.Errorf("exit %d, stderr:\n%s", code, stderr)
	}
	if entries, _ := os.ReadDir(out); len(entries) != 0 {
		t.Errorf("%d entries written", len(entries))
	}
	code, _, stderr = runImportIn(t, "--from-ovsmirrorwatch", file, "--ovsdb", "unix:/x", "--node", "hv-omw")
	if code != exitFail || !strings.Contains(stderr, "give one source") {
		t.Errorf("two sources: exit %d, stderr:\n%s", code, stderr)
	}
}
