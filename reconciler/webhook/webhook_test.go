package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const (
	testSecret = "s3cret-for-tests"
	sha        = "0123456789abcdef0123456789abcdef01234567"
	zeroSHA    = "0000000000000000000000000000000000000000"
)

func mac(secret, body string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(body))
	return hex.EncodeToString(m.Sum(nil))
}

// sender is how one Git host signs and labels its requests.
type sender struct {
	provider  string // the Event.Provider it maps to
	sign      func(h http.Header, secret, body string)
	eventHdr  string // "" for plain HMAC
	push      string // the push event type
	ping      string // the ping event type, "" when the host has none
	delivery  string
	otherKind string // an event type that is not a push
}

var senders = map[string]sender{
	"github": {provider: "github", eventHdr: "X-GitHub-Event", push: "push", ping: "ping", delivery: "X-GitHub-Delivery", otherKind: "issues",
		sign: func(h http.Header, s, b string) { h.Set("X-Hub-Signature-256", "sha256="+mac(s, b)) }},
	"gitea": {provider: "gitea", eventHdr: "X-Gitea-Event", push: "push", delivery: "X-Gitea-Delivery", otherKind: "create",
		// As Gitea sends it: its own header plus the GitHub-style one.
		sign: func(h http.Header, s, b string) {
			h.Set("X-Gitea-Signature", mac(s, b))
			h.Set("X-Hub-Signature-256", "sha256="+mac(s, b))
		}},
	"forgejo": {provider: "gitea", eventHdr: "X-Forgejo-Event", push: "push", delivery: "X-Forgejo-Delivery", otherKind: "release",
		sign: func(h http.Header, s, b string) { h.Set("X-Forgejo-Signature", mac(s, b)) }},
	"gogs": {provider: "gitea", eventHdr: "X-Gogs-Event", push: "push", delivery: "X-Gogs-Delivery", otherKind: "fork",
		sign: func(h http.Header, s, b string) { h.Set("X-Gogs-Signature", mac(s, b)) }},
	"gitlab": {provider: "gitlab", eventHdr: "X-Gitlab-Event", push: "Push Hook", delivery: "X-Gitlab-Event-UUID", otherKind: "Tag Push Hook",
		sign: func(h http.Header, s, _ string) { h.Set("X-Gitlab-Token", s) }},
	"hmac": {provider: "hmac", delivery: "X-Wirekeeper-Delivery",
		sign: func(h http.Header, s, b string) { h.Set("X-Wirekeeper-Signature", "sha256="+mac(s, b)) }},
}

func pushBody(ref, after string) string {
	return fmt.Sprintf(`{"ref":%q,"before":%q,"after":%q,"repository":{"name":"spec"}}`, ref, sha, after)
}

// call is one request and what it should lead to.
type call struct {
	name       string
	method     string
	body       string
	secret     string // signing secret; "" leaves the request unsigned
	event      string // event type header value; "" sends none
	wantStatus int
	wantResult string
	wantProv   string // provider passed to Observe
	wantEvent  *Event // nil: Trigger must not be called
}

func callsFor(host string, s sender) []call {
	accepted := func(after string) *Event {
		return &Event{Provider: s.provider, Ref: "refs/heads/main", After: after, Delivery: "d-1"}
	}
	cs := []call{
		{name: "push to the spec branch", body: pushBody("refs/heads/main", sha), secret: testSecret, event: s.push,
			wantStatus: 202, wantResult: ResultAccepted, wantProv: s.provider, wantEvent: accepted(sha)},
		{name: "deleted spec branch still triggers", body: pushBody("refs/heads/main", zeroSHA), secret: testSecret, event: s.push,
			wantStatus: 202, wantResult: ResultAccepted, wantProv: s.provider, wantEvent: accepted(zeroSHA)},
		{name: "wrong secret", body: pushBody("refs/heads/main", sha), secret: "not-the-secret", event: s.push,
			wantStatus: 401, wantResult: ResultRejected, wantProv: s.provider},
		{name: "missing signature header", body: pushBody("refs/heads/main", sha), event: s.push,
			wantStatus: 401, wantResult: ResultRejected, wantProv: "unknown"},
		{name: "wrong method", method: http.MethodGet, body: "", secret: testSecret, event: s.push,
			wantStatus: 405, wantResult: ResultBadRequest, wantProv: s.provider},
		{name: "oversized body", body: `{"ref":"refs/heads/main","pad":"` + strings.Repeat("x", DefaultMaxBodyBytes) + `"}`, secret: testSecret, event: s.push,
			wantStatus: 413, wantResult: ResultBadRequest, wantProv: s.provider},
		{name: "push to the status branch is ignored", body: pushBody("refs/heads/wirekeeper/status", sha), secret: testSecret, event: s.push,
			wantStatus: 202, wantResult: ResultIgnored, wantProv: s.provider},
		{name: "tag push is ignored", body: pushBody("refs/tags/main", sha), secret: testSecret, event: s.push,
			wantStatus: 202, wantResult: ResultIgnored, wantProv: s.provider},
		{name: "malformed body", body: `{"ref":`, secret: testSecret, event: s.push,
			wantStatus: 400, wantResult: ResultBadRequest, wantProv: s.provider},
		{name: "after is not a commit", body: pushBody("refs/heads/main", "HEAD"), secret: testSecret, event: s.push,
			wantStatus: 400, wantResult: ResultBadRequest, wantProv: s.provider},
	}
	if host == "hmac" {
		return append(cs,
			call{name: "no body means reconcile now", body: "", secret: testSecret,
				wantStatus: 202, wantResult: ResultAccepted, wantProv: "hmac", wantEvent: &Event{Provider: "hmac", Ref: "refs/heads/main", Delivery: "d-1"}},
			call{name: "body without ref means reconcile now", body: `{"reason":"manual"}`, secret: testSecret,
				wantStatus: 202, wantResult: ResultAccepted, wantProv: "hmac", wantEvent: &Event{Provider: "hmac", Ref: "refs/heads/main", Delivery: "d-1"}},
			call{name: "no body, wrong secret", body: "", secret: "nope",
				wantStatus: 401, wantResult: ResultRejected, wantProv: "hmac"},
		)
	}
	cs = append(cs,
		call{name: "no event type", body: pushBody("refs/heads/main", sha), secret: testSecret,
			wantStatus: 400, wantResult: ResultBadRequest, wantProv: s.provider},
		call{name: "other event is ignored", body: pushBody("refs/heads/main", sha), secret: testSecret, event: s.otherKind,
			wantStatus: 202, wantResult: ResultIgnored, wantProv: s.provider},
		call{name: "push without ref", body: `{"after":"` + sha + `"}`, secret: testSecret, event: s.push,
			wantStatus: 400, wantResult: ResultBadRequest, wantProv: s.provider},
	)
	if s.ping != "" {
		cs = append(cs, call{name: "ping", body: `{"zen":"Keep it logically awesome.","hook_id":1}`, secret: testSecret, event: s.ping,
			wantStatus: 200, wantResult: ResultIgnored, wantProv: s.provider})
	}
	return cs
}

// observed records what a Handler reported.
type observed struct {
	mu       sync.Mutex
	events   []Event
	observes [][2]string
}

func newHandler(t *testing.T, o *observed) *Handler {
	t.Helper()
	h, err := New(Options{
		Secret:  []byte(testSecret),
		Branch:  "main",
		Trigger: func(e Event) { o.mu.Lock(); o.events = append(o.events, e); o.mu.Unlock() },
		Observe: func(p, r string) { o.mu.Lock(); o.observes = append(o.observes, [2]string{p, r}); o.mu.Unlock() },
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestHandler(t *testing.T) {
	for _, host := range []string{"github", "gitea", "forgejo", "gogs", "gitlab", "hmac"} {
		s := senders[host]
		for _, c := range callsFor(host, s) {
			t.Run(host+"/"+c.name, func(t *testing.T) {
				var o observed
				h := newHandler(t, &o)
				method := c.method
				if method == "" {
					method = http.MethodPost
				}
				req := httptest.NewRequest(method, "/hook", strings.NewReader(c.body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set(s.delivery, "d-1")
				if c.secret != "" {
					s.sign(req.Header, c.secret, c.body)
				}
				if c.event != "" {
					req.Header.Set(s.eventHdr, c.event)
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)

				if rec.Code != c.wantStatus {
					t.Errorf("status = %d, want %d (body %q)", rec.Code, c.wantStatus, rec.Body.String())
				}
				var want []Event
				if c.wantEvent != nil {
					want = []Event{*c.wantEvent}
				}
				if diff := cmp.Diff(want, o.events); diff != "" {
					t.Errorf("triggered events (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff([][2]string{{c.wantProv, c.wantResult}}, o.observes); diff != "" {
					t.Errorf("observed (-want +got):\n%s", diff)
				}
				body := rec.Body.String()
				if strings.Contains(body, testSecret) || strings.Contains(body, mac(testSecret, c.body)) {
					t.Errorf("response %q echoes the secret or the expected signature", body)
				}
				if len(body) > 200 || !strings.HasSuffix(body, "\n") {
					t.Errorf("response %q is not a short line of text", body)
				}
				if got := rec.Header().Get("Content-Type"); !strings.HasPrefix(got, "text/plain") {
					t.Errorf("Content-Type = %q, want text/plain", got)
				}
			})
		}
	}
}

// TestHandlerSignatureCombinations covers requests carrying more than one
// signature header: every one present must verify.
func TestHandlerSignatureCombinations(t *testing.T) {
	body := pushBody("refs/heads/main", sha)
	good, bad := mac(testSecret, body), mac("other", body)
	tests := []struct {
		name       string
		headers    map[string]string
		wantStatus int
	}{
		{"gitea and github headers both valid", map[string]string{"X-Gitea-Signature": good, "X-Hub-Signature-256": "sha256=" + good, "X-Gitea-Event": "push"}, 202},
		{"valid gitea, wrong github", map[string]string{"X-Gitea-Signature": good, "X-Hub-Signature-256": "sha256=" + bad, "X-Gitea-Event": "push"}, 401},
		{"wrong gitea, valid github", map[string]string{"X-Gitea-Signature": bad, "X-Hub-Signature-256": "sha256=" + good, "X-GitHub-Event": "push"}, 401},
		{"valid github, wrong gitlab token", map[string]string{"X-Hub-Signature-256": "sha256=" + good, "X-Gitlab-Token": "x", "X-GitHub-Event": "push"}, 401},
		{"github header without sha256 prefix", map[string]string{"X-Hub-Signature-256": good, "X-GitHub-Event": "push"}, 401},
		{"github header with sha1 prefix", map[string]string{"X-Hub-Signature-256": "sha1=" + good, "X-GitHub-Event": "push"}, 401},
		{"gitea signature not hex", map[string]string{"X-Gitea-Signature": "zz" + good[2:], "X-Gitea-Event": "push"}, 401},
		{"only the legacy sha1 header", map[string]string{"X-Hub-Signature": "sha1=" + good, "X-GitHub-Event": "push"}, 401},
		{"gitlab token with a prefix of the secret", map[string]string{"X-Gitlab-Token": testSecret[:5], "X-Gitlab-Event": "Push Hook"}, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var o observed
			h := newHandler(t, &o)
			req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.wantStatus {
				t.Errorf("status = %d, want %d (body %q)", rec.Code, tt.wantStatus, rec.Body.String())
			}
			if triggered := len(o.events) > 0; triggered != (tt.wantStatus == 202) {
				t.Errorf("triggered = %v with status %d", triggered, rec.Code)
			}
		})
	}
}

func TestHandlerGitHubFormPayload(t *testing.T) {
	var o observed
	h := newHandler(t, &o)
	body := url.Values{"payload": {pushBody("refs/heads/main", sha)}}.Encode()
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-Hub-Signature-256", "sha256="+mac(testSecret, body))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	want := []Event{{Provider: "github", Ref: "refs/heads/main", After: sha}}
	if diff := cmp.Diff(want, o.events); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

// TestHandlerJSONWhateverTheContentType: a JSON body is read as JSON under
// any content type, including the form type `curl -d` sends; GitHub's form
// encoding (payload=<json>) still works.
func TestHandlerJSONWhateverTheContentType(t *testing.T) {
	jsonBody := pushBody("refs/heads/main", sha)
	form := url.Values{"payload": {jsonBody}}.Encode()
	tests := []struct {
		name, contentType, body string
		wantStatus              int
	}{
		{"json", "application/json", jsonBody, 202},
		{"json with charset", "application/json; charset=utf-8", jsonBody, 202},
		{"json without content type", "", jsonBody, 202},
		{"json as text", "text/plain", jsonBody, 202},
		{"json as a form (curl -d)", "application/x-www-form-urlencoded", jsonBody, 202},
		{"json as a form, leading blank", "application/x-www-form-urlencoded", "\n  " + jsonBody, 202},
		{"github form payload", "application/x-www-form-urlencoded", form, 202},
		{"form without payload", "application/x-www-form-urlencoded", "other=1", 400},
		{"form labelled json", "application/json", form, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var o observed
			h := newHandler(t, &o)
			req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tt.body))
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			req.Header.Set("X-GitHub-Event", "push")
			req.Header.Set("X-Hub-Signature-256", "sha256="+mac(testSecret, tt.body))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d (%s)", rec.Code, tt.wantStatus, rec.Body)
			}
			if tt.wantStatus == 202 {
				want := []Event{{Provider: "github", Ref: "refs/heads/main", After: sha}}
				if diff := cmp.Diff(want, o.events); diff != "" {
					t.Errorf("events (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// TestHandlerOverHTTP sends real requests, concurrently, through a server.
func TestHandlerOverHTTP(t *testing.T) {
	var n atomic.Int64
	h, err := New(Options{Secret: []byte(testSecret), Branch: "spec", Trigger: func(Event) { n.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	const requests = 20
	var wg sync.WaitGroup
	for i := range requests {
		wg.Go(func() {
			ref := "refs/heads/spec"
			if i%2 == 1 {
				ref = "refs/heads/other"
			}
			body := pushBody(ref, sha)
			req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(body))
			req.Header.Set("X-GitHub-Event", "push")
			req.Header.Set("X-Hub-Signature-256", "sha256="+mac(testSecret, body))
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			text, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusAccepted {
				t.Errorf("status %d: %s", resp.StatusCode, text)
			}
		})
	}
	wg.Wait()
	if got := n.Load(); got != requests/2 {
		t.Errorf("triggered %d times, want %d", got, requests/2)
	}
}

func TestNew(t *testing.T) {
	trigger := func(Event) {}
	tests := []struct {
		name    string
		opts    Options
		wantErr string
	}{
		{"valid", Options{Secret: []byte("x"), Branch: "main", Trigger: trigger}, ""},
		{"no secret", Options{Branch: "main", Trigger: trigger}, "webhook: the secret is empty"},
		{"no branch", Options{Secret: []byte("x"), Trigger: trigger}, "webhook: no branch given"},
		{"no trigger", Options{Secret: []byte("x"), Branch: "main"}, "webhook: no trigger given"},
		{"negative limit", Options{Secret: []byte("x"), Branch: "main", Trigger: trigger, MaxBodyBytes: -1}, "webhook: negative body limit -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.opts)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.wantErr {
				t.Errorf("New() error = %q, want %q", got, tt.wantErr)
			}
		})
	}
}

func TestMaxBodyBytes(t *testing.T) {
	h, err := New(Options{Secret: []byte(testSecret), Branch: "main", Trigger: func(Event) {}, MaxBodyBytes: 10})
	if err != nil {
		t.Fatal(err)
	}
	body := `{"ref":"refs/heads/main"}`
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	req.Header.Set("X-Wirekeeper-Signature", "sha256="+mac(testSecret, body))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("status = %d, want 413", rec.Code)
	}
}

func TestReadSecretFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	got, err := ReadSecretFile(write("ok", "  hunter2\n"))
	if err != nil || string(got) != "hunter2" {
		t.Errorf("ReadSecretFile = %q, %v; want \"hunter2\", nil", got, err)
	}
	if _, err := ReadSecretFile(write("empty", "\n")); err == nil || !strings.Contains(err.Error(), "is empty") {
		t.Errorf("empty file: error = %v, want one saying it is empty", err)
	}
	if _, err := ReadSecretFile(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing file: no error")
	}
}
