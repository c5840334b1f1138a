package webhook

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
)

// FuzzHandler sends authentic (correctly signed) and forged requests with
// arbitrary bodies, content types and event headers: the handler never
// panics, answers one of its documented codes, and triggers only for a
// correctly signed push to the spec branch.
func FuzzHandler(f *testing.F) {
	f.Add(uint8(0), "push", "application/json", []byte(`{"ref":"refs/heads/main","after":"`+sha+`"}`), true)
	f.Add(uint8(1), "Push Hook", "application/json", []byte(`{"ref":"refs/heads/main"}`), true)
	f.Add(uint8(2), "push", "application/x-www-form-urlencoded", []byte(`payload=%7B%22ref%22%3A%22refs%2Fheads%2Fmain%22%7D`), true)
	f.Add(uint8(3), "", "", []byte(``), true)
	f.Add(uint8(4), "", "application/x-www-form-urlencoded", []byte(`{"ref":"refs/heads/main"}`), true) // curl -d
	f.Add(uint8(0), "ping", "application/json", []byte(`{"zen":"x"}`), false)
	f.Add(uint8(4), "push", "application/json", []byte(`{"ref":"refs/heads/main","after":"zz"}`), true)
	f.Fuzz(func(t *testing.T, host uint8, event, contentType string, body []byte, signed bool) {
		var triggered []Event
		h, err := New(Options{Secret: []byte(testSecret), Branch: "main", Trigger: func(e Event) { triggered = append(triggered, e) }, MaxBodyBytes: 4096})
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodPost, "/hook", bytes.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		secret := testSecret
		if !signed {
			secret = "not-the-secret"
		}
		names := []string{"github", "gitlab", "gitea", "forgejo", "hmac"}
		s := senders[names[int(host)%len(names)]]
		s.sign(req.Header, secret, string(body))
		if s.eventHdr != "" && event != "" {
			req.Header.Set(s.eventHdr, event)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		allowed := []int{http.StatusOK, http.StatusAccepted, http.StatusNoContent, http.StatusBadRequest,
			http.StatusUnauthorized, http.StatusForbidden, http.StatusRequestEntityTooLarge}
		if !slices.Contains(allowed, rec.Code) {
			t.Fatalf("status %d for %q", rec.Code, body)
		}
		if len(triggered) > 0 && (!signed || triggered[0].Ref != "refs/heads/main") {
			t.Fatalf("triggered %+v (signed %v) for %q", triggered, signed, body)
		}
	})
}
