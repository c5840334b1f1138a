// Package skydivetest is an in-process stand-in for the SkyDive v0.28
// analyzer, written to the behaviour documented in
// ../shared/reference/skydive-protocol.md (its section "Corrections and
// additions (December 2026)" first), for tests of wirekeeper's SkyDive
// publisher: no real analyzer can run here.
//
// It serves the publisher websocket (/ws/publisher) with the analyzer's
// handshake, ping and graph-message rules, and the REST API (/login,
// /api/topology with a small Gremlin subset, /api/node, /api/edge,
// /api/status) on the same port, over plain HTTP or TLS, with optional
// basic authentication, expiring login tokens and a 403 for users RBAC does
// not let publish. Like the analyzer it never answers a publisher's bad
// input: it drops it, and records why in Log where the analyzer logs it.
//
// What it reproduces of the analyzer:
//
//   - Metadata decoders. The analyzer decodes some node metadata keys into
//     fixed structures and keeps only those: what REST, SyncReply and
//     Gremlin return is the decoded form, not what was published. Of the
//     decoders SkyDive v0.28 registers at analyzer start, the stand-in has
//     those of the keys wirekeeper sends or may send by SkyDive's
//     conventions: Ovs (OvsMetadata: OtherConfig, Options, Protocols,
//     DBVersion, Version, Error, Metric, LastUpdateMetric; any other field
//     and every empty one are dropped), Container (ContainerMetadata, the
//     key SkyDive's container probes use since v0.28), and the top-level
//     Metric and LastUpdateMetric (InterfaceMetric). v0.28 has no decoder
//     for Docker (its probe writes Container), nor for any other key
//     wirekeeper sends (Type, Name, UUID, Manager, ExtID, Driver, OfPort,
//     MAC, MTU, State, SelectAll, OutputVLAN, SelectVLAN, Path, IPV4, IPV6,
//     Docker, Collector, Interfaces, WireKeeper): those are kept as sent.
//     Keys it decodes that the stand-in does not (RoutingTables, FDB,
//     Neighbors, Vfs, BlockDev, LLDP, Lxd, Libvirt, OVN, Neutron,
//     Contrail, SFlow, Captures, PacketInjections) are kept as sent here.
//     A value a decoder refuses (a wrong JSON type) makes the element
//     unparsable: the whole message is dropped ("unable to parse"), a Sync
//     included, and REST answers 400. Decoding applies to NodeAdded,
//     NodeUpdated, NodeDeleted, Sync (and SyncReply) elements, partial
//     updates, and REST POST and PATCH.
//   - Parsing: an element needs an ID, an edge a Parent and a Child; a
//     missing or null CreatedAt or UpdatedAt is now, 0 is stored as 1970.
//   - Schema checks on Node* and Edge* messages, deletes included (a
//     delete must carry the element's metadata), not on Sync elements:
//     Type and Name non-empty, UUID present on ovsport and Path on netns
//     (empty strings accepted), RelationType on edges.
//   - Origin rewritten to "<X-Client-Type>.<X-Host-ID>" on Node*/Edge*
//     messages (the analyzer has a graph validator); Sync elements keep
//     theirs.
//   - Sync (and a SyncReply a publisher sends) deletes the origin's nodes
//     with the edges touching them, then adds the elements whose ID is
//     free; edges of the origin between other origins' nodes stay.
//   - NodeUpdated applies a higher revision only; EdgeUpdated replaces
//     metadata and UpdatedAt but never stores the revision, and a revision
//     not higher is logged as "edge not found". NodeDeleted records the
//     message's DeletedAt (see Deleted).
//   - Silence: re-adds, stale node revisions, unknown message types and
//     namespaces, deletes of unknown edges and partial updates (parsed,
//     never applied by the publisher endpoint) leave no log line.
//   - Handshake: without X-Client-Type the upgrade succeeds and the
//     connection is closed at once; a host ID already connected gets 409.
//
// Where it is stricter than the analyzer, as a limitation: it speaks only
// the json client protocol (X-Client-Protocol: protobuf is refused with
// 400), and binary frames are logged and ignored.
package skydivetest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

const (
	// HostID is the stand-in's own host id, sent in the X-Host-ID response
	// header of the websocket upgrade.
	HostID = "skydive-standin"
	// ServiceType is sent in the X-Service-Type response header.
	ServiceType = "analyzer"
	// Persistent and DeleteOnDisconnect are the X-Persistence-Policy values.
	Persistent         = "Persistent"
	DeleteOnDisconnect = "DeleteOnDisconnect"
)

// Options configure a stand-in. The zero value is the analyzer's default:
// no auth, plain HTTP, pings every 2s, a 5s pong timeout.
type Options struct {
	// Users is the basic auth backend (user -> password); nil means no auth.
	Users map[string]string
	// TLS serves https/wss with a certificate signed by a CA generated for
	// the test; see CAFile and ClientTLSConfig.
	TLS bool
	// PingInterval is how often the server pings each publisher (default 2s).
	PingInterval time.Duration
	// PongTimeout drops a publisher that has not answered a pong for this
	// long (default 5s).
	PongTimeout time.Duration
	// Addr is the listen address (default "127.0.0.1:0"); Restart reuses
	// the port first bound.
	Addr string
	// TokenTTL is how long an authtoken from POST /login stays valid
	// (0: forever); an expired token is refused with 401 like an unknown
	// one. See also ExpireTokens.
	TokenTTL time.Duration
	// Forbidden lists users of Users that RBAC does not let publish: their
	// publisher upgrade is refused with 403, REST still serves them. It
	// has no effect without Users.
	Forbidden []string
}

// Publisher is one live publisher connection.
type Publisher struct {
	HostID      string
	ClientType  string
	Origin      string // "<ClientType>.<HostID>"
	Persistence string // X-Persistence-Policy as sent, "" when absent
	RemoteAddr  string
	Messages    int // graph messages received on this connection
	ConnectedAt time.Time
}

// Analyzer is a running stand-in. Its methods are safe for concurrent use.
type Analyzer struct {
	t         testing.TB
	opts      Options
	tlsConfig *tls.Config
	caFile    string
	clientTLS *tls.Config
	handlers  sync.WaitGroup // websocket handlers of the current server

	mu       sync.Mutex
	addr     string
	srv      *http.Server // nil while stopped
	gen      uint64       // bumped by Stop: connections of older servers are dead
	g        *graph
	pubs     map[string]*publisher  // by host id, also while upgrading
	tokens   map[string]*loginToken // issued by POST /login
	logLines []string
	messages int
	changed  chan struct{}
}

// Start runs a stand-in until the test ends.
func Start(t testing.TB, opts Options) *Analyzer {
	t.Helper()
	if opts.PingInterval <= 0 {
		opts.PingInterval = 2 * time.Second
	}
	if opts.PongTimeout <= 0 {
		opts.PongTimeout = 5 * time.Second
	}
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	a := &Analyzer{
		t:       t,
		opts:    opts,
		g:       newGraph(nil),
		pubs:    map[string]*publisher{},
		tokens:  map[string]*loginToken{},
		changed: make(chan struct{}),
	}
	if opts.TLS {
		a.tlsConfig, a.clientTLS, a.caFile = newTLS(t)
	}
	if err := a.listen(opts.Addr); err != nil {
		t.Fatalf("skydivetest: %v", err)
	}
	t.Cleanup(a.Stop)
	return a
}

func (a *Analyzer) listen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w", addr, err)
	}
	if a.tlsConfig != nil {
		ln = tls.NewListener(ln, a.tlsConfig)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.addr = ln.Addr().String()
	a.srv = &http.Server{
		Handler:           a.routes(a.gen),
		ErrorLog:          log.New(io.Discard, "", 0),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go a.srv.Serve(ln) // returns ErrServerClosed once stopped
	return nil
}

// URL is the websocket base URL, "ws://127.0.0.1:PORT" or "wss://...",
// without a path; the publisher endpoint is URL()+"/ws/publisher".
func (a *Analyzer) URL() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.tlsConfig != nil {
		return "wss://" + a.addr
	}
	return "ws://" + a.addr
}

// HTTPURL is the REST base URL, "http://127.0.0.1:PORT" or "https://...".
func (a *Analyzer) HTTPURL() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.tlsConfig != nil {
		return "https://" + a.addr
	}
	return "http://" + a.addr
}

// CAFile is the path of the PEM of the CA that signed the server
// certificate, in the test's temporary directory; "" without TLS.
func (a *Analyzer) CAFile() string { return a.caFile }

// ClientTLSConfig returns a client configuration trusting CAFile; nil
// without TLS.
func (a *Analyzer) ClientTLSConfig() *tls.Config {
	if a.clientTLS == nil {
		return nil
	}
	return a.clientTLS.Clone()
}

// Stop closes the listener and every connection, as if the analyzer
// process died: no disconnect rule (DeleteOnDisconnect) is applied. The
// graph stays readable through Nodes and Edges until Restart empties it.
// Stop returns once every connection handler has finished; stopping a
// stopped stand-in does nothing.
func (a *Analyzer) Stop() {
	a.mu.Lock()
	srv := a.srv
	if srv == nil {
		a.mu.Unlock()
		return
	}
	a.srv = nil
	a.gen++
	live := a.liveLocked()
	for _, p := range live {
		p.cause = "analyzer stopped"
	}
	a.logf("stopped: %d publisher(s) dropped, disconnect rules not applied", len(live))
	a.notifyLocked()
	a.mu.Unlock()
	srv.Close()
	for _, p := range live {
		if p.conn != nil { // one still upgrading sees the new generation and closes
			p.conn.NetConn().Close()
		}
	}
	a.handlers.Wait()
}

// Restart stops the stand-in (see Stop) and starts it again on the same
// address with an empty graph, as a restarted analyzer process. Log,
// Messages, Deleted and issued auth tokens are kept.
func (a *Analyzer) Restart() {
	a.t.Helper()
	a.Stop()
	a.mu.Lock()
	a.g = newGraph(a.g.deleted)
	addr := a.addr
	a.logf("restarted on %s with an empty graph", addr)
	a.notifyLocked()
	a.mu.Unlock()
	var err error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if err = a.listen(addr); err == nil {
			return
		}
	}
	a.t.Fatalf("skydivetest: restart: %v", err)
}

// Cut drops every publisher connection abruptly (the TCP connection is
// closed, no close frame is sent). The graph stays, and the disconnect
// rules apply as on any disconnect. Cut returns once they have.
func (a *Analyzer) Cut() {
	a.mu.Lock()
	live := a.liveLocked()
	for _, p := range live {
		p.cause = "cut"
	}
	a.mu.Unlock()
	for _, p := range live {
		if p.conn != nil { // one still upgrading sees its cause and closes
			p.conn.NetConn().Close()
		}
	}
	for _, p := range live {
		<-p.done
	}
}

// Nodes returns a copy of every node, sorted by ID.
func (a *Analyzer) Nodes() []Node {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.g.nodeList(nil)
}

// Edges returns a copy of every edge, sorted by ID.
func (a *Analyzer) Edges() []Edge {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.g.edgeList(nil)
}

// Node returns a copy of the node with that ID.
func (a *Analyzer) Node(id string) (Node, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	n, ok := a.g.nodes[id]
	if !ok {
		return Node{}, false
	}
	return n.clone(), true
}

// Edge returns a copy of the edge with that ID.
func (a *Analyzer) Edge(id string) (Edge, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	e, ok := a.g.edges[id]
	if !ok {
		return Edge{}, false
	}
	return e.clone(), true
}

// Counts returns how many nodes and edges the graph holds, without copying
// them (for benchmarks' Wait conditions).
func (a *Analyzer) Counts() (nodes, edges int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.g.nodes), len(a.g.edges)
}

// OriginGraph returns copies of the nodes and edges whose Origin is origin,
// sorted by ID.
func (a *Analyzer) OriginGraph(origin string) ([]Node, []Edge) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.g.nodeList(func(n *Node) bool { return n.Origin == origin }),
		a.g.edgeList(func(e *Edge) bool { return e.Origin == origin })
}

// Publishers returns the live publisher connections, sorted by HostID. A
// connection is listed from the moment its host id is taken, just before
// the server answers the upgrade, so a client that got its 101 is listed.
func (a *Analyzer) Publishers() []Publisher {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := []Publisher{}
	for _, p := range a.liveLocked() {
		out = append(out, p.info)
	}
	return out
}

// Log returns the server-log lines so far: connections, disconnections,
// Syncs, and every input dropped where the real analyzer logs the drop,
// with its reason ("unable to parse", "invalid schema", "Child node not
// found", "node not found", "edge not found", "409 host id already
// connected", "401 unauthorized", "ping timeout", ...). What the analyzer
// ignores silently has no line: re-adds, stale node revisions, unknown
// message types and namespaces, deletes of unknown edges, partial updates,
// and metadata its decoders drop.
func (a *Analyzer) Log() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.logLines...)
}

// Deleted returns the most recent deletions (up to 1000), oldest first:
// every node and edge removed by a publisher's NodeDeleted or EdgeDeleted
// (with the message's DeletedAt and metadata), by a Sync, by
// DeleteOnDisconnect or over REST.
func (a *Analyzer) Deleted() []Deletion {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]Deletion, len(*a.g.deleted))
	for i, d := range *a.g.deleted {
		d.Metadata = cloneMap(d.Metadata)
		out[i] = d
	}
	return out
}

// ExpireTokens expires every login token issued so far: from now on they
// get 401 on the websocket upgrade and on REST, as an unknown token does.
// Tokens issued later are valid for Options.TokenTTL as usual.
func (a *Analyzer) ExpireTokens() {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := time.Now()
	for _, t := range a.tokens {
		t.expires = now
	}
	a.logf("every login token expired")
}

// Messages is the number of Graph-namespace websocket messages handled
// since Start, whatever their outcome (applied, ignored or dropped).
func (a *Analyzer) Messages() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.messages
}

// Changed returns a channel closed at the next change of the graph, of the
// publishers or of Messages. Take it before checking a condition, then wait
// on it, to miss no change.
func (a *Analyzer) Changed() <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.changed
}

// Wait returns nil once cond holds, checking it at start and after every
// change (see Changed), or ctx's error. cond must not call Wait.
func (a *Analyzer) Wait(ctx context.Context, cond func(a *Analyzer) bool) error {
	for {
		ch := a.Changed()
		if cond(a) {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("skydivetest: condition not met: %w", ctx.Err())
		}
	}
}

// liveLocked returns the connections, upgraded or upgrading, sorted by
// host id.
func (a *Analyzer) liveLocked() []*publisher {
	var out []*publisher
	for _, p := range a.pubs {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].info.HostID < out[j].info.HostID })
	return out
}

func (a *Analyzer) notifyLocked() {
	close(a.changed)
	a.changed = make(chan struct{})
}

func (a *Analyzer) logf(format string, args ...any) {
	a.logLines = append(a.logLines, time.Now().Format("15:04:05.000 ")+fmt.Sprintf(format, args...))
}

// errStopped answers requests racing with Stop.
var errStopped = errors.New("skydivetest: analyzer stopped")

// publisher is the state of one websocket connection.
type publisher struct {
	info  Publisher
	conn  *websocket.Conn // nil while upgrading
	gen   uint64
	sent  bool   // at least one message received
	cause string // why the connection ended, when the server ended it
	done  chan struct{}
}
