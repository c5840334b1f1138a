package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"syscall"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/format/pktline"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"golang.org/x/crypto/ssh/knownhosts"
)

// remoteError turns an error of a clone or fetch of branch into one that
// matches ErrBranchNotFound or ErrUnreachable when the remote is the cause;
// other errors are only wrapped. nil stays nil.
func (s *Source) remoteError(ctx context.Context, op, branch string, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("source: %s %s from %s: %w", op, branch, s.remote.redacted, ctx.Err())
	}
	if hungUp(err) {
		return fmt.Errorf("source: %s %s from %s: %w: the remote closed the connection without answering (overloaded, or a limit such as git daemon's --max-connections): %w",
			op, branch, s.remote.redacted, ErrUnreachable, err)
	}
	switch kind := classify(err); kind {
	case ErrBranchNotFound:
		return fmt.Errorf("source: %s %s from %s: %w: %w", op, branch, s.remote.redacted, ErrBranchNotFound, err)
	case ErrUnreachable:
		return fmt.Errorf("source: %s %s from %s: %w: %w", op, branch, s.remote.redacted, ErrUnreachable, err)
	}
	return fmt.Errorf("source: %s %s from %s: %w", op, branch, s.remote.redacted, err)
}

// classify returns ErrBranchNotFound or ErrUnreachable when err comes from
// the remote's answer or from reaching it, nil otherwise.
func classify(err error) error {
	switch {
	case errors.Is(err, git.NoMatchingRefSpecError{}),
		errors.Is(err, transport.ErrEmptyRemoteRepository):
		return ErrBranchNotFound
	case errors.Is(err, transport.ErrRepositoryNotFound),
		errors.Is(err, transport.ErrAuthenticationRequired),
		errors.Is(err, transport.ErrAuthorizationFailed),
		errors.Is(err, transport.ErrInvalidAuthMethod),
		errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, packp.ErrEmptyInput), errors.Is(err, pktline.ErrInvalidPktLen), hungUp(err):
		return ErrUnreachable
	}
	var (
		netErr  net.Error
		errno   syscall.Errno
		httpErr *githttp.Err
		keyErr  *knownhosts.KeyError
		errLine *pktline.ErrorLine
	)
	switch {
	case errors.As(err, &netErr), errors.As(err, &httpErr), errors.As(err, &keyErr):
		return ErrUnreachable
	case errors.As(err, &errLine):
		return ErrUnreachable // the remote's own "ERR ..." answer
	case errors.As(err, &errno):
		switch errno {
		case syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.ECONNABORTED, syscall.EHOSTUNREACH,
			syscall.ENETUNREACH, syscall.ETIMEDOUT, syscall.EPIPE:
			return ErrUnreachable
		}
	case strings.HasPrefix(err.Error(), "ssh: "):
		return ErrUnreachable // handshake, host key or authentication refused
	}
	return nil
}

// goGitHangUp is the text of the error go-git's git:// client returns when
// the remote closed the connection before sending a byte: it then waits
// 10 s for an error message that protocol has no channel for, and reports
// "timeout exceeded". The error value lives in an internal package of
// go-git, so it is recognised by its text; TestDaemonSlowRemoteKeepsCache
// fails if go-git changes it.
const goGitHangUp = "timeout exceeded"

// RemoteHungUp reports whether err, from a go-git fetch or push, says the
// remote closed the connection before answering, as git daemon does to
// connections past its --max-connections and loaded proxies and load
// balancers do too: a remote too busy to serve, not a damaged cache.
func RemoteHungUp(err error) bool { return hungUp(err) }

func hungUp(err error) bool {
	if err == nil {
		return false
	}
	if err.Error() == goGitHangUp {
		return true
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		return hungUp(u.Unwrap())
	case interface{ Unwrap() []error }:
		return slices.ContainsFunc(u.Unwrap(), hungUp)
	}
	return false
}
