package spec

import (
	"fmt"
	"sort"
	"strings"
)

// Position is a place in a spec file; Line and Column count from 1.
type Position struct {
	File   string `json:"file"`
	Line   int    `json:"line"`
	Column int    `json:"column"`
}

func (p Position) String() string { return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Column) }

// Severity of a diagnostic.
type Severity string

// Severities. Any error makes a spec tree invalid; warnings do not.
const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
)

// Diagnostic is one problem found in a spec tree: where it is, which object
// and field it concerns, and what would be valid.
type Diagnostic struct {
	Position
	Severity Severity `json:"severity"`
	// Kind and Name of the document, when known.
	Kind string `json:"kind,omitempty"`
	Name string `json:"name,omitempty"`
	// Field is the path of the field inside the document, e.g. spec.output.port.
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// String renders the diagnostic as file:line:col: severity: Kind/name: field: message.
func (d Diagnostic) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s: ", d.Position, d.Severity)
	if obj := d.Object(); obj != "" {
		b.WriteString(obj)
		b.WriteString(": ")
	}
	if d.Field != "" {
		b.WriteString(d.Field)
		b.WriteString(": ")
	}
	b.WriteString(d.Message)
	return b.String()
}

// Object is "Kind/name" for the document the diagnostic concerns, or "" when
// the problem is not inside a recognisable document.
func (d Diagnostic) Object() string {
	switch {
	case d.Kind != "" && d.Name != "":
		return d.Kind + "/" + d.Name
	case d.Kind != "":
		return d.Kind + "/?"
	case d.Name != "":
		return "?/" + d.Name
	}
	return ""
}

// Diagnostics is a list of problems, usually all those found in one tree.
type Diagnostics []Diagnostic

// HasErrors reports whether any diagnostic is an error.
func (ds Diagnostics) HasErrors() bool { return ds.ErrorCount() > 0 }

// ErrorCount is the number of diagnostics that are errors.
func (ds Diagnostics) ErrorCount() int {
	n := 0
	for _, d := range ds {
		if d.Severity == SeverityError {
			n++
		}
	}
	return n
}

// Sort orders diagnostics by file, line, column, then message, so output is stable.
func (ds Diagnostics) Sort() {
	sort.SliceStable(ds, func(i, j int) bool {
		a, b := ds[i], ds[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Column != b.Column {
			return a.Column < b.Column
		}
		return a.Field+a.Message < b.Field+b.Message
	})
}

// Err returns nil when there are no errors, else an error listing them all.
func (ds Diagnostics) Err() error {
	if !ds.HasErrors() {
		return nil
	}
	return &InvalidError{Diagnostics: ds}
}

// InvalidError is returned for a spec tree with errors; it keeps every diagnostic.
type InvalidError struct{ Diagnostics Diagnostics }

func (e *InvalidError) Error() string {
	n := e.Diagnostics.ErrorCount()
	var first string
	for _, d := range e.Diagnostics {
		if d.Severity == SeverityError {
			first = d.String()
			break
		}
	}
	if n == 1 {
		return "spec: invalid: " + first
	}
	return fmt.Sprintf("spec: invalid: %s (and %d more errors)", first, n-1)
}
