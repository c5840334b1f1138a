package container

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"

	"github.com/wirekeeper/wirekeeper/reconciler"
)

// ctr is what the provider knows of one container: enough to find its
// network namespace and to tell a restart from the same run.
type ctr struct {
	ID      string
	Name    string // without Docker's leading "/"
	Running bool
	PID     int
	// SandboxKey is the network namespace's bind mount, used when the PID
	// is not visible (a daemon in a PID namespace of its own).
	SandboxKey string
	StartedAt  string
	// Status is Docker's State.Status ("running", "exited", ...); Image
	// (as the container was created from it) and ImageID come with the
	// same inspect, for the topology.
	Status, Image, ImageID string
	// Labels are the container's labels (the OVS Port Manager reads its
	// settings from them).
	Labels map[string]string
}

// refs are the forms a spec may name the container by: its name, its
// full ID and the 12-character short ID that docker ps shows.
func (c *ctr) refs() []string {
	out := []string{c.Name, c.ID}
	if len(c.ID) > 12 {
		out = append(out, c.ID[:12])
	}
	return out
}

// docker is the provider's view of one Docker engine: a cache of the
// containers filled by a list and kept by the events stream, which it
// reconnects (and relists after) when it breaks, as when dockerd restarts.
type docker struct {
	cl  *client.Client
	log *slog.Logger
	// changed is called with a container whose state changed (started,
	// stopped, removed, renamed; nil after a relist: any may have).
	changed func(c *ctr)

	mu     sync.Mutex
	byID   map[string]*ctr
	byName map[string]string // name -> ID
	// byRef maps the ID prefixes specs used to the IDs dockerd resolved
	// them to.
	byRef     map[string]string
	connected bool
	lastErr   error
	// tried is closed once the first connection attempt has ended, with
	// the containers listed or with an error.
	tried  chan struct{}
	tryOne sync.Once
	cancel context.CancelFunc
	done   chan struct{}
}

func newDocker(host string, log *slog.Logger, changed func(*ctr)) (*docker, error) {
	opts := []client.Opt{client.FromEnv, client.WithAPIVersionNegotiation()}
	if host != "" {
		opts = append(opts, client.WithHost(host))
	}
	cl, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return nil, fmt.Errorf("container: docker client: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d := &docker{cl: cl, log: log, changed: changed, byID: map[string]*ctr{}, byName: map[string]string{},
		byRef: map[string]string{}, lastErr: errors.New("connecting"), tried: make(chan struct{}), cancel: cancel, done: make(chan struct{})}
	go d.run(ctx)
	return d, nil
}

func (d *docker) close() {
	d.cancel()
	<-d.done
	d.cl.Close()
}

// run follows the events stream, relisting at every (re)connect, with a
// jittered backoff (100 ms doubling to 10 s) while dockerd is unreachable.
func (d *docker) run(ctx context.Context) {
	defer close(d.done)
	delay := 100 * time.Millisecond
	for {
		err := d.follow(ctx)
		if ctx.Err() != nil {
			return
		}
		d.mu.Lock()
		was := d.connected
		d.connected, d.lastErr = false, err
		d.mu.Unlock()
		d.tryOne.Do(func() { close(d.tried) })
		if was {
			d.log.Warn("docker events stream broke; reconnecting", "error", err)
			delay = 100 * time.Millisecond
		}
		d.changed(nil)
		select {
		case <-ctx.Done():
			return
		case <-time.After(reconciler.Jitter(delay, 0.2)):
		}
		delay = min(delay*2, 10*time.Second)
	}
}

// follow subscribes to container events, then lists (so that nothing
// happening in between is missed), and applies events until the stream
// breaks.
func (d *docker) follow(ctx context.Context) error {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	f := filters.NewArgs(filters.Arg("type", string(events.ContainerEventType)))
	for _, a := range []events.Action{events.ActionStart, events.ActionDie, events.ActionStop, events.ActionDestroy,
		events.ActionRename, events.ActionCreate, events.ActionPause, events.ActionUnPause} {
		f.Add("event", string(a))
	}
	msgs, errs := d.cl.Events(sctx, events.ListOptions{Filters: f})
	select {
	case err := <-errs:
		return fmt.Errorf("cannot reach dockerd at %s: %w", d.cl.DaemonHost(), err)
	default:
	}
	if err := d.relist(sctx); err != nil {
		return err
	}
	d.mu.Lock()
	d.connected, d.lastErr = true, nil
	d.mu.Unlock()
	d.tryOne.Do(func() { close(d.tried) })
	d.log.Info("docker connected", "host", d.cl.DaemonHost(), "api", d.cl.ClientVersion())
	d.changed(nil)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-errs:
			if err == nil {
				err = errors.New("events stream closed")
			}
			return err
		case m := <-msgs:
			d.apply(ctx, m)
		}
	}
}

// relist replaces the cache with the engine's containers, inspecting the
// running ones for their PID.
func (d *docker) relist(ctx context.Context) error {
	list, err := d.cl.ContainerList(ctx, container.ListOptions{All: true})
	if err != nil {
		return fmt.Errorf("cannot list containers on %s: %w", d.cl.DaemonHost(), err)
	}
	byID := make(map[string]*ctr, len(list))
	byName := make(map[string]string, len(list))
	var running []string
	for _, s := range list {
		c := &ctr{ID: s.ID, Running: s.State == "running"}
		if len(s.Names) > 0 {
			c.Name = strings.TrimPrefix(s.Names[0], "/")
		}
		byID[c.ID] = c
		byName[c.Name] = c.ID
		if c.Running {
			running = append(running, c.ID)
		}
	}
	// Inspect the running ones, a few at a time.
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	var mu sync.Mutex
	for _, id := range running {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			c, err := d.inspect(ctx, id)
			mu.Lock()
			defer mu.Unlock()
			if err == nil && c != nil {
				byID[id] = c
			} else if err == nil {
				delete(byID, id) // gone meanwhile
			}
		}()
	}
	wg.Wait()
	d.mu.Lock()
	d.byID, d.byName, d.byRef = byID, byName, map[string]string{}
	d.mu.Unlock()
	return nil
}

// apply updates the cache with one event, then reports the change.
func (d *docker) apply(ctx context.Context, m events.Message) {
	id := m.Actor.ID
	d.mu.Lock()
	old := d.byID[id]
	d.mu.Unlock()
	var c *ctr
	if m.Action != events.ActionDestroy {
		var err error
		c, err = d.inspect(ctx, id)
		if err != nil {
			d.log.Warn("cannot inspect container after event", "container", id, "event", string(m.Action), "error", err)
			return // the stream's next break or event brings it back
		}
	}
	d.mu.Lock()
	if old != nil && d.byName[old.Name] == id {
		delete(d.byName, old.Name)
	}
	if c == nil {
		delete(d.byID, id)
	} else {
		d.byID[id] = c
		d.byName[c.Name] = id
	}
	d.mu.Unlock()
	if old != nil {
		d.changed(old) // under its old name, for a rename or removal
	}
	if c != nil {
		d.changed(c)
	}
}

// inspect asks dockerd about one container; nil when it does not exist.
func (d *docker) inspect(ctx context.Context, ref string) (*ctr, error) {
	ictx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	r, err := d.cl.ContainerInspect(ictx, ref)
	if cerrdefs.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	c := &ctr{ID: r.ID, Name: strings.TrimPrefix(r.Name, "/"), ImageID: r.Image}
	if r.State != nil {
		c.Running, c.PID, c.StartedAt = r.State.Running && !r.State.Paused, r.State.Pid, r.State.StartedAt
		c.Status = r.State.Status
	}
	if r.Config != nil {
		c.Image, c.Labels = r.Config.Image, r.Config.Labels
	}
	if r.NetworkSettings != nil {
		c.SandboxKey = r.NetworkSettings.SandboxKey
	}
	return c, nil
}

// resolve finds the container a spec names (name, ID or ID prefix): from
// the cache, else by asking dockerd, which also resolves an ID prefix. It
// returns nil, nil when there is no such container.
func (d *docker) resolve(ctx context.Context, ref string) (*ctr, error) {
	d.mu.Lock()
	connected, lastErr := d.connected, d.lastErr
	var c *ctr
	if id, ok := d.byName[ref]; ok {
		c = d.byID[id]
	} else if byID, ok := d.byID[ref]; ok {
		c = byID
	} else if id, ok := d.byRef[ref]; ok {
		c = d.byID[id]
	}
	d.mu.Unlock()
	if !connected {
		return nil, fmt.Errorf("container: docker at %s: %w", d.cl.DaemonHost(), lastErr)
	}
	if c != nil {
		cp := *c
		return &cp, nil
	}
	c, err := d.inspect(ctx, ref)
	if err != nil {
		return nil, fmt.Errorf("container: inspect %s: %w", ref, err)
	}
	if c != nil {
		d.mu.Lock()
		d.byID[c.ID] = c
		d.byName[c.Name] = c.ID
		d.byRef[ref] = c.ID
		d.mu.Unlock()
	}
	return c, nil
}

// waitTried waits for the first connection attempt to end, or ctx.
func (d *docker) waitTried(ctx context.Context) {
	select {
	case <-d.tried:
	case <-ctx.Done():
	}
}
