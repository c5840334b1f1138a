package reconciler_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wirekeeper/wirekeeper/providers/memory"
	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/spec"
)

const node = "hv1"

// docs builds a spec tree for node hv1: one manager, bridges, and mirrors
// on br0, each given as "name" or "name:key=value".
func docs(bridges []string, mirrors ...string) string {
	var b strings.Builder
	b.WriteString("apiVersion: wirekeeper.io/v1alpha1\nkind: OVSManager\nmetadata: {name: ovs1}\nspec: {node: hv1, address: unix:/run/ovs.sock}\n")
	for _, br := range bridges {
		fmt.Fprintf(&b, "---\napiVersion: wirekeeper.io/v1alpha1\nkind: Bridge\nmetadata: {name: %s}\nspec: {manager: ovs1}\n", br)
	}
	for _, m := range mirrors {
		name, extra, _ := strings.Cut(m, ":")
		policy, annotations := "enforce", ""
		switch extra {
		case "observe":
			policy = "observe"
		case "suspend":
			annotations = `, annotations: {wirekeeper.io/suspend: "true"}`
		}
		fmt.Fprintf(&b, "---\napiVersion: wirekeeper.io/v1alpha1\nkind: Mirror\nmetadata: {name: %s%s}\nspec: {manager: ovs1, bridge: br0, selectAll: true, output: {port: tap0}, policy: %s}\n",
			name, annotations, policy)
	}
	return b.String()
}

func mustSet(t testing.TB, yaml string) *spec.Set {
	t.Helper()
	objs, diags := spec.Decode("test.yaml", []byte(yaml))
	diags = append(diags, spec.Validate(objs)...)
	if diags.HasErrors() {
		t.Fatalf("test spec invalid:\n%v", diags.Err())
	}
	return &spec.Set{Objects: objs}
}

type harness struct {
	t      *testing.T
	e      *reconciler.Engine
	p      *memory.Provider
	cancel context.CancelFunc
	done   chan struct{}
}

func start(t *testing.T, p *memory.Provider, tweak func(*reconciler.Options)) *harness {
	t.Helper()
	if p == nil {
		p = memory.New("test")
	}
	opts := reconciler.Options{Node: node, Providers: []reconciler.Provider{p}, Events: p.Events(), Workers: 4,
		BackoffBase: 20 * time.Millisecond, BackoffMax: 200 * time.Millisecond, Resync: time.Hour}
	if tweak != nil {
		tweak(&opts)
	}
	e, err := reconciler.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, e: e, p: p, cancel: cancel, done: make(chan struct{})}
	go func() { e.Run(ctx); close(h.done) }()
	t.Cleanup(h.stop)
	return h
}

func (h *harness) stop() {
	h.cancel()
	<-h.done
}

func (h *harness) setRevision(hash, msg, yaml string) error {
	h.t.Helper()
	return h.e.SetRevision(context.Background(), reconciler.Revision{Hash: hash, Message: msg}, mustSet(h.t, yaml))
}

// phases returns "Kind/name=Phase" for every object, sorted.
func (h *harness) phases() []string {
	st := h.e.Status()
	var out []string
	for _, o := range st.Objects {
		out = append(out, fmt.Sprintf("%s/%s=%s", o.Kind, o.Name, o.Phase))
	}
	slices.Sort(out)
	return out
}

// waitFor polls cond until it holds or 5 s pass; the engine's own timing
// makes a fixed sleep either slow or flaky.
func (h *harness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s; phases: %v", what, h.phases())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (h *harness) waitPhases(want ...string) {
	h.t.Helper()
	slices.Sort(want)
	h.waitFor(fmt.Sprint(want), func() bool { return cmp.Equal(h.phases(), want) })
}

func ref(kind, name string) reconciler.Ref { return reconciler.Ref{Kind: kind, Name: name} }

func TestEngineCreatesEverythingAndReportsReady(t *testing.T) {
	h := start(t, nil, nil)
	if err := h.setRevision("aaaaaaa1", "init", docs([]string{"br0"}, "m1", "m2")); err != nil {
		t.Fatal(err)
	}
	h.waitPhases("OVSManager/ovs1=Ready", "Bridge/br0=Ready", "Mirror/m1=Ready", "Mirror/m2=Ready")
	st := h.e.Status()
	if st.AppliedRevision != "aaaaaaa1" {
		t.Errorf("AppliedRevision = %q", st.AppliedRevision)
	}
	m1 := st.Object(ref("Mirror", "m1"))
	if m1.Revision != "aaaaaaa1" || m1.Message != "in sync" {
		t.Errorf("m1 = %+v", m1)
	}
	var types []string
	for _, c := range m1.Conditions {
		types = append(types, c.Type+"="+c.Status)
	}
	if diff := cmp.Diff([]string{"Ready=True", "Synced=True"}, types); diff != "" {
		t.Errorf("conditions (-want +got):\n%s", diff)
	}
	if got := h.p.Applies(ref("Mirror", "m1")); !slices.Equal(got, []reconciler.Action{reconciler.ActionCreate}) {
		t.Errorf("applies to m1 = %v, want one create", got)
	}
	// A resync with nothing to do applies nothing.
	h.e.Resync()
	h.waitFor("idle", h.e.Idle)
	if got := len(h.p.Applies(ref("Mirror", "m1"))); got != 1 {
		t.Errorf("after resync, %d applies to m1, want 1", got)
	}
}

func TestEngineOrdersBridgeBeforeMirrorsAndMirrorsBeforePrunedBridge(t *testing.T) {
	h := start(t, nil, nil)
	// The bridge fails at first: its mirrors must wait, not fail.
	h.p.FailApply(ref("Bridge", "br0"), errors.New("ovsdb busy"))
	if err := h.setRevision("r1", "", docs([]string{"br0"}, "m1")); err != nil {
		t.Fatal(err)
	}
	h.waitFor("bridge failed", func() bool {
		o := h.e.Status().Object(ref("Bridge", "br0"))
		return o != nil && o.Phase == reconciler.PhaseFailed
	})
	if m := h.e.Status().Object(ref("Mirror", "m1")); m.Phase != reconciler.PhasePending || !strings.Contains(m.Message, "waiting for Bridge/br0") {
		t.Errorf("mirror while bridge fails: %s %q", m.Phase, m.Message)
	}
	h.p.FailApply(ref("Bridge", "br0"), nil)
	h.waitPhases("OVSManager/ovs1=Ready", "Bridge/br0=Ready", "Mirror/m1=Ready")
	order := h.p.Order()
	if i, j := slices.Index(order, ref("Bridge", "br0")), slices.Index(order, ref("Mirror", "m1")); j < i {
		t.Errorf("mirror applied before bridge: %v", order)
	}

	// Removing both: the mirror goes first. The allow-prune trailer is
	// needed: 2 of 3 owned objects is above the guard's 0.5.
	before := len(h.p.Order())
	if err := h.setRevision("r2", "drop br0\n\nwirekeeper: allow-prune", docs(nil)); err != nil {
		t.Fatal(err)
	}
	h.waitPhases("OVSManager/ovs1=Ready")
	deletes := h.p.Order()[before:]
	if diff := cmp.Diff([]reconciler.Ref{ref("Mirror", "m1"), ref("Bridge", "br0")}, deletes); diff != "" {
		t.Errorf("delete order (-want +got):\n%s", diff)
	}
}

func TestEngineOneFailingObjectDoesNotBlockOthersAndBacksOff(t *testing.T) {
	h := start(t, nil, nil)
	h.p.FailApply(ref("Mirror", "bad"), errors.New("port tap0 not found"))
	if err := h.setRevision("r1", "", docs([]string{"br0"}, "bad", "good1", "good2")); err != nil {
		t.Fatal(err)
	}
	h.waitPhases("OVSManager/ovs1=Ready", "Bridge/br0=Ready", "Mirror/bad=Failed", "Mirror/good1=Ready", "Mirror/good2=Ready")
	bad := h.e.Status().Object(ref("Mirror", "bad"))
	if !strings.Contains(bad.Message, "port tap0 not found") {
		t.Errorf("failed message = %q", bad.Message)
	}
	// Retries continue with growing delays: 20ms doubling, capped at 200ms.
	h.waitFor("four attempts", func() bool { return len(h.p.Applies(ref("Mirror", "bad"))) >= 4 })
	h.p.FailApply(ref("Mirror", "bad"), nil)
	h.waitPhases("OVSManager/ovs1=Ready", "Bridge/br0=Ready", "Mirror/bad=Ready", "Mirror/good1=Ready", "Mirror/good2=Ready")
	var synced reconciler.Condition
	for _, c := range h.e.Status().Object(ref("Mirror", "bad")).Conditions {
		if c.Type == reconciler.ConditionSynced {
			synced = c
		}
	}
	if synced.Status != "True" {
		t.Errorf("Synced after recovery = %+v", synced)
	}
}

func TestEnginePruneGuard(t *testing.T) {
	tests := []struct {
		name      string
		keep      []string // mirrors kept of m1..m4
		message   string
		wantError bool
	}{
		{"half is allowed", []string{"m1", "m2"}, "", false},
		{"more than half is refused", []string{"m1"}, "drop mirrors", true},
		{"trailer allows it", []string{"m1"}, "drop mirrors\n\nwirekeeper: allow-prune", false},
		{"everything refused", nil, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := start(t, memory.New("test", "Mirror"), nil)
			if err := h.setRevision("r1", "", docs(nil, "m1", "m2", "m3", "m4")); err != nil {
				t.Fatal(err)
			}
			h.waitFor("4 created", func() bool { return h.p.Len() == 4 })
			// Something wirekeeper does not own is never counted nor pruned.
			h.p.Put(ref("Mirror", "foreign"), &spec.MirrorSpec{Bridge: "br0"}, false)
			err := h.setRevision("r2", tt.message, docs(nil, tt.keep...))
			var guard *reconciler.PruneGuardError
			if got := errors.As(err, &guard); got != tt.wantError {
				t.Fatalf("SetRevision error = %v, want prune guard error: %v", err, tt.wantError)
			}
			if tt.wantError {
				if guard.Owned != 4 || !strings.Contains(err.Error(), reconciler.AllowPruneTrailer) {
					t.Errorf("guard = %+v, message %q", guard, err)
				}
				if rev, _ := h.e.Revision(); rev.Hash != "r1" {
					t.Errorf("enforced revision after refusal = %q, want r1", rev.Hash)
				}
				return
			}
			h.waitFor("pruned", func() bool { return h.p.Len() == len(tt.keep)+1 })
			if h.p.Live(ref("Mirror", "foreign")) == nil {
				t.Error("the unowned mirror was pruned")
			}
		})
	}
}

func TestEngineSuspendObservePolicyAndDrift(t *testing.T) {
	h := start(t, nil, nil)
	if err := h.setRevision("r1", "", docs([]string{"br0"}, "enf", "obs:observe", "sus:suspend")); err != nil {
		t.Fatal(err)
	}
	// observe: absent, so reported as drifted, never created; suspend: untouched.
	h.waitPhases("OVSManager/ovs1=Ready", "Bridge/br0=Ready", "Mirror/enf=Ready", "Mirror/obs=Drifted", "Mirror/sus=Suspended")
	for _, n := range []string{"obs", "sus"} {
		if got := h.p.Applies(ref("Mirror", n)); len(got) != 0 {
			t.Errorf("%s applied %v", n, got)
		}
	}

	// Somebody changes the enforced mirror: the drift is repaired and logged.
	h.p.Mutate(ref("Mirror", "enf"), func(s any) { s.(*spec.MirrorSpec).Output.Port = "eth9" })
	h.p.Notify(ref("Mirror", "enf"))
	h.waitFor("repair", func() bool {
		st := h.e.Status()
		return len(st.Drift) == 1 && st.Drift[0].Repaired
	})
	ev := h.e.Status().Drift[0]
	want := []reconciler.FieldDiff{{Path: "spec.output.port", From: "tap0", To: "eth9"}}
	if diff := cmp.Diff(want, ev.Diff); diff != "" {
		t.Errorf("drift diff (-want +got):\n%s", diff)
	}
	if ev.Kind != "Mirror" || ev.Name != "enf" || ev.RepairedAt == nil || ev.Policy != "enforce" {
		t.Errorf("drift event = %+v", ev)
	}
	if live := h.p.Live(ref("Mirror", "enf")).(*spec.MirrorSpec); live.Output.Port != "tap0" {
		t.Errorf("live port after repair = %q", live.Output.Port)
	}

	// Under observe, an object that was in sync and drifts is reported only.
	same := h.p.Live(ref("Mirror", "enf")).(*spec.MirrorSpec)
	same.MirrorName = "obs"
	h.p.Put(ref("Mirror", "obs"), same, true)
	h.p.Notify(ref("Mirror", "obs"))
	h.waitFor("obs in sync", func() bool { return h.e.Status().Object(ref("Mirror", "obs")).Phase == reconciler.PhaseReady })
	h.p.Delete(ref("Mirror", "obs"))
	h.p.Notify(ref("Mirror", "obs"))
	h.waitFor("obs drift", func() bool { return len(h.e.Status().Drift) == 2 })
	ev = h.e.Status().Drift[0]
	if ev.Name != "obs" || ev.Repaired || ev.Policy != "observe" || ev.Diff[0].Path != "exists" {
		t.Errorf("observe drift = %+v", ev)
	}
	if h.p.Live(ref("Mirror", "obs")) != nil {
		t.Error("observe policy recreated the mirror")
	}
	if o := h.e.Status().Object(ref("Mirror", "obs")); o.Phase != reconciler.PhaseDrifted || o.LastDrift == nil {
		t.Errorf("obs status = %+v", o)
	}
}

func TestEngineSpecChangeIsAnUpdateNotDrift(t *testing.T) {
	h := start(t, nil, nil)
	if err := h.setRevision("r1", "", docs([]string{"br0"}, "m1")); err != nil {
		t.Fatal(err)
	}
	h.waitPhases("OVSManager/ovs1=Ready", "Bridge/br0=Ready", "Mirror/m1=Ready")
	changed := strings.Replace(docs([]string{"br0"}, "m1"), "port: tap0", "port: tap1", 1)
	if err := h.setRevision("r2", "", changed); err != nil {
		t.Fatal(err)
	}
	h.waitFor("update", func() bool {
		o := h.e.Status().Object(ref("Mirror", "m1"))
		return o.Revision == "r2" && o.Phase == reconciler.PhaseReady
	})
	if got := h.p.Applies(ref("Mirror", "m1")); !slices.Equal(got, []reconciler.Action{reconciler.ActionCreate, reconciler.ActionUpdate}) {
		t.Errorf("applies = %v", got)
	}
	if d := h.e.Status().Drift; len(d) != 0 {
		t.Errorf("a spec change was logged as drift: %+v", d)
	}
}

func TestEngineUnmanagedObjectInTheWayAndNonConverging(t *testing.T) {
	h := start(t, nil, nil)
	h.p.Put(ref("Mirror", "taken"), &spec.MirrorSpec{Bridge: "br0", SelectAll: true}, false)
	h.p.IgnoreApply(ref("Mirror", "stuck"), true)
	if err := h.setRevision("r1", "", docs([]string{"br0"}, "taken", "stuck")); err != nil {
		t.Fatal(err)
	}
	h.waitPhases("OVSManager/ovs1=Ready", "Bridge/br0=Ready", "Mirror/stuck=Degraded", "Mirror/taken=Degraded")
	st := h.e.Status()
	if m := st.Object(ref("Mirror", "taken")).Message; !strings.Contains(m, "did not create") {
		t.Errorf("taken: %q", m)
	}
	if got := h.p.Applies(ref("Mirror", "taken")); len(got) != 0 {
		t.Errorf("unmanaged mirror was changed: %v", got)
	}
	if m := st.Object(ref("Mirror", "stuck")).Message; !strings.HasPrefix(m, "applied, but absent") {
		t.Errorf("stuck: %q", m)
	}
}

func TestEngineObserveErrorIsFailedAndRecovers(t *testing.T) {
	h := start(t, nil, nil)
	h.p.FailObserve(ref("Bridge", "br0"), errors.New("connection refused"))
	if err := h.setRevision("r1", "", docs([]string{"br0"})); err != nil {
		t.Fatal(err)
	}
	h.waitPhases("OVSManager/ovs1=Ready", "Bridge/br0=Failed")
	h.p.FailObserve(ref("Bridge", "br0"), nil)
	h.waitPhases("OVSManager/ovs1=Ready", "Bridge/br0=Ready")
}

func TestEngineKindWithoutProviderIsPending(t *testing.T) {
	h := start(t, memory.New("test", "OVSManager", "Bridge"), nil)
	if err := h.setRevision("r1", "", docs([]string{"br0"}, "m1")); err != nil {
		t.Fatal(err)
	}
	h.waitPhases("OVSManager/ovs1=Ready", "Bridge/br0=Ready", "Mirror/m1=Pending")
	if m := h.e.Status().Object(ref("Mirror", "m1")).Message; !strings.Contains(m, "no provider for kind Mirror") {
		t.Errorf("message = %q", m)
	}
}

func TestEngineShutdownFinishesInFlightApply(t *testing.T) {
	h := start(t, nil, func(o *reconciler.Options) { o.Workers = 1 })
	h.p.SetApplyDelay(150 * time.Millisecond)
	if err := h.setRevision("r1", "", docs(nil)); err != nil {
		t.Fatal(err)
	}
	h.waitFor("apply started", func() bool { return len(h.p.Order()) == 1 })
	h.stop()
	if h.p.Live(ref("OVSManager", "ovs1")) == nil {
		t.Error("the in-flight apply was abandoned by shutdown")
	}
}

func TestEngineRestoreKeepsTransitionTimesAndDriftLog(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	prev := &reconciler.NodeStatus{Node: node, Objects: []reconciler.ObjectStatus{{
		Kind: "OVSManager", Name: "ovs1", Phase: reconciler.PhaseReady,
		Conditions: []reconciler.Condition{{Type: "Ready", Status: "True", Reason: "InSync", LastTransitionTime: t0}},
	}}, Drift: []reconciler.DriftEvent{{Time: t0, Kind: "OVSManager", Name: "ovs1", Repaired: true, Policy: "enforce"}}}
	p := memory.New("test")
	p.Put(ref("OVSManager", "ovs1"), mustSet(t, docs(nil)).Objects[0].Spec, true)
	h := start(t, p, func(o *reconciler.Options) {})
	h.e.Restore(prev)
	if err := h.setRevision("r1", "", docs(nil)); err != nil {
		t.Fatal(err)
	}
	h.waitPhases("OVSManager/ovs1=Ready")
	st := h.e.Status()
	if got := st.Objects[0].Conditions[0].LastTransitionTime; !got.Equal(t0) {
		t.Errorf("Ready transition time = %v, want %v kept from the earlier run", got, t0)
	}
	if len(st.Drift) != 1 || !st.Drift[0].Time.Equal(t0) {
		t.Errorf("drift log = %+v", st.Drift)
	}
}

// TestEngineObjectBackWhileItsPruneRuns puts an object back into the spec
// while its delete is in flight: when the delete ends, the object is not
// forgotten but created again.
func TestEngineObjectBackWhileItsPruneRuns(t *testing.T) {
	h := start(t, nil, nil)
	if err := h.setRevision("r1", "", docs(nil, "m1")); err != nil {
		t.Fatal(err)
	}
	h.waitPhases("OVSManager/ovs1=Ready", "Mirror/m1=Ready")
	h.p.SetApplyDelay(200 * time.Millisecond)
	n := len(h.p.Begun())
	if err := h.setRevision("r2", "wirekeeper: allow-prune", docs(nil)); err != nil {
		t.Fatal(err)
	}
	h.waitFor("the delete started", func() bool { return len(h.p.Begun()) > n })
	if err := h.setRevision("r3", "", docs(nil, "m1")); err != nil {
		t.Fatal(err)
	}
	h.p.SetApplyDelay(0)
	h.waitFor("the delete, then a create", func() bool {
		got := h.p.Applies(ref("Mirror", "m1"))
		return len(got) >= 3 && got[1] == reconciler.ActionDelete && got[len(got)-1] == reconciler.ActionCreate
	})
	h.waitPhases("OVSManager/ovs1=Ready", "Mirror/m1=Ready")
	if h.p.Live(ref("Mirror", "m1")) == nil {
		t.Error("m1 is back in the spec but not live")
	}
}
