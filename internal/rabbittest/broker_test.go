package rabbittest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/wirekeeper/wirekeeper/internal/testenv"
)

// publish sends n persistent messages with ids prefix0..prefix(n-1) and
// waits for the broker's confirms.
func publish(t *testing.T, url, exchange, key, prefix string, n int) {
	t.Helper()
	conn, err := amqp091.Dial(url)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatalf("channel: %v", err)
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatalf("confirm: %v", err)
	}
	var dcs []*amqp091.DeferredConfirmation
	for i := range n {
		dc, err := ch.PublishWithDeferredConfirmWithContext(context.Background(), exchange, key, false, false,
			amqp091.Publishing{ContentType: "text/plain", DeliveryMode: amqp091.Persistent,
				MessageId: fmt.Sprintf("%s%d", prefix, i), Body: []byte(fmt.Sprintf("body %d", i))})
		if err != nil {
			t.Fatalf("publish: %v", err)
		}
		dcs = append(dcs, dc)
	}
	for _, dc := range dcs {
		if !dc.Wait() {
			t.Fatalf("message %d not confirmed", dc.DeliveryTag)
		}
	}
}

func ids(ds []Delivery) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.MessageID)
	}
	return out
}

func TestSharedConsume(t *testing.T) {
	t.Parallel()
	b := Shared(t)
	q := testenv.UniqueName(t)
	b.DeclareQueue(t, q, q+"_x", "k.#")
	c := b.Consume(t, q)
	publish(t, b.URL, q+"_x", "k.a", "m", 3)
	publish(t, b.URL, q+"_x", "other", "skipped", 2) // not bound
	c.WaitCount(t, 3, 10*time.Second)
	time.Sleep(100 * time.Millisecond)
	want := []Delivery{
		{Body: []byte("body 0"), MessageID: "m0", ContentType: "text/plain", DeliveryMode: 2, RoutingKey: "k.a"},
		{Body: []byte("body 1"), MessageID: "m1", ContentType: "text/plain", DeliveryMode: 2, RoutingKey: "k.a"},
		{Body: []byte("body 2"), MessageID: "m2", ContentType: "text/plain", DeliveryMode: 2, RoutingKey: "k.a"},
	}
	if diff := cmp.Diff(want, c.Messages()); diff != "" {
		t.Errorf("deliveries (-want +got):\n%s", diff)
	}
}

func TestSharedPurge(t *testing.T) {
	t.Parallel()
	b := Shared(t)
	q := testenv.UniqueName(t)
	b.DeclareQueue(t, q, q+"_x", "k")
	publish(t, b.URL, q+"_x", "k", "old", 5)
	b.Purge(t, q)
	publish(t, b.URL, q+"_x", "k", "new", 1)
	c := b.Consume(t, q)
	c.WaitCount(t, 1, 10*time.Second)
	time.Sleep(200 * time.Millisecond)
	if diff := cmp.Diff([]string{"new0"}, ids(c.Messages())); diff != "" {
		t.Errorf("message ids after Purge (-want +got):\n%s", diff)
	}
}

func TestSharedRefusesRestart(t *testing.T) {
	for _, method := range []string{"Stop", "Start", "Restart"} {
		rec := &recordingTB{}
		b := &Broker{MgmtURL: "http://127.0.0.1:1", shared: true}
		b.mustBePrivate(rec, method)
		if len(rec.calls) != 1 || !strings.Contains(rec.calls[0], "Fatalf: rabbittest: "+method+" on the shared") {
			t.Errorf("mustBePrivate(%s) on the shared broker: calls = %q, want one Fatalf refusal", method, rec.calls)
		}
	}
}

// TestPrivateRestart checks that a private node restarts on the same ports
// with its durable queue and persistent messages, and that a consumer
// reconnects by itself.
func TestPrivateRestart(t *testing.T) {
	t.Parallel()
	b := Start(t)
	t.Logf("private broker started in %s", b.StartTime)
	b.DeclareQueue(t, "q", "x", "k")
	publish(t, b.URL, "x", "k", "before", 100)
	url := b.URL
	b.Restart(t)
	t.Logf("private broker restarted in %s", b.StartTime)
	if b.URL != url {
		t.Errorf("URL after Restart = %q, want %q", b.URL, url)
	}
	c := b.Consume(t, "q")
	c.WaitCount(t, 100, 10*time.Second) // persistent messages survived

	began := time.Now()
	b.Stop(t)
	t.Logf("private broker stopped in %s", time.Since(began))
	if _, err := amqp091.Dial(b.URL); err == nil {
		t.Errorf("dial succeeded while the node was stopped")
	}
	b.Start(t)
	publish(t, b.URL, "x", "k", "after", 1)
	c.WaitCount(t, 101, 30*time.Second)
	got := ids(c.Messages())
	if last := got[len(got)-1]; last != "after0" {
		t.Errorf("last delivery = %q, want after0", last)
	}
	if c.Sessions() < 2 {
		t.Errorf("consumer sessions = %d, want a reconnect", c.Sessions())
	}
}

// recordingTB records what the package asks of a test. Unlike a real
// testing.T its Fatalf returns, so the test can inspect the call.
type recordingTB struct {
	testing.TB // nil: calling anything not overridden panics
	calls      []string
}

func (r *recordingTB) Helper() {}

func (r *recordingTB) Fatalf(format string, args ...any) {
	r.calls = append(r.calls, "Fatalf: "+fmt.Sprintf(format, args...))
}
