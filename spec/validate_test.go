package spec

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

// manager is a valid OVSManager that the other test documents reference.
const manager = `apiVersion: wirekeeper.io/v1alpha1
kind: OVSManager
metadata: {name: ovs-a}
spec: {node: node-a, address: "unix:/run/openvswitch/db.sock"}
---
`

// want is one expected diagnostic: "file:line:col Kind/name field" exactly, and
// a fragment of the message.
type want struct{ at, msg string }

func (w want) String() string { return w.at + " ~ " + w.msg }

// check loads files (name -> content) as one tree and compares the
// diagnostics with wants, position, object and field exactly, message by fragment.
func check(t *testing.T, files map[string]string, wants ...want) {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, diags := Load(dir)
	var got []string
	for _, d := range diags {
		file, _ := filepath.Rel(dir, d.File)
		got = append(got, fmt.Sprintf("%s:%d:%d %s %s ~ %s", file, d.Line, d.Column, d.Object(), d.Field, d.Message))
	}
	if len(got) != len(wants) {
		t.Fatalf("got %d diagnostics, want %d:\n%s", len(got), len(wants), strings.Join(got, "\n"))
	}
	for i, w := range wants {
		at, msg, _ := strings.Cut(got[i], " ~ ")
		if at != w.at || !strings.Contains(msg, w.msg) {
			t.Errorf("diagnostic %d:\n got: %s\nwant: %s", i, got[i], w)
		}
	}
}

func doc(kind, name, spec string) string {
	return fmt.Sprintf("apiVersion: wirekeeper.io/v1alpha1\nkind: %s\nmetadata: {name: %s}\nspec:\n%s", kind, name, spec)
}

func TestValidateRules(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		wants []want
	}{
		{"valid tree", map[string]string{"a.yaml": manager + doc("Mirror", "m", "  manager: ovs-a\n  bridge: br0\n  selectAll: true\n  output: {port: tap0}\n")}, nil},
		{"yaml syntax error", map[string]string{"a.yaml": "apiVersion: x\nkind: Mirror: x\n"},
			[]want{{"a.yaml:2:1  ", "YAML syntax error: mapping values are not allowed in this context"}}},
		{"tab indentation", map[string]string{"a.yaml": "kind: Mirror\nspec:\n\tbridge: br0\n"},
			[]want{{"a.yaml:3:1  ", "YAML syntax error: found character that cannot start any token"}}},
		{"unknown field with suggestion", map[string]string{"a.yaml": manager + doc("Mirror", "m", "  manager: ovs-a\n  bridge: br0\n  select_all: true\n  selectSrcPorts: [vm1]\n  output: {port: tap0}\n")},
			[]want{{"a.yaml:12:3 Mirror/m spec.select_all", `unknown field (did you mean "selectAll"?); valid fields: manager, bridge`}}},
		{"unknown top-level field", map[string]string{"a.yaml": manager + "status: {}\n" + doc("Bridge", "br0", "  manager: ovs-a\n")},
			[]want{{"a.yaml:6:1 Bridge/br0 status", "unknown field; a document has apiVersion, kind, metadata, spec"}}},
		{"missing required fields", map[string]string{"a.yaml": manager + doc("Mirror", "m", "  selectAll: true\n")},
			[]want{
				{"a.yaml:10:3 Mirror/m spec.bridge", "is required"},
				{"a.yaml:10:3 Mirror/m spec.manager", "is required"},
				{"a.yaml:10:3 Mirror/m spec.output", "is required"},
			}},
		{"missing envelope", map[string]string{"a.yaml": "metadata: {name: x}\n"},
			[]want{
				{"a.yaml:1:1 ?/x apiVersion", "is required; use apiVersion: wirekeeper.io/v1alpha1"},
				{"a.yaml:1:1 ?/x kind", "is required; valid kinds: OVSManager, Bridge, Mirror"},
			}},
		{"missing spec", map[string]string{"a.yaml": "apiVersion: wirekeeper.io/v1alpha1\nkind: Bridge\nmetadata: {name: br0}\n"},
			[]want{{"a.yaml:1:1 Bridge/br0 spec", "is required for kind Bridge"}}},
		{"wrong types", map[string]string{"a.yaml": manager + doc("Mirror", "m", "  manager: ovs-a\n  bridge: 42\n  selectAll: \"yes\"\n  selectVlans: 10\n  output: {port: tap0}\n")},
			[]want{
				{"a.yaml:11:11 Mirror/m spec.bridge", `expected a string, got integer 42 (quote it: "42")`},
				{"a.yaml:12:14 Mirror/m spec.selectAll", `expected true or false, got string "yes"`},
				{"a.yaml:13:16 Mirror/m spec.selectVlans", "expected a list, got integer 10"},
			}},
		{"label value must be a string", map[string]string{"a.yaml": "apiVersion: wirekeeper.io/v1alpha1\nkind: OVSManager\nmetadata:\n  name: ovs-a\n  labels: {rack: 12}\nspec: {node: n, address: \"unix:/x\"}\n"},
			[]want{{"a.yaml:5:18 OVSManager/ovs-a metadata.labels.rack", `expected a string value, got integer 12 (quote it: "12")`}}},
		{"enum values", map[string]string{"a.yaml": manager + doc("Bridge", "br0", "  manager: ovs-a\n  datapathType: Netdev\n  failMode: closed\n  policy: enforcing\n")},
			[]want{
				{"a.yaml:11:17 Bridge/br0 spec.datapathType", `"Netdev" is not valid (did you mean "netdev"?); valid values: system, netdev`},
				{"a.yaml:12:13 Bridge/br0 spec.failMode", `"closed" is not valid; valid values: standalone, secure`},
				{"a.yaml:13:11 Bridge/br0 spec.policy", `"enforcing" is not valid (did you mean "enforce"?); valid values: enforce, observe`},
			}},
		{"unknown kind", map[string]string{"a.yaml": doc("Mirrors", "m", "  x: 1\n")},
			[]want{{"a.yaml:2:7 Mirrors/m kind", `unknown kind "Mirrors" (did you mean "Mirror"?); valid kinds:`}}},
		{"unknown apiVersion", map[string]string{"a.yaml": strings.Replace(manager, "v1alpha1", "v1", 1)},
			[]want{{"a.yaml:1:13 OVSManager/ovs-a apiVersion", `unknown apiVersion "wirekeeper.io/v1"; valid: wirekeeper.io/v1alpha1`}}},
		{"invalid names", map[string]string{"a.yaml": doc("OVSManager", "Ovs_A", "  node: node-a\n  address: unix:/x\n") + "---\n" +
			doc("OVSManager", strings.Repeat("a", 64), "  node: node-a\n  address: unix:/y\n")},
			[]want{
				{"a.yaml:3:18 OVSManager/Ovs_A metadata.name", "is not valid; expected a lowercase DNS label"},
				{"a.yaml:10:18 OVSManager/" + strings.Repeat("a", 64) + " metadata.name", "64 bytes long, at most 63 allowed"},
			}},
		{"interface names", map[string]string{"a.yaml": manager +
			doc("ContainerPort", "p1", "  node: node-a\n  bridge: br0\n  container: c1\n  interface: eth0123456789abc\n") + "---\n" +
			doc("ContainerPort", "p2", "  node: node-a\n  bridge: br0\n  container: c1\n  interface: eth/0\n") + "---\n" +
			doc("ContainerPort", "p3", "  node: node-a\n  bridge: br0\n  container: c1\n  interface: \"eth 0\"\n") + "---\n" +
			doc("ContainerPort", "p4", "  node: node-a\n  bridge: br0\n  container: c1\n  interface: \"..\"\n")},
			[]want{
				{"a.yaml:13:14 ContainerPort/p1 spec.interface", "16 bytes long, at most 15 allowed; expected a Linux interface name"},
				{"a.yaml:22:14 ContainerPort/p2 spec.interface", "contains '/' or ':'"},
				{"a.yaml:31:14 ContainerPort/p3 spec.interface", "contains whitespace"},
				{"a.yaml:40:14 ContainerPort/p4 spec.interface", "'.' and '..' are not interface names"},
			}},
		{"bridge name defaulted from a long metadata.name", map[string]string{"a.yaml": manager + doc("Bridge", "a-very-long-bridge", "  manager: ovs-a\n")},
			[]want{{"a.yaml:8:18 Bridge/a-very-long-bridge metadata.name", "is used as the OVS bridge name but is not a Linux interface name (18 bytes long, Linux allows at most 15); set spec.bridge"}}},
		{"cidr mac mtu vlan", map[string]string{"a.yaml": manager + doc("ContainerPort", "p", "  node: node-a\n  bridge: br0\n  container: c1\n  interface: eth1\n  addresses: [10.0.0.300/24, 10.0.0.1]\n  macAddress: \"01:00:5e:00:00:01\"\n  mtu: 65536\n  vlan: 4096\n")},
			[]want{
				{"a.yaml:14:15 ContainerPort/p spec.addresses[0]", `"10.0.0.300/24" is not valid: IPv4 field has value >255; expected an address in CIDR notation`},
				{"a.yaml:14:30 ContainerPort/p spec.addresses[1]", `"10.0.0.1" is not valid: not in CIDR notation (address/prefix length); expected`},
				{"a.yaml:15:15 ContainerPort/p spec.macAddress", "a multicast MAC address; an interface needs a unicast one"},
				{"a.yaml:16:8 ContainerPort/p spec.mtu", "65536 is out of range; valid: 68..65535"},
				{"a.yaml:17:9 ContainerPort/p spec.vlan", "4096 is out of range; valid: 0..4095"},
			}},
		{"malformed mac", map[string]string{"a.yaml": manager + doc("ContainerPort", "p", "  node: node-a\n  bridge: br0\n  container: c1\n  interface: eth1\n  macAddress: \"02:42:ac:11:00\"\n")},
			[]want{{"a.yaml:14:15 ContainerPort/p spec.macAddress", "not a MAC address such as 02:42:ac:11:00:02"}}},
		{"gateway outside subnets", map[string]string{"a.yaml": manager + doc("ContainerPort", "p", "  node: node-a\n  bridge: br0\n  container: c1\n  interface: eth1\n  addresses: [192.168.7.2/24]\n  gateway: 192.168.8.1\n")},
			[]want{{"a.yaml:15:12 ContainerPort/p spec.gateway", "192.168.8.1 is not in the subnet of any address (192.168.7.2/24)"}}},
		{"gateway without addresses", map[string]string{"a.yaml": manager + doc("ContainerPort", "p", "  node: node-a\n  bridge: br0\n  container: c1\n  interface: eth1\n  gateway: 192.168.8.1\n")},
			[]want{{"a.yaml:14:12 ContainerPort/p spec.gateway", "needs an address in its subnet"}}},
		{"gateway is own address, network and broadcast addresses", map[string]string{"a.yaml": manager + doc("ContainerPort", "p", "  node: node-a\n  bridge: br0\n  container: c1\n  interface: eth1\n  addresses: [192.168.7.2/24, 10.1.0.0/16, 10.2.255.255/16, 10.3.0.0/31]\n  gateway: 192.168.7.2\n")},
			[]want{
				{"a.yaml:14:31 ContainerPort/p spec.addresses[1]", "10.1.0.0/16 is the network address of its subnet"},
				{"a.yaml:14:44 ContainerPort/p spec.addresses[2]", "10.2.255.255/16 is the broadcast address of its subnet"},
				{"a.yaml:15:12 ContainerPort/p spec.gateway", "192.168.7.2 is the interface's own address"},
			}},
		{"empty secret reference", map[string]string{"a.yaml": doc("SkyDiveExport", "s", "  analyzer: skydive:8082\n  auth: {username: admin, password: {env: \"\"}}\n")},
			[]want{{"a.yaml:6:43 SkyDiveExport/s spec.auth.password.env", "must not be empty"}}},
		{"cidr parse reason", map[string]string{"a.yaml": manager + doc("ContainerPort", "p", "  node: node-a\n  bridge: br0\n  container: c1\n  interface: eth1\n  addresses: [\"2001:db8:ams::15/64\"]\n")},
			[]want{{"a.yaml:14:15 ContainerPort/p spec.addresses[0]", `unexpected character`}}},
		{"mirror output vlan selected, selectAll with lists", map[string]string{"a.yaml": manager + doc("Mirror", "m", "  manager: ovs-a\n  bridge: br0\n  selectAll: true\n  selectVlans: [10, 999]\n  output: {vlan: 999}\n")},
			[]want{
				{"a.yaml:12:14 Mirror/m spec.selectAll", "selectVlans have no effect alongside it"},
				{"a.yaml:13:21 Mirror/m spec.selectVlans[1]", "VLAN 999 is also the output VLAN"},
			}},
		{"routes", map[string]string{"a.yaml": manager + doc("ContainerPort", "p", "  node: node-a\n  bridge: br0\n  container: c1\n  interface: eth1\n  addresses: [192.168.7.2/24, \"2001:db8::5/64\"]\n  gateway: 192.168.7.1\n  routes:\n"+
			"  - {to: 0.0.0.0/0, via: 192.168.7.254}\n"+
			"  - {to: \"::/0\", via: \"2001:db8::1\"}\n"+
			"  - {to: 10.20.0.5/16, via: 192.168.7.254}\n"+
			"  - {to: 10.30.0.0/16, via: \"2001:db8::1\"}\n"+
			"  - {to: 10.40.0.0/16, via: 192.168.9.1}\n"+
			"  - {to: 10.50.0.0/16, via: 192.168.7.2}\n"+
			"  - {to: \"::/0\", via: \"2001:db8::2\"}\n"+
			"  - {to: 192.168.7.0/24, via: 192.168.7.254}\n"+
			"  - {to: default, via: 192.168.7.254}\n")},
			[]want{
				{"a.yaml:17:10 ContainerPort/p spec.routes[0].to", "a second IPv4 default route: spec.gateway 192.168.7.1 is one already"},
				{"a.yaml:19:10 ContainerPort/p spec.routes[2].to", "10.20.0.5/16 has host bits set; the network is 10.20.0.0/16"},
				{"a.yaml:20:29 ContainerPort/p spec.routes[3].via", "2001:db8::1 is not of the destination's family; a route to 10.30.0.0/16 needs an IPv4 next hop"},
				{"a.yaml:21:29 ContainerPort/p spec.routes[4].via", "192.168.9.1 is not in the subnet of any address"},
				{"a.yaml:22:29 ContainerPort/p spec.routes[5].via", "192.168.7.2 is the interface's own address"},
				{"a.yaml:23:10 ContainerPort/p spec.routes[6].to", "a route to ::/0 is already at spec.routes[1]"},
				{"a.yaml:24:10 ContainerPort/p spec.routes[7].to", "192.168.7.0/24 is the subnet of an address in spec.addresses"},
				{"a.yaml:25:10 ContainerPort/p spec.routes[8].to", `"default" is not valid: not in CIDR notation; for a default route write 0.0.0.0/0 (IPv4) or ::/0 (IPv6); expected a network in CIDR notation, e.g. 10.20.0.0/16`},
			}},
		{"ipv6 route without an ipv6 address", map[string]string{"a.yaml": manager + doc("ContainerPort", "p", "  node: node-a\n  bridge: br0\n  container: c1\n  interface: eth1\n  addresses: [192.168.7.2/24]\n  routes: [{to: \"2001:db8:20::/48\", via: \"2001:db8::1\"}]\n")},
			[]want{{"a.yaml:15:42 ContainerPort/p spec.routes[0].via", "needs an IPv6 address in spec.addresses whose subnet holds 2001:db8::1"}}},
		{"too many routes", map[string]string{"a.yaml": manager + doc("ContainerPort", "p", "  node: node-a\n  bridge: br0\n  container: c1\n  interface: eth1\n  addresses: [192.168.7.2/24]\n  routes:\n"+manyRoutes(65))},
			[]want{{"a.yaml:16:3 ContainerPort/p spec.routes", "65 items; at most 64 are allowed"}}},
		{"64 routes are allowed", map[string]string{"a.yaml": manager + doc("ContainerPort", "p", "  node: node-a\n  bridge: br0\n  container: c1\n  interface: eth1\n  addresses: [192.168.7.2/24]\n  routes:\n"+manyRoutes(64))},
			nil},
		{"ipv6 needs mtu 1280", map[string]string{"a.yaml": manager + doc("ContainerPort", "p", "  node: node-a\n  bridge: br0\n  container: c1\n  interface: eth1\n  addresses: [\"2001:db8::5/64\"]\n  gateway: \"2001:db8::1\"\n  mtu: 1200\n")},
			[]want{{"a.yaml:16:8 ContainerPort/p spec.mtu", "1200 is too small for IPv6 addresses"}}},
		{"durations and urls", map[string]string{"a.yaml": doc("CollectorTarget", "c", "  node: node-a\n  netbeam: {url: \"https://user:pw@netbeam.example\"}\n  interval: 2s\n  lag: 15 minutes\n  backfill: 0\n  sliceMax: 48\n  rabbitmq: {url: {env: WIREKEEPER_SECRET_AMQP_URL}, exchange: x}\n  inventory: {mysql: {dsn: {file: wk/dsn}}}\n")},
			[]want{
				{"a.yaml:6:18 CollectorTarget/c spec.netbeam.url", "credentials in the URL are not allowed in the repo"},
				{"a.yaml:7:13 CollectorTarget/c spec.interval", "2s is too short; at least 5s"},
				{"a.yaml:8:8 CollectorTarget/c spec.lag", `"15 minutes" is not a duration: a Go duration such as 90s, 15m or 48h`},
				{"a.yaml:9:13 CollectorTarget/c spec.backfill", `"0" is not a duration: a duration needs a unit, e.g. 0s`},
				{"a.yaml:10:13 CollectorTarget/c spec.sliceMax", `"48" is not a duration: a duration needs a unit, e.g. 48s`},
			}},
		{"analyzer url", map[string]string{"a.yaml": doc("SkyDiveExport", "s", "  analyzer: http://skydive:8082\n") + "---\n" +
			doc("SkyDiveExport", "t", "  node: node-b\n  analyzer: \"ws://skydive:8082\"\n  tls: {caFile: ca.pem, certFile: c.pem}\n")},
			[]want{
				{"a.yaml:5:13 SkyDiveExport/s spec.analyzer", "the scheme must be ws or wss"},
				{"a.yaml:13:8 SkyDiveExport/t spec.tls", "certFile and keyFile go together"},
				{"a.yaml:13:8 SkyDiveExport/t spec.tls", "is not used with a ws:// analyzer"},
			}},
		{"ovsdb address and tls", map[string]string{"a.yaml": doc("OVSManager", "a", "  node: n\n  address: tcp:10.0.0.1\n") + "---\n" +
			doc("OVSManager", "b", "  node: n\n  address: ssl:10.0.0.1:6640\n") + "---\n" +
			doc("OVSManager", "c", "  node: n\n  address: unix:/x\n  tls: {caFile: ca.pem}\n") + "---\n" +
			doc("OVSManager", "d", "  node: n\n  address: ptcp:6640\n")},
			[]want{
				{"a.yaml:6:12 OVSManager/a spec.address", "needs HOST:PORT"},
				{"a.yaml:12:3 OVSManager/b spec.tls", "is required for an ssl: address"},
				{"a.yaml:21:8 OVSManager/c spec.tls", "is only valid with an ssl: address"},
				{"a.yaml:28:12 OVSManager/d spec.address", "ptcp: is a listening method; wirekeeper connects, use tcp:"},
			}},
		{"duplicate kind/name", map[string]string{"a.yaml": manager, "b.yaml": manager},
			[]want{{"b.yaml:3:18 OVSManager/ovs-a metadata.name", "OVSManager/ovs-a is defined twice; first at"}}},
		{"duplicate yaml key", map[string]string{"a.yaml": manager + doc("Bridge", "br0", "  manager: ovs-a\n  manager: ovs-a\n")},
			[]want{{"a.yaml:11:3 Bridge/br0 spec.manager", "duplicate key; first set at line 10"}}},
		{"duplicate mirror name on a bridge", map[string]string{"a.yaml": manager +
			doc("Mirror", "m1", "  manager: ovs-a\n  bridge: br0\n  mirrorName: span\n  selectAll: true\n  output: {vlan: 10}\n") + "---\n" +
			doc("Mirror", "m2", "  manager: ovs-a\n  bridge: br0\n  mirrorName: span\n  selectAll: true\n  output: {vlan: 11}\n")},
			[]want{{"a.yaml:22:15 Mirror/m2 spec.mirrorName", `mirror name "span" on manager "ovs-a" bridge "br0" is already used by Mirror/m1`}}},
		{"mirror name defaults to metadata.name", map[string]string{"a.yaml": manager +
			doc("Mirror", "span", "  manager: ovs-a\n  bridge: br0\n  selectAll: true\n  output: {vlan: 10}\n") + "---\n" +
			doc("Mirror", "m2", "  manager: ovs-a\n  bridge: br0\n  mirrorName: span\n  selectAll: true\n  output: {vlan: 11}\n")},
			[]want{{"a.yaml:21:15 Mirror/m2 spec.mirrorName", "is already used by Mirror/span"}}},
		{"duplicate container port", map[string]string{"a.yaml": manager +
			doc("ContainerPort", "p1", "  node: node-a\n  bridge: br0\n  container: web\n  interface: eth1\n") + "---\n" +
			doc("ContainerPort", "p2", "  node: node-a\n  bridge: br1\n  container: web\n  interface: eth1\n")},
			[]want{{"a.yaml:22:14 ContainerPort/p2 spec.interface", `interface "eth1" of container "web" on node "node-a" is already declared by ContainerPort/p1`}}},
		{"manager does not exist", map[string]string{"a.yaml": manager + doc("Bridge", "br0", "  manager: ovs-b\n")},
			[]want{{"a.yaml:10:12 Bridge/br0 spec.manager", `OVSManager "ovs-b" does not exist (did you mean "ovs-a"?); defined managers: ovs-a`}}},
		{"container port manager ambiguous", map[string]string{"a.yaml": manager + doc("OVSManager", "ovs-b", "  node: node-a\n  address: tcp:127.0.0.1:6640\n") + "---\n" +
			doc("ContainerPort", "p", "  node: node-a\n  bridge: br0\n  container: web\n  interface: eth1\n")},
			[]want{{"a.yaml:17:9 ContainerPort/p spec.node", "the manager is ambiguous: OVSManagers ovs-a, ovs-b all have node \"node-a\"; set spec.manager"}}},
		{"container port with no manager on its node", map[string]string{"a.yaml": manager + doc("ContainerPort", "p", "  node: node-b\n  bridge: br0\n  container: web\n  interface: eth1\n")},
			[]want{{"a.yaml:10:9 ContainerPort/p spec.node", `no OVSManager has node "node-b"`}}},
		{"container port manager on another node", map[string]string{"a.yaml": manager + doc("ContainerPort", "p", "  node: node-b\n  manager: ovs-a\n  bridge: br0\n  container: web\n  interface: eth1\n")},
			[]want{{"a.yaml:11:12 ContainerPort/p spec.manager", `OVSManager "ovs-a" belongs to node "node-a", but this port is on node "node-b"`}}},
		{"literal secrets", map[string]string{"a.yaml": doc("CollectorTarget", "c", "  node: node-a\n  netbeam: {url: \"https://netbeam.example\"}\n  rabbitmq: {url: \"amqp://guest:guest@mq:5672/\", exchange: x}\n  inventory: {mysql: {dsn: {env: WIREKEEPER_SECRET_DSN, file: dsn}}}\n") + "---\n" +
			doc("SkyDiveExport", "s", "  analyzer: skydive:8082\n  auth: {username: admin, password: hunter2}\n")},
			[]want{
				{"a.yaml:7:19 CollectorTarget/c spec.rabbitmq.url", "a literal secret is not allowed in the repository; write url: {env: WIREKEEPER_SECRET_NAME}"},
				{"a.yaml:8:28 CollectorTarget/c spec.inventory.mysql.dsn", "env and file are mutually exclusive"},
				{"a.yaml:15:37 SkyDiveExport/s spec.auth.password", "a literal secret is not allowed in the repository; write password: {env: WIREKEEPER_SECRET_NAME}"},
			}},
		{"secrets and TLS files stay inside what the operator provides", map[string]string{"a.yaml": doc("SkyDiveExport", "s", "  analyzer: skydive:8082\n  auth: {username: x, password: {file: /root/.ssh/id_ed25519}}\n") + "---\n" +
			doc("SkyDiveExport", "t", "  analyzer: wss://skydive:8082\n  auth: {username: x, password: {env: HOME}}\n  tls: {caFile: ../../etc/shadow, certFile: tls/./c.pem, keyFile: .hidden/k.pem}\n") + "---\n" +
			doc("SkyDiveExport", "u", "  analyzer: sky-u:8082\n  auth: {username: x, password: {file: /etc/wirekeeper/secrets/sky}}\n") + "---\n" +
			doc("SkyDiveExport", "v", "  analyzer: sky-v:8082\n  auth: {username: x, password: {file: \"a//b\"}}\n")},
			[]want{
				{"a.yaml:6:40 SkyDiveExport/s spec.auth.password.file", `"/root/.ssh/id_ed25519" is not valid: an absolute path; the daemon reads secret and TLS files only from its secrets directory (--secrets-dir, default /etc/wirekeeper/secrets) and names them relative to it; expected a file name inside the daemon's secrets directory`},
				{"a.yaml:13:39 SkyDiveExport/t spec.auth.password.env", `"HOME" is not valid; expected an environment variable name starting with WIREKEEPER_SECRET_`},
				{"a.yaml:14:17 SkyDiveExport/t spec.tls.caFile", `"../../etc/shadow" is not valid: has a '..' segment: it must stay inside the secrets directory`},
				{"a.yaml:14:45 SkyDiveExport/t spec.tls.certFile", `has a '.' segment`},
				{"a.yaml:14:67 SkyDiveExport/t spec.tls.keyFile", `has a segment starting with '.' (.hidden)`},
				{"a.yaml:21:40 SkyDiveExport/u spec.auth.password.file", `and names them relative to it: write sky;`},
				{"a.yaml:28:40 SkyDiveExport/v spec.auth.password.file", `has an empty segment`},
			}},
		{"mirror selects nothing, output both and port conflict", map[string]string{"a.yaml": manager +
			doc("Mirror", "m1", "  manager: ovs-a\n  bridge: br0\n  output: {port: tap0, vlan: 10}\n") + "---\n" +
			doc("Mirror", "m2", "  manager: ovs-a\n  bridge: br0\n  selectDstPorts: [vm1, tap0]\n  output: {port: tap0}\n") + "---\n" +
			doc("Mirror", "m3", "  manager: ovs-a\n  bridge: br0\n  selectAll: true\n  output: {}\n")},
			[]want{
				{"a.yaml:10:3 Mirror/m1 spec", "selects nothing; set selectAll: true or at least one of"},
				{"a.yaml:12:11 Mirror/m1 spec.output", "port and vlan are mutually exclusive"},
				{"a.yaml:20:25 Mirror/m2 spec.selectDstPorts[1]", `port "tap0" is also the output port`},
				{"a.yaml:30:11 Mirror/m3 spec.output", "set exactly one of port or containerPort or vlan"},
			}},
		{"mirror container ports: unknown, on another bridge, both selected and output, output alongside port", map[string]string{"a.yaml": manager +
			doc("ContainerPort", "web-eth1", "  node: node-a\n  bridge: br0\n  container: web\n  interface: eth1\n") + "---\n" +
			doc("ContainerPort", "db-eth1", "  node: node-a\n  bridge: br1\n  container: db\n  interface: eth1\n") + "---\n" +
			doc("Mirror", "m1", "  manager: ovs-a\n  bridge: br0\n  selectSrcContainerPorts: [web-eth2, db-eth1]\n  output: {containerPort: webeth1}\n") + "---\n" +
			doc("Mirror", "m2", "  manager: ovs-a\n  bridge: br0\n  selectDstContainerPorts: [web-eth1]\n  output: {containerPort: web-eth1, port: tap0}\n")},
			[]want{
				{"a.yaml:30:29 Mirror/m1 spec.selectSrcContainerPorts[0]", `ContainerPort "web-eth2" does not exist (did you mean "web-eth1"?); defined ContainerPorts: db-eth1, web-eth1`},
				{"a.yaml:30:39 Mirror/m1 spec.selectSrcContainerPorts[1]", `ContainerPort "db-eth1" is on manager "ovs-a" bridge "br1"`},
				{"a.yaml:31:27 Mirror/m1 spec.output.containerPort", `ContainerPort "webeth1" does not exist (did you mean "web-eth1"?)`},
				{"a.yaml:39:29 Mirror/m2 spec.selectDstContainerPorts[0]", `ContainerPort "web-eth1" is also the output`},
				{"a.yaml:40:11 Mirror/m2 spec.output", "port and containerPort are mutually exclusive"},
			}},
		{"mirror container ports valid", map[string]string{"a.yaml": manager +
			doc("ContainerPort", "web-eth1", "  node: node-a\n  bridge: br0\n  container: web\n  interface: eth1\n") + "---\n" +
			doc("ContainerPort", "tap", "  node: node-a\n  bridge: br0\n  container: capture\n  interface: eth1\n") + "---\n" +
			doc("Mirror", "m", "  manager: ovs-a\n  bridge: br0\n  selectSrcContainerPorts: [web-eth1]\n  selectDstContainerPorts: [web-eth1]\n  output: {containerPort: tap}\n")}, nil},
		{"suspend annotation", map[string]string{"a.yaml": "apiVersion: wirekeeper.io/v1alpha1\nkind: OVSManager\nmetadata:\n  name: ovs-a\n  annotations:\n    wirekeeper.io/suspend: \"yes\"\n    wirekeeper.io/pause: \"true\"\nspec: {node: n, address: \"unix:/x\"}\n"},
			[]want{
				{"a.yaml:6:28 OVSManager/ovs-a metadata.annotations.wirekeeper.io/suspend", `"yes" is not valid; valid values: "true", "false"`},
				{"a.yaml:7:26 OVSManager/ovs-a metadata.annotations.wirekeeper.io/pause", `unknown wirekeeper annotation (did you mean "wirekeeper.io/suspend"?); known: wirekeeper.io/suspend`},
			}},
		{"reserved external id", map[string]string{"a.yaml": manager + doc("Bridge", "br0", "  manager: ovs-a\n  externalIds: {wirekeeper.io/owner: me, site: ams}\n")},
			[]want{{"a.yaml:11:38 Bridge/br0 spec.externalIds.wirekeeper.io/owner", "keys under wirekeeper.io/ are reserved"}}},
		{"duplicate list items", map[string]string{"a.yaml": manager + doc("Mirror", "m", "  manager: ovs-a\n  bridge: br0\n  selectVlans: [10, 20, 10]\n  output: {vlan: 30}\n")},
			[]want{{"a.yaml:12:25 Mirror/m spec.selectVlans[2]", `"10" is listed twice (also at index 0)`}}},
		{"skydive export twice for one node", map[string]string{"a.yaml": doc("SkyDiveExport", "all", "  analyzer: skydive:8082\n") + "---\n" +
			doc("SkyDiveExport", "one", "  node: node-a\n  analyzer: skydive:8082\n")},
			[]want{{"a.yaml:11:9 SkyDiveExport/one spec.node", "SkyDiveExport/all already publishes every node to skydive:8082"}}},
		{"document not a mapping", map[string]string{"a.yaml": "- a\n- b\n"},
			[]want{{"a.yaml:1:1  ", "a document must be a mapping with apiVersion, kind, metadata and spec"}}},
		{"merge keys refused", map[string]string{"a.yaml": doc("OVSManager", "a", "  <<: {node: n}\n  address: unix:/x\n")},
			[]want{
				{"a.yaml:5:3 OVSManager/a spec.node", "is required"},
				{"a.yaml:5:3 OVSManager/a spec", "merge keys (<<) are not supported; write the fields out"},
			}},
		{"aliases are followed", map[string]string{"a.yaml": manager + doc("Mirror", "m", "  manager: ovs-a\n  bridge: br0\n  selectSrcPorts: &ports [vm1, vm2]\n  selectDstPorts: *ports\n  output: {vlan: 9}\n")}, nil},
		{"not a document", map[string]string{"a.yaml": "base: &b {node: n}\n"},
			[]want{{"a.yaml:1:1  apiVersion", "is required"}, {"a.yaml:1:1  base", "unknown field; a document has"}, {"a.yaml:1:1  kind", "is required"}, {"a.yaml:1:1  metadata", "is required"}}},
		{"hidden files and folders ignored, .yml read", map[string]string{".hidden.yaml": "garbage: [", ".git/x.yaml": "garbage: [", "notes.txt": "garbage: [", "a.yml": manager}, nil},
		{"empty documents ignored", map[string]string{"a.yaml": "---\n# only a comment\n---\n" + manager + "---\n"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { check(t, tc.files, tc.wants...) })
	}
}

func TestFileRules(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("latin1.yaml", []byte("apiVersion: wirekeeper.io/v1alpha1\nkind: OVSManager\nmetadata: {name: caf\xe9}\n"))
	write("huge.yaml", []byte("# "+strings.Repeat("x", MaxFileSize)+"\n"))
	outside := filepath.Join(t.TempDir(), "outside.yaml")
	if err := os.WriteFile(outside, []byte(manager), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "escape.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../x/../../etc/passwd.yaml", filepath.Join(dir, "relative-escape.yaml")); err != nil {
		t.Fatal(err)
	}
	// A link inside the tree is followed: its object is read (and here
	// duplicates the target's, which proves it was read).
	write("real.yaml", []byte(manager))
	if err := os.Symlink("real.yaml", filepath.Join(dir, "alias.yaml")); err != nil {
		t.Fatal(err)
	}

	_, diags := Load(dir)
	var got []string
	for _, d := range diags {
		file, _ := filepath.Rel(dir, d.File)
		got = append(got, fmt.Sprintf("%s:%d:%d %s", file, d.Line, d.Column, d.Message))
	}
	wantPrefixes := []string{
		"escape.yaml:1:1 symlink to \"" + outside + "\" leaves the spec tree",
		"huge.yaml:1:1 file is larger than 1 MiB; split it into several files",
		"latin1.yaml:3:21 file is not valid UTF-8",
		"real.yaml:3:18 OVSManager/ovs-a is defined twice; first at " + filepath.Join(dir, "alias.yaml") + ":1:1",
		"relative-escape.yaml:1:1 symlink to \"../x/../../etc/passwd.yaml\" leaves the spec tree",
	}
	if len(got) != len(wantPrefixes) {
		t.Fatalf("got %d diagnostics, want %d:\n%s", len(got), len(wantPrefixes), strings.Join(got, "\n"))
	}
	for i := range got {
		if !strings.HasPrefix(got[i], wantPrefixes[i]) {
			t.Errorf("diagnostic %d:\n got: %s\nwant prefix: %s", i, got[i], wantPrefixes[i])
		}
	}
}

func TestDefaults(t *testing.T) {
	objs, diags := Decode("a.yaml", []byte(manager+doc("Bridge", "br-int", "  manager: ovs-a\n")+"---\n"+
		doc("CollectorTarget", "c", "  node: n\n  netbeam: {url: \"https://nb.example\"}\n  rabbitmq: {url: {env: WIREKEEPER_SECRET_U}, exchange: x}\n  inventory: {mysql: {dsn: {env: WIREKEEPER_SECRET_D}}}\n")))
	diags = append(diags, Validate(objs)...)
	if len(diags) != 0 {
		t.Fatalf("unexpected diagnostics: %v", diags)
	}
	got := []any{objs[0].Spec, objs[1].Spec, objs[2].Spec}
	wantCollector := &CollectorTargetSpec{
		Node:     "n",
		Netbeam:  &Netbeam{URL: "https://nb.example", Network: "esnet/prod", Metrics: []string{"traffic", "errors", "discards"}},
		Interval: Duration(60e9), Lag: Duration(15 * 60e9), Backfill: Duration(2 * 60e9), SliceMax: Duration(48 * 3600e9),
		RabbitMQ: &RabbitMQ{URL: &Secret{Env: "WIREKEEPER_SECRET_U"}, Exchange: "x", ExchangeType: "topic",
			InterfacesRoutingKey: "esnet_interfaces", StatsRoutingKey: "esnet_traffic", MaxQueueDepth: 50000},
		Inventory: &Inventory{MySQL: &MySQLInventory{DSN: &Secret{Env: "WIREKEEPER_SECRET_D"}, Table: "esnet_interfaces"}},
		Policy:    PolicyEnforce,
	}
	want := []any{
		&OVSManagerSpec{Node: "node-a", Address: "unix:/run/openvswitch/db.sock", Database: "Open_vSwitch", Policy: PolicyEnforce},
		&BridgeSpec{Manager: "ovs-a", Bridge: "br-int", DatapathType: "system", Policy: PolicyEnforce},
		wantCollector,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
}

func TestObjectPositionAndSuspend(t *testing.T) {
	src := "apiVersion: wirekeeper.io/v1alpha1\nkind: Mirror\nmetadata:\n  name: m\n  annotations: {wirekeeper.io/suspend: \"true\"}\nspec:\n  manager: a\n  bridge: br0\n  selectAll: true\n  output:\n    vlan: 7\n"
	objs, diags := Decode("m.yaml", []byte(src))
	if len(diags) != 0 || len(objs) != 1 {
		t.Fatalf("decode: %v", diags)
	}
	o := objs[0]
	got := []string{o.Position("spec.output.vlan").String(), o.Position("spec.output.port").String(), o.Position("spec.policy").String(), o.ID()}
	want := []string{"m.yaml:11:11", "m.yaml:11:5", "m.yaml:7:3", "Mirror/m"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("positions (-want +got):\n%s", diff)
	}
	if !o.Suspended() {
		t.Error("Suspended() = false, want true")
	}
}

// manyRoutes is n valid items of a ContainerPort's spec.routes in block style.
func manyRoutes(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "  - {to: 10.%d.%d.0/24, via: 192.168.7.1}\n", i/256, i%256)
	}
	return b.String()
}

// TestMirrorDependsOnItsContainerPorts: the engine orders a Mirror after
// the ContainerPorts it selects or outputs to, as after its manager.
func TestMirrorDependsOnItsContainerPorts(t *testing.T) {
	set, diags := LoadFS(fstest.MapFS{"a.yaml": &fstest.MapFile{Data: []byte(manager +
		doc("ContainerPort", "web-eth1", "  node: node-a\n  bridge: br0\n  container: web\n  interface: eth1\n") + "---\n" +
		doc("ContainerPort", "tap", "  node: node-a\n  bridge: br0\n  container: capture\n  interface: eth1\n") + "---\n" +
		doc("Mirror", "m", "  manager: ovs-a\n  bridge: br0\n  selectSrcContainerPorts: [web-eth1]\n  selectDstContainerPorts: [web-eth1]\n  output: {containerPort: tap}\n"))}}, "")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	want := []string{"OVSManager/ovs-a", "ContainerPort/web-eth1", "ContainerPort/tap"}
	if diff := cmp.Diff(want, set.Dependencies()["Mirror/m"]); diff != "" {
		t.Errorf("dependencies of Mirror/m (-want +got):\n%s", diff)
	}
}
