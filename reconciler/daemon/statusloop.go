package daemon

import (
	"bytes"
	"context"
	"maps"
	"time"

	"github.com/wirekeeper/wirekeeper/reconciler/status"
)

// restore reads what this node last wrote (its ref, else what an older
// version wrote to the status branch), so that transition times and the
// drift log survive a restart.
func (d *Daemon) restore(ctx context.Context) {
	if d.opts.Status == nil {
		return
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	files, err := d.opts.Status.Read(rctx, d.opts.Node)
	if err != nil {
		d.log.Warn("cannot read the previous status; starting afresh", "err", err)
		return
	}
	if len(files) == 0 {
		return
	}
	prev, err := status.Parse(d.opts.Node, files)
	if err != nil {
		d.log.Warn("cannot parse the previous status; starting afresh", "err", err)
		return
	}
	d.opts.Engine.Restore(prev)
	d.mu.Lock()
	d.lastPushed, d.prevStatus = files, prev
	d.mu.Unlock()
}

// statusLoop commits the status when it changed, StatusDelay after the
// first change of a burst; a failed push is retried with backoff, keeping
// the newest status, until it lands.
func (d *Daemon) statusLoop(ctx context.Context) {
	if d.opts.Status == nil {
		return
	}
	retry := time.Second
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.opts.Engine.Changed():
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(d.opts.StatusDelay):
		}
		for !d.pushStatus(ctx, 2*time.Minute) {
			select {
			case <-ctx.Done():
				return
			case <-time.After(retry):
			}
			retry = min(retry*2, time.Minute)
		}
		retry = time.Second
	}
}

// pushStatus renders and commits the node's status when its files changed;
// it reports whether the node's status ref is up to date.
func (d *Daemon) pushStatus(ctx context.Context, timeout time.Duration) bool {
	if d.opts.Status == nil {
		return true
	}
	ns := d.opts.Engine.Status()
	ns.Branch, ns.Path = d.opts.Source.Branch(), d.opts.Source.Path()
	if ns.Path == "." {
		ns.Path = ""
	}
	if d.opts.Observer.Status != nil {
		d.opts.Observer.Status(ns)
	}
	_, set := d.opts.Engine.Revision()
	d.mu.Lock()
	last, prev := d.lastPushed, d.prevStatus
	d.mu.Unlock()
	// The report time moves only when something else does: an idle
	// daemon's status stays byte for byte the same and is not pushed.
	if prev != nil {
		ns.Reported = prev.Reported
	}
	files, err := status.Render(ns, set)
	if err != nil {
		d.log.Error("cannot render the status", "err", err)
		return true // retrying would not help
	}
	if last != nil && maps.EqualFunc(files, last, bytes.Equal) {
		return true
	}
	ns.Reported = d.opts.Now().UTC().Truncate(time.Second)
	if files, err = status.Render(ns, set); err != nil {
		d.log.Error("cannot render the status", "err", err)
		return true
	}
	msg := status.CommitMessage(prev, ns)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := d.opts.Now()
	committed, err := d.opts.Status.Write(ctx, d.opts.Node, files, msg)
	result := "committed"
	switch {
	case err != nil:
		result = "error"
	case !committed:
		result = "unchanged"
	}
	if d.opts.Observer.StatusPush != nil {
		d.opts.Observer.StatusPush(result, d.opts.Now().Sub(start))
	}
	if err != nil {
		d.log.Warn("cannot push the status; kept and retried", "err", err)
		return false
	}
	d.log.Debug("status pushed", "committed", committed, "message", msg)
	d.mu.Lock()
	d.lastPushed, d.prevStatus = files, ns
	d.mu.Unlock()
	return true
}
