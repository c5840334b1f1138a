package skydive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wirekeeper/wirekeeper/internal/topology"
	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/spec"
)

// Status is what an export is doing, for Observe and for tests.
type Status struct {
	// Connected is set while the publisher connection is up; Since is when
	// it came up (or went down).
	Connected bool
	Since     time.Time
	// LastError is why the last connection ended or could not be made.
	LastError string
	// Nodes and Edges count the graph last published; Syncs the whole
	// graphs sent, Messages the incremental messages.
	Nodes, Edges    int
	Syncs, Messages int
	// Verified is the last read-back, "" before the first; VerifiedOK says
	// whether the analyzer held what was published.
	Verified   string
	VerifiedOK bool
}

// exporter publishes one node's graph to one analyzer for one
// SkyDiveExport, reconnecting until stopped.
type exporter struct {
	name   string
	sp     spec.SkyDiveExportSpec
	ep     *endpoint
	o      origin
	opts   Options
	log    *slog.Logger
	prov   *Provider
	notify func() // the status changed
	// asm is the graph as of the last step, in the export's goroutine.
	asm *assembly

	kick, verify chan struct{}
	// resync asks for the whole graph to be sent again; the channel sent
	// is closed once it was (or, while disconnected, once the next
	// attempt is under way).
	resync chan chan struct{}
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	st       Status
	withdraw bool // at stop, send an empty Sync first
}

func poke(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

func (x *exporter) start() {
	ctx, cancel := context.WithCancel(context.Background())
	x.kick, x.verify, x.resync = make(chan struct{}, 1), make(chan struct{}, 1), make(chan chan struct{}, 1)
	x.cancel, x.done = cancel, make(chan struct{})
	go x.run(ctx)
}

// stop ends the export; withdraw first removes this node's graph from the
// analyzer (an empty Sync), for an export removed or moved elsewhere.
func (x *exporter) stop(withdraw bool) {
	x.mu.Lock()
	x.withdraw = withdraw
	x.mu.Unlock()
	x.cancel()
	<-x.done
}

// resyncNow has the whole graph sent again and waits until it was, or
// until a reconnect is under way.
func (x *exporter) resyncNow(ctx context.Context) error {
	done := make(chan struct{})
	select {
	case x.resync <- done:
	case <-ctx.Done():
		return ctx.Err()
	case <-x.done:
		return nil
	}
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	case <-x.done:
	}
	return nil
}

func (x *exporter) status() Status {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.st
}

// update changes the status, and tells the provider when what the
// object's status shows changed.
func (x *exporter) update(f func(st *Status)) {
	x.mu.Lock()
	before := [4]string{fmt.Sprint(x.st.Connected), x.st.LastError, x.st.Verified, fmt.Sprint(x.st.VerifiedOK)}
	f(&x.st)
	after := [4]string{fmt.Sprint(x.st.Connected), x.st.LastError, x.st.Verified, fmt.Sprint(x.st.VerifiedOK)}
	x.mu.Unlock()
	if before != after {
		x.notify()
	}
}

// run connects, publishes, and reconnects with a jittered backoff.
func (x *exporter) run(ctx context.Context) {
	defer close(x.done)
	backoff := x.opts.BackoffMin
	for {
		began := time.Now()
		err := x.session(ctx)
		if ctx.Err() != nil {
			return
		}
		if time.Since(began) > x.opts.BackoffMax {
			backoff = x.opts.BackoffMin // that connection lived; start over
		}
		x.log.Warn("analyzer connection ended; reconnecting", "in", backoff.Round(time.Millisecond), "err", err)
		x.update(func(st *Status) {
			st.Connected, st.Since, st.LastError = false, time.Now(), err.Error()
		})
		select {
		case <-ctx.Done():
			return
		case d := <-x.resync: // an apply asks for a retry now
			close(d)
		case <-time.After(reconciler.Jitter(backoff, 0.5)):
		}
		backoff = min(backoff*2, x.opts.BackoffMax)
	}
}

// session is one connection: a Sync of the whole graph, then changes as
// they come, read-backs, pings; it returns why it ended.
func (x *exporter) session(ctx context.Context) error {
	conn, err := x.ep.dial(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	lost := make(chan error, 1)
	go x.read(conn, lost)

	published, err := x.full()
	if err != nil {
		return err
	}
	if err := x.send(conn, x.o.syncMessage(published)); err != nil {
		return err
	}
	x.log.Info("connected to the analyzer; graph sent", "analyzer", x.ep.ws, "nodes", len(published.nodes), "edges", len(published.edges))
	x.update(func(st *Status) {
		st.Connected, st.Since, st.LastError = true, time.Now(), ""
		st.Nodes, st.Edges, st.Syncs = len(published.nodes), len(published.edges), st.Syncs+1
		st.Verified, st.VerifiedOK = "", false
	})
	verifyT := time.NewTimer(reconciler.Jitter(x.sp.VerifyInterval.D(), 0.1))
	defer verifyT.Stop()
	pingT := time.NewTicker(x.opts.PingInterval)
	defer pingT.Stop()
	for {
		select {
		case <-ctx.Done():
			x.mu.Lock()
			withdraw := x.withdraw
			x.mu.Unlock()
			if withdraw {
				empty := &graphState{nodes: map[string]*stateNode{}, edges: map[string]*stateEdge{}}
				x.send(conn, x.o.syncMessage(empty))
			}
			conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "wirekeeper export stopped"),
				time.Now().Add(time.Second))
			return nil
		case err := <-lost:
			return fmt.Errorf("skydive: connection to %s lost: %w", x.ep.ws, err)
		case <-pingT.C:
			if err := conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(x.opts.WriteTimeout)); err != nil {
				return fmt.Errorf("skydive: ping %s: %w", x.ep.ws, err)
			}
		case <-x.kick:
			if err := x.publish(conn, published); err != nil {
				return err
			}
		case d := <-x.resync:
			next, err := x.full()
			if err != nil {
				close(d)
				return err
			}
			if err := x.send(conn, x.o.syncMessage(next)); err != nil {
				close(d)
				return err
			}
			published = next
			x.log.Info("graph sent again", "nodes", len(next.nodes), "edges", len(next.edges))
			x.update(func(st *Status) {
				st.Nodes, st.Edges, st.Syncs = len(next.nodes), len(next.edges), st.Syncs+1
				st.Verified, st.VerifiedOK = "", false
			})
			close(d)
		case <-x.verify:
			if err := x.check(ctx, conn, published); err != nil {
				return err
			}
		case <-verifyT.C:
			if err := x.check(ctx, conn, published); err != nil {
				return err
			}
			verifyT.Reset(reconciler.Jitter(x.sp.VerifyInterval.D(), 0.1))
		}
	}
}

// publish brings published to the graph now and sends what changed.
func (x *exporter) publish(conn *websocket.Conn, published *graphState) error {
	msgs, err := x.step(published)
	if err != nil {
		return err
	}
	for i, m := range msgs {
		if err := x.send(conn, m); err != nil {
			// What was sent is unknown to us now; the reconnect's Sync
			// sets the analyzer straight.
			return fmt.Errorf("%w (after %d of %d changes)", err, i, len(msgs))
		}
	}
	if len(msgs) > 0 {
		x.update(func(st *Status) {
			st.Nodes, st.Edges, st.Messages = len(published.nodes), len(published.edges), st.Messages+len(msgs)
		})
	}
	return nil
}

// check publishes pending changes, then reads back what the analyzer
// holds. A difference is read again after a short pause (the analyzer may
// not have applied the last messages yet) before it counts.
func (x *exporter) check(ctx context.Context, conn *websocket.Conn, published *graphState) error {
	if err := x.publish(conn, published); err != nil {
		return err
	}
	v, err := x.ep.readBack(ctx, x.o, published)
	if err == nil && !v.ok() {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(x.opts.VerifySettle):
		}
		v, err = x.ep.readBack(ctx, x.o, published)
	}
	if err != nil {
		x.log.Warn("cannot read back the analyzer's graph", "err", err)
		x.update(func(st *Status) { st.Verified, st.VerifiedOK = "read-back failed: "+err.Error(), false })
		return nil
	}
	if !v.ok() {
		x.log.Warn("the analyzer does not hold the published graph", "verdict", v.String())
	}
	x.update(func(st *Status) { st.Verified, st.VerifiedOK = v.String(), v.ok() })
	return nil
}

// full builds the whole graph afresh, for a Sync.
func (x *exporter) full() (*graphState, error) {
	x.asm = newAssembly()
	published := newGraphState()
	if _, err := x.step(published); err != nil {
		return nil, err
	}
	return published, nil
}

// step builds the graph now and brings published to it, returning the
// messages that do the same to the analyzer.
func (x *exporter) step(published *graphState) ([]message, error) {
	g := x.prov.build(topology.NewLoose(x.prov.opts.Node, x.sp.Include, x.asm.cache))
	return x.asm.step(g, x.prov, x.o, published, time.Now().UnixMilli())
}

func (x *exporter) send(conn *websocket.Conn, m message) error {
	b, err := m.encode()
	if err != nil {
		return fmt.Errorf("skydive: encode %s: %w", m.Type, err)
	}
	conn.SetWriteDeadline(time.Now().Add(x.opts.WriteTimeout))
	if err := conn.WriteMessage(websocket.TextMessage, b); err != nil {
		return fmt.Errorf("skydive: send %s to %s: %w", m.Type, x.ep.ws, err)
	}
	return nil
}

// read keeps reading the socket for the whole connection, so that the
// analyzer's pings are answered; the analyzer sends nothing else a
// publisher needs. Any frame extends the deadline.
func (x *exporter) read(conn *websocket.Conn, lost chan<- error) {
	conn.SetReadLimit(x.opts.MaxMessage)
	extend := func() { conn.SetReadDeadline(time.Now().Add(x.opts.ReadTimeout)) }
	extend()
	conn.SetPingHandler(func(data string) error {
		extend()
		err := conn.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(x.opts.WriteTimeout))
		if errors.Is(err, websocket.ErrCloseSent) {
			return nil
		}
		return err
	})
	conn.SetPongHandler(func(string) error { extend(); return nil })
	for {
		_, r, err := conn.NextReader()
		if err != nil {
			lost <- err
			return
		}
		extend()
		io.Copy(io.Discard, r)
	}
}
