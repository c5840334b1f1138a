package amqp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"
)

// Defaults of Options.
const (
	DefaultExchangeType   = "topic"
	DefaultMaxInFlight    = 1000
	DefaultChannels       = 1
	DefaultConnectTimeout = 10 * time.Second
)

// maxIdleChannels bounds the confirm-mode channels kept open between calls.
const maxIdleChannels = 16

// ErrClosed is returned by calls made after Close.
var ErrClosed = errors.New("amqp: publisher closed")

// Options configure a Publisher.
type Options struct {
	// URL is the broker's amqp:// or amqps:// URL. It is a secret: its
	// password never appears in errors or logs.
	URL string
	// Exchange is where messages are published; it is declared durable on
	// every connect. "" is the default exchange, which is not declared.
	Exchange string
	// ExchangeType is the type Exchange is declared with; default "topic".
	// A broker holding the exchange with another type refuses the connect.
	ExchangeType string
	// TLS configures amqps:// connections; nil uses the system roots.
	TLS *tls.Config
	// Logger receives connects, reconnects and losses; nil discards.
	Logger *slog.Logger
	// MaxInFlight bounds the unconfirmed messages of each channel; default
	// 1000.
	MaxInFlight int
	// Channels is how many channels one PublishAll spreads a large batch
	// over, in parallel; default 1, which keeps the batch's order. With
	// more, order holds only within each contiguous share of the batch.
	Channels int
	// ConnectTimeout bounds a connect (TCP, TLS and AMQP handshakes) when
	// ctx has no earlier deadline; default 10 s.
	ConnectTimeout time.Duration
	// AllowUnroutable publishes without the mandatory flag, as the seed
	// did: a message that no queue is bound to receive is dropped by the
	// broker and still acknowledged, and PublishAll cannot tell. Without
	// it (the default) publications are mandatory, and PublishAll reports
	// the messages the broker returned with an *UnroutableError.
	AllowUnroutable bool
}

// Stats are a Publisher's counters since New.
type Stats struct {
	// Published counts basic.publish frames sent, re-publications included.
	Published uint64
	// Confirmed counts messages the broker acknowledged and routed to at
	// least one queue (with AllowUnroutable: every acknowledged message).
	Confirmed uint64
	// Returned counts messages the broker acknowledged but returned as
	// unroutable: no queue was bound to receive them.
	Returned uint64
	// Nacked counts messages the broker negatively acknowledged.
	Nacked uint64
	// Reconnects counts connects after the first.
	Reconnects uint64
}

// Publisher publishes batches to one RabbitMQ broker with publisher
// confirms. It connects lazily and is safe for concurrent use; each
// PublishAll runs on channels of its own over the shared connection.
type Publisher struct {
	opts   Options
	log    *slog.Logger
	redact redactor
	urlErr error

	mu     sync.Mutex
	conn   *connection
	idle   []*lane
	closed bool
	dialed bool

	published, confirmed, returned, nacked, reconnects atomic.Uint64
}

// connection is one AMQP connection and whether the broker has blocked it
// (a resource alarm: it stops reading what publishers send).
type connection struct {
	*amqp091.Connection
	blocked atomic.Bool
}

// New returns a Publisher for opts. It does not connect: the first call that
// needs the broker does. A URL that does not parse makes every call fail.
func New(opts Options) *Publisher {
	if opts.ExchangeType == "" {
		opts.ExchangeType = DefaultExchangeType
	}
	if opts.MaxInFlight <= 0 {
		opts.MaxInFlight = DefaultMaxInFlight
	}
	if opts.Channels <= 0 {
		opts.Channels = DefaultChannels
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = DefaultConnectTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	p := &Publisher{opts: opts}
	p.redact, p.urlErr = newRedactor(opts.URL)
	p.log = opts.Logger.With("broker", p.redact.shown, "exchange", opts.Exchange)
	return p
}

// Stats returns the publisher's counters.
func (p *Publisher) Stats() Stats {
	return Stats{Published: p.published.Load(), Confirmed: p.confirmed.Load(), Returned: p.returned.Load(),
		Nacked: p.nacked.Load(), Reconnects: p.reconnects.Load()}
}

// Close closes the connection; calls in progress fail, later calls return
// ErrClosed. Closing twice is a no-op.
func (p *Publisher) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	p.idle = nil
	if p.conn == nil || p.conn.IsClosed() {
		return nil
	}
	// A blocked broker reads nothing: do not wait for its close-ok forever.
	err := p.conn.CloseDeadline(time.Now().Add(p.opts.ConnectTimeout))
	if err != nil && !errors.Is(err, amqp091.ErrClosed) {
		return p.errorf("close: %w", err)
	}
	return nil
}

// errorf formats an error prefixed with the package and the redacted URL,
// with no secret in its message.
func (p *Publisher) errorf(format string, args ...any) error {
	return p.redact.error(fmt.Errorf("amqp: %s: "+format, append([]any{p.redact.shown}, args...)...))
}

// connect returns the live connection, dialing when there is none or it was
// lost. p.mu must be held. Callers that wait for the lock are not governed
// by their ctx while another dials; a dial is bounded by ConnectTimeout.
func (p *Publisher) connect(ctx context.Context) (*connection, error) {
	if p.closed {
		return nil, ErrClosed
	}
	if p.urlErr != nil {
		return nil, p.urlErr
	}
	if p.conn != nil && !p.conn.IsClosed() {
		return p.conn, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, p.errorf("connect: %w", err)
	}
	p.idle = nil // channels of the lost connection
	deadline := time.Now().Add(p.opts.ConnectTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	cfg := amqp091.Config{
		Dial: func(network, addr string) (net.Conn, error) {
			d := net.Dialer{Deadline: deadline}
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			// Bounds the TLS and AMQP handshakes; amqp091 clears it once open.
			if err := c.SetDeadline(deadline); err != nil {
				c.Close()
				return nil, err
			}
			return c, nil
		},
		Properties: amqp091.NewConnectionProperties(),
	}
	cfg.Properties["connection_name"] = "wirekeeper collector" // shown in the management UI
	if p.opts.TLS != nil {
		cfg.TLSClientConfig = p.opts.TLS.Clone() // DialConfig sets ServerName in it
	}
	c, err := amqp091.DialConfig(p.opts.URL, cfg)
	if err != nil {
		return nil, p.errorf("connect: %w", err)
	}
	conn := &connection{Connection: c}
	go watchBlocked(conn, c.NotifyBlocked(make(chan amqp091.Blocking, 1)))
	if err := p.declareExchange(conn); err != nil {
		_ = c.Close()
		return nil, err
	}
	p.conn = conn
	if p.dialed {
		p.reconnects.Add(1)
		p.log.Info("amqp: reconnected")
	} else {
		p.log.Info("amqp: connected")
	}
	p.dialed = true
	go p.watchClose(c, c.NotifyClose(make(chan *amqp091.Error, 1)))
	return conn, nil
}

// declareExchange declares the durable exchange on a channel of its own: a
// refused declare closes the channel it ran on.
func (p *Publisher) declareExchange(c *connection) error {
	if p.opts.Exchange == "" {
		return nil
	}
	ch, err := c.Channel()
	if err != nil {
		return p.errorf("open channel: %w", err)
	}
	if err := ch.ExchangeDeclare(p.opts.Exchange, p.opts.ExchangeType, true, false, false, false, nil); err != nil {
		return p.errorf("declare exchange %q (type %s, durable): %w", p.opts.Exchange, p.opts.ExchangeType, err)
	}
	_ = ch.Close()
	return nil
}

func watchBlocked(c *connection, blocks <-chan amqp091.Blocking) {
	for b := range blocks {
		c.blocked.Store(b.Active)
	}
}

// watchClose logs a lost connection; the next call reconnects.
func (p *Publisher) watchClose(c *amqp091.Connection, closes <-chan *amqp091.Error) {
	if e, ok := <-closes; ok && e != nil {
		p.log.Warn("amqp: connection lost; the next call reconnects", "error", p.redact.scrub(e.Error()))
	}
}

// unblockOnCancel arms, for one call, what ctx cannot do by itself: a
// publish stuck writing to a broker that stopped reading (a blocked
// connection) returns only once the connection is torn down. It returns the
// function that disarms it.
func (p *Publisher) unblockOnCancel(ctx context.Context, c *connection) (stop func() bool) {
	return context.AfterFunc(ctx, func() {
		if c.blocked.Load() {
			p.log.Warn("amqp: closing the connection the broker blocked, as a call was canceled")
			_ = c.CloseDeadline(time.Now().Add(100 * time.Millisecond))
		}
	})
}
