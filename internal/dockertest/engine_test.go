package dockertest

import (
	"fmt"
	"strings"
	"testing"
)

func TestSharedRefusesStop(t *testing.T) {
	for _, method := range []string{"Stop", "Start", "Restart"} {
		rec := &recordingTB{}
		e := &Engine{Host: "unix:///nonexistent/docker.sock", shared: true}
		e.mustBePrivate(rec, method)
		if len(rec.calls) != 1 || !strings.Contains(rec.calls[0], "Fatalf: dockertest: "+method+" on the shared") {
			t.Errorf("mustBePrivate(%s) on the shared engine: calls = %q, want one Fatalf refusal", method, rec.calls)
		}
	}
}

func TestUnescapeMount(t *testing.T) {
	for in, want := range map[string]string{
		"/tmp/wkd-1/exec/netns/abc": "/tmp/wkd-1/exec/netns/abc",
		`/tmp/a\040b`:               "/tmp/a b",
		`/tmp/tab\011`:              "/tmp/tab\t",
		`/tmp/short\04`:             `/tmp/short\04`,
	} {
		if got := unescapeMount(in); got != want {
			t.Errorf("unescapeMount(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestOnlyNoSuchContainer(t *testing.T) {
	for _, tc := range []struct {
		stderr string
		want   bool
	}{
		{"Error: No such container: a\n", true},
		{"Error: No such container: a\nError: No such container: b\n", true},
		{"Error: No such container: a\nError response from daemon: cannot remove b\n", false},
		{"Cannot connect to the Docker daemon at unix:///x.sock\n", false},
	} {
		if got := onlyNoSuchContainer(tc.stderr); got != tc.want {
			t.Errorf("onlyNoSuchContainer(%q) = %v, want %v", tc.stderr, got, tc.want)
		}
	}
}

func TestBusyboxTar(t *testing.T) {
	need(t, false, busybox)
	b, err := busyboxTar()
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 1<<20 {
		t.Errorf("rootfs tar of %d bytes, want more than busybox's 1 MiB", len(b))
	}
}

// recordingTB records what the package asks of a test. Unlike a real
// testing.T its Fatalf and Skipf return, so the test can inspect the call.
type recordingTB struct {
	testing.TB // nil: calling anything not overridden panics
	calls      []string
}

func (r *recordingTB) Helper() {}

func (r *recordingTB) Fatalf(format string, args ...any) {
	r.calls = append(r.calls, "Fatalf: "+fmt.Sprintf(format, args...))
}
