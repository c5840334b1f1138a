package ovs

import (
	"crypto/sha256"
	"encoding/hex"
)

// ContainerVethName returns the 13 hex characters that name a container
// port's veth pair, "<hex>_l" on the host and "<hex>_c" on the container
// side until it is renamed, in the layout of ovs-docker (which draws them
// from a random UUID). They are derived from the node, the container as the
// spec names it, and the interface, so that a daemon restarted in the middle
// of a plug finds the same names, and a container recreated under the same
// name gets the same port. It lives here, not in the container provider, so
// that the OVSDB provider resolves a Mirror's ContainerPort to the same name.
func ContainerVethName(node, container, iface string) string {
	sum := sha256.Sum256([]byte(node + "\x00" + container + "\x00" + iface))
	return hex.EncodeToString(sum[:])[:13]
}

// ContainerHostEnd and ContainerPeerEnd are the names of the two ends of
// the veth pair named name; the host end is also the OVS port's name.
func ContainerHostEnd(name string) string { return name + "_l" }

// ContainerPeerEnd: see ContainerHostEnd.
func ContainerPeerEnd(name string) string { return name + "_c" }

// ContainerPortName is the OVS port name of the container port of iface in
// container on node: the host end of its veth pair.
func ContainerPortName(node, container, iface string) string {
	return ContainerHostEnd(ContainerVethName(node, container, iface))
}
