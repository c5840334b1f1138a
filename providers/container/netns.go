package container

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// errPermission says what the provider needs when the kernel refuses it.
const permissionHint = "wirekeeper's container ports need root, or CAP_NET_ADMIN and CAP_SYS_ADMIN (to enter container network namespaces)"

// wrapPerm adds the permission hint to a refusal by the kernel.
func wrapPerm(what string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
		return fmt.Errorf("container: %s: %w; %s", what, err, permissionHint)
	}
	return fmt.Errorf("container: %s: %w", what, err)
}

// namespaces holds the netlink handles the provider works through: one in
// the network namespace ovs-vswitchd runs in (where the host ends of the
// veth pairs live), and one per running container with ports, each with
// link, address and route subscriptions that report changes made inside
// the container (drift) without polling.
type namespaces struct {
	log    *slog.Logger
	host   *netlink.Handle
	hostNS netns.NsHandle
	// changed is called with the ID of a container whose namespace saw a
	// link, address or route change, and with "" for a change on the host
	// side (hostChanged gets the link name).
	changed     func(containerID string)
	hostChanged func(link string)

	mu   sync.Mutex
	ctrs map[string]*ctrNS // by container ID
	stop chan struct{}     // ends the host subscription
}

// ctrNS is one container's network namespace, as long as the same process
// runs in it.
type ctrNS struct {
	pid       int
	startedAt string
	ns        netns.NsHandle
	h         *netlink.Handle
	stop      chan struct{}
}

// nsPath turns the OVSNetns option into a path: "" for the daemon's own
// namespace, a name for /run/netns/NAME, or a path.
func nsPath(s string) string {
	if s == "" || strings.Contains(s, "/") {
		return s
	}
	return filepath.Join("/run/netns", s)
}

func openNamespaces(ovsNetns string, log *slog.Logger, changed func(string), hostChanged func(string)) (*namespaces, error) {
	var ns netns.NsHandle
	var err error
	if p := nsPath(ovsNetns); p != "" {
		ns, err = netns.GetFromPath(p)
	} else {
		ns, err = netns.Get()
	}
	if err != nil {
		return nil, wrapPerm("open the network namespace of ovs-vswitchd "+ovsNetns, err)
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		ns.Close()
		return nil, wrapPerm("netlink in the namespace of ovs-vswitchd", err)
	}
	n := &namespaces{log: log, host: h, hostNS: ns, changed: changed, hostChanged: hostChanged,
		ctrs: map[string]*ctrNS{}, stop: make(chan struct{})}
	n.subscribeHost()
	return n, nil
}

func (n *namespaces) close() {
	n.mu.Lock()
	for id, c := range n.ctrs {
		c.close()
		delete(n.ctrs, id)
	}
	n.mu.Unlock()
	close(n.stop)
	n.host.Close()
	n.hostNS.Close()
}

func (c *ctrNS) close() {
	close(c.stop)
	c.h.Close()
	c.ns.Close()
}

// forContainer returns the handle in c's namespace, opening it (and its
// subscriptions) for a container not seen running before or restarted.
func (n *namespaces) forContainer(c *ctr) (*ctrNS, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if e := n.ctrs[c.ID]; e != nil {
		if e.pid == c.PID && e.startedAt == c.StartedAt {
			return e, nil
		}
		e.close()
		delete(n.ctrs, c.ID)
	}
	ns, err := openContainerNS(c)
	if err != nil {
		return nil, err
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		ns.Close()
		return nil, wrapPerm("netlink in the namespace of container "+c.Name, err)
	}
	e := &ctrNS{pid: c.PID, startedAt: c.StartedAt, ns: ns, h: h, stop: make(chan struct{})}
	n.subscribe(c.ID, e)
	n.ctrs[c.ID] = e
	return e, nil
}

// sysctl writes value to /proc/sys/<key> inside the container's
// namespace: the network sysctls a thread sees are those of its own
// namespace, so a locked thread enters it for the write.
func (c *ctrNS) sysctl(key, value string) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer orig.Close()
	if err := netns.Set(c.ns); err != nil {
		runtime.UnlockOSThread()
		return err
	}
	werr := os.WriteFile(filepath.Join("/proc/sys", key), []byte(value), 0)
	if err := netns.Set(orig); err != nil {
		// The thread is left in the container's namespace: keep it
		// locked, so that it ends with this goroutine instead of serving
		// others.
		return fmt.Errorf("return from the container's namespace: %w", err)
	}
	runtime.UnlockOSThread()
	return werr
}

// drop forgets the namespace of a container that stopped.
func (n *namespaces) drop(id string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if e := n.ctrs[id]; e != nil {
		e.close()
		delete(n.ctrs, id)
	}
}

// openContainerNS opens the container's namespace through its PID, or
// its SandboxKey when /proc does not show the PID.
func openContainerNS(c *ctr) (netns.NsHandle, error) {
	if c.PID > 0 {
		ns, err := netns.GetFromPath(fmt.Sprintf("/proc/%d/ns/net", c.PID))
		if err == nil {
			return ns, nil
		}
		if !errors.Is(err, os.ErrNotExist) || c.SandboxKey == "" {
			return 0, wrapPerm(fmt.Sprintf("open the network namespace of container %s (pid %d)", c.Name, c.PID), err)
		}
	}
	if c.SandboxKey == "" {
		return 0, fmt.Errorf("container: container %s has neither a PID nor a sandbox key", c.Name)
	}
	ns, err := netns.GetFromPath(c.SandboxKey)
	if err != nil {
		return 0, wrapPerm(fmt.Sprintf("open the network namespace of container %s (%s)", c.Name, c.SandboxKey), err)
	}
	return ns, nil
}

// subscribe follows link, address and route changes in one container's
// namespace until e.stop closes.
func (n *namespaces) subscribe(id string, e *ctrNS) {
	links := make(chan netlink.LinkUpdate, 64)
	addrs := make(chan netlink.AddrUpdate, 64)
	routes := make(chan netlink.RouteUpdate, 64)
	onErr := func(err error) { n.log.Debug("netlink subscription", "container", id, "error", err) }
	ns := e.ns
	errs := []error{
		netlink.LinkSubscribeWithOptions(links, e.stop, netlink.LinkSubscribeOptions{Namespace: &ns, ErrorCallback: onErr}),
		netlink.AddrSubscribeWithOptions(addrs, e.stop, netlink.AddrSubscribeOptions{Namespace: &ns, ErrorCallback: onErr}),
		netlink.RouteSubscribeWithOptions(routes, e.stop, netlink.RouteSubscribeOptions{Namespace: &ns, ErrorCallback: onErr}),
	}
	if err := errors.Join(errs...); err != nil {
		n.log.Warn("cannot follow changes inside a container; drift there is found by the periodic check only", "container", id, "error", err)
	}
	go func() {
		for {
			select {
			case _, ok := <-links:
				if !ok {
					links = nil
				}
			case _, ok := <-addrs:
				if !ok {
					addrs = nil
				}
			case _, ok := <-routes:
				if !ok {
					routes = nil
				}
			case <-e.stop:
				return
			}
			n.changed(id)
		}
	}()
}

// subscribeHost follows the links of the host side: a host end deleted or
// set down is drift.
func (n *namespaces) subscribeHost() {
	links := make(chan netlink.LinkUpdate, 64)
	ns := n.hostNS
	err := netlink.LinkSubscribeWithOptions(links, n.stop, netlink.LinkSubscribeOptions{Namespace: &ns,
		ErrorCallback: func(err error) { n.log.Debug("netlink host subscription", "error", err) }})
	if err != nil {
		n.log.Warn("cannot follow host links; drift there is found by the periodic check only", "error", err)
		return
	}
	go func() {
		for {
			select {
			case u, ok := <-links:
				if !ok {
					return
				}
				if u.Link != nil {
					n.hostChanged(u.Link.Attrs().Name)
				}
			case <-n.stop:
				return
			}
		}
	}()
}
