// Package webhook turns Git host push events into reconcile triggers. It
// verifies GitHub, Gitea (and Forgejo, Gogs), GitLab and plain HMAC-signed
// requests, and triggers only for pushes to the spec branch. A trigger only
// wakes the engine: the reconcile that follows fetches and reads the whole
// revision again, so a lost or repeated delivery does no harm.
package webhook

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// DefaultMaxBodyBytes bounds a request body when Options.MaxBodyBytes is 0.
const DefaultMaxBodyBytes = 1 << 20

// DefaultRefusedLogInterval is Options.RefusedLogInterval when it is 0.
const DefaultRefusedLogInterval = 5 * time.Second

// Results passed to Options.Observe, one per request.
const (
	ResultAccepted   = "accepted"    // a push to the spec branch (or a plain "reconcile now"): Trigger was called
	ResultIgnored    = "ignored"     // authentic, but not a push to the spec branch; or a ping
	ResultRejected   = "rejected"    // missing or wrong signature
	ResultBadRequest = "bad-request" // wrong method, oversized or malformed body
)

// Options configure a Handler.
type Options struct {
	// Secret is the shared webhook secret; required and non-empty. It is used
	// as given: a secret read from a file should have its trailing newline
	// removed first (see ReadSecretFile).
	Secret []byte
	// Branch is the spec branch; only pushes to refs/heads/<Branch> trigger.
	Branch string
	// Trigger is called once for every accepted push, from the request's
	// goroutine; it must not block. Required.
	Trigger func(Event)
	// Logger receives an INFO line per accepted push, a DEBUG line per
	// ignored request, and WARN lines for refused ones, throttled (see
	// RefusedLogInterval); nil discards.
	Logger *slog.Logger
	// Observe, when set, is called once per request with the provider
	// ("github", "gitlab", "gitea", "hmac" or "unknown") and one of the
	// Result constants, for metrics.
	Observe func(provider, result string)
	// MaxBodyBytes bounds the request body; larger bodies get 413. Zero
	// means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// RefusedLogInterval is the least time between two WARN lines about
	// refused requests (400, 401, 405, 413) of the same status code, so an
	// unauthenticated flood cannot flood the log; the next line written
	// says how many were left out ("suppressed"). Observe still sees every
	// request. Zero means DefaultRefusedLogInterval.
	RefusedLogInterval time.Duration
	// Now is the clock of RefusedLogInterval; nil means time.Now.
	Now func() time.Time
}

// Event is an accepted push.
type Event struct {
	// Provider is github, gitlab, gitea or hmac.
	Provider string
	// Ref is the pushed ref, always refs/heads/<Branch>.
	Ref string
	// After is the commit the branch points to after the push; all zeros
	// when the branch was deleted; empty when a plain HMAC request named
	// no commit.
	After string
	// Delivery is the host's delivery ID, when it sends one.
	Delivery string
}

// Handler is the http.Handler for the webhook endpoint. It is safe for
// concurrent use.
type Handler struct {
	secret  []byte
	ref     string
	trigger func(Event)
	log     *slog.Logger
	observe func(provider, result string)
	maxBody int64
	refused *refusalLog
}

// New returns a Handler, or an error when Secret, Branch or Trigger is missing.
func New(opts Options) (*Handler, error) {
	switch {
	case len(opts.Secret) == 0:
		return nil, errors.New("webhook: the secret is empty")
	case opts.Branch == "":
		return nil, errors.New("webhook: no branch given")
	case opts.Trigger == nil:
		return nil, errors.New("webhook: no trigger given")
	case opts.MaxBodyBytes < 0:
		return nil, fmt.Errorf("webhook: negative body limit %d", opts.MaxBodyBytes)
	case opts.RefusedLogInterval < 0:
		return nil, fmt.Errorf("webhook: negative log interval %s", opts.RefusedLogInterval)
	}
	h := &Handler{
		secret:  append([]byte(nil), opts.Secret...),
		ref:     "refs/heads/" + opts.Branch,
		trigger: opts.Trigger,
		log:     opts.Logger,
		observe: opts.Observe,
		maxBody: opts.MaxBodyBytes,
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.maxBody == 0 {
		h.maxBody = DefaultMaxBodyBytes
	}
	h.refused = newRefusalLog(h.log, opts.RefusedLogInterval, opts.Now)
	return h, nil
}

// response is the outcome of one request.
type response struct {
	provider string
	result   string
	status   int
	text     string // short plain text; never holds the secret or a signature
}

// ServeHTTP verifies the request and, for a push to the spec branch, calls
// Trigger. Status codes: 200 ping, 202 accepted or ignored, 400 malformed,
// 401 missing or wrong signature, 405 not POST, 413 body too large.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	resp := h.handle(w, r)
	if h.observe != nil {
		h.observe(resp.provider, resp.result)
	}
	attrs := []any{"provider", resp.provider, "status", resp.status, "remote", r.RemoteAddr, "message", resp.text}
	switch resp.result {
	case ResultRejected, ResultBadRequest:
		h.refused.warn(resp.status, attrs)
	case ResultIgnored:
		h.log.Debug("webhook request ignored", attrs...)
	}
	if resp.status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", http.MethodPost)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(resp.status)
	io.WriteString(w, resp.text+"\n")
}

func (h *Handler) handle(w http.ResponseWriter, r *http.Request) response {
	p := detectProvider(r.Header)
	name := "unknown"
	if p != nil {
		name = p.name
	}
	bad := func(status int, format string, args ...any) response {
		return response{name, ResultBadRequest, status, fmt.Sprintf(format, args...)}
	}
	if r.Method != http.MethodPost {
		return bad(http.StatusMethodNotAllowed, "method not allowed: use POST")
	}
	if p == nil {
		return response{name, ResultRejected, http.StatusUnauthorized, "unauthorized: no signature header (" + strings.Join(signatureHeaderNames(), ", ") + ")"}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return bad(http.StatusRequestEntityTooLarge, "request body too large: the limit is %d bytes", h.maxBody)
		}
		return bad(http.StatusBadRequest, "bad request: cannot read the body")
	}
	if header, ok := verify(r.Header, h.secret, body); !ok {
		return response{name, ResultRejected, http.StatusUnauthorized, "unauthorized: " + header + " does not match"}
	}

	ev, err := p.parse(r.Header, body, h.ref)
	switch {
	case errors.Is(err, errPing):
		return response{name, ResultIgnored, http.StatusOK, "pong"}
	case err != nil:
		var ign ignored
		if errors.As(err, &ign) {
			return response{name, ResultIgnored, http.StatusAccepted, "ignored: " + ign.reason}
		}
		return bad(http.StatusBadRequest, "bad request: %v", err)
	}
	if ev.Ref != h.ref {
		return response{name, ResultIgnored, http.StatusAccepted, fmt.Sprintf("ignored: ref %q is not %s", ev.Ref, h.ref)}
	}
	ev.Provider = name
	ev.Delivery = firstHeader(r.Header, p.deliveryHeaders)
	h.trigger(ev)
	h.log.Info("webhook push accepted", "provider", name, "ref", ev.Ref, "after", ev.After, "delivery", ev.Delivery)
	return response{name, ResultAccepted, http.StatusAccepted, "accepted: reconcile of " + h.ref + " queued"}
}
