package skydivetest

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/gorilla/websocket"
)

var upgrader = websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}

// servePublisher is /ws/publisher for the server of generation gen:
// handshake checks, then one reader and one pinger per connection until it
// ends, then the disconnect rules.
func (a *Analyzer) servePublisher(gen uint64) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		clientType := r.Header.Get("X-Client-Type")
		if clientType == "" {
			a.upgradeThenClose(w, r, "X-Client-Type header missing")
			return
		}
		if user := a.user(r); user != "" && slices.Contains(a.opts.Forbidden, user) {
			a.refuse(w, r, http.StatusForbidden, fmt.Sprintf("user %q may not publish", user))
			return
		}
		if proto := r.Header.Get("X-Client-Protocol"); proto != "" && proto != "json" {
			a.refuse(w, r, http.StatusBadRequest, fmt.Sprintf("X-Client-Protocol %q not supported: the stand-in speaks json only", proto))
			return
		}
		hostID := r.Header.Get("X-Host-ID")
		if hostID == "" {
			hostID = r.RemoteAddr
		}
		persistence := r.Header.Get("X-Persistence-Policy")
		p := &publisher{
			info: Publisher{
				HostID:      hostID,
				ClientType:  clientType,
				Origin:      clientType + "." + hostID,
				Persistence: persistence,
				RemoteAddr:  r.RemoteAddr,
				ConnectedAt: time.Now(),
			},
			gen:  gen,
			done: make(chan struct{}),
		}

		a.mu.Lock()
		if a.srv == nil || a.gen != gen {
			a.mu.Unlock()
			http.Error(w, errStopped.Error(), http.StatusServiceUnavailable)
			return
		}
		if _, dup := a.pubs[hostID]; dup {
			a.logf("409 host id already connected: %q, upgrade from %s refused", hostID, r.RemoteAddr)
			a.mu.Unlock()
			http.Error(w, fmt.Sprintf("host id %q already connected", hostID), http.StatusConflict)
			return
		}
		a.pubs[hostID] = p
		a.handlers.Add(1)
		a.notifyLocked()
		a.mu.Unlock()
		defer a.handlers.Done()
		defer close(p.done)

		hdr := http.Header{}
		hdr.Set("X-Host-ID", HostID)
		hdr.Set("X-Service-Type", ServiceType)
		conn, err := upgrader.Upgrade(w, r, hdr)
		a.mu.Lock()
		if err != nil || a.gen != gen {
			if a.pubs[hostID] == p {
				delete(a.pubs, hostID)
			}
			if err != nil {
				a.logf("%s: upgrade from %s failed: %v", p.info.Origin, r.RemoteAddr, err)
			}
			a.notifyLocked()
			a.mu.Unlock()
			if conn != nil {
				conn.NetConn().Close()
			}
			return
		}
		p.conn = conn
		cutWhileUpgrading := p.cause != ""
		a.logf("%s: publisher connected from %s (persistence %q)", p.info.Origin, r.RemoteAddr, persistence)
		a.mu.Unlock()
		if cutWhileUpgrading {
			conn.NetConn().Close()
		}

		stopPing := make(chan struct{})
		go a.ping(conn, stopPing)
		reason := a.read(p)
		close(stopPing)
		a.disconnect(p, reason)
		conn.Close()
	}
}

// refuse answers an upgrade with an HTTP error and logs it.
func (a *Analyzer) refuse(w http.ResponseWriter, r *http.Request, code int, why string) {
	a.mu.Lock()
	a.logf("%d %s: upgrade from %s refused", code, why, r.RemoteAddr)
	a.mu.Unlock()
	http.Error(w, why, code)
}

// upgradeThenClose is the analyzer's answer to an upgrade it cannot serve
// (no X-Client-Type): it upgrades, then drops the connection at once,
// without a close frame; the client sees a 101, then the connection end.
func (a *Analyzer) upgradeThenClose(w http.ResponseWriter, r *http.Request, why string) {
	conn, err := upgrader.Upgrade(w, r, nil)
	a.mu.Lock()
	if err != nil {
		a.logf("upgrade from %s failed: %v", r.RemoteAddr, err)
	} else {
		a.logf("%s: connection from %s closed after the upgrade", why, r.RemoteAddr)
	}
	a.notifyLocked()
	a.mu.Unlock()
	if conn != nil {
		conn.NetConn().Close()
	}
}

// ping pings the publisher every PingInterval until stop is closed or a
// write fails.
func (a *Analyzer) ping(c *websocket.Conn, stop <-chan struct{}) {
	t := time.NewTicker(a.opts.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if err := c.WriteControl(websocket.PingMessage, nil, time.Now().Add(a.opts.PingInterval)); err != nil {
				return
			}
		}
	}
}

// read handles the publisher's messages until the connection ends, and
// says why it ended. Only a pong moves the read deadline on, so a client
// that stops answering pings is dropped after PongTimeout whatever it
// sends.
func (a *Analyzer) read(p *publisher) string {
	c, timeout := p.conn, a.opts.PongTimeout
	c.SetReadDeadline(time.Now().Add(timeout))
	c.SetPongHandler(func(string) error { return c.SetReadDeadline(time.Now().Add(timeout)) })
	for {
		mt, data, err := c.ReadMessage()
		if err != nil {
			return a.endCause(p, err)
		}
		if reply := a.handle(p, mt, data); reply != nil {
			c.SetWriteDeadline(time.Now().Add(timeout))
			if err := c.WriteMessage(websocket.TextMessage, reply); err != nil {
				return "cannot send SyncReply: " + err.Error()
			}
		}
	}
}

func (a *Analyzer) endCause(p *publisher, err error) string {
	a.mu.Lock()
	cause := p.cause
	a.mu.Unlock()
	var ce *websocket.CloseError
	var ne net.Error
	switch {
	case cause != "":
		return cause
	case errors.As(err, &ce):
		return fmt.Sprintf("closed by the client (%d %q)", ce.Code, ce.Text)
	case errors.As(err, &ne) && ne.Timeout():
		return fmt.Sprintf("ping timeout: no pong within %s", a.opts.PongTimeout)
	default:
		return "connection lost: " + err.Error()
	}
}

// disconnect unregisters p and applies the disconnect rules: with
// DeleteOnDisconnect, and if p sent at least one message, every node of
// p's origin goes, with their edges. A connection of a stopped server
// (the analyzer died) changes nothing.
func (a *Analyzer) disconnect(p *publisher, reason string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	origin := p.info.Origin
	if a.pubs[p.info.HostID] == p {
		delete(a.pubs, p.info.HostID)
	}
	a.logf("%s: publisher disconnected: %s", origin, reason)
	switch {
	case a.gen != p.gen, p.info.Persistence != DeleteOnDisconnect:
	case !p.sent:
		a.logf("%s: DeleteOnDisconnect: no message received, nodes kept", origin)
	default:
		n, e := a.g.delOrigin(origin, "DeleteOnDisconnect")
		a.logf("%s: DeleteOnDisconnect: %d nodes and %d edges deleted", origin, n, e)
	}
	a.notifyLocked()
}
