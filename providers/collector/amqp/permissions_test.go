package amqp_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wirekeeper/wirekeeper/internal/rabbittest"
	"github.com/wirekeeper/wirekeeper/internal/testenv"
	"github.com/wirekeeper/wirekeeper/providers/collector/amqp"
)

// writeOnlyURL creates, through the broker's management API, a user that
// may only write (no configure, no read permission) in the virtual host of
// b.URL, as the SAND-CI collector's accounts are, and returns b.URL with
// that user's credentials. The user is deleted when t ends.
func writeOnlyURL(t *testing.T, b *rabbittest.Broker) string {
	t.Helper()
	u, err := url.Parse(b.URL)
	if err != nil {
		t.Fatal(err)
	}
	vhost := strings.TrimPrefix(u.Path, "/")
	if vhost == "" {
		vhost = "/"
	}
	user, password := "wk-writeonly-"+testenv.UniqueName(t), "w-"+testenv.UniqueName(t)
	mgmt := func(method, path string, body any) {
		t.Helper()
		var data []byte
		if body != nil {
			if data, err = json.Marshal(body); err != nil {
				t.Fatal(err)
			}
		}
		req, err := http.NewRequestWithContext(t.Context(), method, b.MgmtURL+path, bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("management API %s %s: %v", method, path, err)
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			t.Fatalf("management API %s %s: %s", method, path, resp.Status)
		}
	}
	mgmt(http.MethodPut, "/api/users/"+url.PathEscape(user), map[string]string{"password": password, "tags": ""})
	t.Cleanup(func() {
		req, err := http.NewRequest(http.MethodDelete, b.MgmtURL+"/api/users/"+url.PathEscape(user), nil)
		if err == nil {
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}
	})
	mgmt(http.MethodPut, "/api/permissions/"+url.PathEscape(vhost)+"/"+url.PathEscape(user),
		map[string]string{"configure": "", "write": ".*", "read": ""})
	u.User = url.UserPassword(user, password)
	return u.String()
}

// TestWriteOnlyAccount publishes with an account that has write
// permission only, as the SAND-CI collector's do: to an exchange that
// exists it publishes (the passive check needs no permission, where a
// declare would be refused with 403 ACCESS_REFUSED), the watched queue's
// depth reads, and a missing exchange fails saying so.
func TestWriteOnlyAccount(t *testing.T) {
	t.Parallel()
	b := rabbittest.Shared(t)
	q := testenv.UniqueName(t)
	b.DeclareQueue(t, q, q+"_x", statsKey) // the operator's exchange and queue
	writeOnly := writeOnlyURL(t, b)

	p := amqp.New(amqp.Options{URL: writeOnly, Exchange: q + "_x"})
	defer p.Close()
	msgs := statsMessages("w", 25)
	if err := p.PublishAll(t.Context(), msgs); err != nil {
		t.Fatalf("PublishAll with a write-only account to an existing exchange: %v", err)
	}
	if got, err := p.QueueDepth(t.Context(), q); err != nil || got != len(msgs) {
		t.Errorf("QueueDepth(%s) with a write-only account = %d, %v; want %d", q, got, err, len(msgs))
	}
	c := b.Consume(t, q)
	c.WaitCount(t, len(msgs), 30*time.Second)
	checkDelivered(t, msgs, c.Messages())

	missing := q + "_missing_x"
	p2 := amqp.New(amqp.Options{URL: writeOnly, Exchange: missing})
	defer p2.Close()
	err := p2.PublishAll(t.Context(), statsMessages("m", 1))
	want := fmt.Sprintf("exchange %q does not exist; declare it (type topic, durable): the user may not do this (AMQP 403 ACCESS_REFUSED)", missing)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("PublishAll with a write-only account to a missing exchange = %v, want an error with %q", err, want)
	}
	if err != nil && strings.Contains(err.Error(), writeOnly[strings.Index(writeOnly, "//")+2:strings.Index(writeOnly, "@")]) {
		t.Errorf("error shows the credentials: %v", err)
	}
}
