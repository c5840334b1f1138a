package reconciler_test

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/spec"
)

func TestClip(t *testing.T) {
	tests := []struct {
		in    string
		limit int
		want  string
	}{
		{"short", 32, "short"},
		{strings.Repeat("a", 32), 32, strings.Repeat("a", 32)},
		{strings.Repeat("a", 33), 32, strings.Repeat("a", 14) + "… [19 bytes cut]"},
		{strings.Repeat("a", 1<<20), 64, strings.Repeat("a", 41) + "… [1048535 bytes cut]"},
		// The cut never splits a character: "é" is 2 bytes.
		{strings.Repeat("é", 30), 32, strings.Repeat("é", 7) + "… [46 bytes cut]"},
	}
	for _, tt := range tests {
		got := reconciler.Clip(tt.in, tt.limit)
		if got != tt.want {
			t.Errorf("Clip(%d bytes, %d) = %q, want %q", len(tt.in), tt.limit, got, tt.want)
		}
		if len(got) > tt.limit || !utf8.ValidString(got) {
			t.Errorf("Clip(%d bytes, %d) = %d bytes, valid UTF-8 %v", len(tt.in), tt.limit, len(got), utf8.ValidString(got))
		}
		if again := reconciler.Clip(got, tt.limit); again != got {
			t.Errorf("Clip of a clipped text changed it: %q -> %q", got, again)
		}
	}
}

func TestListed(t *testing.T) {
	for _, n := range []int{0, 1, 50, 51, 60_000} {
		list := make([]int, n)
		shown, omitted := reconciler.Listed(list)
		if want := min(n, 50); len(shown) != want || omitted != n-want {
			t.Errorf("Listed of %d = %d shown, %d omitted; want %d, %d", n, len(shown), omitted, want, n-want)
		}
		if cap(shown) != len(shown) {
			t.Errorf("Listed of %d leaves room to append into the caller's array", n)
		}
	}
}

func TestListLines(t *testing.T) {
	lines := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("line %d", i)
		}
		return out
	}
	tests := []struct {
		name string
		in   []string
		want []string
	}{
		{"none", nil, nil},
		{"within bounds", lines(3), lines(3)},
		{"one extra line is kept", lines(51), lines(51)},
		{"two extra lines are counted", lines(52), append(lines(50), "… and 2 more")},
		{"many", lines(10_000), append(lines(50), "… and 9950 more")},
		{"long line", []string{strings.Repeat("x", 5000)}, []string{strings.Repeat("x", 1004) + "… [3996 bytes cut]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := reconciler.ListLines(tt.in)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ListLines (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(got, reconciler.ListLines(got)); diff != "" {
				t.Errorf("ListLines of a bounded list changed it (-once +twice):\n%s", diff)
			}
		})
	}
}

func TestListDiagnostics(t *testing.T) {
	huge := strings.Repeat("y", 1<<20)
	ds := make(spec.Diagnostics, 60_000)
	for i := range ds {
		ds[i] = spec.Diagnostic{Position: spec.Position{File: "m.yaml", Line: i + 1, Column: 3}, Severity: spec.SeverityError,
			Kind: "Mirror", Name: "m", Field: fmt.Sprintf("spec.selectVlans[%d]", i), Message: "out of range"}
	}
	ds[0] = spec.Diagnostic{Position: spec.Position{File: huge, Line: 1, Column: 1}, Severity: spec.SeverityError,
		Kind: huge, Name: huge, Field: huge, Message: huge}
	shown, omitted := reconciler.ListDiagnostics(ds)
	if len(shown) != 50 || omitted != 59_950 {
		t.Fatalf("ListDiagnostics of 60,000 = %d shown, %d omitted; want 50, 59950", len(shown), omitted)
	}
	if got := shown[1].String(); got != "m.yaml:2:3: error: Mirror/m: spec.selectVlans[1]: out of range" {
		t.Errorf("a short diagnostic changed: %s", got)
	}
	first := shown[0].String()
	if len(first) > reconciler.MaxTextBytes || !strings.HasPrefix(first, strings.Repeat("y", 100)) || !strings.Contains(first, ":1:1: error: ") {
		t.Errorf("a diagnostic of 1 MiB fields became %d bytes: %.300s…", len(first), first)
	}
	if ds[0].Message != huge {
		t.Errorf("ListDiagnostics modified its input")
	}
}
