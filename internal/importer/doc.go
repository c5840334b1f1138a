// Package importer writes a spec tree from what runs on a host today, for
// `wirekeeper import`: the bridges and mirrors of a live OVSDB (read
// through internal/ovs) become OVSManager, Bridge and Mirror documents,
// one file per kind per node, sorted, with the schema comment line.
// Objects the spec cannot express are listed with the reason, never
// silently dropped.
package importer
