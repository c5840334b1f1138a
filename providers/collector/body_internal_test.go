package collector

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestPythonString checks appendPythonString against what Python 3's
// json.dumps writes for the same text (the wants were produced by
// json.dumps; ensure_ascii is its default and the seed's).
func TestPythonString(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"empty", "", `""`},
		{"resource", "devices/albq-asw1/interfaces/ge-0%2F0%2F1", `"devices/albq-asw1/interfaces/ge-0%2F0%2F1"`},
		{"<>&'/ as they are", "<lab> & 'x' /", `"<lab> & 'x' /"`},
		{"quote and backslash", `a"b\c`, `"a\"b\\c"`},
		{"controls by name", "\n\r\t\b\f", `"\n\r\t\b\f"`},
		{"other controls and DEL", "\x00\x01\x1f\x7f", `"\u0000\u0001\u001f\u007f"`},
		{"latin-1, lowercase hex", "über café", `"\u00fcber caf\u00e9"`},
		{"BMP", "\u2028中\uffff", `"\u2028\u4e2d\uffff"`},
		{"beyond the BMP: surrogate pairs", "😀\U00010000\U0010FFFF", `"\ud83d\ude00\ud800\udc00\udbff\udfff"`},
		{"invalid UTF-8 as U+FFFD", "a\xffb", `"a\ufffdb"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := appendPythonString(nil, c.in)
			if diff := cmp.Diff(c.want, string(got)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// FuzzPythonString checks that every string comes out as printable ASCII
// that Go's JSON decoder reads back as the same text.
func FuzzPythonString(f *testing.F) {
	for _, s := range []string{"", "über", "😀", "\x00\x7f\"\\/", "\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := appendPythonString(nil, s)
		for _, c := range got {
			if c < 0x20 || c > 0x7e {
				t.Fatalf("%q: byte %#x in %s", s, c, got)
			}
		}
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("%q: %s does not decode: %v", s, got, err)
		}
		if want := string([]rune(s)); back != want { // invalid UTF-8 as U+FFFD
			t.Errorf("%q: %s decodes as %q", s, got, back)
		}
	})
}

// TestStatsMessageEncode checks the stats body against what the seed's
// json.dumps writes for the same message (the wants were produced by
// Python 3's json.dumps of the seed's dict): separators, field order,
// Netbeam's number text, null, and the name escaped as Python escapes it.
func TestStatsMessageEncode(t *testing.T) {
	cases := []struct {
		name    string
		m       statsMessage
		want    string
		wantErr bool
	}{
		{name: "seed-systems.md's example",
			m: statsMessage{Name: "devices/albq-asw1/interfaces/ge-0%2F0%2F1", RecordType: "traffic", Timestamp: 1796400000000,
				In: json.RawMessage("656332.0"), Out: json.RawMessage("1312000.0")},
			want: `{"name": "devices/albq-asw1/interfaces/ge-0%2F0%2F1", "recordType": "traffic", "timestamp": 1796400000000, "in": 656332.0, "out": 1312000.0}`},
		{name: "null and an exponent kept",
			m:    statsMessage{Name: "r", RecordType: "discards", Timestamp: 1, In: nil, Out: json.RawMessage("1.5e+20")},
			want: `{"name": "r", "recordType": "discards", "timestamp": 1, "in": null, "out": 1.5e+20}`},
		{name: "name escaped as Python does",
			m: statsMessage{Name: "devices/a&b<c>/interfaces/xü", RecordType: "errors", Timestamp: 1796400000000,
				In: json.RawMessage("656332.0"), Out: nil},
			want: `{"name": "devices/a&b<c>/interfaces/x\u00fc", "recordType": "errors", "timestamp": 1796400000000, "in": 656332.0, "out": null}`},
		{name: "not a number", m: statsMessage{Name: "r", In: json.RawMessage(`"1"`)}, wantErr: true},
		{name: "space around a number", m: statsMessage{Name: "r", Out: json.RawMessage(` 1`)}, wantErr: true},
		{name: "empty number", m: statsMessage{Name: "r", In: json.RawMessage(``)}, wantErr: true},
		{name: "number then more", m: statsMessage{Name: "r", In: json.RawMessage(`1, 2`)}, wantErr: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.m.encode()
			if c.wantErr {
				if err == nil {
					t.Fatalf("encode() = %s, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(c.want, string(got)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestInterfaceMessage checks that the object's members are kept as
// received, in order and as escaped, with `, "timestamp": N}` appended as
// the seed's json.dumps ends it, or the value replaced where it stands (as
// the seed's dict assignment does).
func TestInterfaceMessage(t *testing.T) {
	cases := []struct{ name, raw, want string }{
		{"written as json.dumps writes it: the seed's bytes",
			`{"resource": "r", "speed": 10000.0, "description": "to <lab> & \u00fcber-link"}`,
			`{"resource": "r", "speed": 10000.0, "description": "to <lab> & \u00fcber-link", "timestamp": 1796400000000}`},
		{"order and bytes kept", `{"resource": "r", "speed": 1e4, "a": "<&>", "b": "über"}`,
			`{"resource": "r", "speed": 1e4, "a": "<&>", "b": "über", "timestamp": 1796400000000}`},
		{"compact", `{"resource":"r"}`, `{"resource":"r", "timestamp": 1796400000000}`},
		{"space before the brace dropped", "{\"resource\":\"r\" \n}", `{"resource":"r", "timestamp": 1796400000000}`},
		{"space after the brace kept", "{\n  \"resource\": \"r\"\n}", "{\n  \"resource\": \"r\", \"timestamp\": 1796400000000}"},
		{"empty object", `{}`, `{"timestamp": 1796400000000}`},
		{"empty object with space", "{ \n }", `{"timestamp": 1796400000000}`},
		{"nested object last", `{"meta": {"a": 1} }`, `{"meta": {"a": 1}, "timestamp": 1796400000000}`},
		{"number last, then space", "{\"speed\": 10000.0 \t}", `{"speed": 10000.0, "timestamp": 1796400000000}`},
		{"timestamp number replaced, space kept", `{"timestamp": 1.5 , "a": 2}`, `{"timestamp": 1796400000000 , "a": 2}`},
		{"timestamp replaced in place", `{"timestamp": "x", "resource": "r" }`, `{"timestamp": 1796400000000, "resource": "r" }`},
		{"timestamp last replaced", `{"resource": "r","timestamp":1}`, `{"resource": "r","timestamp":1796400000000}`},
		{"repeated timestamp: each replaced", `{"timestamp": 1, "timestamp": 2}`, `{"timestamp": 1796400000000, "timestamp": 1796400000000}`},
		{"nested timestamp untouched", `{"meta": {"timestamp": 1}}`, `{"meta": {"timestamp": 1}, "timestamp": 1796400000000}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := interfaceMessage(json.RawMessage(c.raw), 1796400000000)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(c.want, string(got)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if !json.Valid(got) {
				t.Errorf("not valid JSON: %s", got)
			}
		})
	}
	for _, bad := range []string{`[1]`, `"x"`, `null`, `{"a": 1} {}`, `{"a": }`, `{"a": 1`} {
		if got, err := interfaceMessage(json.RawMessage(bad), 1); err == nil {
			t.Errorf("interfaceMessage(%s) = %s, want an error", bad, got)
		}
	}
}
