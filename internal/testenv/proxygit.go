package testenv

import (
	"bytes"
	"maps"
	"strconv"
	"strings"
)

// Traffic is what went through a Proxy for one git service.
type Traffic struct {
	// Requests counts the connections that asked for the service.
	Requests int64
	// Up is what the clients sent, Down what the server answered, in bytes.
	Up, Down int64
}

// Traffic returns, by git service, what went through the proxy so far:
// "git-upload-pack" for fetches, clones and ls-remote (each begins with
// the remote's ref advertisement), "git-receive-pack" for pushes. Bytes of
// a connection whose first bytes are not a git:// request are counted
// under "".
func (p *Proxy) Traffic() map[string]Traffic {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]Traffic, len(p.git.traffic))
	for s, t := range p.git.traffic {
		out[s] = *t
	}
	return out
}

// Updates returns how many ref updates the pushes through the proxy asked
// for so far, by ref name: one per command of a push, whether the remote
// accepted it or not.
func (p *Proxy) Updates() map[string]int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.git.updates)
}

// gitCounts are a Proxy's counters; p.mu guards them.
type gitCounts struct {
	traffic map[string]*Traffic
	updates map[string]int64
}

func (g *gitCounts) service(name string) *Traffic {
	if g.traffic == nil {
		g.traffic = map[string]*Traffic{}
	}
	t := g.traffic[name]
	if t == nil {
		t = &Traffic{}
		g.traffic[name] = t
	}
	return t
}

// maxSniff bounds what is kept of a client's stream to find its request
// and, for a push, its commands: both fit in a few hundred bytes per ref.
const maxSniff = 256 << 10

// gitConn reads the git protocol's start of one relayed connection as it
// passes: the request pkt-line names the service ("git-upload-pack
// /repo.git\0host=...\0"); in a push, the pkt-lines after it up to a
// flush are the commands ("old new ref", the first with capabilities
// after a NUL).
type gitConn struct {
	p       *Proxy
	traffic *Traffic // nil until the request is read
	early   int64    // client bytes before the request was whole
	pending []byte   // client bytes not parsed yet
	push    bool     // the request was a push: commands follow
	done    bool     // nothing more to parse
}

func (c *gitConn) fromClient(b []byte) {
	c.p.mu.Lock()
	defer c.p.mu.Unlock()
	if c.traffic != nil {
		c.traffic.Up += int64(len(b))
	} else {
		c.early += int64(len(b))
	}
	if c.done {
		return
	}
	if len(c.pending)+len(b) > maxSniff {
		c.stopSniffing()
		return
	}
	c.pending = append(c.pending, b...)
	for !c.done {
		line, flush, ok := c.nextLine()
		if !ok {
			return
		}
		switch {
		case c.traffic == nil && flush:
			c.stopSniffing()
		case c.traffic == nil:
			service, _, _ := strings.Cut(string(line), " ")
			c.traffic = c.p.git.service(service)
			c.traffic.Requests++
			c.traffic.Up += c.early
			c.push = service == "git-receive-pack"
			c.done = !c.push
		case flush:
			c.done = true
		default:
			cmd, _, _ := bytes.Cut(line, []byte{0})
			if f := strings.Fields(string(cmd)); len(f) == 3 {
				if c.p.git.updates == nil {
					c.p.git.updates = map[string]int64{}
				}
				c.p.git.updates[f[2]]++
			}
		}
	}
	c.pending = nil
}

// stopSniffing gives up on a stream that is not the git protocol, counting
// it under "" when its request was never read.
func (c *gitConn) stopSniffing() {
	if c.traffic == nil {
		c.traffic = c.p.git.service("")
		c.traffic.Requests++
		c.traffic.Up += c.early
	}
	c.done, c.pending = true, nil
}

// nextLine takes the next whole pkt-line from pending; flush reports a
// flush (or another special) packet; ok is false until a whole one is
// there. A length that is not 4 hex digits ends the sniffing.
func (c *gitConn) nextLine() (line []byte, flush, ok bool) {
	if len(c.pending) < 4 {
		return nil, false, false
	}
	n, err := strconv.ParseUint(string(c.pending[:4]), 16, 16)
	if err != nil {
		c.stopSniffing()
		return nil, false, false
	}
	if n < 4 {
		c.pending = c.pending[4:]
		return nil, true, true
	}
	if len(c.pending) < int(n) {
		return nil, false, false
	}
	line = bytes.TrimSuffix(c.pending[4:n], []byte("\n"))
	c.pending = c.pending[n:]
	return line, false, true
}

func (c *gitConn) fromServer(b []byte) {
	c.p.mu.Lock()
	defer c.p.mu.Unlock()
	t := c.traffic
	if t == nil {
		t = c.p.git.service("")
	}
	t.Down += int64(len(b))
}
