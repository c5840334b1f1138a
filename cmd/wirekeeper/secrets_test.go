package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/wirekeeper/wirekeeper/internal/netbeamtest"
	"github.com/wirekeeper/wirekeeper/internal/ovstest"
	"github.com/wirekeeper/wirekeeper/internal/skydivetest"
	"github.com/wirekeeper/wirekeeper/internal/testcerts"
	"github.com/wirekeeper/wirekeeper/internal/testenv"
	"github.com/wirekeeper/wirekeeper/reconciler"
)

// TestSecretsNeverLeave seeds distinct canaries through every secret the
// daemon takes (each spec secret field, from the environment and from the
// secrets directory; a TLS key; the webhook secret) and makes each fail in
// every way it can: a value that does not parse, credentials the server
// refuses, a host that does not resolve, a port that refuses, a database
// that does not exist, a key that does not load. Then it greps everything
// wirekeeper produced: the daemon's log, every file and every commit
// message of the status branch, `wirekeeper plan`, `wirekeeper status` and
// /metrics. No canary, nor any part of a URL or DSN read from a secret
// (user, password, host, database, virtual host), may appear in any of them.
func TestSecretsNeverLeave(t *testing.T) {
	o := ovstest.Shared(t)
	amqpURL, err := url.Parse(testenv.AMQPURL(t))
	if err != nil {
		t.Fatal(err)
	}
	goodDSN, err := mysql.ParseDSN(testenv.MySQLDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	// Every canary is a token of its own: the grep below looks for each.
	canaries := []string{
		"Sky-leak-canary-4417", "SkyLogin-leak-canary-5123", "Hook-leak-canary-7265",
		"Amqp-leak-canary-9021",
		"AmqpParseUserCanary", "AmqpParsePwCanary", "AmqpParseVhostCanary",
		"AmqpUnreachUserCanary", "AmqpUnreachPwCanary", "amqpunreach-host-canary", "AmqpUnreachVhostCanary",
		"AmqpRefusedUserCanary", "AmqpRefusedPwCanary", "AmqpRefusedVhostCanary",
		"AmqpVhostUserOK", "AmqpMissingVhostCanary",
		"DsnAuthUserCanary", "DsnAuthPwCanary",
		"glpat-TOPSECRET", "and+the+rest==",
		"DsnUnreachUserCanary", "DsnUnreachPwCanary", "dsnunreach-host-canary", "DsnUnreachDbCanary",
		"DsnDbCanary",
		"TlsKey-leak-canary-0231",
	}
	a := skydivetest.Start(t, skydivetest.Options{Users: map[string]string{"wk": "the-right-one"}})
	a2 := skydivetest.Start(t, skydivetest.Options{Users: map[string]string{"wk": "the-right-one"}})
	nb := netbeamtest.Start(t, "esnet/prod")
	nb.SetInterfaces(netbeamtest.Iface("albq-asw1", "ge-0/0/1"))
	table := "wk_leak_" + strings.ReplaceAll(t.Name(), "/", "_")
	t.Cleanup(func() {
		if db, err := sql.Open("mysql", goodDSN.FormatDSN()); err == nil {
			for i := range 3 {
				db.Exec(fmt.Sprintf("DROP TABLE IF EXISTS %s_%d", table, i))
			}
			db.Close()
		}
	})
	withPassword := func(u url.URL, pw string) string {
		u.User = url.UserPassword(u.User.Username(), pw)
		return u.String()
	}
	dsnWith := func(user, pw, addr, db string) string {
		c := *goodDSN
		c.User, c.Passwd, c.DBName = user, pw, db
		if addr != "" {
			c.Addr = addr
		}
		return c.FormatDSN()
	}
	broker := amqpURL.Host

	secrets := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(secrets, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("sky-login", "SkyLogin-leak-canary-5123\n")
	write("amqp-auth", withPassword(*amqpURL, "Amqp-leak-canary-9021")+"\n")
	write("amqp-unreach", "amqp://AmqpUnreachUserCanary:AmqpUnreachPwCanary@amqpunreach-host-canary.invalid:5672/AmqpUnreachVhostCanary\n")
	write("dsn-parse", "glpat-TOPSECRET/and+the+rest==\n") // the example
	write("netbeam-ca.pem", string(nb.CertPEM()))          // the daemon trusts the stand-in
	ca := testcerts.New(t)
	cert, _ := ca.Client(t, "wirekeeper")
	certPEM, err := os.ReadFile(cert)
	if err != nil {
		t.Fatal(err)
	}
	write("client.pem", string(certPEM))
	write("client-key.pem", "-----BEGIN EC PRIVATE KEY-----\nTlsKey-leak-canary-0231\n-----END EC PRIVATE KEY-----\n")
	hookFile := filepath.Join(t.TempDir(), "webhook-secret")
	if err := os.WriteFile(hookFile, []byte("Hook-leak-canary-7265\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"WIREKEEPER_SECRET_SKY":          "Sky-leak-canary-4417",
		"WIREKEEPER_SECRET_GOOD_AMQP":    amqpURL.String(),
		"WIREKEEPER_SECRET_GOOD_DSN":     goodDSN.FormatDSN(),
		"WIREKEEPER_SECRET_AMQP_PARSE":   "amqp://AmqpParseUserCanary:AmqpParsePwCanary@[bad-host/AmqpParseVhostCanary",
		"WIREKEEPER_SECRET_AMQP_REFUSED": "amqp://AmqpRefusedUserCanary:AmqpRefusedPwCanary@127.0.0.1:1/AmqpRefusedVhostCanary",
		"WIREKEEPER_SECRET_AMQP_VHOST":   "amqp://" + amqpURL.User.String() + "@" + broker + "/AmqpMissingVhostCanary",
		"WIREKEEPER_SECRET_DSN_AUTH":     dsnWith("DsnAuthUserCanary", "DsnAuthPwCanary", "", goodDSN.DBName),
		"WIREKEEPER_SECRET_DSN_UNREACH":  dsnWith("DsnUnreachUserCanary", "DsnUnreachPwCanary", "dsnunreach-host-canary.invalid:3306", "DsnUnreachDbCanary"),
		"WIREKEEPER_SECRET_DSN_DB":       dsnWith(goodDSN.User, goodDSN.Passwd, "", "DsnDbCanary"),
	}
	node := ovstest.UniquePortName(t, "hvx")
	collector := func(name, amqpRef, dsnRef, extra string, n int) string {
		return fmt.Sprintf(`apiVersion: wirekeeper.io/v1alpha1
kind: CollectorTarget
metadata: {name: %s}
spec:
  node: %s
  netbeam: {url: %s}
  interval: 5s
  rabbitmq: {url: %s, exchange: wk.leak.%s%s}
  inventory:
    mysql: {dsn: %s, table: %s_%d}
`, name, node, nb.URL, amqpRef, name, extra, dsnRef, table, n)
	}
	// The failures each target must reach, and the words that say so.
	wantCollectors := map[string]string{
		"amqp-auth":    "rabbitmq.url: cannot connect to the broker it names: the broker refused the credentials",
		"amqp-parse":   "rabbitmq.url: does not parse",
		"amqp-unreach": "rabbitmq.url: cannot connect to the broker it names: the host name does not resolve",
		"amqp-refused": "rabbitmq.url: cannot connect to the broker it names: connection refused",
		"amqp-vhost":   "rabbitmq.url: cannot connect to the broker it names: the broker refused the virtual host",
		"dsn-auth":     "inventory.mysql.dsn: cannot connect to the MySQL server it names: the server refused the credentials (MySQL error 1045)",
		"dsn-parse":    "inventory.mysql.dsn: does not parse",
		"dsn-unreach":  "inventory.mysql.dsn: cannot connect to the MySQL server it names: the host name does not resolve",
		"dsn-db":       "inventory.mysql.dsn: cannot connect to the MySQL server it names: ",
		"tls-key":      "rabbitmq.tls: client certificate",
	}
	specs := strings.Join([]string{
		fmt.Sprintf("apiVersion: wirekeeper.io/v1alpha1\nkind: OVSManager\nmetadata: {name: ovs1}\nspec: {node: %s, address: %q}\n", node, o.DB),
		fmt.Sprintf("apiVersion: wirekeeper.io/v1alpha1\nkind: SkyDiveExport\nmetadata: {name: sky}\nspec:\n  node: %s\n  analyzer: %s\n  auth: {username: wk, password: {env: WIREKEEPER_SECRET_SKY}}\n", node, a.URL()),
		fmt.Sprintf("apiVersion: wirekeeper.io/v1alpha1\nkind: SkyDiveExport\nmetadata: {name: sky-login}\nspec:\n  node: %s\n  analyzer: %s\n  auth: {username: wk, password: {file: sky-login}, method: login}\n", node, a2.URL()),
		collector("amqp-auth", "{file: amqp-auth}", "{env: WIREKEEPER_SECRET_GOOD_DSN}", "", 0),
		collector("amqp-parse", "{env: WIREKEEPER_SECRET_AMQP_PARSE}", "{env: WIREKEEPER_SECRET_GOOD_DSN}", "", 1),
		collector("amqp-unreach", "{file: amqp-unreach}", "{env: WIREKEEPER_SECRET_GOOD_DSN}", "", 2),
		collector("amqp-refused", "{env: WIREKEEPER_SECRET_AMQP_REFUSED}", "{env: WIREKEEPER_SECRET_GOOD_DSN}", "", 0),
		collector("amqp-vhost", "{env: WIREKEEPER_SECRET_AMQP_VHOST}", "{env: WIREKEEPER_SECRET_GOOD_DSN}", "", 1),
		collector("dsn-auth", "{env: WIREKEEPER_SECRET_GOOD_AMQP}", "{env: WIREKEEPER_SECRET_DSN_AUTH}", "", 0),
		collector("dsn-parse", "{env: WIREKEEPER_SECRET_GOOD_AMQP}", "{file: dsn-parse}", "", 0),
		collector("dsn-unreach", "{env: WIREKEEPER_SECRET_GOOD_AMQP}", "{env: WIREKEEPER_SECRET_DSN_UNREACH}", "", 0),
		collector("dsn-db", "{env: WIREKEEPER_SECRET_GOOD_AMQP}", "{env: WIREKEEPER_SECRET_DSN_DB}", "", 0),
		collector("tls-key", "{env: WIREKEEPER_SECRET_GOOD_AMQP}", "{env: WIREKEEPER_SECRET_GOOD_DSN}", ", tls: {certFile: client.pem, keyFile: client-key.pem}", 2),
	}, "---\n")
	remote, work := newSpecRepo(t)
	pushSpecs(t, work, specs, "every secret field, every failure")
	hookAddr, metricsAddr := freeAddr(t), freeAddr(t)
	var logs bytes.Buffer
	cmd := exec.Command(testenv.Binary(t), "run", "--interval", "2s", "--log-level", "debug", "--secrets-dir", secrets,
		"--webhook-listen", hookAddr, "--webhook-secret-file", hookFile, "--metrics-listen", metricsAddr)
	cmd.Env = append(os.Environ(), "WIREKEEPER_REPO="+remote, "WIREKEEPER_NODE="+node, "WIREKEEPER_CACHE_DIR="+t.TempDir(),
		"SSL_CERT_FILE="+filepath.Join(secrets, "netbeam-ca.pem"))
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	// Every secret has been used and has failed, each as expected.
	var last *reconciler.NodeStatus
	waitUntilFor(t, "every export and collector failing as expected in the status", 90*time.Second, func() bool {
		last = readStatus(t, remote, node)
		if last == nil {
			return false
		}
		for _, name := range []string{"sky", "sky-login"} {
			o := last.Object(reconciler.Ref{Kind: "SkyDiveExport", Name: name})
			if o == nil || !strings.Contains(o.Message, "refused the credentials") {
				return false
			}
		}
		for name, want := range wantCollectors {
			o := last.Object(reconciler.Ref{Kind: "CollectorTarget", Name: name})
			if o == nil || o.Phase == reconciler.PhaseReady || !strings.Contains(o.Message, want) {
				return false
			}
		}
		return true
	}, func() string {
		var b strings.Builder
		if last != nil {
			for _, o := range last.Objects {
				fmt.Fprintf(&b, "%s/%s %s: %s\n", o.Kind, o.Name, o.Phase, o.Message)
			}
		}
		return b.String()
	})
	for _, o := range last.Objects {
		t.Logf("%s/%s %s: %s", o.Kind, o.Name, o.Phase, o.Message)
	}
	// Webhooks: one forged (signed with a guess), one with the secret in
	// the wrong header, one authentic.
	for _, h := range []map[string]string{
		{"X-Hub-Signature-256": "sha256=" + mac("guess", "{}"), "X-GitHub-Event": "push"},
		{"X-Gitlab-Token": "Hook-leak-canary-7265" + "x", "X-Gitlab-Event": "Push Hook"},
		{"X-Hub-Signature-256": "sha256=" + mac("Hook-leak-canary-7265", `{"ref":"refs/heads/main"}`), "X-GitHub-Event": "push"},
	} {
		body := "{}"
		if strings.Contains(h["X-Hub-Signature-256"], mac("Hook-leak-canary-7265", `{"ref":"refs/heads/main"}`)) {
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
	produced := map[string]string{}
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metricsText, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	produced["/metrics"] = string(metricsText)
	if !strings.Contains(produced["/metrics"], `wirekeeper_webhook_requests_total`) {
		t.Errorf("/metrics does not hold the webhook counters, so it was not checked:\n%.2000s", produced["/metrics"])
	}
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	produced["daemon log"] = logs.String()

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
	if !strings.Contains(produced["wirekeeper status"], "dsn-parse") {
		t.Errorf("wirekeeper status does not show the targets, so it was not checked:\n%s", produced["wirekeeper status"])
	}
	out.Reset()
	errOut.Reset()
	gitCLI(t, work, "checkout", "-q", "-b", "change")
	if err := os.WriteFile(filepath.Join(work, "ovs.yaml"), []byte(strings.ReplaceAll(specs, "interval: 5s", "interval: 10s")), 0o644); err != nil {
		t.Fatal(err)
	}
	gitCLI(t, work, "commit", "-q", "-am", "a change to review")
	gitCLI(t, work, "push", "-q", "origin", "HEAD:change")
	runPlan([]string{"--repo", remote, "--head", "change", "--cache-dir", t.TempDir()}, &out, &errOut)
	produced["wirekeeper plan"] = out.String() + errOut.String()
	if !strings.Contains(produced["wirekeeper plan"], "CollectorTarget/dsn-parse") {
		t.Errorf("the plan does not show the change, so it was not checked:\n%s", produced["wirekeeper plan"])
	}

	for what, text := range produced {
		for _, s := range canaries {
			if i := strings.Index(text, s); i >= 0 {
				t.Errorf("%s holds the canary %s: ...%s...", what, s, text[max(0, i-120):min(len(text), i+len(s)+40)])
			}
		}
	}
	if len(produced) < 7 {
		t.Errorf("only %d outputs checked: %v", len(produced), slices.Collect(maps.Keys(produced)))
	}
	if t.Failed() {
		t.Logf("daemon log:\n%s", logs.String())
	}
}

func mac(secret, body string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(body))
	return hex.EncodeToString(m.Sum(nil))
}
