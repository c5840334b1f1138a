package container_test

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wirekeeper/wirekeeper/internal/ovstest"
	"github.com/wirekeeper/wirekeeper/providers/container"
	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/spec"
)

// nothingLeft fails t when anything of ctr's eth1 port is left: an OVS
// port on the bridge, a veth end on the host, or a non-loopback link in
// the container.
func nothingLeft(t *testing.T, env *env, ctr, when string) {
	t.Helper()
	if got := env.ports(t); len(got) != 0 {
		t.Errorf("%s: ports left on %s: %v", when, env.bridge, got)
	}
	if got := vethEnds(t, env, ctr); len(got) != 0 {
		t.Errorf("%s: veth ends left on the host: %v", when, got)
	}
	for _, l := range env.docker.Links(t, ctr) {
		if l.Name != "lo" {
			t.Errorf("%s: link %s left in container %s", when, l.Name, ctr)
		}
	}
}

// vethEnds lists the ends of ctr's eth1 veth pair found on the host.
func vethEnds(t *testing.T, env *env, ctr string) []string {
	t.Helper()
	var out []string
	for _, l := range env.hostLinks(t) {
		if strings.HasPrefix(l, container.PortName(env.node, ctr, "eth1")+"_") {
			out = append(out, l)
		}
	}
	return out
}

// holdRetries lets the next plug run, then holds every later one before
// its first step until release, so that a test can look at what a failed
// plug left without a retry changing it.
func holdRetries(r *rig) (release func()) {
	var mu sync.Mutex
	first, gate := true, make(chan struct{})
	r.p.SetHook(func(s string) error {
		mu.Lock()
		hold := !first && s == container.Steps[0]
		if s == container.Steps[0] {
			first = false
		}
		mu.Unlock()
		if hold {
			<-gate
		}
		return nil
	})
	var once sync.Once
	return func() { once.Do(func() { r.p.SetHook(nil); close(gate) }) }
}

// TestPlugFailureUndone fails each step of a plug in turn: the object is
// Failed with the step's error, nothing of the port is left behind, and
// once the step works again the port converges.
func TestPlugFailureUndone(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	a := ctrName(t, "f")
	env.docker.Run(t, a)
	r := newRig(t, env)
	doc := env.portDoc("pf", env.bridge, a, "eth1", "addresses: [10.66.0.1/24], gateway: 10.66.0.254, mtu: 1400, macAddress: '02:00:00:66:00:01', vlan: 3")
	for _, step := range container.Steps {
		t.Run(step, func(t *testing.T) {
			defer r.use(t)()
			var mu sync.Mutex
			failed, release := false, make(chan struct{})
			r.p.SetHook(func(s string) error {
				mu.Lock()
				defer mu.Unlock()
				if failed && s == container.Steps[0] {
					mu.Unlock()
					<-release // hold the retries before they touch anything
					mu.Lock()
					return nil
				}
				if s == step {
					failed = true
					return fmt.Errorf("injected failure at %s", step)
				}
				return nil
			})
			r.apply(doc)
			r.waitPhase("pf", reconciler.PhaseFailed, "injected failure at "+step)
			nothingLeft(t, env, a, "after a failure at "+step)
			r.p.SetHook(nil)
			close(release)
			r.waitPhase("pf", reconciler.PhaseReady)
			if got := env.ports(t); len(got) != 1 {
				t.Errorf("ports after recovery = %v, want one", got)
			}
			r.apply()
			r.waitFor("port and veth removed", func() bool { return len(env.ports(t)) == 0 && len(vethEnds(t, env, a)) == 0 })
		})
	}
}

// TestCrashMidPlug stops a plug at each step without undoing anything, as
// a daemon killed there would, then starts a new daemon (fresh providers
// and engine) on the same revision: it converges, and exactly one port and
// one veth pair exist.
func TestCrashMidPlug(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	a := ctrName(t, "k")
	env.docker.Run(t, a)
	r := newRig(t, env)
	doc := env.portDoc("pk", env.bridge, a, "eth1", "addresses: [10.67.0.1/24], gateway: 10.67.0.254, mtu: 1400, macAddress: '02:00:00:67:00:01', vlan: 4")
	host := container.HostEnd(container.PortName(env.node, a, "eth1"))
	for _, step := range container.Steps[1:] { // a crash before the first step leaves nothing
		t.Run(step, func(t *testing.T) {
			defer r.use(t)()
			// The plug freezes at the step until the daemon is stopped,
			// then stops there without undoing anything.
			crashed, dead := make(chan struct{}), make(chan struct{})
			r.p.SetHook(func(s string) error {
				if s == step {
					select {
					case <-crashed:
						t.Errorf("a plug ran again after the daemon was stopped")
						return container.ErrCrash
					default:
					}
					close(crashed)
					<-dead
					return container.ErrCrash
				}
				return nil
			})
			r.apply(doc)
			select {
			case <-crashed:
			case <-time.After(20 * time.Second):
				t.Fatalf("the plug never reached step %s", step)
			}
			r.cancel() // the engine ends with the plug in flight
			close(dead)
			r.restart() // the new daemon has no hook
			r.waitPhase("pk", reconciler.PhaseReady)
			if got := env.ports(t); !slices.Equal(got, []string{host}) {
				t.Errorf("ports after restart = %v, want [%s]", got, host)
			}
			if ends := vethEnds(t, env, a); !slices.Equal(ends, []string{host}) {
				t.Errorf("veth ends on the host after restart = %v, want [%s]", ends, host)
			}
			l, ok := env.docker.Link(t, a, "eth1")
			if !ok || !l.Up || l.MTU != 1400 || !slices.Equal(l.Addrs, []string{"10.67.0.1/24"}) {
				t.Errorf("eth1 after restart = %+v (found %v)", l, ok)
			}
			if n := len(env.docker.Links(t, a)); n != 2 {
				t.Errorf("container has %d links, want lo and eth1: %+v", n, env.docker.Links(t, a))
			}
			r.apply()
			r.waitFor("port and veth removed", func() bool { return len(env.ports(t)) == 0 && len(vethEnds(t, env, a)) == 0 })
			nothingLeft(t, env, a, "after removal")
		})
	}
}

// TestCleanErrors covers the failures that come from the live system, not
// from a test hook: a name clash inside the container, a gateway the
// kernel refuses (a spec the validator would refuse, handed to the engine
// directly), and a missing bridge. Each is reported on the object, and
// nothing is left behind.
func TestCleanErrors(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	a := ctrName(t, "e")
	env.docker.Run(t, a)
	r := newRig(t, env)

	t.Run("name clash", func(t *testing.T) {
		defer r.use(t)()
		env.docker.IP(t, a, "link", "add", "eth1", "type", "veth", "peer", "name", "other0")
		r.apply(env.portDoc("pe", env.bridge, a, "eth1", "addresses: [10.68.0.1/24]"))
		r.waitPhase("pe", reconciler.PhaseFailed, "already has an interface eth1")
		if got := env.ports(t); len(got) != 0 {
			t.Errorf("ports left: %v", got)
		}
		env.docker.IP(t, a, "link", "del", "eth1")
		r.waitPhase("pe", reconciler.PhaseReady) // the retry succeeds once the clash is gone
		r.apply()
		r.waitFor("port and veth removed", func() bool { return len(env.ports(t)) == 0 && len(vethEnds(t, env, a)) == 0 })
	})

	t.Run("gateway off-link", func(t *testing.T) {
		defer r.use(t)()
		release := holdRetries(r)
		defer release()
		set := loadSet(t, env.managerDoc("m1"), env.portDoc("pe", env.bridge, a, "eth1", "addresses: [10.68.0.1/24], gateway: 10.68.0.254"))
		set.Get(container.Kind, "pe").Spec.(*spec.ContainerPortSpec).Gateway = "10.99.0.1"
		r.setRevision(set)
		r.waitPhase("pe", reconciler.PhaseFailed, "default route via 10.99.0.1")
		nothingLeft(t, env, a, "after the refused gateway")
		r.apply()
	})

	t.Run("missing bridge", func(t *testing.T) {
		defer r.use(t)()
		br := ovstest.UniquePortName(t, "nb")
		r.apply(env.portDoc("pe", br, a, "eth1", "addresses: [10.68.0.1/24]"))
		r.waitPhase("pe", reconciler.PhasePending, "bridge "+br+" does not exist")
		nothingLeft(t, env, a, "with the bridge missing")
		env.ovs.AddBridge(t, br)
		t.Cleanup(func() { ovstest.Vsctl(t, env.ovs.DB, "--if-exists", "del-br", br) })
		r.waitPhase("pe", reconciler.PhaseReady) // the bridge's arrival wakes the port
		r.apply()
		r.waitFor("port removed", func() bool {
			return strings.TrimSpace(ovstest.Vsctl(t, env.ovs.DB, "list-ports", br)) == ""
		})
	})
}
