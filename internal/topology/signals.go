package topology

import "sync"

// Signals fans a change out to the functions registered with Add; a
// Source embeds one to implement OnTopologyChange.
type Signals struct {
	mu sync.RWMutex
	fs []func()
}

// Add registers f.
func (s *Signals) Add(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fs = append(s.fs, f)
}

// Fire calls every registered function.
func (s *Signals) Fire() {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, f := range s.fs {
		f()
	}
}
