package spec

import (
	"reflect"
	"strings"
	"time"
)

// Object is one decoded document: the envelope plus the kind's spec, with the
// source position of every field so later stages can point back at the file.
type Object struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Metadata   Metadata `json:"metadata"`
	// Spec is a pointer to the kind's spec type, e.g. *MirrorSpec.
	Spec any `json:"spec"`
	// Source is where the document starts.
	Source Position `json:"-"`

	fields map[string]Position
	// failed lists the fields that already have a diagnostic, so that checks
	// depending on them stay quiet instead of cascading.
	failed []string
}

// anyFailed reports whether a field at or under any of the paths has a diagnostic.
func (o *Object) anyFailed(paths ...string) bool {
	for _, f := range o.failed {
		for _, p := range paths {
			if f == p || strings.HasPrefix(f, p+".") || strings.HasPrefix(f, p+"[") {
				return true
			}
		}
	}
	return false
}

// ID is "Kind/name", unique in a valid tree.
func (o *Object) ID() string { return o.Kind + "/" + o.Metadata.Name }

// Suspended reports whether the wirekeeper.io/suspend annotation pauses the object.
func (o *Object) Suspended() bool { return o.Metadata.Annotations[AnnotationSuspend] == "true" }

// Position returns where the field at path (e.g. "spec.output.port") is
// written; for a field that is absent, the position of its nearest present
// parent, and finally of the document.
func (o *Object) Position(path string) Position {
	for path != "" {
		if p, ok := o.fields[path]; ok {
			return p
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return o.Source
}

// AnnotationSuspend pauses reconciliation of an object when set to "true".
const AnnotationSuspend = "wirekeeper.io/suspend"

// KnownAnnotations returns the wirekeeper.io/ annotations wirekeeper reads,
// each with its valid values. Any other wirekeeper.io/ annotation is refused.
func KnownAnnotations() map[string][]string {
	out := make(map[string][]string, len(knownAnnotations))
	for k, v := range knownAnnotations {
		out[k] = append([]string(nil), v...)
	}
	return out
}

// knownAnnotations are the annotations wirekeeper reads, with their valid values;
// other wirekeeper.io/ annotations are refused so that a typo cannot go unnoticed.
var knownAnnotations = map[string][]string{
	AnnotationSuspend: {"true", "false"},
}

// KindInfo describes one kind of document.
type KindInfo struct {
	Name string
	// Type is the kind's spec struct type, e.g. MirrorSpec.
	Type reflect.Type
}

// kinds is the ordered registry of document kinds.
var kinds = []KindInfo{
	{"OVSManager", reflect.TypeFor[OVSManagerSpec]()},
	{"Bridge", reflect.TypeFor[BridgeSpec]()},
	{"Mirror", reflect.TypeFor[MirrorSpec]()},
	{"ContainerPort", reflect.TypeFor[ContainerPortSpec]()},
	{"CollectorTarget", reflect.TypeFor[CollectorTargetSpec]()},
	{"SkyDiveExport", reflect.TypeFor[SkyDiveExportSpec]()},
}

// Kinds lists the kinds of document this build understands, in a stable order.
func Kinds() []KindInfo { return append([]KindInfo(nil), kinds...) }

func kindNames() []string {
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = k.Name
	}
	return names
}

func lookupKind(name string) (KindInfo, bool) {
	for _, k := range kinds {
		if k.Name == name {
			return k, true
		}
	}
	return KindInfo{}, false
}

// Duration is a Go duration written as a string such as "90s" or "48h".
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText renders the duration in Go syntax.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText parses Go duration syntax.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	*d = Duration(v)
	return err
}
