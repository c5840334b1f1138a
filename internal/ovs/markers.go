package ovs

// The ownership marker wirekeeper writes into external_ids of what it
// creates or adopts. The owner is the node whose daemon manages the row, so
// that daemons sharing a manager (a central one over ssl: and a local one)
// never prune each other's rows.
const (
	KeyOwner = "wirekeeper.io/owner"
	KeyKind  = "wirekeeper.io/kind"
	KeyName  = "wirekeeper.io/name"
	// KeyAdopted marks a bridge that existed before wirekeeper managed it:
	// it is updated while in the spec and never deleted.
	KeyAdopted = "wirekeeper.io/adopted"
)

// The external_ids keys Open vSwitch's ovs-docker script writes on the
// Interface of a port it plugs into a container.
const (
	KeyContainerID    = "container_id"
	KeyContainerIface = "container_iface"
)

// Markers returns the external_ids that mark a row as node's object
// kind/name.
func Markers(node, kind, name string) map[string]string {
	return map[string]string{KeyOwner: node, KeyKind: kind, KeyName: name}
}

// Owns reports whether external_ids carry node's ownership marker.
func Owns(node string, ids map[string]string) bool { return ids[KeyOwner] == node }
