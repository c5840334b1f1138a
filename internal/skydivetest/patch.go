package skydivetest

import (
	"errors"
	"fmt"
	"strings"
)

// patchOp is one operation of a JSON Patch (RFC 6902).
type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"`
}

// errPatch heads the errors of patches the stand-in cannot apply.
var errPatch = errors.New("invalid patch")

// patchMetadata applies ops (add, replace, remove on /Metadata and maps
// below it) to a copy of md and returns it; md is left alone.
func patchMetadata(md map[string]any, ops []patchOp) (map[string]any, error) {
	cp := cloneMap(md)
	if cp == nil {
		cp = map[string]any{}
	}
	root := map[string]any{"Metadata": cp}
	for _, op := range ops {
		if op.Path != "/Metadata" && !strings.HasPrefix(op.Path, "/Metadata/") {
			return nil, fmt.Errorf("%w: %s %s: only /Metadata can be patched", errPatch, op.Op, op.Path)
		}
		tokens := strings.Split(op.Path[1:], "/")
		for i, t := range tokens {
			tokens[i] = strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~")
		}
		parent := root
		for _, t := range tokens[:len(tokens)-1] {
			m, ok := parent[t].(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%w: %s %s: %q is not an object", errPatch, op.Op, op.Path, t)
			}
			parent = m
		}
		key := tokens[len(tokens)-1]
		_, exists := parent[key]
		switch {
		case op.Op == "add", op.Op == "replace" && exists:
			parent[key] = op.Value
		case op.Op == "remove" && exists:
			delete(parent, key)
		case op.Op == "replace", op.Op == "remove":
			return nil, fmt.Errorf("%w: %s %s: no such member", errPatch, op.Op, op.Path)
		default:
			return nil, fmt.Errorf("%w: operation %q not supported", errPatch, op.Op)
		}
	}
	out, ok := root["Metadata"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: Metadata must stay an object", errPatch)
	}
	return out, nil
}
