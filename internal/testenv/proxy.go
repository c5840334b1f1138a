package testenv

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// Proxy is a TCP relay in front of a real server that a test can make
// misbehave the way a remote under load does: stall (connections stay open
// and no byte moves either way, as behind a saturated link or a hung
// server) or hang up (new connections are closed before a byte is sent, as
// git daemon does past --max-connections). It lets tests show what a client
// does with a slow or unreachable remote without touching the server.
type Proxy struct {
	t      testing.TB
	ln     net.Listener
	target string

	accepted atomic.Int64

	mu      sync.Mutex
	stalled bool
	hangUp  bool
	cutAt   int64      // > 0: answers are cut after this many bytes
	resumed *sync.Cond // broadcast when stalled turns false or the proxy closes
	closed  bool
	conns   map[net.Conn]struct{}
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

// Stall stops every byte, on open connections and on the ones accepted
// from now on, until Resume: peers see a remote that does not answer.
func (p *Proxy) Stall() { p.setStalled(true) }

// Resume lets bytes flow again after Stall, and ends HangUp.
func (p *Proxy) Resume() {
	p.mu.Lock()
	p.hangUp = false
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
		hangUp := p.hangUp
		p.mu.Unlock()
		if hangUp {
			go hangUpOn(c)
			continue
		}
		go p.relay(c)
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

func (p *Proxy) relay(client net.Conn) {
	server, err := net.Dial("tcp", p.target)
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
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.copy(server, client) }()
	go func() { defer wg.Done(); p.copy(client, answer) }()
	wg.Wait()
}

func (p *Proxy) track(conns ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		for _, c := range conns {
			c.Close()
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

// copy relays src to dst, holding each chunk while the proxy is stalled.
// The end of src is passed on as a half-close, so a peer that has said all
// it will say still gets its answer; any other error ends both connections.
func (p *Proxy) copy(dst net.Conn, src io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.waitFlowing() {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				dst.Close()
				return
			}
		}
		if errors.Is(err, io.EOF) {
			if tc, ok := dst.(*net.TCPConn); ok {
				tc.CloseWrite()
				return
			}
		}
		if err != nil {
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
