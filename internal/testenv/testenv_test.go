package testenv

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// recordingTB records what Lookup asks of a test. Unlike a real testing.T its
// Fatalf and Skipf return, so the test can inspect the call.
type recordingTB struct {
	testing.TB // nil: calling anything not overridden panics
	calls      []string
}

func (r *recordingTB) Helper() {}

func (r *recordingTB) Fatalf(format string, args ...any) {
	r.calls = append(r.calls, "Fatalf: "+fmt.Sprintf(format, args...))
}

func (r *recordingTB) Skipf(format string, args ...any) {
	r.calls = append(r.calls, "Skipf: "+fmt.Sprintf(format, args...))
}

func TestLookup(t *testing.T) {
	const envVar = "WIREKEEPER_TEST_TESTENV_PROBE"
	tests := []struct {
		name    string
		value   string // "" leaves envVar unset
		require string
		want    string
		calls   []string // prefix of each recorded call
	}{
		{name: "set", value: "unix:/run/db.sock", want: "unix:/run/db.sock"},
		{name: "set, required", value: "tcp:127.0.0.1:1", require: "1", want: "tcp:127.0.0.1:1"},
		{name: "unset skips", calls: []string{"Skipf"}},
		{name: "unset, require=0 skips", require: "0", calls: []string{"Skipf"}},
		{name: "unset, required fails", require: "1", calls: []string{"Fatalf"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(envVar, tt.value)
			t.Setenv(RequireEnv, tt.require)
			rec := &recordingTB{}
			got := Lookup(rec, "probe-server", envVar)
			if got != tt.want {
				t.Errorf("Lookup() = %q, want %q", got, tt.want)
			}
			var kinds []string
			for _, c := range rec.calls {
				kinds = append(kinds, strings.SplitN(c, ":", 2)[0])
				for _, must := range []string{"probe-server", envVar, "make test"} {
					if !strings.Contains(c, must) {
						t.Errorf("message %q does not mention %q", c, must)
					}
				}
			}
			if diff := cmp.Diff(tt.calls, kinds); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUniqueName(t *testing.T) {
	a, b := UniqueName(t), UniqueName(t)
	if a == b {
		t.Errorf("UniqueName returned %q twice", a)
	}
	if ok := regexp.MustCompile(`^testuniquename_[0-9a-f]{8}$`).MatchString(a); !ok {
		t.Errorf("UniqueName() = %q, want testuniquename_ plus 8 hex digits", a)
	}
}

// TestGitTripwires: a program that looks git up on the tripwires' PATH runs
// a tripwire, which fails and is recorded; nothing is recorded before.
func TestGitTripwires(t *testing.T) {
	dir, ran := GitTripwires(t)
	if got := ran(); got != "" {
		t.Fatalf("recorded before anything ran: %q", got)
	}
	for _, name := range []string{"git", "git-upload-pack", "git-receive-pack"} {
		cmd := exec.Command("/bin/sh", "-c", name+" probe")
		cmd.Env = []string{"PATH=" + dir}
		if err := cmd.Run(); err == nil {
			t.Errorf("tripwire %s exited 0, want a failure", name)
		}
		if got := ran(); !strings.Contains(got, filepath.Join(dir, name)+" probe\n") {
			t.Errorf("after running %s, the record is %q", name, got)
		}
	}
}

// Mermaid names what is missing, and fails instead of skipping when
// integration tests are required.
func TestMermaidMissing(t *testing.T) {
	empty := t.TempDir()
	tests := []struct {
		name, dir, require, call string
		mentions                 []string
	}{
		{"unset skips", "", "", "Skipf", []string{MermaidDirEnv + " is not set"}},
		{"unset, required fails", "", "1", "Fatalf", []string{MermaidDirEnv + " is not set", RequireEnv}},
		{"no packages, required fails", empty, "1", "Fatalf",
			[]string{"mermaid (not in " + filepath.Join(empty, "node_modules") + ")", "jsdom (not in "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(MermaidDirEnv, tt.dir)
			t.Setenv(RequireEnv, tt.require)
			rec := &recordingTB{}
			if node, dir := Mermaid(rec); node != "" || dir != "" {
				t.Errorf("Mermaid() = %q, %q, want nothing", node, dir)
			}
			if len(rec.calls) != 1 || !strings.HasPrefix(rec.calls[0], tt.call+": ") {
				t.Fatalf("calls = %q, want one %s", rec.calls, tt.call)
			}
			for _, m := range tt.mentions {
				if !strings.Contains(rec.calls[0], m) {
					t.Errorf("message %q does not mention %q", rec.calls[0], m)
				}
			}
		})
	}
}
