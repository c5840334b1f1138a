package ovsdb

import (
	"context"
	"fmt"

	"github.com/wirekeeper/wirekeeper/internal/ovs"
	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/spec"
)

// ApplyBatch implements reconciler.BatchApplier. The changes are grouped by
// manager; each manager's go in one transaction. When the transaction
// fails, the object whose operation failed gets the error and the others
// are retried without it; an error OVSDB does not tie to an operation (a
// failed commit) is narrowed down by retrying each object on its own.
// The monitor shows a transaction's result a moment after it commits: the
// engine's confirm waits for it (the provider is a reconciler.Settler).
func (p *Provider) ApplyBatch(ctx context.Context, items []reconciler.Apply) []error {
	errs := make([]error, len(items))
	var order []string
	groups := map[string][]int{}
	for i, it := range items {
		if it.Req.Ref.Kind == "OVSManager" {
			errs[i] = p.applyManager(ctx, it)
			continue
		}
		mgr, err := p.managerOf(it.Req)
		if err != nil {
			errs[i] = err
			continue
		}
		if _, seen := groups[mgr]; !seen {
			order = append(order, mgr)
		}
		groups[mgr] = append(groups[mgr], i)
	}
	for _, mgr := range order {
		p.transact(ctx, mgr, items, groups[mgr], errs)
	}
	return errs
}

// managerOf returns the OVSManager a Bridge or Mirror request is on.
func (p *Provider) managerOf(req reconciler.Request) (string, error) {
	if name := managerName(req); name != "" {
		return name, nil
	}
	// A prune the engine knows no spec for: find the manager holding it.
	if name, _ := p.holder(req.Ref); name != "" {
		return name, nil
	}
	return "", fmt.Errorf("ovsdb: %s is on no connected manager", req.Ref)
}

// transact applies items[idxs] on manager mgr, setting errs.
func (p *Provider) transact(ctx context.Context, mgr string, items []reconciler.Apply, idxs []int, errs []error) {
	c, err := p.conn(mgr)
	if err != nil {
		for _, i := range idxs {
			errs[i] = err
		}
		return
	}
	pending := idxs
	isolate := false
	for len(pending) > 0 {
		batch := pending
		if isolate {
			batch = pending[:1]
		}
		_, retry, unattributed, inserted, err := p.transactOnce(ctx, c, items, batch, errs)
		if err != nil { // the manager itself failed: every object of the pass gets it
			for _, i := range pending {
				if errs[i] == nil {
					errs[i] = err
				}
			}
			return
		}
		switch {
		case isolate:
			pending = pending[1:]
			if len(pending) > 0 && len(inserted) > 0 {
				// The next object may sit on a row this one made (a mirror
				// on its bridge): build it once the monitor shows that row.
				_ = c.Await(ctx, func(v *ovs.View) bool { return v.HasRows(inserted) })
			}
		case retry == nil:
			pending = nil
		case unattributed:
			isolate = true // a commit failure tied to no operation: one object at a time
		default:
			pending = retry
		}
	}
}

// transactOnce sends one transaction for items[batch]. It returns the
// items that took effect and the rows their transaction inserted, those to
// retry (their transaction was aborted by another item's failure, or by a
// failed commit: then unattributed is set), and an error when the
// transaction could not be sent at all.
func (p *Provider) transactOnce(ctx context.Context, c *ovs.Conn, items []reconciler.Apply, batch []int, errs []error) (done, retry []int, unattributed bool, inserted []ovs.Row, err error) {
	cl, v, err := c.Current()
	if err != nil {
		return nil, nil, false, nil, err
	}
	t := ovs.NewTxn(cl)
	type span struct{ item, from, to int }
	var spans []span
	v.RLock()
	for _, i := range batch {
		from := len(t.Ops)
		var berr error
		switch items[i].Req.Ref.Kind {
		case "Bridge":
			berr = p.bridgeOps(t, v, items[i])
		case "Mirror":
			berr = p.mirrorOps(t, v, items[i])
		}
		if berr != nil {
			errs[i] = berr
			t.Drop(from)
			continue
		}
		t.Keep()
		spans = append(spans, span{i, from, len(t.Ops)})
	}
	v.RUnlock()
	// The shared bridge mutations belong to no single object: their failure
	// is narrowed down like a failed commit.
	if err := t.Flush(); err != nil {
		for _, s := range spans {
			errs[s.item] = err
		}
		return nil, nil, false, nil, nil
	}
	if len(t.Ops) == 0 {
		for _, s := range spans {
			done = append(done, s.item)
		}
		return done, nil, false, nil, nil
	}
	results, cerr := c.Transact(ctx, t.Ops)
	if cerr == nil {
		for _, s := range spans {
			done = append(done, s.item)
		}
		return done, nil, false, ovs.Inserted(t.Ops, results), nil
	}
	if len(results) == 0 { // not sent, or not answered
		return nil, nil, false, nil, fmt.Errorf("ovsdb: transaction on manager %s: %w", c.Name(), cerr)
	}
	failed := -1
	for k, r := range results {
		if k < len(t.Ops) && r.Error != "" {
			for _, s := range spans {
				if k >= s.from && k < s.to {
					errs[s.item] = fmt.Errorf("ovsdb: %s on %s failed: %s", t.Ops[k].Op, t.Ops[k].Table, ovs.DescribeResult(r))
					failed = s.item
				}
			}
			break
		}
	}
	for _, s := range spans {
		if s.item != failed {
			retry = append(retry, s.item)
		}
	}
	if failed < 0 && len(spans) == 1 {
		errs[spans[0].item] = fmt.Errorf("ovsdb: transaction on manager %s failed: %w", c.Name(), cerr)
		if len(results) > len(t.Ops) {
			errs[spans[0].item] = fmt.Errorf("ovsdb: transaction on manager %s failed: %s", c.Name(), ovs.DescribeResult(results[len(t.Ops)]))
		}
		return nil, nil, false, nil, nil
	}
	return nil, retry, failed < 0, nil, nil
}

// Stats returns the counters of the OVSDB transactions sent through the
// provider's connections (shared with the other OVS providers), for
// metrics and benchmarks.
func (p *Provider) Stats() ovs.Stats { return p.ovs.Stats() }

// applyManager connects to an OVSManager (create), or reconnects with its
// new settings (update), and waits for the connection.
func (p *Provider) applyManager(ctx context.Context, it reconciler.Apply) error {
	name := it.Req.Ref.Name
	if it.Change.Action == reconciler.ActionDelete {
		p.ovs.Drop(name)
		return nil
	}
	sp := it.Req.Desired.Spec.(*spec.OVSManagerSpec)
	p.useSet(it.Req.Set)
	c := p.ovs.Replace(name, *sp)
	wctx, cancel := context.WithTimeout(ctx, p.opts.ConnectTimeout)
	defer cancel()
	return c.WaitUp(wctx) // says which manager and why, when it fails
}
