package amqp

import (
	"context"
	"errors"
	"fmt"

	amqp091 "github.com/rabbitmq/amqp091-go"
)

// QueueDepth returns how many messages queue holds that are ready for
// delivery (unacknowledged deliveries not included), by a passive declare
// on a channel of its own, since a failed passive declare closes its
// channel. A queue that does not exist is an error naming it.
func (p *Publisher) QueueDepth(ctx context.Context, queue string) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, p.fail(fmt.Sprintf("queue %q", queue), err)
	}
	p.mu.Lock()
	conn, err := p.connect(ctx)
	p.mu.Unlock()
	if err != nil {
		return 0, err
	}
	defer p.unblockOnCancel(ctx, conn)()
	ch, err := conn.Channel()
	if err != nil {
		return 0, p.fail(fmt.Sprintf("queue %q: open a channel", queue), err)
	}
	q, err := ch.QueueDeclarePassive(queue, false, false, false, false, nil)
	if err != nil {
		var ae *amqp091.Error
		if errors.As(err, &ae) && ae.Code == amqp091.NotFound {
			return 0, p.fail(fmt.Sprintf("queue %q does not exist", queue), nil)
		}
		return 0, p.fail(fmt.Sprintf("queue %q: passive declare", queue), err)
	}
	go ch.Close()
	return q.Messages, nil
}
