package daemon_test

import (
	"testing"
	"time"

	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/reconciler/daemon"
)

// TestDaemonShutdownIsBounded: once its context ends, Run returns within
// ShutdownTimeout even when an apply hangs on its host, and an apply that
// ends in time is waited for, its outcome in the status pushed last (no
// new apply starts: the objects depending on it stay Pending).
func TestDaemonShutdownIsBounded(t *testing.T) {
	const shutdown = 2 * time.Second
	tests := []struct {
		name  string
		apply time.Duration // how long each apply takes
		ready bool          // whether the last status shows the applied object Ready
	}{
		{name: "an apply outliving the deadline is left", apply: time.Minute},
		{name: "an apply ending in time is waited for", apply: 200 * time.Millisecond, ready: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			r.configure = func(o *daemon.Options) { o.ShutdownTimeout = shutdown }
			r.work.commit("add specs", map[string]string{"specs/ovs.yaml": specs})
			r.provider.SetApplyDelay(tt.apply)
			r.start()
			r.waitFor("an apply in flight", func() bool { return len(r.provider.Begun()) > 0 })
			inFlight := r.provider.Begun()[0]

			start := time.Now()
			r.cancel()
			select {
			case err := <-r.done:
				if err != nil {
					t.Errorf("Run = %v, want nil", err)
				}
			case <-time.After(2 * shutdown):
				t.Fatalf("Run did not return within %v of its context ending (ShutdownTimeout %v)", 2*shutdown, shutdown)
			}
			r.cancel = nil
			t.Logf("Run returned %v after its context ended", time.Since(start).Round(time.Millisecond))
			if !tt.ready {
				return
			}
			ns, _ := r.remoteStatus()
			if ns == nil || ns.Object(inFlight) == nil || ns.Object(inFlight).Phase != reconciler.PhaseReady {
				t.Errorf("last status pushed = %+v, want %s (applied during the shutdown) Ready", ns, inFlight)
			}
		})
	}
}
