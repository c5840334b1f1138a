package ovstest

import (
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

// TestMirrorCarriesTraffic is the proof the traffic fixture works: two hosts
// ping each other across a netdev bridge, and a sink port sees that traffic
// only once a mirror sends it there.
func TestMirrorCarriesTraffic(t *testing.T) {
	t.Parallel()
	const pings = 10
	o := Start(t, Options{Vswitchd: true})
	o.AddBridge(t, "br0")
	h1 := AddHost(t, o, "br0", "h1", "10.9.0.1/24")
	h2 := AddHost(t, o, "br0", "h2", "10.9.0.2/24")
	sink := AddSinkPort(t, o, "br0", "sink")

	// Warm up: ARP and MAC learning flood to every port, the sink included.
	if err := Ping(t, h1, h2.IP, 2); err != nil {
		t.Fatalf("warm-up: %v", err)
	}
	if err := Ping(t, h1, "10.9.0.99", 1); err == nil {
		t.Fatalf("ping of an address nobody has succeeded")
	}

	before := RxPackets(t, sink)
	if err := Ping(t, h1, h2.IP, pings); err != nil {
		t.Fatal(err)
	}
	unmirrored := RxPackets(t, sink) - before

	o.Vsctl(t, "--", "--id=@p", "get", "Port", sink.Port,
		"--", "--id=@m", "create", "Mirror", "name=m0", "select_all=true", "output_port=@p",
		"--", "add", "Bridge", "br0", "mirrors", "@m")
	o.PurgeFlows(t) // the flows of the pings above predate the mirror
	before = RxPackets(t, sink)
	if err := Ping(t, h2, h1.IP, pings); err != nil {
		t.Fatal(err)
	}
	mirrored := RxPackets(t, sink) - before
	t.Logf("sink received %d packets without the mirror, %d with it, for %d pings", unmirrored, mirrored, pings)

	// Each ping is a request and a reply, each crossing the bridge once.
	if mirrored < 2*pings {
		t.Errorf("with the mirror the sink received %d packets, want at least %d", mirrored, 2*pings)
	}
	if unmirrored > pings/5 {
		t.Errorf("without the mirror the sink received %d packets, want at most %d", unmirrored, pings/5)
	}

	// The statistics columns show it too, once vswitchd writes them.
	WaitStat(t, o.DB, "Mirror", "m0", "tx_packets", 2*pings)
	WaitStat(t, o.DB, "Interface", sink.Port, "tx_packets", 2*pings)
	if got := InterfaceStats(t, o.DB, h1.Port)["rx_packets"]; got < pings {
		t.Errorf("Interface %s statistics:rx_packets = %d, want at least %d", h1.Port, got, pings)
	}
	if got := MirrorStats(t, o.DB, "m0")["tx_packets"]; got < 2*pings {
		t.Errorf("MirrorStats(m0)[tx_packets] = %d, want at least %d", got, 2*pings)
	}

	// A restarted vswitchd takes the veths and the mirror back.
	o.RestartVswitchd(t)
	before = RxPackets(t, sink)
	if err := Ping(t, h1, h2.IP, pings); err != nil {
		t.Fatalf("after RestartVswitchd: %v", err)
	}
	if got := RxPackets(t, sink) - before; got < 2*pings {
		t.Errorf("after RestartVswitchd the sink received %d packets, want at least %d", got, 2*pings)
	}
}

// TestSharedHosts runs hosts on the shared harness's vswitchd, which must
// find its bridge exactly as it was once the test is over.
func TestSharedHosts(t *testing.T) {
	t.Parallel()
	o := Shared(t)
	var ports []string
	t.Run("user", func(t *testing.T) {
		h1 := AddHost(t, o, "br0", UniquePortName(t, "wkh"), "10.77.0.1/24")
		h2 := AddHost(t, o, "br0", UniquePortName(t, "wkh"), "10.77.0.2/24")
		ports = []string{h1.Port, h2.Port}
		o.PurgeFlows(t)
		if err := Ping(t, h1, h2.IP, 3); err != nil {
			t.Fatal(err)
		}
	})
	if ports == nil {
		t.Fatal("the hosts were not created")
	}
	listed := " " + strings.Join(strings.Fields(Vsctl(t, o.DB, "list-ports", "br0")), " ") + " "
	for _, p := range ports {
		if strings.Contains(listed, " "+p+" ") {
			t.Errorf("port %s is still on the shared br0 after the test", p)
		}
	}
}

// inNetns runs fn on an OS thread switched into the network namespace name;
// sockets fn creates stay in that namespace.
func inNetns(t *testing.T, name string, fn func()) {
	t.Helper()
	runtime.LockOSThread()
	origin, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("netns.Get: %v", err)
	}
	defer origin.Close()
	target, err := netns.GetFromName(name)
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("netns %s: %v", name, err)
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("setns %s: %v", name, err)
	}
	fn()
	if err := netns.Set(origin); err != nil {
		// Leave the thread locked: Go ends it with this goroutine.
		t.Fatalf("setns back: %v", err)
	}
	runtime.UnlockOSThread()
}

// TestTCPAcrossBridge checks that AddHost's hosts carry TCP, which needs
// TX checksum offload off.
func TestTCPAcrossBridge(t *testing.T) {
	t.Parallel()
	need(t, true, "ethtool")
	o := Start(t, Options{Vswitchd: true})
	o.AddBridge(t, "br0")
	h1 := AddHost(t, o, "br0", "h1", "10.9.0.1/24")
	h2 := AddHost(t, o, "br0", "h2", "10.9.0.2/24")

	var l net.Listener
	inNetns(t, h2.Netns, func() {
		var err error
		if l, err = net.Listen("tcp", net.JoinHostPort(h2.IP, "5000")); err != nil {
			t.Errorf("listen in %s: %v", h2.Netns, err)
		}
	})
	if l == nil {
		t.FailNow()
	}
	defer l.Close()
	got := make(chan int, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			got <- -1
			return
		}
		defer c.Close()
		n, _ := io.Copy(io.Discard, c)
		got <- int(n)
	}()

	const size = 4 << 20
	var c net.Conn
	inNetns(t, h1.Netns, func() {
		var err error
		d := net.Dialer{Timeout: 5 * time.Second}
		if c, err = d.Dial("tcp", net.JoinHostPort(h2.IP, "5000")); err != nil {
			t.Errorf("dial from %s: %v", h1.Netns, err)
		}
	})
	if c == nil {
		t.FailNow()
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.Copy(c, io.LimitReader(zeros{}, size)); err != nil {
		t.Fatalf("send: %v", err)
	}
	c.Close()
	select {
	case n := <-got:
		if n != size {
			t.Errorf("received %d bytes, want %d", n, size)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the receiver did not finish within 10 s")
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }
