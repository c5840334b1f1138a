package container_test

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/wirekeeper/wirekeeper/internal/ovstest"
	"github.com/wirekeeper/wirekeeper/providers/container"
	"github.com/wirekeeper/wirekeeper/reconciler"
)

// TestMirrorOfContainerPorts runs a Mirror that names ContainerPorts by
// their spec names through both providers and the engine, on real
// containers: it selects the port this provider plugged for one container
// and outputs to the port it plugged for another. The Mirror row points at
// those ports, the capture container receives the mirrored pings, and when
// a container stops (its port gone) the mirror waits or degrades naming
// the ContainerPort, then follows the new port when the container starts
// again. A port row deleted under the mirror and re-added by this provider
// is followed too.
func TestMirrorOfContainerPorts(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	web, peer, capture := ctrName(t, "mw"), ctrName(t, "mp"), ctrName(t, "mc")
	for _, c := range []string{web, peer, capture} {
		env.docker.Run(t, c)
	}
	mirror := ovstest.UniquePortName(t, "span") // the OVS row's name: the OVS host is shared
	r := newRig(t, env)
	r.apply(
		env.portDoc("web-eth1", env.bridge, web, "eth1", "addresses: [10.83.0.1/24]"),
		env.portDoc("peer-eth1", env.bridge, peer, "eth1", "addresses: [10.83.0.2/24]"),
		env.portDoc("tap", env.bridge, capture, "eth1", ""),
		env.mirrorDoc("cspan", mirror, "selectSrcContainerPorts: [web-eth1], selectDstContainerPorts: [web-eth1], output: {containerPort: tap}"),
	)
	webPort := container.HostEnd(container.PortName(env.node, web, "eth1"))
	tapPort := container.HostEnd(container.PortName(env.node, capture, "eth1"))
	r.waitMirror("cspan", "Ready", func(ph reconciler.Phase, _ string) bool { return ph == reconciler.PhaseReady })
	for _, n := range []string{"web-eth1", "peer-eth1", "tap"} {
		r.waitPhase(n, reconciler.PhaseReady)
	}

	// The ports the Mirror row points at are the ones this provider made:
	// ovs-docker's external_ids name the containers.
	for port, ctr := range map[string]string{webPort: web, tapPort: capture} {
		if got := strings.Trim(env.column(t, "Interface", port, "external_ids:container_id"), `"`); got != ctr {
			t.Errorf("Interface %s external_ids:container_id = %q, want %q", port, got, ctr)
		}
	}
	env.wantMirrorPorts(t, mirror, webPort, tapPort)
	env.wantMirrored(t, mirror, web, capture, "10.83.0.2")

	t.Run("the selected container stopped and started again", func(t *testing.T) {
		defer r.use(t)()
		before := env.uuid(t, webPort)
		env.docker.StopContainer(t, web)
		r.waitMirror("cspan", "Pending or Degraded naming ContainerPort web-eth1", waitsFor("web-eth1"))
		env.docker.StartContainer(t, web)
		r.waitMirror("cspan", "Ready on the new port", func(ph reconciler.Phase, _ string) bool {
			return ph == reconciler.PhaseReady && env.mirrorColumn(t, mirror, "select_src_port") == "["+env.uuid(t, webPort)+"]"
		})
		if env.uuid(t, webPort) == before {
			t.Errorf("port %s kept its row %s across the container's stop and start; want a new one", webPort, before)
		}
		env.wantMirrorPorts(t, mirror, webPort, tapPort)
		env.wantMirrored(t, mirror, web, capture, "10.83.0.2")
	})

	t.Run("the output container stopped and started again", func(t *testing.T) {
		defer r.use(t)()
		env.docker.StopContainer(t, capture)
		r.waitMirror("cspan", "Pending or Degraded naming ContainerPort tap", waitsFor("tap"))
		env.docker.StartContainer(t, capture)
		r.waitMirror("cspan", "Ready with the new output port", func(ph reconciler.Phase, _ string) bool {
			return ph == reconciler.PhaseReady && env.mirrorColumn(t, mirror, "output_port") == env.uuid(t, tapPort)
		})
		env.wantMirrorPorts(t, mirror, webPort, tapPort)
		env.wantMirrored(t, mirror, web, capture, "10.83.0.2")
	})

	t.Run("the selected port row deleted and re-added by the provider", func(t *testing.T) {
		defer r.use(t)()
		before := env.uuid(t, webPort)
		ovstest.Vsctl(t, env.ovs.DB, "del-port", env.bridge, webPort)
		r.waitMirror("cspan", "Ready on the re-added port row", func(ph reconciler.Phase, _ string) bool {
			id := env.uuid(t, webPort)
			return ph == reconciler.PhaseReady && id != "" && id != before &&
				env.mirrorColumn(t, mirror, "select_src_port") == "["+id+"]"
		})
		env.wantMirrorPorts(t, mirror, webPort, tapPort)
	})
}

// waitsFor accepts a Mirror that is Pending or Degraded for want of
// ContainerPort cp: the engine's "waiting for ContainerPort/cp" or the
// OVSDB provider's "ContainerPort cp (OVS port ...)".
func waitsFor(cp string) func(reconciler.Phase, string) bool {
	re := regexp.MustCompile(`ContainerPort[ /]` + regexp.QuoteMeta(cp) + `\b`)
	return func(ph reconciler.Phase, msg string) bool {
		return (ph == reconciler.PhasePending || ph == reconciler.PhaseDegraded) && re.MatchString(msg)
	}
}

// mirrorDoc is a Mirror on the rig's manager and the env's bridge, whose
// OVS row is named row; body is the rest of its spec in flow style.
func (e *env) mirrorDoc(name, row, body string) string {
	return fmt.Sprintf("apiVersion: wirekeeper.io/v1alpha1\nkind: Mirror\nmetadata: {name: %s}\nspec: {manager: m1, bridge: %s, mirrorName: %s, %s}",
		name, e.bridge, row, body)
}

// waitMirror waits until Mirror name's phase and message satisfy ok.
func (r *rig) waitMirror(name, what string, ok func(reconciler.Phase, string) bool) {
	r.t.Helper()
	var seen string
	r.waitFor("Mirror/"+name+" "+what, func() bool {
		o := r.e.Status().Object(reconciler.Ref{Kind: "Mirror", Name: name})
		if o == nil || !ok(o.Phase, o.Message) {
			return false
		}
		seen = fmt.Sprintf("%s (%s)", o.Phase, o.Message)
		return true
	})
	r.t.Logf("Mirror/%s %s: %s", name, what, seen)
}

// uuid is the _uuid of Port port, "" when there is none.
func (e *env) uuid(t testing.TB, port string) string {
	t.Helper()
	return e.column(t, "Port", port, "_uuid")
}

// mirrorColumn reads one column of the Mirror row named row.
func (e *env) mirrorColumn(t testing.TB, row, col string) string {
	t.Helper()
	return e.column(t, "Mirror", row, col)
}

// wantMirrorPorts checks with ovs-vsctl that Mirror row selects src both
// ways and outputs to out, and that it sits on the env's bridge.
func (e *env) wantMirrorPorts(t testing.TB, row, src, out string) {
	t.Helper()
	for _, c := range []struct{ column, want string }{
		{"select_src_port", "[" + e.uuid(t, src) + "]"},
		{"select_dst_port", "[" + e.uuid(t, src) + "]"},
		{"output_port", e.uuid(t, out)},
		{"select_all", "false"},
	} {
		if got := e.mirrorColumn(t, row, c.column); got != c.want {
			t.Errorf("Mirror %s %s = %s, want %s", row, c.column, got, c.want)
		}
	}
	mirrors := e.column(t, "Bridge", e.bridge, "mirrors")
	if id := e.mirrorColumn(t, row, "_uuid"); id == "" || !strings.Contains(mirrors, id) {
		t.Errorf("bridge %s mirrors = %s, want Mirror %s (%s) among them", e.bridge, mirrors, row, id)
	}
}

// wantMirrored pings addr from container from and checks that container
// capture, whose port is the mirror's output, received the pings both
// ways: two requests sent by from and two replies to it.
func (e *env) wantMirrored(t testing.TB, row, from, capture, addr string) {
	t.Helper()
	// A write without --no-wait returns once ovs-vswitchd has applied the
	// database; the datapath flows made before the mirror ignore it.
	ovstest.Vsctl(t, e.ovs.DB, "remove", "Open_vSwitch", ".", "external_ids", "wk-sync")
	e.ovs.PurgeFlows(t)
	before := e.rxPackets(t, capture)
	if err := e.docker.Ping(t, from, addr); err != nil {
		t.Fatal(err)
	}
	got := e.rxPackets(t, capture) - before
	t.Logf("capture container %s received %d packets during 2 pings from %s", capture, got, from)
	if got < 4 {
		t.Errorf("capture container %s received %d packets during 2 pings from %s mirrored by %s, want at least 4", capture, got, from, row)
	}
}

// rxPackets is the kernel's count of packets received on eth1 of container
// ctr.
func (e *env) rxPackets(t testing.TB, ctr string) int {
	t.Helper()
	out, err := e.docker.Exec(t, ctr, "cat", "/sys/class/net/eth1/statistics/rx_packets")
	if err != nil {
		t.Fatalf("rx_packets of %s: %v", ctr, err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("rx_packets of %s: %q: %v", ctr, out, err)
	}
	return n
}
