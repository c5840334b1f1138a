package reconciler

import (
	"fmt"
	"unicode/utf8"

	"github.com/wirekeeper/wirekeeper/spec"
)

// Whoever can commit a spec controls how long many lists and texts in the
// reports are: one spec file can hold 60,000 invalid list items, each a
// diagnostic, and a value echoed in an error can be 1 MiB long. The reports
// written for people and pushed to Git (status files and their commit
// messages, the plan comment) show a bounded part of them and count the rest.
const (
	// MaxListed is how many entries of such a list a report shows.
	MaxListed = 50
	// MaxTextBytes bounds one message, diagnostic message or list entry.
	MaxTextBytes = 1024
	// maxRefBytes bounds the parts of a diagnostic that name a place (file,
	// kind, object name, field path): short in any real spec. Four of them
	// and the line, column and severity take at most 600 bytes, leaving the
	// message 400 of MaxTextBytes.
	maxRefBytes = 128
)

// Clip returns s when it is at most limit bytes long; otherwise its head,
// cut at a UTF-8 boundary, followed by a note of how many bytes were cut
// ("… [1048000 bytes cut]"), the whole at most limit bytes. Clipping a
// clipped text changes nothing. limit should leave room for the note (32).
func Clip(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	// The note is sized for the most bytes that could be cut, so the real
	// one (never longer) fits too.
	keep := max(0, limit-len(cutNote(len(s))))
	for keep > 0 && !utf8.RuneStart(s[keep]) {
		keep--
	}
	return s[:keep] + cutNote(len(s)-keep)
}

func cutNote(n int) string { return fmt.Sprintf("… [%d bytes cut]", n) }

// Listed returns the first MaxListed entries of list and how many it
// leaves out. The result shares list's array and cannot grow into it.
func Listed[T any](list []T) (shown []T, omitted int) {
	if len(list) <= MaxListed {
		return list, 0
	}
	return list[:MaxListed:MaxListed], len(list) - MaxListed
}

// MoreText stands for n entries a report left out: "… and 59950 more".
func MoreText(n int) string { return fmt.Sprintf("… and %d more", n) }

// ListDiagnostics returns the diagnostics a report shows, the first
// MaxListed of ds each bounded by ClipDiagnostic, and how many it leaves out.
// ds is not modified.
func ListDiagnostics(ds []spec.Diagnostic) (shown spec.Diagnostics, omitted int) {
	list, omitted := Listed(ds)
	if len(list) == 0 {
		return nil, omitted
	}
	shown = make(spec.Diagnostics, len(list))
	for i, d := range list {
		shown[i] = ClipDiagnostic(d)
	}
	return shown, omitted
}

// ClipDiagnostic bounds d so that d.String() is at most MaxTextBytes long
// and still starts with file:line:column: severity: the file, kind, name
// and field are clipped to 128 bytes each, the message to what room is
// left.
func ClipDiagnostic(d spec.Diagnostic) spec.Diagnostic {
	d.File = Clip(d.File, maxRefBytes)
	d.Kind = Clip(d.Kind, maxRefBytes)
	d.Name = Clip(d.Name, maxRefBytes)
	d.Field = Clip(d.Field, maxRefBytes)
	room := MaxTextBytes - (len(d.String()) - len(d.Message))
	d.Message = Clip(d.Message, room)
	return d
}

// ListLines bounds a list of free-text lines (details, commit message
// lines): each line is clipped to MaxTextBytes and past the first MaxListed
// one line MoreText stands for the rest. A single extra line is kept rather
// than replaced by a note as long, so bounding a bounded list changes
// nothing. lines is not modified; an empty list comes back as it is.
func ListLines(lines []string) []string {
	if len(lines) == 0 {
		return lines
	}
	n := len(lines)
	if n > MaxListed+1 {
		n = MaxListed
	}
	out := make([]string, n, n+1)
	for i, l := range lines[:n] {
		out[i] = Clip(l, MaxTextBytes)
	}
	if n < len(lines) {
		out = append(out, MoreText(len(lines)-n))
	}
	return out
}
