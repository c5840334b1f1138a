package rabbittest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"
)

// dial connects to b for one helper call.
func (b *Broker) dial(t testing.TB) (*amqp091.Connection, *amqp091.Channel) {
	t.Helper()
	conn, err := amqp091.Dial(b.URL)
	if err != nil {
		t.Fatalf("rabbittest: connect to %s: %v", b.URL, err)
	}
	ch, err := conn.Channel()
	if err != nil {
		conn.Close()
		t.Fatalf("rabbittest: open channel: %v", err)
	}
	return conn, ch
}

// DeclareQueue declares a durable topic exchange, a durable queue and binds
// the queue to the exchange with routingKey. On the shared broker the queue
// is deleted when t ends (and the exchange too, unless still used).
func (b *Broker) DeclareQueue(t testing.TB, queue, exchange, routingKey string) {
	t.Helper()
	b.DeclareQueueArgs(t, queue, exchange, routingKey, nil)
}

// DeclareQueueArgs is DeclareQueue with queue arguments, such as
// {"x-queue-type": "quorum"} or {"x-queue-mode": "lazy"}.
func (b *Broker) DeclareQueueArgs(t testing.TB, queue, exchange, routingKey string, args amqp091.Table) {
	t.Helper()
	conn, ch := b.dial(t)
	defer conn.Close()
	if err := ch.ExchangeDeclare(exchange, "topic", true, false, false, false, nil); err != nil {
		t.Fatalf("rabbittest: declare exchange %q: %v", exchange, err)
	}
	if _, err := ch.QueueDeclare(queue, true, false, false, false, args); err != nil {
		t.Fatalf("rabbittest: declare queue %q: %v", queue, err)
	}
	if err := ch.QueueBind(queue, routingKey, exchange, false, nil); err != nil {
		t.Fatalf("rabbittest: bind queue %q to %q with %q: %v", queue, exchange, routingKey, err)
	}
	if b.shared {
		t.Cleanup(func() { b.deleteQueue(t, queue, exchange) })
	}
}

func (b *Broker) deleteQueue(t testing.TB, queue, exchange string) {
	conn, err := amqp091.Dial(b.URL)
	if err != nil {
		t.Errorf("rabbittest: delete queue %q: %v", queue, err)
		return
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err == nil {
		_, err = ch.QueueDelete(queue, false, false, false)
	}
	if err != nil {
		t.Errorf("rabbittest: delete queue %q: %v", queue, err)
		return
	}
	// A refusal (still bound elsewhere) closes the channel; that is fine.
	_ = ch.ExchangeDelete(exchange, true, false)
}

// Purge drops every ready message of queue.
func (b *Broker) Purge(t testing.TB, queue string) {
	t.Helper()
	conn, ch := b.dial(t)
	defer conn.Close()
	if _, err := ch.QueuePurge(queue, false); err != nil {
		t.Fatalf("rabbittest: purge queue %q: %v", queue, err)
	}
}

// GetAll takes every message ready in queue (basic.get, acknowledged), with
// all their properties.
func (b *Broker) GetAll(t testing.TB, queue string) []amqp091.Delivery {
	t.Helper()
	conn, ch := b.dial(t)
	defer conn.Close()
	var out []amqp091.Delivery
	for {
		d, ok, err := ch.Get(queue, true)
		if err != nil {
			t.Fatalf("rabbittest: get from %s: %v", queue, err)
		}
		if !ok {
			return out
		}
		out = append(out, d)
	}
}

// Delivery is what a Consumer recorded of one delivered message.
type Delivery struct {
	Body         []byte
	MessageID    string
	ContentType  string
	DeliveryMode uint8
	RoutingKey   string
	Redelivered  bool
}

// Consumer consumes one queue with manual acknowledgements and records
// every delivery, redeliveries included, acknowledging each once recorded.
// It reconnects whenever its connection is lost (a broker restart), until t
// ends.
type Consumer struct {
	url, queue string

	mu         sync.Mutex
	msgs       []Delivery
	conn       *amqp091.Connection
	sessions   int
	lastErr    error
	stopping   bool
	stop, done chan struct{}
}

// prefetch bounds the unacknowledged deliveries the broker sends ahead.
const prefetch = 1000

// Consume starts a Consumer of queue, which must exist; it returns once the
// first subscription is in place, and stops when t ends.
func (b *Broker) Consume(t testing.TB, queue string) *Consumer {
	t.Helper()
	c := &Consumer{url: b.URL, queue: queue, stop: make(chan struct{}), done: make(chan struct{})}
	first := make(chan error, 1)
	go c.run(first)
	if err := <-first; err != nil {
		close(c.stop)
		<-c.done
		t.Fatalf("rabbittest: consume %q: %v", queue, err)
	}
	t.Cleanup(c.close)
	return c
}

// Messages returns a copy of every delivery recorded so far, in order.
func (c *Consumer) Messages() []Delivery {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Delivery(nil), c.msgs...)
}

// Count returns how many deliveries were recorded so far.
func (c *Consumer) Count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.msgs)
}

// Sessions returns how many times the consumer subscribed: 1 plus the
// reconnects.
func (c *Consumer) Sessions() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sessions
}

// WaitCount waits until at least n deliveries were recorded, and fails t
// after timeout.
func (c *Consumer) WaitCount(t testing.TB, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := c.Count()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			c.mu.Lock()
			lastErr := c.lastErr
			c.mu.Unlock()
			t.Fatalf("rabbittest: queue %q: %d deliveries after %s, want %d (last consumer error: %v)",
				c.queue, got, timeout, n, lastErr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// run subscribes again and again until stop; first receives the outcome of
// the first subscription.
func (c *Consumer) run(first chan<- error) {
	defer close(c.done)
	for {
		err := c.session(first)
		first = nil
		c.mu.Lock()
		if err != nil {
			c.lastErr = err
		}
		c.mu.Unlock()
		select {
		case <-c.stop:
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// session connects, subscribes and records deliveries until the
// connection ends. It returns nil when they ended because the consumer is
// stopping, and why they ended otherwise: the broker's reason when it
// closed the channel or the connection.
func (c *Consumer) session(first chan<- error) error {
	deliveries, closed, err := c.subscribe()
	if first != nil {
		first <- err
	}
	if err != nil {
		return err
	}
	for d := range deliveries {
		c.mu.Lock()
		c.msgs = append(c.msgs, Delivery{Body: d.Body, MessageID: d.MessageId, ContentType: d.ContentType,
			DeliveryMode: d.DeliveryMode, RoutingKey: d.RoutingKey, Redelivered: d.Redelivered})
		c.mu.Unlock()
		if err := d.Ack(false); err != nil {
			return fmt.Errorf("ack: %w", err)
		}
	}
	c.mu.Lock()
	stopping := c.stopping
	c.mu.Unlock()
	if stopping {
		return nil
	}
	// The library sends the reason before it ends the deliveries, so it is
	// already there when the broker gave one.
	select {
	case reason := <-closed:
		if reason != nil {
			return fmt.Errorf("deliveries ended: %w", reason)
		}
	default:
	}
	return errors.New("deliveries ended")
}

// subscribe connects and starts consuming the queue; closed receives the
// broker's reason if it closes the channel or the connection.
func (c *Consumer) subscribe() (deliveries <-chan amqp091.Delivery, closed <-chan *amqp091.Error, err error) {
	conn, err := amqp091.Dial(c.url)
	if err != nil {
		return nil, nil, err
	}
	c.mu.Lock()
	if c.stopping {
		c.mu.Unlock()
		conn.Close()
		return nil, nil, errors.New("stopping")
	}
	c.conn = conn
	c.mu.Unlock()
	ch, err := conn.Channel()
	if err == nil {
		err = ch.Qos(prefetch, 0, false)
	}
	if err == nil {
		closed = ch.NotifyClose(make(chan *amqp091.Error, 1))
		deliveries, err = ch.Consume(c.queue, "", false, false, false, false, nil)
	}
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	c.mu.Lock()
	c.sessions++
	c.mu.Unlock()
	return deliveries, closed, nil
}

// close stops the consumer and waits for it.
func (c *Consumer) close() {
	c.mu.Lock()
	c.stopping = true
	conn := c.conn
	c.mu.Unlock()
	close(c.stop)
	if conn != nil {
		conn.Close()
	}
	<-c.done
}
