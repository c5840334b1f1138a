package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/wirekeeper/wirekeeper/internal/dockertest"
	"github.com/wirekeeper/wirekeeper/internal/ovstest"
	"github.com/wirekeeper/wirekeeper/internal/testenv"
	"github.com/wirekeeper/wirekeeper/providers/container"
	"github.com/wirekeeper/wirekeeper/reconciler"
)

// TestRunBinaryKilledMidPlug runs the built binary with 20 container ports,
// SIGKILLs it as soon as the first port exists (the others being plugged),
// and starts it again: it converges, with exactly one OVS port and one veth
// pair per container, and nothing else.
func TestRunBinaryKilledMidPlug(t *testing.T) {
	o := ovstest.Shared(t)
	d := dockertest.Shared(t)
	node := ovstest.UniquePortName(t, "hvk")
	br := ovstest.UniquePortName(t, "wkk")
	o.AddBridge(t, br)
	t.Cleanup(func() { ovstest.Vsctl(t, o.DB, "--if-exists", "del-br", br) })
	ctrs := d.RunN(t, node, 20)
	var spec strings.Builder
	fmt.Fprintf(&spec, "apiVersion: wirekeeper.io/v1alpha1\nkind: OVSManager\nmetadata: {name: ovs1}\nspec: {node: %s, address: %q}\n", node, o.DB)
	for i := range ctrs {
		fmt.Fprintf(&spec, "---\napiVersion: wirekeeper.io/v1alpha1\nkind: ContainerPort\nmetadata: {name: p%d}\n"+
			"spec: {node: %s, bridge: %s, container: %s-%d, interface: eth1, addresses: [10.71.0.%d/24], mtu: 1400}\n", i, node, br, node, i, i+1)
	}
	remote, work := newSpecRepo(t)
	pushSpecs(t, work, spec.String(), "plug 20 containers")
	bin := testenv.Binary(t)
	cache := t.TempDir()
	start := func() (*exec.Cmd, *bytes.Buffer) {
		var logs bytes.Buffer
		cmd := exec.Command(bin, "run", "--interval", "1h", "--log-format", "json", "--ovs-netns", o.Netns, "--docker-host", d.Host)
		cmd.Env = append(os.Environ(), "WIREKEEPER_REPO="+remote, "WIREKEEPER_NODE="+node, "WIREKEEPER_CACHE_DIR="+cache)
		cmd.Stderr = &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		return cmd, &logs
	}
	ports := func() []string {
		out := strings.Fields(ovstest.Vsctl(t, o.DB, "list-ports", br))
		slices.Sort(out)
		return out
	}

	first, _ := start()
	waitUntil(t, "the first port", func() bool { return len(ports()) > 0 })
	first.Process.Signal(syscall.SIGKILL)
	first.Wait()
	atKill := len(ports())
	t.Logf("killed with %d of 20 OVS ports made", atKill)

	second, logs := start()
	waitUntil(t, "all 20 ports Ready in the status", func() bool {
		ns := readStatus(t, remote, node)
		return ns != nil && ns.Counts()[reconciler.PhaseReady] == 21
	})
	var want []string
	for i := range ctrs {
		want = append(want, container.HostEnd(container.PortName(node, fmt.Sprintf("%s-%d", node, i), "eth1")))
	}
	slices.Sort(want)
	if got := ports(); !slices.Equal(got, want) {
		t.Errorf("ports after the restart = %v, want exactly %v", got, want)
	}
	out, err := exec.Command("ip", "-n", o.Netns, "-o", "link", "show", "type", "veth").CombinedOutput()
	if err != nil {
		t.Fatalf("ip link: %v: %s", err, out)
	}
	ends := 0
	for _, w := range want {
		ends += strings.Count(string(out), " "+w+"@")
		if prefix := strings.TrimSuffix(w, "_l"); strings.Contains(string(out), prefix+"_c") {
			t.Errorf("container end %s_c left on the host", prefix)
		}
	}
	if ends != len(want) {
		t.Errorf("found %d of the %d host ends on the host:\n%s", ends, len(want), out)
	}
	for i := range ctrs {
		name := fmt.Sprintf("%s-%d", node, i)
		links := d.Links(t, name)
		if len(links) != 2 || links[1].Name != "eth1" || !links[1].Up || !slices.Equal(links[1].Addrs, []string{fmt.Sprintf("10.71.0.%d/24", i+1)}) {
			t.Errorf("links of %s = %+v, want lo and eth1 up with 10.71.0.%d/24", name, links, i+1)
		}
	}
	second.Process.Signal(syscall.SIGTERM)
	if err := second.Wait(); err != nil {
		t.Errorf("exit after SIGTERM: %v\n%s", err, logs.String())
	}
}
