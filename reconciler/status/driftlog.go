package status

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/wirekeeper/wirekeeper/reconciler"
)

// The drift log keeps its events twice: a table for people and, in an HTML
// comment that Markdown renderers hide, one JSON object per line for Parse.
// json.Marshal escapes '<' and '>', so no event can close the comment early.
const (
	driftBlockStart = "<!-- wirekeeper:drift-log v1"
	driftBlockEnd   = "-->"
)

// driftLine is one event in the machine-readable block.
type driftLine struct {
	Time       string     `json:"time"`
	Kind       string     `json:"kind"`
	Name       string     `json:"name"`
	Revision   string     `json:"revision,omitempty"`
	Diff       []diffLine `json:"diff"`
	Repaired   bool       `json:"repaired"`
	RepairedAt string     `json:"repairedAt,omitempty"`
	Policy     string     `json:"policy"`
	Adopted    bool       `json:"adopted,omitempty"`
}

type diffLine struct {
	Path string `json:"path"`
	From any    `json:"from"`
	To   any    `json:"to"`
}

// renderDrift writes drift/<node>.md from a canonical status (whose drift log
// is already newest first and bounded).
func renderDrift(ns *reconciler.NodeStatus) ([]byte, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "<!-- %s -->\n", generatedNote)
	fmt.Fprintf(&b, "# Drift log of %s\n\n", mdText(ns.Node))
	switch len(ns.Drift) {
	case 0:
		b.WriteString("No drift seen.\n\n")
	case 1:
		fmt.Fprintf(&b, "1 event (the last %d are kept).\n\n", reconciler.MaxDriftEvents)
	default:
		fmt.Fprintf(&b, "%d events, newest first (the last %d are kept).\n\n", len(ns.Drift), reconciler.MaxDriftEvents)
	}
	if len(ns.Drift) > 0 {
		b.WriteString("| When | Object | Field | From | To | Outcome |\n")
		b.WriteString("|---|---|---|---|---|---|\n")
	}
	for i := range ns.Drift {
		e := &ns.Drift[i]
		obj := cell(reconciler.Ref{Kind: e.Kind, Name: e.Name}.String())
		outcome := cell(e.Outcome())
		if len(e.Diff) == 0 {
			fmt.Fprintf(&b, "| %s | %s | — | | | %s |\n", reconciler.HumanTime(e.Time), obj, outcome)
		}
		for _, d := range e.Diff {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", reconciler.HumanTime(e.Time), obj, cell(d.Path),
				cell(reconciler.FormatValue(d.From)), cell(reconciler.FormatValue(d.To)), outcome)
		}
	}
	if len(ns.Drift) > 0 {
		b.WriteString("\n")
	}
	b.WriteString(driftBlockStart + "\n")
	for _, e := range ns.Drift {
		line := driftLine{Time: formatTime(e.Time), Kind: e.Kind, Name: e.Name, Revision: e.Revision,
			Diff: make([]diffLine, 0, len(e.Diff)), Repaired: e.Repaired, Policy: e.Policy, Adopted: e.Adopted}
		if e.RepairedAt != nil {
			line.RepairedAt = formatTime(*e.RepairedAt)
		}
		for _, d := range e.Diff {
			line.Diff = append(line.Diff, diffLine{Path: d.Path, From: d.From, To: d.To})
		}
		data, err := json.Marshal(line)
		if err != nil {
			return nil, fmt.Errorf("status: encode drift event of %s/%s: %w", e.Kind, e.Name, err)
		}
		b.Write(data)
		b.WriteString("\n")
	}
	b.WriteString(driftBlockEnd + "\n")
	return []byte(b.String()), nil
}

// parseDrift reads the events back from the machine-readable block of
// drift/<node>.md.
func parseDrift(node string, data []byte) ([]reconciler.DriftEvent, error) {
	name := driftPath(node)
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 16<<20)
	var events []reconciler.DriftEvent
	lineNo, inBlock, closed := 0, false, false
	for sc.Scan() {
		lineNo++
		line := strings.TrimRight(sc.Text(), "\r")
		if !inBlock {
			if line == driftBlockStart {
				inBlock = true
			}
			continue
		}
		if line == driftBlockEnd {
			closed = true
			break
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		e, err := parseDriftLine(line)
		if err != nil {
			return nil, fmt.Errorf("status: %s:%d: %w", name, lineNo, err)
		}
		events = append(events, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("status: read %s: %w", name, err)
	}
	switch {
	case !inBlock:
		return nil, fmt.Errorf("status: %s has no %q block; it was not written by wirekeeper", name, driftBlockStart)
	case !closed:
		return nil, fmt.Errorf("status: %s: the %q block is not closed by %q", name, driftBlockStart, driftBlockEnd)
	}
	return events, nil
}

func parseDriftLine(line string) (reconciler.DriftEvent, error) {
	dec := json.NewDecoder(strings.NewReader(line))
	dec.UseNumber()
	dec.DisallowUnknownFields()
	var dl driftLine
	if err := dec.Decode(&dl); err != nil {
		return reconciler.DriftEvent{}, fmt.Errorf("invalid drift event: %w", err)
	}
	if dl.Kind == "" || dl.Name == "" {
		return reconciler.DriftEvent{}, fmt.Errorf("invalid drift event: kind and name are required")
	}
	e := reconciler.DriftEvent{Kind: dl.Kind, Name: dl.Name, Revision: dl.Revision, Repaired: dl.Repaired, Policy: dl.Policy, Adopted: dl.Adopted}
	var err error
	if e.Time, err = parseTime(dl.Time); err != nil {
		return e, fmt.Errorf("invalid drift event: time: %w", err)
	}
	if dl.RepairedAt != "" {
		t, err := parseTime(dl.RepairedAt)
		if err != nil {
			return e, fmt.Errorf("invalid drift event: repairedAt: %w", err)
		}
		e.RepairedAt = &t
	}
	for _, d := range dl.Diff {
		e.Diff = append(e.Diff, reconciler.FieldDiff{Path: d.Path, From: plainValue(d.From), To: plainValue(d.To)})
	}
	return e, nil
}
