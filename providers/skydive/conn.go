package skydive

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wirekeeper/wirekeeper/internal/secret"
	"github.com/wirekeeper/wirekeeper/internal/tlsconfig"
	"github.com/wirekeeper/wirekeeper/spec"
)

// endpoint is where and how one export reaches its analyzer.
type endpoint struct {
	ws, http   string // ws(s)://host:port/ws/publisher and http(s)://host:port
	tls        *tls.Config
	hostID     string
	clientType string
	persist    string
	user, pass string
	login      bool
	httpc      *http.Client
	// token is the authtoken cookie of the last /login (login method);
	// logins counts the logins made. Both belong to the export's goroutine.
	token  string
	logins int
	// maxBody bounds a REST answer.
	maxBody int64
}

// Errors an upgrade can end with that say what to fix.
var (
	errUnauthorized = errors.New("the analyzer refused the credentials (HTTP 401)")
	errConflict     = errors.New("the analyzer already has a publisher connected with this host ID (HTTP 409)")
)

// newEndpoint builds the endpoint of sp for node; pass is the resolved
// password ("" without auth); secrets reads the TLS files.
func newEndpoint(sp spec.SkyDiveExportSpec, node, pass string, secrets *secret.Store) (*endpoint, error) {
	a := sp.Analyzer
	secure := sp.TLS != nil
	switch {
	case strings.HasPrefix(a, "wss://"):
		a, secure = strings.TrimPrefix(a, "wss://"), true
	case strings.HasPrefix(a, "ws://"):
		a = strings.TrimPrefix(a, "ws://")
	}
	a = strings.TrimSuffix(strings.TrimSuffix(a, "/"), "/ws/publisher")
	e := &endpoint{ws: "ws://" + a + "/ws/publisher", http: "http://" + a, hostID: node, clientType: sp.ClientType,
		persist: sp.Persistence}
	if secure {
		cfg, err := tlsconfig.Client(secrets, "tls", sp.TLS, "")
		if err != nil {
			return nil, fmt.Errorf("skydive: %w", err)
		}
		e.ws, e.http, e.tls = "wss://"+a+"/ws/publisher", "https://"+a, cfg
	}
	if sp.Auth != nil {
		e.user, e.pass, e.login = sp.Auth.Username, pass, sp.Auth.Method == "login"
	}
	e.httpc = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: e.tls, Proxy: http.ProxyFromEnvironment}}
	return e, nil
}

// authorize adds the credentials to h: basic auth, or the cookie of a
// /login made now if there is none yet. reused reports that the cookie is
// one an earlier request already used: a 401 to it may only mean that
// the token expired (see retry401).
func (e *endpoint) authorize(ctx context.Context, h http.Header) (reused bool, err error) {
	if e.user == "" {
		return false, nil
	}
	if !e.login {
		h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(e.user+":"+e.pass)))
		return false, nil
	}
	reused = e.token != ""
	if !reused {
		if err := e.doLogin(ctx); err != nil {
			return false, err
		}
	}
	h.Set("Cookie", (&http.Cookie{Name: "authtoken", Value: e.token}).String())
	return reused, nil
}

// retry401 reports whether a request answered 401 is worth making once
// more: its authtoken was one an earlier request used, which the
// analyzer may have expired since. The token is dropped either way, so
// that the next request logs in again.
func (e *endpoint) retry401(reused bool) bool {
	e.token = ""
	return e.login && reused
}

// doLogin posts the credentials to /login and keeps the authtoken cookie.
func (e *endpoint) doLogin(ctx context.Context) error {
	form := url.Values{"username": {e.user}, "password": {e.pass}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.http+"/login", strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("skydive: login: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := e.httpc.Do(req)
	if err != nil {
		return fmt.Errorf("skydive: login to %s: %w", e.http, err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		return fmt.Errorf("skydive: login to %s as %s: %w", e.http, e.user, errUnauthorized)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("skydive: login to %s: HTTP %s", e.http, resp.Status)
	}
	for _, c := range resp.Cookies() {
		if c.Name == "authtoken" && c.Value != "" {
			e.token = c.Value
			e.logins++
			return nil
		}
	}
	return fmt.Errorf("skydive: login to %s: the answer set no authtoken cookie", e.http)
}

// dial opens the publisher connection. An upgrade refused with 401 to a
// login token used before is made once more with a new login: the token
// expired, the credentials did not change.
func (e *endpoint) dial(ctx context.Context) (*websocket.Conn, error) {
	conn, again, err := e.dialOnce(ctx)
	if again {
		conn, _, err = e.dialOnce(ctx)
	}
	return conn, err
}

// dialOnce is one upgrade; again reports a 401 worth retrying.
func (e *endpoint) dialOnce(ctx context.Context) (conn *websocket.Conn, again bool, err error) {
	h := http.Header{}
	h.Set("X-Host-ID", e.hostID)
	h.Set("X-Client-Type", e.clientType)
	h.Set("X-Client-Protocol", "json")
	h.Set("X-Persistence-Policy", e.persist)
	reused, err := e.authorize(ctx, h)
	if err != nil {
		return nil, false, err
	}
	d := websocket.Dialer{TLSClientConfig: e.tls, HandshakeTimeout: 10 * time.Second, Proxy: http.ProxyFromEnvironment,
		WriteBufferSize: 64 << 10}
	conn, resp, err := d.DialContext(ctx, e.ws, h)
	if err == nil {
		return conn, false, nil
	}
	if resp != nil {
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusUnauthorized:
			again := e.retry401(reused)
			return nil, again, fmt.Errorf("skydive: %s as %s: %w", e.ws, e.userOrNone(), errUnauthorized)
		case http.StatusConflict:
			return nil, false, fmt.Errorf("skydive: %s: host ID %q: %w; another daemon runs with the same --node, or the analyzer has not yet noticed our previous connection end", e.ws, e.hostID, errConflict)
		}
		return nil, false, fmt.Errorf("skydive: %s: upgrade refused: HTTP %s", e.ws, resp.Status)
	}
	return nil, false, fmt.Errorf("skydive: %s: %w", e.ws, err)
}

// stableText renders err for the object's status: without the local
// address of a connection ("read tcp 127.0.0.1:41234->..."), whose port
// changes with every connection, so that the same failure again is the
// same text and does not change the status.
func stableText(err error) string {
	msg := err.Error()
	var op *net.OpError
	if errors.As(err, &op) && op.Source != nil && op.Addr != nil {
		msg = strings.ReplaceAll(msg, op.Source.String()+"->", "")
	}
	return msg
}

func (e *endpoint) userOrNone() string {
	if e.user == "" {
		return "no credentials"
	}
	return "user " + e.user
}
