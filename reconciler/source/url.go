package source

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// remote is Options.URL taken apart. Credentials found in the URL are moved
// out of fetchURL (so they never reach the cache's config file or an error
// message) and into user/password, from which the auth method is built.
type remote struct {
	scheme   string // https, http, ssh, git, or "local" for file:// and paths
	redacted string // as given, secrets replaced by xxxxx
	fetchURL string // what go-git is given: no password, paths made absolute
	user     string
	password string
	hostPort string // host:port for ssh known_hosts lookups
	dir      string // absolute directory, for local repositories
	cacheKey string // host and path, the readable part of the cache folder name
}

const redactedSecret = "xxxxx"

// scpLike matches git's scp-style syntax, [user@]host:path, which git
// recognises when a colon comes before any slash.
var scpLike = regexp.MustCompile(`^(?:([^@/:]+)@)?([^@/:]+):(.*)$`)

// parseRemote validates raw and splits it into a remote.
func parseRemote(raw string) (*remote, error) {
	if raw == "" {
		return nil, errors.New("source: URL is empty")
	}
	if strings.IndexFunc(raw, unicode.IsControl) >= 0 || strings.TrimSpace(raw) != raw {
		return nil, fmt.Errorf("source: URL %q starts or ends with a space, or holds control characters", redactString(raw))
	}
	if strings.Contains(raw, "://") {
		return parseSchemeURL(raw)
	}
	if colon, slash := strings.IndexByte(raw, ':'), strings.IndexByte(raw, '/'); colon >= 0 && (slash < 0 || colon < slash) {
		m := scpLike.FindStringSubmatch(raw)
		if at := strings.IndexByte(raw, '@'); at > colon && (slash < 0 || at < slash) {
			m = nil // user:password@host:path, which git does not accept either
		}
		if m == nil {
			return nil, fmt.Errorf("source: URL %q is neither scp-style (user@host:org/repo.git) nor a local path", redactString(raw))
		}
		return parseSCP(raw, m[1], m[2], m[3])
	}
	dir, err := filepath.Abs(raw)
	if err != nil {
		return nil, fmt.Errorf("source: local repository path %q: %w", raw, err)
	}
	return &remote{scheme: "local", redacted: raw, fetchURL: dir, dir: dir, cacheKey: dir}, nil
}

func parseSchemeURL(raw string) (*remote, error) {
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error repeats the URL, password included
		}
		return nil, fmt.Errorf("source: invalid URL %q: %w", redactString(raw), err)
	}
	r := &remote{scheme: strings.ToLower(u.Scheme), redacted: redactURL(u)}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("source: URL %s: a git URL has no query or fragment", r.redacted)
	}
	switch r.scheme {
	case "https", "http", "ssh", "git":
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("source: URL %s: a file URL names a local path (file:///srv/git/specs.git), not host %q", r.redacted, u.Host)
		}
		if u.User != nil {
			return nil, fmt.Errorf("source: URL %s: a file URL takes no user", r.redacted)
		}
		dir := filepath.Clean(filepath.FromSlash(u.Path))
		if !filepath.IsAbs(dir) {
			return nil, fmt.Errorf("source: URL %s: a file URL needs an absolute path", r.redacted)
		}
		r.scheme, r.dir, r.fetchURL, r.cacheKey = "local", dir, dir, dir
		return r, nil
	default:
		return nil, fmt.Errorf("source: URL %s: unsupported scheme %q; use https, http, ssh, git, file, scp-style user@host:path, or a local path", r.redacted, u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("source: URL %s has no host", r.redacted)
	}
	if strings.Trim(u.Path, "/") == "" {
		return nil, fmt.Errorf("source: URL %s has no repository path", r.redacted)
	}
	if u.User != nil {
		r.user = u.User.Username()
		r.password, _ = u.User.Password()
	}
	switch {
	case r.scheme == "git" && u.User != nil:
		return nil, fmt.Errorf("source: URL %s: git:// carries no credentials", r.redacted)
	case r.scheme == "ssh" && r.password != "":
		return nil, fmt.Errorf("source: URL %s: an ssh URL takes no password; authenticate with an SSH private key file", r.redacted)
	}
	port := u.Port()
	if r.scheme == "ssh" {
		if port == "" {
			port = "22"
		}
		r.hostPort = hostPort(u.Hostname(), port)
	}
	clean := *u
	clean.User = nil
	if r.scheme == "ssh" && r.user != "" {
		clean.User = url.User(r.user) // the ssh login is not a secret
	}
	r.fetchURL = clean.String()
	r.cacheKey = u.Host + u.Path
	return r, nil
}

func parseSCP(raw, user, host, p string) (*remote, error) {
	r := &remote{scheme: "ssh", redacted: raw, user: user}
	if strings.Trim(p, "/") == "" {
		return nil, fmt.Errorf("source: URL %q has no repository path after the colon", raw)
	}
	// go-git recognises scp-style URLs only when the path holds a slash;
	// without one it would read the URL as a local path.
	if !strings.Contains(p, "/") {
		return nil, fmt.Errorf("source: scp-style URL %q needs a path with a folder (host:org/repo.git); write ssh://%s/%s for a path relative to /", raw, host, p)
	}
	if _, err := strconv.Atoi(strings.SplitN(p, "/", 2)[0]); err == nil {
		return nil, fmt.Errorf("source: scp-style URL %q: go-git would read %q as a port; use ssh://host:port/path", raw, strings.SplitN(p, "/", 2)[0])
	}
	r.hostPort = hostPort(host, "22")
	r.fetchURL = raw
	r.cacheKey = host + "/" + p
	return r, nil
}

func hostPort(host, port string) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]:" + port
	}
	return host + ":" + port
}

// redactURL hides the password, and for http(s) a user given without a
// password too, since such a user is normally an access token.
func redactURL(u *url.URL) string {
	if u.User == nil {
		return u.String()
	}
	c := *u
	_, hasPassword := u.User.Password()
	switch {
	case hasPassword:
		c.User = url.UserPassword(u.User.Username(), redactedSecret)
	case c.Scheme == "http" || c.Scheme == "https":
		c.User = url.User(redactedSecret)
	}
	return c.String()
}

var (
	userinfo    = regexp.MustCompile(`://[^/?#]*@`)
	scpPassword = regexp.MustCompile(`^[^/@]*:[^/@]*@`)
)

// redactString hides the userinfo of a URL that could not be parsed.
func redactString(raw string) string {
	if strings.Contains(raw, "://") {
		return userinfo.ReplaceAllString(raw, "://"+redactedSecret+"@")
	}
	return scpPassword.ReplaceAllString(raw, redactedSecret+"@")
}

var unsafeRun = regexp.MustCompile(`[^A-Za-z0-9._]+`)

// cacheName is the folder name of the cache for r: readable host and path
// (their last 60 characters, where the repository name is), then a hash of
// the fetch URL so that two URLs never share a folder.
func (r *remote) cacheName() string {
	name := strings.Trim(unsafeRun.ReplaceAllString(r.cacheKey, "-"), "-.")
	if len(name) > 60 {
		name = strings.TrimLeft(name[len(name)-60:], "-.")
	}
	if name == "" {
		name = "repo"
	}
	sum := sha256.Sum256([]byte(r.fetchURL))
	return name + "-" + hex.EncodeToString(sum[:])[:12]
}
