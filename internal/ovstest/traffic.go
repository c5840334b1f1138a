package ovstest

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"testing"
)

// hostIface is the name of a host's end of its veth, inside its namespace.
const hostIface = "eth0"

// Host is a network namespace wired to a bridge port by a veth pair, so a
// test can send real packets through ovs-vswitchd's userspace datapath.
type Host struct {
	// Netns is the host's own network namespace.
	Netns string
	// Iface is the host's end of the veth pair inside Netns ("eth0").
	Iface string
	// Port is the switch's end of the veth pair: a device in the vswitchd's
	// namespace, and the bridge's Port and Interface of that name.
	Port string
	// IP is the host's address without its prefix length; "" for a sink.
	IP string
}

// AddHost creates a network namespace holding one end of a veth pair, with
// address cidr (e.g. "10.9.0.1/24"), and adds the other end, named port (at
// most 15 bytes, unique in o.Netns), to bridge with `ovs-vsctl add-port`,
// which waits for ovs-vswitchd. IPv6 is off on both ends so the only traffic
// is what the test sends. TX checksum offload is off on the host's end (when
// ethtool is installed): with it on, packets leave the veth with checksums
// left to hardware that the userspace datapath never computes, and TCP
// fails from its handshake on (measured here; ICMP works either way). t.Cleanup
// deletes the namespace, and with it the veth pair; on the shared harness it
// also deletes the port.
func AddHost(t testing.TB, o *OVS, bridge, port, cidr string) Host {
	t.Helper()
	prefix, err := netip.ParsePrefix(cidr)
	if err != nil {
		t.Fatalf("ovstest: AddHost %s: address: %v", port, err)
	}
	return addHost(t, o, bridge, port, prefix)
}

// AddSinkPort adds port to bridge like AddHost but without an address: the
// host end is up and sends nothing, so the port can be a mirror's output and
// RxPackets of the returned Host counts what the mirror delivered.
func AddSinkPort(t testing.TB, o *OVS, bridge, port string) Host {
	t.Helper()
	return addHost(t, o, bridge, port, netip.Prefix{})
}

func addHost(t testing.TB, o *OVS, bridge, port string, prefix netip.Prefix) Host {
	t.Helper()
	need(t, true, "ip", "ovs-vsctl", "sysctl")
	if o.Netns == "" {
		t.Fatalf("ovstest: AddHost %s: no ovs-vswitchd (start with Options{Vswitchd: true})", port)
	}
	if len(port) > 15 || port == "" {
		t.Fatalf("ovstest: AddHost: port name %q must have 1 to 15 bytes", port)
	}
	h := Host{Netns: "ovstest-" + port + "-" + randomHex(t), Iface: hostIface, Port: port}
	if prefix.IsValid() {
		h.IP = prefix.Addr().String()
	}
	mustRun(t, "ip", "netns", "add", h.Netns)
	t.Cleanup(func() {
		if o.shared {
			if _, err := vsctl(nil, o.DB, false, "--if-exists", "del-port", bridge, port); err != nil {
				t.Errorf("ovstest: cleanup: %v", err)
			}
		}
		if _, err := command(nil, "ip", "netns", "delete", h.Netns); err != nil {
			t.Errorf("ovstest: cleanup: %v", err)
		}
	})
	mustRun(t, "ip", "-n", h.Netns, "link", "set", "lo", "up")
	mustRun(t, "ip", "-n", o.Netns, "link", "add", port, "type", "veth",
		"peer", "name", h.Iface, "netns", h.Netns)
	if _, err := os.Stat("/proc/sys/net/ipv6"); err == nil {
		// Before the links go up, so not even duplicate address detection
		// or router solicitation leaves them.
		mustRun(t, "ip", "netns", "exec", o.Netns, "sysctl", "-qw", "net.ipv6.conf."+port+".disable_ipv6=1")
		mustRun(t, "ip", "netns", "exec", h.Netns, "sysctl", "-qw", "net.ipv6.conf."+h.Iface+".disable_ipv6=1")
	}
	if prefix.IsValid() {
		mustRun(t, "ip", "-n", h.Netns, "addr", "add", prefix.String(), "dev", h.Iface)
	}
	mustRun(t, "ip", "-n", o.Netns, "link", "set", port, "up")
	mustRun(t, "ip", "-n", h.Netns, "link", "set", h.Iface, "up")
	if ethtool, err := lookBin("ethtool"); err == nil {
		mustRun(t, "ip", "netns", "exec", h.Netns, ethtool, "-K", h.Iface, "tx", "off")
	} else {
		t.Logf("ovstest: AddHost %s: no ethtool, so TX checksum offload stays on: ping works, TCP will not", port)
	}
	o.Vsctl(t, "add-port", bridge, port)
	return h
}

// UniquePortName returns prefix (at most 7 bytes) plus 8 random hex digits:
// a port and device name that fits Linux's 15 bytes and collides with no
// other test's on the shared harness's vswitchd.
func UniquePortName(t testing.TB, prefix string) string {
	t.Helper()
	if len(prefix) > 7 {
		t.Fatalf("ovstest: UniquePortName: prefix %q is longer than 7 bytes", prefix)
	}
	return prefix + randomHex(t)
}

func mustRun(t testing.TB, name string, args ...string) {
	t.Helper()
	if _, err := command(nil, name, args...); err != nil {
		t.Fatalf("%v", err)
	}
}

var received = regexp.MustCompile(`(\d+) (?:packets )?received`)

// Ping sends count ICMP echo requests from host from to toIP, 0.1 s apart,
// and returns an error (with ping's output) unless every one was answered.
// It uses ping, or busybox ping when ping is not installed.
func Ping(t testing.TB, from Host, toIP string, count int) error {
	t.Helper()
	need(t, true, "ip")
	pingArgs := []string{"-q", "-c", strconv.Itoa(count), "-i", "0.1",
		"-W", "1", "-w", strconv.Itoa(count/10 + 2), toIP}
	if bin, err := lookBin("ping"); err == nil {
		pingArgs = append([]string{bin}, pingArgs...)
	} else if bin, err := lookBin("busybox"); err == nil {
		pingArgs = append([]string{bin, "ping"}, pingArgs...)
	} else {
		need(t, false, "ping")
	}
	out, err := command(nil, "ip", append([]string{"netns", "exec", from.Netns}, pingArgs...)...)
	m := received.FindStringSubmatch(out)
	if m == nil {
		return fmt.Errorf("ovstest: ping %s from %s: %v: %s", toIP, from.Netns, err, out)
	}
	if got, _ := strconv.Atoi(m[1]); got < count {
		return fmt.Errorf("ovstest: ping %s from %s: %d of %d answered: %s", toIP, from.Netns, got, count, out)
	}
	return nil
}

// RxPackets returns the kernel's live receive counter of h's end of its veth
// pair: for a sink, the packets ovs-vswitchd sent out of h.Port. Unlike
// InterfaceStats it is exact at once.
func RxPackets(t testing.TB, h Host) int {
	t.Helper()
	out, err := command(nil, "ip", "-n", h.Netns, "-j", "-s", "link", "show", "dev", h.Iface)
	if err != nil {
		t.Fatalf("%v", err)
	}
	var links []struct {
		Stats64 struct {
			RX struct {
				Packets int `json:"packets"`
			} `json:"rx"`
		} `json:"stats64"`
	}
	if err := json.Unmarshal([]byte(out), &links); err != nil || len(links) != 1 {
		t.Fatalf("ovstest: ip -j -s link show %s in %s: unexpected output (%v): %s", h.Iface, h.Netns, err, out)
	}
	return links[0].Stats64.RX.Packets
}

// PurgeFlows deletes every datapath flow of o's ovs-vswitchd
// (`ovs-appctl revalidator/purge`), so the next packets are translated
// against the current configuration. Call it after adding or removing a
// mirror and before counting what the mirror carries: Open vSwitch 3.1 does
// not revalidate datapath flows that exist when a Mirror is added or removed
// (measured here: a flow kept in use by a ping every 0.2 s kept its old
// actions, mirror output included, for as long as the test ran, 14 s). It
// only drops a cache, so it is allowed on the shared harness's vswitchd.
func (o *OVS) PurgeFlows(t testing.TB) {
	t.Helper()
	if !o.vswitchd {
		t.Fatalf("ovstest: PurgeFlows: no ovs-vswitchd runs for %s", o.DB)
	}
	if _, err := command(o.env, "ovs-appctl", "--timeout=10", "-t", o.path("ovs-vswitchd.ctl"), "revalidator/purge"); err != nil {
		t.Fatalf("%v", err)
	}
}
