package container

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// PortName returns the 13 hex characters that name a container port's veth
// pair, "<hex>_l" on the host and "<hex>_c" on the container side until it
// is renamed, in the layout of ovs-docker (which draws them from a random
// UUID). They are derived from the node, the container as the spec names
// it, and the interface, so that a daemon restarted in the middle of a plug
// finds the same names, and a container recreated under the same name gets
// the same port.
func PortName(node, container, iface string) string {
	sum := sha256.Sum256([]byte(node + "\x00" + container + "\x00" + iface))
	return hex.EncodeToString(sum[:])[:13]
}

// HostEnd and ContainerEnd are the names of the two ends of the veth pair.
func HostEnd(name string) string      { return name + "_l" }
func ContainerEnd(name string) string { return name + "_c" }

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
