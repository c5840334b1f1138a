package ovs

import "testing"

// TestContainerPortNameIsStable pins the name: the container provider names
// the host end with it and the OVSDB provider finds a Mirror's ContainerPort
// by it, and ports already plugged keep their names across upgrades.
func TestContainerPortNameIsStable(t *testing.T) {
	if got, want := ContainerPortName("hv1", "web", "eth1"), "635dce8fdad76_l"; got != want {
		t.Errorf("ContainerPortName(hv1, web, eth1) = %q, want %q", got, want)
	}
	if got, want := ContainerPeerEnd(ContainerVethName("hv1", "web", "eth1")), "635dce8fdad76_c"; got != want {
		t.Errorf("container end = %q, want %q", got, want)
	}
}
