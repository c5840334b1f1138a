package main

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wirekeeper/wirekeeper/internal/ovstest"
	"github.com/wirekeeper/wirekeeper/internal/testenv"
)

// TestReplayedWebhookIsHarmless replays a captured, correctly signed push
// delivery naming an older commit, several times, after a newer commit was
// applied: a delivery only triggers a fetch of the branch head, so the
// daemon stays on the newest revision (the payload's commit is never
// applied), and each replay costs one fetch.
func TestReplayedWebhookIsHarmless(t *testing.T) {
	o := ovstest.Shared(t)
	node := ovstest.UniquePortName(t, "hvr")
	doc := func(n int) string {
		return fmt.Sprintf("apiVersion: wirekeeper.io/v1alpha1\nkind: OVSManager\nmetadata: {name: ovs%d}\nspec: {node: %s, address: %q}\n", n, node, o.DB)
	}
	remote, work := newSpecRepo(t)
	old := pushSpecs(t, work, doc(1), "first")
	secretFile := filepath.Join(t.TempDir(), "hook")
	os.WriteFile(secretFile, []byte("replay-secret\n"), 0o600)
	bin := testenv.Binary(t)
	hook := freeAddr(t)
	cmd := exec.Command(bin, "run", "--repo", remote, "--node", node, "--interval", "1h", "--cache-dir", t.TempDir(),
		"--webhook-listen", hook, "--webhook-secret-file", secretFile)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	applied := func(rev string) func() bool {
		return func() bool { ns := readStatus(t, remote, node); return ns != nil && ns.AppliedRevision == rev }
	}
	waitUntil(t, "the first revision", applied(old))
	body := fmt.Sprintf(`{"ref":"refs/heads/main","after":%q}`, old)
	deliver := func() int {
		req, _ := http.NewRequest(http.MethodPost, "http://"+hook+"/", strings.NewReader(body))
		req.Header.Set("X-GitHub-Event", "push")
		req.Header.Set("X-GitHub-Delivery", "d-1")
		req.Header.Set("X-Hub-Signature-256", "sha256="+mac("replay-secret", body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	deliver() // the original delivery
	newer := pushSpecs(t, work, doc(2), "second")
	if code := deliver(); code/100 != 2 { // a push of "second" would trigger too; any delivery does
		t.Fatalf("delivery answered %d", code)
	}
	waitUntil(t, "the second revision", applied(newer))
	for range 3 {
		if code := deliver(); code/100 != 2 {
			t.Errorf("replay answered %d", code)
		}
	}
	time.Sleep(2 * time.Second)
	if ns := readStatus(t, remote, node); ns == nil || ns.AppliedRevision != newer {
		t.Errorf("after replays of a delivery naming %s the node applies %v, want %s", old[:7], ns, newer[:7])
	}
}
