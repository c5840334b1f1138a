package ovs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"reflect"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/ovn-org/libovsdb/cache"
	"github.com/ovn-org/libovsdb/client"
	"github.com/ovn-org/libovsdb/model"
	libovsdb "github.com/ovn-org/libovsdb/ovsdb"

	"github.com/wirekeeper/wirekeeper/internal/ovs/vswitch"
	"github.com/wirekeeper/wirekeeper/internal/tlsconfig"
	"github.com/wirekeeper/wirekeeper/spec"
)

// Conn is the connection to one OVSManager: a libovsdb client with a
// monitor of the tables in vswitch.Tables, kept up by its own loop, shared
// by every provider that works on the manager. A new
// client (and a new view) is made at every reconnect, so that what the
// view holds always comes from one monitor; the events of the new monitor
// re-enqueue every object, which is the full resync after a reconnect.
type Conn struct {
	name string
	spec spec.OVSManagerSpec
	log  *slog.Logger
	// owner is the daemon's set of connections: the secrets for ssl:, the
	// settle timeout, the counters, and the subscribers every row event
	// goes to (after the view has it).
	owner *Clients

	// group gathers the Ports writes sent together (see group.go).
	group group

	mu      sync.Mutex
	client  client.Client
	view    *View
	lastErr error
	// up is closed once the first connection is made (or replaced by a
	// new channel while disconnected), for Apply of an OVSManager to wait on.
	up chan struct{}
	// tried is closed once the first connection attempt has ended, however
	// it ended, so that a manager that cannot be reached fails at once.
	tried  chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
}

// ErrNotConnected wraps the reason a manager cannot be used right now.
var ErrNotConnected = errors.New("not connected")

func newConn(owner *Clients, name string, sp spec.OVSManagerSpec) *Conn {
	ctx, cancel := context.WithCancel(context.Background())
	c := &Conn{owner: owner, name: name, spec: sp, log: owner.log.With("manager", name, "address", sp.Address),
		up: make(chan struct{}), tried: make(chan struct{}), cancel: cancel, done: make(chan struct{}), lastErr: errors.New("connecting")}
	go c.run(ctx)
	return c
}

// Current returns the connected client and its view, or an error saying
// why the manager cannot be reached.
func (c *Conn) Current() (client.Client, *View, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.client == nil || !c.client.Connected() {
		return nil, nil, fmt.Errorf("ovsdb: manager %s (%s) %w: %v", c.name, c.spec.Address, ErrNotConnected, c.lastErr)
	}
	return c.client, c.view, nil
}

// WaitUp waits until the manager is connected, its first connection
// attempt failed, or ctx ends.
func (c *Conn) WaitUp(ctx context.Context) error {
	c.mu.Lock()
	up := c.up
	c.mu.Unlock()
	select {
	case <-up:
	case <-c.tried:
	case <-ctx.Done():
	}
	_, _, err := c.Current()
	return err
}

func (c *Conn) close() {
	c.cancel()
	<-c.done
}

// run connects, monitors, waits for the connection to drop, and starts
// again with a jittered backoff (100 ms doubling to 10 s) until closed.
func (c *Conn) run(ctx context.Context) {
	defer close(c.done)
	delay := 100 * time.Millisecond
	var tried sync.Once
	for {
		cl, v, err := c.connect(ctx)
		if err != nil {
			c.mu.Lock()
			c.lastErr = err
			c.mu.Unlock()
		}
		if err == nil {
			delay = 100 * time.Millisecond
			c.mu.Lock()
			c.client, c.view, c.lastErr = cl, v, nil
			select {
			case <-c.up:
			default:
				close(c.up)
			}
			c.mu.Unlock()
			tried.Do(func() { close(c.tried) })
			c.log.Info("ovsdb connected")
			c.owner.dispatch(c, "", nil, nil) // a full resync of the manager's objects
			select {
			case <-ctx.Done():
				cl.Close()
				return
			case <-cl.DisconnectNotify():
			}
			err = errors.New("connection lost")
			c.log.Warn("ovsdb connection lost; reconnecting")
			c.mu.Lock()
			c.up = make(chan struct{})
			c.mu.Unlock()
			cl.Close()
		}
		c.mu.Lock()
		c.lastErr = err
		c.mu.Unlock()
		tried.Do(func() { close(c.tried) })
		// The view's rows are gone with the client: wake the engine for
		// every object of the manager (they report the error until the
		// next monitor refills a view).
		c.owner.dispatch(c, "", nil, nil)
		select {
		case <-ctx.Done():
			return
		case <-time.After(jitter(delay, 0.2)):
		}
		delay = min(delay*2, 10*time.Second)
	}
}

// connect makes one client with a fresh view and monitors the tables.
func (c *Conn) connect(ctx context.Context) (client.Client, *View, error) {
	dbModel, err := vswitch.ClientModel()
	if err != nil {
		return nil, nil, fmt.Errorf("ovsdb: model: %w", err)
	}
	if c.spec.Database != "" && c.spec.Database != dbModel.Name() {
		return nil, nil, fmt.Errorf("ovsdb: manager %s: database %q is not supported, only %q", c.name, c.spec.Database, dbModel.Name())
	}
	discard := logr.Discard()
	opts := []client.Option{client.WithEndpoint(c.spec.Address), client.WithLogger(&discard)}
	if c.spec.TLS != nil {
		// Read at each connect, so renewed files are used. As in Open
		// vSwitch's own SSL (ovs-pki certificates name no host), the
		// server's host name is not checked, only its chain to caFile.
		cfg, err := tlsconfig.ChainOnly(c.owner.opts.Secrets, "spec.tls", c.spec.TLS)
		if err != nil {
			return nil, nil, fmt.Errorf("ovsdb: manager %s: %w", c.name, err)
		}
		opts = append(opts, client.WithTLSConfig(cfg))
	}
	cl, err := client.NewOVSDBClient(dbModel, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("ovsdb: manager %s: %w", c.name, err)
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := cl.Connect(cctx); err != nil {
		return nil, nil, fmt.Errorf("cannot connect to %s: %w", c.spec.Address, err)
	}
	v := newView()
	cl.Cache().AddEventHandler(&cache.EventHandlerFuncs{
		AddFunc: func(table string, row model.Model) {
			v.apply(table, nil, row)
			c.owner.dispatch(c, table, nil, row)
		},
		UpdateFunc: func(table string, old, row model.Model) {
			v.apply(table, old, row)
			c.owner.dispatch(c, table, old, row)
		},
		DeleteFunc: func(table string, row model.Model) {
			v.apply(table, row, nil)
			c.owner.dispatch(c, table, row, nil)
		},
	})
	if _, err := cl.Monitor(cctx, monitorRequest(cl, c.owner.opts)); err != nil {
		cl.Close()
		return nil, nil, fmt.Errorf("cannot monitor %s: %w", c.spec.Address, err)
	}
	// The monitor's cache holds the initial rows when MonitorAll returns,
	// but its events reach the view a moment later; observing before then
	// would miss rows (and create duplicates of them).
	initial := initialRows(cl.Cache())
	for !v.caughtUp(cl.Cache(), initial) {
		select {
		case <-cctx.Done():
			cl.Close()
			return nil, nil, fmt.Errorf("monitor of %s: the initial rows did not arrive: %w", c.spec.Address, cctx.Err())
		case <-time.After(2 * time.Millisecond):
		}
	}
	return cl, v, nil
}

// monitorRequest asks for the columns the provider reads, not whole rows:
// ovs-vswitchd rewrites the statistics and status columns every few
// seconds, and those updates would wake every mirror for nothing (the
// Mirror's statistics are the exception: vswitchd writes them only for the
// mirrors it applied, at most 32 a bridge, so they tell which it ignores;
// the OVSDB provider ignores an update that changes only their values); and a
// monitor of 10,000 ports costs less to fill with fewer columns. The
// topology's columns (ofport, MAC, MTU, link state, patch peers, trunks)
// change only when the port does.
func monitorRequest(cl client.Client, opts Options) *client.Monitor {
	root, br, port, mirror, iface := &vswitch.OpenvSwitch{}, &vswitch.Bridge{}, &vswitch.Port{}, &vswitch.Mirror{}, &vswitch.Interface{}
	ifaceColumns := []any{&iface.Name, &iface.Type, &iface.ExternalIDs, &iface.Error,
		&iface.Ofport, &iface.MACInUse, &iface.MTU, &iface.LinkState, &iface.Options}
	ifaces := client.WithTable(iface, ifaceColumns...)
	if opts.OwnInterfacesOnly {
		ifaces = client.WithConditionalTable(iface, []model.Condition{{Field: &iface.ExternalIDs,
			Function: libovsdb.ConditionIncludes, Value: map[string]string{KeyOwner: opts.Node}}}, ifaceColumns...)
	}
	return cl.NewMonitor(
		client.WithTable(root, &root.Bridges),
		client.WithTable(br, &br.Name, &br.DatapathType, &br.FailMode, &br.ExternalIDs, &br.Mirrors, &br.Ports,
			&br.OtherConfig, &br.Protocols),
		client.WithTable(port, &port.Name, &port.ExternalIDs, &port.Interfaces, &port.Tag, &port.Trunks, &port.VLANMode),
		ifaces,
		client.WithTable(mirror, &mirror.Name, &mirror.ExternalIDs, &mirror.SelectAll, &mirror.SelectSrcPort,
			&mirror.SelectDstPort, &mirror.SelectVLAN, &mirror.OutputPort, &mirror.OutputVLAN, &mirror.Statistics),
	)
}

// SameSettings reports whether sp connects the same way as the Conn.
func (c *Conn) SameSettings(sp spec.OVSManagerSpec) bool {
	a, b := c.spec, sp
	a.Policy, b.Policy = "", ""
	return reflect.DeepEqual(a, b)
}

// Name is the OVSManager's metadata.name.
func (c *Conn) Name() string { return c.name }

// Spec is the OVSManager spec the connection was made with.
func (c *Conn) Spec() spec.OVSManagerSpec { return c.spec }

// Transact sends ops in one transaction (bounded by 30 s) and counts it.
func (c *Conn) Transact(ctx context.Context, ops []libovsdb.Operation) ([]libovsdb.OperationResult, error) {
	cl, _, err := c.Current()
	if err != nil {
		return nil, err
	}
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	results, err := cl.Transact(tctx, ops...)
	c.owner.stats.transactions.Add(1)
	c.owner.stats.operations.Add(uint64(len(ops)))
	if err == nil {
		_, err = libovsdb.CheckOperationResults(results, ops)
	}
	if err != nil {
		c.owner.stats.failed.Add(1)
	}
	return results, err
}

// Await waits until cond holds on the manager's view, at most the
// settle timeout: cond runs now and after each change of the view, without
// the view's lock (it takes what it needs). A timeout is not an error: the
// caller's next read shows the truth. It fails when the manager is not
// connected or ctx ends.
func (c *Conn) Await(ctx context.Context, cond func(v *View) bool) error {
	deadline := time.NewTimer(c.owner.opts.SettleTimeout)
	defer deadline.Stop()
	for {
		_, v, err := c.Current()
		if err != nil {
			return err
		}
		wake := v.Changed()
		if cond(v) {
			return nil
		}
		select {
		case <-wake:
		case <-deadline.C:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// jitter returns d changed by a random fraction of up to ±f.
func jitter(d time.Duration, f float64) time.Duration {
	return d + time.Duration((rand.Float64()*2-1)*f*float64(d))
}
