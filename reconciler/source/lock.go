package source

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// lockCache takes an flock on the cache's lock file, exclusive to change the
// cache and shared to read it, so that the daemon and a `wirekeeper plan`
// sharing a cache folder never see a half-written or half-removed clone. It
// waits until ctx is done.
func (s *Source) lockCache(ctx context.Context, exclusive bool) (unlock func(), err error) {
	if err := os.MkdirAll(filepath.Dir(s.dir), 0o700); err != nil {
		return nil, fmt.Errorf("source: cannot create the cache folder: %w", err)
	}
	f, err := os.OpenFile(s.dir+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("source: cannot open the cache lock: %w", err)
	}
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	unlock, err = flockWait(ctx, f, how, 20*time.Millisecond)
	if err != nil {
		return nil, fmt.Errorf("source: cannot lock the cache %s: %w", s.dir, err)
	}
	return unlock, nil
}

// flockWait takes the flock how (LOCK_SH or LOCK_EX) on f, polling every
// poll until ctx is done, and returns what releases it and closes f. On an
// error f is closed.
func flockWait(ctx context.Context, f *os.File, how int, poll time.Duration) (unlock func(), err error) {
	for {
		err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		if err == nil {
			return func() {
				_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
				f.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, err
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting: %w", ctx.Err())
		case <-time.After(poll):
		}
	}
}
