package main

import (
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/wirekeeper/wirekeeper/reconciler/source"
	"github.com/wirekeeper/wirekeeper/reconciler/status"
	"github.com/wirekeeper/wirekeeper/spec"
)

// helpError is returned for -h: errors.Is(err, flag.ErrHelp) holds and its
// text is the usage.
type helpError struct{}

func (helpError) Error() string { return runUsage() }
func (helpError) Unwrap() error { return flag.ErrHelp }

// runUsage is the help text of `wirekeeper run`: every flag with its
// environment variable, config-file key and default.
func runUsage() string {
	var b strings.Builder
	b.WriteString(`usage: wirekeeper run --repo URL [flags]

Keeps this node's host networking equal to the specs on a Git branch, and
pushes status and drift reports back to Git: to its own status ref, folded
by one elected daemon into a status branch.

Every setting is a flag, an environment variable and a key of the --config
file (YAML, keys as below); a flag beats the environment, which beats the
file, which beats the default. Secrets are never values: name a file that
holds them (--webhook-secret-file, --https-password-file, --ssh-key-file).
The specs' own secrets and TLS files are read only from --secrets-dir, and
their {env: NAME} secrets only from variables named WIREKEEPER_SECRET_*.

`)
	for _, o := range runOptions {
		flagText := "--" + o.name
		if !o.isBool() {
			flagText += " " + o.arg
		}
		fmt.Fprintf(&b, "  %-32s %s", flagText, o.env())
		if o.name != "config" {
			fmt.Fprintf(&b, ", %s:", o.key())
		}
		switch {
		case o.def != "":
			fmt.Fprintf(&b, " (default %s)", o.def)
		case o.defText != "":
			fmt.Fprintf(&b, " (default %s)", o.defText)
		}
		fmt.Fprintf(&b, "\n        %s\n", o.help)
	}
	return b.String()
}

// runOption is one setting of `wirekeeper run`: a flag, its environment
// variable WIREKEEPER_<NAME> and its config-file key <name in camelCase>.
type runOption struct {
	name    string // the flag, e.g. status-branch
	arg     string // the value's placeholder in the usage; "" for a boolean
	def     string // the default, when it is a constant
	defText string // the default as the usage shows it, when computed
	help    string
	redact  bool // the value may hold a credential (a URL's password)
	// set parses and checks one value into c; the error says what is valid.
	set func(c *runConfig, v string) error
}

func (o runOption) isBool() bool { return o.arg == "" }
func (o runOption) env() string  { return envName(o.name) }

// key is the config-file key: the flag name in camelCase.
func (o runOption) key() string {
	parts := strings.Split(o.name, "-")
	for i := 1; i < len(parts); i++ {
		parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
	}
	return strings.Join(parts, "")
}

// display renders a value in a message: quoted when needed, without a
// URL's password.
func (o runOption) display(v string) string {
	if o.redact {
		v = redactURL(v)
	}
	if v == "" || strings.ContainsFunc(v, func(r rune) bool { return r <= ' ' || r == '"' || r == 0x7f || r > '~' }) {
		return fmt.Sprintf("%q", v)
	}
	return v
}

func envName(flagName string) string {
	return "WIREKEEPER_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

var runOptions = []runOption{
	{name: "repo", arg: "URL", redact: true, set: setRepo,
		help: "the spec repository: https://, ssh://, git://, file://, user@host:path or a local path (required)"},
	{name: "branch", arg: "BRANCH", def: "main", help: "the spec branch",
		set: func(c *runConfig, v string) error { c.Branch = v; return checkBranchName(v) }},
	{name: "path", arg: "DIR", defText: "the repository's root", set: setPath,
		help: "the directory of the spec files in the repository"},
	{name: "node", arg: "NAME", defText: "the hostname", set: setNode,
		help: "this node's name, as the specs' node: fields name it"},
	{name: "interval", arg: "DURATION", def: "30s", set: setInterval,
		help: "time between full resync passes, at least 1s"},
	{name: "status-branch", arg: "BRANCH", def: "wirekeeper/status",
		help: "the branch wirekeeper pushes status and drift reports to; must differ from --branch",
		set:  func(c *runConfig, v string) error { c.StatusBranch = v; return checkBranchName(v) }},
	{name: "status-repo", arg: "URL", redact: true, defText: "the spec repository (--repo)",
		help: "the repository status goes to (each node's ref, the aggregator's lease, the status branch), with the credentials of --repo; worth it when the spec repository must stay read-only for the daemons",
		set: func(c *runConfig, v string) error {
			if c.StatusRepo = v; v == "" {
				return nil
			}
			return setRepo(&runConfig{}, v) // the same checks as --repo

		}},
	{name: "status-ref-prefix", arg: "PREFIX", def: status.DefaultRefPrefix,
		help: "where each node writes its own status ref, PREFIX<node>; the aggregator's lease goes next to it (" + status.LeaseRef("").String() + " by default). For a forge that refuses refs outside refs/heads/: refs/heads/wirekeeper/nodes/",
		set: func(c *runConfig, v string) error {
			c.StatusRefPrefix = v
			return status.CheckRefPrefix(v)
		}},
	{name: "aggregate", arg: "MODE", def: "auto",
		help: "auto: take part in electing the one daemon that folds every node's ref into the status branch (a lease ref; a single host takes it at once); never: write only this node's ref, for the many daemons of a fleet whose aggregator runs elsewhere",
		set: func(c *runConfig, v string) error {
			if c.Aggregate = v; v != "auto" && v != "never" {
				return errors.New("unknown mode; valid: auto, never")
			}
			return nil
		}},
	{name: "cache-dir", arg: "DIR", defText: "$XDG_CACHE_HOME/wirekeeper or ~/.cache/wirekeeper, else /var/cache/wirekeeper",
		help: "where the clone of the repository is kept",
		set: func(c *runConfig, v string) error {
			if c.CacheDir = v; v == "" {
				return errors.New("must not be empty")
			}
			return nil
		}},
	{name: "secrets-dir", arg: "DIR", def: spec.DefaultSecretsDir,
		help: "the directory of the files specs name: {file: NAME} secrets and TLS files (caFile, certFile, keyFile); specs read nothing outside it, and only environment variables named " + spec.SecretEnvPrefix + "*",
		set: func(c *runConfig, v string) error {
			if v == "" {
				return errors.New("must not be empty")
			}
			abs, err := filepath.Abs(v)
			c.SecretsDir = abs
			return err
		}},
	{name: "webhook-listen", arg: "HOST:PORT", help: "serve push webhooks (GitHub, GitLab, Gitea, HMAC) on this address; off when empty",
		set: func(c *runConfig, v string) error { c.WebhookListen = v; return checkListen(v) }},
	{name: "webhook-secret-file", arg: "FILE", help: "file holding the webhook secret; required with --webhook-listen",
		set: func(c *runConfig, v string) error { c.WebhookSecretFile = v; return nil }},
	{name: "metrics-listen", arg: "HOST:PORT", help: "serve /metrics, /healthz and /readyz on this address; off when empty",
		set: func(c *runConfig, v string) error { c.MetricsListen = v; return checkListen(v) }},
	{name: "ssh-key-file", arg: "FILE", help: "SSH private key for ssh:// and user@host:path repositories, readable by its owner only (0600 or 0400)",
		set: func(c *runConfig, v string) error { c.SSHKeyFile = v; return nil }},
	{name: "known-hosts-file", arg: "FILE", defText: "the SSH client's known_hosts",
		help: "known_hosts file to check the SSH server's host key against",
		set:  func(c *runConfig, v string) error { c.KnownHostsFile = v; return nil }},
	{name: "insecure-skip-host-key-check", help: "accept any SSH host key (for tests only)",
		set: func(c *runConfig, v string) (err error) { c.InsecureSkipHostKeyCheck, err = parseBool(v); return err }},
	{name: "https-username", arg: "NAME", help: "user name for https:// repositories",
		set: func(c *runConfig, v string) error {
			if c.HTTPSUsername = v; strings.ContainsFunc(v, isControl) {
				return errors.New("contains control characters")
			}
			return nil
		}},
	{name: "https-password-file", arg: "FILE", help: "file holding the password or token for https:// repositories",
		set: func(c *runConfig, v string) error { c.HTTPSPasswordFile = v; return nil }},
	{name: "verify-signatures", arg: "KEYRING", help: "enforce only commits signed by a key of this OpenPGP keyring file (or of --allowed-signers)",
		set: func(c *runConfig, v string) error { c.VerifySignatures = v; return nil }},
	{name: "allowed-signers", arg: "FILE", help: "enforce only commits SSH-signed by a key of this git allowed signers file (or of --verify-signatures)",
		set: func(c *runConfig, v string) error { c.AllowedSigners = v; return nil }},
	{name: "trust-policy", arg: "FILE", help: "the per-node trust policy: which signing keys may change which nodes' objects, of which kinds (needs --verify-signatures or --allowed-signers)",
		set: func(c *runConfig, v string) error { c.TrustPolicy = v; return nil }},
	{name: "max-prune-fraction", arg: "FRACTION", def: "0.5", set: setMaxPruneFraction,
		help: "refuse a revision that would delete more than this fraction of the live objects, 0 to 1"},
	{name: "log-format", arg: "FORMAT", def: "text", help: "text or json",
		set: func(c *runConfig, v string) error {
			if c.LogFormat = v; v != "text" && v != "json" {
				return errors.New("unknown log format; valid: text, json")
			}
			return nil
		}},
	{name: "log-level", arg: "LEVEL", def: "info", help: "debug, info, warn or error",
		set: func(c *runConfig, v string) error {
			c.LogLevel = v
			if _, ok := logLevels[v]; !ok {
				return errors.New("unknown log level; valid: debug, info, warn, error")
			}
			return nil
		}},
	{name: "workers", arg: "N", def: "4", set: setWorkers, help: "objects reconciled at once, at least 1"},
	{name: "ovs-netns", arg: "NETNS", defText: "the daemon's own", help: "network namespace ovs-vswitchd runs in, where container ports' veth host ends go (a name under /run/netns, or a path)",
		set: func(c *runConfig, v string) error { c.OVSNetns = v; return nil }},
	{name: "docker-host", arg: "URL", defText: "DOCKER_HOST, else unix:///var/run/docker.sock", help: "the Docker engine whose containers get ContainerPorts",
		set: func(c *runConfig, v string) error { c.DockerHost = v; return nil }},
	{name: "config", arg: "FILE", help: "YAML file of settings; its keys are the flags in camelCase (for example statusBranch: ops/status)"},
}

// secretValueOption is a setting refused because it would hold a secret
// itself rather than the path of a file holding it.
type secretValueOption struct{ name, fileVariant string }

var secretValueOptions = []secretValueOption{
	{"webhook-secret", "webhook-secret-file"},
	{"https-password", "https-password-file"},
	{"ssh-key", "ssh-key-file"},
	{"password", "https-password-file"},
}

func (s secretValueOption) refusal(where string) error {
	return fmt.Errorf("%s is not accepted: secrets are never given as values; put it in a file and set %s",
		where, optionName(s.fileVariant))
}

// optionName is how a message names a setting of `wirekeeper run`: its
// flag, environment variable and config-file key.
func optionName(flagName string) string {
	o := runOption{name: flagName}
	return fmt.Sprintf("--%s (or %s, or %s: in the config file)", o.name, o.env(), o.key())
}

// runSourceNames names source's options in its errors as `wirekeeper run`
// takes them.
var runSourceNames = source.OptionNames{
	Path: optionName("path"), CacheDir: optionName("cache-dir"),
	SSHKeyFile: optionName("ssh-key-file"), KnownHostsFile: optionName("known-hosts-file"),
	InsecureSkipHostKeyCheck: optionName("insecure-skip-host-key-check"),
	HTTPSUsername:            optionName("https-username"), HTTPSPasswordFile: optionName("https-password-file"),
}
