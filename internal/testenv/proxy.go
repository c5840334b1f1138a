package testenv

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Proxy is a TCP relay in front of a real server that a test can make
// behave the way a remote far away or under load does: add latency (every
// byte delayed, in order, as on a long link), stall (connections stay open
// and no byte moves either way, as behind a saturated link or a hung
// server), hang up (new connections are closed before a byte is sent, as
// git daemon does past --max-connections), cut answers short, or sever
// every connection (as a killed client's). It lets tests show what a
// client does with a slow or unreachable remote without touching the
// server. In front of a git daemon it also counts the requests, bytes and
// pushed refs of each git service (see Traffic).
type Proxy struct {
	t      testing.TB
	ln     net.Listener
	target string

	accepted atomic.Int64
	oneWay   atomic.Int64 // latency of each direction, in nanoseconds
	connect  atomic.Int64 // connect timeout before a retry, in nanoseconds
	retried  atomic.Int64

	mu      sync.Mutex
	stalled bool
	hangUp  bool
	severed bool
	cutAt   int64      // > 0: answers are cut after this many bytes
	resumed *sync.Cond // broadcast when stalled turns false or the proxy closes
	closed  bool
	conns   map[net.Conn]struct{}
	git     gitCounts
}

// NewProxy listens on a loopback port and relays every connection to
// target (host:port). It is closed, with every connection it holds, when t
// ends.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: proxy listen: %v", err)
	}
	p := &Proxy{t: t, ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.resumed = sync.NewCond(&p.mu)
	go p.serve()
	t.Cleanup(p.Close)
	return p
}

// Addr returns the host:port clients connect to.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Accepted returns how many connections the proxy has accepted so far.
func (p *Proxy) Accepted() int64 { return p.accepted.Load() }

// SetLatency delays every byte by oneWay in each direction, so that a
// request and its answer take a round trip of 2*oneWay more than they
// would; bytes keep their order and are not slowed otherwise (the link
// is long, not narrow). A connection also pays the TCP handshake the
// relay's own accept hides: the client's first bytes reach the server no
// earlier than a round trip after the connection was accepted. It applies
// to bytes read from now on; 0 ends it.
func (p *Proxy) SetLatency(oneWay time.Duration) { p.oneWay.Store(int64(max(oneWay, 0))) }

// SetConnectTimeout makes the proxy give up a connect to the target that
// takes longer than d and try again at once, for at most
// maxConnectRetrying, as a load balancer in front of a server with a
// short accept queue does: git daemon listens with a backlog of 5, and
// when its queue is full the kernel drops the connect, which a plain
// client retries only after 1, 3, 7, 15 s and more. 0 (the default)
// leaves connects to the kernel.
func (p *Proxy) SetConnectTimeout(d time.Duration) { p.connect.Store(int64(max(d, 0))) }

// ConnectRetries returns how many connects to the target SetConnectTimeout
// gave up and tried again.
func (p *Proxy) ConnectRetries() int64 { return p.retried.Load() }

// maxConnectRetrying bounds how long a connect is tried again.
const maxConnectRetrying = 2 * time.Minute

// dial connects to the target, trying again as SetConnectTimeout says,
// until the proxy is closed or severed.
func (p *Proxy) dial() (net.Conn, error) {
	timeout := time.Duration(p.connect.Load())
	if timeout == 0 {
		return net.Dial("tcp", p.target)
	}
	give := time.Now().Add(maxConnectRetrying)
	for {
		c, err := net.DialTimeout("tcp", p.target, timeout)
		var ne net.Error
		if err == nil || !errors.As(err, &ne) || !ne.Timeout() || time.Now().After(give) {
			return c, err
		}
		p.mu.Lock()
		gone := p.closed || p.severed
		p.mu.Unlock()
		if gone {
			return nil, err
		}
		p.retried.Add(1)
	}
}

// Stall stops every byte, on open connections and on the ones accepted
// from now on, until Resume: peers see a remote that does not answer.
func (p *Proxy) Stall() { p.setStalled(true) }

// Resume lets bytes flow again after Stall, and ends HangUp, CutAnswers
// and Sever.
func (p *Proxy) Resume() {
	p.mu.Lock()
	p.hangUp = false
	p.severed = false
	p.cutAt = 0
	p.mu.Unlock()
	p.setStalled(false)
}

// HangUp makes the proxy end each new connection as soon as it accepts
// it, without a byte (the peer reads the end of the stream), until Resume.
// Open connections are left alone.
func (p *Proxy) HangUp() {
	p.mu.Lock()
	p.hangUp = true
	p.mu.Unlock()
}

// CutAnswers makes the proxy end the answer of every new connection after
// n bytes (the peer reads the end of the stream), as a remote or middlebox
// dropping a connection mid-answer does; n <= 0 stops cutting.
func (p *Proxy) CutAnswers(n int64) {
	p.mu.Lock()
	p.cutAt = n
	p.mu.Unlock()
}

// Sever resets every open connection on both sides at once, dropping the
// bytes in flight, and resets each new connection as soon as it is
// accepted, until Resume. For the server, the clients behind the proxy
// are gone mid-request, as a killed process's are; for those clients, the
// remote is unreachable.
func (p *Proxy) Sever() {
	p.mu.Lock()
	p.severed = true
	for c := range p.conns {
		reset(c)
	}
	p.mu.Unlock()
}

func (p *Proxy) setStalled(v bool) {
	p.mu.Lock()
	p.stalled = v
	p.mu.Unlock()
	p.resumed.Broadcast()
}

// Close stops listening and closes every connection.
func (p *Proxy) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.resumed.Broadcast()
	p.ln.Close()
}

func (p *Proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.accepted.Add(1)
		p.mu.Lock()
		hangUp, severed := p.hangUp, p.severed
		p.mu.Unlock()
		switch {
		case severed:
			reset(c)
		case hangUp:
			go hangUpOn(c)
		default:
			go p.relay(c, time.Now())
		}
	}
}

// hangUpOn ends c without a byte: a FIN first, then what the peer sends is
// read and dropped until it closes, so that the peer sees the end of the
// stream rather than a reset.
func hangUpOn(c net.Conn) {
	defer c.Close()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
	io.Copy(io.Discard, c)
}

// reset closes c with a TCP reset rather than the end of the stream.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}

func (p *Proxy) relay(client net.Conn, accepted time.Time) {
	server, err := p.dial()
	if err != nil {
		client.Close()
		return
	}
	if !p.track(client, server) {
		return
	}
	defer p.untrack(client, server)
	p.mu.Lock()
	cut := p.cutAt
	p.mu.Unlock()
	var answer io.Reader = server
	if cut > 0 {
		answer = io.LimitReader(server, cut)
	}
	conn := &gitConn{p: p}
	handshake := accepted.Add(2 * time.Duration(p.oneWay.Load()))
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.pipe(server, client, handshake, conn.fromClient) }()
	go func() { defer wg.Done(); p.pipe(client, answer, time.Time{}, conn.fromServer) }()
	wg.Wait()
}

func (p *Proxy) track(conns ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.severed {
		for _, c := range conns {
			reset(c)
		}
		return false
	}
	for _, c := range conns {
		p.conns[c] = struct{}{}
	}
	return true
}

func (p *Proxy) untrack(conns ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range conns {
		c.Close()
		delete(p.conns, c)
	}
}

// chunk is what one read of a relayed stream returned, and when it is due
// at the other end; err ends the stream (io.EOF: the sender said all it
// will say).
type chunk struct {
	data []byte
	due  time.Time
	err  error
}

// pipe relays src to dst through a delay line: each chunk read is
// written once the latency has passed (and not before notBefore), in the
// order read, and while the proxy is not stalled. seen is told of each
// chunk as it is read. The end of src is passed on as a half-close, so a
// peer that has said all it will say still gets its answer; any other
// error ends both connections.
func (p *Proxy) pipe(dst net.Conn, src io.Reader, notBefore time.Time, seen func([]byte)) {
	line := make(chan chunk, 64)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			now := time.Now()
			if now.Before(notBefore) {
				now = notBefore
			}
			due := now.Add(time.Duration(p.oneWay.Load()))
			c := chunk{due: due, err: err}
			if n > 0 {
				c.data = append([]byte(nil), buf[:n]...)
				seen(c.data)
			}
			select {
			case line <- c:
			case <-stop:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	wait := time.NewTimer(time.Hour)
	wait.Stop()
	for c := range line {
		if d := time.Until(c.due); d > 0 {
			wait.Reset(d)
			<-wait.C
		}
		if len(c.data) > 0 {
			if !p.waitFlowing() {
				return
			}
			if _, err := dst.Write(c.data); err != nil {
				dst.Close()
				return
			}
		}
		switch {
		case errors.Is(c.err, io.EOF):
			if tc, ok := dst.(*net.TCPConn); ok {
				tc.CloseWrite()
				return
			}
			dst.Close()
			return
		case c.err != nil:
			dst.Close()
			return
		}
	}
}

// waitFlowing blocks while the proxy is stalled; false once it is closed.
func (p *Proxy) waitFlowing() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.stalled && !p.closed {
		p.resumed.Wait()
	}
	return !p.closed
}
