package dockertest

import (
	"strconv"
	"testing"
)

// PortManagerPort is what the OVS Port Manager's container labels ask for
// (ovs.bridge, ovs.interface, ovs.ip_address, ovs.gateway, ovs.mac_address,
// ovs.mtu, ovs.vlan); zero values are left unset.
type PortManagerPort struct {
	Bridge, Interface, Address, Gateway, MAC string
	MTU, VLAN                                int
}

// PortManagerPlug plugs container ctr into OVS the way the Go OVS Port
// Manager (appkins-org/ovs-port-manager) does, as seed-systems.md records
// it, with the ip and ovs-vsctl CLIs, since that daemon is not packaged:
// a veth named by the first 12 characters of the container's ID with
// "_l" (host end, in netns, where the ovs-vswitchd of db runs) and "_c",
// an OVS port of the host end whose Interface and Port carry
// external_ids container_id (the full ID) and container_iface, the
// Interface also iface-id and iface-status, Port.tag the VLAN; the
// container end moved into the container's namespace, renamed, then its
// MTU, MAC, address, up and default route. It returns the OVS port's
// name. The caller removes the port (ovs-vsctl del-port) before the
// container.
func (e *Engine) PortManagerPlug(t testing.TB, db, netns, ctr string, p PortManagerPort) string {
	t.Helper()
	need(t, true, "ip", "ovs-vsctl", "nsenter")
	id := e.Inspect(t, ctr, "{{.Id}}")
	pid := strconv.Itoa(e.PID(t, ctr))
	host, peer := id[:12]+"_l", id[:12]+"_c"
	must := func(name string, args ...string) {
		t.Helper()
		if _, err := run(nil, nil, name, args...); err != nil {
			t.Fatalf("port manager plug of %s: %v", ctr, err)
		}
	}
	must("ip", "-n", netns, "link", "add", host, "type", "veth", "peer", "name", peer)
	must("ip", "-n", netns, "link", "set", peer, "netns", pid)
	vsctl := []string{"--db=" + db, "--timeout=10", "add-port", p.Bridge, host,
		"--", "set", "Interface", host, "external_ids:container_id=" + id, "external_ids:container_iface=" + p.Interface,
		"external_ids:iface-id=" + host, "external_ids:iface-status=active",
		"--", "set", "Port", host, "external_ids:container_id=" + id, "external_ids:container_iface=" + p.Interface}
	if p.VLAN != 0 {
		vsctl = append(vsctl, "tag="+strconv.Itoa(p.VLAN))
	}
	must("ovs-vsctl", vsctl...)
	must("ip", "-n", netns, "link", "set", host, "up")
	in := func(args ...string) {
		t.Helper()
		must("nsenter", append([]string{"-t", pid, "-n", "ip"}, args...)...)
	}
	in("link", "set", peer, "name", p.Interface)
	if p.MTU != 0 {
		in("link", "set", p.Interface, "mtu", strconv.Itoa(p.MTU))
	}
	if p.MAC != "" {
		in("link", "set", p.Interface, "address", p.MAC)
	}
	in("addr", "add", p.Address, "dev", p.Interface)
	in("link", "set", p.Interface, "up")
	if p.Gateway != "" {
		in("route", "add", "default", "via", p.Gateway, "dev", p.Interface)
	}
	return host
}
