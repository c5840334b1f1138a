package ovsdb_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/wirekeeper/wirekeeper/internal/ovs"
	"github.com/wirekeeper/wirekeeper/internal/ovstest"
	"github.com/wirekeeper/wirekeeper/reconciler"
)

func containerPortDoc(name, manager, bridge, container string) string {
	return fmt.Sprintf("apiVersion: wirekeeper.io/v1alpha1\nkind: ContainerPort\nmetadata: {name: %s}\nspec: {node: %s, manager: %s, bridge: %s, container: %s, interface: eth1}",
		name, node, manager, bridge, container)
}

// TestMirrorNamesContainerPorts: a Mirror that selects and outputs to
// ContainerPorts by their spec names selects the OVS ports named by
// ovs.ContainerPortName, the function the container provider names their
// host ends with. The ports are made here with ovs-vsctl (this rig runs no
// container provider), under those names.
func TestMirrorNamesContainerPorts(t *testing.T) {
	o := ovstest.Shared(t)
	br := shortName(t, "wkc")
	o.AddBridge(t, br)
	t.Cleanup(func() { ovstest.Vsctl(t, o.DB, "--if-exists", "del-br", br) })
	web, capture := shortName(t, "web"), shortName(t, "cap")
	webPort, tapPort := ovs.ContainerPortName(node, web, "eth1"), ovs.ContainerPortName(node, capture, "eth1")
	r := newRig(t)
	r.apply(managerDoc("ovs1", o.DB),
		containerPortDoc("web-eth1", "ovs1", br, web), containerPortDoc("tap", "ovs1", br, capture),
		mirrorDoc("cspan", "ovs1", br, "selectSrcContainerPorts: [web-eth1], selectDstContainerPorts: [web-eth1], output: {containerPort: tap}"))
	r.waitPhase("Mirror", "cspan", reconciler.PhasePending, "output port ContainerPort tap (OVS port "+tapPort+") not found on bridge "+br)

	o.AddPorts(t, br, []string{webPort, tapPort})
	r.waitPhase("Mirror", "cspan", reconciler.PhaseReady)
	uuid := func(port string) string { return strings.TrimSpace(o.Vsctl(t, "get", "Port", port, "_uuid")) }
	for _, c := range []struct{ column, want string }{
		{"select_src_port", "[" + uuid(webPort) + "]"},
		{"select_dst_port", "[" + uuid(webPort) + "]"},
		{"output_port", uuid(tapPort)},
	} {
		if got := mirrorColumn(t, o.DB, "cspan", c.column); got != c.want {
			t.Errorf("cspan %s = %s, want %s", c.column, got, c.want)
		}
	}

	t.Run("cleared selection is repaired, the drift named by the spec's field", func(t *testing.T) {
		o.Vsctl(t, "clear", "Mirror", "cspan", "select_src_port")
		r.waitFor("drift recorded as repaired", func() bool {
			d := r.driftOf("Mirror", "cspan")
			return d != nil && d.Repaired && len(d.Diff) == 1 && d.Diff[0].Path == "spec.selectSrcContainerPorts"
		})
		r.waitFor("web selected again", func() bool { return mirrorColumn(t, o.DB, "cspan", "select_src_port") == "["+uuid(webPort)+"]" })
	})
	t.Run("a selected ContainerPort's port missing degrades the mirror", func(t *testing.T) {
		o.Vsctl(t, "del-port", br, webPort)
		r.waitPhase("Mirror", "cspan", reconciler.PhaseDegraded,
			"ContainerPort web-eth1 (OVS port "+webPort+") (dst)", "ContainerPort web-eth1 (OVS port "+webPort+") (src)")
		o.AddPorts(t, br, []string{webPort})
		r.waitPhase("Mirror", "cspan", reconciler.PhaseReady)
		if got, want := mirrorColumn(t, o.DB, "cspan", "select_src_port"), "["+uuid(webPort)+"]"; got != want {
			t.Errorf("select_src_port = %s, want the recreated port %s", got, want)
		}
	})
}
