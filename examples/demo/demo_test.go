package demo

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/wirekeeper/wirekeeper/internal/testenv"
)

func TestRunsTheWholeLoop(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if err := Run(t.Context(), Options{Out: &stdout, Warnings: &stderr}); err != nil {
		t.Fatalf("%v: %s\n%s", err, stderr.String(), stdout.String())
	}
	checkDemoOutput(t, stdout.String())
}

// TestAgainstRealOVSDB runs the demo on the harness's ovsdb-server and
// checks it leaves nothing behind.
func TestAgainstRealOVSDB(t *testing.T) {
	db := testenv.OVSDB(t)
	var stdout, stderr bytes.Buffer
	if err := Run(t.Context(), Options{OVSDB: db, Out: &stdout, Warnings: &stderr}); err != nil {
		t.Fatalf("%v: %s\n%s", err, stderr.String(), stdout.String())
	}
	checkDemoOutput(t, stdout.String())
	if !strings.Contains(stdout.String(), "bridge br-demo deleted from "+db) {
		t.Errorf("the demo did not clean up:\n%s", stdout.String())
	}
}

func checkDemoOutput(t *testing.T, out string) {
	t.Helper()
	for _, want := range []string{
		"Mirror     ids-all   Ready", "Mirror     web-span  Ready", "mirrors on br-demo now: ids-all, web-span",
		"Bridge demo-br existed: adopted", "ids-all deleted; recreated ", "back to vm1, vm2 ",
		"web-span selects vm1, vm2, vm3", "repaired",
		"--- status/demo-hv.md ---", "4 ready, 0 failed", "```mermaid", "The demo took ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	// How the status commits group the steps depends on timing; the last
	// one is at the revision the spec change made.
	applied := regexp.MustCompile(`revision ([0-9a-f]{7}) applied`).FindStringSubmatch(out)
	if applied == nil || !strings.Contains(out, "status(demo-hv): ") || !strings.Contains(out, "@ "+applied[1]) {
		t.Errorf("demo output lacks a status commit at the applied revision:\n%s", out)
	}
}
