package collector

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wirekeeper/wirekeeper/providers/collector/amqp"
	"github.com/wirekeeper/wirekeeper/providers/collector/inventory"
	"github.com/wirekeeper/wirekeeper/providers/collector/netbeam"
	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/spec"
)

// target is one running CollectorTarget: a loop that discovers, keeps the
// inventory, collects and publishes every interval, until stopped.
type target struct {
	name string
	sp   spec.CollectorTargetSpec
	nb   *netbeam.Client
	pub  *amqp.Publisher
	dsn  string
	// dbTLS is the inventory connection's TLS (nil: the DSN's own).
	dbTLS *tls.Config
	log   *slog.Logger
	opts  Options
	// changed tells the provider the target's status changed; passed
	// that a pass ended (the interface counts may have changed).
	changed, passed func()

	inv *inventory.Store // opened by the loop, retried like the rest

	mu sync.Mutex
	st Status
	// shown are the details last shown in the status, at shownAt.
	shown   []string
	shownAt time.Time
	// sinceCheck counts the messages published since the queue depths
	// were last read.
	sinceCheck int
	lastCheck  time.Time

	// kick wakes the loop for a pass now (Provider.Trigger).
	kick   chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
}

// Status is what a running collector reports.
type Status struct {
	// Active and Retired count the inventory's interfaces; RetiredOwed the
	// retired ones still collected up to when they left the API.
	Active, Retired, RetiredOwed int
	// Watermarks are, per metric, the oldest watermark over the interfaces
	// collected (ms); Lag how far it is behind now - lag.
	Watermarks map[string]int64
	// Published and Confirmed count the messages sent, and delivered
	// (acknowledged and routed to a queue) by the broker, since the
	// collector started; Returned those the broker returned because no
	// queue was bound for their routing key.
	Published, Confirmed, Returned uint64
	// LastError is the last pass's failure ("" after a clean pass).
	LastError   string
	LastErrorAt time.Time
	// Unroutable are the routing keys, sorted, of the messages the broker
	// returned in the last pass (no queue bound for them); nil when every
	// message was routed or rabbitmq.allowUnroutable is set.
	Unroutable []string
	// Paused is set while a watched queue is over maxQueueDepth.
	Paused      bool
	PausedQueue string
	PausedDepth int
	// Passes counts completed passes; LastPass is when the last ended.
	Passes   int
	LastPass time.Time
}

func (t *target) status() Status {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.st
	st.Watermarks = maps.Clone(t.st.Watermarks)
	st.Unroutable = slices.Clone(t.st.Unroutable)
	return st
}

// details renders the status for the object's status file, refreshed at
// most every DetailsEvery once passes have run.
func (t *target) details() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.opts.Now()
	if t.shown != nil && now.Sub(t.shownAt) < t.opts.DetailsEvery {
		return t.shown
	}
	st := t.st
	if st.Passes == 0 {
		return nil
	}
	out := []string{
		fmt.Sprintf("interfaces: %d active, %d retired (%d still collected)", st.Active, st.Retired, st.RetiredOwed),
		fmt.Sprintf("messages: %d published, %d confirmed", st.Published, st.Confirmed),
	}
	if st.Returned > 0 {
		out[1] += fmt.Sprintf(", %d returned (no queue bound)", st.Returned)
	}
	for _, m := range slices.Sorted(maps.Keys(st.Watermarks)) {
		wm := time.UnixMilli(st.Watermarks[m]).UTC()
		behind := now.Sub(wm) - t.sp.Lag.D()
		out = append(out, fmt.Sprintf("%s: collected to %s (%s behind now - lag)", m, wm.Format(time.RFC3339), behind.Round(time.Second)))
	}
	t.shown, t.shownAt = out, now
	return out
}

// update changes the status; a change of what the object's phase shows
// (a failure, a pause, a missing route) is told to the provider.
func (t *target) update(f func(st *Status)) {
	t.mu.Lock()
	shown := func() [4]string {
		return [4]string{t.st.LastError, strconv.FormatBool(t.st.Paused), t.st.PausedQueue, strings.Join(t.st.Unroutable, "\n")}
	}
	before := shown()
	f(&t.st)
	after := shown()
	t.mu.Unlock()
	if before != after {
		t.changed()
	}
}

func (t *target) start() {
	ctx, cancel := context.WithCancel(context.Background())
	t.cancel, t.done = cancel, make(chan struct{})
	go t.run(ctx)
}

// stop ends the loop, waiting for the pass in flight to notice.
func (t *target) stop() {
	t.cancel()
	<-t.done
	t.pub.Close()
	if t.inv != nil {
		t.inv.Close()
	}
}

// run passes every interval; after a failed pass it retries sooner, with a
// backoff from 1 s doubling up to the interval.
func (t *target) run(ctx context.Context) {
	defer close(t.done)
	interval := t.sp.Interval.D()
	backoff := time.Second
	for {
		noRoute, err := t.pass(ctx)
		if ctx.Err() != nil {
			return
		}
		wait := interval
		if err != nil || len(noRoute) > 0 {
			if err != nil {
				t.log.Warn("collector pass failed; resuming from the watermarks", "err", err)
			}
			if len(noRoute) > 0 {
				t.log.Warn("the broker returned messages: no queue is bound for them; the watermarks stay until one is",
					"exchange", t.sp.RabbitMQ.Exchange, "routingKeys", noRoute)
			}
			// A queue may be bound any moment: look again soon.
			wait = min(backoff, interval)
			backoff = min(backoff*2, interval)
		} else {
			backoff = time.Second
		}
		t.mu.Lock()
		due := t.shown == nil || t.opts.Now().Sub(t.shownAt) >= t.opts.DetailsEvery
		t.mu.Unlock()
		t.update(func(st *Status) {
			st.Passes++
			st.LastPass = t.opts.Now()
			if err != nil {
				st.LastError, st.LastErrorAt = err.Error(), t.opts.Now()
			} else {
				st.LastError = ""
			}
			st.Unroutable = noRoute
		})
		if due {
			t.changed() // the status details are refreshed with this pass's counts
		}
		t.passed()
		select {
		case <-ctx.Done():
			return
		case <-t.kick:
		case <-time.After(reconciler.Jitter(wait, 0.1)):
		}
	}
}

// pass discovers the interfaces, publishes them, syncs the inventory and
// collects every interface's metrics from their watermarks. It returns the
// routing keys, sorted, of the messages the broker returned as unroutable,
// and any other failure.
func (t *target) pass(ctx context.Context) (noRoute []string, err error) {
	var returned routingKeys
	defer func() { noRoute = returned.sorted() }()
	if t.inv == nil {
		// The inventory's errors say "inventory: ..." already.
		inv, err := inventory.OpenTLS(ctx, t.dsn, t.sp.Inventory.MySQL.Table, t.dbTLS)
		if err != nil {
			return nil, err
		}
		t.inv = inv
	}
	now := t.opts.Now()
	nowMS := now.UnixMilli()
	ifaces, err := t.nb.Interfaces(ctx)
	if err != nil {
		return nil, err // "netbeam: GET .../interfaces: ..."
	}
	if len(ifaces) == 0 {
		// Believing an empty listing would retire every interface.
		return nil, fmt.Errorf("netbeam lists no interfaces; the inventory is left as it is")
	}
	var present []string
	var msgs []amqp.Message
	for _, i := range ifaces {
		if err := netbeam.ValidateResource(i.Resource); err != nil {
			t.log.Warn("netbeam lists an interface whose resource is refused; skipped", "err", err)
			continue
		}
		if !t.selected(i.Resource) {
			continue
		}
		present = append(present, i.Resource)
		body, err := interfaceMessage(i.Raw, nowMS)
		if err != nil {
			return nil, fmt.Errorf("netbeam interface %s: %w", i.Resource, err)
		}
		msgs = append(msgs, amqp.Message{RoutingKey: t.sp.RabbitMQ.InterfacesRoutingKey, Body: body,
			MessageID: i.Resource + "|interface|" + strconv.FormatInt(nowMS, 10), Timestamp: now})
	}
	// Interface messages are a snapshot sent again every pass: returned
	// ones hold nothing back, so the pass goes on to the points.
	if err := t.publish(ctx, msgs); err != nil && !returned.add(err) {
		return nil, err
	}
	rows, res, err := t.inv.Sync(ctx, present, nowMS, t.sp.Backfill.D())
	if err != nil {
		return nil, err // "inventory: sync of table ...: ..."
	}
	t.update(func(st *Status) { st.Active, st.Retired, st.RetiredOwed = res.Active, res.Retired, res.RetiredOwed })

	limit := nowMS - t.sp.Lag.D().Milliseconds()
	metrics := t.sp.Netbeam.Metrics
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		wms  = map[string]int64{} // per metric, the oldest watermark of the active rows
		sem  = make(chan struct{}, t.opts.Concurrency)
	)
	for _, row := range rows {
		for _, m := range metrics {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				last := int64(-1) // the row's watermark for m, once known
				err := t.collect(ctx, row, m, limit, nowMS, func(wm int64) { last = wm })
				mu.Lock()
				defer mu.Unlock()
				if err != nil && !returned.add(err) {
					errs = append(errs, err)
				}
				if cur, seen := wms[m]; row.Active && last >= 0 && (!seen || last < cur) {
					wms[m] = last
				}
			}()
		}
	}
	wg.Wait()
	t.update(func(st *Status) { st.Watermarks = wms })
	if len(errs) > 0 {
		return nil, fmt.Errorf("%d of %d interface metrics failed; first: %w", len(errs), len(rows)*len(metrics), errs[0])
	}
	return nil, nil
}

// routingKeys gathers, safe for concurrent use, the routing keys of the
// messages the broker returned during a pass.
type routingKeys struct {
	mu   sync.Mutex
	keys map[string]bool
}

// add records the keys of err if it is an *amqp.UnroutableError, and
// reports whether it was.
func (r *routingKeys) add(err error) bool {
	var ue *amqp.UnroutableError
	if !errors.As(err, &ue) {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.keys == nil {
		r.keys = map[string]bool{}
	}
	for _, k := range ue.RoutingKeys {
		r.keys[k] = true
	}
	return true
}

func (r *routingKeys) sorted() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.keys) == 0 {
		return nil
	}
	return slices.Sorted(maps.Keys(r.keys))
}

// selected applies the spec's include and exclude globs to a resource.
func (t *target) selected(resource string) bool {
	f := t.sp.Netbeam.Interfaces
	if f == nil {
		return true
	}
	match := func(globs []string) bool {
		return slices.ContainsFunc(globs, func(g string) bool { ok, _ := path.Match(g, resource); return ok })
	}
	if len(f.Include) > 0 && !match(f.Include) {
		return false
	}
	return !match(f.Exclude)
}

// collect walks one interface's metric from its watermark to
// min(now - lag, active_until) in slices of at most sliceMax. The
// watermark advances only once every message of a slice is confirmed;
// reached is told the watermark, as read and after each advance. When the
// broker returns any message of a slice (no queue bound), the watermark
// stays at the slice's start, the walk stops, and the
// *amqp.UnroutableError is returned.
func (t *target) collect(ctx context.Context, row inventory.Row, metric string, limit, nowMS int64, reached func(int64)) error {
	from, ok := row.Until[metric]
	if ok {
		reached(from)
	} else { // a row another writer left without a watermark
		from = nowMS - t.sp.Backfill.D().Milliseconds()
	}
	end := limit
	if row.ActiveUntil != nil && *row.ActiveUntil < end {
		end = *row.ActiveUntil
	}
	slice := t.sp.SliceMax.D().Milliseconds()
	for from < end {
		if err := ctx.Err(); err != nil {
			return err
		}
		to := min(from+slice, end)
		points, err := t.nb.Points(ctx, row.Name, metric, from, to)
		var se *netbeam.StatusError
		if err != nil && row.ActiveUntil != nil && errors.As(err, &se) && se.Code == http.StatusNotFound {
			// A retired interface Netbeam no longer serves: nothing more
			// is owed from it.
			t.log.Info("retired interface no longer served; its collection ends", "resource", row.Name, "metric", metric)
			if err := t.inv.Advance(ctx, row.ID, metric, end); err != nil {
				return err
			}
			reached(end)
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s %s [%d, %d): %w", row.Name, metric, from, to, err)
		}
		msgs := make([]amqp.Message, 0, len(points))
		for _, p := range points {
			body, err := json.Marshal(statsMessage{Name: row.Name, RecordType: metric, Timestamp: p.Timestamp, In: p.In, Out: p.Out})
			if err != nil {
				return err
			}
			msgs = append(msgs, amqp.Message{RoutingKey: t.sp.RabbitMQ.StatsRoutingKey, Body: body,
				MessageID: row.Name + "|" + metric + "|" + strconv.FormatInt(p.Timestamp, 10), Timestamp: time.UnixMilli(p.Timestamp)})
		}
		if err := t.publish(ctx, msgs); err != nil {
			var ue *amqp.UnroutableError
			if errors.As(err, &ue) {
				// The slice is held back whole: a slice whose route came
				// or went while it was published is published again, and
				// its delivered points arrive twice (consumers drop
				// duplicates by message_id).
				return err
			}
			return fmt.Errorf("%s %s [%d, %d): %w", row.Name, metric, from, to, err)
		}
		if err := t.inv.Advance(ctx, row.ID, metric, to); err != nil {
			return fmt.Errorf("%s %s: advancing the watermark to %d: %w", row.Name, metric, to, err)
		}
		reached(to)
		from = to
	}
	return nil
}

// statsMessage is the SAND-CI collector's stats body, field for field.
type statsMessage struct {
	Name       string   `json:"name"`
	RecordType string   `json:"recordType"`
	Timestamp  int64    `json:"timestamp"`
	In         *float64 `json:"in"`
	Out        *float64 `json:"out"`
}

// interfaceMessage is the interface object as Netbeam sent it, every
// field kept, plus "timestamp" (ms), as the SAND-CI collector publishes it.
func interfaceMessage(raw json.RawMessage, nowMS int64) ([]byte, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	obj["timestamp"] = json.RawMessage(strconv.FormatInt(nowMS, 10))
	return json.Marshal(obj)
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
