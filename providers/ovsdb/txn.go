package ovsdb

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync/atomic"
	"time"

	"github.com/ovn-org/libovsdb/client"
	"github.com/ovn-org/libovsdb/model"
	libovsdb "github.com/ovn-org/libovsdb/ovsdb"

	"github.com/wirekeeper/wirekeeper/providers/ovsdb/vswitch"
	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/spec"
)

// txn is one OVSDB transaction being built: the operations of several
// objects, with the range of operations each object contributed, so that a
// failed operation is reported on the object that asked for it.
type txn struct {
	client client.Client
	ops    []libovsdb.Operation
	named  int
	// staged holds the bridge mutations of the object being built; keep
	// moves them to bridgeMutations once all its operations are built,
	// drop forgets them when one failed.
	staged []stagedMutation
	// bridgeMutations collects the mutations of Bridge set columns, sent
	// as one operation per bridge, column and mutator: a pass adding 1,000
	// mirrors to a bridge mutates its row once, not 1,000 times.
	bridgeMutations map[bridgeMutation][]string
	mutationOrder   []bridgeMutation
}

type bridgeMutation struct {
	bridge, column string
	op             libovsdb.Mutator
}

type stagedMutation struct {
	key    bridgeMutation
	values []string
}

func (t *txn) add(ops []libovsdb.Operation, err error) error {
	if err != nil {
		return fmt.Errorf("ovsdb: building the operation: %w", err)
	}
	t.ops = append(t.ops, ops...)
	return nil
}

// keep adds the staged bridge mutations of the object just built to the
// transaction's; drop forgets them, with the object's operations from.
func (t *txn) keep() {
	if t.bridgeMutations == nil {
		t.bridgeMutations = map[bridgeMutation][]string{}
	}
	for _, m := range t.staged {
		if _, ok := t.bridgeMutations[m.key]; !ok {
			t.mutationOrder = append(t.mutationOrder, m.key)
		}
		t.bridgeMutations[m.key] = append(t.bridgeMutations[m.key], m.values...)
	}
	t.staged = t.staged[:0]
}

func (t *txn) drop(from int) {
	t.ops = t.ops[:from]
	t.staged = t.staged[:0]
}

// namedUUID returns a fresh name for a row inserted by this transaction.
func (t *txn) namedUUID(prefix string) string {
	t.named++
	return fmt.Sprintf("wk_%s_%d", prefix, t.named)
}

// mutateBridge inserts values into, or deletes them from, a set column of
// a bridge ("mirrors" or "ports"). A mutation, not a write of the column:
// what other clients put there is never touched. It is staged for the
// object being built, and sent by flush with the others of the same bridge.
func (t *txn) mutateBridge(uuid, column string, op libovsdb.Mutator, values ...string) error {
	if column != "mirrors" && column != "ports" {
		return fmt.Errorf("ovsdb: no bridge column %s", column)
	}
	t.staged = append(t.staged, stagedMutation{bridgeMutation{uuid, column, op}, values})
	return nil
}

// flush appends the collected bridge mutations, one operation per bridge,
// column and mutator, in the order they were first asked for.
func (t *txn) flush() error {
	for _, k := range t.mutationOrder {
		b := &vswitch.Bridge{UUID: k.bridge}
		field := any(&b.Mirrors)
		if k.column == "ports" {
			field = &b.Ports
		}
		if err := t.add(t.client.Where(b).Mutate(b, model.Mutation{Field: field, Mutator: k.op, Value: t.bridgeMutations[k]})); err != nil {
			return err
		}
	}
	t.bridgeMutations, t.mutationOrder = nil, nil
	return nil
}

// setExternalIDs sets keys of the external_ids of row (a *vswitch.Mirror,
// *vswitch.Bridge or *vswitch.Interface with its UUID), leaving every
// other key as it is.
func (t *txn) setExternalIDs(row model.Model, ids map[string]string) error {
	var field any
	switch r := row.(type) {
	case *vswitch.Mirror:
		field = &r.ExternalIDs
	case *vswitch.Bridge:
		field = &r.ExternalIDs
	case *vswitch.Interface:
		field = &r.ExternalIDs
	default:
		return fmt.Errorf("ovsdb: external_ids of %T", row)
	}
	keys := slices.Sorted(maps.Keys(ids))
	// OVSDB's map insert keeps an existing key's value: delete the keys first.
	return t.add(t.client.Where(row).Mutate(row,
		model.Mutation{Field: field, Mutator: libovsdb.MutateOperationDelete, Value: keys},
		model.Mutation{Field: field, Mutator: libovsdb.MutateOperationInsert, Value: ids}))
}

// ApplyBatch implements reconciler.BatchApplier. The changes are grouped by
// manager; each manager's go in one transaction. When the transaction
// fails, the object whose operation failed gets the error and the others
// are retried without it; an error OVSDB does not tie to an operation (a
// failed commit) is narrowed down by retrying each object on its own.
// After a transaction, ApplyBatch waits (at most SettleTimeout) for the
// monitor to show its result, so that the engine's confirming observe
// sees it.
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
		done, retry, unattributed, err := p.transactOnce(ctx, c, items, batch, errs)
		if err != nil { // the manager itself failed: every object of the pass gets it
			for _, i := range pending {
				if errs[i] == nil {
					errs[i] = err
				}
			}
			return
		}
		p.settle(ctx, c, items, done)
		switch {
		case isolate:
			pending = pending[1:]
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
// items that took effect, those to retry (their transaction was aborted by
// another item's failure, or by a failed commit: then unattributed is set),
// and an error when the transaction could not be sent at all.
func (p *Provider) transactOnce(ctx context.Context, c *conn, items []reconciler.Apply, batch []int, errs []error) (done, retry []int, unattributed bool, err error) {
	cl, v, err := c.current()
	if err != nil {
		return nil, nil, false, err
	}
	t := &txn{client: cl}
	type span struct{ item, from, to int }
	var spans []span
	v.mu.RLock()
	for _, i := range batch {
		from := len(t.ops)
		var berr error
		switch items[i].Req.Ref.Kind {
		case "Bridge":
			berr = p.bridgeOps(t, v, items[i])
		case "Mirror":
			berr = p.mirrorOps(t, v, items[i])
		}
		if berr != nil {
			errs[i] = berr
			t.drop(from)
			continue
		}
		t.keep()
		spans = append(spans, span{i, from, len(t.ops)})
	}
	v.mu.RUnlock()
	// The shared bridge mutations belong to no single object: their failure
	// is narrowed down like a failed commit.
	if err := t.flush(); err != nil {
		for _, s := range spans {
			errs[s.item] = err
		}
		return nil, nil, false, nil
	}
	if len(t.ops) == 0 {
		for _, s := range spans {
			done = append(done, s.item)
		}
		return done, nil, false, nil
	}
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	results, err := cl.Transact(tctx, t.ops...)
	p.stats.transactions.Add(1)
	p.stats.operations.Add(uint64(len(t.ops)))
	if err != nil {
		p.stats.failed.Add(1)
		return nil, nil, false, fmt.Errorf("ovsdb: transaction on manager %s: %w", c.name, err)
	}
	_, cerr := libovsdb.CheckOperationResults(results, t.ops)
	if cerr == nil {
		for _, s := range spans {
			done = append(done, s.item)
		}
		return done, nil, false, nil
	}
	p.stats.failed.Add(1)
	failed := -1
	for k, r := range results {
		if k < len(t.ops) && r.Error != "" {
			for _, s := range spans {
				if k >= s.from && k < s.to {
					errs[s.item] = fmt.Errorf("ovsdb: %s on %s failed: %s", t.ops[k].Op, t.ops[k].Table, describeResult(r))
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
		errs[spans[0].item] = fmt.Errorf("ovsdb: transaction on manager %s failed: %w", c.name, cerr)
		if len(results) > len(t.ops) {
			errs[spans[0].item] = fmt.Errorf("ovsdb: transaction on manager %s failed: %s", c.name, describeResult(results[len(t.ops)]))
		}
		return nil, nil, false, nil
	}
	return nil, retry, failed < 0, nil
}

// Stats counts the provider's OVSDB transactions since it was made.
type Stats struct {
	// Transactions sent, Operations in them, and Failed transactions
	// (refused by the server, or not answered).
	Transactions, Operations, Failed uint64
}

type stats struct{ transactions, operations, failed atomic.Uint64 }

// Stats returns the transaction counters, for metrics and benchmarks.
func (p *Provider) Stats() Stats {
	return Stats{Transactions: p.stats.transactions.Load(), Operations: p.stats.operations.Load(), Failed: p.stats.failed.Load()}
}

func describeResult(r libovsdb.OperationResult) string {
	if r.Details != "" {
		return r.Error + ": " + r.Details
	}
	return r.Error
}

// settle waits until the monitor shows what items[done] asked for, or
// SettleTimeout passes (the engine's confirm then reports the difference).
// Items are checked in order and a settled one is not checked again, so a
// large transaction costs one observe per item, not one per item per event.
func (p *Provider) settle(ctx context.Context, c *conn, items []reconciler.Apply, done []int) {
	_ = p.waitView(ctx, c, func(*view) bool {
		for len(done) > 0 && p.settled(ctx, items[done[0]]) {
			done = done[1:]
		}
		return len(done) == 0
	})
}

// waitView waits until cond holds on the manager's view, at most
// SettleTimeout: cond runs now and after each change of the view, without
// the view's lock (it takes what it needs). A timeout is not an error: the
// caller's next read shows the truth. It fails when the manager is not
// connected or ctx ends.
func (p *Provider) waitView(ctx context.Context, c *conn, cond func(v *view) bool) error {
	deadline := time.NewTimer(p.opts.SettleTimeout)
	defer deadline.Stop()
	for {
		_, v, err := c.current()
		if err != nil {
			return err
		}
		wake := v.changed()
		if cond(v) {
			return nil
		}
		select {
		case <-wake:
		case <-deadline.C:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// settled reports whether the live object shows the change.
func (p *Provider) settled(ctx context.Context, it reconciler.Apply) bool {
	obs, err := p.Observe(ctx, it.Req)
	if err != nil {
		return false
	}
	if it.Change.Action == reconciler.ActionDelete {
		return !obs.Exists
	}
	if !obs.Exists || !obs.Owned {
		return false
	}
	return obs.Pending != "" || reconciler.Decide(it.Req.Ref, it.Req.Desired, obs).Action == reconciler.ActionNoop
}

// applyManager connects to an OVSManager (create), or reconnects with its
// new settings (update), and waits for the connection.
func (p *Provider) applyManager(ctx context.Context, it reconciler.Apply) error {
	name := it.Req.Ref.Name
	if it.Change.Action == reconciler.ActionDelete {
		p.mu.Lock()
		c := p.conns[name]
		delete(p.conns, name)
		p.mu.Unlock()
		if c != nil {
			c.close()
		}
		return nil
	}
	sp := it.Req.Desired.Spec.(*spec.OVSManagerSpec)
	p.useSet(it.Req.Set)
	p.mu.Lock()
	old := p.conns[name]
	if old != nil && !old.sameSettings(*sp) {
		delete(p.conns, name)
	} else {
		old = nil
	}
	p.mu.Unlock()
	if old != nil {
		old.close()
	}
	c, err := p.conn(name)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, p.opts.ConnectTimeout)
	defer cancel()
	return c.waitUp(wctx) // says which manager and why, when it fails
}
