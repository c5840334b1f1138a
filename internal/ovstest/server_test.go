package ovstest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/wirekeeper/wirekeeper/internal/testenv"
)

func TestStartWithoutVswitchd(t *testing.T) {
	t.Parallel()
	o := Start(t, Options{})
	if o.Netns != "" || o.VswitchdRunning() {
		t.Errorf("Netns = %q, VswitchdRunning() = %v; want no vswitchd", o.Netns, o.VswitchdRunning())
	}
	if want := "unix:" + filepath.Join(o.Dir, "db.sock"); o.DB != want {
		t.Errorf("DB = %q, want %q", o.DB, want)
	}
	// Without vswitchd a modifying command only returns thanks to --no-wait.
	o.AddBridge(t, "br0")
	if got := Vsctl(t, o.TCP, "get", "Bridge", "br0", "datapath_type"); got != "netdev" {
		t.Errorf("over %s: datapath_type = %q, want netdev", o.TCP, got)
	}
}

func TestRestartDB(t *testing.T) {
	t.Parallel()
	o := Start(t, Options{Vswitchd: true})
	o.AddBridge(t, "br0")
	oldPID := o.dbPID

	o.StopDB(t)
	for _, db := range []string{o.DB, o.TCP} {
		if _, err := vsctl(nil, db, false, "br-exists", "br0"); err == nil {
			t.Errorf("ovs-vsctl on %s succeeded while ovsdb-server was stopped", db)
		}
	}
	o.StartDB(t)
	if o.dbPID == oldPID || !alive(o.dbPID) {
		t.Errorf("ovsdb-server pid %d after restart (was %d), want a new live one", o.dbPID, oldPID)
	}
	for _, db := range []string{o.DB, o.TCP} {
		Vsctl(t, db, "br-exists", "br0") // conf.db survived
	}
	// Without --no-wait this returns only once the vswitchd has reconnected
	// and applied it.
	o.RestartDB(t)
	o.Vsctl(t, "add-port", "br0", "p0", "--", "set", "Interface", "p0", "type=internal")
	if got := o.Vsctl(t, "get", "Interface", "p0", "ofport"); got == "-1" || got == "[]" {
		t.Errorf("ofport of p0 = %s, want one assigned by vswitchd", got)
	}
}

func TestSharedRefusesRestart(t *testing.T) {
	rec := &recordingTB{}
	o := &OVS{DB: "unix:/nonexistent/db.sock", shared: true, vswitchd: true}
	o.mustBePrivate(rec, "RestartDB")
	if len(rec.calls) != 1 || !strings.Contains(rec.calls[0], "Fatalf: ovstest: RestartDB on the shared") {
		t.Errorf("mustBePrivate on a shared OVS: calls = %q, want one Fatalf refusal", rec.calls)
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

func (r *recordingTB) Skipf(format string, args ...any) {
	r.calls = append(r.calls, "Skipf: "+fmt.Sprintf(format, args...))
}

func TestNeed(t *testing.T) {
	const missing = "ovstest-no-such-binary"
	tests := []struct {
		name    string
		bins    []string
		require string
		want    []string // kind of each recorded call
	}{
		{name: "installed", bins: []string{"sh"}},
		{name: "installed, required", bins: []string{"sh"}, require: "1"},
		{name: "missing skips", bins: []string{"sh", missing}, want: []string{"Skipf"}},
		{name: "missing, require=0 skips", bins: []string{missing}, require: "0", want: []string{"Skipf"}},
		{name: "missing, required fails", bins: []string{missing}, require: "1", want: []string{"Fatalf"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(testenv.RequireEnv, tt.require)
			rec := &recordingTB{}
			need(rec, false, tt.bins...)
			var kinds []string
			for _, c := range rec.calls {
				kind, msg, _ := strings.Cut(c, ": ")
				kinds = append(kinds, kind)
				if !strings.Contains(msg, missing) || !strings.Contains(msg, testenv.RequireEnv) {
					t.Errorf("message %q names neither %s nor %s", msg, missing, testenv.RequireEnv)
				}
			}
			if diff := cmp.Diff(tt.want, kinds); diff != "" {
				t.Errorf("calls (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCleanup checks that nothing a test started outlives it.
func TestCleanup(t *testing.T) {
	t.Parallel()
	var (
		dir, netns, hostNetns string
		pids                  []int
	)
	t.Run("user", func(t *testing.T) {
		o := Start(t, Options{Vswitchd: true})
		o.AddBridge(t, "br0")
		h := AddHost(t, o, "br0", "h1", "10.9.0.1/24")
		o.RestartVswitchd(t) // its old pid must be gone too
		dir, netns, hostNetns = o.Dir, o.Netns, h.Netns
		pids = []int{o.dbPID, o.vsPID}
		for _, pid := range pids {
			if !alive(pid) {
				t.Fatalf("pid %d is not running", pid)
			}
		}
	})
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("pid %d still runs after the test ended", pid)
		}
	}
	for _, ns := range []string{netns, hostNetns} {
		if _, err := os.Stat("/run/netns/" + ns); !os.IsNotExist(err) {
			t.Errorf("network namespace %s still exists (stat: %v)", ns, err)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s still exists (stat: %v)", dir, err)
	}
}
