package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"

	"gopkg.in/yaml.v3"

	"github.com/wirekeeper/wirekeeper/reconciler/source"
	"github.com/wirekeeper/wirekeeper/reconciler/status"
	"github.com/wirekeeper/wirekeeper/spec"
)

// runConfig is the configuration of `wirekeeper run`.
type runConfig struct {
	Repo, Branch, Path, Node string
	Interval                 time.Duration
	StatusBranch, CacheDir   string
	// StatusRepo is where status goes: node refs, the lease and the status
	// branch; "" for the spec repository.
	StatusRepo string
	// StatusRefPrefix is where each node writes its own status ref.
	StatusRefPrefix string
	// Aggregate is auto (take part in electing the status aggregator) or
	// never.
	Aggregate string
	// SecretsDir is the only directory specs may name files in: their
	// {file: NAME} secrets and TLS files. Absolute.
	SecretsDir string

	WebhookListen, WebhookSecretFile, MetricsListen string

	SSHKeyFile, KnownHostsFile string
	InsecureSkipHostKeyCheck   bool

	HTTPSUsername, HTTPSPasswordFile string

	// VerifySignatures is the path of an OpenPGP keyring; when set, only
	// commits signed by one of its keys are enforced.
	VerifySignatures string
	// AllowedSigners is the path of a git allowed signers file; when set,
	// commits SSH-signed by one of its keys are enforced too.
	AllowedSigners string
	// TrustPolicy is the path of the per-node trust policy (reconciler/
	// trust); it needs VerifySignatures or AllowedSigners.
	TrustPolicy string
	// MaxPruneFraction is the largest fraction of the live objects one
	// revision may delete, in [0,1].
	MaxPruneFraction float64
	LogFormat        string // text or json
	LogLevel         string // debug, info, warn or error
	Workers          int    // objects reconciled at once, at least 1
	// OVSNetns is the network namespace ovs-vswitchd runs in (container
	// ports put their veth host ends there); empty for the daemon's own.
	OVSNetns string
	// DockerHost is the Docker engine of container ports; empty for
	// DOCKER_HOST, else the default socket.
	DockerHost string
	// Config is the config file the settings were read from, if any.
	Config string
}

// runEnv is what loading the configuration reads besides the arguments;
// tests replace the parts that depend on the machine.
type runEnv struct {
	getenv       func(string) string
	hostname     func() (string, error)
	userCacheDir func() (string, error)
	readFile     func(string) ([]byte, error)
}

// loadRunConfig reads the configuration of `wirekeeper run` from args, the
// environment and the config file, in that order of precedence, then the
// defaults. It reports every problem at once (joined), each naming where
// the value came from; the caller prefixes "wirekeeper run: ". For -h it
// returns an error wrapping flag.ErrHelp whose text is the usage.
// An environment variable set to "" counts as unset.
func loadRunConfig(args []string, getenv func(string) string) (runConfig, error) {
	return runEnv{getenv: getenv, hostname: os.Hostname, userCacheDir: os.UserCacheDir, readFile: os.ReadFile}.load(args)
}

// helpError is returned for -h: errors.Is(err, flag.ErrHelp) holds and its
// text is the usage.
type helpError struct{}

func (helpError) Error() string { return runUsage() }
func (helpError) Unwrap() error { return flag.ErrHelp }

// setting is one value and where it came from, for messages.
type setting struct {
	value string
	where string // `--interval=1ms`, `WIREKEEPER_INTERVAL=1ms`, `run.yaml:3: interval: 1ms`
}

// flagValue records a flag's text; parsing and checking happen later, the
// same way for every source.
type flagValue struct {
	value   string
	boolean bool
}

func (f *flagValue) String() string     { return f.value }
func (f *flagValue) Set(v string) error { f.value = v; return nil }
func (f *flagValue) IsBoolFlag() bool   { return f.boolean }

// refusedFlag takes a secret given as a value, so that the error can name
// the file variant without echoing the secret.
type refusedFlag struct{ used bool }

func (f *refusedFlag) String() string   { return "" }
func (f *refusedFlag) Set(string) error { f.used = true; return nil }

func (e runEnv) load(args []string) (runConfig, error) {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	values := map[string]*flagValue{}
	for _, o := range runOptions {
		values[o.name] = &flagValue{boolean: o.isBool()}
		fs.Var(values[o.name], o.name, o.help)
	}
	refused := map[string]*refusedFlag{}
	for _, s := range secretValueOptions {
		refused[s.name] = &refusedFlag{}
		fs.Var(refused[s.name], s.name, "")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return runConfig{}, helpError{}
		}
		if name, ok := strings.CutPrefix(err.Error(), "flag provided but not defined: "); ok {
			return runConfig{}, fmt.Errorf("unknown flag -%s; see 'wirekeeper run -h'", name)
		}
		return runConfig{}, fmt.Errorf("%w; see 'wirekeeper run -h'", err)
	}

	var errs []error
	if rest := fs.Args(); len(rest) > 0 {
		errs = append(errs, fmt.Errorf("unexpected argument %q: wirekeeper run takes only flags", rest[0]))
	}
	for _, s := range secretValueOptions {
		if refused[s.name].used {
			errs = append(errs, s.refusal("--"+s.name))
		}
		if e.getenv(envName(s.name)) != "" {
			errs = append(errs, s.refusal(envName(s.name)))
		}
	}

	setFlags := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { setFlags[f.Name] = true })
	// settings holds, for each option given anywhere, the winning value.
	settings := map[string]setting{}
	var c runConfig
	if setFlags["config"] {
		c.Config = values["config"].value
	} else {
		c.Config = e.getenv(envName("config"))
	}
	if c.Config != "" {
		fromFile, fileErrs := e.readConfigFile(c.Config)
		errs = append(errs, fileErrs...)
		for name, s := range fromFile {
			settings[name] = s
		}
	}
	for _, o := range runOptions {
		if o.name == "config" {
			continue
		}
		if v := values[o.name].value; setFlags[o.name] {
			settings[o.name] = setting{v, "--" + o.name + "=" + o.display(v)}
		} else if v := e.getenv(o.env()); v != "" {
			settings[o.name] = setting{v, o.env() + "=" + o.display(v)}
		}
	}
	if err := e.addDefaults(settings); err != nil {
		errs = append(errs, err)
	}

	for _, o := range runOptions {
		s, ok := settings[o.name]
		if o.name == "config" || !ok {
			continue
		}
		if err := o.set(&c, s.value); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.where, err))
		}
	}
	if _, ok := settings["repo"]; !ok {
		errs = append(errs, errors.New("--repo is required: the URL of the spec repository (or set WIREKEEPER_REPO, or repo: in the config file)"))
	}
	errs = append(errs, c.crossCheck(settings)...)
	if len(errs) > 0 {
		return runConfig{}, errors.Join(errs...)
	}
	return c, nil
}

// addDefaults fills the defaults of the options not given anywhere.
func (e runEnv) addDefaults(settings map[string]setting) error {
	for _, o := range runOptions {
		if _, ok := settings[o.name]; !ok && o.def != "" {
			settings[o.name] = setting{o.def, o.name + " " + o.def + " (the default)"}
		}
	}
	if _, ok := settings["cache-dir"]; !ok {
		dir := "/var/cache/wirekeeper"
		if d, err := e.userCacheDir(); err == nil {
			dir = filepath.Join(d, "wirekeeper")
		}
		settings["cache-dir"] = setting{dir, "cache-dir " + dir + " (the default)"}
	}
	if _, ok := settings["node"]; !ok {
		h, err := e.hostname()
		if err != nil {
			return fmt.Errorf("--node is required: cannot read the hostname: %w", err)
		}
		settings["node"] = setting{h, fmt.Sprintf("node %q (the default, this host's name; set --node)", h)}
	}
	return nil
}

// crossCheck reports problems that involve more than one setting.
func (c runConfig) crossCheck(settings map[string]setting) []error {
	var errs []error
	if c.Branch != "" && c.StatusBranch == c.Branch {
		errs = append(errs, fmt.Errorf("%s: the status branch must differ from the spec branch (%s)", settings["status-branch"].where, settings["branch"].where))
	}
	// Each valid alone (or reported already), they may still clash.
	if checkBranchName(c.StatusBranch) == nil && status.CheckRefPrefix(c.StatusRefPrefix) == nil {
		if err := status.CheckRefs(c.StatusBranch, c.StatusRefPrefix); err != nil {
			errs = append(errs, fmt.Errorf("%s and %s: %w", settings["status-ref-prefix"].where, settings["status-branch"].where, err))
		}
	}
	if c.TrustPolicy != "" && c.VerifySignatures == "" && c.AllowedSigners == "" {
		errs = append(errs, fmt.Errorf("%s: a trust policy needs signatures to check: set --verify-signatures and/or --allowed-signers", settings["trust-policy"].where))
	}
	if c.WebhookListen != "" && c.WebhookSecretFile == "" {
		errs = append(errs, fmt.Errorf("%s: the webhook needs a secret: set --webhook-secret-file (or WIREKEEPER_WEBHOOK_SECRET_FILE, or webhookSecretFile: in the config file)", settings["webhook-listen"].where))
	}
	// Every spec may name a file of the secrets directory and send it to a
	// server of its choosing: the daemon's own credentials stay outside.
	for name, p := range map[string]string{"ssh-key-file": c.SSHKeyFile, "https-password-file": c.HTTPSPasswordFile,
		"webhook-secret-file": c.WebhookSecretFile, "known-hosts-file": c.KnownHostsFile, "verify-signatures": c.VerifySignatures,
		"allowed-signers": c.AllowedSigners} {
		if p != "" && c.SecretsDir != "" && insideDir(p, c.SecretsDir) {
			errs = append(errs, fmt.Errorf("%s lies inside %s: any spec could name it in a {file: ...} secret; keep the daemon's own credentials outside the secrets directory",
				settings[name].where, settings["secrets-dir"].where))
		}
	}
	if c.InsecureSkipHostKeyCheck && c.KnownHostsFile != "" {
		errs = append(errs, fmt.Errorf("%s contradicts %s: choose one", settings["insecure-skip-host-key-check"].where, settings["known-hosts-file"].where))
	}
	return errs
}

// insideDir reports whether path p lies inside dir, lexically and, where
// both exist, after resolving symlinks.
func insideDir(p, dir string) bool {
	inside := func(p, dir string) bool {
		rel, err := filepath.Rel(dir, p)
		return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
	}
	if abs, err := filepath.Abs(p); err == nil && inside(abs, dir) {
		return true
	}
	rp, err1 := filepath.EvalSymlinks(p)
	rd, err2 := filepath.EvalSymlinks(dir)
	return err1 == nil && err2 == nil && inside(rp, rd)
}

// newLogger returns the logger the configuration asks for, writing to w.
func (c runConfig) newLogger(w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: logLevels[c.LogLevel]}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

var logLevels = map[string]slog.Level{
	"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError,
}

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

func isControl(r rune) bool { return r < ' ' || r == 0x7f }

func parseBool(v string) (bool, error) {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, errors.New("not a boolean; valid: true, false")
	}
	return b, nil
}

func setRepo(c *runConfig, v string) error {
	c.Repo = v
	switch {
	case v == "":
		return errors.New("must not be empty")
	case strings.ContainsFunc(v, unicode.IsSpace), strings.ContainsFunc(v, isControl):
		return errors.New("contains whitespace or control characters")
	case !strings.Contains(v, "://"):
		return nil // user@host:path or a local path
	}
	u, err := url.Parse(v)
	if err != nil {
		return errors.New("not a URL")
	}
	if _, ok := u.User.Password(); ok {
		return errors.New("holds a password; put it in a file and set --https-password-file (and --https-username)")
	}
	switch u.Scheme {
	case "https", "http", "ssh", "git":
		if u.Host == "" {
			return errors.New("has no host")
		}
	case "file":
	default:
		return fmt.Errorf("unsupported scheme %q; valid: https, http, ssh, git, file, user@host:path or a local path", u.Scheme)
	}
	return nil
}

// redactURL hides the password of a URL, for messages.
func redactURL(v string) string {
	if u, err := url.Parse(v); err == nil && u.User != nil {
		return u.Redacted()
	}
	return v
}

// setPath keeps the spec directory as a clean slash path relative to the
// repository root; "" is the root.
func setPath(c *runConfig, v string) error {
	if v == "" {
		c.Path = ""
		return nil
	}
	if strings.HasPrefix(v, "/") {
		return errors.New("must be relative to the repository root")
	}
	p := path.Clean(v)
	if p == ".." || strings.HasPrefix(p, "../") {
		return errors.New("leaves the repository")
	}
	if p == "." {
		p = ""
	}
	c.Path = p
	return nil
}

// nodeNameRE is spec's nodename format, so that --node accepts exactly the
// names the specs' node: fields accept.
var nodeNameRE = regexp.MustCompile(spec.Formats["nodename"].Pattern)

func setNode(c *runConfig, v string) error {
	c.Node = v
	f := spec.Formats["nodename"]
	if (f.MaxLength > 0 && len(v) > f.MaxLength) || !nodeNameRE.MatchString(v) {
		return errors.New("not " + f.Valid)
	}
	return nil
}

func setInterval(c *runConfig, v string) error {
	d, err := time.ParseDuration(v)
	switch {
	case err != nil:
		return errors.New("not a duration; valid: for example 30s, 5m or 1h")
	case d < time.Second:
		return errors.New("must be at least 1s")
	}
	c.Interval = d
	return nil
}

func setMaxPruneFraction(c *runConfig, v string) error {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > 1 {
		return errors.New("must be a number from 0 to 1, for example 0.5")
	}
	c.MaxPruneFraction = f
	return nil
}

func setWorkers(c *runConfig, v string) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return errors.New("must be a whole number, at least 1")
	}
	c.Workers = n
	return nil
}

// checkBranchName applies git's rules for a branch name (git check-ref-format --branch).
func checkBranchName(v string) error {
	const valid = "; valid: a git branch name such as main or ops/status"
	bad := func(why string) error { return errors.New("not a branch name: " + why + valid) }
	switch {
	case v == "":
		return bad("empty")
	case strings.HasPrefix(v, "-"):
		return bad("starts with '-'")
	case v == "HEAD" || v == "@":
		return bad("reserved by git")
	case strings.HasPrefix(v, "refs/"):
		return bad("give the branch without refs/heads/")
	}
	if i := strings.IndexFunc(v, func(r rune) bool { return unicode.IsSpace(r) || isControl(r) || strings.ContainsRune(`~^:?*[\`, r) }); i >= 0 {
		return bad(fmt.Sprintf("contains %q", v[i:i+1]))
	}
	for _, s := range []string{"..", "//", "@{"} {
		if strings.Contains(v, s) {
			return bad("contains " + s)
		}
	}
	if strings.HasSuffix(v, "/") || strings.HasSuffix(v, ".") || strings.HasPrefix(v, "/") {
		return bad("starts or ends with '/', or ends with '.'")
	}
	for _, comp := range strings.Split(v, "/") {
		if strings.HasPrefix(comp, ".") || strings.HasSuffix(comp, ".lock") {
			return bad(fmt.Sprintf("component %q starts with '.' or ends with .lock", comp))
		}
	}
	return nil
}

// checkListen accepts "" (off) and host:port with a numeric port.
func checkListen(v string) error {
	if v == "" {
		return nil
	}
	const valid = "; valid: host:port such as :9090 or 127.0.0.1:9090"
	host, port, err := net.SplitHostPort(v)
	if err != nil || strings.ContainsFunc(host, unicode.IsSpace) {
		return errors.New("not an address" + valid)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return errors.New("port must be a number from 0 to 65535" + valid)
	}
	return nil
}

// readConfigFile reads the YAML config file: a mapping whose keys are the
// options' camelCase names. The nodes are walked, rather than decoded into a
// struct, so that every unknown key and every bad value is reported with
// its file:line, all at once.
func (e runEnv) readConfigFile(file string) (map[string]setting, []error) {
	data, err := e.readFile(file)
	if err != nil {
		return nil, []error{fmt.Errorf("cannot read the config file: %w", err)}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
			return nil, []error{fmt.Errorf("%s:%s: %s", file, m[1], m[2])}
		}
		return nil, []error{fmt.Errorf("%s: %s", file, msg)}
	}
	if len(doc.Content) == 0 {
		return nil, nil // an empty file sets nothing
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, []error{fmt.Errorf("%s:%d: must be a mapping of settings (key: value)", file, root.Line)}
	}
	byKey := map[string]runOption{}
	var keys []string
	for _, o := range runOptions {
		if o.name != "config" {
			byKey[o.key()] = o
			keys = append(keys, o.key())
		}
	}
	settings := map[string]setting{}
	firstLine := map[string]int{}
	var errs []error
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		at := fmt.Sprintf("%s:%d", file, k.Line)
		o, ok := byKey[k.Value]
		if !ok {
			errs = append(errs, unknownKey(at, k.Value, keys))
			continue
		}
		if line, dup := firstLine[k.Value]; dup {
			errs = append(errs, fmt.Errorf("%s: %s: set again (first at line %d)", at, k.Value, line))
			continue
		}
		firstLine[k.Value] = k.Line
		if v.Kind != yaml.ScalarNode {
			errs = append(errs, fmt.Errorf("%s: %s: must be a single value, not a list or a mapping", at, k.Value))
			continue
		}
		value := v.Value
		if v.Tag == "!!null" {
			value = ""
		}
		settings[o.name] = setting{value, fmt.Sprintf("%s:%d: %s: %s", file, v.Line, k.Value, o.display(value))}
	}
	return settings, errs
}

var yamlLineRE = regexp.MustCompile(`^line (\d+): (.*)$`)

// unknownKey explains a config key that is not a setting.
func unknownKey(at, key string, keys []string) error {
	if key == "config" {
		return fmt.Errorf("%s: config: cannot be set in the config file", at)
	}
	norm := func(s string) string { return strings.ToLower(strings.NewReplacer("-", "", "_", "").Replace(s)) }
	for _, s := range secretValueOptions {
		if norm(key) == norm(s.name) {
			return s.refusal(at + ": " + key)
		}
	}
	hint := ""
	for _, k := range keys {
		if norm(k) == norm(key) {
			hint = fmt.Sprintf(" (did you mean %q?)", k)
		}
	}
	return fmt.Errorf("%s: unknown key %q%s; valid keys: %s", at, key, hint, strings.Join(keys, ", "))
}
