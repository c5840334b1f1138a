package skydivetest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gorilla/websocket"
)

func TestDisconnectRules(t *testing.T) {
	closeFrame := func(a *Analyzer, c *websocket.Conn) {
		c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
		c.Close()
	}
	tcpClose := func(a *Analyzer, c *websocket.Conn) { c.NetConn().Close() }
	cut := func(a *Analyzer, c *websocket.Conn) { a.Cut() }

	cases := []struct {
		name    string
		headers []string
		query   string
		send    bool
		end     func(*Analyzer, *websocket.Conn)
		kept    bool
		wantLog string
	}{
		{"DeleteOnDisconnect, close frame", []string{"X-Persistence-Policy", DeleteOnDisconnect}, "", true, closeFrame, false, "DeleteOnDisconnect: 2 nodes and 2 edges deleted"},
		{"DeleteOnDisconnect, client drops TCP", []string{"X-Persistence-Policy", DeleteOnDisconnect}, "", true, tcpClose, false, "DeleteOnDisconnect: 2 nodes"},
		{"DeleteOnDisconnect, Cut", []string{"X-Persistence-Policy", DeleteOnDisconnect}, "", true, cut, false, "publisher disconnected: cut"},
		{"DeleteOnDisconnect, no message sent", []string{"X-Persistence-Policy", DeleteOnDisconnect}, "", false, closeFrame, true, "no message received, nodes kept"},
		{"Persistent", []string{"X-Persistence-Policy", Persistent}, "", true, closeFrame, true, "publisher disconnected"},
		{"Persistent, Cut", []string{"X-Persistence-Policy", Persistent}, "", true, cut, true, "publisher disconnected: cut"},
		{"no header", nil, "", true, tcpClose, true, "publisher disconnected"},
		{"policy as a query parameter is ignored", nil, "?X-Persistence-Policy=DeleteOnDisconnect", true, closeFrame, true, "publisher disconnected"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := Start(t, Options{})
			other := connect(t, a, "other", "hB")
			publish(t, a, other, msg{"NodeAdded", nd("b1", "host", 1)})
			// An earlier connection of the same origin leaves a node behind.
			earlier := connect(t, a, "wirekeeper", "h4")
			publish(t, a, earlier, msg{"NodeAdded", nd("old", "ovsbridge", 1)}, msg{"EdgeAdded", ed("b1-old", "b1", "old", 1)})
			closeFrame(a, earlier)
			waitUntil(t, a, "earlier gone", func(a *Analyzer) bool { return len(a.Publishers()) == 1 })

			h := hdr(append([]string{"X-Client-Type", "wirekeeper", "X-Host-ID", "h4"}, tc.headers...)...)
			c, resp, err := dial(t, a, h, tc.query)
			if err != nil {
				t.Fatalf("dial: %v (%s)", err, body(resp))
			}
			waitUntil(t, a, "connected", func(a *Analyzer) bool { return len(a.Publishers()) == 2 })
			want := []string{"b1", "old"}
			if tc.send {
				publish(t, a, c, msg{"NodeAdded", nd("new", "ovsbridge", 1)}, msg{"EdgeAdded", ed("b1-new", "b1", "new", 1)})
				want = []string{"b1", "new", "old"}
			}
			tc.end(a, c)
			waitUntil(t, a, "h4 disconnected", func(a *Analyzer) bool {
				for _, p := range a.Publishers() {
					if p.HostID == "h4" {
						return false
					}
				}
				return true
			})
			if !tc.kept {
				want = []string{"b1"}
			}
			var got []string
			for _, n := range a.Nodes() {
				got = append(got, n.ID)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("nodes (-want +got):\n%s", diff)
			}
			if !tc.kept && len(a.Edges()) != 0 {
				t.Errorf("edges of deleted nodes left: %+v", a.Edges())
			}
			if !logged(a, "wirekeeper.h4", tc.wantLog) {
				t.Errorf("log has no line with %q:\n%s", tc.wantLog, strings.Join(a.Log(), "\n"))
			}
		})
	}
}

func TestCutSendsNoCloseFrame(t *testing.T) {
	a := Start(t, Options{})
	c := connect(t, a, "wirekeeper", "h4")
	publish(t, a, c, msg{"NodeAdded", nd("a", "host", 1)})
	a.Cut()
	if len(a.Publishers()) != 0 {
		t.Errorf("publishers left after Cut: %+v", a.Publishers())
	}
	c.SetReadDeadline(time.Now().Add(waitLimit))
	_, _, err := c.ReadMessage()
	if err == nil || websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway) {
		t.Errorf("read after Cut: %v, want a connection error without close frame", err)
	}
	if _, ok := a.Node("a"); !ok {
		t.Errorf("Cut emptied the graph")
	}
	connect(t, a, "wirekeeper", "h4") // the host id is free again
}

func TestStopIsACrashAndRestartEmptiesTheGraph(t *testing.T) {
	a := Start(t, Options{})
	url := a.URL()
	c := connect(t, a, "wirekeeper", "h4", "X-Persistence-Policy", DeleteOnDisconnect)
	publish(t, a, c, msg{"NodeAdded", nd("a", "host", 1)})

	a.Stop()
	if len(a.Publishers()) != 0 {
		t.Errorf("publishers left after Stop: %+v", a.Publishers())
	}
	if _, ok := a.Node("a"); !ok {
		t.Errorf("Stop applied DeleteOnDisconnect; a dying analyzer cannot")
	}
	if _, _, err := dial(t, a, hdr("X-Client-Type", "wirekeeper"), ""); err == nil {
		t.Errorf("dial after Stop succeeded")
	}
	c.SetReadDeadline(time.Now().Add(waitLimit))
	if _, _, err := c.ReadMessage(); err == nil {
		t.Errorf("the connection survived Stop")
	}

	a.Restart()
	if a.URL() != url {
		t.Errorf("restarted on %s, want %s", a.URL(), url)
	}
	if n, e := a.Counts(); n != 0 || e != 0 {
		t.Errorf("graph after Restart holds %d nodes and %d edges, want none", n, e)
	}
	c2 := connect(t, a, "wirekeeper", "h4")
	publish(t, a, c2, msg{"NodeAdded", nd("b", "host", 1)})
	if code, body := rest(t, a, http.MethodGet, "/api/node/b", ""); code != 200 {
		t.Errorf("GET /api/node/b after Restart: %d %s", code, body)
	}

	a.Restart() // with a live connection
	c2.SetReadDeadline(time.Now().Add(waitLimit))
	if _, _, err := c2.ReadMessage(); err == nil {
		t.Errorf("the connection survived Restart")
	}
	if n, _ := a.Counts(); n != 0 {
		t.Errorf("graph not emptied by the second Restart")
	}
}

func TestWaitAndChanged(t *testing.T) {
	a := Start(t, Options{})
	ch := a.Changed()
	select {
	case <-ch:
		t.Fatal("Changed closed before any change")
	default:
	}
	c := connect(t, a, "wirekeeper", "h4")
	select {
	case <-ch:
	case <-time.After(waitLimit):
		t.Fatal("Changed not closed by a connection")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := a.Wait(ctx, func(a *Analyzer) bool { return a.Messages() > 0 }); err == nil {
		t.Errorf("Wait met a condition that cannot hold yet")
	}
	go func() {
		time.Sleep(50 * time.Millisecond)
		if err := c.WriteJSON(Message{Namespace: "Graph", Type: "NodeAdded", Obj: []byte(`{"ID":"a","Metadata":{"Type":"host","Name":"a"}}`)}); err != nil {
			t.Error(err)
		}
	}()
	ctx2, cancel2 := context.WithTimeout(context.Background(), waitLimit)
	defer cancel2()
	if err := a.Wait(ctx2, func(a *Analyzer) bool { n, _ := a.Counts(); return n == 1 }); err != nil {
		t.Errorf("Wait: %v", err)
	}
	if a.Messages() != 1 {
		t.Errorf("Messages() = %d, want 1", a.Messages())
	}
}

func TestTLS(t *testing.T) {
	a := Start(t, Options{TLS: true})
	if !strings.HasPrefix(a.URL(), "wss://127.0.0.1:") || !strings.HasPrefix(a.HTTPURL(), "https://127.0.0.1:") {
		t.Fatalf("URLs %s, %s", a.URL(), a.HTTPURL())
	}
	pem, err := os.ReadFile(a.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("CAFile %s holds no certificate", a.CAFile())
	}
	trusting := &tls.Config{RootCAs: pool}

	d := websocket.Dialer{TLSClientConfig: trusting}
	c, _, err := d.Dial(a.URL()+"/ws/publisher", hdr("X-Client-Type", "wirekeeper", "X-Host-ID", "h4"))
	if err != nil {
		t.Fatalf("wss with the CA: %v", err)
	}
	defer c.Close()
	publish(t, a, c, msg{"NodeAdded", nd("a", "host", 1)})

	local := "localhost" + strings.TrimPrefix(a.HTTPURL(), "https://127.0.0.1")
	for _, u := range []string{a.HTTPURL(), "https://" + local} {
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: trusting}}
		resp, err := client.Get(u + "/api/node/a")
		if err != nil {
			t.Fatalf("https with the CA: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("GET %s/api/node/a: %d", u, resp.StatusCode)
		}
	}

	if _, _, err := (&websocket.Dialer{}).Dial(a.URL()+"/ws/publisher", hdr("X-Client-Type", "x", "X-Host-ID", "h5")); err == nil ||
		!strings.Contains(err.Error(), "certificate") {
		t.Errorf("wss without the CA: %v, want a certificate error", err)
	}
	if _, err := http.Get(a.HTTPURL() + "/api/topology"); err == nil {
		t.Errorf("https without the CA succeeded")
	}
	if Start(t, Options{}).CAFile() != "" {
		t.Errorf("CAFile set without TLS")
	}
}
