package amqp_test

import (
	"errors"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/wirekeeper/wirekeeper/internal/rabbittest"
	"github.com/wirekeeper/wirekeeper/internal/testenv"
	"github.com/wirekeeper/wirekeeper/providers/collector/amqp"
)

// BenchmarkPublishConfirmed measures messages published and confirmed per
// second (the msg/s metric): 100,000 stats messages of about 150 bytes per
// operation, persistent, with confirms, on the shared broker. The issue's
// target is 20,000 msg/s.
//
// The broker confirms a persistent message once the queues it is routed to
// have written it, so the queue decides the pace, and the queue belongs to
// whoever consumes (the publisher only declares the exchange). Hence one
// case per kind of durable queue, "unrouted" (no queue bound and
// AllowUnroutable: the broker confirms at once) for the ceiling of the
// publisher and the connection, and "returned" (no queue bound, mandatory:
// every message comes back before its confirm) for the cost of telling
// which messages were not delivered. Channels > 1 splits each PublishAll
// over parallel channels.
func BenchmarkPublishConfirmed(b *testing.B) {
	const n = 100000
	cases := []struct {
		name     string
		queue    bool
		args     amqp091.Table
		channels int
		// returned: no queue and mandatory, so every message is returned.
		returned bool
	}{
		{name: "classic", queue: true, channels: 1},
		{name: "classic_channels=4", queue: true, channels: 4},
		{name: "lazy", queue: true, args: amqp091.Table{"x-queue-mode": "lazy"}, channels: 1},
		{name: "quorum", queue: true, args: amqp091.Table{"x-queue-type": "quorum"}, channels: 1},
		{name: "unrouted", channels: 1},
		{name: "returned", channels: 1, returned: true},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			br := rabbittest.Shared(b)
			q := testenv.UniqueName(b)
			if bc.queue {
				br.DeclareQueueArgs(b, q, q+"_x", statsKey, bc.args)
			}
			p := amqp.New(amqp.Options{URL: br.URL, Exchange: q + "_x", Channels: bc.channels,
				AllowUnroutable: !bc.queue && !bc.returned})
			publish := func(msgs []amqp.Message) {
				err := p.PublishAll(b.Context(), msgs)
				var ue *amqp.UnroutableError
				if bc.returned && errors.As(err, &ue) && len(ue.Returned) == len(msgs) {
					return
				}
				if err != nil || bc.returned {
					b.Fatalf("PublishAll = %v, want every message %s", err, map[bool]string{true: "returned", false: "confirmed"}[bc.returned])
				}
			}
			defer p.Close()
			msgs := statsMessages("bench", n)
			size := 0
			for _, m := range msgs {
				size += len(m.Body)
			}
			// Connect and open the channels outside the measurement.
			publish(msgs[:1])
			if bc.queue {
				br.Purge(b, q)
			}

			var spent time.Duration
			b.ResetTimer()
			for range b.N {
				began := time.Now()
				publish(msgs)
				spent += time.Since(began)
				if !bc.queue {
					continue
				}
				b.StopTimer()
				if depth, err := p.QueueDepth(b.Context(), q); err != nil || depth != n {
					b.Fatalf("QueueDepth = %d, %v; want %d", depth, err, n)
				}
				br.Purge(b, q)
				b.StartTimer()
			}
			b.ReportMetric(float64(n*b.N)/spent.Seconds(), "msg/s")
			b.ReportMetric(float64(size)/n, "B/msg")
		})
	}
}
