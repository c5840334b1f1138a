package status

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/sideband"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"

	"github.com/wirekeeper/wirekeeper/reconciler/source"
)

// fetch brings the status branch's head and its history into the cache and
// returns it; a zero hash when the branch (or the whole repository) is
// empty. It asks for the head alone, naming the head it last knew as what it
// has: the cache always holds whole histories (fetched packs, and commits
// built on fetched heads), so the remote sends exactly what is new. Talking
// to the transport directly keeps go-git from walking local history to find
// what to offer.
func (w *Writer) fetch(ctx context.Context) (head plumbing.Hash, err error) {
	sess, err := w.transport.NewUploadPackSession(w.endpoint, w.opts.Auth)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("fetch %s: %w", w.opts.Branch, err)
	}
	defer func() {
		if cerr := sess.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("fetch %s: %w", w.opts.Branch, cerr)
		}
	}()
	adv, err := sess.AdvertisedReferencesContext(ctx)
	if errors.Is(err, transport.ErrEmptyRemoteRepository) {
		return w.forget()
	}
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("fetch %s: %w", w.opts.Branch, err)
	}
	refs, err := adv.AllReferences()
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("fetch %s: %w", w.opts.Branch, err)
	}
	ref, ok := refs[w.ref]
	if !ok {
		return w.forget()
	}
	head = ref.Hash()
	s := w.cache.storer()
	if s.HasEncodedObject(head) != nil {
		req := packp.NewUploadPackRequestFromCapabilities(adv.Capabilities)
		if adv.Capabilities.Supports(capability.NoProgress) {
			_ = req.Capabilities.Set(capability.NoProgress)
		}
		req.Wants = []plumbing.Hash{head}
		if known, err := s.Reference(w.tracking); err == nil && s.HasEncodedObject(known.Hash()) == nil {
			req.Haves = []plumbing.Hash{known.Hash()}
		}
		reader, err := sess.UploadPack(ctx, req)
		if err != nil {
			return plumbing.ZeroHash, fmt.Errorf("fetch %s: %w", w.opts.Branch, err)
		}
		err = packfile.UpdateObjectStorage(s, demux(req.Capabilities, reader))
		if cerr := reader.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return plumbing.ZeroHash, fmt.Errorf("fetch %s: %w", w.opts.Branch, err)
		}
	}
	if err := s.SetReference(plumbing.NewHashReference(w.tracking, head)); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("fetch %s: record head: %w", w.opts.Branch, err)
	}
	return head, nil
}

// forget drops what the cache knew of a branch that is gone or was never made.
func (w *Writer) forget() (plumbing.Hash, error) {
	err := w.cache.storer().RemoveReference(w.tracking)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("forget %s: %w", w.tracking, err)
	}
	return plumbing.ZeroHash, nil
}

// demux strips the side-band framing the remote puts around the pack.
func demux(caps *capability.List, r io.Reader) io.Reader {
	switch {
	case caps.Supports(capability.Sideband64k):
		return sideband.NewDemuxer(sideband.Sideband64k, r)
	case caps.Supports(capability.Sideband):
		return sideband.NewDemuxer(sideband.Sideband, r)
	}
	return r
}

// pushSession is a receive-pack connection opened ahead of its use.
type pushSession struct {
	sess transport.ReceivePackSession
	adv  *packp.AdvRefs // nil for an empty repository
	err  error
}

func (w *Writer) openPush(ctx context.Context) pushSession {
	sess, err := w.transport.NewReceivePackSession(w.endpoint, w.opts.Auth)
	if err != nil {
		return pushSession{err: fmt.Errorf("push %s: %w", w.opts.Branch, err)}
	}
	adv, err := sess.AdvertisedReferencesContext(ctx)
	if err != nil && !errors.Is(err, transport.ErrEmptyRemoteRepository) {
		sess.Close()
		return pushSession{err: fmt.Errorf("push %s: %w", w.opts.Branch, err)}
	}
	return pushSession{sess: sess, adv: adv}
}

// close ends a session that is still open (a flush tells the remote's
// receive-pack that nothing comes).
func (ps pushSession) close() {
	if ps.sess != nil {
		ps.sess.Close()
	}
}

// push moves the branch from base to commit over ps, sending objects (those
// the remote lacks, read from s). It is a compare-and-swap: the update names
// base as the old value, which the remote checks under its ref lock, so a
// push never overwrites a commit it did not build on, however stale ps's
// advertisement is. Talking to the transport directly also spares go-git's
// walk of the whole history on every push.
func (w *Writer) push(ctx context.Context, ps pushSession, s storer.EncodedObjectStorer, base, commit plumbing.Hash, objects []plumbing.Hash) error {
	if ps.err != nil {
		return ps.err
	}
	// Without report-status a refused update looks like a success, and a
	// lost race would go unnoticed: never push blind.
	if ps.adv == nil || !ps.adv.Capabilities.Supports(capability.ReportStatus) {
		return fmt.Errorf("push %s: the remote does not report the status of pushes", w.opts.Branch)
	}
	req := packp.NewReferenceUpdateRequestFromCapabilities(ps.adv.Capabilities)
	req.Commands = []*packp.Command{{Name: w.ref, Old: base, New: commit}}
	var pack bytes.Buffer
	if _, err := packfile.NewEncoder(&pack, s, false).Encode(objects, 0); err != nil {
		return fmt.Errorf("push %s: encode pack: %w", w.opts.Branch, err)
	}
	req.Packfile = io.NopCloser(&pack)
	status, err := ps.sess.ReceivePack(ctx, req)
	if err == nil && status != nil {
		err = status.Error()
	}
	if err != nil {
		return fmt.Errorf("push %s: %w", w.opts.Branch, err)
	}
	return nil
}

// isPermanent reports whether err says the remote cannot be reached at all,
// as opposed to a connection that broke or a push that lost a race. A
// remote that hung up without answering is busy: retrying at once would
// add to its load (and go-git spends 10 s on each such attempt), so the
// caller's slower retry takes over.
func isPermanent(err error) bool {
	var op *net.OpError
	var dns *net.DNSError
	switch {
	case errors.As(err, &op) && op.Op == "dial", errors.As(err, &dns), source.RemoteHungUp(err):
		return true
	case errors.Is(err, transport.ErrRepositoryNotFound),
		errors.Is(err, transport.ErrAuthenticationRequired),
		errors.Is(err, transport.ErrAuthorizationFailed),
		errors.Is(err, transport.ErrInvalidAuthMethod):
		return true
	}
	return false
}

// isRejection reports whether a push was refused because the branch moved:
// the remote reports a failed ref update ("failed to update ref", "fetch
// first", "non-fast-forward") when the branch is no longer at the old value
// the update named.
func isRejection(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "non-fast-forward") ||
		strings.Contains(msg, "command error on")
}

// backoff is a random delay between lo and a ceiling of unit doubled level
// times, at most hi ("full jitter"), so that writers who lost a race spread
// out instead of colliding again. The unit is the duration of an attempt:
// the slower the remote, the wider writers must spread.
func backoff(level int, unit, lo, hi time.Duration) time.Duration {
	ceil := max(min(unit<<min(level, 20), hi), lo)
	return lo + rand.N(ceil-lo+1)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
