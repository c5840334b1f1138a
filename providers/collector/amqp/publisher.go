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

	"github.com/wirekeeper/wirekeeper/internal/secret"
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
	// Exchange is where messages are published. Every connect checks that
	// it exists (a passive declare, which needs no permission) and declares
	// it durable only when it is missing (which needs configure
	// permission). "" is the default exchange, which is not declared.
	Exchange string
	// ExchangeType is the type a missing Exchange is declared with; default
	// "topic". An existing exchange is used whatever its type.
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
	if _, err := amqp091.ParseURI(opts.URL); err != nil {
		// Its message quotes the URL.
		p.urlErr = secret.Failure(URLField, "does not parse", err, func(error) string {
			return "expected amqp://user:password@host:5672/vhost or amqps://..."
		})
	}
	// The broker is not named in the log: its host and virtual host are
	// part of the secret URL.
	p.log = opts.Logger.With("exchange", opts.Exchange)
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
		return p.fail("close", err)
	}
	return nil
}

// URLField is the spec field the broker's URL comes from: errors about the
// broker name it (and the kind of problem), never any part of the URL.
const URLField = "rabbitmq.url"

// fail is the error for what failing with err on the broker the URL names.
// The words come from secret.Failure, never from err's text: the broker's
// reasons quote the user and the virtual host, and dial errors the host.
func (p *Publisher) fail(what string, err error) error {
	return secret.Failure(URLField, what, err, classifyAMQP(false))
}

// failConnect is fail for connecting, where a refusal is of the
// credentials or the virtual host the URL names.
func (p *Publisher) failConnect(err error) error {
	return secret.Failure(URLField, "cannot connect to the broker it names", err, classifyAMQP(true))
}

// amqpCodes names the AMQP reply codes a broker closes with.
var amqpCodes = map[int]string{
	320: "CONNECTION_FORCED", 402: "INVALID_PATH", 403: "ACCESS_REFUSED", 404: "NOT_FOUND",
	405: "RESOURCE_LOCKED", 406: "PRECONDITION_FAILED", 501: "FRAME_ERROR", 502: "SYNTAX_ERROR",
	503: "COMMAND_INVALID", 504: "CHANNEL_ERROR", 505: "UNEXPECTED_FRAME", 506: "RESOURCE_ERROR",
	530: "NOT_ALLOWED", 540: "NOT_IMPLEMENTED", 541: "INTERNAL_ERROR",
}

// classifyAMQP names the AMQP problems by code, without the broker's reason
// text; connecting says whether err ended a connect.
func classifyAMQP(connecting bool) secret.Classifier {
	return func(err error) string {
		switch {
		case errors.Is(err, amqp091.ErrCredentials):
			return "the broker refused the credentials"
		case errors.Is(err, amqp091.ErrVhost):
			return "the broker refused the virtual host"
		case errors.Is(err, amqp091.ErrSASL):
			return "the broker offers no authentication mechanism this client has"
		case errors.Is(err, amqp091.ErrChannelMax):
			return "the broker's channel limit is reached"
		case errors.Is(err, amqp091.ErrClosed):
			return "the connection or channel is closed"
		}
		var ae *amqp091.Error
		if !errors.As(err, &ae) {
			return ""
		}
		code := fmt.Sprintf("AMQP %d %s", ae.Code, amqpCodes[ae.Code])
		switch {
		case connecting && ae.Code == amqp091.AccessRefused:
			return "the broker refused the credentials (" + code + ")"
		case connecting && ae.Code == amqp091.NotAllowed:
			return "the broker refused the virtual host (" + code + ")"
		case ae.Code == amqp091.AccessRefused:
			return "the user may not do this (" + code + ")"
		case ae.Code == amqp091.NotFound:
			return "not found (" + code + ")"
		case ae.Code == amqp091.PreconditionFailed:
			return "the broker holds it with other settings (" + code + ")"
		case ae.Code == amqp091.ConnectionForced:
			return "the broker closed the connection (" + code + ")"
		}
		return "the broker answered " + code
	}
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
		return nil, p.failConnect(err)
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
		return nil, p.failConnect(err)
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

// declareExchange makes sure the exchange exists, asking the broker for
// no more than it must. A passive declare needs no permission, so an
// account allowed only to write to the exchange (the SAND-CI collector's)
// publishes to one that exists; only a missing exchange is declared
// (durable, of ExchangeType), which needs configure permission. An
// existing exchange is used as it is, whatever its type, as the seed did.
// Each declare runs on a channel of its own: a refused one closes it.
func (p *Publisher) declareExchange(c *connection) error {
	if p.opts.Exchange == "" {
		return nil
	}
	ch, err := c.Channel()
	if err != nil {
		return p.fail("open a channel", err)
	}
	err = ch.ExchangeDeclarePassive(p.opts.Exchange, p.opts.ExchangeType, true, false, false, false, nil)
	if err == nil {
		_ = ch.Close()
		return nil
	}
	var ae *amqp091.Error
	if !errors.As(err, &ae) || ae.Code != amqp091.NotFound {
		return p.fail(fmt.Sprintf("check exchange %q", p.opts.Exchange), err)
	}
	if ch, err = c.Channel(); err != nil {
		return p.fail("open a channel", err)
	}
	if err := ch.ExchangeDeclare(p.opts.Exchange, p.opts.ExchangeType, true, false, false, false, nil); err != nil {
		return p.fail(fmt.Sprintf("exchange %q does not exist; declare it (type %s, durable)", p.opts.Exchange, p.opts.ExchangeType), err)
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
		p.log.Warn("amqp: connection lost; the next call reconnects", "error", p.fail("connection", e).Error())
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
