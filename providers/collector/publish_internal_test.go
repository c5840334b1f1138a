package collector

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestInterfaceMessage checks that the object's bytes are kept as
// received, in order and unescaped, with "timestamp" appended last, or
// replaced where it stands (as the seed's dict assignment does).
func TestInterfaceMessage(t *testing.T) {
	cases := []struct{ name, raw, want string }{
		{"order and bytes kept", `{"resource": "r", "speed": 1e4, "a": "<&>", "b": "über"}`,
			`{"resource": "r", "speed": 1e4, "a": "<&>", "b": "über","timestamp":1796400000000}`},
		{"compact", `{"resource":"r"}`, `{"resource":"r","timestamp":1796400000000}`},
		{"space before the brace", "{\"resource\":\"r\" \n}", "{\"resource\":\"r\" \n,\"timestamp\":1796400000000}"},
		{"empty object", `{}`, `{"timestamp":1796400000000}`},
		{"timestamp replaced in place", `{"timestamp": "x", "resource": "r"}`, `{"timestamp": 1796400000000, "resource": "r"}`},
		{"nested timestamp untouched", `{"meta": {"timestamp": 1}}`, `{"meta": {"timestamp": 1},"timestamp":1796400000000}`},
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
	for _, bad := range []string{`[1]`, `"x"`, `null`} {
		if got, err := interfaceMessage(json.RawMessage(bad), 1); err == nil {
			t.Errorf("interfaceMessage(%s) = %s, want an error", bad, got)
		}
	}
}

// TestStatsMessageEncode checks the field order, Netbeam's number text
// and null kept, and <>& not escaped, as the seed's json.dumps writes them.
func TestStatsMessageEncode(t *testing.T) {
	got, err := statsMessage{Name: "devices/a&b<c>/interfaces/x", RecordType: "errors", Timestamp: 1796400000000,
		In: json.RawMessage("656332.0"), Out: nil}.encode()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"name":"devices/a&b<c>/interfaces/x","recordType":"errors","timestamp":1796400000000,"in":656332.0,"out":null}`
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
