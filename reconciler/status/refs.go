package status

import (
	"cmp"
	"fmt"
	"path"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
)

// DefaultRefPrefix is where each node's daemon writes its own status ref,
// RefPrefix+<node>, when WriterOptions.RefPrefix is empty.
const DefaultRefPrefix = "refs/wirekeeper/status/"

// leaseName is the lease ref's name below the base of the node refs.
const leaseName = "lease/status-aggregator"

// LeaseRef returns the aggregator's lease ref for the node refs under
// prefix: a sibling of the prefix's last component, so that it stays
// under whatever namespace the remote accepts. For DefaultRefPrefix it is
// refs/wirekeeper/lease/status-aggregator; for refs/heads/wirekeeper/nodes/
// it is refs/heads/wirekeeper/lease/status-aggregator.
func LeaseRef(prefix string) plumbing.ReferenceName {
	prefix = cmp.Or(prefix, DefaultRefPrefix)
	return plumbing.ReferenceName(path.Dir(strings.TrimSuffix(prefix, "/")) + "/" + leaseName)
}

// CheckRefPrefix reports whether prefix can hold node refs: a ref name
// ending in '/', at least two levels below refs/ (the lease goes next to
// its last level). "" stands for DefaultRefPrefix.
func CheckRefPrefix(prefix string) error {
	prefix = cmp.Or(prefix, DefaultRefPrefix)
	const valid = "; valid: a ref name ending in '/', such as refs/wirekeeper/status/ or refs/heads/wirekeeper/nodes/"
	if !strings.HasPrefix(prefix, "refs/") || !strings.HasSuffix(prefix, "/") || strings.Count(prefix, "/") < 3 {
		return fmt.Errorf("invalid status ref prefix %q: want refs/<a>/<b>/ at least%s", prefix, valid)
	}
	for _, name := range []string{prefix + "node", LeaseRef(prefix).String()} {
		if err := plumbing.ReferenceName(name).Validate(); err != nil || strings.Contains(name, "..") {
			return fmt.Errorf("invalid status ref prefix %q: %s is not a valid ref name%s", prefix, name, valid)
		}
	}
	return nil
}

// CheckRefs reports whether the status branch, the node refs under prefix
// and the lease can coexist on one remote: none may be both a ref and a
// folder of another. Empty values stand for the defaults.
func CheckRefs(branch, prefix string) error {
	_, _, err := checkRefs(branch, prefix)
	return err
}

// checkRefs fills the defaults of the branch and the ref prefix and checks
// them (see CheckRefs).
func checkRefs(branch, prefix string) (plumbing.ReferenceName, string, error) {
	branch = cmp.Or(branch, DefaultBranch)
	ref := plumbing.NewBranchReferenceName(branch)
	if err := ref.Validate(); err != nil {
		return "", "", fmt.Errorf("invalid branch %q: %w", branch, err)
	}
	prefix = cmp.Or(prefix, DefaultRefPrefix)
	if err := CheckRefPrefix(prefix); err != nil {
		return "", "", err
	}
	b := ref.String()
	lease := LeaseRef(prefix).String()
	for _, clash := range []string{prefix, lease + "/"} {
		if strings.HasPrefix(b+"/", clash) || strings.HasPrefix(clash, b+"/") {
			return "", "", fmt.Errorf("status ref prefix %q clashes with the status branch %s: a ref cannot be both a name and a folder", prefix, b)
		}
	}
	return ref, prefix, nil
}

// checkNodeRef reports whether prefix+node is a valid ref name: node
// names allow "a..b" and "x.lock", which git refuses in refs.
func checkNodeRef(prefix, node string) error {
	name := plumbing.ReferenceName(prefix + node)
	if err := name.Validate(); err != nil || strings.Contains(node, "..") || strings.HasSuffix(node, ".lock") {
		return fmt.Errorf("status: node name %q cannot be a git ref name (%s): avoid \"..\" and a .lock ending", node, name)
	}
	return nil
}

// nodeOf returns the node whose ref name is under prefix; ok is false for
// any other ref and for names that are no node name.
func nodeOf(prefix string, name plumbing.ReferenceName) (node string, ok bool) {
	node, ok = strings.CutPrefix(name.String(), prefix)
	if !ok || checkNode(node) != nil || checkNodeRef(prefix, node) != nil {
		return "", false
	}
	return node, true
}
