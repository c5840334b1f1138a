package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// testRunEnv is a machine with the hostname node-1 and a user cache in
// /home/u/.cache, whose environment is env.
func testRunEnv(env map[string]string) runEnv {
	return runEnv{
		getenv:       func(k string) string { return env[k] },
		hostname:     func() (string, error) { return "node-1", nil },
		userCacheDir: func() (string, error) { return "/home/u/.cache", nil },
		readFile:     os.ReadFile,
	}
}

// defaultRunConfig is what `wirekeeper run --repo git://h/spec` gives on testRunEnv.
func defaultRunConfig() runConfig {
	return runConfig{
		Repo: "git://h/spec", Branch: "main", Node: "node-1", Interval: 30 * time.Second,
		StatusBranch: "wirekeeper/status", CacheDir: "/home/u/.cache/wirekeeper", SecretsDir: "/etc/wirekeeper/secrets",
		StatusRefPrefix: "refs/wirekeeper/status/", Aggregate: "auto",
		MaxPruneFraction: 0.5, LogFormat: "text", LogLevel: "info", Workers: 4,
	}
}

func writeConfig(t *testing.T, content string) string {
	t.Helper()
	return writeFile(t, t.TempDir(), "run.yaml", content)
}

func TestLoadRunConfigDefaults(t *testing.T) {
	got, err := testRunEnv(nil).load([]string{"--repo", "git://h/spec"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(defaultRunConfig(), got); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
}

func TestLoadRunConfigMachineDefaults(t *testing.T) {
	t.Run("real machine", func(t *testing.T) {
		got, err := loadRunConfig([]string{"--repo", "git://h/spec"}, func(string) string { return "" })
		host, herr := os.Hostname()
		if herr != nil {
			t.Skip("no hostname here:", herr)
		}
		if err != nil {
			t.Fatal(err)
		}
		wantCache := "/var/cache/wirekeeper"
		if d, err := os.UserCacheDir(); err == nil {
			wantCache = filepath.Join(d, "wirekeeper")
		}
		if got.Node != host || got.CacheDir != wantCache {
			t.Errorf("node, cache dir = %q, %q; want %q, %q", got.Node, got.CacheDir, host, wantCache)
		}
	})
	t.Run("no user cache dir", func(t *testing.T) {
		e := testRunEnv(nil)
		e.userCacheDir = func() (string, error) { return "", errors.New("$HOME is not defined") }
		got, err := e.load([]string{"--repo", "git://h/spec"})
		if err != nil || got.CacheDir != "/var/cache/wirekeeper" {
			t.Errorf("cache dir = %q, %v; want /var/cache/wirekeeper", got.CacheDir, err)
		}
	})
	t.Run("no hostname", func(t *testing.T) {
		e := testRunEnv(nil)
		e.hostname = func() (string, error) { return "", errors.New("uname failed") }
		_, err := e.load([]string{"--repo", "git://h/spec"})
		checkErr(t, err, "--node is required: cannot read the hostname: uname failed")
		if _, err := e.load([]string{"--repo", "git://h/spec", "--node", "n1"}); err != nil {
			t.Errorf("with --node: %v", err)
		}
	})
	t.Run("hostname not a node name", func(t *testing.T) {
		e := testRunEnv(nil)
		e.hostname = func() (string, error) { return "-bad-", nil }
		_, err := e.load([]string{"--repo", "git://h/spec"})
		checkErr(t, err, `node "-bad-" (the default, this host's name; set --node): not a node name`)
	})
}

// checkErr fails unless err holds every one of wants.
func checkErr(t *testing.T, err error, wants ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want one containing %q", wants)
	}
	for _, w := range wants {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not contain %q:\n%v", w, err)
		}
	}
}

func TestLoadRunConfigEverySetting(t *testing.T) {
	file := writeConfig(t, `repo: ssh://git@example.com/net/spec.git
branch: prod
path: sites/./ams/
node: edge-7.ams
interval: 2m
statusBranch: prod-status
statusRepo: https://example.com/net/status.git
statusRefPrefix: refs/heads/wirekeeper/nodes/
aggregate: never
cacheDir: /srv/cache
secretsDir: /run/credentials/wirekeeper.service
webhookListen: ":9000"
webhookSecretFile: /etc/wk/hook
metricsListen: 127.0.0.1:9090
sshKeyFile: /etc/wk/id_ed25519
knownHostsFile: /etc/wk/known_hosts
insecureSkipHostKeyCheck: false
httpsUsername: bot
httpsPasswordFile: /etc/wk/token
verifySignatures: /etc/wk/keyring.gpg
maxPruneFraction: 0.25
logFormat: json
logLevel: debug
workers: 8
`)
	got, err := testRunEnv(nil).load([]string{"--config", file})
	if err != nil {
		t.Fatal(err)
	}
	want := runConfig{
		Repo: "ssh://git@example.com/net/spec.git", Branch: "prod", Path: "sites/ams", Node: "edge-7.ams",
		Interval: 2 * time.Minute, StatusBranch: "prod-status", CacheDir: "/srv/cache", SecretsDir: "/run/credentials/wirekeeper.service",
		StatusRepo: "https://example.com/net/status.git", StatusRefPrefix: "refs/heads/wirekeeper/nodes/", Aggregate: "never",
		WebhookListen: ":9000", WebhookSecretFile: "/etc/wk/hook", MetricsListen: "127.0.0.1:9090",
		SSHKeyFile: "/etc/wk/id_ed25519", KnownHostsFile: "/etc/wk/known_hosts",
		HTTPSUsername: "bot", HTTPSPasswordFile: "/etc/wk/token", VerifySignatures: "/etc/wk/keyring.gpg",
		MaxPruneFraction: 0.25, LogFormat: "json", LogLevel: "debug", Workers: 8, Config: file,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
}

func TestLoadRunConfigPrecedence(t *testing.T) {
	file := writeConfig(t, "repo: git://h/file\ninterval: 10s\nworkers: 2\nlogLevel: warn\n")
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want func(*runConfig)
	}{
		{"file beats default", []string{"--config", file}, nil,
			func(c *runConfig) {
				c.Repo, c.Interval, c.Workers, c.LogLevel = "git://h/file", 10*time.Second, 2, "warn"
			}},
		{"env beats file", []string{"--config", file},
			map[string]string{"WIREKEEPER_INTERVAL": "20s", "WIREKEEPER_WORKERS": "3"},
			func(c *runConfig) {
				c.Repo, c.Interval, c.Workers, c.LogLevel = "git://h/file", 20*time.Second, 3, "warn"
			}},
		{"flag beats env", []string{"--config", file, "--interval", "40s", "--repo=git://h/flag"},
			map[string]string{"WIREKEEPER_INTERVAL": "20s", "WIREKEEPER_REPO": "git://h/env"},
			func(c *runConfig) {
				c.Repo, c.Interval, c.Workers, c.LogLevel = "git://h/flag", 40*time.Second, 2, "warn"
			}},
		{"config file from the environment", nil,
			map[string]string{"WIREKEEPER_CONFIG": file, "WIREKEEPER_LOG_LEVEL": "error"},
			func(c *runConfig) {
				c.Repo, c.Interval, c.Workers, c.LogLevel = "git://h/file", 10*time.Second, 2, "error"
			}},
		{"empty flag beats env", []string{"--repo", "git://h/spec", "--path", ""},
			map[string]string{"WIREKEEPER_PATH": "sites"}, func(c *runConfig) {}},
		{"empty env is unset", []string{"--repo", "git://h/spec"},
			map[string]string{"WIREKEEPER_BRANCH": ""}, func(c *runConfig) {}},
		{"boolean flag alone", []string{"--repo", "git://h/spec", "--insecure-skip-host-key-check"}, nil,
			func(c *runConfig) { c.InsecureSkipHostKeyCheck = true }},
		{"boolean flag false beats env", []string{"--repo", "git://h/spec", "--insecure-skip-host-key-check=false"},
			map[string]string{"WIREKEEPER_INSECURE_SKIP_HOST_KEY_CHECK": "true"}, func(c *runConfig) {}},
		{"boolean env", []string{"--repo", "git://h/spec"},
			map[string]string{"WIREKEEPER_INSECURE_SKIP_HOST_KEY_CHECK": "true"},
			func(c *runConfig) { c.InsecureSkipHostKeyCheck = true }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := testRunEnv(tt.env).load(tt.args)
			if err != nil {
				t.Fatal(err)
			}
			want := defaultRunConfig()
			if strings.Contains(strings.Join(tt.args, " "), file) || tt.env["WIREKEEPER_CONFIG"] != "" {
				want.Config = file
			}
			tt.want(&want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadRunConfigInvalid(t *testing.T) {
	repo := []string{"--repo", "git://h/spec"}
	with := func(args ...string) []string { return append(append([]string{}, repo...), args...) }
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		file  string // config file content; its path replaces CFG in the wants
		wants []string
	}{
		{"no repo", nil, nil, "", []string{"--repo is required"}},
		{"empty repo", []string{"--repo="}, nil, "", []string{`--repo="": must not be empty`}},
		{"repo with a password", []string{"--repo", "https://bot:hunter2@h/spec"}, nil, "",
			[]string{"--repo=https://bot:xxxxx@h/spec: holds a password; put it in a file and set --https-password-file"}},
		{"repo scheme", nil, map[string]string{"WIREKEEPER_REPO": "ftp://h/spec"}, "",
			[]string{`WIREKEEPER_REPO=ftp://h/spec: unsupported scheme "ftp"`}},
		{"repo with a space", nil, nil, "repo: git://h/my spec\n",
			[]string{`CFG:1: repo: "git://h/my spec": contains whitespace`}},

		{"interval flag", with("--interval", "500ms"), nil, "", []string{"--interval=500ms: must be at least 1s"}},
		{"interval env", repo, map[string]string{"WIREKEEPER_INTERVAL": "soon"}, "",
			[]string{"WIREKEEPER_INTERVAL=soon: not a duration; valid: for example 30s, 5m or 1h"}},
		{"interval file", repo, nil, "# settings\n\ninterval: 10\n",
			[]string{"CFG:3: interval: 10: not a duration"}},

		{"branch with a space", with("--branch", "my branch"), nil, "", []string{`--branch="my branch": not a branch name: contains " "`}},
		{"branch starting with -", repo, map[string]string{"WIREKEEPER_BRANCH": "-main"}, "", []string{"WIREKEEPER_BRANCH=-main: not a branch name: starts with '-'"}},
		{"branch with ..", repo, nil, "branch: a..b\n", []string{"CFG:1: branch: a..b: not a branch name: contains .."}},
		{"branch as a ref", with("--branch", "refs/heads/main"), nil, "", []string{"without refs/heads/"}},
		{"branch with .lock", with("--branch", "x/y.lock"), nil, "", []string{"ends with .lock"}},
		{"status branch", with("--status-branch", "st~1"), nil, "", []string{`--status-branch=st~1: not a branch name: contains "~"`}},
		{"status branch is the spec branch", with("--branch", "ops"), map[string]string{"WIREKEEPER_STATUS_BRANCH": "ops"}, "",
			[]string{"WIREKEEPER_STATUS_BRANCH=ops: the status branch must differ from the spec branch (--branch=ops)"}},
		{"spec branch is the default status branch", with("--branch", "wirekeeper/status"), nil, "",
			[]string{"status-branch wirekeeper/status (the default): the status branch must differ"}},
		{"status ref prefix", with("--status-ref-prefix", "refs/wirekeeper/status"), nil, "",
			[]string{`--status-ref-prefix=refs/wirekeeper/status: invalid status ref prefix "refs/wirekeeper/status"`}},
		{"status ref prefix clashing with the branch", with("--status-ref-prefix", "refs/heads/ops/"), map[string]string{"WIREKEEPER_STATUS_BRANCH": "ops/status"}, "",
			[]string{"--status-ref-prefix=refs/heads/ops/ and WIREKEEPER_STATUS_BRANCH=ops/status: status ref prefix \"refs/heads/ops/\" clashes with the status branch refs/heads/ops/status"}},
		{"status repo with a password", with("--status-repo", "https://bot:hunter2@h/status"), nil, "",
			[]string{"--status-repo=https://bot:xxxxx@h/status: holds a password"}},
		{"aggregate", repo, nil, "aggregate: always\n", []string{"CFG:1: aggregate: always: unknown mode; valid: auto, never"}},

		{"node", with("--node", "node_1-"), nil, "", []string{"--node=node_1-: not a node name: 1..253 characters"}},
		{"node env", repo, map[string]string{"WIREKEEPER_NODE": "a b"}, "", []string{`WIREKEEPER_NODE="a b": not a node name`}},
		{"node too long", with("--node", strings.Repeat("n", 254)), nil, "", []string{"not a node name"}},

		{"absolute path", with("--path", "/etc"), nil, "", []string{"--path=/etc: must be relative to the repository root"}},
		{"path leaving the repo", repo, nil, "path: a/../../b\n", []string{"CFG:1: path: a/../../b: leaves the repository"}},

		{"ssh key inside the secrets directory", with("--ssh-key-file", "/etc/wirekeeper/secrets/ssh-key"), nil, "",
			[]string{"--ssh-key-file=/etc/wirekeeper/secrets/ssh-key lies inside secrets-dir /etc/wirekeeper/secrets (the default): any spec could name it"}},
		{"webhook secret inside a chosen secrets directory", with("--secrets-dir", "/run/creds"), map[string]string{"WIREKEEPER_WEBHOOK_SECRET_FILE": "/run/creds/sub/hook", "WIREKEEPER_WEBHOOK_LISTEN": ":9000"}, "",
			[]string{"WIREKEEPER_WEBHOOK_SECRET_FILE=/run/creds/sub/hook lies inside --secrets-dir=/run/creds"}},
		{"allowed signers inside the secrets directory", repo, nil, "allowedSigners: /etc/wirekeeper/secrets/allowed_signers\n",
			[]string{"CFG:1: allowedSigners: /etc/wirekeeper/secrets/allowed_signers lies inside secrets-dir /etc/wirekeeper/secrets (the default): any spec could name it"}},
		{"trust policy without signatures", with("--trust-policy", "/etc/wirekeeper/trust.yaml"), nil, "",
			[]string{"--trust-policy=/etc/wirekeeper/trust.yaml: a trust policy needs signatures to check: set --verify-signatures and/or --allowed-signers"}},
		{"empty secrets directory", with("--secrets-dir="), nil, "", []string{`--secrets-dir="": must not be empty`}},

		{"fraction above 1", with("--max-prune-fraction", "1.5"), nil, "", []string{"--max-prune-fraction=1.5: must be a number from 0 to 1"}},
		{"fraction NaN", repo, map[string]string{"WIREKEEPER_MAX_PRUNE_FRACTION": "NaN"}, "", []string{"WIREKEEPER_MAX_PRUNE_FRACTION=NaN: must be a number from 0 to 1"}},
		{"fraction negative file", repo, nil, "maxPruneFraction: -0.1\n", []string{"CFG:1: maxPruneFraction: -0.1: must be a number from 0 to 1"}},

		{"log format", with("--log-format", "xml"), nil, "", []string{"--log-format=xml: unknown log format; valid: text, json"}},
		{"log level", repo, map[string]string{"WIREKEEPER_LOG_LEVEL": "verbose"}, "", []string{"WIREKEEPER_LOG_LEVEL=verbose: unknown log level; valid: debug, info, warn, error"}},
		{"log level file", repo, nil, "logLevel: INFO\n", []string{"CFG:1: logLevel: INFO: unknown log level"}},

		{"workers zero", with("--workers", "0"), nil, "", []string{"--workers=0: must be a whole number, at least 1"}},
		{"workers env", repo, map[string]string{"WIREKEEPER_WORKERS": "four"}, "", []string{"WIREKEEPER_WORKERS=four: must be a whole number"}},

		{"boolean env", repo, map[string]string{"WIREKEEPER_INSECURE_SKIP_HOST_KEY_CHECK": "yes please"}, "",
			[]string{`WIREKEEPER_INSECURE_SKIP_HOST_KEY_CHECK="yes please": not a boolean; valid: true, false`}},
		{"boolean file", repo, nil, "insecureSkipHostKeyCheck: maybe\n", []string{"CFG:1: insecureSkipHostKeyCheck: maybe: not a boolean"}},
		{"insecure and known hosts", with("--insecure-skip-host-key-check", "--known-hosts-file", "/k"), nil, "",
			[]string{"--insecure-skip-host-key-check=true contradicts --known-hosts-file=/k"}},

		{"webhook listen", with("--webhook-listen", "9000", "--webhook-secret-file", "/s"), nil, "", []string{"--webhook-listen=9000: not an address; valid: host:port"}},
		{"webhook port", repo, map[string]string{"WIREKEEPER_WEBHOOK_LISTEN": ":http", "WIREKEEPER_WEBHOOK_SECRET_FILE": "/s"}, "",
			[]string{"WIREKEEPER_WEBHOOK_LISTEN=:http: port must be a number from 0 to 65535"}},
		{"metrics listen", repo, nil, "metricsListen: localhost:99999\n", []string{"CFG:1: metricsListen: localhost:99999: port must be a number"}},
		{"webhook without a secret", with("--webhook-listen", ":9000"), nil, "",
			[]string{"--webhook-listen=:9000: the webhook needs a secret: set --webhook-secret-file"}},

		{"unknown flag", with("--intervall", "1m"), nil, "", []string{"unknown flag --intervall; see 'wirekeeper run -h'"}},
		{"flag without a value", []string{"--repo"}, nil, "", []string{"flag needs an argument: -repo"}},
		{"positional argument", with("now"), nil, "", []string{`unexpected argument "now"`}},

		{"unknown key", repo, nil, "interval: 1m\nstatus_branch: x\n",
			[]string{`CFG:2: unknown key "status_branch" (did you mean "statusBranch"?); valid keys: repo, branch, path`}},
		{"unknown key without a hint", repo, nil, "colour: blue\n", []string{`CFG:1: unknown key "colour"; valid keys:`}},
		{"duplicate key", repo, nil, "workers: 2\nworkers: 3\n", []string{"CFG:2: workers: set again (first at line 1)"}},
		{"list value", repo, nil, "branch: [a, b]\n", []string{"CFG:1: branch: must be a single value"}},
		{"config key in the file", repo, nil, "config: other.yaml\n", []string{"CFG:1: config: cannot be set in the config file"}},
		{"not a mapping", repo, nil, "- repo: x\n", []string{"CFG:1: must be a mapping of settings"}},
		{"malformed YAML", repo, nil, "repo: x\n  branch: y\n", []string{"CFG:2: mapping values are not allowed"}},
		{"missing config file", []string{"--config", "/nonexistent/run.yaml"}, nil, "", []string{"cannot read the config file: open /nonexistent/run.yaml"}},

		{"several problems at once", []string{"--interval", "0s", "--workers", "-1"}, nil, "",
			[]string{"--repo is required", "--interval=0s: must be at least 1s", "--workers=-1: must be a whole number"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			wants := tt.wants
			if tt.file != "" {
				file := writeConfig(t, tt.file)
				args = append([]string{"--config", file}, args...)
				wants = nil
				for _, w := range tt.wants {
					wants = append(wants, strings.ReplaceAll(w, "CFG", file))
				}
			}
			_, err := testRunEnv(tt.env).load(args)
			checkErr(t, err, wants...)
		})
	}
}

// TestLoadRunConfigSecretValues checks that a secret given as a value is
// refused from every source, naming the file variant, without echoing it.
func TestLoadRunConfigSecretValues(t *testing.T) {
	const secret = "hunter2-do-not-echo"
	tests := []struct {
		name string
		args []string
		env  map[string]string
		file string
		want string
	}{
		{"webhook secret flag", []string{"--webhook-secret", secret}, nil, "", "--webhook-secret is not accepted: secrets are never given as values; put it in a file and set --webhook-secret-file (or WIREKEEPER_WEBHOOK_SECRET_FILE, or webhookSecretFile: in the config file)"},
		{"password flag", []string{"--https-password=" + secret}, nil, "", "--https-password is not accepted"},
		{"webhook secret env", nil, map[string]string{"WIREKEEPER_WEBHOOK_SECRET": secret}, "", "WIREKEEPER_WEBHOOK_SECRET is not accepted"},
		{"password env", nil, map[string]string{"WIREKEEPER_HTTPS_PASSWORD": secret}, "", "WIREKEEPER_HTTPS_PASSWORD is not accepted: secrets are never given as values; put it in a file and set --https-password-file"},
		{"webhook secret key", nil, nil, "webhookSecret: " + secret + "\n", "CFG:1: webhookSecret is not accepted"},
		{"password key", nil, nil, "repo: git://h/x\nhttpsPassword: " + secret + "\n", "CFG:2: httpsPassword is not accepted: secrets are never given as values; put it in a file and set --https-password-file (or WIREKEEPER_HTTPS_PASSWORD_FILE, or httpsPasswordFile: in the config file)"},
		{"ssh key key", nil, nil, "sshKey: " + secret + "\n", "CFG:1: sshKey is not accepted"},
		{"plain password key", nil, nil, "password: " + secret + "\n", "CFG:1: password is not accepted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"--repo", "git://h/spec"}, tt.args...)
			want := tt.want
			if tt.file != "" {
				file := writeConfig(t, tt.file)
				args = append(args, "--config", file)
				want = strings.ReplaceAll(want, "CFG", file)
			}
			_, err := testRunEnv(tt.env).load(args)
			checkErr(t, err, want)
			if err != nil && strings.Contains(err.Error(), secret) {
				t.Errorf("the error echoes the secret:\n%v", err)
			}
		})
	}
}

func TestLoadRunConfigHelp(t *testing.T) {
	for _, arg := range []string{"-h", "--help", "-help"} {
		_, err := testRunEnv(nil).load([]string{"--repo", "x", arg})
		if !errors.Is(err, flag.ErrHelp) {
			t.Fatalf("%s: error = %v, want one wrapping flag.ErrHelp", arg, err)
		}
		if err.Error() != runUsage() {
			t.Errorf("%s: the error's text is not the usage", arg)
		}
	}
}

func TestRunUsage(t *testing.T) {
	usage := runUsage()
	for _, line := range []string{
		"--repo URL",
		"WIREKEEPER_STATUS_BRANCH, statusBranch: (default wirekeeper/status)",
		"WIREKEEPER_STATUS_REPO, statusRepo: (default the spec repository (--repo))",
		"WIREKEEPER_STATUS_REF_PREFIX, statusRefPrefix: (default refs/wirekeeper/status/)",
		"WIREKEEPER_AGGREGATE, aggregate: (default auto)",
		"WIREKEEPER_INTERVAL, interval: (default 30s)",
		"WIREKEEPER_MAX_PRUNE_FRACTION, maxPruneFraction: (default 0.5)",
		"WIREKEEPER_WORKERS, workers: (default 4)",
		"WIREKEEPER_NODE, node: (default the hostname)",
		"--insecure-skip-host-key-check ",
	} {
		if !strings.Contains(usage, line) {
			t.Errorf("usage lacks %q", line)
		}
	}
	for _, o := range runOptions {
		if o.help == "" {
			t.Errorf("--%s has no help", o.name)
		}
		want := o.env() + ", " + o.key() + ":"
		if o.name == "config" {
			want = o.env() + "\n"
		}
		for _, s := range []string{"--" + o.name, want} {
			if !strings.Contains(usage, s) {
				t.Errorf("usage lacks %q", s)
			}
		}
	}
}

func TestRunOptionNames(t *testing.T) {
	tests := []struct{ flag, env, key string }{
		{"repo", "WIREKEEPER_REPO", "repo"},
		{"status-branch", "WIREKEEPER_STATUS_BRANCH", "statusBranch"},
		{"insecure-skip-host-key-check", "WIREKEEPER_INSECURE_SKIP_HOST_KEY_CHECK", "insecureSkipHostKeyCheck"},
	}
	for _, tt := range tests {
		o := runOption{name: tt.flag}
		if got := fmt.Sprint(o.env(), " ", o.key()); got != tt.env+" "+tt.key {
			t.Errorf("%s: env, key = %s; want %s %s", tt.flag, got, tt.env, tt.key)
		}
	}
}

func TestNewLogger(t *testing.T) {
	var b strings.Builder
	c := defaultRunConfig()
	c.LogFormat, c.LogLevel = "json", "warn"
	log := c.newLogger(&b)
	log.Info("hidden")
	log.Warn("shown")
	if got := b.String(); strings.Contains(got, "hidden") || !strings.HasPrefix(got, `{"time":`) || !strings.Contains(got, `"msg":"shown"`) {
		t.Errorf("json logger at warn wrote %q", got)
	}
	c = defaultRunConfig()
	if !c.newLogger(io.Discard).Enabled(t.Context(), slog.LevelInfo) || c.newLogger(io.Discard).Enabled(t.Context(), slog.LevelDebug) {
		t.Error("the default logger is not at info")
	}
}
