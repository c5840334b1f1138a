package dockertest

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/wirekeeper/wirekeeper/internal/testenv"
)

// sharedOVS returns the harness's Open vSwitch run directory, its database
// and vswitchd's network namespace.
func sharedOVS(t *testing.T) (dir, db, netns string) {
	t.Helper()
	db, netns = testenv.OVSDB(t), testenv.OVSNetns(t)
	return filepath.Dir(strings.TrimPrefix(db, "unix:")), db, netns
}

func vsctl(t *testing.T, db string, args ...string) string {
	t.Helper()
	res, err := run(nil, nil, "ovs-vsctl", append([]string{"--db=" + db, "--timeout=10"}, args...)...)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return strings.TrimSpace(res.stdout)
}

// portOf returns the OVS port ovs-docker made for the container's iface.
func portOf(t *testing.T, db, container, iface string) string {
	t.Helper()
	return vsctl(t, db, "--data=bare", "--no-heading", "--columns=name", "find", "Interface",
		"external_ids:container_id="+container, "external_ids:container_iface="+iface)
}

func TestOVSDockerOnSharedOVS(t *testing.T) {
	t.Parallel()
	e := Shared(t)
	ovsDir, db, netns := sharedOVS(t)
	name := testenv.UniqueName(t)
	c1, c2 := name+"-c1", name+"-c2"

	begin := time.Now()
	id := e.Run(t, c1)
	t.Logf("one Run: %v", time.Since(begin))
	if len(id) != 64 {
		t.Errorf("Run returned ID %q, want 64 hex digits", id)
	}
	e.Run(t, c2)
	// Registered after Run, so it runs before the containers are removed.
	t.Cleanup(func() {
		for _, c := range []string{c1, c2} {
			if out, err := e.OVSDocker(t, ovsDir, netns, "del-ports", "br0", c); err != nil {
				t.Errorf("cleanup: %v\n%s", err, out)
			}
			if p := portOf(t, db, c, "eth1") + portOf(t, db, c, "eth2"); p != "" {
				t.Errorf("cleanup: ports %q of %s remain on br0", p, c)
			}
		}
	})

	begin = time.Now()
	if out, err := e.OVSDocker(t, ovsDir, netns, "add-port", "br0", "eth1", c1,
		"--ipaddress=10.77.0.1/24", "--gateway=10.77.0.254", "--macaddress=02:77:00:00:00:01", "--mtu=1400"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	t.Logf("one OVSDocker add-port: %v", time.Since(begin))
	if out, err := e.OVSDocker(t, ovsDir, netns, "add-port", "br0", "eth1", c2, "--ipaddress=10.77.0.2/24"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}

	want := []Link{
		{Name: "lo", Up: true, MTU: 65536, MAC: "00:00:00:00:00:00"},
		{Name: "eth1", Up: true, MTU: 1400, MAC: "02:77:00:00:00:01", Addrs: []string{"10.77.0.1/24"}},
	}
	if diff := cmp.Diff(want, e.Links(t, c1)); diff != "" {
		t.Errorf("Links(%s) after add-port (-want +got):\n%s", c1, diff)
	}
	if gw := e.DefaultGateway(t, c1); gw != "10.77.0.254" {
		t.Errorf("DefaultGateway(%s) = %q, want 10.77.0.254", c1, gw)
	}
	if gw := e.DefaultGateway(t, c2); gw != "" {
		t.Errorf("DefaultGateway(%s) = %q, want none", c2, gw)
	}
	if l, ok := e.Link(t, c2, "eth1"); !ok || !l.Up || !slices.Equal(l.Addrs, []string{"10.77.0.2/24"}) {
		t.Errorf("Link(%s, eth1) = %+v, %v; want up with 10.77.0.2/24", c2, l, ok)
	}

	if err := e.Ping(t, c1, "10.77.0.2"); err != nil {
		t.Errorf("ping over br0: %v", err)
	}
	if err := e.Ping(t, c1, "10.77.0.99"); err == nil {
		t.Errorf("ping of an address nobody holds succeeded")
	}

	port := portOf(t, db, c1, "eth1")
	if !strings.HasSuffix(port, "_l") {
		t.Fatalf("Interface of %s eth1 = %q, want ovs-docker's PORTNAME_l", c1, port)
	}
	if ports := strings.Fields(vsctl(t, db, "list-ports", "br0")); !slices.Contains(ports, port) {
		t.Errorf("list-ports br0 = %q, want it to hold %s", ports, port)
	}
	if out, err := e.OVSDocker(t, ovsDir, netns, "add-port", "br0", "eth1", c1); err == nil ||
		!strings.Contains(out, "Port already attached") {
		t.Errorf("second add-port of %s eth1: err = %v, output %q; want Port already attached", c1, err, out)
	}
	// ovs-docker exits 0 when ip addr add fails; OVSDocker must not.
	if out, err := e.OVSDocker(t, ovsDir, netns, "add-port", "br0", "eth2", c2, "--ipaddress=10.77.0.300/24"); err == nil {
		t.Errorf("add-port with a bad address: no error, output %q", out)
	}

	if out, err := e.OVSDocker(t, ovsDir, netns, "del-port", "br0", "eth1", c1); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if _, ok := e.Link(t, c1, "eth1"); ok {
		t.Errorf("%s still has eth1 after del-port", c1)
	}
	if ports := strings.Fields(vsctl(t, db, "list-ports", "br0")); slices.Contains(ports, port) {
		t.Errorf("list-ports br0 = %q, still holds %s after del-port", ports, port)
	}
	if _, err := run(nil, nil, "ip", "-n", netns, "link", "show", port); err == nil {
		t.Errorf("veth %s still exists in %s after del-port", port, netns)
	}
}

func TestContainerLifecycle(t *testing.T) {
	t.Parallel()
	e := Shared(t)
	c := testenv.UniqueName(t)
	e.Run(t, c, "--label", "wirekeeper.test=1")
	if got := e.Inspect(t, c, `{{index .Config.Labels "wirekeeper.test"}}`); got != "1" {
		t.Errorf("label wirekeeper.test = %q, want 1 (extra args reach docker run)", got)
	}
	if out, err := e.Exec(t, c, "echo", "hello"); err != nil || out != "hello" {
		t.Errorf("Exec echo hello = %q, %v", out, err)
	}
	if _, err := e.Exec(t, c, "false"); err == nil {
		t.Errorf("Exec false: no error")
	}
	pid := e.PID(t, c)

	begin := time.Now()
	e.StopContainer(t, c)
	t.Logf("StopContainer: %v", time.Since(begin))
	if got := e.PID(t, c); got != 0 {
		t.Errorf("PID of a stopped container = %d, want 0", got)
	}
	e.StartContainer(t, c)
	started := e.PID(t, c)
	if started == 0 || started == pid {
		t.Errorf("PID after StartContainer = %d (was %d), want a new one", started, pid)
	}
	e.RestartContainer(t, c)
	if got := e.PID(t, c); got == 0 || got == started {
		t.Errorf("PID after RestartContainer = %d (was %d), want a new one", got, started)
	}
	e.Remove(t, c)
	if _, err := e.DockerErr("inspect", c); err == nil {
		t.Errorf("container %s exists after Remove", c)
	}
}

func TestRunN(t *testing.T) {
	t.Parallel()
	e := Shared(t)
	prefix := testenv.UniqueName(t)
	begin := time.Now()
	ids := e.RunN(t, prefix, 12)
	t.Logf("RunN of 12: %v", time.Since(begin))
	for i, id := range ids {
		if got := e.Inspect(t, fmt.Sprintf("%s-%d", prefix, i), "{{.Id}}"); got != id {
			t.Errorf("ID of %s-%d = %q, RunN returned %q", prefix, i, got, id)
		}
	}
	if got := strings.Fields(e.Docker(t, "ps", "-q", "--filter", "name="+prefix)); len(got) != 12 {
		t.Errorf("running containers named %s*: %d, want 12", prefix, len(got))
	}
}

func TestPrivateEngine(t *testing.T) {
	t.Parallel()
	begin := time.Now()
	e := Start(t)
	t.Logf("private Start (dockerd ready + image imported): %v", time.Since(begin))
	if sock := strings.TrimPrefix(e.Host, "unix://"); len(sock) >= 100 || filepath.Dir(sock) != e.Dir {
		t.Errorf("Host = %q, want a socket in Dir %s shorter than 100 bytes", e.Host, e.Dir)
	}
	if got := e.Docker(t, "images", "-q", Image); got == "" {
		t.Fatalf("image %s missing after Start", Image)
	}

	begin = time.Now()
	e.Run(t, "always", "--restart=always")
	t.Logf("one Run on the private engine: %v", time.Since(begin))
	e.Run(t, "once")
	pid := e.PID(t, "always")
	if links := e.Links(t, "always"); len(links) != 1 || links[0].Name != "lo" {
		t.Errorf("Links of a --network none container = %+v, want lo only", links)
	}

	begin = time.Now()
	e.Stop(t)
	if _, err := e.DockerErr("version"); err == nil {
		t.Errorf("docker version answered while dockerd was stopped")
	}
	e.Start(t)
	t.Logf("private Stop + Start with two containers: %v", time.Since(begin))

	WaitFor(t, 10*time.Second, "container always back after the restart", func() error {
		if got := e.Inspect(t, "always", "{{.State.Running}}"); got != "true" {
			return fmt.Errorf("State.Running = %s", got)
		}
		return nil
	})
	if got := e.PID(t, "always"); got == pid {
		t.Errorf("PID of the restarted container = %d, the same as before the restart", got)
	}
	if got := e.Inspect(t, "once", "{{.State.Running}}"); got != "false" {
		t.Errorf("container without restart policy: State.Running = %s after the restart, want false", got)
	}
	e.Restart(t)
	e.Run(t, "after")
}
