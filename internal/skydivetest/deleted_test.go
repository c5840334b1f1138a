package skydivetest

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestDeletedKeepsDeletedAtAndMetadata(t *testing.T) {
	a := Start(t, Options{})
	c := connect(t, a, "wirekeeper", "h4", "X-Persistence-Policy", DeleteOnDisconnect)
	bridge := nd("br", "ovsbridge", 1, "Ovs", md("OtherConfig", md("a", "b")))
	publish(t, a, c, msg{"NodeAdded", nd("h", "host", 1)}, msg{"NodeAdded", bridge},
		msg{"NodeAdded", nd("p", "ovsport", 1, "UUID", "")},
		msg{"EdgeAdded", ed("h-br", "h", "br", 1)}, msg{"EdgeAdded", ed("br-p", "br", "p", 1)})

	// The delete carries the full node, with fields the decoder drops, and
	// a DeletedAt: both are what the deletion records. The count of
	// messages handled is taken before the first of the three is sent.
	handled := a.Messages() + 3
	rawMsg(t, c, "NodeDeleted", `{"ID":"br","Revision":2,"DeletedAt":1700000005000,
		"Metadata":{"Type":"ovsbridge","Name":"name-br","Ovs":{"OtherConfig":{"a":"b"},"FailMode":"secure"}}}`)
	rawMsg(t, c, "EdgeDeleted", `{"ID":"gone","Parent":"h","Child":"p","Metadata":{"RelationType":"ownership"}}`)
	send(t, c, msg{"NodeDeleted", nd("p", "ovsport", 1, "UUID", "")}) // Node has no DeletedAt: none is sent
	waitUntil(t, a, "the deletes handled", func(a *Analyzer) bool { return a.Messages() >= handled })

	want := []Deletion{
		{Kind: "edge", ID: "br-p", Cause: "NodeDeleted of its node", Origin: own, Metadata: md("RelationType", "ownership"), DeletedAt: 1700000005000},
		{Kind: "edge", ID: "h-br", Cause: "NodeDeleted of its node", Origin: own, Metadata: md("RelationType", "ownership"), DeletedAt: 1700000005000},
		{Kind: "node", ID: "br", Cause: "NodeDeleted", Origin: own,
			Metadata: md("Type", "ovsbridge", "Name", "name-br", "Ovs", md("OtherConfig", md("a", "b"))), DeletedAt: 1700000005000},
		{Kind: "node", ID: "p", Cause: "NodeDeleted", Origin: own, Metadata: md("Type", "ovsport", "Name", "name-p", "UUID", "")},
	}
	if diff := cmp.Diff(want, a.Deleted()); diff != "" {
		t.Errorf("deletions (-want +got):\n%s", diff)
	}

	// The other ways out are recorded with the analyzer's clock.
	before := time.Now().UnixMilli()
	if code, body := rest(t, a, http.MethodDelete, "/api/node/h", ""); code != http.StatusOK {
		t.Fatalf("DELETE: %d %s", code, body)
	}
	publish(t, a, c, msg{"NodeAdded", nd("x", "host", 1)}, msg{"Sync", Topology{Nodes: []Node{withOrigin(nd("y", "host", 1), own)}}})
	c.Close()
	waitUntil(t, a, "disconnected", func(a *Analyzer) bool { return len(a.Publishers()) == 0 })
	waitUntil(t, a, "y deleted", func(a *Analyzer) bool { _, ok := a.Node("y"); return !ok })
	var causes []string
	for _, d := range a.Deleted()[len(want):] {
		causes = append(causes, d.Kind+" "+d.ID+" "+d.Cause)
		if d.DeletedAt < before || d.DeletedAt > time.Now().UnixMilli() {
			t.Errorf("%s %s: DeletedAt %d, want now", d.Kind, d.ID, d.DeletedAt)
		}
	}
	if diff := cmp.Diff([]string{"node h REST", "node x Sync", "node y DeleteOnDisconnect"}, causes); diff != "" {
		t.Errorf("deletion causes (-want +got):\n%s", diff)
	}
}

func TestNodeDeletedWithoutDeletedAtRecordsZero(t *testing.T) {
	a := Start(t, Options{})
	c := connect(t, a, "wirekeeper", "h4")
	publish(t, a, c, msg{"NodeAdded", nd("a", "host", 1)})
	rawMsg(t, c, "NodeDeleted", `{"ID":"a","Metadata":{"Type":"host","Name":"name-a"}}`)
	waitUntil(t, a, "a deleted", func(a *Analyzer) bool { _, ok := a.Node("a"); return !ok })
	if d := a.Deleted(); len(d) != 1 || d[0].DeletedAt != 0 {
		t.Errorf("deletions %+v, want one with DeletedAt 0", d)
	}
}

// login posts the credentials and returns the authtoken cookie.
func login(t *testing.T, a *Analyzer, user, pass string) string {
	t.Helper()
	resp, err := http.PostForm(a.HTTPURL()+"/login", url.Values{"username": {user}, "password": {pass}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == "authtoken" && resp.StatusCode == http.StatusOK {
			return c.Value
		}
	}
	t.Fatalf("login of %s: %d without an authtoken", user, resp.StatusCode)
	return ""
}

// tokenStatus is the status of an upgrade and of a REST read with token.
func tokenStatus(t *testing.T, a *Analyzer, token, hostID string) (ws, api int) {
	t.Helper()
	h := hdr("Cookie", "authtoken="+token, "X-Client-Type", "wirekeeper", "X-Host-ID", hostID)
	c, resp, _ := dial(t, a, h, "")
	if resp == nil {
		t.Fatalf("no answer to the upgrade")
	}
	if c != nil {
		c.Close()
	}
	api, _ = rest(t, a, http.MethodGet, "/api/topology", "", func(r *http.Request) { r.Header.Set("X-Auth-Token", token) })
	return resp.StatusCode, api
}

func TestExpireTokens(t *testing.T) {
	for _, ttl := range []time.Duration{0, time.Hour} {
		a := Start(t, Options{Users: map[string]string{"admin": "secret"}, TokenTTL: ttl})
		old := login(t, a, "admin", "secret")
		if ws, api := tokenStatus(t, a, old, "h1"); ws != http.StatusSwitchingProtocols || api != http.StatusOK {
			t.Fatalf("TTL %s: a fresh token gets %d and %d, want 101 and 200", ttl, ws, api)
		}
		a.ExpireTokens()
		if ws, api := tokenStatus(t, a, old, "h2"); ws != http.StatusUnauthorized || api != http.StatusUnauthorized {
			t.Errorf("TTL %s: an expired token gets %d and %d, want 401 and 401", ttl, ws, api)
		}
		if !logged(a, "401 unauthorized", "expired token in authtoken cookie") {
			t.Errorf("no expired token line:\n%s", strings.Join(a.Log(), "\n"))
		}
		renewed := login(t, a, "admin", "secret")
		if ws, api := tokenStatus(t, a, renewed, "h3"); ws != http.StatusSwitchingProtocols || api != http.StatusOK {
			t.Errorf("TTL %s: a token issued after ExpireTokens gets %d and %d, want 101 and 200", ttl, ws, api)
		}
	}
}

func TestTokenTTL(t *testing.T) {
	const ttl = 100 * time.Millisecond
	a := Start(t, Options{Users: map[string]string{"admin": "secret"}, TokenTTL: ttl})
	issued := time.Now()
	token := login(t, a, "admin", "secret")
	for {
		code, _ := rest(t, a, http.MethodGet, "/api/topology", "", func(r *http.Request) { r.Header.Set("X-Auth-Token", token) })
		if code == http.StatusUnauthorized {
			if took := time.Since(issued); took < ttl {
				t.Errorf("refused after %s, before the TTL of %s", took, ttl)
			}
			break
		}
		if time.Since(issued) > waitLimit {
			t.Fatalf("the token still works %s after it was issued with a TTL of %s", waitLimit, ttl)
		}
		time.Sleep(10 * time.Millisecond) // polling for the expiry, not waiting for it
	}
	if ws, _ := tokenStatus(t, a, token, "h1"); ws != http.StatusUnauthorized {
		t.Errorf("upgrade with the expired token: %d, want 401", ws)
	}
	// Basic auth is not a token: it does not expire.
	code, _ := rest(t, a, http.MethodGet, "/api/topology", "", func(r *http.Request) { r.SetBasicAuth("admin", "secret") })
	if code != http.StatusOK {
		t.Errorf("basic auth after the token expired: %d, want 200", code)
	}
}

func TestForbiddenUserCannotPublish(t *testing.T) {
	a := Start(t, Options{Users: map[string]string{"admin": "a", "viewer": "v"}, Forbidden: []string{"viewer"}})
	for _, tc := range []struct {
		user, pass string
		wantWS     int
	}{{"viewer", "v", http.StatusForbidden}, {"admin", "a", http.StatusSwitchingProtocols}} {
		token := login(t, a, tc.user, tc.pass)
		ws, api := tokenStatus(t, a, token, tc.user)
		if ws != tc.wantWS || api != http.StatusOK {
			t.Errorf("%s: upgrade %d, REST %d; want %d and 200", tc.user, ws, api, tc.wantWS)
		}
		h := basic(tc.user, tc.pass)
		h.Set("X-Client-Type", "wirekeeper")
		h.Set("X-Host-ID", tc.user+"-basic")
		c, resp, _ := dial(t, a, h, "")
		if resp == nil || resp.StatusCode != tc.wantWS {
			t.Errorf("%s with basic auth: %v, want %d", tc.user, resp, tc.wantWS)
		}
		if c != nil {
			c.Close()
		}
	}
	if !logged(a, `403 user "viewer" may not publish`) {
		t.Errorf("no 403 line:\n%s", strings.Join(a.Log(), "\n"))
	}
}
