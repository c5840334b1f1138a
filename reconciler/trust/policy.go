// Package trust is the per-node trust policy: which signing keys may change
// which nodes' objects, and of which kinds. The policy belongs to the
// operator (a file in the daemon's configuration, never in the spec
// repository); the source checks every commit a new revision brings
// against it (source.CheckTrust), after the signature itself verified
// against the keyring or the allowed signers.
package trust

import (
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/wirekeeper/wirekeeper/spec"
)

// maxPolicySize bounds the policy file.
const maxPolicySize = 1 << 20

// Policy maps signers to what they may change.
type Policy struct {
	// File is where the policy was read from, for messages.
	File    string
	Signers []Signer
}

// Signer is one entry of the policy: keys, and the nodes and kinds they
// may change.
type Signer struct {
	Name string
	// Keys identify the signing keys: an SSH key's SHA256 fingerprint
	// ("SHA256:..." as ssh-keygen -l prints it), an OpenPGP key's ID (16
	// hex digits) or fingerprint (40).
	Keys []string
	// Nodes are globs (path.Match) on node names.
	Nodes []string
	// Kinds are the kinds of object; empty is every kind.
	Kinds []string
	line  int
}

// Key is the identity of a verified signature: the IDs its key goes by
// (see Signer.Keys) and how to name it in messages.
type Key struct {
	IDs  []string
	Name string
}

// Load reads a policy file:
//
//	signers:
//	  - name: site-a
//	    keys: ["SHA256:...", "0123456789ABCDEF"]
//	    nodes: ["ams-*"]
//	    kinds: [Mirror, ContainerPort]   # optional: every kind
func Load(file string) (*Policy, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("trust policy: %w", err)
	}
	if len(data) > maxPolicySize {
		return nil, fmt.Errorf("trust policy %s: larger than %d bytes", file, maxPolicySize)
	}
	var doc struct {
		Signers []struct {
			Name  string   `yaml:"name"`
			Keys  []string `yaml:"keys"`
			Nodes []string `yaml:"nodes"`
			Kinds []string `yaml:"kinds"`
		} `yaml:"signers"`
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("trust policy %s: %w", file, err)
	}
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("trust policy %s: %w; valid: signers: [{name, keys, nodes, kinds}]", file, err)
	}
	lines := signerLines(&root)
	p := &Policy{File: file}
	var errs []error
	for i, s := range doc.Signers {
		line := 0
		if i < len(lines) {
			line = lines[i]
		}
		where := fmt.Sprintf("%s:%d: signer %q", file, line, s.Name)
		switch {
		case s.Name == "":
			errs = append(errs, fmt.Errorf("%s: name is required", where))
		case slices.ContainsFunc(p.Signers, func(o Signer) bool { return o.Name == s.Name }):
			errs = append(errs, fmt.Errorf("%s: the name is taken by another signer", where))
		}
		if len(s.Keys) == 0 {
			errs = append(errs, fmt.Errorf("%s: keys is empty; valid: SSH fingerprints (SHA256:...), OpenPGP key IDs (16 hex) or fingerprints (40 hex)", where))
		}
		for _, k := range s.Keys {
			if !validKey(k) {
				errs = append(errs, fmt.Errorf("%s: key %q is neither an SSH fingerprint (SHA256:...) nor an OpenPGP key ID (16 hex digits) or fingerprint (40)", where, k))
			}
		}
		if len(s.Nodes) == 0 {
			errs = append(errs, fmt.Errorf("%s: nodes is empty; give globs such as ams-*", where))
		}
		for _, n := range s.Nodes {
			if _, err := path.Match(n, ""); err != nil {
				errs = append(errs, fmt.Errorf("%s: node glob %q: %v", where, n, err))
			}
		}
		for _, k := range s.Kinds {
			if spec.KindRank(k) < 0 {
				errs = append(errs, fmt.Errorf("%s: unknown kind %q; valid: %s", where, k, kindNames()))
			}
		}
		p.Signers = append(p.Signers, Signer{Name: s.Name, Keys: normalize(s.Keys), Nodes: s.Nodes, Kinds: s.Kinds, line: line})
	}
	if len(doc.Signers) == 0 {
		errs = append(errs, fmt.Errorf("trust policy %s: no signers", file))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return p, nil
}

// signerLines returns the line of each entry of signers.
func signerLines(root *yaml.Node) []int {
	if root.Kind != yaml.DocumentNode || len(root.Content) == 0 {
		return nil
	}
	m := root.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == "signers" && m.Content[i+1].Kind == yaml.SequenceNode {
			var out []int
			for _, e := range m.Content[i+1].Content {
				out = append(out, e.Line)
			}
			return out
		}
	}
	return nil
}

func validKey(k string) bool {
	if strings.HasPrefix(k, "SHA256:") {
		return len(k) > len("SHA256:")
	}
	if len(k) != 16 && len(k) != 40 {
		return false
	}
	return strings.Trim(strings.ToUpper(k), "0123456789ABCDEF") == ""
}

// normalize upper-cases OpenPGP IDs; SSH fingerprints are case-sensitive.
func normalize(keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		if !strings.HasPrefix(k, "SHA256:") {
			k = strings.ToUpper(k)
		}
		out[i] = k
	}
	return out
}

// Allowed returns nil when a signer with key may change an object of kind
// on node, and otherwise says why not.
func (p *Policy) Allowed(key Key, node, kind string) error {
	var mine []string
	for _, s := range p.Signers {
		if !slices.ContainsFunc(s.Keys, func(k string) bool { return slices.Contains(key.IDs, k) }) {
			continue
		}
		mine = append(mine, s.Name)
		if s.allows(node, kind) {
			return nil
		}
	}
	if len(mine) == 0 {
		return fmt.Errorf("key %s is in no signer of the trust policy %s", key.Name, p.File)
	}
	return fmt.Errorf("key %s (signer %s of %s) may not change a %s on node %s", key.Name, strings.Join(mine, ", "), p.File, kind, node)
}

func (s *Signer) allows(node, kind string) bool {
	if len(s.Kinds) > 0 && !slices.Contains(s.Kinds, kind) {
		return false
	}
	for _, g := range s.Nodes {
		if ok, _ := path.Match(g, node); ok {
			return true
		}
	}
	return false
}

func kindNames() string {
	var names []string
	for _, k := range spec.Kinds() {
		names = append(names, k.Name)
	}
	return strings.Join(names, ", ")
}
