package collector

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/wirekeeper/wirekeeper/providers/collector/amqp"
)

// statsMessage is the SAND-CI collector's stats body, field for field, in
// its order. In and Out are Netbeam's number text as received (nil: null).
type statsMessage struct {
	Name       string          `json:"name"`
	RecordType string          `json:"recordType"`
	Timestamp  int64           `json:"timestamp"`
	In         json.RawMessage `json:"in"`
	Out        json.RawMessage `json:"out"`
}

// encode writes m as JSON without escaping <, > and &, as Python's
// json.dumps (the seed's) does not.
func (m statsMessage) encode() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// interfaceMessage is the interface object exactly as Netbeam sent it, its
// keys in their order and every byte kept, with "timestamp" (ms) appended
// as the last key, as the SAND-CI collector publishes it. Should the object
// already hold "timestamp", its value is replaced where it stands, as the
// seed's dict assignment does.
func interfaceMessage(raw json.RawMessage, nowMS int64) ([]byte, error) {
	ts := strconv.FormatInt(nowMS, 10)
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("not a JSON object")
	}
	var (
		out      []byte
		copied   int // raw[:copied] is in out already
		replaced bool
		keys     int
	)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("not a JSON object: %w", err)
		}
		key, _ := tok.(string)
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil, fmt.Errorf("not a JSON object: %w", err)
		}
		keys++
		if key == "timestamp" {
			end := int(dec.InputOffset())
			start := end - len(value)
			out = append(append(out, raw[copied:start]...), ts...)
			copied, replaced = end, true
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	closing := int(dec.InputOffset()) - 1 // the object's '}'
	if replaced {
		return append(out, raw[copied:]...), nil
	}
	out = append(out, raw[:closing]...)
	if keys > 0 {
		out = append(out, ',')
	}
	out = append(out, `"timestamp":`...)
	out = append(out, ts...)
	return append(out, raw[closing:]...), nil
}

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
