package skydivetest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// wireElement is a node or an edge as a message or a REST body carries it.
// Times are pointers because a missing or null time and a time of 0 are
// told apart: the first becomes "now", the second is 1970.
type wireElement struct {
	ID        string
	Metadata  map[string]json.RawMessage
	Parent    string
	Child     string
	Host      string
	Origin    string
	CreatedAt *int64
	UpdatedAt *int64
	DeletedAt *int64
	Revision  int64
}

// errParse heads the errors of elements the analyzer cannot decode; it
// drops the whole message that carried them.
var errParse = errors.New("unable to parse")

// parseNode decodes a node as the analyzer does: an ID is required, a
// missing CreatedAt or UpdatedAt is now, and the metadata go through the
// registered decoders (metadataDecoders), a decoder's error failing the
// whole node. deletedAt is the node's DeletedAt, 0 when it has none.
func parseNode(raw json.RawMessage) (n Node, deletedAt int64, err error) {
	w, err := parseWire(raw)
	if err != nil {
		return Node{}, 0, err
	}
	md, err := decodeMetadata(w.Metadata)
	if err != nil {
		return Node{}, 0, err
	}
	created, updated := times(w)
	return Node{ID: w.ID, Metadata: md, Host: w.Host, Origin: w.Origin,
		CreatedAt: created, UpdatedAt: updated, Revision: w.Revision}, deref(w.DeletedAt), nil
}

// parseEdge is parseNode for edges, which also need a Parent and a Child
// (graffiti's Edge.UnmarshalJSON refuses an edge without them, deletes
// included). No edge metadata key has a decoder.
func parseEdge(raw json.RawMessage) (e Edge, deletedAt int64, err error) {
	w, err := parseWire(raw)
	if err != nil {
		return Edge{}, 0, err
	}
	switch {
	case w.Parent == "":
		return Edge{}, 0, fmt.Errorf("%w: parent ID wrong format", errParse)
	case w.Child == "":
		return Edge{}, 0, fmt.Errorf("%w: child ID wrong format", errParse)
	}
	md, err := decodeGeneric(w.Metadata)
	if err != nil {
		return Edge{}, 0, err
	}
	created, updated := times(w)
	return Edge{ID: w.ID, Metadata: md, Parent: w.Parent, Child: w.Child, Host: w.Host, Origin: w.Origin,
		CreatedAt: created, UpdatedAt: updated, Revision: w.Revision}, deref(w.DeletedAt), nil
}

// parseTopology decodes the Nodes and Edges of a Sync (or of a SyncReply a
// publisher sends): one element the analyzer cannot decode drops them all.
func parseTopology(raw json.RawMessage) ([]Node, []Edge, error) {
	var t struct{ Nodes, Edges []json.RawMessage }
	if len(bytes.TrimSpace(raw)) == 0 || isNull(raw) {
		return nil, nil, fmt.Errorf("%w: no Obj", errParse)
	}
	if err := json.Unmarshal(raw, &t); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", errParse, err)
	}
	nodes := make([]Node, 0, len(t.Nodes))
	for _, r := range t.Nodes {
		n, _, err := parseNode(r)
		if err != nil {
			return nil, nil, err
		}
		nodes = append(nodes, n)
	}
	edges := make([]Edge, 0, len(t.Edges))
	for _, r := range t.Edges {
		e, _, err := parseEdge(r)
		if err != nil {
			return nil, nil, err
		}
		edges = append(edges, e)
	}
	return nodes, edges, nil
}

func parseWire(raw json.RawMessage) (wireElement, error) {
	var w wireElement
	if len(bytes.TrimSpace(raw)) == 0 || isNull(raw) {
		return w, fmt.Errorf("%w: no Obj", errParse)
	}
	if err := json.Unmarshal(raw, &w); err != nil {
		return w, fmt.Errorf("%w: %v", errParse, err)
	}
	if w.ID == "" {
		return w, fmt.Errorf("%w: no ID found for graph element", errParse)
	}
	return w, nil
}

// decodeMetadata decodes node metadata: through the key's decoder when the
// analyzer registers one, as plain JSON otherwise. Metadata are never nil.
func decodeMetadata(raw map[string]json.RawMessage) (map[string]any, error) {
	md := make(map[string]any, len(raw))
	for k, r := range raw {
		var v any
		var err error
		if dec, ok := metadataDecoders[k]; ok {
			v, err = dec(r)
		} else {
			err = json.Unmarshal(r, &v)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: metadata %s: %v", errParse, k, err)
		}
		md[k] = v
	}
	return md, nil
}

// decodeGeneric decodes metadata without any decoder (edge metadata).
func decodeGeneric(raw map[string]json.RawMessage) (map[string]any, error) {
	md := make(map[string]any, len(raw))
	for k, r := range raw {
		var v any
		if err := json.Unmarshal(r, &v); err != nil {
			return nil, fmt.Errorf("%w: metadata %s: %v", errParse, k, err)
		}
		md[k] = v
	}
	return md, nil
}

// times are an element's CreatedAt and UpdatedAt: as sent, 0 included,
// or now when missing or null.
func times(w wireElement) (created, updated int64) {
	now := nowMS()
	created, updated = now, now
	if w.CreatedAt != nil {
		created = *w.CreatedAt
	}
	if w.UpdatedAt != nil {
		updated = *w.UpdatedAt
	}
	return created, updated
}

func deref(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}
