package ci

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/wirekeeper/wirekeeper/internal/testenv"
)

const token = "wk-test-token-3f9a"

const specs = `---
apiVersion: wirekeeper.io/v1alpha1
kind: OVSManager
metadata: {name: ovs1}
spec: {node: hv1, address: unix:/run/ovs.sock}
---
apiVersion: wirekeeper.io/v1alpha1
kind: Mirror
metadata: {name: tap}
spec: {manager: ovs1, bridge: br0, selectAll: true, output: {port: tap0}}
`

// root is the repository root, where action.yml is.
func root(t *testing.T) string {
	t.Helper()
	r, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// forge is a stub of the comment API of GitHub or GitLab: it keeps the
// comments of one request and records the writes.
type forge struct {
	t      *testing.T
	gitlab bool
	mu     sync.Mutex
	bodies map[int]string // id -> body
	writes []string       // "POST", "PATCH 1", ...
}

func (f *forge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	list, one := "/repos/own/specs/issues/7/comments", regexp.MustCompile(`^/repos/own/specs/issues/comments/(\d+)$`)
	auth, want := r.Header.Get("Authorization"), "Bearer "+token
	if f.gitlab {
		list, one = "/api/v4/projects/42/merge_requests/3/notes", regexp.MustCompile(`^/api/v4/projects/42/merge_requests/3/notes/(\d+)$`)
		auth, want = r.Header.Get("PRIVATE-TOKEN"), token
	}
	if auth != want {
		http.Error(w, "bad credentials", http.StatusUnauthorized)
		return
	}
	var body struct{ Body string }
	if r.Method != http.MethodGet {
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
	}
	switch m := one.FindStringSubmatch(r.URL.Path); {
	case r.URL.Path == list && r.Method == http.MethodGet:
		var out []map[string]any
		for id := 1; id <= len(f.bodies)+10; id++ {
			if b, ok := f.bodies[id]; ok {
				out = append(out, map[string]any{"id": id, "body": b})
			}
		}
		if out == nil {
			out = []map[string]any{}
		}
		json.NewEncoder(w).Encode(out)
	case r.URL.Path == list && r.Method == http.MethodPost:
		id := len(f.bodies) + 1
		f.bodies[id] = body.Body
		f.writes = append(f.writes, "POST")
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(map[string]any{"id": id})
	case m != nil && (r.Method == http.MethodPatch && !f.gitlab || r.Method == http.MethodPut && f.gitlab):
		id, _ := strconv.Atoi(m[1])
		if _, ok := f.bodies[id]; !ok {
			http.NotFound(w, r)
			return
		}
		f.bodies[id] = body.Body
		f.writes = append(f.writes, r.Method+" "+m[1])
		json.NewEncoder(w).Encode(map[string]any{"id": id})
	default:
		f.t.Errorf("unexpected request %s %s", r.Method, r.URL)
		http.NotFound(w, r)
	}
}

// repos makes the base repository (main holds specs), a fork of it, and
// the job's clone of the base, as actions/checkout or GitLab's runner
// leave it. push(content) commits content as ovs.yaml on the fork's
// feature branch and publishes it in the base repository under headRef,
// as the forge does for a request from a fork.
func repos(t *testing.T, headRef string) (workspace string, push func(content string)) {
	t.Helper()
	dir := t.TempDir()
	base, fork, work := filepath.Join(dir, "base.git"), filepath.Join(dir, "fork.git"), filepath.Join(dir, "work")
	testenv.Git(t, dir, "init", "-q", "--bare", "-b", "main", base)
	testenv.Git(t, dir, "init", "-q", "-b", "main", work)
	if err := os.WriteFile(filepath.Join(work, "ovs.yaml"), []byte(specs), 0o644); err != nil {
		t.Fatal(err)
	}
	testenv.Git(t, work, "add", "-A")
	testenv.Git(t, work, "commit", "-q", "-m", "specs")
	testenv.Git(t, work, "push", "-q", base, "main")
	testenv.Git(t, dir, "clone", "-q", "--bare", base, fork)
	testenv.Git(t, work, "checkout", "-q", "-b", "feature")
	push = func(content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(work, "ovs.yaml"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		testenv.Git(t, work, "commit", "-q", "-am", "feature")
		testenv.Git(t, work, "push", "-q", "-f", fork, "feature")
		// The forge copies the fork's head into the base repository.
		testenv.Git(t, fork, "push", "-q", "-f", base, "feature:"+headRef)
	}
	workspace = filepath.Join(dir, "workspace")
	testenv.Git(t, dir, "clone", "-q", base, workspace)
	return workspace, push
}

// run runs a job step's shell script with env (and nothing else of the
// test's environment but PATH and HOME), from dir.
func run(t *testing.T, dir, script string, env map[string]string) (code int, output string) {
	t.Helper()
	cmd := exec.Command("bash", "-eo", "pipefail", "-c", script)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GOCACHE=" + goEnv(t, "GOCACHE"), "GOMODCACHE=" + goEnv(t, "GOMODCACHE"), "GOFLAGS=" + os.Getenv("GOFLAGS"), "GOPROXY=" + goEnv(t, "GOPROXY")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	}
	if err != nil {
		t.Fatalf("%s: %v", script, err)
	}
	return 0, string(out)
}

func goEnv(t *testing.T, name string) string {
	t.Helper()
	out, err := exec.Command("go", "env", name).Output()
	if err != nil {
		t.Fatalf("go env %s: %v", name, err)
	}
	return strings.TrimSpace(string(out))
}

var expression = regexp.MustCompile(`\$\{\{\s*([^}]+?)\s*\}\}`)

// TestGitHubAction runs action.yml's steps as GitHub's runner would for a
// pull request from a fork: the build step, then the validate-and-plan
// step with the environment action.yml gives it (its ${{ }} expressions
// evaluated from a pull_request event), twice: the second push updates
// the comment the first posted.
func TestGitHubAction(t *testing.T) {
	testenv.NeedBins(t, "ci: the pull-request job", "apt-get install git jq curl", false, "git", "jq", "curl", "go")
	data, err := os.ReadFile(filepath.Join(root(t), "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var action struct {
		Inputs map[string]struct{ Default string }
		Runs   struct {
			Using string
			Steps []struct {
				Name, Shell, Run, Uses string
				Env                    map[string]string
			}
		}
	}
	if err := yaml.Unmarshal(data, &action); err != nil {
		t.Fatalf("action.yml: %v", err)
	}
	if action.Runs.Using != "composite" {
		t.Fatalf("action.yml runs using %q, want composite", action.Runs.Using)
	}
	f := &forge{t: t, bodies: map[int]string{}}
	api := httptest.NewServer(f)
	defer api.Close()
	workspace, push := repos(t, "refs/pull/7/head")
	runnerTemp, summary := t.TempDir(), filepath.Join(t.TempDir(), "summary.md")
	context := map[string]string{
		"github.workspace": workspace, "github.event.pull_request.base.ref": "main",
		"github.event.pull_request.number": "7", "github.event.pull_request.head.label": "forker:feature",
		"github.api_url": api.URL, "github.repository": "own/specs", "github.token": token,
		"runner.temp": runnerTemp,
	}
	for name, in := range action.Inputs {
		context["inputs."+name] = expression.ReplaceAllStringFunc(in.Default, func(e string) string {
			return context[expression.FindStringSubmatch(e)[1]]
		})
	}
	eval := func(s string) string {
		return expression.ReplaceAllStringFunc(s, func(e string) string {
			name := expression.FindStringSubmatch(e)[1]
			v, ok := context[name]
			if !ok {
				t.Fatalf("action.yml uses ${{ %s }}, which this test does not provide", name)
			}
			return v
		})
	}
	runSteps := func() (int, string) {
		var all strings.Builder
		for _, s := range action.Runs.Steps {
			if s.Uses != "" {
				continue // actions/setup-go: the machine has Go
			}
			env := map[string]string{"GITHUB_ACTION_PATH": root(t), "RUNNER_TEMP": runnerTemp, "GITHUB_STEP_SUMMARY": summary, "GITHUB_WORKSPACE": workspace}
			for k, v := range s.Env {
				env[k] = eval(v)
			}
			code, out := run(t, workspace, eval(s.Run), env)
			fmt.Fprintf(&all, "--- %s (exit %d)\n%s", s.Name, code, out)
			if code != 0 {
				return code, all.String()
			}
		}
		return 0, all.String()
	}

	push(strings.Replace(specs, "tap0", "tap1", 1))
	code, out := runSteps()
	if code != 0 {
		t.Fatalf("the action failed (exit %d):\n%s", code, out)
	}
	if strings.Contains(out, token) {
		t.Errorf("the job's output shows the token:\n%s", out)
	}
	f.mu.Lock()
	if len(f.writes) != 1 || f.writes[0] != "POST" {
		t.Errorf("comment writes = %v, want one POST", f.writes)
	}
	comment := f.bodies[1]
	f.mu.Unlock()
	for _, want := range []string{"<!-- wirekeeper-plan -->", "## wirekeeper plan: merging `forker:feature` into `main`", "`Mirror/tap`", `"tap0" → "tap1"`} {
		if !strings.Contains(comment, want) {
			t.Errorf("the comment lacks %q:\n%s", want, comment)
		}
	}
	if got, _ := os.ReadFile(summary); !strings.Contains(string(got), "## wirekeeper plan: merging `forker:feature` into `main`") {
		t.Errorf("the job summary lacks the plan:\n%s", got)
	}
	// The head was read through git only: the job's clone still has the
	// base checked out, untouched.
	if b := testenv.Git(t, workspace, "rev-parse", "--abbrev-ref", "HEAD"); b != "main" {
		t.Errorf("the job's clone has %s checked out, want main", b)
	}
	if st := testenv.Git(t, workspace, "status", "--porcelain"); st != "" {
		t.Errorf("the job's clone changed:\n%s", st)
	}
	if got, _ := os.ReadFile(filepath.Join(workspace, "ovs.yaml")); string(got) != specs {
		t.Errorf("the job's clone holds the head's ovs.yaml:\n%s", got)
	}

	// A second push: the same comment is updated, with the new plan; an
	// invalid head fails the check, with the plan posted all the same and
	// the problem as an annotation on the file.
	push(strings.Replace(specs, "tap0", `""`, 1))
	code, out = runSteps()
	if code != 1 {
		t.Errorf("the action with an invalid head exited %d, want 1:\n%s", code, out)
	}
	if !strings.Contains(out, "::error file=ovs.yaml,line=") {
		t.Errorf("no GitHub annotation on ovs.yaml:\n%s", out)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.writes) != 2 || f.writes[1] != "PATCH 1" || !strings.Contains(f.bodies[1], "is invalid") {
		t.Errorf("comment writes = %v (comment: %s), want the first comment updated with the invalid head", f.writes, f.bodies[1])
	}
}

// TestGitLabTemplate runs the GitLab template's script, with the
// variables of a merge_request_event pipeline, against a merge request
// from a fork.
func TestGitLabTemplate(t *testing.T) {
	testenv.NeedBins(t, "ci: the merge-request job", "apt-get install git jq curl", false, "git", "jq", "curl")
	data, err := os.ReadFile(filepath.Join(root(t), "scripts", "ci", "wirekeeper-plan.gitlab-ci.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var tmpl map[string]struct {
		Variables map[string]string
		Script    []string
	}
	if err := yaml.Unmarshal(data, &tmpl); err != nil {
		t.Fatalf("wirekeeper-plan.gitlab-ci.yml: %v", err)
	}
	job, ok := tmpl["wirekeeper-plan"]
	if !ok || len(job.Script) != 1 {
		t.Fatalf("wirekeeper-plan.gitlab-ci.yml has no job wirekeeper-plan with one script line: %+v", tmpl)
	}
	f := &forge{t: t, gitlab: true, bodies: map[int]string{}}
	api := httptest.NewServer(f)
	defer api.Close()
	workspace, push := repos(t, "refs/merge-requests/3/head")
	push(strings.Replace(specs, "tap0", "tap1", 1))
	// The template runs the script of the wirekeeper it cloned; here, this
	// tree's, with the binary the before_script would have built.
	script := strings.ReplaceAll(job.Script[0], "/tmp/wirekeeper-src/", root(t)+"/")
	env := map[string]string{
		"CI_PROJECT_DIR": workspace, "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main", "CI_MERGE_REQUEST_IID": "3",
		"CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": "feature", "CI_API_V4_URL": api.URL + "/api/v4", "CI_PROJECT_ID": "42",
		"WIREKEEPER_PLAN_TOKEN": token, "WIREKEEPER": testenv.Binary(t),
	}
	for k, v := range job.Variables {
		env[k] = v
	}
	for range 2 {
		code, out := run(t, workspace, script, env)
		if code != 0 {
			t.Fatalf("the template's script failed (exit %d):\n%s", code, out)
		}
		if strings.Contains(out, token) {
			t.Errorf("the job's output shows the token:\n%s", out)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.writes) != 2 || f.writes[0] != "POST" || f.writes[1] != "PUT 1" {
		t.Errorf("note writes = %v, want a POST then a PUT of the same note", f.writes)
	}
	if !strings.Contains(f.bodies[1], "## wirekeeper plan: merging `feature` into `main`") {
		t.Errorf("the note lacks the plan:\n%s", f.bodies[1])
	}
}
