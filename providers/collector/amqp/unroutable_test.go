package amqp_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/wirekeeper/wirekeeper/internal/rabbittest"
	"github.com/wirekeeper/wirekeeper/internal/testenv"
	"github.com/wirekeeper/wirekeeper/providers/collector/amqp"
)

// brokerCall runs f on a channel of a connection of its own to b.
func brokerCall(t *testing.T, b *rabbittest.Broker, f func(ch *amqp091.Channel) error) {
	t.Helper()
	conn, err := amqp091.Dial(b.URL)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatalf("channel: %v", err)
	}
	if err := f(ch); err != nil {
		t.Fatal(err)
	}
}

// TestNoQueueBound publishes to an exchange no queue is bound to: the
// broker returns every message, PublishAll says so with the route that is
// missing, and once a queue is bound the same publisher delivers.
func TestNoQueueBound(t *testing.T) {
	t.Parallel()
	b := rabbittest.Shared(t)
	name := testenv.UniqueName(t)
	exchange := name + "_x"
	t.Cleanup(func() {
		brokerCall(t, b, func(ch *amqp091.Channel) error { return ch.ExchangeDelete(exchange, false, false) })
	})
	p := amqp.New(amqp.Options{URL: b.URL, Exchange: exchange, MaxInFlight: 7})
	defer p.Close()

	msgs := statsMessages("lost", 50)
	err := p.PublishAll(t.Context(), msgs)
	var ue *amqp.UnroutableError
	if !errors.As(err, &ue) {
		t.Fatalf("PublishAll to an exchange without a queue = %v, want an *UnroutableError", err)
	}
	all := make([]int, len(msgs))
	for i := range all {
		all[i] = i
	}
	want := &amqp.UnroutableError{Exchange: exchange, RoutingKeys: []string{statsKey}, Returned: all, Total: 50}
	if diff := cmp.Diff(want, ue); diff != "" {
		t.Errorf("UnroutableError (-want +got):\n%s", diff)
	}
	if got, want := err.Error(), fmt.Sprintf("amqp: no queue bound to exchange %s for routing key %s (50 of 50 messages returned)", exchange, statsKey); got != want {
		t.Errorf("error = %q, want %q", got, want)
	}
	if diff := cmp.Diff(amqp.Stats{Published: 50, Returned: 50}, p.Stats()); diff != "" {
		t.Errorf("Stats (-want +got):\n%s", diff)
	}

	// An operator binds a queue: the same publisher (and channel) delivers.
	b.DeclareQueue(t, name, exchange, statsKey)
	c := b.Consume(t, name)
	again := statsMessages("found", 20)
	if err := p.PublishAll(t.Context(), again); err != nil {
		t.Fatalf("PublishAll once a queue is bound: %v", err)
	}
	c.WaitCount(t, len(again), 30*time.Second)
	checkDelivered(t, again, c.Messages())
	if diff := cmp.Diff(amqp.Stats{Published: 70, Confirmed: 20, Returned: 50}, p.Stats()); diff != "" {
		t.Errorf("Stats (-want +got):\n%s", diff)
	}
}

// TestPartlyUnroutable interleaves messages of a routing key a queue is
// bound to with messages of one no queue is bound to, in a batch on one
// channel with the default confirm window (far more returns outstanding
// than a return watch buffers) and one spread over four channels with a
// small window: the error names exactly the returned messages, and exactly
// the others arrive.
// Each unroutable message has the message_id of the routed one before it,
// so that only the routing key tells them apart.
func TestPartlyUnroutable(t *testing.T) {
	t.Parallel()
	const unbound = "esnet_nobody"
	for _, tc := range []struct{ channels, maxInFlight int }{{1, amqp.DefaultMaxInFlight}, {4, 64}} {
		t.Run(fmt.Sprintf("channels=%d,maxInFlight=%d", tc.channels, tc.maxInFlight), func(t *testing.T) {
			t.Parallel()
			b, q, p := setup(t, amqp.Options{Channels: tc.channels, MaxInFlight: tc.maxInFlight})
			c := b.Consume(t, q)
			msgs := statsMessages("p", 3000)
			var routed []amqp.Message
			var wantReturned []int
			for i := range msgs {
				if i%3 == 1 {
					msgs[i].RoutingKey, msgs[i].MessageID = unbound, msgs[i-1].MessageID
					wantReturned = append(wantReturned, i)
				} else {
					routed = append(routed, msgs[i])
				}
			}
			err := p.PublishAll(t.Context(), msgs)
			var ue *amqp.UnroutableError
			if !errors.As(err, &ue) {
				t.Fatalf("PublishAll = %v, want an *UnroutableError", err)
			}
			want := &amqp.UnroutableError{Exchange: q + "_x", RoutingKeys: []string{unbound}, Returned: wantReturned, Total: len(msgs)}
			if diff := cmp.Diff(want, ue); diff != "" {
				t.Errorf("UnroutableError (-want +got):\n%s", diff)
			}
			st := p.Stats()
			if diff := cmp.Diff(amqp.Stats{Published: 3000, Confirmed: uint64(len(routed)), Returned: uint64(len(wantReturned))}, st); diff != "" {
				t.Errorf("Stats (-want +got):\n%s", diff)
			}
			c.WaitCount(t, len(routed), 30*time.Second)
			time.Sleep(100 * time.Millisecond) // anything extra would show up by now
			checkDelivered(t, routed, c.Messages())
		})
	}
}

// TestAllowUnroutable publishes as the seed did (not mandatory): the
// broker drops what no queue receives and PublishAll cannot tell.
func TestAllowUnroutable(t *testing.T) {
	t.Parallel()
	b := rabbittest.Shared(t)
	exchange := testenv.UniqueName(t) + "_x"
	t.Cleanup(func() {
		brokerCall(t, b, func(ch *amqp091.Channel) error { return ch.ExchangeDelete(exchange, false, false) })
	})
	p := amqp.New(amqp.Options{URL: b.URL, Exchange: exchange, AllowUnroutable: true})
	defer p.Close()
	if err := p.PublishAll(t.Context(), statsMessages("dropped", 30)); err != nil {
		t.Fatalf("PublishAll with AllowUnroutable = %v, want nil", err)
	}
	if diff := cmp.Diff(amqp.Stats{Published: 30, Confirmed: 30}, p.Stats()); diff != "" {
		t.Errorf("Stats (-want +got):\n%s", diff)
	}
}
