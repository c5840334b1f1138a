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

// repoRemote is the status repository as the Writer, the Aggregator and
// the Lease talk to it: straight through the transport, one session per
// request, so that nothing walks local history to find what to offer.
type repoRemote struct {
	url       string
	endpoint  *transport.Endpoint
	transport transport.Transport
	auth      transport.AuthMethod
}

func openRemote(url string, auth transport.AuthMethod) (*repoRemote, error) {
	if url == "" {
		return nil, errors.New("URL is required")
	}
	ep, err := transport.NewEndpoint(url)
	if err != nil {
		return nil, fmt.Errorf("invalid URL %q: %w", url, err)
	}
	// source's transport, not go-git's client: it serves file:// and local
	// paths in-process, where go-git would run git-upload-pack and
	// git-receive-pack.
	tr, err := source.NewTransport(ep)
	if err != nil {
		return nil, err
	}
	return &repoRemote{url: url, endpoint: ep, transport: tr, auth: auth}, nil
}

// refMap is what a remote advertises: ref name to hash, hash refs only.
type refMap map[plumbing.ReferenceName]plumbing.Hash

func advertised(adv *packp.AdvRefs) (refMap, error) {
	all, err := adv.AllReferences()
	if err != nil {
		return nil, err
	}
	out := refMap{}
	for name, ref := range all {
		if ref.Type() == plumbing.HashReference {
			out[name] = ref.Hash()
		}
	}
	return out, nil
}

// fetch reads the remote's refs and asks pick what to bring: the wanted
// commits the store lacks are downloaded in one pack, with the heads the
// store has named as haves, so that the remote sends only what is new.
// Where the remote can, the fetch is shallow (depth 1): nothing here reads
// history, only heads, and a cold cache of a 1,000-node fleet would
// otherwise take every node's whole history. An empty repository
// advertises nothing and is no error.
func (r *repoRemote) fetch(ctx context.Context, s storer.Storer, pick func(refMap) (wants, haves []plumbing.Hash)) (refs refMap, err error) {
	sess, err := r.transport.NewUploadPackSession(r.endpoint, r.auth)
	if err != nil {
		return nil, fmt.Errorf("fetch: %w", err)
	}
	defer func() {
		if cerr := sess.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("fetch: %w", cerr)
		}
	}()
	adv, err := sess.AdvertisedReferencesContext(ctx)
	if errors.Is(err, transport.ErrEmptyRemoteRepository) {
		return refMap{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("fetch: %w", err)
	}
	if refs, err = advertised(adv); err != nil {
		return nil, fmt.Errorf("fetch: %w", err)
	}
	wants, haves := pick(refs)
	var missing []plumbing.Hash
	seen := map[plumbing.Hash]bool{}
	for _, h := range wants {
		if !seen[h] && s.HasEncodedObject(h) != nil {
			missing = append(missing, h)
		}
		seen[h] = true
	}
	if len(missing) == 0 {
		return refs, nil
	}
	req := packp.NewUploadPackRequestFromCapabilities(adv.Capabilities)
	if adv.Capabilities.Supports(capability.NoProgress) {
		_ = req.Capabilities.Set(capability.NoProgress)
	}
	if adv.Capabilities.Supports(capability.Shallow) {
		_ = req.Capabilities.Set(capability.Shallow)
		req.Depth = packp.DepthCommits(1)
	}
	req.Wants = missing
	for _, h := range haves {
		if s.HasEncodedObject(h) == nil {
			req.Haves = append(req.Haves, h)
		}
	}
	reader, err := sess.UploadPack(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("fetch: %w", err)
	}
	err = packfile.UpdateObjectStorage(s, demux(req.Capabilities, reader))
	if cerr := reader.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("fetch: %w", err)
	}
	return refs, nil
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

// refUpdate moves ref from old (zero: the ref must not exist) to new.
type refUpdate struct {
	ref      plumbing.ReferenceName
	old, new plumbing.Hash
}

// push sends objects (read from s) and applies the update. It is a
// compare-and-swap: the command names the old value, which the remote
// checks under its ref lock, so a push never overwrites a value it did not
// see; a refused update is an error isRejection recognizes. It returns the
// refs the remote advertised before the update, which tell a refused
// pusher where the ref is now without another request.
func (r *repoRemote) push(ctx context.Context, s storer.EncodedObjectStorer, u refUpdate, objects []plumbing.Hash) (refMap, error) {
	sess, err := r.transport.NewReceivePackSession(r.endpoint, r.auth)
	if err != nil {
		return nil, fmt.Errorf("push %s: %w", u.ref, err)
	}
	defer sess.Close()
	adv, err := sess.AdvertisedReferencesContext(ctx)
	if err != nil && !errors.Is(err, transport.ErrEmptyRemoteRepository) {
		return nil, fmt.Errorf("push %s: %w", u.ref, err)
	}
	// Without report-status a refused update looks like a success, and a
	// lost compare-and-swap would go unnoticed: never push blind.
	if adv == nil || !adv.Capabilities.Supports(capability.ReportStatus) {
		return nil, fmt.Errorf("push %s: the remote does not report the status of pushes", u.ref)
	}
	refs, err := advertised(adv)
	if err != nil {
		return nil, fmt.Errorf("push %s: %w", u.ref, err)
	}
	req := packp.NewReferenceUpdateRequestFromCapabilities(adv.Capabilities)
	req.Commands = []*packp.Command{{Name: u.ref, Old: u.old, New: u.new}}
	var pack bytes.Buffer
	if _, err := packfile.NewEncoder(&pack, s, false).Encode(objects, 0); err != nil {
		return refs, fmt.Errorf("push %s: encode pack: %w", u.ref, err)
	}
	req.Packfile = io.NopCloser(&pack)
	report, err := sess.ReceivePack(ctx, req)
	if err == nil && report != nil {
		err = report.Error()
	}
	if err != nil {
		return refs, fmt.Errorf("push %s: %w", u.ref, err)
	}
	return refs, nil
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

// isRejection reports whether a push was refused because the ref moved:
// the remote reports a failed ref update ("failed to update ref", "fetch
// first", "non-fast-forward") when the ref is no longer at the old value
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
// times, at most hi ("full jitter"), so that retries spread out. The unit
// is the duration of an attempt: the slower the remote, the longer the wait.
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
