package amqp_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/wirekeeper/wirekeeper/internal/rabbittest"
	"github.com/wirekeeper/wirekeeper/internal/testenv"
	"github.com/wirekeeper/wirekeeper/providers/collector/amqp"
)

const statsKey = "esnet_traffic"

// statsMessages returns n messages shaped like the collector's stats
// messages (about 150 bytes), with ids prefix|resource|traffic|timestamp.
func statsMessages(prefix string, n int) []amqp.Message {
	msgs := make([]amqp.Message, n)
	for i := range msgs {
		name := fmt.Sprintf("devices/albq-asw%d/interfaces/ge-0%%2F0%%2F%d", i%97, i%48)
		ts := 1700000000000 + int64(i)*30000
		msgs[i] = amqp.Message{
			RoutingKey: statsKey,
			Body: fmt.Appendf(nil, `{"name":%q,"recordType":"traffic","timestamp":%d,"in":%d.5,"out":%d.25}`,
				name, ts, 1000000+i, 2000000+i),
			MessageID: fmt.Sprintf("%s|%s|traffic|%d", prefix, name, ts),
			Timestamp: time.UnixMilli(ts),
		}
	}
	return msgs
}

// setup declares a queue bound to a fresh exchange on the shared broker and
// returns a publisher to that exchange.
func setup(t *testing.T, opts amqp.Options) (*rabbittest.Broker, string, *amqp.Publisher) {
	t.Helper()
	b := rabbittest.Shared(t)
	q := testenv.UniqueName(t)
	b.DeclareQueue(t, q, q+"_x", statsKey)
	opts.URL, opts.Exchange, opts.ExchangeType = b.URL, q+"_x", "topic"
	p := amqp.New(opts)
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return b, q, p
}

// checkDelivered checks that got holds every message of want exactly as
// published, once each.
func checkDelivered(t *testing.T, want []amqp.Message, got []rabbittest.Delivery) {
	t.Helper()
	byID := map[string]rabbittest.Delivery{}
	for _, d := range got {
		if _, dup := byID[d.MessageID]; dup {
			t.Errorf("message %q delivered twice", d.MessageID)
		}
		byID[d.MessageID] = d
	}
	if len(byID) != len(want) {
		t.Errorf("%d distinct message ids delivered, want %d", len(byID), len(want))
	}
	bad := 0
	for _, m := range want {
		wantD := rabbittest.Delivery{Body: m.Body, MessageID: m.MessageID, ContentType: "text/plain",
			DeliveryMode: 2, RoutingKey: m.RoutingKey}
		if diff := cmp.Diff(wantD, byID[m.MessageID]); diff != "" && bad < 3 {
			bad++
			t.Errorf("delivery of %q (-want +got):\n%s", m.MessageID, diff)
		}
	}
}

func TestPublishAllDelivers(t *testing.T) {
	t.Parallel()
	for _, channels := range []int{1, 4} {
		t.Run(fmt.Sprintf("channels=%d", channels), func(t *testing.T) {
			t.Parallel()
			b, q, p := setup(t, amqp.Options{Channels: channels, MaxInFlight: 300})
			c := b.Consume(t, q)
			msgs := statsMessages("a", 10000)
			if err := p.PublishAll(t.Context(), msgs); err != nil {
				t.Fatalf("PublishAll: %v", err)
			}
			if diff := cmp.Diff(amqp.Stats{Published: 10000, Confirmed: 10000}, p.Stats()); diff != "" {
				t.Errorf("Stats (-want +got):\n%s", diff)
			}
			c.WaitCount(t, len(msgs), 30*time.Second)
			time.Sleep(100 * time.Millisecond) // anything extra would show up by now
			got := c.Messages()
			checkDelivered(t, msgs, got)
			if channels == 1 {
				for i := range got {
					if got[i].MessageID != msgs[i].MessageID {
						t.Errorf("delivery %d is %q, want %q: one channel keeps the order", i, got[i].MessageID, msgs[i].MessageID)
						break
					}
				}
			}
		})
	}
}

func TestPublishAllConcurrent(t *testing.T) {
	t.Parallel()
	b, q, p := setup(t, amqp.Options{})
	c := b.Consume(t, q)
	var (
		wg   sync.WaitGroup
		all  []amqp.Message
		errs = make([]error, 6)
	)
	for i := range errs {
		msgs := statsMessages(fmt.Sprint("g", i), 1500)
		all = append(all, msgs...)
		wg.Go(func() { errs[i] = p.PublishAll(t.Context(), msgs) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("PublishAll: %v", err)
	}
	c.WaitCount(t, len(all), 30*time.Second)
	time.Sleep(100 * time.Millisecond)
	checkDelivered(t, all, c.Messages())
	// The channels of the calls above are kept for the next ones.
	if err := p.PublishAll(t.Context(), statsMessages("again", 10)); err != nil {
		t.Errorf("PublishAll after concurrent calls: %v", err)
	}
}

func TestQueueDepth(t *testing.T) {
	t.Parallel()
	b, q, p := setup(t, amqp.Options{})
	ctx := t.Context()
	if err := p.PublishAll(ctx, statsMessages("d", 1234)); err != nil {
		t.Fatalf("PublishAll: %v", err)
	}
	got, err := p.QueueDepth(ctx, q)
	if err != nil || got != 1234 {
		t.Errorf("QueueDepth(%s) = %d, %v; want 1234", q, got, err)
	}
	b.Purge(t, q)
	if got, err := p.QueueDepth(ctx, q); err != nil || got != 0 {
		t.Errorf("QueueDepth(%s) after Purge = %d, %v; want 0", q, got, err)
	}

	missing := q + "_missing"
	_, err = p.QueueDepth(ctx, missing)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("queue %q does not exist", missing)) {
		t.Errorf("QueueDepth(%s) error = %v, want one saying the queue does not exist", missing, err)
	}
	// The failed passive declare closed only its own channel.
	if err := p.PublishAll(ctx, statsMessages("after", 5)); err != nil {
		t.Errorf("PublishAll after a missing queue: %v", err)
	}
	if got, err := p.QueueDepth(ctx, q); err != nil || got != 5 {
		t.Errorf("QueueDepth(%s) = %d, %v; want 5", q, got, err)
	}
}

func TestNackedPublication(t *testing.T) {
	t.Parallel()
	b, q, p := setup(t, amqp.Options{})
	// A queue that refuses publications beyond 5 messages makes the broker
	// nack them.
	conn, err := amqp091.Dial(b.URL)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatalf("channel: %v", err)
	}
	full := q + "_full"
	if _, err := ch.QueueDeclare(full, false, true, false, false,
		amqp091.Table{"x-max-length": int32(5), "x-overflow": "reject-publish"}); err != nil {
		t.Fatalf("declare %s: %v", full, err)
	}
	if err := ch.QueueBind(full, statsKey, q+"_x", false, nil); err != nil {
		t.Fatalf("bind %s: %v", full, err)
	}

	err = p.PublishAll(t.Context(), statsMessages("n", 20))
	if err == nil || !strings.Contains(err.Error(), "nacked message") {
		t.Errorf("PublishAll = %v, want a nack error", err)
	}
	if st := p.Stats(); st.Nacked == 0 || st.Confirmed+st.Nacked > st.Published {
		t.Errorf("Stats = %+v, want some nacked", st)
	}
	// The publisher stays usable.
	b.Purge(t, full)
	if err := p.PublishAll(t.Context(), statsMessages("ok", 3)); err != nil {
		t.Errorf("PublishAll after a nack: %v", err)
	}
}

func TestCredentialsNeverShown(t *testing.T) {
	t.Parallel()
	b := rabbittest.Shared(t)
	good := b.URL // amqp://guest:guest@127.0.0.1:PORT/
	const secret = "Wr0ng-s3cret"
	wrong := strings.Replace(good, "guest:guest@", "guest:"+secret+"@", 1)
	if wrong == good {
		t.Fatalf("cannot make a wrong-password URL from %s", good)
	}
	tests := []struct {
		name, url string
	}{
		{"wrong password", wrong},
		{"refused port", "amqp://guest:" + secret + "@127.0.0.1:1/"},
		{"unparsable URL", "amqp://guest:" + secret + "@127.0.0.1:port/"},
		{"percent-encoded password", strings.Replace(good, "guest:guest@", "guest:"+secret+"%40x@", 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := amqp.New(amqp.Options{URL: tt.url, Exchange: testenv.UniqueName(t)})
			defer p.Close()
			_, depthErr := p.QueueDepth(t.Context(), "q")
			for _, err := range []error{p.PublishAll(t.Context(), statsMessages("c", 1)), depthErr} {
				if err == nil {
					t.Fatalf("no error with %s", tt.name)
				}
				if msg := err.Error(); strings.Contains(msg, secret) {
					t.Errorf("error shows the password: %s", msg)
				}
			}
			t.Logf("error: %v", depthErr)
		})
	}
}

// TestExistingExchangeUsedAsIs publishes to an existing topic exchange
// with a publisher told "direct": the exchange is only checked (passively),
// never declared again, so its type does not matter, as with the seed.
func TestExistingExchangeUsedAsIs(t *testing.T) {
	t.Parallel()
	b := rabbittest.Shared(t)
	q := testenv.UniqueName(t)
	b.DeclareQueue(t, q, q+"_x", statsKey) // a topic exchange
	p := amqp.New(amqp.Options{URL: b.URL, Exchange: q + "_x", ExchangeType: "direct"})
	defer p.Close()
	if err := p.PublishAll(t.Context(), statsMessages("d", 3)); err != nil {
		t.Errorf("PublishAll to an existing topic exchange, told direct: %v", err)
	}
	if got, err := p.QueueDepth(t.Context(), q); err != nil || got != 3 {
		t.Errorf("QueueDepth(%s) = %d, %v; want 3", q, got, err)
	}
}

func TestCanceledAndClosed(t *testing.T) {
	t.Parallel()
	_, _, p := setup(t, amqp.Options{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := p.PublishAll(ctx, statsMessages("x", 10)); !errors.Is(err, context.Canceled) {
		t.Errorf("PublishAll with a canceled context = %v, want context.Canceled", err)
	}
	if err := p.PublishAll(t.Context(), nil); err != nil {
		t.Errorf("PublishAll of nothing = %v", err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := p.PublishAll(t.Context(), statsMessages("x", 1)); !errors.Is(err, amqp.ErrClosed) {
		t.Errorf("PublishAll after Close = %v, want ErrClosed", err)
	}
	if _, err := p.QueueDepth(t.Context(), "q"); !errors.Is(err, amqp.ErrClosed) {
		t.Errorf("QueueDepth after Close = %v, want ErrClosed", err)
	}
}
