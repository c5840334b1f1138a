package container_test

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wirekeeper/wirekeeper/internal/dockertest"
	"github.com/wirekeeper/wirekeeper/internal/ovs"
	"github.com/wirekeeper/wirekeeper/internal/ovstest"
	"github.com/wirekeeper/wirekeeper/providers/container"
	"github.com/wirekeeper/wirekeeper/providers/ovsdb"
	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/spec"
)

// TestImportOVSDockerAndPortManager: a port the real ovs-docker made is
// imported with the address, MTU, MAC, gateway and VLAN read from the
// container and OVS, and a container carrying the OVS Port Manager's
// labels as the labels say; the imported ovs-docker port, under policy
// observe, plans to no change against the host it came from.
func TestImportOVSDockerAndPortManager(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	a, b := ctrName(t, "ia"), ctrName(t, "ib")
	env.docker.Run(t, a)
	env.docker.Run(t, b, "--label", "ovs.ip_address=10.71.0.2/24", "--label", "ovs.bridge="+env.bridge,
		"--label", "ovs.interface=eth2", "--label", "ovs.gateway=10.71.0.1", "--label", "ovs.mtu=1450", "--label", "ovs.vlan=12")
	if out, err := env.docker.OVSDocker(t, env.ovs.Dir, env.ovs.Netns, "add-port", env.bridge, "eth1", a,
		"--ipaddress=10.70.0.5/24", "--gateway=10.70.0.1", "--macaddress=02:00:0a:46:00:05", "--mtu=1400"); err != nil {
		t.Fatalf("ovs-docker add-port: %v\n%s", err, out)
	}
	if out, err := env.docker.OVSDocker(t, env.ovs.Dir, env.ovs.Netns, "set-vlan", env.bridge, "eth1", a, "7"); err != nil {
		t.Fatalf("ovs-docker set-vlan: %v\n%s", err, out)
	}
	// What the import and the plan must not change: the container's links
	// and addresses, and the OVS port ovs-docker made.
	made := env.ports(t)
	if len(made) != 1 {
		t.Fatalf("ovs-docker made ports %v, want one", made)
	}
	snapshot := func() string {
		return fmt.Sprintf("%+v\n%s", env.docker.Links(t, a), env.ovs.Vsctl(t, "--columns=name,tag,interfaces,external_ids", "list", "Port", made[0]))
	}
	before := snapshot()
	set := loadSet(t, env.managerDoc("m1"))
	clients := ovs.New(ovs.Options{Node: env.node, Logger: testLogger(t)})
	p := container.New(container.Options{Node: env.node, Logger: testLogger(t), OVS: clients, OVSNetns: env.ovs.Netns, DockerHost: env.docker.Host})
	t.Cleanup(func() { p.Close(); clients.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	found, skipped, err := p.Import(ctx, set, "m1")
	if err != nil {
		t.Fatal(err)
	}
	if len(skipped) != 0 {
		t.Errorf("skipped %v", skipped)
	}
	mtu, mtu2, vlan, vlan2 := 1400, 1450, 7, 12
	want := []container.Imported{
		{From: "ovs-docker", Spec: &spec.ContainerPortSpec{Node: env.node, Manager: "m1", Bridge: env.bridge, Container: a, Interface: "eth1",
			Addresses: []string{"10.70.0.5/24"}, Gateway: "10.70.0.1", MACAddress: "02:00:0a:46:00:05", MTU: &mtu, VLAN: &vlan}},
		{From: "port-manager", Spec: &spec.ContainerPortSpec{Node: env.node, Manager: "m1", Bridge: env.bridge, Container: b, Interface: "eth2",
			Addresses: []string{"10.71.0.2/24"}, Gateway: "10.71.0.1", MTU: &mtu2, VLAN: &vlan2}},
	}
	var mine []container.Imported // the shared dockerd runs other tests' containers
	for _, f := range found {
		if f.Spec.Container == a || f.Spec.Container == b {
			mine = append(mine, f)
		}
	}
	if d := cmp.Diff(want, mine); d != "" {
		t.Errorf("imported (-want +got):\n%s", d)
	}

	// Round trip: the ovs-docker port as imported, policy observe, plans
	// to nothing (it waits for adoption).
	var doc strings.Builder
	fmt.Fprintf(&doc, "apiVersion: wirekeeper.io/v1alpha1\nkind: ContainerPort\nmetadata: {name: imported}\nspec: {node: %s, manager: m1, bridge: %s, container: %s, interface: eth1, addresses: [10.70.0.5/24], gateway: 10.70.0.1, macAddress: \"02:00:0a:46:00:05\", mtu: 1400, vlan: 7, policy: observe}",
		env.node, env.bridge, a)
	set = loadSet(t, env.managerDoc("m1"), doc.String())
	mirrors := ovsdb.New(ovsdb.Options{Node: env.node, Logger: testLogger(t), OVS: clients})
	wantHeldForAdoption(t, ctx, set, env.node, clients, mirrors, p)
	if after := snapshot(); after != before {
		t.Errorf("import and plan changed the host:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// TestImportPortManagerRoundTrip: a container the OVS Port Manager plugged
// from its labels (its writes made with the CLIs, as dockertest's
// PortManagerPlug does) is imported from the port it made, naming the
// container by name; the import under policy observe plans to nothing and
// writes nothing; switched to enforce, the engine adopts that port (same
// OVS row, same veth, now marked) instead of plugging another.
func TestImportPortManagerRoundTrip(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	c := ctrName(t, "pm")
	env.docker.Run(t, c, "--label", "ovs.ip_address=10.72.0.2/24", "--label", "ovs.bridge="+env.bridge, "--label", "ovs.interface=eth3",
		"--label", "ovs.gateway=10.72.0.1", "--label", "ovs.mtu=1450", "--label", "ovs.mac_address=02:00:0a:48:00:02", "--label", "ovs.vlan=9")
	host := env.docker.PortManagerPlug(t, env.ovs.DB, env.ovs.Netns, c, dockertest.PortManagerPort{Bridge: env.bridge, Interface: "eth3",
		Address: "10.72.0.2/24", Gateway: "10.72.0.1", MAC: "02:00:0a:48:00:02", MTU: 1450, VLAN: 9})
	t.Cleanup(func() { ovstest.Vsctl(t, env.ovs.DB, "--if-exists", "del-port", host) })
	uuid := env.column(t, "Port", host, "_uuid")
	hostIndex := func() string {
		out, err := exec.Command("ip", "-n", env.ovs.Netns, "-o", "link", "show", host).CombinedOutput()
		if err != nil {
			t.Fatalf("ip link show %s: %v: %s", host, err, out)
		}
		index, _, _ := strings.Cut(string(out), ":")
		return index
	}
	index := hostIndex()
	snapshot := func() string {
		return fmt.Sprintf("%+v\n%s", env.docker.Links(t, c), env.ovs.Vsctl(t, "--columns=name,tag,interfaces,external_ids", "list", "Port", host))
	}
	before := snapshot()

	clients := ovs.New(ovs.Options{Node: env.node, Logger: testLogger(t)})
	p := container.New(container.Options{Node: env.node, Logger: testLogger(t), OVS: clients, OVSNetns: env.ovs.Netns, DockerHost: env.docker.Host})
	mirrors := ovsdb.New(ovsdb.Options{Node: env.node, Logger: testLogger(t), OVS: clients})
	t.Cleanup(func() { p.Close(); mirrors.Close(); clients.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	found, _, err := p.Import(ctx, loadSet(t, env.managerDoc("m1")), "m1")
	if err != nil {
		t.Fatal(err)
	}
	var mine []container.Imported
	for _, f := range found {
		if f.Spec.Bridge == env.bridge {
			mine = append(mine, f)
		}
	}
	mtu, vlan := 1450, 9
	want := []container.Imported{{From: "port-manager", Spec: &spec.ContainerPortSpec{Node: env.node, Manager: "m1", Bridge: env.bridge, Container: c,
		Interface: "eth3", Addresses: []string{"10.72.0.2/24"}, Gateway: "10.72.0.1", MACAddress: "02:00:0a:48:00:02", MTU: &mtu, VLAN: &vlan}}}
	if d := cmp.Diff(want, mine); d != "" {
		t.Fatalf("imported (-want +got):\n%s", d)
	}

	doc := func(policy string) string {
		return env.portDoc("pm", env.bridge, c, "eth3", "manager: m1, addresses: [10.72.0.2/24], gateway: 10.72.0.1, macAddress: \"02:00:0a:48:00:02\", mtu: 1450, vlan: 9"+policy)
	}
	wantHeldForAdoption(t, ctx, loadSet(t, env.managerDoc("m1"), doc(", policy: observe")), env.node, clients, mirrors, p)
	if after := snapshot(); after != before {
		t.Errorf("import and plan changed the host:\nbefore:\n%s\nafter:\n%s", before, after)
	}

	// Enforce: the diff lists one adoption and no field; the engine adopts
	// the Port Manager's port as it is.
	plan, err := reconciler.PlanLive(ctx, loadSet(t, env.managerDoc("m1"), doc("")), env.node, []reconciler.Provider{mirrors, p}, "", 0.5)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Changes) != 1 || plan.Changes[0].Action != reconciler.ActionUpdate || !strings.Contains(plan.Changes[0].Reason, "adopting") || len(plan.Changes[0].Diff) != 0 {
		t.Errorf("plan under enforce: %+v; want one adoption with no field changed", plan.Changes)
	}
	r := newRig(t, env)
	r.apply(doc(""))
	r.waitPhase("pm", reconciler.PhaseReady)
	if ev := r.drifts("pm"); len(ev) == 0 || !ev[len(ev)-1].Adopted {
		t.Errorf("drift events = %+v, want the adoption recorded", ev)
	}
	if got := env.ports(t); !slices.Equal(got, []string{host}) {
		t.Errorf("ports after adoption = %v, want the Port Manager's %s kept and no other", got, host)
	}
	if got := env.column(t, "Port", host, "_uuid"); got != uuid {
		t.Errorf("port row after adoption = %s, want the Port Manager's %s", got, uuid)
	}
	if got := hostIndex(); got != index {
		t.Errorf("host veth end's ifindex after adoption = %s, want %s (not plugged again)", got, index)
	}
	if got := strings.Trim(env.column(t, "Interface", host, "external_ids:wirekeeper.io/name"), `"`); got != "pm" {
		t.Errorf("the adopted port's marker = %q, want pm", got)
	}
	l, ok := env.docker.Link(t, c, "eth3")
	if !ok || !slices.Equal(l.Addrs, []string{"10.72.0.2/24"}) || l.MTU != 1450 || l.MAC != "02:00:0a:48:00:02" {
		t.Errorf("eth3 after adoption = %+v (found %v), want the Port Manager's configuration", l, ok)
	}
}

// wantHeldForAdoption plans set (a manager and one imported ContainerPort
// under policy observe) against the live host: nothing to change or
// report, the port held until the policy is enforce, and no OVSDB
// transaction sent by clients so far.
func wantHeldForAdoption(t *testing.T, ctx context.Context, set *spec.Set, node string, clients *ovs.Clients, provs ...reconciler.Provider) {
	t.Helper()
	plan, err := reconciler.PlanLive(ctx, set, node, provs, "", 0.5)
	if err != nil {
		t.Fatal(err)
	}
	if plan.HasChanges() || len(plan.Reported) != 0 || len(plan.Held) != 1 || !strings.Contains(plan.Held[0].Reason, "not adopted until the policy is enforce") {
		t.Errorf("plan of the imported port: changes %v, reported %v, held %v; want it held for adoption only", plan.Changes, plan.Reported, plan.Held)
	}
	if st := clients.Stats(); st.Transactions != 0 {
		t.Errorf("import and plan sent %d OVSDB transactions, want 0", st.Transactions)
	}
}
