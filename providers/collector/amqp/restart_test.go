package amqp_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/wirekeeper/wirekeeper/internal/rabbittest"
	"github.com/wirekeeper/wirekeeper/providers/collector/amqp"
)

// TestPublishAllAcrossBrokerRestart restarts a private broker in the middle
// of a PublishAll of 50,000 messages and re-publishes the batch until
// PublishAll returns nil, as the collector does: every message id must then
// reach the (reconnecting) consumer at least once.
func TestPublishAllAcrossBrokerRestart(t *testing.T) {
	t.Parallel()
	const n = 50000
	b := rabbittest.Start(t)
	t.Logf("private broker started in %s", b.StartTime)
	b.DeclareQueue(t, "stats", "osg.esdata.raw", statsKey)
	c := b.Consume(t, "stats")
	p := amqp.New(amqp.Options{URL: b.URL, Exchange: "osg.esdata.raw", ExchangeType: "topic"})
	t.Cleanup(func() { p.Close() })
	msgs := statsMessages("r", n)

	done := make(chan error, 1)
	go func() { done <- p.PublishAll(t.Context(), msgs) }()
	for p.Stats().Confirmed < n/5 {
		select {
		case err := <-done:
			t.Fatalf("PublishAll ended (%v) before the broker could be restarted in its middle", err)
		case <-time.After(time.Millisecond):
		}
	}
	atStop := p.Stats()
	b.Stop(t)
	// Either outcome is allowed: nil only if every confirm arrived before
	// the broker closed the connection.
	err := <-done
	t.Logf("PublishAll during the restart (%d published, %d confirmed when the stop began): %v",
		atStop.Published, atStop.Confirmed, err)
	// While the broker is down a call fails at once, without the password.
	began := time.Now()
	if err := p.PublishAll(t.Context(), msgs); err == nil || strings.Contains(err.Error(), ":guest@") {
		t.Errorf("PublishAll with the broker down = %v, want an error without the password", err)
	} else if time.Since(began) > 5*time.Second {
		t.Errorf("PublishAll with the broker down took %s", time.Since(began))
	}
	b.Start(t)
	t.Logf("private broker restarted in %s", b.StartTime)

	attempts := 1
	for err = p.PublishAll(t.Context(), msgs); err != nil; err = p.PublishAll(t.Context(), msgs) {
		if attempts++; attempts > 20 {
			t.Fatalf("PublishAll still fails after %d attempts: %v", attempts, err)
		}
		t.Logf("re-publishing after: %v", err)
		time.Sleep(250 * time.Millisecond)
	}
	st := p.Stats()
	t.Logf("re-published in %d attempt(s); stats %+v", attempts, st)
	if st.Reconnects < 1 {
		t.Errorf("Stats.Reconnects = %d, want at least 1", st.Reconnects)
	}

	// Every id at least once; duplicates are allowed and counted.
	want := map[string]bool{}
	for _, m := range msgs {
		want[m.MessageID] = true
	}
	var seen map[string]int
	deadline := time.Now().Add(60 * time.Second)
	for {
		seen = map[string]int{}
		for _, d := range c.Messages() {
			seen[d.MessageID]++
		}
		if len(seen) >= n || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	missing, dups, unknown := 0, 0, 0
	for id, k := range seen {
		if !want[id] {
			unknown++
		}
		dups += k - 1
	}
	for id := range want {
		if seen[id] == 0 {
			if missing++; missing <= 3 {
				t.Errorf("message %q never delivered", id)
			}
		}
	}
	if missing > 0 || unknown > 0 {
		t.Errorf("%d of %d message ids never delivered, %d unknown ids", missing, n, unknown)
	}
	t.Logf("consumer: %d deliveries, %d distinct ids, %d duplicates, %d sessions",
		len(c.Messages()), len(seen), dups, c.Sessions())
	if c.Sessions() < 2 {
		t.Errorf("consumer sessions = %d, want a reconnect after the restart", c.Sessions())
	}
}

// TestPublishAllBlockedBroker raises a memory alarm, which makes the broker
// block publishing connections (it stops reading from them): PublishAll
// must still return when ctx ends, whether it waits for confirms (a small
// window) or is stuck writing (a window larger than the socket buffers),
// and work again once the alarm clears.
func TestPublishAllBlockedBroker(t *testing.T) {
	t.Parallel()
	b := rabbittest.Start(t)
	b.DeclareQueue(t, "stats", "x", statsKey)
	msgs := statsMessages("b", 50000)
	for _, maxInFlight := range []int{1000, len(msgs)} {
		p := amqp.New(amqp.Options{URL: b.URL, Exchange: "x", MaxInFlight: maxInFlight})
		if err := p.PublishAll(t.Context(), msgs[:10]); err != nil {
			t.Fatalf("PublishAll: %v", err)
		}
		b.Ctl(t, "set_vm_memory_high_watermark", "0")
		// began before the deadline is set, so that took >= 3 s whenever the
		// call returned because ctx ended.
		began := time.Now()
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
		err := p.PublishAll(ctx, msgs)
		took := time.Since(began)
		cancel()
		t.Logf("MaxInFlight %d: PublishAll on a blocked connection: %v after %s", maxInFlight, err, took)
		// A stuck call never returns; a loaded machine (make test's race
		// pass) may take seconds to tear the blocked connection down.
		if err == nil || took < 3*time.Second || took > 13*time.Second {
			t.Errorf("MaxInFlight %d: PublishAll on a blocked connection = %v after %s, want an error soon after ctx ends (3 s)",
				maxInFlight, err, took)
		}

		b.Ctl(t, "set_vm_memory_high_watermark", "0.4")
		deadline := time.Now().Add(30 * time.Second)
		for err = p.PublishAll(t.Context(), msgs); err != nil; err = p.PublishAll(t.Context(), msgs) {
			if time.Now().After(deadline) {
				t.Fatalf("MaxInFlight %d: PublishAll after the alarm cleared: %v", maxInFlight, err)
			}
			time.Sleep(250 * time.Millisecond)
		}
		t.Logf("MaxInFlight %d: after the alarm: %+v", maxInFlight, p.Stats())
		p.Close()
	}
}
