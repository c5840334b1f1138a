// Package ovs is wirekeeper's Open vSwitch database layer, shared by the
// providers that work on OVS (bridges and mirrors; container ports): one
// connection per OVSManager with a monitor of the Open_vSwitch, Bridge,
// Port, Interface and Mirror tables, a View of what the monitor holds with
// the indexes observes need, transactions built as values (Txn), the ports
// of a manager (Ports), and the external_ids markers that record what
// wirekeeper owns. It knows OVSDB and the spec's OVSManager, nothing of
// the engine: providers subscribe to its row events and map them to their
// objects. The typed models are in vswitch, generated from the schema.
package ovs
