package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"time"
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

// load is loadRunConfig on e.
func (e runEnv) load(args []string) (runConfig, error) {
	f, err := parseRunFlags(args)
	if err != nil {
		return runConfig{}, err
	}
	errs := e.refusals(f)
	var c runConfig
	if f.set["config"] {
		c.Config = f.values["config"].value
	} else {
		c.Config = e.getenv(envName("config"))
	}
	settings, settingErrs := e.settings(f, c.Config)
	errs = append(errs, settingErrs...)
	errs = append(errs, c.apply(settings)...)
	if len(errs) > 0 {
		return runConfig{}, errors.Join(errs...)
	}
	return c, nil
}

// runFlags is what the command line of `wirekeeper run` says.
type runFlags struct {
	values  map[string]*flagValue   // by option name, set or not
	set     map[string]bool         // the flags given
	refused map[string]*refusedFlag // by secretValueOption name
	rest    []string                // the arguments after the flags
}

// parseRunFlags parses args with Go's flag syntax (-name, --name, =value);
// a usage error says to see -h, and -h gives a helpError. The standard flag
// package, not a library binding flags to the environment and a file: none
// keeps this loader's messages (each value's source, every problem at once)
// or its camelCase file keys, and pflag refuses the single-dash -name.
func parseRunFlags(args []string) (runFlags, error) {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	f := runFlags{values: map[string]*flagValue{}, set: map[string]bool{}, refused: map[string]*refusedFlag{}}
	for _, o := range runOptions {
		f.values[o.name] = &flagValue{boolean: o.isBool()}
		fs.Var(f.values[o.name], o.name, o.help)
	}
	for _, s := range secretValueOptions {
		f.refused[s.name] = &refusedFlag{}
		fs.Var(f.refused[s.name], s.name, "")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return runFlags{}, helpError{}
		}
		if name, ok := strings.CutPrefix(err.Error(), "flag provided but not defined: "); ok {
			return runFlags{}, fmt.Errorf("unknown flag -%s; see 'wirekeeper run -h'", name)
		}
		return runFlags{}, fmt.Errorf("%w; see 'wirekeeper run -h'", err)
	}
	fs.Visit(func(fl *flag.Flag) { f.set[fl.Name] = true })
	f.rest = fs.Args()
	return f, nil
}

// refusals reports what the command line and the environment give that
// `wirekeeper run` never takes: arguments, and secrets as values.
func (e runEnv) refusals(f runFlags) []error {
	var errs []error
	if len(f.rest) > 0 {
		errs = append(errs, fmt.Errorf("unexpected argument %q: wirekeeper run takes only flags", f.rest[0]))
	}
	for _, s := range secretValueOptions {
		if f.refused[s.name].used {
			errs = append(errs, s.refusal("--"+s.name))
		}
		if e.getenv(envName(s.name)) != "" {
			errs = append(errs, s.refusal(envName(s.name)))
		}
	}
	return errs
}

// settings returns, for each option given anywhere, the winning value: a
// flag beats the environment, which beats configFile, which beats the
// default.
func (e runEnv) settings(f runFlags, configFile string) (map[string]setting, []error) {
	settings := map[string]setting{}
	var errs []error
	if configFile != "" {
		fromFile, fileErrs := e.readConfigFile(configFile)
		errs = append(errs, fileErrs...)
		maps.Copy(settings, fromFile)
	}
	for _, o := range runOptions {
		if o.name == "config" {
			continue
		}
		if v := f.values[o.name].value; f.set[o.name] {
			settings[o.name] = setting{v, "--" + o.name + "=" + o.display(v)}
		} else if v := e.getenv(o.env()); v != "" {
			settings[o.name] = setting{v, o.env() + "=" + o.display(v)}
		}
	}
	if err := e.addDefaults(settings); err != nil {
		errs = append(errs, err)
	}
	return settings, errs
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

// apply parses and checks each of settings into c, then what involves
// several of them; each problem names where its value came from.
func (c *runConfig) apply(settings map[string]setting) []error {
	var errs []error
	for _, o := range runOptions {
		s, ok := settings[o.name]
		if o.name == "config" || !ok {
			continue
		}
		if err := o.set(c, s.value); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.where, err))
		}
	}
	if _, ok := settings["repo"]; !ok {
		errs = append(errs, errors.New("--repo is required: the URL of the spec repository (or set WIREKEEPER_REPO, or repo: in the config file)"))
	}
	return append(errs, c.crossCheck(settings)...)
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
