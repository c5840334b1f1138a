package collector

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"path"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/wirekeeper/wirekeeper/providers/collector/amqp"
	"github.com/wirekeeper/wirekeeper/providers/collector/inventory"
	"github.com/wirekeeper/wirekeeper/providers/collector/netbeam"
)

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
	rows, res, err := t.inv.Sync(ctx, present, nowMS, t.sp.Netbeam.Metrics)
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
	if !ok {
		// Never collected (NULL, as the seed leaves a new row): start
		// backfill before now, and write that start down before fetching,
		// so that a first fetch that fails resumes from it next pass.
		from = nowMS - t.sp.Backfill.D().Milliseconds()
		if err := t.inv.Advance(ctx, row.ID, metric, from); err != nil {
			return fmt.Errorf("%s %s: setting the first watermark to %d: %w", row.Name, metric, from, err)
		}
	}
	reached(from)
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
			body, err := statsMessage{Name: row.Name, RecordType: metric, Timestamp: p.Timestamp, In: p.In, Out: p.Out}.encode()
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
