package amqp

import (
	"fmt"
	"slices"
	"strings"

	amqp091 "github.com/rabbitmq/amqp091-go"
)

// UnroutableError is PublishAll's error when the broker acknowledged every
// message of the batch but returned some as unroutable: no queue was bound
// to the exchange for their routing key, so nobody received them. Every
// message not listed in Returned was delivered.
type UnroutableError struct {
	// Exchange is the exchange the batch was published to.
	Exchange string
	// RoutingKeys are the distinct routing keys of the returned messages,
	// sorted.
	RoutingKeys []string
	// Returned are the indexes in the batch of the returned messages,
	// ascending.
	Returned []int
	// Total is the number of messages in the batch.
	Total int
}

// Error says which routes are missing and how many messages were returned;
// it holds nothing of the broker's URL.
func (e *UnroutableError) Error() string {
	return fmt.Sprintf("amqp: %s (%d of %d messages returned)", UnroutableReason(e.Exchange, e.RoutingKeys), len(e.Returned), e.Total)
}

// UnroutableReason says that no queue is bound to exchange for each of
// keys: "no queue bound to exchange X for routing key Y", joined by "; ".
func UnroutableReason(exchange string, keys []string) string {
	if exchange == "" {
		exchange = `""` // the default exchange
	}
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("no queue bound to exchange %s for routing key %s", exchange, k)
	}
	return strings.Join(parts, "; ")
}

// unroutable returns the *UnroutableError of a batch whose messages at the
// indexes returned were returned, or nil when there are none.
func (p *Publisher) unroutable(msgs []Message, returned []int) error {
	if len(returned) == 0 {
		return nil
	}
	var keys []string
	for _, i := range returned {
		keys = append(keys, msgs[i].RoutingKey)
	}
	slices.Sort(keys)
	return &UnroutableError{Exchange: p.opts.Exchange, RoutingKeys: slices.Compact(keys), Returned: returned, Total: len(msgs)}
}

// returnBuffer is the room for returns between the broker's connection
// reader and a lane's returnWatch, which keeps receiving them.
const returnBuffer = 64

// returnWatch receives the returns of one channel on a goroutine of its
// own. amqp091 gives up delivering a return that finds no room within a few
// seconds, and a lost return would count an undelivered message as
// delivered; so the returns are taken as they come, whatever the publisher
// is doing, and handed over by received.
type returnWatch struct {
	in    chan amqp091.Return
	fence chan struct{}
	reply chan []amqp091.Return
	done  chan struct{}
	// got are the returns received and not yet handed over; once done is
	// closed, read by received only.
	got []amqp091.Return
}

// watchReturns starts the returnWatch of ch; it ends when ch closes.
func watchReturns(ch *amqp091.Channel) *returnWatch {
	w := &returnWatch{in: ch.NotifyReturn(make(chan amqp091.Return, returnBuffer)), fence: make(chan struct{}),
		reply: make(chan []amqp091.Return, 1), done: make(chan struct{})}
	go w.run()
	return w
}

func (w *returnWatch) run() {
	defer close(w.done)
	for {
		select {
		case r, ok := <-w.in:
			if !ok {
				return // the channel closed: received hands over w.got
			}
			w.got = append(w.got, r)
		case <-w.fence:
			open := w.take()
			w.reply <- w.got
			w.got = nil
			if !open {
				return
			}
		}
	}
}

// take moves what waits in w.in to w.got, and reports whether w.in is
// still open.
func (w *returnWatch) take() bool {
	for {
		select {
		case r, ok := <-w.in:
			if !ok {
				return false
			}
			w.got = append(w.got, r)
		default:
			return true
		}
	}
}

// received returns, in the order they came, the returns received since the
// last call. It includes every return amqp091 delivered before the call:
// amqp091 delivers a message's return before it processes the message's
// confirm, so once a confirm is seen, received holds its return, if any.
// One caller at a time.
func (w *returnWatch) received() []amqp091.Return {
	select {
	case w.fence <- struct{}{}:
		return <-w.reply
	case <-w.done:
		got := w.got
		w.got = nil
		return got
	}
}

// returnTracker tells which messages of one lane's share the broker
// returned. A return carries no delivery tag, only the message's
// properties, so it is matched by message_id and routing key. The broker
// handles a channel's publications in order, so returns come in the order
// the messages were published: each is the first message at or after the
// previous match with its id and key. Messages sharing both are told apart
// by that order only.
type returnTracker struct {
	msgs []Message
	// published is how many of msgs have been sent.
	published int
	// next is where the next return's message is looked for.
	next int
	// covered is the last index whose return, if any, has been matched.
	covered int
	// returned are the indexes matched, ascending; checked is how far
	// wasReturned has looked through them.
	returned []int
	checked  int
}

// take matches returns. A return that matches no message is an error: what
// was delivered can no longer be told.
func (rt *returnTracker) take(returns []amqp091.Return) error {
	for _, r := range returns {
		if err := rt.match(r); err != nil {
			return err
		}
	}
	return nil
}

func (rt *returnTracker) match(r amqp091.Return) error {
	for j := rt.next; j < rt.published; j++ {
		if m := &rt.msgs[j]; m.MessageID == r.MessageId && m.RoutingKey == r.RoutingKey {
			rt.returned = append(rt.returned, j)
			rt.next = j + 1
			return nil
		}
	}
	return fmt.Errorf("the broker returned message %q (routing key %s: %d %s), which matches no message published after the last one returned",
		r.MessageId, r.RoutingKey, r.ReplyCode, r.ReplyText)
}

// wasReturned reports whether message i was returned; calls must come with
// i ascending, each after its confirm's returns were taken.
func (rt *returnTracker) wasReturned(i int) bool {
	for rt.checked < len(rt.returned) && rt.returned[rt.checked] < i {
		rt.checked++
	}
	return rt.checked < len(rt.returned) && rt.returned[rt.checked] == i
}
