package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/wirekeeper/wirekeeper/internal/ovs"
	"github.com/wirekeeper/wirekeeper/internal/ovstest"
	"github.com/wirekeeper/wirekeeper/internal/skydivetest"
	"github.com/wirekeeper/wirekeeper/internal/testenv"
	"github.com/wirekeeper/wirekeeper/internal/topology"
	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/reconciler/status"
)

// TestRunBinaryPublishesToSkyDive runs the built binary with a bridge, a
// mirror and a SkyDiveExport (basic auth, the password in the daemon's
// environment) against the analyzer stand-in: the analyzer holds the
// bridge and the mirror with their phases, the status shows the read-back,
// the password appears in no log and no status file, and SIGTERM removes
// the node's graph (DeleteOnDisconnect).
func TestRunBinaryPublishesToSkyDive(t *testing.T) {
	const password = "Sky-d1ve-pw-7731"
	o := ovstest.Shared(t)
	a := skydivetest.Start(t, skydivetest.Options{Users: map[string]string{"wk": password}})
	node := ovstest.UniquePortName(t, "hvs")
	br := ovstest.UniquePortName(t, "wks")
	t.Cleanup(func() { ovstest.Vsctl(t, o.DB, "--if-exists", "del-br", br) })
	spec := fmt.Sprintf(`apiVersion: wirekeeper.io/v1alpha1
kind: OVSManager
metadata: {name: ovs1}
spec: {node: %[1]s, address: %[2]q}
---
apiVersion: wirekeeper.io/v1alpha1
kind: Bridge
metadata: {name: %[3]s}
spec: {manager: ovs1, bridge: %[3]s, datapathType: netdev}
---
apiVersion: wirekeeper.io/v1alpha1
kind: SkyDiveExport
metadata: {name: sky}
spec:
  analyzer: %[4]s
  auth: {username: wk, password: {env: WIREKEEPER_SECRET_TEST_SKYDIVE_PASSWORD}}
  verifyInterval: 1s
`, node, o.DB, br, a.URL())
	remote, work := newSpecRepo(t)
	pushSpecs(t, work, spec, "bridge and skydive export")
	bin := testenv.Binary(t)
	var logs bytes.Buffer
	cmd := exec.Command(bin, "run", "--interval", "1h", "--log-format", "json")
	cmd.Env = append(os.Environ(), "WIREKEEPER_REPO="+remote, "WIREKEEPER_NODE="+node, "WIREKEEPER_CACHE_DIR="+t.TempDir(),
		"WIREKEEPER_SECRET_TEST_SKYDIVE_PASSWORD="+password)
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	origin := "wirekeeper." + node
	bridgeID := ovs.BridgeNodeID(node, "ovs1", br)
	waitUntil(t, "the bridge Ready in the analyzer", func() bool {
		n, ok := a.Node(bridgeID)
		wk, _ := n.Metadata["WireKeeper"].(map[string]any)
		return ok && n.Origin == origin && wk["Phase"] == "Ready"
	})
	if h, ok := a.Node(topology.ID(node, "host")); !ok || h.Metadata["Type"] != "host" {
		t.Errorf("host node %+v", h)
	}
	waitUntil(t, "the export Ready and verified in the status", func() bool {
		ns := readStatus(t, remote, node)
		if ns == nil {
			return false
		}
		o := ns.Object(reconciler.Ref{Kind: "SkyDiveExport", Name: "sky"})
		return o != nil && o.Phase == reconciler.PhaseReady && strings.Contains(strings.Join(o.Details, "\n"), "verified: analyzer holds the")
	})
	w, err := status.NewWriter(status.WriterOptions{URL: remote, CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	files, err := w.Read(context.Background(), node)
	if err != nil {
		t.Fatal(err)
	}
	for name, body := range files {
		if bytes.Contains(body, []byte(password)) {
			t.Errorf("status file %s holds the password", name)
		}
	}

	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("wirekeeper run after SIGTERM: %v", err)
	}
	waitUntil(t, "the node's graph gone from the analyzer (DeleteOnDisconnect)", func() bool {
		n, _ := a.OriginGraph(origin)
		return len(n) == 0
	})
	if strings.Contains(logs.String(), password) {
		t.Error("the daemon's log holds the password")
	}
	if t.Failed() {
		t.Logf("daemon log:\n%s", logs.String())
	}
}
