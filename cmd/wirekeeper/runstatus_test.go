package main

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wirekeeper/wirekeeper/providers/memory"
	"github.com/wirekeeper/wirekeeper/reconciler"
	"github.com/wirekeeper/wirekeeper/reconciler/status"
)

// lsRemote lists the refs of remote, one "hash\tname" per line, without
// the spec branch.
func lsRemote(t *testing.T, remote string) []string {
	t.Helper()
	var out []string
	for _, l := range strings.Split(gitCLI(t, t.TempDir(), "ls-remote", remote), "\n") {
		if f := strings.Fields(l); len(f) == 2 && f[1] != "refs/heads/main" && f[1] != "HEAD" {
			out = append(out, f[1])
		}
	}
	return out
}

// readStatusAt reads node's status from remote with node refs under prefix.
func readStatusAt(t *testing.T, remote, prefix, node string) *reconciler.NodeStatus {
	t.Helper()
	w, err := status.NewWriter(status.WriterOptions{URL: remote, RefPrefix: prefix, CacheDir: t.TempDir()})
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

// TestRunStatusSettings runs the daemon as `wirekeeper run` wires it with
// the status settings: where the node's own ref, the lease and the
// status branch go, and that --aggregate never makes only the node's ref.
func TestRunStatusSettings(t *testing.T) {
	for _, tc := range []struct {
		name string
		args func(statusRemote string) []string
		// where is the remote status goes to: the spec repository or the other one.
		where string
		want  []string
	}{
		{"defaults", func(string) []string { return nil }, "spec",
			[]string{"refs/heads/wirekeeper/status", "refs/wirekeeper/lease/status-aggregator", "refs/wirekeeper/status/hv1"}},
		{"aggregate never", func(string) []string { return []string{"--aggregate", "never"} }, "spec",
			[]string{"refs/wirekeeper/status/hv1"}},
		{"status repo and branch-only refs", func(r string) []string {
			return []string{"--status-repo", r, "--status-ref-prefix", "refs/heads/wirekeeper/nodes/"}
		}, "status",
			[]string{"refs/heads/wirekeeper/lease/status-aggregator", "refs/heads/wirekeeper/nodes/hv1", "refs/heads/wirekeeper/status"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			remote, work := newSpecRepo(t)
			statusRemote, _ := newSpecRepo(t)
			rev := pushSpecs(t, work, runSpecs, "add specs")
			args := append([]string{"--repo", remote, "--node", "hv1", "--interval", "1s", "--cache-dir", t.TempDir()}, tc.args(statusRemote)...)
			cfg, err := loadRunConfig(args, func(string) string { return "" })
			if err != nil {
				t.Fatal(err)
			}
			d, err := newDaemon(cfg, []reconciler.Provider{memory.New("test")}, nil, cfg.newLogger(io.Discard), prometheus.NewRegistry())
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- d.Run(ctx) }()
			target := remote
			if tc.where == "status" {
				target = statusRemote
			}
			waitUntil(t, "hv1's status at the revision", func() bool {
				ns := readStatusAt(t, target, cfg.StatusRefPrefix, "hv1")
				return ns != nil && ns.AppliedRevision == rev
			})
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			// Stopped: the holder folded and released; nothing moves any more.
			if got := lsRemote(t, target); strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("refs of the %s repository: %q, want %q", tc.where, got, tc.want)
			}
			if tc.where == "status" {
				if got := lsRemote(t, remote); len(got) != 0 {
					t.Errorf("the spec repository got refs %q; want none besides main", got)
				}
			}
			if tc.where == "status" || tc.name == "defaults" {
				dir := t.TempDir()
				gitCLI(t, dir, "init", "-q", "--bare")
				gitCLI(t, dir, "fetch", "-q", target, "refs/heads/"+cfg.StatusBranch)
				if page := gitCLI(t, dir, "show", "FETCH_HEAD:README.md"); !strings.Contains(page, "# Fleet status") || !strings.Contains(page, "**1 node**") {
					t.Errorf("README.md on the status branch does not count hv1:\n%s", page)
				}
			}
		})
	}
}
