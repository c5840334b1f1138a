package reconciler

import "sync"

// Events carries the providers' word that live objects may have changed
// to the engine's queue: providers get it when they are built and call
// Changed from any goroutine (a monitor's handler, an event stream); the
// engine made with it (Options.Events) queues what it is told. Before
// that engine is made, Changed drops what it is told: the engine observes
// every object of a revision anyway, and again every Resync.
type Events struct {
	mu      sync.RWMutex
	enqueue func(Ref)
}

// NewEvents returns an Events that reaches no engine yet.
func NewEvents() *Events { return &Events{} }

// Changed asks the engine to reconcile refs soon. It never blocks: the
// engine's queue collapses repeated keys. A nil Events drops them.
func (ev *Events) Changed(refs ...Ref) {
	if ev == nil {
		return
	}
	ev.mu.RLock()
	enqueue := ev.enqueue
	ev.mu.RUnlock()
	if enqueue == nil {
		return
	}
	for _, r := range refs {
		enqueue(r)
	}
}

// Attach makes enqueue the receiver of Changed (replacing an earlier
// one) until the returned function is called. The engine attaches itself;
// tests attach their own receiver.
func (ev *Events) Attach(enqueue func(Ref)) (detach func()) {
	ev.mu.Lock()
	ev.enqueue = enqueue
	ev.mu.Unlock()
	return func() {
		ev.mu.Lock()
		ev.enqueue = nil
		ev.mu.Unlock()
	}
}
