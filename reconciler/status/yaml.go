package status

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"

	"gopkg.in/yaml.v3"

	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/spec"
)

// statusDoc is status/<node>.yaml. It is a struct of its own, rather than
// reconciler.NodeStatus, so that the key order and time format are fixed
// here and do not move when the engine's types grow.
type statusDoc struct {
	Node            string `yaml:"node"`
	Branch          string `yaml:"branch"`
	Path            string `yaml:"path,omitempty"`
	AppliedRevision string `yaml:"appliedRevision"`
	// Reported is absent from files written before it existed.
	Reported string      `yaml:"reported,omitempty"`
	Refused  *refusedDoc `yaml:"refused,omitempty"`
	Source   *sourceDoc  `yaml:"source,omitempty"`
	Summary  summaryDoc  `yaml:"summary"`
	Objects  []objectDoc `yaml:"objects"`
}

type refusedDoc struct {
	Revision    string   `yaml:"revision"`
	Reason      string   `yaml:"reason"`
	Message     string   `yaml:"message"`
	Since       string   `yaml:"since"`
	Diagnostics []string `yaml:"diagnostics,omitempty"`
	// DiagnosticsOmitted counts the diagnostics past the first
	// reconciler.MaxListed, which the file leaves out.
	DiagnosticsOmitted int `yaml:"diagnosticsOmitted,omitempty"`
}

type sourceDoc struct {
	Reason  string `yaml:"reason"`
	Message string `yaml:"message"`
	Since   string `yaml:"since"`
}

// summaryDoc counts objects by phase; it is output only (Parse recomputes).
type summaryDoc struct {
	Total     int `yaml:"total"`
	Ready     int `yaml:"ready"`
	Drifted   int `yaml:"drifted"`
	Pending   int `yaml:"pending"`
	Degraded  int `yaml:"degraded"`
	Failed    int `yaml:"failed"`
	Suspended int `yaml:"suspended"`
}

type objectDoc struct {
	Kind       string         `yaml:"kind"`
	Name       string         `yaml:"name"`
	Phase      string         `yaml:"phase"`
	Revision   string         `yaml:"revision,omitempty"`
	Message    string         `yaml:"message,omitempty"`
	Conditions []conditionDoc `yaml:"conditions,omitempty"`
	LastDrift  *lastDriftDoc  `yaml:"lastDrift,omitempty"`
	Unmanaged  []string       `yaml:"unmanaged,omitempty"`
	Details    []string       `yaml:"details,omitempty"`
}

type conditionDoc struct {
	Type               string `yaml:"type"`
	Status             string `yaml:"status"`
	Reason             string `yaml:"reason"`
	Message            string `yaml:"message,omitempty"`
	LastTransitionTime string `yaml:"lastTransitionTime,omitempty"`
}

type lastDriftDoc struct {
	Time       string    `yaml:"time"`
	Revision   string    `yaml:"revision,omitempty"`
	Diff       []diffDoc `yaml:"diff"`
	Repaired   bool      `yaml:"repaired"`
	RepairedAt string    `yaml:"repairedAt,omitempty"`
	Policy     string    `yaml:"policy"`
	Adopted    bool      `yaml:"adopted,omitempty"`
}

type diffDoc struct {
	Path string `yaml:"path"`
	From any    `yaml:"from"`
	To   any    `yaml:"to"`
}

// renderYAML writes status/<node>.yaml from a canonical status.
func renderYAML(ns *reconciler.NodeStatus) ([]byte, error) {
	doc := statusDoc{
		Node:            ns.Node,
		Branch:          ns.Branch,
		Path:            ns.Path,
		AppliedRevision: ns.AppliedRevision,
		Reported:        formatTime(ns.Reported),
		Objects:         make([]objectDoc, 0, len(ns.Objects)),
	}
	if r := ns.Refused; r != nil {
		doc.Refused = &refusedDoc{Revision: r.Revision, Reason: r.Reason, Message: r.Message, Since: formatTime(r.Since), DiagnosticsOmitted: r.DiagnosticsOmitted}
		for _, d := range r.Diagnostics {
			doc.Refused.Diagnostics = append(doc.Refused.Diagnostics, d.String())
		}
	}
	if s := ns.Source; s != nil {
		doc.Source = &sourceDoc{Reason: s.Reason, Message: s.Message, Since: formatTime(s.Since)}
	}
	counts := ns.Counts()
	doc.Summary = summaryDoc{
		Total:     len(ns.Objects),
		Ready:     counts[reconciler.PhaseReady],
		Drifted:   counts[reconciler.PhaseDrifted],
		Pending:   counts[reconciler.PhasePending],
		Degraded:  counts[reconciler.PhaseDegraded],
		Failed:    counts[reconciler.PhaseFailed],
		Suspended: counts[reconciler.PhaseSuspended],
	}
	for _, o := range ns.Objects {
		od := objectDoc{Kind: o.Kind, Name: o.Name, Phase: string(o.Phase), Revision: o.Revision, Message: o.Message, Unmanaged: o.Unmanaged, Details: o.Details}
		for _, c := range o.Conditions {
			od.Conditions = append(od.Conditions, conditionDoc{
				Type: c.Type, Status: c.Status, Reason: c.Reason, Message: c.Message,
				LastTransitionTime: formatTime(c.LastTransitionTime),
			})
		}
		if d := o.LastDrift; d != nil {
			ld := &lastDriftDoc{Time: formatTime(d.Time), Revision: d.Revision, Repaired: d.Repaired, Policy: d.Policy, Adopted: d.Adopted, Diff: []diffDoc{}}
			if d.RepairedAt != nil {
				ld.RepairedAt = formatTime(*d.RepairedAt)
			}
			for _, fd := range d.Diff {
				ld.Diff = append(ld.Diff, diffDoc{Path: fd.Path, From: fd.From, To: fd.To})
			}
			od.LastDrift = ld
		}
		doc.Objects = append(doc.Objects, od)
	}
	var buf bytes.Buffer
	buf.WriteString("# " + generatedNote + "\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, fmt.Errorf("status: encode %s: %w", yamlPath(ns.Node), err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("status: encode %s: %w", yamlPath(ns.Node), err)
	}
	return buf.Bytes(), nil
}

// parseYAML reads status/<node>.yaml back into a NodeStatus (without the
// drift log, which lives in drift/<node>.md).
func parseYAML(node string, data []byte) (*reconciler.NodeStatus, error) {
	name := yamlPath(node)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var doc statusDoc
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("status: %s is empty", name)
		}
		return nil, fmt.Errorf("status: %s: %w", name, err)
	}
	if doc.Node != node {
		return nil, fmt.Errorf("status: %s: node is %q, want %q", name, doc.Node, node)
	}
	ns := &reconciler.NodeStatus{Node: doc.Node, Branch: doc.Branch, Path: doc.Path, AppliedRevision: doc.AppliedRevision}
	var err error
	fail := func(field string, err error) error { return fmt.Errorf("status: %s: %s: %w", name, field, err) }
	if ns.Reported, err = parseTime(doc.Reported); err != nil {
		return nil, fail("reported", err)
	}
	if r := doc.Refused; r != nil {
		if r.DiagnosticsOmitted < 0 {
			return nil, fail("refused.diagnosticsOmitted", fmt.Errorf("%d is negative", r.DiagnosticsOmitted))
		}
		ns.Refused = &reconciler.RefusedRevision{Revision: r.Revision, Reason: r.Reason, Message: r.Message, DiagnosticsOmitted: r.DiagnosticsOmitted}
		if ns.Refused.Since, err = parseTime(r.Since); err != nil {
			return nil, fail("refused.since", err)
		}
		for i, s := range r.Diagnostics {
			d, err := parseDiagnostic(s)
			if err != nil {
				return nil, fail(fmt.Sprintf("refused.diagnostics[%d]", i), err)
			}
			ns.Refused.Diagnostics = append(ns.Refused.Diagnostics, d)
		}
	}
	if s := doc.Source; s != nil {
		ns.Source = &reconciler.SourceProblem{Reason: s.Reason, Message: s.Message}
		if ns.Source.Since, err = parseTime(s.Since); err != nil {
			return nil, fail("source.since", err)
		}
	}
	for i, od := range doc.Objects {
		field := fmt.Sprintf("objects[%d]", i)
		if od.Kind == "" || od.Name == "" {
			return nil, fail(field, errors.New("kind and name are required"))
		}
		o := reconciler.ObjectStatus{Kind: od.Kind, Name: od.Name, Phase: reconciler.Phase(od.Phase), Revision: od.Revision, Message: od.Message, Unmanaged: od.Unmanaged, Details: od.Details}
		for j, cd := range od.Conditions {
			c := reconciler.Condition{Type: cd.Type, Status: cd.Status, Reason: cd.Reason, Message: cd.Message}
			if c.LastTransitionTime, err = parseTime(cd.LastTransitionTime); err != nil {
				return nil, fail(fmt.Sprintf("%s.conditions[%d].lastTransitionTime", field, j), err)
			}
			o.Conditions = append(o.Conditions, c)
		}
		if ld := od.LastDrift; ld != nil {
			d := &reconciler.DriftEvent{Kind: od.Kind, Name: od.Name, Revision: ld.Revision, Repaired: ld.Repaired, Policy: ld.Policy, Adopted: ld.Adopted}
			if d.Time, err = parseTime(ld.Time); err != nil {
				return nil, fail(field+".lastDrift.time", err)
			}
			if ld.RepairedAt != "" {
				t, err := parseTime(ld.RepairedAt)
				if err != nil {
					return nil, fail(field+".lastDrift.repairedAt", err)
				}
				d.RepairedAt = &t
			}
			for _, fd := range ld.Diff {
				d.Diff = append(d.Diff, reconciler.FieldDiff{Path: fd.Path, From: plainValue(fd.From), To: plainValue(fd.To)})
			}
			o.LastDrift = d
		}
		ns.Objects = append(ns.Objects, o)
	}
	return ns, nil
}

// diagnosticLine is spec.Diagnostic.String's layout:
// file:line:col: severity: [Kind/name: ][field: ]message.
var (
	diagnosticLine = regexp.MustCompile(`(?s)^(.*?):(\d+):(\d+): (error|warning): (.*)$`)
	diagnosticObj  = regexp.MustCompile(`^([A-Z][A-Za-z0-9]*|\?)/([^\s:/]*): `)
	diagnosticPath = regexp.MustCompile(`^((apiVersion|kind|metadata|spec)([.\[][^\s:]*)?): `)
)

// parseDiagnostic reverses spec.Diagnostic.String. The object is recognised
// as Kind/name and the field as a path under apiVersion, kind, metadata or
// spec, which is what the validator reports.
func parseDiagnostic(s string) (spec.Diagnostic, error) {
	m := diagnosticLine.FindStringSubmatch(s)
	if m == nil {
		return spec.Diagnostic{}, fmt.Errorf("%q is not a diagnostic: want file:line:column: error|warning: message", s)
	}
	line, _ := strconv.Atoi(m[2])
	col, _ := strconv.Atoi(m[3])
	d := spec.Diagnostic{Position: spec.Position{File: m[1], Line: line, Column: col}, Severity: spec.Severity(m[4])}
	rest := m[5]
	if om := diagnosticObj.FindStringSubmatch(rest); om != nil {
		d.Kind, d.Name = om[1], om[2]
		if d.Kind == "?" {
			d.Kind = ""
		}
		if d.Name == "?" {
			d.Name = ""
		}
		rest = rest[len(om[0]):]
	}
	if pm := diagnosticPath.FindStringSubmatch(rest); pm != nil {
		d.Field = pm[1]
		rest = rest[len(pm[0]):]
	}
	d.Message = rest
	return d, nil
}
