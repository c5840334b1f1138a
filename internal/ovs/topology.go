package ovs

import "github.com/wirekeeper/wirekeeper/internal/topology"

// BridgeNodeID, PortNodeID and InterfaceNodeID are the graph IDs of the
// OVS rows of manager on host, for other sources linking to them.
func BridgeNodeID(host, manager, bridge string) string {
	return topology.ID(host, "ovsbridge", manager, bridge)
}

// PortNodeID is the graph ID of a port; see BridgeNodeID.
func PortNodeID(host, manager, port string) string {
	return topology.ID(host, "ovsport", manager, port)
}

// InterfaceNodeID is the graph ID of an interface; see BridgeNodeID.
func InterfaceNodeID(host, manager, iface string) string {
	return topology.ID(host, "interface", manager, iface)
}
