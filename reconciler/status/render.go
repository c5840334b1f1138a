package status

import (
	"errors"
	"fmt"

	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/spec"
)

// Render writes the three files of ns.Node (see Paths). It is a pure
// function of its input: the same status and set always give the same
// bytes. Objects are sorted by kind (registry order) then name, conditions by
// type, and the drift log newest first, bounded to reconciler.MaxDriftEvents.
// set is the enforced revision, used for the topology diagram; nil before the
// first good revision. ns is not modified.
func Render(ns *reconciler.NodeStatus, set *spec.Set) (Files, error) {
	if ns == nil {
		return nil, errors.New("status: render: no status")
	}
	if err := checkNode(ns.Node); err != nil {
		return nil, err
	}
	c, err := canonical(ns)
	if err != nil {
		return nil, err
	}
	y, err := renderYAML(c)
	if err != nil {
		return nil, err
	}
	drift, err := renderDrift(c)
	if err != nil {
		return nil, err
	}
	return Files{
		yamlPath(ns.Node):     y,
		markdownPath(ns.Node): renderMarkdown(c, set),
		driftPath(ns.Node):    drift,
	}, nil
}

// Parse is the inverse of Render: it reads status/<node>.yaml and the drift
// log of drift/<node>.md (from its machine-readable block) back into a
// NodeStatus. The YAML file is required; a missing drift log means no drift.
// Diff values come back in their plain form (strings, ints, []string, maps),
// as Render writes them.
func Parse(node string, files Files) (*reconciler.NodeStatus, error) {
	if err := checkNode(node); err != nil {
		return nil, err
	}
	y, ok := files[yamlPath(node)]
	if !ok {
		return nil, fmt.Errorf("status: parse: %s is missing", yamlPath(node))
	}
	ns, err := parseYAML(node, y)
	if err != nil {
		return nil, err
	}
	if d, ok := files[driftPath(node)]; ok {
		if ns.Drift, err = parseDrift(node, d); err != nil {
			return nil, err
		}
	}
	return ns, nil
}
