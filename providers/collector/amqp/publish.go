package amqp

import (
	"context"
	"fmt"
	"sync"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"
)

// Message is one publication.
type Message struct {
	// RoutingKey routes the message in the exchange.
	RoutingKey string
	// Body is sent as is, with content_type text/plain.
	Body []byte
	// MessageID is the message_id property consumers deduplicate on; it
	// should identify the content, so that a re-publication carries the
	// same one.
	MessageID string
	// Timestamp, when not zero, is sent as the timestamp property.
	Timestamp time.Time
}

// minShare is the smallest part of a batch given a channel of its own:
// below it, another channel costs more than it brings.
const minShare = 512

// PublishAll publishes msgs (content_type text/plain, delivery_mode 2
// persistent, message_id, no headers, mandatory unless
// Options.AllowUnroutable) and returns nil only once the broker has
// acknowledged every one of them and returned none. When every message was
// acknowledged but some were returned as unroutable (no queue bound for
// their routing key), the error is an *UnroutableError naming exactly
// those: every other message was delivered. A nack, a channel or
// connection closed before every confirm arrived, or ctx ending, is any
// other error, after which any part of the batch may or may not have been
// delivered: the caller publishes the whole batch again (at-least-once;
// consumers drop duplicates by message_id). Publishing is pipelined with up
// to Options.MaxInFlight unconfirmed messages per channel; a batch of at
// least 1,024 messages is spread over up to Options.Channels channels (512
// messages each at least). A lost connection is dialed again once per call.
func (p *Publisher) PublishAll(ctx context.Context, msgs []Message) error {
	if len(msgs) == 0 {
		return nil
	}
	shares := split(msgs, p.opts.Channels)
	conn, lanes, err := p.lanes(ctx, len(shares))
	if err != nil {
		return err
	}
	defer p.unblockOnCancel(ctx, conn)()
	if len(lanes) == 1 {
		returned, err := p.publishLane(ctx, lanes[0], shares[0])
		p.release(lanes[0], err == nil)
		if err != nil {
			return err
		}
		return p.unroutable(msgs, returned)
	}

	// The caller re-publishes everything after any failure, so the first
	// one stops the other lanes.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
		returned = make([][]int, len(lanes))
	)
	for i, l := range lanes {
		wg.Go(func() {
			r, err := p.publishLane(ctx, l, shares[i])
			p.release(l, err == nil)
			if err != nil {
				once.Do(func() { firstErr = err; cancel() })
			}
			returned[i] = r
		})
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	// The shares are contiguous: a share's indexes move by the lengths of
	// the shares before it.
	var all []int
	offset := 0
	for i, r := range returned {
		for _, j := range r {
			all = append(all, offset+j)
		}
		offset += len(shares[i])
	}
	return p.unroutable(msgs, all)
}

// split cuts msgs into at most n contiguous shares of at least minShare
// messages each.
func split(msgs []Message, n int) [][]Message {
	n = min(n, len(msgs)/minShare)
	if n <= 1 {
		return [][]Message{msgs}
	}
	shares := make([][]Message, 0, n)
	size := (len(msgs) + n - 1) / n
	for start := 0; start < len(msgs); start += size {
		shares = append(shares, msgs[start:min(start+size, len(msgs))])
	}
	return shares
}

// lane is a channel in confirm mode, where its closing is announced, and
// where the broker's returns of its unroutable messages arrive.
type lane struct {
	conn    *connection
	ch      *amqp091.Channel
	closes  chan *amqp091.Error
	returns *returnWatch
}

// lanes returns n confirm-mode channels on the live connection, idle ones
// first.
func (p *Publisher) lanes(ctx context.Context, n int) (*connection, []*lane, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	conn, err := p.connect(ctx)
	if err != nil {
		return nil, nil, err
	}
	lanes := make([]*lane, 0, n)
	for len(lanes) < n && len(p.idle) > 0 {
		l := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		if l.conn == conn && !l.ch.IsClosed() {
			lanes = append(lanes, l)
		}
	}
	for len(lanes) < n {
		l, err := openLane(conn)
		if err != nil {
			for _, l := range lanes {
				go l.ch.Close()
			}
			return nil, nil, p.fail("open a confirm-mode channel", err)
		}
		lanes = append(lanes, l)
	}
	return conn, lanes, nil
}

func openLane(conn *connection) (*lane, error) {
	ch, err := conn.Channel()
	if err != nil {
		return nil, err
	}
	if err := ch.Confirm(false); err != nil {
		go ch.Close()
		return nil, err
	}
	return &lane{conn: conn, ch: ch, closes: ch.NotifyClose(make(chan *amqp091.Error, 1)), returns: watchReturns(ch)}, nil
}

// release keeps a lane whose every publication was confirmed for the next
// call, and closes any other: its confirms are unsettled or it is broken.
func (p *Publisher) release(l *lane, settled bool) {
	p.mu.Lock()
	keep := settled && !p.closed && l.conn == p.conn && !l.ch.IsClosed() && len(p.idle) < maxIdleChannels
	if keep {
		p.idle = append(p.idle, l)
	}
	p.mu.Unlock()
	if !keep && !l.ch.IsClosed() {
		// Closing waits for the broker's close-ok; the caller need not.
		go l.ch.Close()
	}
}

// pending is a publication awaiting its confirm: its confirmation and its
// index in the lane's share.
type pending struct {
	dc *amqp091.DeferredConfirmation
	i  int
}

// publishLane publishes msgs on l, keeping at most MaxInFlight unconfirmed,
// and returns once all are confirmed or one is not. It returns the indexes
// in msgs of the messages the broker returned, ascending.
func (p *Publisher) publishLane(ctx context.Context, l *lane, msgs []Message) ([]int, error) {
	// A ring of the unconfirmed, oldest first. The broker confirms in
	// order, usually many at once, so waiting on the oldest is enough.
	ring := make([]pending, min(p.opts.MaxInFlight, len(msgs)))
	head, n := 0, 0
	rt := returnTracker{msgs: msgs, covered: -1}
	// doneThrough returns the last index up to which, from the oldest
	// unconfirmed on, every confirm has arrived: after one call to
	// received, the returns of all of them are known.
	doneThrough := func() int {
		last := -1
		for k := range n {
			pd := ring[(head+k)%len(ring)]
			select {
			case <-pd.dc.Done():
				last = pd.i
			default:
				return last
			}
		}
		return last
	}
	mandatory := !p.opts.AllowUnroutable
	for i := range msgs {
		m := &msgs[i]
		if n == len(ring) {
			if err := p.settle(ctx, l, &rt, ring[head], doneThrough); err != nil {
				return nil, err
			}
			ring[head] = pending{}
			head, n = (head+1)%len(ring), n-1
		}
		dc, err := l.ch.PublishWithDeferredConfirmWithContext(ctx, p.opts.Exchange, m.RoutingKey, mandatory, false,
			amqp091.Publishing{ContentType: "text/plain", DeliveryMode: amqp091.Persistent,
				MessageId: m.MessageID, Timestamp: m.Timestamp, Body: m.Body})
		if err != nil {
			return nil, p.fail(fmt.Sprintf("publish message %q", m.MessageID), closeReason(l, err))
		}
		p.published.Add(1)
		rt.published = i + 1
		ring[(head+n)%len(ring)] = pending{dc: dc, i: i}
		n++
	}
	for ; n > 0; n-- {
		if err := p.settle(ctx, l, &rt, ring[head], doneThrough); err != nil {
			return nil, err
		}
		head = (head + 1) % len(ring)
	}
	return rt.returned, nil
}

// settle waits for pd's confirm, the oldest unconfirmed, and returns an
// error unless it is an ack. Unless already known, it then takes the
// returns received, which include pd's own if the broker returned it (the
// broker sends a return before the confirm), and those of every message
// doneThrough says is confirmed too, so that a batch of confirms costs one
// hand-over.
func (p *Publisher) settle(ctx context.Context, l *lane, rt *returnTracker, pd pending, doneThrough func() int) error {
	id := rt.msgs[pd.i].MessageID
	select {
	case <-pd.dc.Done():
	case <-ctx.Done():
		return p.fail(fmt.Sprintf("waiting for the confirm of message %q", id), ctx.Err())
	}
	if pd.i > rt.covered {
		rt.covered = doneThrough() // before received: those confirms came first
		if err := rt.take(l.returns.received()); err != nil {
			return fmt.Errorf("amqp: %w", err) // our own words, about message ids
		}
	}
	if pd.dc.Acked() {
		if rt.wasReturned(pd.i) {
			p.returned.Add(1)
		} else {
			p.confirmed.Add(1)
		}
		return nil
	}
	// A channel that closes settles its pending confirms as nacks.
	if l.ch.IsClosed() {
		return p.fail(fmt.Sprintf("channel closed before message %q was confirmed", id), closeReason(l, nil))
	}
	p.nacked.Add(1)
	return p.fail(fmt.Sprintf("the broker nacked message %q", id), nil)
}

// closeReason returns why l's channel closed, when known (the broker's
// code says more than the error of the call that found it closed), and
// otherwise err.
func closeReason(l *lane, err error) error {
	select {
	case e, ok := <-l.closes:
		if ok && e != nil {
			return e
		}
	default:
	}
	return err
}
