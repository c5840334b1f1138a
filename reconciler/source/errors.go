package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	git "github.com/go-git/go-git/v5"
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
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return ErrUnreachable
	}
	var (
		netErr  net.Error
		errno   syscall.Errno
		httpErr *githttp.Err
		keyErr  *knownhosts.KeyError
	)
	switch {
	case errors.As(err, &netErr), errors.As(err, &httpErr), errors.As(err, &keyErr):
		return ErrUnreachable
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
