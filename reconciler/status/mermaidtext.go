package status

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/wirekeeper/wirekeeper/reconciler"
)

// maxIDBytes bounds a diagram node id, so that an id's cost in the diagram
// budget does not depend on how long a name in the spec is.
const maxIDBytes = 64

// mermaidID builds a node id from a prefix and name parts. Every byte other
// than an ASCII letter or digit, '_' included, is written as _XX (hex), and
// parts are joined by "__", so distinct inputs give distinct ids and no id
// can be a Mermaid keyword ("end") or start an o/x edge. An id longer than
// maxIDBytes becomes the prefix, "_z" and 20 hex digits of its SHA-256: a
// single '_' followed by a non-hex letter never occurs in a short id, so a
// long id cannot take a short one's place.
func mermaidID(prefix string, parts ...string) string {
	var b strings.Builder
	b.WriteString(prefix)
	for _, p := range parts {
		b.WriteString("__")
		for i := 0; i < len(p); i++ {
			c := p[i]
			if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
				b.WriteByte(c)
			} else {
				fmt.Fprintf(&b, "_%02x", c)
			}
		}
	}
	if b.Len() <= maxIDBytes {
		return b.String()
	}
	sum := sha256.Sum256([]byte(b.String()))
	return prefix + "_z" + hex.EncodeToString(sum[:10])
}

// maxLabelBytes bounds the text of one diagram label (before escaping).
const maxLabelBytes = 200

// mermaidEntities are the characters mermaidLabel writes as entity codes:
// '"' ends a quoted label; '%' starts a directive (Mermaid finds %%{...}%%
// anywhere in the text) or a comment; '#' starts an entity code, so an
// entity in the text ("#quot;") stays literal; '<', '>' and '&' are HTML;
// '`' opens a Markdown string; ':' and ';' would let a label match
// Mermaid's pre-pass that rewrites "style ...:#...;" lines; brackets,
// braces and '|' delimit shapes and edge labels. Inside quotes most of
// these are inert today; escaping them keeps a label inert should a
// Mermaid version read quoted text differently.
var mermaidEntities = map[rune]string{
	'"': "#quot;", '<': "#lt;", '>': "#gt;", '&': "#amp;",
	'#': "#35;", '%': "#37;", '`': "#96;", ':': "#58;", ';': "#59;",
	'[': "#91;", ']': "#93;", '{': "#123;", '}': "#125;", '|': "#124;",
}

// mermaidLabel escapes text for a quoted Mermaid label: "\n" becomes a line
// break (<br/>), "\r" is dropped, the characters of mermaidEntities, other
// control characters and Unicode line separators (which JavaScript's
// regular expressions treat as line ends) become entity codes, so that the
// label shows its text and can neither end the label, the statement or the
// line nor open a directive, comment, HTML tag or Markdown string. The text
// is clipped to maxLabelBytes first.
func mermaidLabel(s string) string {
	var b strings.Builder
	for _, r := range reconciler.Clip(s, maxLabelBytes) {
		switch {
		case r == '\n':
			b.WriteString("<br/>")
		case r == '\r':
		case mermaidEntities[r] != "":
			b.WriteString(mermaidEntities[r])
		case r < 0x20 || r == 0x7f || r == 0x85 || r == 0x2028 || r == 0x2029:
			fmt.Fprintf(&b, "#%d;", r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
