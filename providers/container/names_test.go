package container

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

func TestPortNameIsDeterministicAndFits(t *testing.T) {
	a := PortName("hv1", "web", "eth1")
	if a != PortName("hv1", "web", "eth1") {
		t.Fatal("PortName differs between calls with the same input")
	}
	if !regexp.MustCompile(`^[0-9a-f]{13}$`).MatchString(a) {
		t.Fatalf("PortName = %q, want 13 hex characters", a)
	}
	for _, other := range []string{PortName("hv2", "web", "eth1"), PortName("hv1", "db", "eth1"), PortName("hv1", "web", "eth2"),
		PortName("hv1", "web\x00eth", "1")} {
		if other == a {
			t.Errorf("PortName collides for different input: %q", other)
		}
	}
	if n := len(HostEnd(a)); n > 15 {
		t.Errorf("host end %q is %d bytes; Linux takes at most 15", HostEnd(a), n)
	}
}

func TestAliasRoundTrip(t *testing.T) {
	if got := aliasObject("hv1", alias("hv1", "web-eth1")); got != "web-eth1" {
		t.Errorf("aliasObject(alias) = %q, want web-eth1", got)
	}
	for _, a := range []string{alias("hv10", "x"), "wirekeeper:hv", "", "something else"} {
		if got := aliasObject("hv1", a); got != "" {
			t.Errorf("aliasObject(hv1, %q) = %q, want none", a, got)
		}
	}
}

func TestPermissionErrorsSayWhatIsNeeded(t *testing.T) {
	for _, errno := range []error{syscall.EPERM, syscall.EACCES} {
		err := wrapPerm("create veth pair", fmt.Errorf("netlink: %w", errno))
		if !strings.Contains(err.Error(), "CAP_NET_ADMIN and CAP_SYS_ADMIN") || !errors.Is(err, errno) {
			t.Errorf("wrapPerm(%v) = %v; want the capability hint, wrapping the cause", errno, err)
		}
	}
	err := wrapPerm("create veth pair", syscall.EEXIST)
	if strings.Contains(err.Error(), "CAP_") {
		t.Errorf("wrapPerm(EEXIST) = %v; want no capability hint", err)
	}
}
