package container_test

import (
	"slices"
	"testing"

	"github.com/wirekeeper/wirekeeper/internal/dockertest"
	"github.com/wirekeeper/wirekeeper/providers/container"
	"github.com/wirekeeper/wirekeeper/reconciler"
)

// TestContainerLifecycle follows one container through Docker's events: a
// spec that arrives before the container exists waits; start plugs; stop
// removes the OVS port and the host end; start again (a new namespace)
// re-plugs with the same config; restart re-plugs; removal cleans up.
func TestContainerLifecycle(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	a := ctrName(t, "l")
	r := newRig(t, env)
	r.apply(env.portDoc("pl", env.bridge, a, "eth1", "addresses: [10.64.0.1/24], gateway: 10.64.0.254"))
	r.waitPhase("pl", reconciler.PhasePending, "no container "+a)
	host := container.HostEnd(container.PortName(env.node, a, "eth1"))

	plugged := func(what string) {
		t.Helper()
		r.waitFor(what, func() bool {
			l, ok := env.docker.Link(t, a, "eth1")
			return ok && l.Up && slices.Equal(l.Addrs, []string{"10.64.0.1/24"}) && env.docker.DefaultGateway(t, a) == "10.64.0.254" &&
				slices.Equal(env.ports(t), []string{host})
		})
		r.waitPhase("pl", reconciler.PhaseReady)
	}
	unplugged := func(what string) {
		t.Helper()
		r.waitFor(what, func() bool { return len(env.ports(t)) == 0 && !slices.Contains(env.hostLinks(t), host) })
	}

	env.docker.Run(t, a)
	plugged("plugged when the container starts after the spec")
	pid := env.docker.PID(t, a)

	env.docker.StopContainer(t, a)
	unplugged("port removed when the container stops")
	r.waitPhase("pl", reconciler.PhasePending, "not running")

	env.docker.StartContainer(t, a)
	plugged("re-plugged when the container starts again")
	if env.docker.PID(t, a) == pid {
		t.Fatalf("the container kept PID %d across stop and start; the test needs a new namespace", pid)
	}

	env.docker.RestartContainer(t, a)
	plugged("re-plugged after docker restart")

	env.docker.Remove(t, a)
	unplugged("port removed with the container")
	r.waitPhase("pl", reconciler.PhasePending, "no container "+a)
}

// TestDockerdRestart restarts dockerd under a plugged container that
// Docker restarts itself: the events stream reconnects, the containers are
// listed again, and the port comes back in the new namespace.
func TestDockerdRestart(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	env.docker = dockertest.Start(t)
	a := ctrName(t, "r")
	env.docker.Run(t, a, "--restart=always")
	r := newRig(t, env)
	r.apply(env.portDoc("pr", env.bridge, a, "eth1", "addresses: [10.65.0.1/24]"))
	r.waitPhase("pr", reconciler.PhaseReady)
	pid := env.docker.PID(t, a)

	env.docker.Restart(t)
	r.waitFor("the port back in the container's new namespace", func() bool {
		if p := env.docker.PID(t, a); p == 0 || p == pid {
			return false
		}
		l, ok := env.docker.Link(t, a, "eth1")
		return ok && l.Up && slices.Equal(l.Addrs, []string{"10.65.0.1/24"}) && len(env.ports(t)) == 1
	})
	r.waitPhase("pr", reconciler.PhaseReady)

	// Events flow again: a stop after the restart is seen.
	env.docker.StopContainer(t, a)
	r.waitPhase("pr", reconciler.PhasePending, "not running")
	r.waitFor("port removed after the stop", func() bool { return len(env.ports(t)) == 0 })
}

// TestRemovedWhileDown removes a port from the spec while the daemon is
// stopped: the first revision of the restarted daemon prunes it (the
// provider waits for its OVSDB connection to list what it owns).
func TestRemovedWhileDown(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	a := ctrName(t, "w")
	env.docker.Run(t, a)
	r := newRig(t, env)
	r.apply(env.portDoc("pw", env.bridge, a, "eth1", "addresses: [10.72.0.1/24]"))
	r.waitPhase("pw", reconciler.PhaseReady)
	r.stop()
	r.start()
	r.apply() // the first revision the new daemon sees no longer has the port
	r.waitFor("port and veth pruned", func() bool {
		_, ok := env.docker.Link(t, a, "eth1")
		return !ok && len(env.ports(t)) == 0
	})
}
