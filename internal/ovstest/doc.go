// Package ovstest gives the OVSDB provider's integration tests and benchmarks
// real Open vSwitch instances, real packets through them, and the
// ovs-vsctl-per-mirror peer (OVSMirrorWatch) to measure against.
//
// This is test-only code: it is imported only from _test.go files and
// benchmarks, never from product code. Product code must not shell out; this
// package does, through os/exec, running ovsdb-tool, ovsdb-server,
// ovs-vswitchd, ovs-vsctl, ovs-appctl, ip, ethtool and ping (or busybox ping).
// Network namespaces need root.
//
// Start gives a test a private ovsdb-server (and, with Options.Vswitchd, an
// ovs-vswitchd with the userspace datapath in a network namespace of its own)
// that the test may stop and restart; the shared harness's servers
// (testenv.OVSDB, wrapped by Shared) must never be restarted. Everything is
// stopped and removed in t.Cleanup. When the Open vSwitch binaries are not
// installed a test is skipped, or fails when WIREKEEPER_REQUIRE_INTEGRATION=1,
// following internal/testenv.
//
// AddHost and AddSinkPort wire network namespaces to a bridge with veth pairs
// so a test can ping across the bridge and count what a mirror delivers.
// Count delivered packets with RxPackets, which reads the kernel's counter
// at once. Open vSwitch 3.1 keeps datapath flows that predate a mirror
// change: call OVS.PurgeFlows after adding or removing a mirror and before
// sending the traffic to count. InterfaceStats and MirrorStats read the
// statistics columns that ovs-vswitchd writes to OVSDB only every
// other_config:stats-update-interval milliseconds (default and minimum 5000):
// a test reading them must poll for at least StatsUpdateInterval plus a
// margin (WaitStat polls for StatsWait).
package ovstest
