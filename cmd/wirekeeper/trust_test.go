package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/wirekeeper/wirekeeper/internal/skydivetest"
	"github.com/wirekeeper/wirekeeper/internal/testenv"
	"github.com/wirekeeper/wirekeeper/reconciler"
)

// attacker is a server a spec author chose: it records everything sent
// to it, credentials decoded.
type attacker struct {
	*httptest.Server
	mu   sync.Mutex
	seen []string
}

func newAttacker(t *testing.T) *attacker {
	a := &attacker{}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b strings.Builder
		r.Header.Write(&b)
		if u, p, ok := r.BasicAuth(); ok {
			fmt.Fprintf(&b, "basic auth: %s:%s\n", u, p)
		}
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		b.Write(body)
		a.mu.Lock()
		a.seen = append(a.seen, r.Method+" "+r.URL.String()+"\n"+b.String())
		a.mu.Unlock()
		http.Error(w, "no", http.StatusUnauthorized)
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *attacker) received() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return strings.Join(a.seen, "\n")
}

// TestSpecsCannotReadTheHost runs the real binary, as root, on specs
// written by someone trusted with the network only. A SkyDiveExport naming
// a host file by its absolute path, as the attacker did, is refused
// whole; inside the secrets directory, a symlink out of it, a symlink to
// /dev/zero, a FIFO and an oversized file fail their object only, saying
// why, and the daemon goes on; and the analyzers the spec chose receive
// nothing of the host's file. A secret in the directory still works.
func TestSpecsCannotReadTheHost(t *testing.T) {
	const canary = "HOST-PRIVATE-KEY-CANARY-6620"
	base := t.TempDir()
	hostKey := filepath.Join(base, "id_ed25519")
	must(t, os.WriteFile(hostKey, []byte(canary+"\n"), 0o600))
	secrets := filepath.Join(base, "secrets")
	must(t, os.Mkdir(secrets, 0o700))
	must(t, os.Symlink(hostKey, filepath.Join(secrets, "escape")))
	must(t, os.Symlink("/dev/zero", filepath.Join(secrets, "zero")))
	must(t, syscall.Mkfifo(filepath.Join(secrets, "fifo"), 0o600))
	must(t, os.WriteFile(filepath.Join(secrets, "big"), bytes.Repeat([]byte("b"), 1<<20), 0o600))
	must(t, os.WriteFile(filepath.Join(secrets, "sky-password"), []byte("the-right-one\n"), 0o600))

	thieves := map[string]*attacker{}
	for _, n := range []string{"abs", "escape", "zero", "fifo", "big", "env"} {
		thieves[n] = newAttacker(t)
	}
	good := skydivetest.Start(t, skydivetest.Options{Users: map[string]string{"wk": "the-right-one"}})
	export := func(name, analyzer, password string) string {
		return fmt.Sprintf("apiVersion: wirekeeper.io/v1alpha1\nkind: SkyDiveExport\nmetadata: {name: %s}\nspec:\n  analyzer: %s\n  auth: {username: wk, password: %s}\n  verifyInterval: 1s\n",
			name, strings.Replace(analyzer, "http://", "ws://", 1), password)
	}
	node := "hv-trust"
	remote, work := newSpecRepo(t)
	first := pushSpecs(t, work, export("abs", thieves["abs"].URL, "{file: "+hostKey+"}")+"---\n"+
		export("env", thieves["env"].URL, "{env: HOST_ONLY_VARIABLE}"), "the attacker's first try")

	var logs bytes.Buffer
	cmd := exec.Command(testenv.Binary(t), "run", "--interval", "1s", "--secrets-dir", secrets)
	cmd.Env = append(os.Environ(), "WIREKEEPER_REPO="+remote, "WIREKEEPER_NODE="+node, "WIREKEEPER_CACHE_DIR="+t.TempDir(),
		"HOST_ONLY_VARIABLE="+canary)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	must(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	waitUntil(t, "the revision naming an absolute path and a host variable refused", func() bool {
		ns := readStatus(t, remote, node)
		return ns != nil && ns.Refused != nil && ns.Refused.Revision == first && ns.Refused.Reason == "Invalid" &&
			len(ns.Refused.Diagnostics) == 2 && strings.Contains(ns.Refused.Diagnostics[0].Message, "an absolute path") &&
			strings.Contains(ns.Refused.Diagnostics[1].Message, "starting with WIREKEEPER_SECRET_")
	})

	pushSpecs(t, work, strings.Join([]string{
		export("escape", thieves["escape"].URL, "{file: escape}"),
		export("zero", thieves["zero"].URL, "{file: zero}"),
		export("fifo", thieves["fifo"].URL, "{file: fifo}"),
		export("big", thieves["big"].URL, "{file: big}"),
		export("good", good.URL(), "{file: sky-password}"),
	}, "---\n"), "the attacker's second try, inside the secrets directory")
	want := map[string]string{
		"escape": "leads outside the secrets directory",
		"zero":   "leads outside the secrets directory",
		"fifo":   "is not a regular file but a named pipe (FIFO)",
		"big":    "is 1048576 bytes; at most 65536 allowed",
	}
	var last *reconciler.NodeStatus
	waitUntil(t, "each export failing for its reason, and the good one Ready", func() bool {
		last = readStatus(t, remote, node)
		if last == nil || last.Refused != nil {
			return false
		}
		for name, why := range want {
			o := last.Object(reconciler.Ref{Kind: "SkyDiveExport", Name: name})
			if o == nil || o.Phase != reconciler.PhaseFailed || !strings.Contains(o.Message, why) {
				return false
			}
		}
		o := last.Object(reconciler.Ref{Kind: "SkyDiveExport", Name: "good"})
		return o != nil && o.Phase == reconciler.PhaseReady
	})

	// Nothing of the host's file, nor of a variable outside the prefix,
	// left the daemon.
	for name, a := range thieves {
		got := a.received()
		if strings.Contains(got, canary) || strings.Contains(got, base64.StdEncoding.EncodeToString([]byte(canary))) {
			t.Errorf("the analyzer of export %s received the host's file:\n%s", name, got)
		}
	}
	// The log is read once the daemon has exited: it writes to logs
	// until then.
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("wirekeeper run after SIGTERM: %v", err)
	}
	if strings.Contains(logs.String(), canary) {
		t.Errorf("the daemon's log holds the host's file")
	}
	if t.Failed() {
		t.Logf("daemon log:\n%s", logs.String())
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
