// Package dockertest gives the container-port provider's integration tests
// and benchmarks real Docker engines, real containers, and the real
// ovs-docker script to compare against.
//
// This is test-only code: it is imported only from _test.go files and
// benchmarks, never from product code. Product code must not shell out; this
// package does, through os/exec, running the docker.io CLI at /usr/bin/docker
// (never whatever docker comes first on PATH: a newer CLI may not speak the
// engine's API 1.41), dockerd, ip, nsenter, ovs-docker and ovs-vsctl.
// Network namespaces need root.
//
// Shared wraps the harness's dockerd (testenv.DockerHost and DockerImage),
// which every test of the run uses and no test may stop. Start gives a test
// a private dockerd, with the busybox image imported, that the test may stop
// and restart. Containers made by Run and RunN, and private engines, are
// removed in t.Cleanup. When a binary is missing a test is skipped, or fails
// when WIREKEEPER_REQUIRE_INTEGRATION=1, following internal/testenv.
//
// Links and DefaultGateway read a container's network namespace from the
// host (nsenter and iproute2's JSON output), so they work whatever the image
// holds and whether or not the container has an ip command. OVSDocker runs
// Open vSwitch's ovs-docker script inside the network namespace of the
// harness's ovs-vswitchd, where the host ends of its veth pairs must live
// for the userspace datapath to see them.
package dockertest
