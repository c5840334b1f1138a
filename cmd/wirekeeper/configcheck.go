package main

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/wirekeeper/wirekeeper/reconciler/status"
	"github.com/wirekeeper/wirekeeper/spec"
)

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
