package skydive

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
)

// The analyzer does not keep node metadata as it was sent: at start it
// registers typed decoders for some top-level keys, and what it stores,
// and serves over REST, is the decoded value encoded again. A field the
// decoder's structure has no slot for is dropped, and so is an empty
// field tagged omitempty; a field without omitempty is always there, with
// its zero value when it was not sent. Of the keys SkyDive v0.28 decodes
// (Ovs, Container, Metric, LastUpdateMetric), the export sends two, Ovs
// and Container; every other key it sends is kept as generic JSON.
//
// asAnalyzerKeeps applies those decoders, so that the read-back compares
// what was published with what the analyzer holds as the analyzer sees
// both: a graph it holds correctly is never a difference.

// ovsFields are the fields of SkyDive's OvsMetadata
// (topology/probes/ovsdb), all omitempty: OtherConfig and Options are
// maps of strings, Protocols a list of strings, DBVersion, Version and
// Error strings, Metric and LastUpdateMetric interface metrics.
var ovsFields = []string{"OtherConfig", "Options", "Protocols", "DBVersion", "Version", "Error", "Metric", "LastUpdateMetric"}

// nodeDecoders are the analyzer's decoders of the keys the export sends.
var nodeDecoders = map[string]func(map[string]any) map[string]any{
	"Ovs":       decodeOvs,
	"Container": decodeContainer,
}

// asAnalyzerKeeps returns md as the analyzer stores it: the keys it
// decodes through SkyDive's decoders, the rest as it is. md is metadata
// decoded from JSON (numbers as float64, as the analyzer decodes them);
// it is not changed. A decoded key sent as null is the empty structure;
// one of another JSON type is left as it is (the analyzer refuses the
// element, which then shows as missing).
func asAnalyzerKeeps(md map[string]any) map[string]any {
	var out map[string]any
	for key, decode := range nodeDecoders {
		raw, present := md[key]
		v, isObject := raw.(map[string]any)
		if !present || (!isObject && raw != nil) {
			continue
		}
		if out == nil {
			out = maps.Clone(md)
		}
		out[key] = decode(v)
	}
	if out == nil {
		return md
	}
	return out
}

// decodeOvs keeps the OvsMetadata fields of v that omitempty keeps: a
// non-empty map, list or string, a metric that is not null.
func decodeOvs(v map[string]any) map[string]any {
	out := map[string]any{}
	for _, f := range ovsFields {
		x, ok := v[f]
		if !ok || x == nil {
			continue
		}
		switch x := x.(type) {
		case map[string]any:
			if len(x) == 0 && f != "Metric" && f != "LastUpdateMetric" {
				continue
			}
		case []any:
			if len(x) == 0 {
				continue
			}
		case string:
			if x == "" {
				continue
			}
		}
		out[f] = x
	}
	return out
}

// decodeContainer is SkyDive's ContainerMetadata (topology): ID, Runtime
// and Status (strings) and InitProcessPID (a number) are always kept, ""
// and 0 when missing; Image and ImageID only when not empty; Hosts always,
// with IP and Hostname when not empty and ByIP when not an empty object;
// Labels (free-form) when not an empty object. Other keys are dropped.
func decodeContainer(v map[string]any) map[string]any {
	out := map[string]any{"ID": "", "Runtime": "", "Status": "", "InitProcessPID": 0.0, "Hosts": map[string]any{}}
	for _, f := range []string{"ID", "Runtime", "Status", "InitProcessPID"} {
		if x, ok := v[f]; ok && x != nil {
			out[f] = x
		}
	}
	keepNonEmpty(out, v, "Image", "ImageID", "Labels")
	if h, ok := v["Hosts"].(map[string]any); ok {
		hosts := map[string]any{}
		keepNonEmpty(hosts, h, "IP", "Hostname", "ByIP")
		out["Hosts"] = hosts
	} else if x, ok := v["Hosts"]; ok && x != nil {
		out["Hosts"] = x // of another type: the analyzer refuses it
	}
	return out
}

// keepNonEmpty copies the fields of v that omitempty keeps into out: not
// null, not "", not an empty object.
func keepNonEmpty(out, v map[string]any, fields ...string) {
	for _, f := range fields {
		switch x := v[f].(type) {
		case nil:
		case string:
			if x != "" {
				out[f] = x
			}
		case map[string]any:
			if len(x) > 0 {
				out[f] = x
			}
		default:
			out[f] = x
		}
	}
}

// decodeMetadata parses encoded metadata the way the analyzer does
// (numbers as float64) and applies its decoders.
func decodeMetadata(b []byte) (map[string]any, error) {
	var md map[string]any
	if err := json.Unmarshal(b, &md); err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	return asAnalyzerKeeps(md), nil
}

// differingKeys lists the keys whose values differ between a and b,
// sorted, one level into objects ("Ovs.OtherConfig", "Vlans").
func differingKeys(a, b map[string]any) []string {
	var out []string
	for _, k := range unionKeys(a, b) {
		va, vb := a[k], b[k]
		if reflect.DeepEqual(va, vb) {
			continue
		}
		ma, okA := va.(map[string]any)
		mb, okB := vb.(map[string]any)
		if !okA || !okB {
			out = append(out, k)
			continue
		}
		for _, sub := range unionKeys(ma, mb) {
			if !reflect.DeepEqual(ma[sub], mb[sub]) {
				out = append(out, k+"."+sub)
			}
		}
	}
	return out
}

func unionKeys(a, b map[string]any) []string {
	keys := slices.Collect(maps.Keys(a))
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}
