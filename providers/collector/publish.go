package collector

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wirekeeper/wirekeeper/providers/collector/amqp"
)

// publish sends msgs once the watched queues have room, and counts them.
// An *amqp.UnroutableError is returned as it is: every message but the
// returned ones was delivered.
func (t *target) publish(ctx context.Context, msgs []amqp.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	if err := t.waitForRoom(ctx, len(msgs)); err != nil {
		return err
	}
	t.update(func(st *Status) { st.Published += uint64(len(msgs)) })
	err := t.pub.PublishAll(ctx, msgs)
	var ue *amqp.UnroutableError
	switch {
	case errors.As(err, &ue):
		t.update(func(st *Status) {
			st.Confirmed += uint64(len(msgs) - len(ue.Returned))
			st.Returned += uint64(len(ue.Returned))
		})
		return err
	case err != nil:
		return err // names rabbitmq.url already
	}
	t.update(func(st *Status) { st.Confirmed += uint64(len(msgs)) })
	return nil
}

// waitForRoom reads the watched queues' depths (every DepthCheckEvery
// messages or second, as the seed reads them every 5,760 messages) and,
// while one holds more than maxQueueDepth, pauses and re-checks every
// PauseInterval.
func (t *target) waitForRoom(ctx context.Context, n int) error {
	queues := t.sp.RabbitMQ.WatchQueues
	if len(queues) == 0 {
		return nil
	}
	t.mu.Lock()
	t.sinceCheck += n
	due := t.sinceCheck >= t.opts.DepthCheckEvery || t.opts.Now().Sub(t.lastCheck) >= time.Second
	if due {
		t.sinceCheck, t.lastCheck = 0, t.opts.Now()
	}
	t.mu.Unlock()
	if !due {
		return nil
	}
	for {
		full, depth := "", 0
		for _, q := range queues {
			d, err := t.pub.QueueDepth(ctx, q)
			if err != nil {
				return fmt.Errorf("depth of watched queue %s: %w", q, err)
			}
			if d > t.sp.RabbitMQ.MaxQueueDepth {
				full, depth = q, d
				break
			}
		}
		if full == "" {
			t.update(func(st *Status) { st.Paused, st.PausedQueue, st.PausedDepth = false, "", 0 })
			return nil
		}
		t.log.Warn("backpressure: pausing publication", "queue", full, "depth", depth, "max", t.sp.RabbitMQ.MaxQueueDepth)
		t.update(func(st *Status) { st.Paused, st.PausedQueue, st.PausedDepth = true, full, depth })
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(t.opts.PauseInterval):
		}
	}
}
