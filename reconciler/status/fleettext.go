package status

import (
	"fmt"
	"strings"

	"github.com/wirekeeper/wirekeeper/reconciler"
)

// nodeLink links a node to its status page. A name that is not a valid
// node name (so has no status page) is shown, escaped, without a link.
func nodeLink(name string) string {
	if checkNode(name) != nil {
		return pageName(name)
	}
	return fmt.Sprintf("[%s](%s)", pageName(name), markdownPath(name))
}

// pageName clips and escapes a name for the page (see pageText).
func pageName(s string) string { return pageText(reconciler.Clip(s, maxNameBytes)) }

// pageText makes s inert inline Markdown, in a table cell or a link's
// text: the punctuation that could open emphasis, code, a link, HTML, an
// entity, math or strike-through, or end a cell, is backslash-escaped, and
// control characters and line separators become spaces.
func pageText(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case strings.ContainsRune("\\`*_[]<>&|~$!", r):
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f || r == 0x85 || r == 0x2028 || r == 0x2029:
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
