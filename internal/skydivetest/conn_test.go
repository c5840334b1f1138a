package skydivetest

import (
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/gorilla/websocket"
)

func TestUpgrade(t *testing.T) {
	cases := []struct {
		name       string
		header     http.Header
		wantStatus int
		wantLog    string
	}{
		{"json by default", hdr("X-Client-Type", "wirekeeper", "X-Host-ID", "h1"), 101, "wirekeeper.h1: publisher connected"},
		{"json explicitly", hdr("X-Client-Type", "wirekeeper", "X-Host-ID", "h1", "X-Client-Protocol", "json"), 101, "publisher connected"},
		{"protobuf refused", hdr("X-Client-Type", "wirekeeper", "X-Host-ID", "h1", "X-Client-Protocol", "protobuf"), 400, "json only"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := Start(t, Options{})
			_, resp, err := dial(t, a, tc.header, "")
			if resp == nil {
				t.Fatalf("no HTTP answer: %v", err)
			}
			if resp.StatusCode != tc.wantStatus {
				t.Errorf("status %d (%s), want %d", resp.StatusCode, body(resp), tc.wantStatus)
			}
			if tc.wantStatus == 101 {
				got := []string{resp.Header.Get("X-Host-ID"), resp.Header.Get("X-Service-Type")}
				if diff := cmp.Diff([]string{HostID, "analyzer"}, got); diff != "" {
					t.Errorf("X-Host-ID, X-Service-Type (-want +got):\n%s", diff)
				}
			}
			if !logged(a, tc.wantLog) {
				t.Errorf("log has no line with %q:\n%s", tc.wantLog, strings.Join(a.Log(), "\n"))
			}
		})
	}
}

func TestUpgradeWithoutClientTypeIsClosed(t *testing.T) {
	a := Start(t, Options{})
	c, resp, err := dial(t, a, hdr("X-Host-ID", "h1"), "")
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("dial without X-Client-Type: %v (%v), want a 101", err, resp)
	}
	c.SetReadDeadline(time.Now().Add(waitLimit))
	if _, _, err := c.ReadMessage(); err == nil {
		t.Errorf("the connection stayed open")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Errorf("the connection stayed open until the read deadline")
	}
	if !logged(a, "X-Client-Type header missing: connection from") {
		t.Errorf("log:\n%s", strings.Join(a.Log(), "\n"))
	}
	if len(a.Publishers()) != 0 {
		t.Errorf("publishers %+v, want none", a.Publishers())
	}
}

func TestHostIDDefaultsToRemoteAddress(t *testing.T) {
	a := Start(t, Options{})
	c, _, err := dial(t, a, hdr("X-Client-Type", "wirekeeper", "X-Persistence-Policy", Persistent), "")
	if err != nil {
		t.Fatal(err)
	}
	local := c.LocalAddr().String()
	want := []Publisher{{HostID: local, ClientType: "wirekeeper", Origin: "wirekeeper." + local, Persistence: Persistent, RemoteAddr: local}}
	if diff := cmp.Diff(want, a.Publishers(), cmpopts.IgnoreFields(Publisher{}, "ConnectedAt")); diff != "" {
		t.Errorf("publishers (-want +got):\n%s", diff)
	}
	publish(t, a, c, msg{"NodeAdded", nd("a", "host", 1)})
	if n, _ := a.Node("a"); n.Origin != "wirekeeper."+local {
		t.Errorf("origin %q, want %q", n.Origin, "wirekeeper."+local)
	}
}

func TestHostIDIsUniqueAmongLiveConnections(t *testing.T) {
	a := Start(t, Options{})
	first := connect(t, a, "wirekeeper", "h1")
	connect(t, a, "other", "h2") // another host id is fine

	_, resp, err := dial(t, a, hdr("X-Client-Type", "wirekeeper", "X-Host-ID", "h1"), "")
	if err == nil || resp == nil || resp.StatusCode != http.StatusConflict {
		t.Fatalf("second h1: err %v, response %v, want 409", err, resp)
	}
	if !logged(a, `409 host id already connected: "h1"`) {
		t.Errorf("no 409 line in the log:\n%s", strings.Join(a.Log(), "\n"))
	}

	first.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"))
	first.Close()
	waitUntil(t, a, "h1 gone", func(a *Analyzer) bool { return len(a.Publishers()) == 1 })
	connect(t, a, "wirekeeper", "h1")
	if !logged(a, "wirekeeper.h1: publisher disconnected: closed by the client (1000") {
		t.Errorf("no disconnect line in the log:\n%s", strings.Join(a.Log(), "\n"))
	}
}

func TestAuth(t *testing.T) {
	a := Start(t, Options{Users: map[string]string{"admin": "secret"}})

	login := func(user, pass string) (int, *http.Cookie) {
		resp, err := http.PostForm(a.HTTPURL()+"/login", url.Values{"username": {user}, "password": {pass}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		for _, c := range resp.Cookies() {
			if c.Name == "authtoken" {
				return resp.StatusCode, c
			}
		}
		return resp.StatusCode, nil
	}
	if code, cookie := login("admin", "wrong"); code != 401 || cookie != nil {
		t.Errorf("login with a wrong password: %d, cookie %v; want 401 and none", code, cookie)
	}
	code, cookie := login("admin", "secret")
	if code != 200 || cookie == nil || cookie.Value == "" {
		t.Fatalf("login: %d, cookie %v; want 200 and an authtoken", code, cookie)
	}

	cases := []struct {
		name  string
		creds http.Header
		want  int
	}{
		{"none", hdr(), 401},
		{"basic, wrong password", basic("admin", "nope"), 401},
		{"basic, unknown user", basic("root", "secret"), 401},
		{"basic", basic("admin", "secret"), 0},
		{"cookie from /login", hdr("Cookie", "authtoken="+cookie.Value), 0},
		{"X-Auth-Token from /login", hdr("X-Auth-Token", cookie.Value), 0},
		{"unknown cookie", hdr("Cookie", "authtoken=forged"), 401},
		{"unknown X-Auth-Token", hdr("X-Auth-Token", "forged"), 401},
		{"bearer", hdr("Authorization", "Bearer "+cookie.Value), 401},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.creds.Clone()
			h.Set("X-Client-Type", "wirekeeper")
			h.Set("X-Host-ID", "h"+string(rune('a'+i)))
			c, resp, err := dial(t, a, h, "")
			wantWS := tc.want
			if wantWS == 0 {
				wantWS = http.StatusSwitchingProtocols
			}
			if resp == nil || resp.StatusCode != wantWS {
				t.Errorf("websocket: %v (err %v), want %d", resp, err, wantWS)
			}
			if c != nil {
				c.Close()
			}
			wantREST := tc.want
			if wantREST == 0 {
				wantREST = http.StatusOK
			}
			code, _ := rest(t, a, http.MethodGet, "/api/topology", "", func(r *http.Request) {
				for k, v := range tc.creds {
					r.Header[k] = v
				}
			})
			if code != wantREST {
				t.Errorf("REST: %d, want %d", code, wantREST)
			}
		})
	}
	if !logged(a, "401 unauthorized: GET /ws/publisher") || !logged(a, "401 unauthorized: GET /api/topology") {
		t.Errorf("no 401 lines in the log:\n%s", strings.Join(a.Log(), "\n"))
	}
}

func basic(user, pass string) http.Header {
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	r.SetBasicAuth(user, pass)
	return r.Header
}

func TestNoAuthByDefault(t *testing.T) {
	a := Start(t, Options{})
	if code, body := rest(t, a, http.MethodGet, "/api/topology", ""); code != 200 || body != `{"Nodes":[],"Edges":[]}` {
		t.Errorf("GET /api/topology: %d %s", code, body)
	}
	connect(t, a, "wirekeeper", "h1")
}

func TestPingTimeout(t *testing.T) {
	a := Start(t, Options{PingInterval: 50 * time.Millisecond, PongTimeout: 150 * time.Millisecond})
	reader := connect(t, a, "wirekeeper", "reader")
	go func() { // answers pings, as gorilla does while reading
		for {
			if _, _, err := reader.ReadMessage(); err != nil {
				return
			}
		}
	}()
	start := time.Now()
	deaf := connect(t, a, "wirekeeper", "deaf", "X-Persistence-Policy", DeleteOnDisconnect)
	publish(t, a, deaf, msg{"NodeAdded", nd("deaf-node", "host", 1)})

	waitUntil(t, a, "deaf dropped", func(a *Analyzer) bool { return len(a.Publishers()) == 1 })
	if took := time.Since(start); took < 150*time.Millisecond {
		t.Errorf("deaf client dropped after %s, before the pong timeout", took)
	}
	if !logged(a, "wirekeeper.deaf: publisher disconnected: ping timeout") {
		t.Errorf("no ping timeout line:\n%s", strings.Join(a.Log(), "\n"))
	}
	if _, ok := a.Node("deaf-node"); ok {
		t.Errorf("DeleteOnDisconnect not applied after a ping timeout")
	}

	time.Sleep(800 * time.Millisecond) // many pong timeouts
	if got := a.Publishers(); len(got) != 1 || got[0].HostID != "reader" {
		t.Fatalf("publishers %+v, want the reader alone", got)
	}
	publish(t, a, reader, msg{"NodeAdded", nd("reader-node", "host", 1)})
	if _, ok := a.Node("reader-node"); !ok {
		t.Errorf("the reading client's node was not stored")
	}
}
