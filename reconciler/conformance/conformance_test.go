package conformance

import (
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/spec"
)

const testSpec = `apiVersion: wirekeeper.io/v1alpha1
kind: OVSManager
metadata: {name: ovs1}
spec: {node: hv1, address: "tcp:127.0.0.1:6640"}
---
apiVersion: wirekeeper.io/v1alpha1
kind: Bridge
metadata: {name: br0}
spec: {manager: ovs1, failMode: secure}
---
apiVersion: wirekeeper.io/v1alpha1
kind: Mirror
metadata: {name: m1}
spec:
  manager: ovs1
  bridge: br0
  selectSrcPorts: [p1]
  output: {port: tap0}
`

func loadTestSet(t *testing.T) *spec.Set {
	t.Helper()
	set, diags := spec.LoadFS(fstest.MapFS{"spec.yaml": {Data: []byte(testSpec)}}, "")
	if diags.HasErrors() {
		t.Fatalf("load test spec: %v", diags)
	}
	return set
}

func testCases(t *testing.T, f *fake) []Case {
	set := loadTestSet(t)
	bridge := reconciler.Ref{Kind: "Bridge", Name: "br0"}
	mirror := reconciler.Ref{Kind: "Mirror", Name: "m1"}
	return []Case{{
		Name: "bridge", Set: set, Ref: bridge,
		Update: func(o *spec.Object) { o.Spec.(*spec.BridgeSpec).FailMode = "standalone" },
		Drift:  func(*testing.T) { f.mutate(bridge, func(s any) { s.(*spec.BridgeSpec).DatapathType = "netdev" }) },
	}, {
		Name: "mirror", Set: set, Ref: mirror,
		Update: func(o *spec.Object) { o.Spec.(*spec.MirrorSpec).Output.Port = "tap1" },
		Drift:  func(*testing.T) { f.mutate(mirror, func(s any) { s.(*spec.MirrorSpec).SelectAll = true }) },
	}}
}

// firstFailure runs the checks as Run does, without subtests, and returns
// where the first one failed ("" when all pass) and its error.
func firstFailure(t *testing.T, p reconciler.Provider, cases []Case) (string, error) {
	var subjects []*subject
	for _, c := range cases {
		s, err := newSubject(p, c)
		if err != nil {
			t.Fatalf("newSubject(%s): %v", c.Name, err)
		}
		subjects = append(subjects, s)
	}
	for _, s := range subjects {
		for _, st := range s.steps() {
			if st.before != nil {
				st.before(t)
			}
			if err := st.check(t.Context()); err != nil {
				return s.name + "/" + st.name, err
			}
		}
	}
	if b, ok := p.(reconciler.BatchApplier); ok {
		if err := checkBatch(t.Context(), b, subjects); err != nil {
			return "batch", err
		}
	}
	return "", nil
}

func TestChecksCatchEveryDefect(t *testing.T) {
	tests := []struct {
		defect   defect
		wantStep string
		wantErr  string
	}{
		{healthy, "", ""}, // and it catches nothing in a provider that keeps the contract
		{createDoesNothing, "bridge/create", "after create: Observe reports the object absent"},
		{createNotIdempotent, "bridge/create again", "must be idempotent"},
		{createDuplicates, "bridge/create again", "Owned lists Bridge/br0 2 times, want 1"},
		{observeCreates, "bridge/absent", "two Observes in a row differ"},
		{observeUnstable, "bridge/absent", "two Observes in a row differ"},
		{leavesPlacement, "", ""}, // the engine takes placement fields from the spec
		{notOwned, "bridge/create", "not owned"},
		{ownedOmits, "bridge/create", "Owned lists Bridge/br0 0 times, want 1"},
		{observeEchoesDesired, "bridge/update", "before update: plan is no-op (in sync), want update"},
		{updateIgnored, "bridge/update", `after update: plan is update (1 field differs); spec.failMode: "secure" -> "standalone"`},
		{deleteDoesNothing, "bridge/delete", "after delete: Observe reports the object present"},
		{deleteAbsentFails, "bridge/delete", "apply delete (after a second delete): fake: no such object"},
		{batchShort, "batch", "ApplyBatch returned 1 errors for 2 items"},
		{batchSkipsDeletes, "batch", "after batch delete: Observe reports the object present"},
	}
	for _, tt := range tests {
		t.Run(string(tt.defect), func(t *testing.T) {
			f := newFake(tt.defect)
			step, err := firstFailure(t, f, testCases(t, f))
			if step != tt.wantStep {
				t.Fatalf("first failing step = %q (%v), want %q", step, err, tt.wantStep)
			}
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestDriftTheProviderCannotSeeFails(t *testing.T) {
	f := newFake(healthy)
	cases := testCases(t, f)[:1]
	// The fake does not record the manager, so a foreign change to it is invisible.
	cases[0].Drift = func(*testing.T) { f.mutate(cases[0].Ref, func(s any) { s.(*spec.BridgeSpec).Manager = "other" }) }
	step, err := firstFailure(t, f, cases)
	if step != "bridge/drift" || err == nil || !strings.Contains(err.Error(), "does not see the drift") {
		t.Fatalf("first failure = %q (%v), want bridge/drift: does not see the drift", step, err)
	}
}

func TestRunPassesAHealthyProvider(t *testing.T) {
	f := newFake(healthy)
	Run(t, f, testCases(t, f))
	if n := len(f.live); n != 0 {
		t.Errorf("Run left %d live objects, want 0", n)
	}
}

func TestNewSubjectRefusesABadCase(t *testing.T) {
	set := loadTestSet(t)
	mirror := reconciler.Ref{Kind: "Mirror", Name: "m1"}
	setPort := func(o *spec.Object) { o.Spec.(*spec.MirrorSpec).Output.Port = "tap1" }
	tests := []struct {
		name string
		c    Case
		want string
	}{
		{"no set", Case{Ref: mirror, Update: setPort}, "the case has no Set"},
		{"not in set", Case{Set: set, Ref: reconciler.Ref{Kind: "Mirror", Name: "m2"}, Update: setPort}, "Mirror/m2 is not in Set"},
		{"kind not reconciled", Case{Set: set, Ref: reconciler.Ref{Kind: "OVSManager", Name: "ovs1"}, Update: setPort}, "provider fake does not reconcile kind OVSManager"},
		{"no update", Case{Set: set, Ref: mirror}, "the case has no Update func"},
		{"update changes nothing", Case{Set: set, Ref: mirror, Update: func(*spec.Object) {}}, "changes nothing"},
		{"update changes only the policy", Case{Set: set, Ref: mirror, Update: func(o *spec.Object) { o.Spec.(*spec.MirrorSpec).Policy = spec.PolicyObserve }}, "changes nothing in the spec of Mirror/m1 but its policy"},
		{"update renames", Case{Set: set, Ref: mirror, Update: func(o *spec.Object) { o.Metadata.Name = "m9" }}, "renamed Mirror/m1 to Mirror/m9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newSubject(newFake(healthy), tt.c)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("newSubject error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestNewSubjectLeavesTheCaseUntouched(t *testing.T) {
	set := loadTestSet(t)
	before := *set.Get("Mirror", "m1").Spec.(*spec.MirrorSpec)
	before.Output = &spec.MirrorOutput{Port: before.Output.Port}
	s, err := newSubject(newFake(healthy), Case{
		Set: set, Ref: reconciler.Ref{Kind: "Mirror", Name: "m1"},
		Update: func(o *spec.Object) {
			m := o.Spec.(*spec.MirrorSpec)
			m.Output.Port, m.SelectSrcPorts[0] = "tap1", "p2"
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(&before, set.Get("Mirror", "m1").Spec); d != "" {
		t.Errorf("Update changed the case's own object (-want +got):\n%s", d)
	}
	want := []reconciler.FieldDiff{
		{Path: "spec.output.port", From: "tap0", To: "tap1"},
		{Path: "spec.selectSrcPorts", From: []string{"p1"}, To: []string{"p2"}},
	}
	if d := cmp.Diff(want, reconciler.DiffSpecs(s.obj.Spec, s.updated.Spec)); d != "" {
		t.Errorf("update diff (-want +got):\n%s", d)
	}
	if got := s.updatedSet.Get("Mirror", "m1"); got != s.updated {
		t.Errorf("updated set holds %p, want the updated object %p", got, s.updated)
	}
	if got := s.prunedSet.Get("Mirror", "m1"); got != nil {
		t.Errorf("pruned set still holds Mirror/m1")
	}
	if got, want := len(s.prunedSet.Objects), len(set.Objects)-1; got != want {
		t.Errorf("pruned set has %d objects, want %d", got, want)
	}
}

func TestRemoveLeftoversDeletesWhatAFailedCaseLeft(t *testing.T) {
	f := newFake(healthy)
	s, err := newSubject(f, testCases(t, f)[1])
	if err != nil {
		t.Fatal(err)
	}
	if err := s.checkCreate(t.Context()); err != nil {
		t.Fatal(err)
	}
	s.removeLeftovers(t)
	if err := s.wantAbsent(t.Context(), s.createReq(), "after cleanup"); err != nil {
		t.Error(err)
	}
	s.removeLeftovers(t) // nothing left: no error, nothing logged
}

// The fakes see drift at once; the wait for a slow watcher would only slow
// the test of a provider that never sees it.
func init() { DriftVisibleWithin = 100 * time.Millisecond }
