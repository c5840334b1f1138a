package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/wirekeeper/wirekeeper/internal/netbeamtest"
	"github.com/wirekeeper/wirekeeper/internal/ovstest"
	"github.com/wirekeeper/wirekeeper/internal/skydivetest"
	"github.com/wirekeeper/wirekeeper/internal/testenv"
	"github.com/wirekeeper/wirekeeper/reconciler"
)

// TestSecretsNeverLeave seeds a distinct secret through every secret the
// daemon takes (each spec secret field, from the environment and from a
// file; the webhook secret), makes every one of them fail (wrong
// passwords, so the errors that name the servers are produced), sends
// webhooks, and then greps everything wirekeeper produced: the daemon's
// log, every file and every commit message of the status branch (status,
// drift report), `wirekeeper plan` and `wirekeeper status`. None may hold
// a secret.
func TestSecretsNeverLeave(t *testing.T) {
	o := ovstest.Shared(t)
	amqpURL, err := url.Parse(testenv.AMQPURL(t))
	if err != nil {
		t.Fatal(err)
	}
	dsn, err := mysql.ParseDSN(testenv.MySQLDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string]string{
		"skydive password":  "Sky-leak-canary-4417",
		"rabbitmq password": "Amqp-leak-canary-9021",
		"mysql password":    "Sql-leak-canary-3388",
		"webhook secret":    "Hook-leak-canary-7265",
	}
	a := skydivetest.Start(t, skydivetest.Options{Users: map[string]string{"wk": "the-right-one"}})
	nb := netbeamtest.Start(t, "esnet/prod")
	nb.SetInterfaces(netbeamtest.Iface("albq-asw1", "ge-0/0/1"))
	goodDSN := dsn.FormatDSN()
	t.Cleanup(func() {
		if db, err := sql.Open("mysql", goodDSN); err == nil {
			db.Exec("DROP TABLE IF EXISTS wk_leak_" + strings.ReplaceAll(t.Name(), "/", "_"))
			db.Close()
		}
	})
	amqpURL.User = url.UserPassword(amqpURL.User.Username(), secrets["rabbitmq password"])
	dsn.Passwd = secrets["mysql password"]

	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	amqpFile := write("amqp-url", amqpURL.String()+"\n")
	hookFile := write("webhook-secret", secrets["webhook secret"]+"\n")
	caFile := write("netbeam-ca.pem", string(nb.CertPEM())) // the daemon trusts the stand-in
	node := ovstest.UniquePortName(t, "hvx")
	spec := fmt.Sprintf(`apiVersion: wirekeeper.io/v1alpha1
kind: OVSManager
metadata: {name: ovs1}
spec: {node: %[1]s, address: %[2]q}
---
apiVersion: wirekeeper.io/v1alpha1
kind: SkyDiveExport
metadata: {name: sky}
spec:
  node: %[1]s
  analyzer: %[3]s
  auth: {username: wk, password: {env: WK_LEAK_SKYDIVE}}
---
apiVersion: wirekeeper.io/v1alpha1
kind: CollectorTarget
metadata: {name: esnet}
spec:
  node: %[1]s
  netbeam: {url: %[4]s}
  interval: 5s
  rabbitmq: {url: {file: %[5]s}, exchange: wk.leak}
  inventory:
    mysql: {dsn: {env: WK_LEAK_DSN}}
---
apiVersion: wirekeeper.io/v1alpha1
kind: CollectorTarget
metadata: {name: esnet2}
spec:
  node: %[1]s
  netbeam: {url: %[4]s}
  interval: 5s
  rabbitmq: {url: {file: %[5]s}, exchange: wk.leak}
  inventory:
    mysql: {dsn: {env: WK_GOOD_DSN}, table: wk_leak_%[6]s}
`, node, o.DB, a.URL(), nb.URL, amqpFile, strings.ReplaceAll(t.Name(), "/", "_"))
	remote, work := newSpecRepo(t)
	pushSpecs(t, work, spec, "every secret field")
	bin := filepath.Join(t.TempDir(), "wirekeeper")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	hookAddr := freeAddr(t)
	var logs bytes.Buffer
	cmd := exec.Command(bin, "run", "--interval", "2s", "--log-level", "debug", "--webhook-listen", hookAddr, "--webhook-secret-file", hookFile)
	cmd.Env = append(os.Environ(), "WIREKEEPER_REPO="+remote, "WIREKEEPER_NODE="+node, "WIREKEEPER_CACHE_DIR="+t.TempDir(),
		"WK_LEAK_SKYDIVE="+secrets["skydive password"], "WK_LEAK_DSN="+dsn.FormatDSN(), "WK_GOOD_DSN="+goodDSN, "SSL_CERT_FILE="+caFile)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	// Every secret has been used and has failed.
	waitUntil(t, "the export and the collector failing in the status", func() bool {
		ns := readStatus(t, remote, node)
		if ns == nil {
			return false
		}
		sky := ns.Object(reconciler.Ref{Kind: "SkyDiveExport", Name: "sky"})
		col := ns.Object(reconciler.Ref{Kind: "CollectorTarget", Name: "esnet"})
		col2 := ns.Object(reconciler.Ref{Kind: "CollectorTarget", Name: "esnet2"})
		return sky != nil && strings.Contains(sky.Message, "401") && col != nil && col.Phase == reconciler.PhaseDegraded &&
			col2 != nil && col2.Phase == reconciler.PhaseDegraded && strings.Contains(col2.Message, "amqp")
	})
	// Webhooks: one forged (signed with a guess), one with the secret in
	// the wrong header, one authentic.
	for _, h := range []map[string]string{
		{"X-Hub-Signature-256": "sha256=" + mac("guess", "{}"), "X-GitHub-Event": "push"},
		{"X-Gitlab-Token": secrets["webhook secret"] + "x", "X-Gitlab-Event": "Push Hook"},
		{"X-Hub-Signature-256": "sha256=" + mac(secrets["webhook secret"], `{"ref":"refs/heads/main"}`), "X-GitHub-Event": "push"},
	} {
		body := "{}"
		if strings.Contains(h["X-Hub-Signature-256"], mac(secrets["webhook secret"], `{"ref":"refs/heads/main"}`)) {
			body = `{"ref":"refs/heads/main"}`
		}
		req, _ := http.NewRequest(http.MethodPost, "http://"+hookAddr+"/", strings.NewReader(body))
		for k, v := range h {
			req.Header.Set(k, v)
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()

	produced := map[string]string{"daemon log": logs.String()}
	// The status branch, whole: every file and every commit message.
	clone := t.TempDir()
	gitCLI(t, clone, "clone", "-q", "--branch", "wirekeeper/status", remote, ".")
	filepath.Walk(clone, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && !strings.Contains(p, "/.git/") {
			b, _ := os.ReadFile(p)
			produced["status branch "+strings.TrimPrefix(p, clone)] = string(b)
		}
		return nil
	})
	produced["status branch commit messages"] = gitCLI(t, clone, "log", "--format=%B")
	var out, errOut bytes.Buffer
	runStatus([]string{"--repo", remote, "--node", node, "--cache-dir", t.TempDir()}, &out, &errOut)
	produced["wirekeeper status"] = out.String() + errOut.String()
	out.Reset()
	errOut.Reset()
	gitCLI(t, work, "checkout", "-q", "-b", "change")
	if err := os.WriteFile(filepath.Join(work, "ovs.yaml"), []byte(strings.Replace(spec, "interval: 5s", "interval: 10s", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	gitCLI(t, work, "commit", "-q", "-am", "a change to review")
	gitCLI(t, work, "push", "-q", "origin", "HEAD:change")
	runPlan([]string{"--repo", remote, "--head", "change", "--cache-dir", t.TempDir()}, &out, &errOut)
	produced["wirekeeper plan"] = out.String() + errOut.String()
	if !strings.Contains(produced["wirekeeper plan"], "CollectorTarget/esnet") {
		t.Errorf("the plan does not show the change, so it was not checked:\n%s", produced["wirekeeper plan"])
	}

	for what, text := range produced {
		for name, s := range secrets {
			if strings.Contains(text, s) {
				i := strings.Index(text, s)
				t.Errorf("%s holds the %s: ...%s...", what, name, text[max(0, i-80):min(len(text), i+len(s)+20)])
			}
		}
	}
	if len(produced) < 6 {
		t.Errorf("only %d outputs checked: %v", len(produced), produced)
	}
}

func mac(secret, body string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(body))
	return hex.EncodeToString(m.Sum(nil))
}
