package webhook

import (
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wirekeeper/wirekeeper/internal/testenv"
)

// docCurlExample is a shell block of the docs that sends a webhook with curl.
type docCurlExample struct {
	where  string // file:line of the block
	script string
}

var (
	fence = regexp.MustCompile("(?m)^```[a-z]*\n((?s:.*?))^```")
	// catSecret is how the examples read the secret: $(cat FILE).
	catSecret = regexp.MustCompile(`\$\(cat [^)]+\)`)
	anyURL    = regexp.MustCompile(`https?://[^\s"']+`)
)

// docCurlExamples returns every fenced block of README.md and docs/*.md that
// posts to the webhook with curl (it names a signature header).
func docCurlExamples(t *testing.T) []docCurlExample {
	t.Helper()
	root := filepath.Join("..", "..")
	files, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, filepath.Join(root, "README.md"))
	var out []docCurlExample
	for _, f := range files {
		text, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range fence.FindAllSubmatchIndex(text, -1) {
			block := string(text[m[2]:m[3]])
			if !strings.Contains(block, "curl ") || !slices.ContainsFunc(signatureHeaderNames(), func(h string) bool { return strings.Contains(block, h) }) {
				continue
			}
			line := 1 + strings.Count(string(text[:m[0]]), "\n")
			rel, _ := filepath.Rel(root, f)
			out = append(out, docCurlExample{where: rel + ":" + strconv.Itoa(line), script: block})
		}
	}
	return out
}

func requireCommands(t *testing.T, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			if os.Getenv(testenv.RequireEnv) == "1" {
				t.Fatalf("%s is required: %v", n, err)
			}
			t.Skipf("skipping: %v", err)
		}
	}
}

// TestDocsCurlExamples runs every curl example of the docs, as written
// except for the secret file and the address, with the real curl against
// the handler: each must be accepted (202) and trigger a reconcile, so the
// docs stay true.
func TestDocsCurlExamples(t *testing.T) {
	requireCommands(t, "sh", "curl", "openssl")
	examples := docCurlExamples(t)
	if len(examples) == 0 {
		t.Fatal("no curl example found in README.md or docs/*.md; the test looks for fenced blocks running curl with a signature header")
	}
	secretFile := filepath.Join(t.TempDir(), "webhook")
	if err := os.WriteFile(secretFile, []byte(testSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, ex := range examples {
		t.Run(ex.where, func(t *testing.T) {
			var (
				mu       sync.Mutex
				events   []Event
				observes []string
			)
			h, err := New(Options{
				Secret: []byte(testSecret), Branch: "main",
				Trigger: func(e Event) { mu.Lock(); events = append(events, e); mu.Unlock() },
				Observe: func(_, result string) { mu.Lock(); observes = append(observes, result); mu.Unlock() },
			})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(h)
			defer srv.Close()

			script := catSecret.ReplaceAllLiteralString(ex.script, "$(cat "+secretFile+")")
			script = anyURL.ReplaceAllLiteralString(script, srv.URL+"/")
			var stderr strings.Builder
			cmd := exec.Command("sh", "-e", "-c", script)
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("the example fails: %v\n%s%s\nscript:\n%s", err, out, stderr.String(), script)
			}
			if !strings.Contains(string(out), "accepted: reconcile of refs/heads/main queued") {
				t.Errorf("curl printed %q, want the 202 answer \"accepted: ...\"", out)
			}
			mu.Lock()
			defer mu.Unlock()
			if diff := cmp.Diff([]string{ResultAccepted}, observes); diff != "" {
				t.Errorf("results (-want +got):\n%s", diff)
			}
			if len(events) != 1 || events[0].Ref != "refs/heads/main" {
				t.Errorf("triggered %+v, want one push to refs/heads/main", events)
			}
		})
	}
}
