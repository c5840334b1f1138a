package skydivetest

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// T0 is the time the tests' elements carry, in ms since the epoch.
const T0 = 1700000000000

// waitLimit bounds every wait of the tests.
const waitLimit = 5 * time.Second

// hdr builds request headers from key/value pairs.
func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

// dial opens the publisher websocket with h, appending query to the path;
// the connection is closed when the test ends.
func dial(t *testing.T, a *Analyzer, h http.Header, query string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	d := websocket.Dialer{TLSClientConfig: a.ClientTLSConfig(), HandshakeTimeout: waitLimit}
	c, resp, err := d.Dial(a.URL()+"/ws/publisher"+query, h)
	if c != nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, resp, err
}

// connect opens the publisher websocket as clientType.hostID with extra
// headers and fails the test if it is refused.
func connect(t *testing.T, a *Analyzer, clientType, hostID string, kv ...string) *websocket.Conn {
	t.Helper()
	h := hdr(kv...)
	h.Set("X-Client-Type", clientType)
	h.Set("X-Host-ID", hostID)
	c, resp, err := dial(t, a, h, "")
	if err != nil {
		t.Fatalf("dial as %s.%s: %v (%s)", clientType, hostID, err, body(resp))
	}
	return c
}

// msg is a graph message to send: its type and object.
type msg struct {
	Type string
	Obj  any
}

// send writes one graph message.
func send(t *testing.T, c *websocket.Conn, m msg) {
	t.Helper()
	obj, err := json.Marshal(m.Obj)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WriteJSON(Message{Namespace: "Graph", Type: m.Type, Obj: obj}); err != nil {
		t.Fatalf("send %s: %v", m.Type, err)
	}
}

// publish sends msgs and waits until the analyzer has handled them all.
// It counts from the messages handled when it starts, so whatever was sent
// before without a wait (rawMsg, send) must have been handled by then.
func publish(t *testing.T, a *Analyzer, c *websocket.Conn, msgs ...msg) {
	t.Helper()
	want := a.Messages() + len(msgs)
	for _, m := range msgs {
		send(t, c, m)
	}
	waitUntil(t, a, "messages handled", func(a *Analyzer) bool { return a.Messages() >= want })
}

// waitUntil fails the test unless cond holds within waitLimit.
func waitUntil(t *testing.T, a *Analyzer, what string, cond func(*Analyzer) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := a.Wait(ctx, cond); err != nil {
		t.Fatalf("waiting for %s: %v\nlog:\n%s", what, err, strings.Join(a.Log(), "\n"))
	}
}

// logged reports whether a log line contains every one of parts.
// The server logs from its own goroutines, possibly just after the client
// saw the effect: a line is waited for, up to 2 s.
func logged(a *Analyzer, parts ...string) bool {
	deadline := time.Now().Add(2 * time.Second)
	for !loggedNow(a, parts...) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

// loggedNow reports whether the log holds a line with every part now.
func loggedNow(a *Analyzer, parts ...string) bool {
	for _, l := range a.Log() {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(l, p)
		}
		if all {
			return true
		}
	}
	return false
}

// md builds metadata from key/value pairs.
func md(kv ...any) map[string]any {
	m := map[string]any{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

// nd is a node of revision rev at T0 with Type typ, Name id's name and
// extra metadata.
func nd(id, typ string, rev int64, kv ...any) Node {
	return Node{ID: id, Host: "h4", CreatedAt: T0, UpdatedAt: T0, Revision: rev,
		Metadata: md(append([]any{"Type", typ, "Name", "name-" + id}, kv...)...)}
}

// ed is an ownership edge of revision rev at T0.
func ed(id, parent, child string, rev int64, kv ...any) Edge {
	return Edge{ID: id, Parent: parent, Child: child, Host: "h4", CreatedAt: T0, UpdatedAt: T0, Revision: rev,
		Metadata: md(append([]any{"RelationType", "ownership"}, kv...)...)}
}

// withOrigin returns n with Origin set.
func withOrigin(n Node, origin string) Node { n.Origin = origin; return n }

// edgeWithOrigin returns e with Origin set.
func edgeWithOrigin(e Edge, origin string) Edge { e.Origin = origin; return e }

func body(resp *http.Response) string {
	if resp == nil || resp.Body == nil {
		return ""
	}
	b, _ := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(b))
}

// rest sends a REST request with optional JSON body and request options,
// and returns the status and body.
func rest(t *testing.T, a *Analyzer, method, path string, reqBody string, opts ...func(*http.Request)) (int, string) {
	t.Helper()
	var r io.Reader
	if reqBody != "" {
		r = strings.NewReader(reqBody)
	}
	req, err := http.NewRequest(method, a.HTTPURL()+path, r)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range opts {
		o(req)
	}
	client := &http.Client{Timeout: waitLimit, Transport: &http.Transport{TLSClientConfig: a.ClientTLSConfig()}}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	return resp.StatusCode, body(resp)
}
