package dockertest

import (
	"fmt"
	"strings"
	"testing"
)

// ovsDockerPath is the ovs-docker script of Debian's openvswitch-common.
const ovsDockerPath = "/usr/bin/ovs-docker"

// OVSDocker runs Open vSwitch's `/usr/bin/ovs-docker args...` inside the
// network namespace netns, where the ovs-vswitchd whose run directory is
// ovsDir runs (testenv.OVSNetns for the harness's, with ovsDir the directory
// of testenv.OVSDB's socket): its veth host ends must be created there for
// the userspace datapath to use them. The script's ovs-vsctl finds
// ovsDir/db.sock through OVS_RUNDIR and its docker calls reach this engine
// through DOCKER_HOST and a PATH whose docker is DockerCLI. It returns
// standard output and error interleaved.
//
// ovs-docker exits 0 even when a step after adding the OVS port fails (ip
// link or ip addr in the container, say), having only printed the error, so
// OVSDocker also returns an error when the script exited 0 but wrote to
// standard error. The caller removes the ports it adds (del-port or
// del-ports), before removing their containers.
func (e *Engine) OVSDocker(t testing.TB, ovsDir, netns string, args ...string) (string, error) {
	t.Helper()
	need(t, true, ovsDockerPath, "ip", "ovs-vsctl", "uuidgen")
	env := []string{
		"OVS_RUNDIR=" + ovsDir,
		"DOCKER_HOST=" + e.Host,
		"PATH=" + e.shim + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	}
	res, err := run(env, nil, "ip", append([]string{"netns", "exec", netns, ovsDockerPath}, args...)...)
	out := res.combined
	if err != nil {
		return out, fmt.Errorf("dockertest: ovs-docker %s in netns %s: %w", strings.Join(args, " "), netns, err)
	}
	if s := strings.TrimSpace(res.stderr); s != "" {
		return out, fmt.Errorf("dockertest: ovs-docker %s in netns %s exited 0 but reported: %s",
			strings.Join(args, " "), netns, s)
	}
	return out, nil
}
