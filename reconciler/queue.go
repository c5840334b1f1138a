package reconciler

import (
	"container/heap"
	"math/rand/v2"
	"sync"
	"time"
)

// queue is the engine's work queue: level-based and de-duplicating. A key
// added many times before a worker takes it is reconciled once; a key added
// while a worker holds it is reconciled again after that worker is done, so
// no event is lost and no key is reconciled by two workers at once. Keys
// can also be added after a delay (requeues, backoff).
type queue struct {
	mu    sync.Mutex
	cond  *sync.Cond
	order []Ref // keys ready to be taken, FIFO
	// state holds, per key, keyDirty (in order, or to be re-added when
	// done) and keyHeld (a worker has it); one map keeps it to one lookup.
	state     map[Ref]uint8
	held      int
	waiting   delayHeap         // keys to add later
	waitingAt map[Ref]time.Time // earliest pending time per key in waiting
	timer     *time.Timer
	closed    bool
	now       func() time.Time
}

func newQueue(now func() time.Time) *queue {
	q := &queue{
		state:     map[Ref]uint8{},
		waitingAt: map[Ref]time.Time{},
		now:       now,
	}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// Add makes key ready now.
func (q *queue) Add(key Ref) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.addLocked(key)
}

const (
	keyDirty uint8 = 1 << iota
	keyHeld
)

func (q *queue) addLocked(key Ref) {
	st := q.state[key]
	if q.closed || st&keyDirty != 0 {
		return
	}
	q.state[key] = st | keyDirty
	if st&keyHeld != 0 {
		return // re-added by Done
	}
	q.order = append(q.order, key)
	q.cond.Signal()
}

// AddAfter makes key ready after d. An earlier pending time for the same
// key wins, so a backoff never postpones an event-driven requeue.
func (q *queue) AddAfter(key Ref, d time.Duration) {
	if d <= 0 {
		q.Add(key)
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	at := q.now().Add(d)
	if prev, ok := q.waitingAt[key]; ok && !at.Before(prev) {
		return
	}
	q.waitingAt[key] = at
	heap.Push(&q.waiting, delayed{key: key, at: at})
	q.armLocked()
}

// armLocked sets the timer for the earliest waiting key.
func (q *queue) armLocked() {
	if len(q.waiting) == 0 {
		return
	}
	d := q.waiting[0].at.Sub(q.now())
	if q.timer == nil {
		q.timer = time.AfterFunc(d, q.promote)
		return
	}
	q.timer.Reset(d)
}

// promote moves every waiting key whose time has come to the ready list.
func (q *queue) promote() {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.now()
	for len(q.waiting) > 0 && !q.waiting[0].at.After(now) {
		d := heap.Pop(&q.waiting).(delayed)
		if at, ok := q.waitingAt[d.key]; ok && at.Equal(d.at) {
			delete(q.waitingAt, d.key)
			q.addLocked(d.key)
		}
	}
	q.armLocked()
}

// Get blocks until a key is ready and hands it to the caller, who must call
// Done with it. ok is false once the queue is shut down and drained of
// ready keys.
func (q *queue) Get() (key Ref, ok bool) {
	keys, ok := q.GetBatch(1)
	if !ok {
		return Ref{}, false
	}
	return keys[0], true
}

// GetBatch blocks like Get, then also takes every other ready key, up to max
// keys in all. Each key must be released with Done.
func (q *queue) GetBatch(max int) ([]Ref, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.order) == 0 && !q.closed {
		q.cond.Wait()
	}
	if len(q.order) == 0 {
		return nil, false
	}
	n := min(max, len(q.order))
	keys := make([]Ref, n)
	copy(keys, q.order[:n])
	clear(q.order[:n])
	q.order = q.order[n:]
	for _, k := range keys {
		q.state[k] = keyHeld
	}
	q.held += n
	return keys, true
}

// Done releases key; if it was added meanwhile it becomes ready again.
func (q *queue) Done(key Ref) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.held--
	if q.state[key]&keyDirty != 0 && !q.closed {
		q.state[key] = keyDirty
		q.order = append(q.order, key)
		q.cond.Signal()
		return
	}
	delete(q.state, key)
}

// Len is the number of keys ready to be taken.
func (q *queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.order)
}

// ShutDown stops accepting keys and wakes every waiting worker; keys still
// ready are dropped (the next start reconciles everything anyway).
func (q *queue) ShutDown() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	q.order = nil
	if q.timer != nil {
		q.timer.Stop()
	}
	q.cond.Broadcast()
}

type delayed struct {
	key Ref
	at  time.Time
}

type delayHeap []delayed

func (h delayHeap) Len() int           { return len(h) }
func (h delayHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h delayHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *delayHeap) Push(x any)        { *h = append(*h, x.(delayed)) }
func (h *delayHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// backoff computes each key's retry delay: Base doubling per consecutive
// failure, capped at Max, jittered by ±10% so that objects failing together
// do not retry in lockstep.
type backoff struct {
	Base, Max time.Duration
	mu        sync.Mutex
	failures  map[Ref]int
}

func newBackoff(base, max time.Duration) *backoff {
	return &backoff{Base: base, Max: max, failures: map[Ref]int{}}
}

// Next records one more failure of key and returns how long to wait.
func (b *backoff) Next(key Ref) time.Duration {
	b.mu.Lock()
	n := b.failures[key]
	b.failures[key] = n + 1
	b.mu.Unlock()
	d := b.Base
	for i := 0; i < n && d < b.Max; i++ {
		d *= 2
	}
	return Jitter(min(d, b.Max), 0.1)
}

// Forget clears key's failures after a success.
func (b *backoff) Forget(key Ref) {
	b.mu.Lock()
	delete(b.failures, key)
	b.mu.Unlock()
}

// Jitter returns d changed by a random fraction in [-f, +f], so that
// timers started together do not fire in lockstep.
func Jitter(d time.Duration, f float64) time.Duration {
	if d <= 0 {
		return d
	}
	return time.Duration(float64(d) * (1 + f*(2*rand.Float64()-1)))
}
