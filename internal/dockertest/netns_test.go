package dockertest

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseLinks(t *testing.T) {
	// What `ip -j -batch -` of iproute2 6.1 printed for "link show\naddr show"
	// in a namespace with a veth that has an alias.
	const linkShow = `[{"ifindex":1,"ifname":"lo","flags":["LOOPBACK","UP","LOWER_UP"],"mtu":65536,"address":"00:00:00:00:00:00"},` +
		`{"ifindex":7,"link_index":8,"ifname":"eth1","flags":["BROADCAST","MULTICAST","UP","LOWER_UP"],"mtu":1400,"address":"02:77:00:00:00:0A","ifalias":"uplink"},` +
		`{"ifindex":3,"ifname":"eth0","flags":["BROADCAST","MULTICAST"],"mtu":1500,"address":"9e:be:1f:49:b9:8d"}]` + "\n"
	const addrShow = `[{"ifindex":1,"ifname":"lo","flags":["LOOPBACK","UP","LOWER_UP"],"mtu":65536,"address":"00:00:00:00:00:00","addr_info":[` +
		`{"family":"inet","local":"127.0.0.1","prefixlen":8,"scope":"host"}]},` +
		`{"ifindex":7,"ifname":"eth1","flags":["BROADCAST","MULTICAST","UP","LOWER_UP"],"mtu":1400,"address":"02:77:00:00:00:0A","addr_info":[` +
		`{"family":"inet","local":"10.77.0.1","prefixlen":24,"scope":"global","label":"eth1"},` +
		`{"family":"inet6","local":"2001:db8::1","prefixlen":64,"scope":"global"},` +
		`{"family":"inet6","local":"fe80::77:ff:fe00:a","prefixlen":64,"scope":"link"}]},` +
		`{"ifindex":3,"ifname":"eth0","flags":["BROADCAST","MULTICAST"],"mtu":1500,"address":"9e:be:1f:49:b9:8d","addr_info":[]}]` + "\n"
	for _, tc := range []struct {
		name, out string
		want      []Link
	}{{
		name: "link and addr",
		out:  linkShow + addrShow,
		want: []Link{
			{Name: "lo", Up: true, MTU: 65536, MAC: "00:00:00:00:00:00"},
			{Name: "eth0", MTU: 1500, MAC: "9e:be:1f:49:b9:8d"},
			{Name: "eth1", Up: true, MTU: 1400, MAC: "02:77:00:00:00:0a",
				Addrs: []string{"10.77.0.1/24", "2001:db8::1/64"}, Alias: "uplink"},
		},
	}, {
		name: "empty namespace output",
		out:  "[]\n[]\n",
		want: []Link{},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseLinks(tc.out)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("parseLinks (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := parseLinks("[{"); err == nil {
		t.Errorf("parseLinks of broken JSON: no error")
	}
}

func TestParseDefaultGateway(t *testing.T) {
	for _, tc := range []struct{ out, want string }{
		{`[{"dst":"default","gateway":"10.77.0.254","dev":"eth1","flags":[]}]`, "10.77.0.254"},
		{`[{"dst":"default","dev":"eth1","scope":"link","flags":[]}]`, ""},
		{`[]`, ""},
	} {
		got, err := parseDefaultGateway(tc.out)
		if err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("parseDefaultGateway(%s) = %q, want %q", tc.out, got, tc.want)
		}
	}
}
