package daemon_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wirekeeper/wirekeeper/reconciler/daemon"
	"github.com/wirekeeper/wirekeeper/reconciler/webhook"
)

// listenAddrs is a slog.Handler that passes on the address of each
// "listening" line, so tests can listen on port 0.
type listenAddrs chan [2]string // server, address

func (l listenAddrs) Enabled(context.Context, slog.Level) bool { return true }
func (l listenAddrs) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l listenAddrs) WithGroup(string) slog.Handler            { return l }
func (l listenAddrs) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "listening" {
		return nil
	}
	var server, addr string
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "server":
			server = a.Value.String()
		case "address":
			addr = a.Value.String()
		}
		return true
	})
	l <- [2]string{server, addr}
	return nil
}

// addresses waits for the daemon to listen on n servers and returns their
// addresses by name.
func (l listenAddrs) addresses(t *testing.T, n int) map[string]string {
	t.Helper()
	out := map[string]string{}
	for len(out) < n {
		select {
		case a := <-l:
			out[a[0]] = a[1]
		case <-time.After(20 * time.Second):
			t.Fatalf("the daemon listens on %v, waiting for %d servers", out, n)
		}
	}
	return out
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// TestServersCloseSlowBodies trickles a request body to each server, a byte
// every 20 ms: the server closes the connection once its read timeout has
// passed, whether the handler reads the body (a signed webhook), leaves it
// to the server to drain (an unsigned one) or ignores it (metrics).
func TestServersCloseSlowBodies(t *testing.T) {
	const readTimeout = 300 * time.Millisecond
	hook, err := webhook.New(webhook.Options{Secret: []byte("s3cret"), Branch: "main", Trigger: func(webhook.Event) {}})
	if err != nil {
		t.Fatal(err)
	}
	addrs := make(listenAddrs, 2)
	r := newRig(t)
	r.configure = func(o *daemon.Options) {
		o.WebhookListen, o.Webhook = "127.0.0.1:0", hook
		o.MetricsListen, o.Metrics = "127.0.0.1:0", http.NotFoundHandler()
		o.HTTPLimits = daemon.HTTPLimits{ReadTimeout: readTimeout}
		o.Logger = slog.New(addrs)
	}
	r.start()
	servers := addrs.addresses(t, 2)

	tests := []struct{ name, server, headers string }{
		{"signed webhook", "webhook", "X-Hub-Signature-256: sha256=" + fmt.Sprintf("%064d", 0) + "\r\nX-GitHub-Event: push\r\n"},
		{"unsigned webhook", "webhook", ""},
		{"metrics", "metrics", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn := dial(t, servers[tt.server])
			fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: wk\r\n%sContent-Length: 100000\r\n\r\n", tt.headers)
			stop := make(chan struct{})
			defer close(stop)
			go func() {
				tick := time.NewTicker(20 * time.Millisecond)
				defer tick.Stop()
				for {
					select {
					case <-stop:
						return
					case <-tick.C:
						if _, err := conn.Write([]byte("x")); err != nil {
							return
						}
					}
				}
			}()
			start := time.Now()
			const patience = 20 * time.Second
			conn.SetReadDeadline(start.Add(patience))
			// The server answers (or not) and closes: EOF, or a reset
			// when it closes with trickled bytes unread.
			_, err := io.Copy(io.Discard, conn)
			if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
				t.Fatalf("the connection is still open after %s of trickling; the read timeout is %s", patience, readTimeout)
			}
			t.Logf("closed by the server after %s (read timeout %s)", time.Since(start).Round(time.Millisecond), readTimeout)
		})
	}
}

// TestServersCapConnections: with MaxConns 2, a third connection to the
// webhook is not served while two are open, and is served once one of them
// closes; the metrics server, with its own cap, still answers meanwhile.
func TestServersCapConnections(t *testing.T) {
	const maxConns = 2
	var inFlight, most atomic.Int32
	entered := make(chan struct{}, 10)
	release := make(chan struct{})
	hold := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		entered <- struct{}{}
		// Held until released, or until the client goes away.
		select {
		case <-release:
		case <-r.Context().Done():
		}
		io.WriteString(w, "done\n")
	})
	addrs := make(listenAddrs, 2)
	r := newRig(t)
	r.configure = func(o *daemon.Options) {
		o.WebhookListen, o.Webhook = "127.0.0.1:0", hold
		o.MetricsListen, o.Metrics = "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
		o.HTTPLimits = daemon.HTTPLimits{MaxConns: maxConns}
		o.Logger = slog.New(addrs)
	}
	r.start()
	defer close(release)
	servers := addrs.addresses(t, 2)

	waitEntered := func(what string) {
		t.Helper()
		select {
		case <-entered:
		case <-time.After(20 * time.Second):
			t.Fatalf("timed out waiting for %s to be served", what)
		}
	}
	request := func() net.Conn {
		conn := dial(t, servers["webhook"])
		io.WriteString(conn, "GET / HTTP/1.1\r\nHost: wk\r\n\r\n")
		return conn
	}
	first := request()
	request()
	waitEntered("the first connection")
	waitEntered("the second connection")

	request()
	// Half a second gives a server without the cap the time to serve the
	// third connection; a capped server never does, however slow the
	// machine, so this window cannot fail a correct server.
	select {
	case <-entered:
		t.Fatalf("a third connection was served while two were open; the cap is %d", maxConns)
	case <-time.After(500 * time.Millisecond):
	}

	resp, err := http.Get("http://" + servers["metrics"] + "/")
	if err != nil {
		t.Fatalf("metrics while the webhook is at its cap: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("metrics while the webhook is at its cap: HTTP %d", resp.StatusCode)
	}

	first.Close()
	waitEntered("the third connection, after the first closed")
	if got := most.Load(); got > maxConns {
		t.Errorf("%d requests were served at once; the cap is %d", got, maxConns)
	}
}
