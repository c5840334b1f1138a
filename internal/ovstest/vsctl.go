package ovstest

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// vsctlTimeout bounds how long ovs-vsctl waits for ovsdb-server and, for
// modifying commands, for ovs-vswitchd.
const vsctlTimeout = "--timeout=10"

// Vsctl runs `ovs-vsctl --db=db --timeout=10 args...` and returns its
// standard output without the trailing newline; a failure fails t with
// ovs-vsctl's standard error. Use it on the shared harness's servers
// (db = testenv.OVSDB(t)); modifying commands wait for ovs-vswitchd to apply
// them, so on a database that has none pass "--no-wait" first.
func Vsctl(t testing.TB, db string, args ...string) string {
	t.Helper()
	need(t, false, "ovs-vsctl")
	out, err := vsctl(nil, db, false, args...)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return out
}

// Vsctl is the package's Vsctl on o.DB, plus --no-wait while o has no
// running ovs-vswitchd (a modifying command would otherwise wait for it
// until the timeout).
func (o *OVS) Vsctl(t testing.TB, args ...string) string {
	t.Helper()
	out, err := vsctl(o.env, o.DB, !o.vswitchd, args...)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return out
}

func vsctl(env []string, db string, noWait bool, args ...string) (string, error) {
	full := make([]string, 0, len(args)+3)
	full = append(full, "--db="+db, vsctlTimeout)
	if noWait {
		full = append(full, "--no-wait")
	}
	out, err := command(env, "ovs-vsctl", append(full, args...)...)
	return strings.TrimSuffix(out, "\n"), err
}

// AddBridge adds the userspace-datapath bridge name (`add-br name -- set
// Bridge name datapath_type=netdev`). With a running ovs-vswitchd it returns
// once vswitchd has created the bridge.
func (o *OVS) AddBridge(t testing.TB, name string) {
	t.Helper()
	o.Vsctl(t, "add-br", name, "--", "set", "Bridge", name, "datapath_type=netdev")
}

// AddPortsChunk is how many ports AddPorts adds per ovs-vsctl invocation.
const AddPortsChunk = 1000

// AddPorts adds an internal port (Port and Interface of type internal) to
// bridge for each name, which must be new, AddPortsChunk ports per ovs-vsctl
// invocation (one OVSDB transaction each). Pass noWait when no ovs-vswitchd
// serves db; with one, every port becomes a tap device in vswitchd's
// namespace, which is much slower than the database alone.
//
// Each invocation creates the rows with `--id=@iN create Interface` and
// `--id=@pN create Port` and attaches them all with one
// `add Bridge BR ports @p0 @p1 ...`: ovs-vsctl's add-port rewrites the
// bridge's whole port set once per port, which made the 7th chunk of 1,000
// alone exceed 10 s, while this takes about 0.25 s per chunk at 10,000 ports.
// Unlike add-port it does not check that a name is free.
func AddPorts(t testing.TB, db, bridge string, names []string, noWait bool) {
	t.Helper()
	need(t, false, "ovs-vsctl")
	if err := addPorts(nil, db, bridge, names, noWait); err != nil {
		t.Fatalf("%v", err)
	}
}

// AddPorts is the package's AddPorts on o.DB, with --no-wait while o has no
// running ovs-vswitchd.
func (o *OVS) AddPorts(t testing.TB, bridge string, names []string) {
	t.Helper()
	if err := addPorts(o.env, o.DB, bridge, names, !o.vswitchd); err != nil {
		t.Fatalf("%v", err)
	}
}

func addPorts(env []string, db, bridge string, names []string, noWait bool) error {
	for start := 0; start < len(names); start += AddPortsChunk {
		chunk := names[start:min(start+AddPortsChunk, len(names))]
		args := make([]string, 0, 13*len(chunk)+5)
		refs := make([]string, 0, len(chunk))
		for i, p := range chunk {
			iface, port := fmt.Sprintf("@i%d", i), fmt.Sprintf("@p%d", i)
			args = append(args,
				"--", "--id="+iface, "create", "Interface", "name="+p, "type=internal",
				"--", "--id="+port, "create", "Port", "name="+p, "interfaces="+iface)
			refs = append(refs, port)
		}
		args = append(append(args, "--", "add", "Bridge", bridge, "ports"), refs...)
		if _, err := vsctl(env, db, noWait, args...); err != nil {
			return fmt.Errorf("ovstest: adding ports %d-%d of %d: %w", start, start+len(chunk)-1, len(names), err)
		}
	}
	return nil
}

// StatsUpdateInterval is how often ovs-vswitchd writes the statistics
// columns of Interface, Port and Mirror to OVSDB: the default of
// Open_vSwitch other_config:stats-update-interval, which is also its minimum.
const StatsUpdateInterval = 5 * time.Second

// StatsWait is how long to poll a statistics column for traffic to show:
// two update intervals, so a write that just missed one tick still lands.
const StatsWait = 2 * StatsUpdateInterval

// InterfaceStats returns Interface iface's statistics column (rx_packets,
// tx_packets, rx_bytes, ...) as ovs-vswitchd last wrote it, which may be up
// to StatsUpdateInterval old. RxPackets reads a live counter instead.
func InterfaceStats(t testing.TB, db, iface string) map[string]int {
	t.Helper()
	return stats(t, db, "Interface", iface)
}

// MirrorStats returns Mirror mirror's statistics column (tx_packets,
// tx_bytes) as ovs-vswitchd last wrote it, up to StatsUpdateInterval old;
// it is empty until vswitchd first writes it.
func MirrorStats(t testing.TB, db, mirror string) map[string]int {
	t.Helper()
	return stats(t, db, "Mirror", mirror)
}

// WaitStat polls the statistics column of the table's record name until key
// reaches at least want, and returns the value seen; after StatsWait it fails
// t with the last statistics read.
func WaitStat(t testing.TB, db, table, name, key string, want int) int {
	t.Helper()
	deadline := time.Now().Add(StatsWait)
	for {
		s := stats(t, db, table, name)
		if s[key] >= want {
			return s[key]
		}
		if time.Now().After(deadline) {
			t.Fatalf("ovstest: %s %s statistics:%s did not reach %d within %v: %v",
				table, name, key, want, StatsWait, s)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func stats(t testing.TB, db, table, name string) map[string]int {
	t.Helper()
	need(t, false, "ovs-vsctl")
	out, err := vsctl(nil, db, false, "get", table, name, "statistics")
	if err != nil {
		t.Fatalf("%v", err)
	}
	m, err := parseStats(out)
	if err != nil {
		t.Fatalf("ovstest: %s %s statistics: %v", table, name, err)
	}
	return m
}

// parseStats parses an ovs-vsctl map of integers, "{rx_packets=3, tx_bytes=0}".
func parseStats(s string) (map[string]int, error) {
	s = strings.TrimSpace(s)
	if !strings.HasPrefix(s, "{") || !strings.HasSuffix(s, "}") {
		return nil, fmt.Errorf("not a map: %q", s)
	}
	m := map[string]int{}
	body := strings.TrimSpace(s[1 : len(s)-1])
	if body == "" {
		return m, nil
	}
	for _, kv := range strings.Split(body, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok {
			return nil, fmt.Errorf("no '=' in %q of %q", kv, s)
		}
		n, err := strconv.Atoi(strings.Trim(v, `"`))
		if err != nil {
			return nil, fmt.Errorf("value of %s in %q: %w", k, s, err)
		}
		m[strings.Trim(k, `"`)] = n
	}
	return m, nil
}

// MirrorsPerBridge is how many mirrors ovs-vswitchd applies on a bridge
// (its MAX_MIRRORS); past it a mirror is ignored.
const MirrorsPerBridge = 32

// AddMirrorHost builds the database of a host for n mirrors, as the
// benchmarks use it: ceil(n/32) bridges br0, br1, ... (netdev), each with
// the internal ports pI-0 to pI-31 and outI, 30 bridges per ovs-vsctl
// call (add-br alone rewrites the bridge set and reads the growing
// database each call). With mirrors, it also adds mirror mK on bridge
// K/32, selecting pI-(K%32) and output to outI, as ovs-vsctl users make
// them. It returns the number of bridges.
func (o *OVS) AddMirrorHost(t testing.TB, n int, mirrors bool) int {
	t.Helper()
	const bridgesPerCall = 30
	bridges := (n + MirrorsPerBridge - 1) / MirrorsPerBridge
	for first := 0; first < bridges; first += bridgesPerCall {
		var args []string
		for i := first; i < min(first+bridgesPerCall, bridges); i++ {
			br := "br" + strconv.Itoa(i)
			args = append(args, "--", "add-br", br, "--", "set", "Bridge", br, "datapath_type=netdev")
			var ports, ms []string
			for j := range MirrorsPerBridge + 1 {
				name, ref := fmt.Sprintf("p%d-%d", i, j), fmt.Sprintf("@p%d_%d", i, j)
				if j == MirrorsPerBridge {
					name = "out" + strconv.Itoa(i)
				}
				iface := fmt.Sprintf("@i%d_%d", i, j)
				args = append(args, "--", "--id="+iface, "create", "Interface", "name="+name, "type=internal",
					"--", "--id="+ref, "create", "Port", "name="+name, "interfaces="+iface)
				ports = append(ports, ref)
			}
			for j := 0; mirrors && j < min(MirrorsPerBridge, n-i*MirrorsPerBridge); j++ {
				m := fmt.Sprintf("@m%d_%d", i, j)
				args = append(args, "--", "--id="+m, "create", "Mirror", fmt.Sprintf("name=m%d", i*MirrorsPerBridge+j),
					fmt.Sprintf("select_src_port=@p%d_%d", i, j), fmt.Sprintf("output_port=@p%d_%d", i, MirrorsPerBridge))
				ms = append(ms, m)
			}
			args = append(append(args, "--", "add", "Bridge", br, "ports"), ports...)
			if len(ms) > 0 {
				args = append(append(args, "--", "add", "Bridge", br, "mirrors"), ms...)
			}
		}
		o.Vsctl(t, args...)
	}
	return bridges
}
