package dockertest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Link is one network interface in a container's network namespace, as the
// kernel reports it.
type Link struct {
	// Name is the interface name, "lo", "eth1", ...
	Name string
	// Up is the administrative state (the UP flag that `ip link set up`
	// sets), not whether the peer carries a signal.
	Up bool
	// MTU is the interface's MTU.
	MTU int
	// MAC is the link-layer address, lowercase, "aa:bb:cc:dd:ee:ff".
	MAC string
	// Addrs are the global-scope IPv4 and IPv6 addresses in CIDR notation,
	// "10.77.0.1/24"; link-local and host-scope ones are left out.
	Addrs []string
	// Alias is the interface's alias (ifalias), "" when unset.
	Alias string
}

// Links returns the interfaces of the running container's network namespace,
// read from the host with `nsenter -t PID -n ip -j -batch -` (link and addr
// show), in ifindex order. It needs neither docker exec nor any binary in
// the image.
func (e *Engine) Links(t testing.TB, name string) []Link {
	t.Helper()
	out := e.inNetns(t, name, strings.NewReader("link show\naddr show\n"), "-batch", "-")
	links, err := parseLinks(out)
	if err != nil {
		t.Fatalf("dockertest: links of %s: %v\n%s", name, err, out)
	}
	return links
}

// Link returns the container's interface iface and whether it exists.
func (e *Engine) Link(t testing.TB, name, iface string) (Link, bool) {
	t.Helper()
	for _, l := range e.Links(t, name) {
		if l.Name == iface {
			return l, true
		}
	}
	return Link{}, false
}

// DefaultGateway returns the gateway of the container's IPv4 default route,
// or "" when it has none, read from the host as Links does.
func (e *Engine) DefaultGateway(t testing.TB, name string) string {
	t.Helper()
	out := e.inNetns(t, name, nil, "-4", "route", "show", "default")
	gw, err := parseDefaultGateway(out)
	if err != nil {
		t.Fatalf("dockertest: default route of %s: %v\n%s", name, err, out)
	}
	return gw
}

// inNetns runs `ip -j args...` in the running container's network namespace
// and returns ip's JSON output.
func (e *Engine) inNetns(t testing.TB, name string, stdin io.Reader, args ...string) string {
	t.Helper()
	res, err := e.ipIn(t, name, stdin, append([]string{"-j"}, args...)...)
	if err != nil {
		t.Fatalf("dockertest: in the network namespace of %s: %v", name, err)
	}
	return res.stdout
}

// ipIn runs `ip args...` in the running container's network namespace from
// the host, through nsenter.
func (e *Engine) ipIn(t testing.TB, name string, stdin io.Reader, args ...string) (result, error) {
	t.Helper()
	need(t, true, "nsenter", "ip")
	pid := e.PID(t, name)
	if pid == 0 {
		t.Fatalf("dockertest: container %s is not running: it has no network namespace", name)
	}
	ip, err := lookBin("ip")
	if err != nil {
		t.Fatalf("%v", err)
	}
	return run(nil, stdin, "nsenter", append([]string{"-t", strconv.Itoa(pid), "-n", ip}, args...)...)
}

// ipLink is the part of an `ip -j link` or `ip -j addr` object Links reads.
type ipLink struct {
	IfIndex  int      `json:"ifindex"`
	IfName   string   `json:"ifname"`
	Flags    []string `json:"flags"`
	MTU      int      `json:"mtu"`
	Address  string   `json:"address"`
	IfAlias  string   `json:"ifalias"`
	AddrInfo []struct {
		Family    string `json:"family"`
		Local     string `json:"local"`
		PrefixLen int    `json:"prefixlen"`
		Scope     string `json:"scope"`
	} `json:"addr_info"`
}

// parseLinks merges the JSON arrays of `ip -j -batch` (link show, then addr
// show): `ip -j addr` alone may leave ifalias out, `ip -j link` has no
// addresses.
func parseLinks(out string) ([]Link, error) {
	byIndex := map[int]*Link{}
	var order []int
	dec := json.NewDecoder(strings.NewReader(out))
	for {
		var arr []ipLink
		if err := dec.Decode(&arr); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("ip -j output: %w", err)
		}
		for _, il := range arr {
			l, ok := byIndex[il.IfIndex]
			if !ok {
				l = &Link{}
				byIndex[il.IfIndex] = l
				order = append(order, il.IfIndex)
			}
			l.Name, l.MTU, l.Up = il.IfName, il.MTU, slices.Contains(il.Flags, "UP")
			l.MAC = strings.ToLower(il.Address)
			if il.IfAlias != "" {
				l.Alias = il.IfAlias
			}
			for _, a := range il.AddrInfo {
				if a.Scope != "global" {
					continue
				}
				cidr := a.Local + "/" + strconv.Itoa(a.PrefixLen)
				if _, _, err := net.ParseCIDR(cidr); err != nil {
					return nil, fmt.Errorf("address of %s: %w", il.IfName, err)
				}
				if !slices.Contains(l.Addrs, cidr) {
					l.Addrs = append(l.Addrs, cidr)
				}
			}
		}
	}
	slices.Sort(order)
	links := make([]Link, 0, len(order))
	for _, i := range order {
		links = append(links, *byIndex[i])
	}
	return links, nil
}

// parseDefaultGateway reads `ip -j route show default`.
func parseDefaultGateway(out string) (string, error) {
	var routes []struct {
		Dst     string `json:"dst"`
		Gateway string `json:"gateway"`
	}
	if err := json.Unmarshal([]byte(out), &routes); err != nil {
		return "", fmt.Errorf("ip -j route output: %w", err)
	}
	for _, r := range routes {
		if r.Dst == "default" && r.Gateway != "" {
			return r.Gateway, nil
		}
	}
	return "", nil
}

// IP runs `ip args...` in the running container's network namespace from
// the host (nsenter), failing t when it fails: for tests that change the
// container's links, addresses or routes behind a reconciler's back.
func (e *Engine) IP(t testing.TB, name string, args ...string) {
	t.Helper()
	if _, err := e.ipIn(t, name, nil, args...); err != nil {
		t.Fatalf("dockertest: ip %s in the network namespace of %s: %v", strings.Join(args, " "), name, err)
	}
}
