package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wirekeeper/wirekeeper/internal/ovstest"
	"github.com/wirekeeper/wirekeeper/internal/testenv"
	"github.com/wirekeeper/wirekeeper/providers/memory"
	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/reconciler/status"
	"github.com/wirekeeper/wirekeeper/spec"
)

const runSpecs = `apiVersion: wirekeeper.io/v1alpha1
kind: OVSManager
metadata: {name: ovs1}
spec: {node: hv1, address: unix:/run/ovs.sock}
---
apiVersion: wirekeeper.io/v1alpha1
kind: Mirror
metadata: {name: tap}
spec: {manager: ovs1, bridge: br0, selectAll: true, output: {port: tap0}}
`

// gitCLI runs git in dir, as a user pushing specs would.
func gitCLI(t *testing.T, dir string, args ...string) string {
	t.Helper()
	return testenv.Git(t, dir, args...)
}

func pushSpecs(t *testing.T, dir, content, msg string) string {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "ovs.yaml"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	gitCLI(t, dir, "add", "-A")
	gitCLI(t, dir, "commit", "-q", "--allow-empty", "-m", msg)
	gitCLI(t, dir, "push", "-q", "origin", "HEAD:main")
	return gitCLI(t, dir, "rev-parse", "HEAD")
}

func newSpecRepo(t *testing.T) (remote, work string) {
	remote, work = testenv.NewGitRemote(t), t.TempDir()
	gitCLI(t, work, "init", "-q", "-b", "main")
	gitCLI(t, work, "remote", "add", "origin", remote)
	return remote, work
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waitUntilFor(t, what, 30*time.Second, cond, nil)
}

// waitUntilFor polls cond until it holds or d has passed; on a timeout
// the failure shows what describe says of the last state, when given.
func waitUntilFor(t *testing.T, what string, d time.Duration, cond func() bool, describe func() string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			last := ""
			if describe != nil {
				last = ":\n" + describe()
			}
			t.Fatalf("timed out after %s waiting for %s%s", d, what, last)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func readStatus(t *testing.T, remote, node string) *reconciler.NodeStatus {
	t.Helper()
	w, err := status.NewWriter(status.WriterOptions{URL: remote, CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	files, err := w.Read(context.Background(), node)
	if err != nil || len(files) == 0 {
		return nil
	}
	ns, err := status.Parse(node, files)
	if err != nil {
		t.Fatalf("status of %s does not parse: %v", node, err)
	}
	return ns
}

// TestRunWiringWithWebhookAndMetrics drives the daemon wired exactly as
// `wirekeeper run` wires it, with the in-memory provider: a signed webhook
// is the only trigger (the poll interval is an hour).
func TestRunWiringWithWebhookAndMetrics(t *testing.T) {
	remote, work := newSpecRepo(t)
	first := pushSpecs(t, work, runSpecs, "add specs")
	secretFile := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secretFile, []byte("s3cret\n"), 0o600)
	hookAddr, metricsAddr := freeAddr(t), freeAddr(t)
	cfg, err := loadRunConfig([]string{"--repo", remote, "--node", "hv1", "--interval", "1h",
		"--cache-dir", t.TempDir(), "--webhook-listen", hookAddr, "--webhook-secret-file", secretFile,
		"--metrics-listen", metricsAddr}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	p := memory.New("test")
	d, err := newDaemon(cfg, []reconciler.Provider{p}, nil, cfg.newLogger(io.Discard), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() { cancel(); <-done }()

	mirror := reconciler.Ref{Kind: "Mirror", Name: "tap"}
	waitUntil(t, "the first revision applied", func() bool { return p.Live(mirror) != nil })

	second := pushSpecs(t, work, strings.Replace(runSpecs, "tap0", "tap1", 1), "move the mirror")
	body := fmt.Sprintf(`{"ref":"refs/heads/main","after":%q}`, second)
	post := func(sig string) int {
		req, _ := http.NewRequest("POST", "http://"+hookAddr+"/", strings.NewReader(body))
		req.Header.Set("X-GitHub-Event", "push")
		req.Header.Set("X-Hub-Signature-256", sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("sha256=" + strings.Repeat("0", 64)); code != http.StatusUnauthorized {
		t.Errorf("badly signed webhook: HTTP %d, want 401", code)
	}
	mac := hmac.New(sha256.New, []byte("s3cret"))
	mac.Write([]byte(body))
	if code := post("sha256=" + hex.EncodeToString(mac.Sum(nil))); code != http.StatusAccepted {
		t.Fatalf("signed webhook: HTTP %d, want 202", code)
	}
	waitUntil(t, "the pushed change applied", func() bool {
		live, ok := p.Live(mirror).(*spec.MirrorSpec)
		return ok && live.Output.Port == "tap1"
	})
	waitUntil(t, "status of the second revision", func() bool {
		ns := readStatus(t, remote, "hv1")
		return ns != nil && ns.AppliedRevision == second
	})
	if first == second {
		t.Fatal("the two pushes have the same hash")
	}

	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + metricsAddr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/readyz"); code != 200 {
		t.Errorf("/readyz = %d", code)
	}
	_, text := get("/metrics")
	for _, want := range []string{
		`wirekeeper_apply_total{action="update",kind="Mirror",result="ok"} 1`,
		`wirekeeper_webhook_requests_total{provider="github",result="accepted"} 1`,
		`wirekeeper_applied_revision{revision="` + second + `"} 1`,
		`wirekeeper_objects{kind="Mirror",phase="Ready"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestRunBinarySIGHUPAndSIGTERM runs the real binary: SIGHUP makes it fetch
// at once, SIGTERM makes it push its last status and exit 0.
// binSpecs is a manager on the harness's ovsdb-server and a mirror on
// bridge br with output port out.
func binSpecs(db, br, out string) string {
	return fmt.Sprintf(`apiVersion: wirekeeper.io/v1alpha1
kind: OVSManager
metadata: {name: ovs1}
spec: {node: hv1, address: %q}
---
apiVersion: wirekeeper.io/v1alpha1
kind: Mirror
metadata: {name: tap}
spec: {manager: ovs1, bridge: %s, selectAll: true, output: {port: %s}}
`, db, br, out)
}

// TestRunBinarySIGHUPAndSIGTERM runs the built binary against the harness's
// git daemon and ovsdb-server: the mirror is applied, a push followed by
// SIGHUP moves it, SIGTERM stops the daemon cleanly.
func TestRunBinarySIGHUPAndSIGTERM(t *testing.T) {
	o := ovstest.Shared(t)
	br := ovstest.UniquePortName(t, "wkr")
	o.AddBridge(t, br)
	t.Cleanup(func() { ovstest.Vsctl(t, o.DB, "--if-exists", "del-br", br) })
	o.AddPorts(t, br, []string{br + "a", br + "b"})
	remote, work := newSpecRepo(t)
	pushSpecs(t, work, binSpecs(o.DB, br, br+"a"), "add specs")
	bin := testenv.Binary(t)
	var logs bytes.Buffer
	cmd := exec.Command(bin, "run", "--interval", "1h", "--log-format", "json")
	cmd.Env = append(os.Environ(), "WIREKEEPER_REPO="+remote, "WIREKEEPER_NODE=hv1", "WIREKEEPER_CACHE_DIR="+t.TempDir())
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	outputPort := func() string {
		id := strings.TrimSpace(ovstest.Vsctl(t, o.DB, "--if-exists", "get", "Mirror", "tap", "output_port"))
		if id == "" || id == "[]" {
			return ""
		}
		return strings.Trim(strings.TrimSpace(ovstest.Vsctl(t, o.DB, "get", "Port", id, "name")), `"`)
	}
	waitUntil(t, "the first status, all Ready", func() bool {
		ns := readStatus(t, remote, "hv1")
		return ns != nil && len(ns.Objects) == 2 && ns.Counts()[reconciler.PhaseReady] == 2
	})
	if got := outputPort(); got != br+"a" {
		t.Fatalf("mirror tap outputs to %q, want %sa", got, br)
	}
	second := pushSpecs(t, work, binSpecs(o.DB, br, br+"b"), "move the mirror")
	cmd.Process.Signal(syscall.SIGHUP)
	waitUntil(t, "the SIGHUP-triggered revision in the status", func() bool {
		ns := readStatus(t, remote, "hv1")
		return ns != nil && ns.AppliedRevision == second
	})
	waitUntil(t, "the mirror moved", func() bool { return outputPort() == br+"b" })
	cmd.Process.Signal(syscall.SIGTERM)
	errc := make(chan error, 1)
	go func() { errc <- cmd.Wait() }()
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v\nlogs:\n%s", err, logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no exit within 30s of SIGTERM")
	}
	if !strings.Contains(logs.String(), `"msg":"stopped"`) || !strings.Contains(logs.String(), `"trigger":"SIGHUP"`) {
		t.Errorf("logs lack the SIGHUP trigger or the stop:\n%s", logs.String())
	}
}
