package status

import (
	"testing"
	"testing/fstest"
	"time"

	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/spec"
)

// testSet is a small enforced revision for node edge-1: a manager, a
// declared bridge, a mirror with src/dst/output ports on it, a mirror on an
// undeclared bridge with a VLAN output, and a container port. Another node's
// objects must stay out of edge-1's diagram.
func testSet(t *testing.T) *spec.Set {
	t.Helper()
	fsys := fstest.MapFS{
		"managers.yaml": {Data: []byte(`apiVersion: wirekeeper.io/v1alpha1
kind: OVSManager
metadata: {name: edge-ovs}
spec: {node: edge-1, address: "unix:/run/openvswitch/db.sock"}
---
apiVersion: wirekeeper.io/v1alpha1
kind: OVSManager
metadata: {name: other-ovs}
spec: {node: edge-2, address: "unix:/run/openvswitch/db.sock"}
`)},
		"bridges.yaml": {Data: []byte(`apiVersion: wirekeeper.io/v1alpha1
kind: Bridge
metadata: {name: edge-br-int}
spec: {manager: edge-ovs, bridge: br-int}
---
apiVersion: wirekeeper.io/v1alpha1
kind: Bridge
metadata: {name: other-br}
spec: {manager: other-ovs, bridge: br-other}
`)},
		"mirrors.yaml": {Data: []byte(`apiVersion: wirekeeper.io/v1alpha1
kind: Mirror
metadata: {name: tap-all}
spec:
  manager: edge-ovs
  bridge: br-int
  selectSrcPorts: [eth0]
  selectDstPorts: [eth1]
  output: {port: tap0}
---
apiVersion: wirekeeper.io/v1alpha1
kind: Mirror
metadata: {name: vlan-mirror}
spec:
  manager: edge-ovs
  bridge: br-ext
  selectAll: true
  output: {vlan: 999}
`)},
		"containers.yaml": {Data: []byte(`apiVersion: wirekeeper.io/v1alpha1
kind: ContainerPort
metadata: {name: web-eth1}
spec: {node: edge-1, bridge: br-int, container: web, interface: eth1, vlan: 10}
`)},
	}
	set, diags := spec.LoadFS(fsys, "")
	if diags.HasErrors() {
		t.Fatalf("test spec is invalid:\n%v", diags)
	}
	return set
}

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

func atp(s string) *time.Time { t := at(s); return &t }

// testStatus is a representative status of edge-1 in canonical order, with
// diff values of every plain type.
func testStatus() *reconciler.NodeStatus {
	tapDrift := reconciler.DriftEvent{
		Time: at("2024-05-01T10:02:00Z"), Kind: "Mirror", Name: "tap-all", Revision: "3f2a9c1e5d",
		Diff: []reconciler.FieldDiff{
			{Path: "spec.output.port", From: "tap0", To: "tap9"},
			{Path: "spec.selectSrcPorts", From: []string{"eth0"}, To: []string{"eth0", "eth7"}},
		},
		Policy: "observe",
	}
	cpDrift := reconciler.DriftEvent{
		Time: at("2024-05-01T09:00:00.123456789Z"), Kind: "ContainerPort", Name: "web-eth1", Revision: "3f2a9c1e5d",
		Diff: []reconciler.FieldDiff{
			{Path: "exists", From: true, To: false},
			{Path: "spec.mtu", From: 9000, To: nil},
			{Path: "spec.extra", From: map[string]string{"a": "1"}, To: map[string]any{"n": 2, "l": []any{"x", 1}}},
			{Path: "spec.ratio", From: 0.5, To: []any{true, "y"}},
		},
		Repaired: true, RepairedAt: atp("2024-05-01T09:00:05Z"), Policy: "enforce",
	}
	adoptDrift := reconciler.DriftEvent{
		Time: at("2024-05-01T06:00:00Z"), Kind: "Mirror", Name: "legacy-span", Revision: "3f2a9c1e5d",
		Diff:     []reconciler.FieldDiff{{Path: "owner", From: "wirekeeper", To: nil}},
		Repaired: true, RepairedAt: atp("2024-05-01T06:00:00.004Z"), Policy: "enforce", Adopted: true,
	}
	return &reconciler.NodeStatus{
		Node: "edge-1", Branch: "main", Path: "hosts/", AppliedRevision: "3f2a9c1e5d",
		Refused: &reconciler.RefusedRevision{
			Revision: "9e8d7c6b5a", Reason: "Invalid", Message: "2 errors", Since: at("2024-05-01T08:00:00Z"),
			Diagnostics: []spec.Diagnostic{
				{Position: spec.Position{File: "mirrors.yaml", Line: 12, Column: 5}, Severity: spec.SeverityError,
					Kind: "Mirror", Name: "tap-all", Field: "spec.output.port", Message: "must not be one of selectSrcPorts: eth0"},
				{Position: spec.Position{File: "bad.yaml", Line: 1, Column: 1}, Severity: spec.SeverityError,
					Message: "yaml: line 1: did not find expected key"},
			},
		},
		Source: &reconciler.SourceProblem{Reason: "Unreachable", Message: "dial tcp: connection refused", Since: at("2024-05-01T10:05:00Z")},
		Objects: []reconciler.ObjectStatus{
			{Kind: "OVSManager", Name: "edge-ovs", Phase: reconciler.PhaseReady, Revision: "3f2a9c1e5d",
				Conditions: []reconciler.Condition{
					{Type: "Ready", Status: "True", Reason: "InSync", LastTransitionTime: at("2024-05-01T07:00:00Z")},
					{Type: "Synced", Status: "True", Reason: "Applied", LastTransitionTime: at("2024-05-01T07:00:01Z")},
				},
				Unmanaged: []string{"Mirror br-int/span-by-hand", "Mirror br-int/odd | name"}},
			{Kind: "Bridge", Name: "edge-br-int", Phase: reconciler.PhaseReady, Revision: "3f2a9c1e5d",
				Details: []string{"interfaces: 3 active", "messages: 12 | published"}},
			{Kind: "Mirror", Name: "legacy-span", Phase: reconciler.PhaseReady, LastDrift: &adoptDrift},
			{Kind: "Mirror", Name: "tap-all", Phase: reconciler.PhaseDrifted, Revision: "3f2a9c1e5d",
				Message: "2 fields differ | policy observe\nnot repaired",
				Conditions: []reconciler.Condition{
					{Type: "Ready", Status: "False", Reason: "Drifted", Message: "output port changed", LastTransitionTime: at("2024-05-01T10:02:00Z")},
				},
				LastDrift: &tapDrift},
			{Kind: "Mirror", Name: "vlan-mirror", Phase: reconciler.PhaseFailed, Message: "ovsdb: <timeout> & retry"},
			{Kind: "ContainerPort", Name: "web-eth1", Phase: reconciler.PhaseSuspended, LastDrift: &cpDrift},
		},
		Drift: []reconciler.DriftEvent{tapDrift, cpDrift, adoptDrift},
	}
}
