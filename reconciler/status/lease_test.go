package status

import (
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/wirekeeper/wirekeeper/internal/testenv"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: at("2024-05-01T12:00:00Z")} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

const testTTL = 90 * time.Second

func newTestLease(tb testing.TB, url, holder string, clock *fakeClock) *Lease {
	tb.Helper()
	l, err := NewLease(LeaseOptions{URL: url, Holder: holder, TTL: testTTL, Now: clock.Now})
	if err != nil {
		tb.Fatal(err)
	}
	return l
}

// leaseHash is the lease ref's hash on the remote, zero when it has none:
// what a daemon's spec fetch sees of it.
func leaseHash(tb testing.TB, dir string) plumbing.Hash {
	tb.Helper()
	h, ok := gitTry(dir, "rev-parse", "--verify", "-q", LeaseRef("").String())
	if !ok {
		return plumbing.ZeroHash
	}
	return plumbing.NewHash(h)
}

func step(tb testing.TB, l *Lease) bool {
	tb.Helper()
	held, err := l.Step(ctx(tb))
	if err != nil {
		tb.Fatalf("Step: %v", err)
	}
	return held
}

// With default settings a single daemon aggregates at once: the lease is
// free, and its first Step takes it.
func TestLeaseTakesAFreeLeaseAtOnce(t *testing.T) {
	url, dir := newRemote(t)
	l := newTestLease(t, url, "edge-1", newFakeClock())
	if !step(t, l) {
		t.Fatal("the first Step on a repository without a lease did not take it")
	}
	msg := runGit(t, dir, "log", "-1", "--format=%B", LeaseRef("").String())
	for _, want := range []string{"holder: edge-1", "ttl: 1m30s", "since: 2024-05-01T12:00:00Z", "beat: 1 of 16"} {
		if !strings.Contains(msg, want) {
			t.Errorf("the lease commit says:\n%s\nwant a line %q", msg, want)
		}
	}
	if n := runGit(t, dir, "rev-list", "--count", LeaseRef("").String()); n != "1" {
		t.Errorf("the lease commit has history (%s commits), want an orphan", n)
	}
}

// A daemon that is not the holder takes the lease only when its hash has
// not changed for a TTL on its own clock; the old holder, back, finds it
// taken and steps down. Renewals cycle through a bounded set of commits.
func TestLeaseTakeoverAfterHolderStops(t *testing.T) {
	url, dir := newRemote(t)
	clock := newFakeClock()
	a, b := newTestLease(t, url, "node-a", clock), newTestLease(t, url, "node-b", clock)
	if !step(t, a) {
		t.Fatal("A did not take the free lease")
	}
	seen := map[plumbing.Hash]bool{leaseHash(t, dir): true}
	// A renews every TTL/3; B polls every TTL/3 and never takes over.
	prev := leaseHash(t, dir)
	for range 40 {
		clock.Advance(testTTL / 3)
		if !step(t, a) {
			t.Fatal("A lost the lease while renewing")
		}
		h := leaseHash(t, dir)
		if h == prev {
			t.Fatalf("A's renewal left the lease at %s", h)
		}
		prev, seen[h] = h, true
		b.Observe(h)
		if step(t, b) {
			t.Fatal("B took a lease that was renewed")
		}
	}
	if len(seen) != leaseBeats {
		t.Errorf("41 lease commits were %d distinct ones, want %d: renewals must cycle so that observers' caches stop growing", len(seen), leaseBeats)
	}

	// A stops renewing. B needs observations spanning a TTL to act.
	for i := 1; i <= 3; i++ {
		clock.Advance(testTTL / 3)
		b.Observe(leaseHash(t, dir))
		held := step(t, b)
		if held != (i == 3) {
			t.Errorf("%d x TTL/3 after the last renewal: B holds the lease = %v, want %v", i, held, i == 3)
		}
	}
	if !strings.Contains(runGit(t, dir, "log", "-1", "--format=%B", LeaseRef("").String()), "holder: node-b") {
		t.Errorf("the lease does not name B after the takeover")
	}
	// A comes back and renews: refused, it steps down.
	if step(t, a) {
		t.Error("A still holds the lease after B took it over")
	}
	if !b.Held() {
		t.Error("B lost the lease to A's stale renewal")
	}
}

// On stop the holder releases the lease, and another daemon takes it at
// its next Step, without waiting for a TTL.
func TestLeaseReleaseOnStop(t *testing.T) {
	url, dir := newRemote(t)
	clock := newFakeClock()
	a, b := newTestLease(t, url, "node-a", clock), newTestLease(t, url, "node-b", clock)
	step(t, a)
	b.Observe(leaseHash(t, dir))
	if step(t, b) {
		t.Fatal("B took a live lease")
	}
	if err := a.Release(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if a.Held() {
		t.Error("A still holds the lease after releasing it")
	}
	if h := leaseHash(t, dir); !IsReleasedLease(h) {
		t.Errorf("the lease is at %s after the release, want the released commit", h)
	}
	b.Observe(leaseHash(t, dir))
	if !step(t, b) {
		t.Error("B did not take the released lease at its next Step")
	}
	if err := a.Release(ctx(t)); err != nil {
		t.Errorf("Release by a daemon that does not hold the lease: %v, want nothing done", err)
	}
	if !strings.Contains(runGit(t, dir, "log", "-1", "--format=%B", LeaseRef("").String()), "holder: node-b") {
		t.Error("a Release by a non-holder changed the lease")
	}
}

// Daemons racing for a free lease: exactly one wins.
func TestLeaseRaceHasOneWinner(t *testing.T) {
	url, _ := newRemote(t)
	clock := newFakeClock()
	leases := make([]*Lease, 8)
	for i := range leases {
		leases[i] = newTestLease(t, url, nodeNames("node", 8)[i], clock)
	}
	var wg sync.WaitGroup
	held := make([]bool, len(leases))
	for i, l := range leases {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if held[i], err = l.Step(ctx(t)); err != nil {
				t.Errorf("Step: %v", err)
			}
		}()
	}
	wg.Wait()
	winners := 0
	for _, h := range held {
		if h {
			winners++
		}
	}
	if winners != 1 {
		t.Errorf("%d daemons hold the lease, want exactly 1", winners)
	}
}

// A holder that cannot renew steps down a TTL after its last renewal, so
// that it stops folding about when the others may take over.
func TestLeaseHolderStepsDownWhenUnreachable(t *testing.T) {
	url, _ := newRemote(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	relay := startRelay(t, addr, daemonAddr(t), false)
	clock := newFakeClock()
	l := newTestLease(t, "git://"+addr+"/"+strings.TrimPrefix(url, testenv.GitURL(t)), "node-a", clock)
	if !step(t, l) {
		t.Fatal("did not take the free lease")
	}
	relay.close()
	for i := 1; i <= 3; i++ {
		clock.Advance(testTTL / 3)
		held, err := l.Step(ctx(t))
		if err == nil {
			t.Errorf("Step with the remote away reported no error")
		}
		if held != (i < 3) {
			t.Errorf("%d x TTL/3 without a renewal: held = %v, want %v", i, held, i < 3)
		}
	}
}
