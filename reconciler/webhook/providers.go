package webhook

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
)

// provider is one kind of sender: how it signs, names its event and its delivery.
type provider struct {
	name string
	// eventHeaders name the event type, first present wins; none for hmac,
	// whose every request is a push.
	eventHeaders    []string
	deliveryHeaders []string
	// pushEvents and pingEvents are the event types that mean a push and a ping.
	pushEvents, pingEvents []string
}

var (
	github = &provider{name: "github",
		eventHeaders: []string{"X-GitHub-Event"}, deliveryHeaders: []string{"X-GitHub-Delivery"},
		pushEvents: []string{"push"}, pingEvents: []string{"ping"}}
	gitea = &provider{name: "gitea",
		eventHeaders:    []string{"X-Gitea-Event", "X-Forgejo-Event", "X-Gogs-Event"},
		deliveryHeaders: []string{"X-Gitea-Delivery", "X-Forgejo-Delivery", "X-Gogs-Delivery"},
		pushEvents:      []string{"push"}, pingEvents: []string{"ping"}}
	gitlab = &provider{name: "gitlab",
		eventHeaders: []string{"X-Gitlab-Event"}, deliveryHeaders: []string{"X-Gitlab-Event-UUID"},
		pushEvents: []string{"Push Hook"}}
	plainHMAC = &provider{name: "hmac", deliveryHeaders: []string{"X-Wirekeeper-Delivery"}}
)

// signatureHeader is one header that authenticates a request.
type signatureHeader struct {
	name     string
	provider *provider
	verify   func(secret, body []byte, value string) bool
}

// signatureHeaders are checked in this order; the first present names the
// provider. Gitea and Forgejo also send X-Hub-Signature-256, so their own
// headers come first.
var signatureHeaders = []signatureHeader{
	{"X-Gitea-Signature", gitea, verifyHexHMAC},
	{"X-Forgejo-Signature", gitea, verifyHexHMAC},
	{"X-Gogs-Signature", gitea, verifyHexHMAC},
	{"X-Gitlab-Token", gitlab, verifyToken},
	{"X-Hub-Signature-256", github, verifyPrefixedHMAC},
	{"X-Wirekeeper-Signature", plainHMAC, verifyPrefixedHMAC},
}

func signatureHeaderNames() []string {
	names := make([]string, len(signatureHeaders))
	for i, s := range signatureHeaders {
		names[i] = s.name
	}
	return names
}

// detectProvider returns the provider of the first signature header present, or nil.
func detectProvider(h http.Header) *provider {
	for _, s := range signatureHeaders {
		if len(h.Values(s.name)) > 0 {
			return s.provider
		}
	}
	return nil
}

// verify checks every value of every signature header present, so that a
// request cannot pass on a weak header while carrying a wrong strong one.
// It returns the first header that does not match.
func verify(h http.Header, secret, body []byte) (string, bool) {
	for _, s := range signatureHeaders {
		for _, v := range h.Values(s.name) {
			if !s.verify(secret, body, v) {
				return s.name, false
			}
		}
	}
	return "", true
}

func bodyMAC(secret, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return m.Sum(nil)
}

// verifyHexHMAC checks a bare hex HMAC-SHA256 of the body (Gitea, Forgejo, Gogs).
func verifyHexHMAC(secret, body []byte, value string) bool {
	got, err := hex.DecodeString(strings.TrimSpace(value))
	return err == nil && hmac.Equal(got, bodyMAC(secret, body))
}

// verifyPrefixedHMAC checks "sha256=<hex>" (GitHub, plain HMAC).
func verifyPrefixedHMAC(secret, body []byte, value string) bool {
	algo, sig, ok := strings.Cut(strings.TrimSpace(value), "=")
	return ok && algo == "sha256" && verifyHexHMAC(secret, body, sig)
}

// verifyToken compares GitLab's plain token. Hashing both sides first keeps
// the comparison constant-time even in the secret's length.
func verifyToken(secret, _ []byte, value string) bool {
	got, want := sha256.Sum256([]byte(value)), sha256.Sum256(secret)
	return hmac.Equal(got[:], want[:])
}

// errPing is returned by parse for a host's ping (hook created or tested).
var errPing = errors.New("ping")

// ignored is returned by parse for an authentic event that is not a push.
type ignored struct{ reason string }

func (i ignored) Error() string { return i.reason }

// pushPayload holds the fields of a push every host sends.
type pushPayload struct {
	Ref   string `json:"ref"`
	After string `json:"after"`
}

// parse reads an authentic request into an Event (without Provider and
// Delivery). It returns errPing, an ignored, or another error for a
// malformed request. branchRef is what a plain HMAC request without a ref means.
func (p *provider) parse(h http.Header, body []byte, branchRef string) (Event, error) {
	if p == plainHMAC {
		if len(bytes.TrimSpace(body)) == 0 {
			return Event{Ref: branchRef}, nil
		}
		pl, err := decodePush(h, body)
		if err != nil {
			return Event{}, err
		}
		if pl.Ref == "" {
			pl.Ref = branchRef
		}
		return Event{Ref: pl.Ref, After: pl.After}, nil
	}
	event := firstHeader(h, p.eventHeaders)
	switch {
	case event == "":
		return Event{}, fmt.Errorf("no event type (%s)", strings.Join(p.eventHeaders, ", "))
	case slices.Contains(p.pingEvents, event):
		return Event{}, errPing
	case !slices.Contains(p.pushEvents, event):
		return Event{}, ignored{fmt.Sprintf("event %q is not a push", event)}
	}
	pl, err := decodePush(h, body)
	if err != nil {
		return Event{}, err
	}
	if pl.Ref == "" {
		return Event{}, errors.New("the push names no ref")
	}
	return Event{Ref: pl.Ref, After: pl.After}, nil
}

// decodePush reads a JSON push body whatever the content type, or GitHub's
// form-encoded variant (payload=<json>). A body starting with "{" is JSON
// even when labelled a form: `curl -d`, which scripts use, labels every body
// application/x-www-form-urlencoded, and a real form body never starts with
// "{" (GitHub's starts with "payload=").
func decodePush(h http.Header, body []byte) (pushPayload, error) {
	mt, _, _ := mime.ParseMediaType(h.Get("Content-Type"))
	if mt == "application/x-www-form-urlencoded" && !bytes.HasPrefix(bytes.TrimSpace(body), []byte("{")) {
		form, err := url.ParseQuery(string(body))
		if err != nil || form.Get("payload") == "" {
			return pushPayload{}, errors.New("form body without a payload field")
		}
		body = []byte(form.Get("payload"))
	}
	var pl pushPayload
	if err := json.Unmarshal(body, &pl); err != nil {
		return pushPayload{}, errors.New("the body is not a JSON object with a ref")
	}
	if pl.After != "" && !isCommitID(pl.After) {
		return pushPayload{}, errors.New("after is not a commit ID (40 or 64 hex digits)")
	}
	return pl, nil
}

func isCommitID(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

func firstHeader(h http.Header, names []string) string {
	for _, n := range names {
		if v := h.Get(n); v != "" {
			return v
		}
	}
	return ""
}

// ReadSecretFile reads a webhook secret from a file, without surrounding
// whitespace (the newline editors add); an empty secret is an error.
func ReadSecretFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("webhook: cannot read the secret: %w", err)
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil, fmt.Errorf("webhook: the secret file %s is empty", path)
	}
	return b, nil
}
