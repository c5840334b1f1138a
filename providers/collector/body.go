package collector

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf16"
)

// The message bodies, written as the SAND-CI collector's Python json.dumps
// writes them (default separators ", " and ": ", ensure_ascii), so that a
// consumer comparing bytes sees no difference. Numbers are Netbeam's text as
// received: json.dumps writes Python's repr of the number it parsed, which is
// the same text for the forms Netbeam sends (656332.0, 1.5e+20, 0.0).

// statsMessage is the SAND-CI collector's stats body, field for field, in
// its order. In and Out are Netbeam's number text as received (nil: null).
type statsMessage struct {
	Name       string
	RecordType string
	Timestamp  int64
	In         json.RawMessage
	Out        json.RawMessage
}

// encode writes m byte for byte as the seed's json.dumps writes
// {"name": ..., "recordType": ..., "timestamp": ..., "in": ..., "out": ...}.
// It fails only when In or Out is not the text of a JSON number.
func (m statsMessage) encode() ([]byte, error) {
	// The fixed text, quotes and timestamp take at most 96 bytes.
	b := make([]byte, 0, 96+len(m.Name)+len(m.RecordType)+len(m.In)+len(m.Out))
	b = append(b, `{"name": `...)
	b = appendPythonString(b, m.Name)
	b = append(b, `, "recordType": `...)
	b = appendPythonString(b, m.RecordType)
	b = append(b, `, "timestamp": `...)
	b = strconv.AppendInt(b, m.Timestamp, 10)
	b = append(b, `, "in": `...)
	b, err := appendNumber(b, m.In)
	if err != nil {
		return nil, fmt.Errorf("stats message of %s at %d: in: %w", m.Name, m.Timestamp, err)
	}
	b = append(b, `, "out": `...)
	if b, err = appendNumber(b, m.Out); err != nil {
		return nil, fmt.Errorf("stats message of %s at %d: out: %w", m.Name, m.Timestamp, err)
	}
	return append(b, '}'), nil
}

// appendNumber appends the number text n as it is, or null for nil. The
// text must be a JSON number with nothing around it, so that the body
// stays JSON: a number starts with '-' or a digit and ends with a digit.
func appendNumber(b []byte, n json.RawMessage) ([]byte, error) {
	if n == nil {
		return append(b, "null"...), nil
	}
	if len(n) == 0 || !(n[0] == '-' || isDigit(n[0])) || !isDigit(n[len(n)-1]) || !json.Valid(n) {
		return nil, fmt.Errorf("%q is not a JSON number", n)
	}
	return append(b, n...), nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// appendPythonString appends s as a JSON string the way Python's
// json.dumps writes it with ensure_ascii (its default): printable ASCII
// as it is, <>&/ included; " and \ escaped; \n \r \t \b \f by name; every
// other character as \u with four lowercase hex digits, those beyond the
// BMP as a UTF-16 surrogate pair. A byte that is not valid UTF-8 (which
// Python's decoder would have refused) is written as \ufffd, the
// replacement character Go's JSON decoder gives it.
func appendPythonString(b []byte, s string) []byte {
	b = append(b, '"')
	for _, r := range s {
		switch {
		case r == '"':
			b = append(b, `\"`...)
		case r == '\\':
			b = append(b, `\\`...)
		case r == '\n':
			b = append(b, `\n`...)
		case r == '\r':
			b = append(b, `\r`...)
		case r == '\t':
			b = append(b, `\t`...)
		case r == '\b':
			b = append(b, `\b`...)
		case r == '\f':
			b = append(b, `\f`...)
		case r >= 0x20 && r <= 0x7e:
			b = append(b, byte(r))
		case r < 0x10000:
			b = appendUEscape(b, r)
		default:
			hi, lo := utf16.EncodeRune(r)
			b = appendUEscape(appendUEscape(b, hi), lo)
		}
	}
	return append(b, '"')
}

// appendUEscape appends \uXXXX for a code unit below 0x10000.
func appendUEscape(b []byte, r rune) []byte {
	const hex = "0123456789abcdef"
	return append(b, '\\', 'u', hex[r>>12&0xf], hex[r>>8&0xf], hex[r>>4&0xf], hex[r&0xf])
}

var errNotObject = errors.New("not a JSON object")

// interfaceMessage is the interface object exactly as Netbeam sent it, its
// members' bytes and order kept, with `, "timestamp": N}` (N the time of
// the pass, ms) appended after its last member, as the seed's json.dumps
// ends it; whitespace between the last member and the closing brace is
// dropped, and an empty object becomes {"timestamp": N}. Should the object
// already hold "timestamp", its value is replaced where it stands and
// nothing is appended, as the seed's dict assignment does (every
// occurrence, should the key be repeated).
func interfaceMessage(raw json.RawMessage, nowMS int64) ([]byte, error) {
	ts := strconv.FormatInt(nowMS, 10)
	raw = bytes.TrimSpace(raw)
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errNotObject
	}
	var (
		out      []byte
		copied   int // raw[:copied] is in out already
		replaced bool
		members  int
		lastEnd  = int(dec.InputOffset()) // the end of the last member, or of '{'
	)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errNotObject, err)
		}
		key, _ := tok.(string)
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil, fmt.Errorf("%w: %w", errNotObject, err)
		}
		members++
		lastEnd = int(dec.InputOffset())
		if key == "timestamp" {
			start := lastEnd - len(value)
			out = append(append(out, raw[copied:start]...), ts...)
			copied, replaced = lastEnd, true
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("%w: %w", errNotObject, err)
	}
	if end := int(dec.InputOffset()); end != len(raw) {
		return nil, fmt.Errorf("%w: %q after it", errNotObject, raw[end:])
	}
	if replaced {
		return append(out, raw[copied:]...), nil
	}
	out = append(out, raw[:lastEnd]...)
	if members > 0 {
		out = append(out, ", "...)
	}
	out = append(out, `"timestamp": `...)
	out = append(out, ts...)
	return append(out, '}'), nil
}
