package ovs

import (
	"context"
	"errors"
	"sync"

	libovsdb "github.com/ovn-org/libovsdb/ovsdb"
)

// group sends the Ports writes of one connection by group commit: a write
// that arrives while a transaction is in flight waits, and the writes
// gathered meanwhile go together in the next transaction. Container ports
// plugged in one reconcile pass (many at once) thus cost a few
// transactions, not one each, with no pass-wide barrier a slow plug would
// hold up. A group that fails is narrowed down: the write whose operation
// failed gets the error, the others are sent again on their own.
type group struct {
	mu      sync.Mutex
	queue   []*write
	sending bool
}

// write is one caller's operations and where its outcome goes.
type write struct {
	ops  []libovsdb.Operation
	done chan error
}

// send commits ops on c with whatever other writes are waiting, and
// returns the outcome of ops: nil when all took effect.
func (g *group) send(ctx context.Context, c *Conn, ops []libovsdb.Operation) error {
	w := &write{ops: ops, done: make(chan error, 1)}
	g.mu.Lock()
	g.queue = append(g.queue, w)
	if g.sending {
		g.mu.Unlock()
		select {
		case err := <-w.done:
			return err
		case <-ctx.Done():
			return ctx.Err() // the group it joined still sends it
		}
	}
	// No transaction in flight: this caller sends, until nobody waits.
	g.sending = true
	for len(g.queue) > 0 {
		batch := g.queue
		g.queue = nil
		g.mu.Unlock()
		commitGroup(context.WithoutCancel(ctx), c, batch)
		g.mu.Lock()
	}
	g.sending = false
	g.mu.Unlock()
	return <-w.done
}

// commitGroup sends batch as one transaction and tells each write its
// outcome.
func commitGroup(ctx context.Context, c *Conn, batch []*write) {
	var ops []libovsdb.Operation
	for _, w := range batch {
		ops = append(ops, w.ops...)
	}
	results, err := c.Transact(ctx, ops)
	if err == nil || len(batch) == 1 {
		for _, w := range batch {
			w.done <- describe(results, err)
		}
		return
	}
	if len(results) == 0 { // not sent, or not answered: the same for all
		for _, w := range batch {
			w.done <- err
		}
		return
	}
	// The failed operation's write gets its error; OVSDB aborted the rest
	// of the transaction, so the others are sent again, each on its own.
	failed := -1
	for k, r := range results {
		if k < len(ops) && r.Error != "" {
			failed = k
			break
		}
	}
	from := 0
	for _, w := range batch {
		to := from + len(w.ops)
		if failed >= from && failed < to {
			w.done <- describe(results[from:min(to, len(results))], err)
		} else {
			commitGroup(ctx, c, []*write{w})
		}
		from = to
	}
}

// describe is the error of a write whose transaction ended with err: the
// first operation error OVSDB reported in results (those of the write's
// operations, then the commit's), else err.
func describe(results []libovsdb.OperationResult, err error) error {
	if err == nil {
		return nil
	}
	for _, r := range results {
		if r.Error != "" {
			return errors.New(DescribeResult(r))
		}
	}
	return err
}
