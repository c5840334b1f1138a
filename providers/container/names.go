package container

import (
	"strings"

	"github.com/wirekeeper/wirekeeper/internal/ovs"
)

// PortName is ovs.ContainerVethName, where the naming lives so that the
// OVSDB provider resolves a Mirror's ContainerPort to the same port.
func PortName(node, container, iface string) string {
	return ovs.ContainerVethName(node, container, iface)
}

// HostEnd and ContainerEnd are the names of the two ends of the veth pair.
func HostEnd(name string) string      { return ovs.ContainerHostEnd(name) }
func ContainerEnd(name string) string { return ovs.ContainerPeerEnd(name) }

// aliasPrefix starts the interface alias (IFLA_IFALIAS) wirekeeper writes
// on both ends of the veth pairs it makes: "wirekeeper:<node>:<object>".
// The alias survives the move into the container and the rename, and lets
// a restarted daemon find a veth whose OVS port was never made.
const aliasPrefix = "wirekeeper:"

func alias(node, object string) string { return aliasPrefix + node + ":" + object }

// aliasObject returns the object name in an alias of node's, "" otherwise.
func aliasObject(node, a string) string {
	rest, ok := strings.CutPrefix(a, aliasPrefix+node+":")
	if !ok {
		return ""
	}
	return rest
}
