package skydive_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wirekeeper/wirekeeper/internal/dockertest"
	wkovs "github.com/wirekeeper/wirekeeper/internal/ovs"
	"github.com/wirekeeper/wirekeeper/internal/ovstest"
	"github.com/wirekeeper/wirekeeper/internal/skydivetest"
	"github.com/wirekeeper/wirekeeper/internal/testenv"
	"github.com/wirekeeper/wirekeeper/internal/topology"
	"github.com/wirekeeper/wirekeeper/providers/container"
	"github.com/wirekeeper/wirekeeper/providers/ovsdb"
	"github.com/wirekeeper/wirekeeper/providers/skydive"
	"github.com/wirekeeper/wirekeeper/reconciler"
)

// startContainerRig is startOVSRig with the container provider too, on
// dockerd d: the engine plugs ContainerPorts into ovs's bridges and the
// export publishes the containers' part of the graph, as the daemon does.
func startContainerRig(t testing.TB, ovs *ovstest.OVS, d *dockertest.Engine, node string) *ovsRig {
	t.Helper()
	providerLog := &logBuffer{}
	log := slog.New(slog.NewTextHandler(providerLog, &slog.HandlerOptions{Level: slog.LevelInfo}))
	clients := wkovs.New(wkovs.Options{Node: node, Logger: log})
	events := reconciler.NewEvents()
	op := ovsdb.New(ovsdb.Options{Node: node, Logger: log, OVS: clients, Events: events})
	cp := container.New(container.Options{Node: node, Logger: log, OVS: clients, Events: events, OVSNetns: ovs.Netns, DockerHost: d.Host})
	r := newExporter(t, node, skydive.Options{Events: events}, op, cp)
	e, err := reconciler.New(reconciler.Options{Node: node, Providers: []reconciler.Provider{op, cp, r.p}, Events: events, Workers: 4,
		BackoffBase: 50 * time.Millisecond, BackoffMax: time.Second, Resync: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.Run(ctx); close(done) }()
	stop := sync.OnceFunc(func() { cancel(); <-done; r.p.Close(); cp.Close(); op.Close() })
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("OVSDB and container providers' log:\n%s", providerLog.String())
		}
	})
	return &ovsRig{exporterRig: r, ovs: ovs, e: e, stop: stop}
}

func containerPortDoc(name, node, bridge, ctr string) string {
	return fmt.Sprintf("apiVersion: wirekeeper.io/v1alpha1\nkind: ContainerPort\nmetadata: {name: %s}\nspec: {node: %s, bridge: %s, container: %s, interface: eth1, addresses: [10.63.0.1/24]}",
		name, node, bridge, ctr)
}

// A plugged container's node carries what SkyDive's own Docker probe puts
// under Container, which the analyzer decodes into its ContainerMetadata:
// SkyDive's container views and Container.* filters see it. The analyzer
// holds it as published, so the export stays quiet over several
// read-backs (no Sync after the first, no drift, no status change). On
// main the node had only the Docker key.
func TestAPluggedContainerIsInTheAnalyzersContainerViewAndStaysQuiet(t *testing.T) {
	const intervals = 5
	a := skydivetest.Start(t, skydivetest.Options{})
	tap := newAnalyzerTap(t, a)
	d := dockertest.Shared(t)
	ctr := "sky-" + testenv.UniqueName(t)
	ctrID := d.Run(t, ctr)
	r := startContainerRig(t, ovstest.Start(t, ovstest.Options{Vswitchd: true}), d, ovstest.UniquePortName(t, "hv"))
	origin := "wirekeeper." + r.node
	r.apply(bridgeDoc("br0"), containerPortDoc("pa", r.node, "br0", ctr), exportDoc("sky", tap.URL(), "verifyInterval: 1s"))
	waitFor(t, "ContainerPort/pa Ready", func() bool {
		o := r.e.Status().Object(reconciler.Ref{Kind: container.Kind, Name: "pa"})
		return o != nil && o.Phase == reconciler.PhaseReady
	})
	waitFor(t, "every element in the analyzer", func() bool {
		return slices.Equal(ids(r.local(nil)), ids(held(t, a, origin)))
	})
	r.waitPhase("SkyDiveExport", "sky", reconciler.PhaseReady)

	// The analyzer's copy, over REST.
	cID := topology.ID(r.node, "container", ctr)
	md, ok := restNode(t, a, cID)
	if !ok {
		t.Fatalf("no container node %s in the analyzer", cID)
	}
	want := map[string]any{
		"ID": ctrID, "Runtime": "docker", "Status": "running", "InitProcessPID": float64(d.PID(t, ctr)),
		"Image": d.Image, "ImageID": d.Inspect(t, ctr, "{{.Image}}"), "Hosts": map[string]any{},
	}
	if diff := cmp.Diff(want, md["Container"]); diff != "" {
		t.Errorf("the analyzer's Container of %s (-want +got):\n%s", ctr, diff)
	}
	if diff := cmp.Diff(map[string]any{"ContainerID": ctrID, "ContainerName": ctr}, md["Docker"]); diff != "" {
		t.Errorf("Docker kept as before (-want +got):\n%s", diff)
	}
	// A Container.* filter finds it, and only it.
	var found []struct{ ID string }
	query := fmt.Sprintf("G.V().Has('@Origin', '%s', 'Container.Runtime', 'docker', 'Container.ID', '%s')", origin, ctrID)
	gremlin(t, a, query, &found)
	if len(found) != 1 || found[0].ID != cID {
		t.Errorf("%s found %+v, want the node %s", query, found, cID)
	}

	// Converged: the read-backs find nothing to repair.
	r.checkQuiet(t, a, tap, origin, intervals)

	// Restarted, the container has another init process: the analyzer's
	// copy follows.
	d.RestartContainer(t, ctr)
	pid := int64(d.PID(t, ctr))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.Wait(ctx, func(a *skydivetest.Analyzer) bool {
		n, _ := a.Node(cID)
		c, _ := n.Metadata["Container"].(map[string]any)
		return c["InitProcessPID"] == pid // the stand-in's decoder holds an int64
	}); err != nil {
		n, _ := a.Node(cID)
		t.Fatalf("the restarted container's InitProcessPID %d not in the analyzer: %v", pid, n.Metadata["Container"])
	}
	r.waitHeld(a, nil)
}

// gremlin runs query through the analyzer's REST API into out.
func gremlin(t testing.TB, a *skydivetest.Analyzer, query string, out any) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"GremlinQuery": query})
	resp, err := http.Post(a.HTTPURL()+"/api/topology", "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /api/topology %s: %s: %v", query, resp.Status, err)
	}
}
