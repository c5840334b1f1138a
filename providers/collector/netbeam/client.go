package netbeam

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Defaults applied by New to zero Options fields.
const (
	DefaultRequestTimeout = 30 * time.Second
	DefaultRateLimit      = 20.0
	DefaultBurst          = 5
	DefaultMaxBodyBytes   = 64 << 20
)

// Options configures a Client. Zero fields take the documented defaults.
type Options struct {
	// BaseURL is the API root, e.g. https://esnet-netbeam.appspot.com; a
	// trailing slash is ignored. It may carry a path prefix and user:password
	// credentials (sent as basic auth, never shown in errors).
	BaseURL string
	// Network is the already-encoded network name, e.g. "esnet/prod".
	Network string
	// HTTPClient sends the requests. Default: a client with a 30 s timeout
	// that follows redirects only within BaseURL's host.
	HTTPClient *http.Client
	// RequestTimeout bounds one request, from sending to the end of the
	// body (default 30 s). Time spent waiting for the rate limiter is not
	// counted; the caller's context bounds that.
	RequestTimeout time.Duration
	// RateLimit is the number of requests per second sent to Netbeam by
	// this Client, across all goroutines (default 20; +Inf disables it).
	RateLimit float64
	// Burst is how many requests may be sent at once before RateLimit
	// applies (default 5).
	Burst int
	// MaxBodyBytes is the largest response body accepted (default 64 MiB);
	// a larger one fails with an error wrapping ErrTooLarge.
	MaxBodyBytes int64
}

// Client talks to one network of one Netbeam API. It is safe for concurrent
// use; the rate limit is shared by all its callers.
type Client struct {
	base    *url.URL // BaseURL without trailing slash, credentials kept
	network string
	http    *http.Client
	timeout time.Duration
	maxBody int64
	limiter *limiter
}

// New checks opts, fills the defaults and returns a Client. It sends nothing.
func New(opts Options) (*Client, error) {
	base, err := url.Parse(strings.TrimRight(opts.BaseURL, "/"))
	if err != nil {
		return nil, fmt.Errorf("netbeam: base URL: %w", err)
	}
	if (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("netbeam: base URL %q: want http(s)://host[/prefix]", redact(base))
	}
	if base.RawQuery != "" || base.Fragment != "" || base.Opaque != "" {
		return nil, fmt.Errorf("netbeam: base URL %q: must not have a query or fragment", redact(base))
	}
	if err := validatePathPart(opts.Network); err != nil {
		return nil, fmt.Errorf("netbeam: network %q: %w", opts.Network, err)
	}
	c := &Client{
		base:    base,
		network: opts.Network,
		http:    opts.HTTPClient,
		timeout: opts.RequestTimeout,
		maxBody: opts.MaxBodyBytes,
	}
	if c.http == nil {
		c.http = &http.Client{Timeout: DefaultRequestTimeout, CheckRedirect: sameHostRedirects(base.Host)}
	}
	switch {
	case c.timeout == 0:
		c.timeout = DefaultRequestTimeout
	case c.timeout < 0:
		return nil, fmt.Errorf("netbeam: request timeout %s is negative", c.timeout)
	}
	switch {
	case c.maxBody == 0:
		c.maxBody = DefaultMaxBodyBytes
	case c.maxBody < 0:
		return nil, fmt.Errorf("netbeam: max body bytes %d is negative", c.maxBody)
	}
	rate, burst := opts.RateLimit, opts.Burst
	if rate == 0 {
		rate = DefaultRateLimit
	}
	if burst == 0 {
		burst = DefaultBurst
	}
	if rate < 0 || math.IsNaN(rate) || burst < 0 {
		return nil, fmt.Errorf("netbeam: rate limit %v/s with burst %d: both must be positive", rate, burst)
	}
	c.limiter = newLimiter(rate, burst)
	return c, nil
}

// sameHostRedirects refuses redirects that leave host, so a hostile or
// misconfigured API cannot send the client elsewhere.
func sameHostRedirects(host string) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		if req.URL.Host != host {
			return fmt.Errorf("refusing redirect to another host %s", req.URL.Host)
		}
		return nil
	}
}

// endpoint builds the URL of {base}/api/network/{network}/{rest...}, where
// each part is already encoded and goes into the path unchanged, and checks
// that it stays so on the wire.
func (c *Client) endpoint(query string, parts ...string) (*url.URL, error) {
	raw := c.base.EscapedPath() + "/api/network/" + c.network + "/" + strings.Join(parts, "/")
	path, err := url.PathUnescape(raw)
	if err != nil {
		return nil, fmt.Errorf("netbeam: path %q: %w", raw, err)
	}
	u := *c.base
	u.Path, u.RawPath, u.RawQuery = path, raw, query
	if got := u.EscapedPath(); got != raw {
		return nil, fmt.Errorf("netbeam: path %q would be sent as %q", raw, got)
	}
	return &u, nil
}

// get waits for the rate limiter, sends GET u and hands a 2xx body to
// decode, then checks nothing follows the value. The body is read under
// RequestTimeout and MaxBodyBytes.
func (c *Client) get(ctx context.Context, u *url.URL, decode func(*json.Decoder) error) error {
	shown := redact(u)
	if err := c.limiter.wait(ctx); err != nil {
		return fmt.Errorf("netbeam: GET %s: waiting for the rate limit: %w", shown, err)
	}
	reqCtx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(reqCtx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("netbeam: GET %s: %w", shown, err)
	}
	req.URL = u // keep RawPath exactly as built, whatever String/Parse would do
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "wirekeeper-netbeam")
	resp, err := c.http.Do(req)
	if err != nil {
		return c.failure(ctx, reqCtx, shown, "", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		return &StatusError{Code: resp.StatusCode, URL: shown, Body: string(body)}
	}
	body := &cappedReader{r: resp.Body, left: c.maxBody}
	dec := json.NewDecoder(body)
	if err := decode(dec); err != nil {
		return c.failure(ctx, reqCtx, shown, "decoding the response", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		if err == nil {
			err = errors.New("unexpected data after the JSON value")
		}
		return c.failure(ctx, reqCtx, shown, "decoding the response", err)
	}
	return nil
}

// failure wraps err, saying whether the request's own timeout fired, and
// keeping context.DeadlineExceeded or context.Canceled in the chain.
func (c *Client) failure(ctx, reqCtx context.Context, shown, doing string, err error) error {
	if doing != "" {
		shown += ": " + doing
	}
	switch {
	case errors.Is(err, ErrTooLarge):
		return fmt.Errorf("netbeam: GET %s: more than %d bytes: %w", shown, c.maxBody, ErrTooLarge)
	case ctx.Err() != nil:
		return fmt.Errorf("netbeam: GET %s: %w (%w)", shown, ctx.Err(), err)
	case reqCtx.Err() != nil:
		return fmt.Errorf("netbeam: GET %s: no complete response within %s: %w (%w)", shown, c.timeout, reqCtx.Err(), err)
	}
	return fmt.Errorf("netbeam: GET %s: %w", shown, err)
}

// cappedReader reads at most left bytes and then fails with ErrTooLarge,
// rather than silently truncating like io.LimitReader.
type cappedReader struct {
	r    io.Reader
	left int64
}

func (c *cappedReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		// One more byte tells a body of exactly the limit from a larger one.
		var one [1]byte
		n, err := c.r.Read(one[:])
		if n > 0 {
			return 0, ErrTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}

// redact renders u without its user:password.
func redact(u *url.URL) string {
	v := *u
	v.User = nil
	return v.String()
}
