package amqp

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRedactor(t *testing.T) {
	tests := []struct {
		name      string
		url       string
		msg       string
		wantShown string
		wantMsg   string
	}{
		{
			name:      "plain password",
			url:       "amqp://collector:s3cret@mq.example:5672/osg",
			msg:       "dial amqp://collector:s3cret@mq.example:5672/osg: user collector password s3cret refused",
			wantShown: "amqp://collector:xxxxx@mq.example:5672/osg",
			wantMsg:   "dial amqp://collector:xxxxx@mq.example:5672/osg: user collector password xxxxx refused",
		},
		{
			name:      "percent-encoded password shows in neither form",
			url:       "amqps://collector:p%40ss%3Aword@mq.example/",
			msg:       "encoded p%40ss%3Aword, decoded p@ss:word",
			wantShown: "amqps://collector:xxxxx@mq.example/",
			wantMsg:   "encoded xxxxx, decoded xxxxx",
		},
		{
			name:      "no password",
			url:       "amqp://mq.example/",
			msg:       "connection refused",
			wantShown: "amqp://mq.example/",
			wantMsg:   "connection refused",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := newRedactor(tt.url)
			if err != nil {
				t.Fatalf("newRedactor(%q): %v", tt.url, err)
			}
			if r.shown != tt.wantShown {
				t.Errorf("shown = %q, want %q", r.shown, tt.wantShown)
			}
			if diff := cmp.Diff(tt.wantMsg, r.scrub(tt.msg)); diff != "" {
				t.Errorf("scrub (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRedactorUnparsableURL(t *testing.T) {
	const url = "amqp://collector:s3cret@mq.example:port/" // bad port
	r, err := newRedactor(url)
	if err == nil {
		t.Fatalf("newRedactor(%q): no error", url)
	}
	for _, s := range []string{err.Error(), r.shown, r.scrub("failed: " + url)} {
		if strings.Contains(s, "s3cret") {
			t.Errorf("%q shows the password", s)
		}
	}
	// Every call of a publisher with such a URL fails the same way.
	p := New(Options{URL: url})
	if err := p.PublishAll(t.Context(), []Message{{MessageID: "m"}}); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("PublishAll = %v, want an error without the password", err)
	}
}

func TestRedactorError(t *testing.T) {
	r, _ := newRedactor("amqp://u:hunter2@h/")
	inner := fmt.Errorf("wrapped: %w", io.ErrUnexpectedEOF)
	secret := fmt.Errorf("auth as u:hunter2: %w", inner)

	got := r.error(secret)
	if strings.Contains(got.Error(), "hunter2") {
		t.Errorf("error(%q) = %q, still shows the password", secret, got)
	}
	if !errors.Is(got, io.ErrUnexpectedEOF) {
		t.Errorf("errors.Is(%v, io.ErrUnexpectedEOF) = false after scrubbing", got)
	}
	if wrapped := fmt.Errorf("outer: %w", got); strings.Contains(wrapped.Error(), "hunter2") {
		t.Errorf("wrapping the scrubbed error shows the password: %q", wrapped)
	}
	if clean := errors.New("no secret"); r.error(clean) != clean {
		t.Errorf("error() replaced an error holding no secret")
	}
}

func TestSplit(t *testing.T) {
	msgs := make([]Message, 2000)
	tests := []struct {
		n, len   int
		wantLens []int
	}{
		{n: 1, len: 2000, wantLens: []int{2000}},
		{n: 4, len: 2000, wantLens: []int{667, 667, 666}}, // 2000/512 = 3 shares at most
		{n: 2, len: 2000, wantLens: []int{1000, 1000}},
		{n: 8, len: 1000, wantLens: []int{1000}}, // too few to split
		{n: 2, len: 1024, wantLens: []int{512, 512}},
	}
	for _, tt := range tests {
		var got []int
		for _, s := range split(msgs[:tt.len], tt.n) {
			got = append(got, len(s))
		}
		if diff := cmp.Diff(tt.wantLens, got); diff != "" {
			t.Errorf("split(%d messages, %d) share sizes (-want +got):\n%s", tt.len, tt.n, diff)
		}
	}
}
