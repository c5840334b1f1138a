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
	// whether the analyzer held what was published. ReadBackFailed says
	// that the last read-back got no answer (Verified says why): no
	// verdict on the graph, nothing a Sync would repair.
	Verified       string
	VerifiedOK     bool
	ReadBackFailed bool
	// Persistent, when set, says that the difference the read-back found
	// survived a resync (an analyzer that keeps the graph differently from
	// how it was published): it is reported, not resent again.
	Persistent string
	// ReadBacks counts the read-backs done; VerifyEvery is the interval
	// to the next: spec.verifyInterval, doubled after each read-back that
	// found the same difference again, up to Options.VerifyBackoffMax.
	ReadBacks   int
	VerifyEvery time.Duration
	// Logins counts the /login requests made (auth method login): one at
	// the start, one more each time the analyzer refused an expired token.
	Logins int
}

// mismatch is the difference the last read-back found, for telling a
// new difference (repaired with a resync) from one that survived a resync
// (reported once, read back at a growing interval).
type mismatch struct {
	fingerprint string
	// syncs is Status.Syncs when the difference was first found: more
	// Syncs since mean the analyzer was sent the graph again.
	syncs int
	// persistent is set once it survived a resync.
	persistent bool
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

	// known is the difference the last read-back found (nil: none);
	// survived the fingerprint of the last one that survived a resync, so
	// that it is not resent again when it comes back after another one
	// was repaired; verifyEvery the current read-back interval. They
	// belong to the export's goroutine and outlive a connection.
	known       *mismatch
	survived    string
	verifyEvery time.Duration

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
	before := [5]string{fmt.Sprint(x.st.Connected), x.st.LastError, x.st.Verified, fmt.Sprint(x.st.VerifiedOK), x.st.Persistent}
	f(&x.st)
	after := [5]string{fmt.Sprint(x.st.Connected), x.st.LastError, x.st.Verified, fmt.Sprint(x.st.VerifiedOK), x.st.Persistent}
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
			st.Connected, st.Since, st.LastError = false, time.Now(), stableText(err)
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
	x.update(func(st *Status) { st.Logins = x.ep.logins })
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
		st.Verified, st.VerifiedOK, st.Persistent, st.ReadBackFailed = "", false, "", false
	})
	verifyT := time.NewTimer(time.Hour)
	defer verifyT.Stop()
	var verifyAt time.Time
	arm := func() {
		d := reconciler.Jitter(x.verifyEvery, 0.1)
		verifyAt = time.Now().Add(d)
		verifyT.Reset(d)
	}
	arm()
	// changed brings the read-back interval back to spec.verifyInterval
	// when the published graph changed, and the next read-back with it
	// if it was further away; it never postpones one.
	changed := func() {
		base := x.sp.VerifyInterval.D()
		if x.verifyEvery != base {
			x.verifyEvery = base
			x.update(func(st *Status) { st.VerifyEvery = base })
		}
		if time.Until(verifyAt) > base+base/10 {
			arm()
		}
	}
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
			n, err := x.publish(conn, published)
			if err != nil {
				return err
			}
			if n > 0 {
				changed()
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
				st.Verified, st.VerifiedOK, st.Persistent, st.ReadBackFailed = "", false, "", false
			})
			close(d)
			changed()
		case <-x.verify:
			if err := x.check(ctx, conn, published); err != nil {
				return err
			}
			arm()
		case <-verifyT.C:
			if err := x.check(ctx, conn, published); err != nil {
				return err
			}
			arm()
		}
	}
}

// publish brings published to the graph now and sends what changed; it
// returns how many messages it sent.
func (x *exporter) publish(conn *websocket.Conn, published *graphState) (int, error) {
	msgs, err := x.step(published)
	if err != nil {
		return 0, err
	}
	for i, m := range msgs {
		if err := x.send(conn, m); err != nil {
			// What was sent is unknown to us now; the reconnect's Sync
			// sets the analyzer straight.
			return i, fmt.Errorf("%w (after %d of %d changes)", err, i, len(msgs))
		}
	}
	if len(msgs) > 0 {
		x.update(func(st *Status) {
			st.Nodes, st.Edges, st.Messages = len(published.nodes), len(published.edges), st.Messages+len(msgs)
		})
	}
	return len(msgs), nil
}

// check publishes pending changes, then reads back what the analyzer
// holds. A difference is read again after a short pause (the analyzer may
// not have applied the last messages yet) before it counts.
//
// A new difference is reported as such (Observe makes it a difference of
// the object, which policy enforce repairs with a Sync). The same
// difference found again after a Sync survived the resync: resending
// would not help, so it is reported once, as Persistent, and read back
// at an interval doubling up to Options.VerifyBackoffMax. The status
// changes only when the verdict does: the same difference leaves the
// object's status as it was.
func (x *exporter) check(ctx context.Context, conn *websocket.Conn, published *graphState) error {
	base := x.sp.VerifyInterval.D()
	if n, err := x.publish(conn, published); err != nil {
		return err
	} else if n > 0 {
		x.verifyEvery = base // the graph changed: a difference may go or come
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
		x.update(func(st *Status) {
			st.Verified, st.VerifiedOK, st.Persistent, st.ReadBackFailed = "read-back failed: "+stableText(err), false, "", true
			st.ReadBacks++
			st.Logins = x.ep.logins
		})
		return nil
	}
	syncs := x.status().Syncs
	switch fp := v.fingerprint(); {
	case v.ok():
		x.known, x.survived, x.verifyEvery = nil, "", base
	case x.known != nil && x.known.fingerprint == fp:
		if !x.known.persistent && syncs > x.known.syncs {
			x.known.persistent, x.survived = true, fp
			x.log.Warn("the analyzer still does not hold the published graph after a resync: reported, not resent; reading back less often",
				"verdict", v.String())
		}
		x.verifyEvery = min(2*x.verifyEvery, max(base, x.opts.VerifyBackoffMax))
	case fp == x.survived:
		x.known, x.verifyEvery = &mismatch{fingerprint: fp, syncs: syncs, persistent: true}, base
	default:
		x.known, x.verifyEvery = &mismatch{fingerprint: fp, syncs: syncs}, base
		x.log.Warn("the analyzer does not hold the published graph", "verdict", v.String())
	}
	persistent := ""
	if x.known != nil && x.known.persistent {
		persistent = "the analyzer does not keep the graph as published, even after a resync (does it decode metadata differently?): " +
			v.examples(5) + "; not resent, read back less often"
	}
	x.update(func(st *Status) {
		st.Verified, st.VerifiedOK, st.Persistent, st.ReadBackFailed = v.String(), v.ok(), persistent, false
		st.ReadBacks++
		st.VerifyEvery = x.verifyEvery
		st.Logins = x.ep.logins
	})
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
